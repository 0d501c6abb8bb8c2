/**
 * `git.reset-hard`: move the current branch (or detached HEAD) to a commit and make index and
 * worktree match it. Lists the commits the reset drops from the branch — they stay reachable
 * from the run's snapshot, and `rb undo` brings them back — and every `keep` path (.env) whose
 * content is no longer what the snapshot holds (a tracked .env the reset, or the switch before
 * it, put back to the baseline's version), with the commands that show and restore just that
 * file from the snapshot. rb's own files (.rb/, rb.config.yaml) changed that way are put back
 * as the snapshot holds them: they go with the user.
 */
import { z } from '#zod';
import { git } from '../io/git.js';
import type { StepContext, StepKind } from './types.js';
import { memoized } from '../io/repo-state.js';
import { gitLine } from './common.js';
import { changedSinceSnapshotOf, headState, oidOf, restoreOwnFiles, unmergedPaths } from './git-common.js';
import { checkingTrackedChanges, known } from './step-access.js';

const schema = z.object({ ref: z.string().min(1) }).strict();
type With = z.infer<typeof schema>;

/** The commits the reset drops from the branch (they stay in the snapshot): listed in the report. */
const droppedArgs = (target: string) => ['log', '--format=%h %s', `${target}..HEAD`];

/**
 * `git log --format='%h %s' <target>..HEAD` while HEAD is at `head`: the commits the reset drops,
 * asked once for that pair of commits (no part of the repository changes the answer but the
 * objects: none are written between the read-ahead and the reset).
 */
function droppedBetween(repo: StepContext['repo'], target: string, head: string): Promise<string[]> {
  return memoized(`dropped ${repo.root} ${target} ${head}`, async () => {
    const r = await git(['log', '--format=%h %s', `${target}..${head}`], { cwd: repo.root, readOnly: true });
    return r.stdout.split('\n').filter(Boolean);
  }, ['head', 'refs']);
}

/** What the reset's run asks first, read while its checks run (steps/step-access.ts). */
async function readAhead(w: With, ctx: StepContext): Promise<void> {
  const [target, before] = await Promise.all([oidOf(ctx.repo, w.ref), headState(ctx.repo)]);
  if (target && before.oid) await droppedBetween(ctx.repo, target, before.oid);
}
const resetArgs = (target: string) => ['reset', '--hard', '--no-recurse-submodules', target];

export const gitResetHard: StepKind<With> = checkingTrackedChanges({
  kind: 'git.reset-hard',
  summary: 'reset the current branch, index and worktree to a commit (lists the commits it drops)',
  with: schema,
  destructive: true,
  describe: (w) => [gitLine(droppedArgs(w.ref)), gitLine(resetArgs(w.ref))],
  async run(w, ctx) {
    const repo = ctx.repo;
    const [target, before] = await Promise.all([oidOf(repo, w.ref), headState(repo)]);
    if (!target) throw new Error(`${w.ref} does not resolve to a commit`);
    type Moved = { ref: string; from: string; to: string };
    const previous = ctx.previous as { movedRefs?: Moved[]; dropped?: string[] } | undefined;
    const commands: string[] = [];
    let dropped: string[] = [];
    if (before.oid) {
      // HEAD is before.oid: nothing moves it between these lines
      dropped = await droppedBetween(repo, target, before.oid);
      commands.push(gitLine(droppedArgs(target)));
    }
    if (dropped.length) ctx.reporter.output(`${dropped.length} local commit(s) leave ${before.ref?.replace('refs/heads/', '') ?? 'HEAD'} (kept in the snapshot): ${dropped.slice(0, 3).join('; ')}${dropped.length > 3 ? '; …' : ''}`);
    let movedRefs: Moved[] = [];
    if (before.ref && before.oid && before.oid !== target) {
      movedRefs = [{ ref: before.ref, from: before.oid, to: target }];
      // journaled before the reset: when rb dies while git resets (git carries on in its own
      // process group), undo and abort still know which branch to put back
      await ctx.checkpoint({ movedRefs, dropped });
    } else if (previous?.movedRefs?.length) {
      // resumed after an interrupted attempt already moved the branch: keep what it recorded
      movedRefs = previous.movedRefs.filter((m) => m.to === target);
      if (!dropped.length && previous.dropped) dropped = previous.dropped;
    }
    const args = resetArgs(target);
    await git(args, { cwd: repo.root });
    commands.push(gitLine(args));
    // the checks and what the reset changed that the snapshot holds otherwise, read at once;
    // judged in this order (a failing ls-files only after HEAD is right, the drift after both)
    const settled = <T>(p: Promise<T>) => p.then((value) => ({ value }), (error: unknown) => ({ error }));
    const [after, unmerged, drifted] = await Promise.all([
      headState(repo),
      settled(unmergedPaths(repo)),
      settled(ctx.snapshotId ? changedSinceSnapshotOf(repo, ctx.snapshotId, ctx.config.keep) : Promise.resolve({ own: [], kept: [] })),
    ]);
    if (after.oid !== target) throw new Error(`after reset, HEAD is ${after.oid}, expected ${target}`);
    if ('error' in unmerged) throw unmerged.error;
    if (unmerged.value.length) throw new Error('after reset, the index still has unmerged entries');
    if ('error' in drifted) throw drifted.error;
    // rb's own files go with the user: put back what the reset (or the switch before it) changed
    const drift = drifted.value;
    const ownRestored = ctx.snapshotId ? await restoreOwnFiles(repo, ctx.snapshotId, drift.own) : [];
    if (ownRestored.length) ctx.reporter.output(`kept rb's own files as they were: ${ownRestored.join(', ')}`);
    const keptChanged = drift.kept;
    const what = (k: (typeof keptChanged)[number]) => `${k.path} (a keep path) ${k.removed ? 'is gone: the commit rolled back to does not have it' : "now holds the version of the commit rolled back to"}`;
    for (const k of keptChanged) ctx.reporter.warn(`${what(k)}; yours is in the snapshot: see it with \`${k.show}\`, put it back with \`${k.restore}\``);
    const keptChangedList = keptChanged.length ? keptChanged.map((k) => `- ${what(k)}. See yours with \`${k.show}\`; put it back with \`${k.restore}\``).join('\n') : 'none';
    return { commands, oid: target, dropped, movedRefs, keptChanged, keptChangedList, ownRestored };
  },
}, (w, ctx) => ({ targets: [known(w.ref) ?? ctx.baseline.oid] }), readAhead);
