/**
 * `rb check [--json] [--no-tests] [--no-tag] [--max-disk <pct>] [--fetch]`: the pre-sprint safety
 * gate for CI and humans. Thin: options -> runCheck (src/check/run-check.ts) -> emitReport
 * (src/check/output.ts). Exit 0 when no check failed, 3 when one did; a failing check is reported,
 * not thrown.
 *
 * `rb check --prune-worktree`: remove the worktree rb check keeps for the baseline's tests
 * (pruneKeptWorktree in src/check/kept-worktree.ts); exit 4 while another check is using it.
 */
import { ExitCode, LockedError } from '../errors.js';
import { emitReport } from '../check/output.js';
import { runCheck } from '../check/run-check.js';
import { isInteractive } from '../ui/terminal.js';
import type { CheckReport } from '../check/types.js';

export { runCheck, parseMaxDisk, type CheckOptions } from '../check/run-check.js';
export { emitReport, formatJson, formatPlain, formatTable, githubAnnotations, githubSummary } from '../check/output.js';
export type { CheckReport, CheckResult, CheckStatus } from '../check/types.js';

/** The options commander gives the command (see the registration in src/cli.ts). */
export interface CheckCommandOptions {
  json?: boolean;
  /** false with --no-tests */
  tests?: boolean;
  /** false with --no-tag */
  tag?: boolean;
  maxDisk?: string;
  fetch?: boolean;
  pruneWorktree?: boolean;
}

/** `rb check --prune-worktree`: remove the kept worktree and say what was removed (verified). */
async function pruneCommand(cwd: string | undefined, json: boolean): Promise<number> {
  const [{ findRepo }, { loadConfig }, { keptWorktreePath, pruneKeptWorktree }] = await Promise.all([
    import('../repo.js'), import('../config/load.js'), import('../check/kept-worktree.js'),
  ]);
  const repo = findRepo(cwd);
  const { config } = await loadConfig(repo.root);
  const r = await pruneKeptWorktree(repo, keptWorktreePath(repo, config.check.worktree));
  if (r.busy) throw new LockedError(`another rb check is using the kept worktree ${r.path}: nothing was removed.`, { next: 'wait for it to finish, then run `rb check --prune-worktree` again' });
  if (json) process.stdout.write(JSON.stringify({ path: r.path, removed: r.removed }, null, 2) + '\n');
  else process.stdout.write(r.removed ? `removed the kept worktree ${r.path} (its folder and its registration; the next rb check creates it again)\n` : `no kept worktree at ${r.path}: nothing to remove\n`);
  return ExitCode.ok;
}

export async function checkCommand(opts: CheckCommandOptions, cmd: any): Promise<number> {
  const global = (cmd?.parent?.opts?.() ?? {}) as { cwd?: string; color?: boolean };
  if (opts.pruneWorktree) return pruneCommand(global.cwd, Boolean(opts.json));
  // the table on an interactive terminal; one line per check in CI logs, pipes and 0-column terminals
  const tty = isInteractive();
  const human = !opts.json;
  const report = await runCheck({
    cwd: global.cwd,
    tests: opts.tests,
    tag: opts.tag,
    maxDisk: opts.maxDisk,
    fetch: opts.fetch,
    // progress on stderr (also in CI logs, where the tests may run for minutes); none with --json
    onProgress: human ? (line) => void process.stderr.write(`… ${line}\n`) : undefined,
  });
  emitReport(report, {
    json: opts.json,
    tty,
    color: tty && global.color !== false && !process.env.NO_COLOR && process.env.TERM !== 'dumb',
    env: process.env,
  });
  if (report.root) await shareCheck(global.cwd, report);
  return report.ok ? ExitCode.ok : ExitCode.precondition;
}

/**
 * After the gate has answered: its result as a record under refs/rb/records/ (a CI runner's
 * checks reach the team's metrics), and the sync with records.share. Warnings only, on stderr.
 */
async function shareCheck(cwd: string | undefined, report: CheckReport): Promise<void> {
  const [{ findRepo }, { loadConfig }, { recordCheck, shareAfter }] = await Promise.all([
    import('../repo.js'), import('../config/load.js'), import('../records/share.js'),
  ]);
  let warnings: string[];
  try {
    const repo = findRepo(cwd);
    const { config } = await loadConfig(repo.root);
    warnings = [...(await recordCheck(repo, config, report, new Date())), ...(await shareAfter(repo, config))];
  } catch (e) {
    warnings = [`the check was not recorded under refs/rb/records/: ${(e as Error).message}`];
  }
  for (const w of warnings) process.stderr.write(`rb: warning: ${w}\n`);
}
