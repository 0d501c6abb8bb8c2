/**
 * `rb guard [--verify <cmd>] [--keep-on-failure] -- <command...>`: for risky scripted changes
 * (codemods, migrations, dependency upgrades). Snapshot, run the command, then the verify
 * command (default: the configured tests). When either fails, the snapshot is restored
 * automatically (through `rb abort`, so the restore is journaled and itself undoable), a report
 * is written, metrics record the rollback (cause `guard`), and rb exits with the failed
 * command's exit code. With --keep-on-failure the result stays for inspection, still undoable.
 */
import { join } from 'node:path';
import { execute } from '../engine/execute.js';
import { RbError, UsageError } from '../errors.js';
import { displayArgv } from '../io/git.js';
import { writeFileAtomic } from '../io/fs.js';
import { readRun, writeRun } from '../journal/journal.js';
import { appendRollback } from '../records/metrics.js';
import { findRepo } from '../repo.js';
import type { Command, Playbook, StepSpec } from '../types.js';

/**
 * What the restore does with ignored files (docs/safety.md, how a snapshot is restored): those
 * the command created are removed, kept in the restore's safety snapshot; what a snapshot never
 * captures (snapshots.skipIgnored folders, over-cap files, nested repositories) is left as it is.
 */
const IGNORED_NOTE = 'new ignored files such as build output were removed too, and are kept in the restore\'s safety snapshot; what snapshots never capture, such as node_modules, is left as it is';

export interface GuardOptions {
  verify?: string;
  keepOnFailure?: boolean;
  json?: boolean;
  reason?: string;
  force?: boolean;
}

export async function guardCommand(command: string[], opts: GuardOptions, cmd: any): Promise<number> {
  if (!command?.length) throw new UsageError('name the command to guard after --.', { next: 'rb guard -- npx jscodeshift -t codemod.js src/' });
  const cwd = cmd.parent?.opts().cwd;
  const repo = findRepo(cwd);
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const verify: Command | null = opts.verify ?? config.test;
  const steps: StepSpec[] = [
    { id: 'snapshot', title: 'Snapshot the whole working copy', uses: 'snapshot', with: { message: `GUARD: before ${displayArgv(command)}` } },
    { id: 'command', title: `Run ${displayArgv(command)}`, uses: 'exec', with: { command, destructive: true } },
  ];
  if (verify) steps.push({ id: 'verify', title: `Verify: ${typeof verify === 'string' ? verify : displayArgv(verify)}`, uses: 'exec', with: { command: verify } });
  const playbook: Playbook = { name: 'guard', title: `Guarded run of ${displayArgv(command)}`, params: {}, steps, file: '(internal: rb guard)', source: 'built-in', severity: 'medium' };
  const started = Date.now();
  let failure: RbError | null = null;
  let runId: string | undefined;
  try {
    // quiet under --json: guard prints the one document itself, once it knows how the run ended
    const out = await execute({ playbook: 'guard', playbookObject: playbook, cwd, yes: true, json: opts.json, quiet: opts.json, reason: opts.reason, cause: 'guard', force: opts.force, command: `rb guard -- ${displayArgv(command)}` });
    runId = out.run?.id;
    if (opts.json) printGuardJson({ run: out.run ?? null, restored: false, report: null });
  } catch (e) {
    if (!(e instanceof RbError) || e.exitCode !== 1) throw e; // usage, precondition, lock: nothing ran
    failure = e;
  }
  if (!failure) {
    if (!opts.json) process.stdout.write(`the guarded command and its verification passed; the result is kept (undo with \`rb undo ${runId ?? ''}\`).\n`);
    return 0;
  }
  // which run? the newest guard run of this process
  const { listRuns } = await import('../journal/journal.js');
  const run = listRuns(repo).find((r) => r.playbook === 'guard' && r.pid === process.pid);
  if (!run) throw failure;
  const failed = run.steps.find((s) => s.status === 'failed');
  const exitCode = typeof failed?.exitCode === 'number' && failed.exitCode > 0 ? failed.exitCode : 1;
  let restored = false;
  if (run.snapshot && !opts.keepOnFailure) {
    const { abortCommand } = await import('./undo.js');
    await abortCommand(run.id, { yes: true, json: false, quiet: Boolean(opts.json) }, cmd);
    restored = true;
  } else if (opts.keepOnFailure) {
    const rec = readRun(repo, run.id)!;
    rec.kept = true;
    writeRun(repo, rec, 'write-ahead'); // what rb then says: kept, undoable
  }
  const stamp = run.stamp;
  const dir = join(repo.root, config.rollbacksDir, `guard-${stamp}`);
  const report = [
    `# Guarded run failed — ${stamp}`,
    '',
    `- **Run:** ${run.id}`,
    `- **Command:** \`${displayArgv(command)}\``,
    `- **Verify:** ${verify ? `\`${typeof verify === 'string' ? verify : displayArgv(verify)}\`` : 'none'}`,
    `- **Failed step:** ${failed?.id ?? 'unknown'} (exit ${failed?.exitCode ?? 'unknown'})`,
    `- **Result:** ${restored ? `the snapshot was restored: the working copy is as it was before the command (${IGNORED_NOTE})` : `kept for inspection (undo with \`rb undo ${run.id}\`)`}`,
    `- **Snapshot:** ${run.snapshot ?? 'none'}`,
    '',
    '## Output (last lines)',
    '',
    '```',
    failed?.outputTail ?? '',
    '```',
    '',
  ].join('\n');
  writeFileAtomic(join(dir, 'report.md'), report);
  appendRollback(join(repo.root, config.rollbacksDir, 'metrics.json'), {
    timestamp: new Date().toISOString(),
    sprint: null,
    severity: 'medium',
    cause: 'guard',
    recovery_time_minutes: Math.round(((Date.now() - started) / 60000) * 100) / 100,
    run_id: run.id,
    level: null,
    playbook: 'guard',
    duration_ms: Date.now() - started,
    baseline: run.baseline.name,
    branch: run.head.before.ref?.replace(/^refs\/heads\//, '') ?? null,
    files_changed: null,
    tests_failed: null,
    undone: restored,
  });
  {
    // the entry reaches the run's shared record too (written when the run ended, before it)
    const { recordRunMetrics, shareAfter } = await import('../records/share.js');
    for (const w of [...(await recordRunMetrics(repo, config, run.id)), ...(await shareAfter(repo, config))]) process.stderr.write(`rb: warning: ${w}\n`);
  }
  const reportPath = join(config.rollbacksDir, `guard-${stamp}`, 'report.md');
  const final = readRun(repo, run.id) ?? run; // aborted, with the abort's run id, when restored
  if (opts.json) printGuardJson({ run: final, restored, report: reportPath });
  // the failed command's exit code is rb's (docs/commands.md, rb guard); src/cli.ts prints it
  throw new RbError(
    `${failed?.id === 'verify' ? 'verification' : 'the guarded command'} failed (exit ${exitCode}); ${restored ? `the snapshot was restored — the working copy is as it was before the command (${IGNORED_NOTE})` : `the result is kept: undo it with \`rb undo ${run.id}\``}.`,
    exitCode,
    {
      details: [`report: ${reportPath}`],
      next: !restored ? `inspect the result, then \`rb undo ${run.id}\`` : final.undoneBy ? `read ${reportPath}; \`rb undo ${final.undoneBy}\` brings the failed result back to look at it` : `read ${reportPath}`,
    },
  );
}

/** `rb guard --json`: the guarded run's record as it ends (aborted when restored), and what guard did. */
function printGuardJson(doc: { run: unknown; restored: boolean; report: string | null }): void {
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}
