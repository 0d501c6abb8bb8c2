/**
 * `rb undo -i`: on a terminal, pick a past state — the snapshots rb holds (each run's: the state
 * before it; and those taken by hand), newest first — with a preview of what restoring it would
 * change (files added, removed, modified; HEAD and branches moved), like git-branchless's
 * `git undo -i`. Confirming restores it as a run of its own (a run still in effect is undone,
 * with its branch changes reversed; any other state is restored with HEAD's branch), so `rb undo`
 * takes it back. Ctrl-C at either prompt changes nothing (exit 130, src/cli.ts). Without a
 * terminal: exit 2, pass a run id.
 */
import type { Repo } from '../repo.js';
import { listRuns, type RunRecord } from '../journal/journal.js';
import { chainRole } from '../journal/chain.js';
import { PreconditionError, UsageError } from '../errors.js';
import { ago, showPath } from '../ui/format.js';
import type { SnapshotInfo } from '../snapshot/format.js';

/** How many past states the picker offers (the newest). */
const MAX_STATES = 20;

export interface PastState {
  snap: SnapshotInfo;
  /** the run whose snapshot it is (the state before that run), if any */
  run: RunRecord | null;
  /** restoring it undoes this run (in effect, with its branch changes) rather than restoring the bare snapshot */
  undoes: boolean;
  label: string;
  preview: string[];
}

const short = (oid: string | null | undefined) => (oid ? oid.slice(0, 12) : '(none)');
const branch = (ref: string | null | undefined) => (ref ? ref.replace(/^refs\/heads\//, '') : '(detached)');

/** Is stdin and stdout a terminal a person can answer on? */
function onTerminal(opts: { json?: boolean }): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY && !opts.json);
}

/** The past states, newest first, each with its preview (read-only). */
export async function pastStates(repo: Repo, rollbacksDir: string): Promise<PastState[]> {
  const { listSnapshots } = await import('../snapshot/store.js');
  const compare = await import('../snapshot/compare.js');
  const { refEffects, refPositions } = await import('../journal/ref-effects.js');
  const { headState } = await import('../steps/git-common.js');
  const runs = listRuns(repo);
  const snaps = (await listSnapshots(repo)).sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0)).slice(0, MAX_STATES);
  const [now, refsNow, head] = await Promise.all([compare.workingCopyTree(repo, [rollbacksDir]), refPositions(repo), headState(repo)]);
  const out: PastState[] = [];
  for (const snap of snaps) {
    const run = runs.find((r) => r.snapshot === snap.id) ?? null;
    const undoes = Boolean(run && !run.undoneBy && (chainRole(run) === 'forward' || chainRole(run) === 'abort') && ['succeeded', 'failed', 'interrupted'].includes(run.status));
    const files = await compare.changedFiles(repo, now, await compare.snapshotTree(repo, snap));
    const preview: string[] = [`files: ${compare.countChanges(files)} (tracked and untracked; ignored files are restored too, not listed)`];
    for (const f of files.slice(0, 8)) preview.push(`  ${f.change.padEnd(8)} ${showPath(f.path)}`);
    if (files.length > 8) preview.push(`  … and ${files.length - 8} more (\`rb diff ${run?.id ?? snap.id} --name-only\`)`);
    if ((head.ref ?? null) !== (snap.headRef ?? null) || head.oid !== snap.headOid) preview.push(`HEAD: ${branch(head.ref)} at ${short(head.oid)} -> ${branch(snap.headRef)} at ${short(snap.headOid)}`);
    if (run && undoes) {
      const { revert, conflicts } = await refEffects(repo, run, { headRef: snap.headRef, now: refsNow });
      for (const r of revert) preview.push(`branch ${branch(r.ref)}: ${r.before === null ? `deleted (run ${run.id} created it)` : r.now === null ? `recreated at ${short(r.before)}` : `moved back from ${short(r.now)} to ${short(r.before)}`}`);
      for (const c of conflicts) preview.push(`stops: ${c.why} (\`rb undo ${run.id} --force\` resets it)`);
    } else if (snap.headRef && snap.headOid && refsNow[snap.headRef] !== snap.headOid) {
      preview.push(`branch ${branch(snap.headRef)}: ${refsNow[snap.headRef] ? `moved from ${short(refsNow[snap.headRef])} to ${short(snap.headOid)}` : `recreated at ${short(snap.headOid)}`}`);
    }
    out.push({ snap, run, undoes, label: `${stateLabel(runs, run, snap)}, ${ago(snap.createdAt)}`, preview });
  }
  return out;
}

/** The state a snapshot holds, in words: before which run, and what that meant for the chain. */
function stateLabel(runs: readonly RunRecord[], run: RunRecord | null, snap: SnapshotInfo): string {
  if (!run) return `snapshot ${snap.id}${snap.message ? `: ${snap.message}` : ''}`;
  const role = chainRole(run);
  if (role === 'undo') return `before undo ${run.id}: run ${run.undoOf} in effect`;
  if (role === 'redo') {
    const undone = runs.find((r) => r.id === run.undoOf)?.undoOf ?? '?';
    return `before redo ${run.id}: run ${undone} undone`;
  }
  if (role === 'abort') return `before abort ${run.id}: run ${run.undoOf} as it stopped`;
  return `before run ${run.id} (${run.playbook}${run.undoneBy ? ', undone' : ''})`;
}

/** `rb undo -i`. */
export async function pickAndRestore(repo: Repo, opts: { json?: boolean; force?: boolean; reason?: string; skipUnwritable?: boolean; dryRun?: boolean }, cmd: any, restoreRun: (run: RunRecord) => Promise<number>): Promise<number> {
  if (!onTerminal(opts)) {
    throw new UsageError('rb undo -i picks a past state on a terminal, and this is not one (stdin or stdout is not a terminal, or --json was given).', {
      next: 'pass a run id: `rb undo <run> --yes` (`rb history` lists the runs, `rb diff <run>` shows what one would change)',
    });
  }
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const states = await pastStates(repo, config.rollbacksDir);
  if (!states.length) throw new PreconditionError('there is no snapshot to go back to yet; nothing was changed.', { next: 'run `rb history` to see past runs' });
  const { select, confirm } = await import('@inquirer/prompts');
  const chosen = await select({
    message: 'Restore which past state? (newest first; Ctrl-C changes nothing)',
    choices: states.map((s, i) => ({ name: s.label, value: i, description: s.preview.join('\n') })),
    pageSize: 10,
    loop: false,
  });
  const state = states[chosen]!;
  const how = state.undoes ? `undo run ${state.run!.id}` : `restore snapshot ${state.snap.id} (HEAD and its branch included)`;
  const ok = await confirm({ message: `${how[0]!.toUpperCase()}${how.slice(1)}? A safety snapshot is taken first; \`rb undo\` takes it back.`, default: false });
  if (!ok) throw new PreconditionError('not confirmed; nothing was changed.', { next: 'run `rb undo -i` again to pick another state' });
  if (state.undoes) return restoreRun(state.run!);
  const { restoreSnapshotRun } = await import('./snapshots.js');
  return restoreSnapshotRun(repo, state.snap, { resetBranch: true, yes: true, dryRun: opts.dryRun, skipUnwritable: opts.skipUnwritable, reason: opts.reason, command: `rb undo -i (restore snapshot ${state.snap.id})` }, cmd);
}
