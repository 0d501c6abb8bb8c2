/**
 * A merge, rebase, cherry-pick, revert or `git am` in progress, set aside for a forced run
 * (`rb emergency --force`): git refuses to switch branches while one is in progress ("cannot
 * switch branch while merging"), and a run that stops there leaves the repository half-way.
 *
 * The run's snapshot has already captured the operation's state files (meta/gitstate.tar) and
 * the conflicted index; setting the operation aside removes those files, as `git merge --quit`
 * would, without touching the working copy (the destructive step that follows does that).
 * `rb undo` restores them with the snapshot, so the merge is in progress again exactly as it was.
 * An autostash the operation holds (a commit no ref points to) is first stored as a
 * `git stash list` entry, so it stays reachable; undo drops that entry again.
 * A bisect does not stop a switch and is left alone.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, identityEnv } from '../io/git.js';
import { gitOperations, type Repo } from '../repo.js';
import type { PlanContext, StepContext, StepResult } from './types.js';

/** The state files of the operations that block a switch (all of them captured by a snapshot: GITSTATE_NAMES). */
const BLOCKING_STATE = [
  'MERGE_HEAD', 'MERGE_MSG', 'MERGE_MODE', 'MERGE_RR', 'MERGE_AUTOSTASH', 'AUTO_MERGE',
  'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'REBASE_HEAD', 'rebase-merge', 'rebase-apply', 'sequencer',
] as const;

/** Where an operation keeps the commit of its autostash. */
const AUTOSTASH_FILES = ['MERGE_AUTOSTASH', 'rebase-merge/autostash', 'rebase-apply/autostash'];

/** The operations in progress that stop a switch (merge, rebase, am, cherry-pick, revert). */
export function blockingOperations(repo: Repo): string[] {
  return gitOperations(repo).filter((o) => o.name !== 'bisect').map((o) => o.name);
}

/** For plans: what setting aside would do here and now (nothing when no operation is in progress). */
export function describeSetAside(ctx: PlanContext): string[] {
  const ops = blockingOperations(ctx.repo);
  if (!ops.length) return [];
  return [`rm ${BLOCKING_STATE.filter((n) => existsSync(join(ctx.repo.gitDir, n))).map((n) => `.git/${n}`).join(' ')}  # set aside the ${ops.join(' and ')} in progress (only with --force; the snapshot holds it, rb undo puts it back)`];
}

/**
 * Set aside the operations in progress (see the module comment). Refuses without the run's
 * snapshot: it is what holds the state. Returns what it did, for the step's result.
 */
export async function setAsideOperations(ctx: StepContext): Promise<Pick<StepResult, 'commands'> & { setAside?: string[]; stash?: string; stashMessage?: string }> {
  const repo = ctx.repo;
  const ops = blockingOperations(repo);
  if (!ops.length) return {};
  if (!ctx.snapshotId) throw new Error(`a ${ops.join(' and a ')} is in progress and this run took no snapshot to keep it: finish or abandon it first`);
  const commands: string[] = [];
  let stash: { stash: string; stashMessage: string } | undefined;
  const autostash = AUTOSTASH_FILES.map((f) => join(repo.gitDir, f)).filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8').trim()).find((o) => /^[0-9a-f]{40,64}$/.test(o));
  if (autostash) {
    const message = `autostash of the ${ops.join(' and ')} set aside by rb run ${ctx.run.id}`;
    const args = ['stash', 'store', '-m', message, autostash];
    await git(args, { cwd: repo.root, env: await identityEnv(repo.root) });
    commands.push(`git ${args.join(' ')}`);
    stash = { stash: autostash, stashMessage: message };
    await ctx.checkpoint(stash); // undo drops the entry even if the run stops right here
  }
  const present = BLOCKING_STATE.filter((n) => existsSync(join(repo.gitDir, n)));
  for (const n of present) rmSync(join(repo.gitDir, n), { recursive: true, force: true });
  commands.push(`rm -r ${present.map((n) => `.git/${n}`).join(' ')}`);
  const left = blockingOperations(repo);
  if (left.length) throw new Error(`could not set aside the ${left.join(' and ')} in progress`);
  ctx.reporter.warn(`the ${ops.join(' and ')} in progress was set aside (its state is in snapshot ${ctx.snapshotId}; \`rb undo ${ctx.run.id}\` puts it back)`);
  return { commands, setAside: ops, ...stash };
}
