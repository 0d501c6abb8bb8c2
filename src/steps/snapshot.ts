/**
 * `snapshot`: capture the whole working copy (safety.md §1) under refs/rb/snapshots/<id>
 * before anything destructive. Touches nothing. `snapshot.restore`: put a snapshot back
 * (itself preceded by a safety snapshot), used by undo and abort.
 */
import { z } from '#zod';
import { readFileSync } from 'node:fs';
import type { Repo } from '../repo.js';
import { showPath } from '../ui/format.js';
import type { StepSpec } from '../types.js';

/**
 * The snapshot code (capture, restore, store: ~20 modules) is loaded when a step runs or checks
 * access, never to plan one: `rb files --dry-run` and `rb plan` load none of it
 * (test/dependencies.test.ts).
 */
const snapshotCode = () => import('../snapshot/index.js');

/** The safety snapshot id an interrupted or failed restore recorded in its journal, if any. */
function readRestoreSafety(repo: Repo, targetCommit: string, restoreJournalPath: (repo: Repo) => string): string | null {
  try {
    const j = JSON.parse(readFileSync(restoreJournalPath(repo), 'utf8')) as { target?: string; safetySnapshot?: string | null };
    return j.target === targetCommit ? (j.safetySnapshot ?? null) : null; // not another restore's
  } catch {
    return null;
  }
}
import type { PlanContext, StepKind } from './types.js';
import { headState, refOid } from './git-common.js';

/** Does any step (nested ones included) use the stash kind? */
const usesStash = (steps: readonly StepSpec[]): boolean => steps.some((s) => s.uses === 'stash' || usesStash(s.steps ?? []));

const schema = z.object({ message: z.string().optional() }).strict();
type With = z.infer<typeof schema>;

/** What the snapshot step does, in its plan and its journal alike (`ref`: known once it is taken). */
function snapshotLine(w: With, ctx: PlanContext, ref = 'refs/rb/snapshots/<id>'): string {
  const message = w.message ?? `before ${ctx.playbook.name} (run ${ctx.run.id})`;
  const c = ctx.config.snapshots;
  return `snapshot the working copy -> ${ref} (${JSON.stringify(message)}: index, tracked, untracked and ignored files ≤ ${Math.round(c.maxIgnoredBytes / 1048576)} MB each except ${c.skipIgnored.join(', ') || 'none'}, git state; nothing is changed)`;
}

export const snapshot: StepKind<With> = {
  kind: 'snapshot',
  summary: 'capture HEAD, index, tracked, untracked and ignored files, git state and refs under refs/rb/snapshots/<id>; changes nothing',
  with: schema,
  destructive: false,
  describe: (w, ctx) => [snapshotLine(w, ctx)],
  preload: snapshotCode,
  async run(w, ctx) {
    const prevId = ctx.previous?.snapshotId as string | undefined;
    if (prevId && (await refOid(ctx.repo, `refs/rb/snapshots/${prevId}`))) {
      ctx.reporter.output(`snapshot ${prevId} was taken before the interruption`);
      return ctx.previous!;
    }
    const { captureSnapshot } = await snapshotCode();
    const info = await captureSnapshot(ctx.repo, {
      message: w.message ?? `before ${ctx.playbook.name} (run ${ctx.run.id})`, // as snapshotLine says
      maxIgnoredBytes: ctx.config.snapshots.maxIgnoredBytes,
      skipIgnored: ctx.config.snapshots.skipIgnored,
      runId: ctx.run.id,
      exclude: [ctx.config.rollbacksDir],
      // a later `stash` step builds its entry from these trees instead of reading everything again
      stashTrees: usesStash(ctx.playbook.steps),
    });
    await ctx.checkpoint({ snapshotId: info.id });
    // files this user cannot read (another user's, mode 000) are named on their own: the user may want them
    const unreadable = info.skipped.filter((s) => s.reason === 'unreadable');
    const others = info.skipped.filter((s) => s.reason !== 'unreadable');
    if (unreadable.length) ctx.reporter.warn(`not captured (unreadable): ${unreadable.map((s) => showPath(s.path)).join(', ')} — rb cannot read them, so the snapshot does not hold them; they are left where they are, never cleaned or overwritten`);
    if (others.length) ctx.reporter.warn(`not captured (so never cleaned, except a listed dependency dir whose lockfiles changed): ${others.map((s) => `${showPath(s.path)} (${s.reason})`).join(', ')}`);
    ctx.reporter.output(`snapshot ${info.id}`);
    return {
      commands: [snapshotLine(w, ctx, info.ref)], snapshotId: info.id, commit: info.commit, notCaptured: info.skipped, conflicted: info.conflicted,
      // the stash trees describe the working copy of now: for this run's stash step, not a resumed one
      headOid: info.headOid, ...(info.stash ? { transient: { stashTrees: info.stash } } : {}),
    };
  },
};

const restoreSchema = z.object({ id: z.string().min(1), resetBranch: z.boolean().optional() }).strict();
type RestoreWith = z.infer<typeof restoreSchema>;

/** What a restore does, in its plan and its journal alike. */
function restoreLine(w: RestoreWith): string {
  return `restore snapshot ${w.id} after a safety snapshot of the current state (HEAD${w.resetBranch ? ' and its branch' : ''}, index, tracked, untracked and ignored files, git state)`;
}

export const snapshotRestore: StepKind<RestoreWith> = {
  kind: 'snapshot.restore',
  summary: 'restore a snapshot (HEAD, index, files, git state), taking a safety snapshot of the current state first',
  with: restoreSchema,
  destructive: true,
  describe: (w) => [restoreLine(w)],
  preload: snapshotCode,
  access: async (w, ctx) => (await import('../snapshot/restore.js')).restoreAccess(ctx.repo, w.id, { skipUnwritable: ctx.run.skipUnwritable, skipIgnored: ctx.config.snapshots.skipIgnored }),
  async run(w, ctx) {
    const repo = ctx.repo;
    const { resolveSnapshot, restoreSnapshot, restoreJournalPath } = await snapshotCode();
    const snap = await resolveSnapshot(repo, w.id);
    if (!snap) throw new Error(`snapshot ${w.id} not found (refs/rb/snapshots/${w.id})`);
    const branchBefore = snap.headRef ? await refOid(repo, snap.headRef) : null;
    // resumed: the first attempt's safety snapshot is the state before this restore, always; a
    // second one would hold the half-restored files
    const firstSafety = typeof ctx.previous?.safetySnapshot === 'string' ? ctx.previous.safetySnapshot : null;
    let res: Awaited<ReturnType<typeof restoreSnapshot>>;
    try {
      res = await restoreSnapshot(repo, snap.id, {
        resetBranch: w.resetBranch ?? false,
        safetySnapshot: firstSafety === null,
        onSafety: (safety) => ctx.checkpoint({ snapshotId: safety.id, safetySnapshot: safety.id }),
        capture: { maxIgnoredBytes: ctx.config.snapshots.maxIgnoredBytes, skipIgnored: ctx.config.snapshots.skipIgnored, runId: ctx.run.id, exclude: [ctx.config.rollbacksDir] },
        unwritable: { skipUnwritable: ctx.run.skipUnwritable, retry: `rb resume ${ctx.run.id}` },
      });
    } catch (e) {
      // the restore may have changed files before it failed: name its safety snapshot (from the
      // restore journal), so the run is known to have one and `rb abort` / `rb resume` can act on it
      const safety = firstSafety ?? readRestoreSafety(repo, snap.commit, restoreJournalPath);
      throw Object.assign(e as Error, { result: { snapshotId: safety ?? undefined, safetySnapshot: safety, restored: null } });
    }
    for (const wn of res.warnings) ctx.reporter.warn(wn);
    const branchAfter = snap.headRef ? await refOid(repo, snap.headRef) : null;
    const head = await headState(repo);
    const movedRefs = snap.headRef && branchBefore && branchAfter && branchBefore !== branchAfter ? [{ ref: snap.headRef, from: branchBefore, to: branchAfter }] : [];
    const createdRefs = snap.headRef && !branchBefore && branchAfter ? [{ ref: snap.headRef, oid: branchAfter }] : [];
    ctx.reporter.output(`restored snapshot ${snap.id}; HEAD ${head.ref?.replace('refs/heads/', '') ?? 'detached'} at ${head.oid?.slice(0, 12) ?? '(unborn)'}`);
    return {
      commands: [restoreLine(w)],
      restored: snap.id,
      snapshotId: firstSafety ?? res.safetySnapshot?.id,
      safetySnapshot: firstSafety ?? res.safetySnapshot?.id ?? null,
      movedRefs,
      createdRefs,
    };
  },
};
