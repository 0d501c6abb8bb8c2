/**
 * The checks of the step kinds that change tracked files — git.reset-hard, git.switch,
 * git.restore-files — in one place: what such a step changes is every path where the working
 * copy differs from the commit it moves to. Two checks: this user's permissions (engine/access.ts),
 * and the untracked or ignored entries in the way of the commit's files (in-the-way.ts), which the
 * snapshot must hold before git writes over them.
 */
import { git } from '../io/git.js';
import { commitOf, memoized } from '../io/repo-state.js';
import { isSuperuser } from '../io/access.js';
import { checkChanges, outermost, unwritableError, withOpenDirs, noProblems, type AccessReport, type Change } from '../engine/access.js';
import { showPath } from '../ui/format.js';
import type { PlanContext, StepContext, StepKind } from './types.js';
import { entriesInTheWay, targetDiff, verifyHeldBySnapshot, type InTheWay } from './in-the-way.js';

/** A `with` value that is known now (not a `{{ steps.… }}` template left for run time), else null. */
export function known(v: unknown): string | null {
  return typeof v === 'string' && !v.includes('{{') ? v : null;
}

/** What a step that moves tracked files changes: where the working copy goes (candidates, first that resolves), and which paths. */
export interface TrackedMove {
  /** a ref or commit; the next ones are tried when it does not resolve (a branch known only on the remote) */
  targets: (string | null | undefined)[];
  /** only these paths (literal) */
  paths?: readonly string[];
  /** these paths are removed with everything under them (`rb files --delete-missing`) */
  removes?: readonly string[];
  /** the untracked files too (a WIP commit before the step made them tracked: the step removes them) */
  untracked?: boolean;
}

/**
 * What moving the working copy as `move` says changes: every tracked path whose content differs
 * from the target, the target's files that are not there (or are untracked), and the untracked
 * files when asked. Each such file must be readable (the snapshot must hold it first), and its
 * directory writable. A file git must write (replace or create) cannot be left as it is: git
 * stops there. One it only removes can: git warns and leaves it (`unable to unlink`), untracked,
 * and it is in the snapshot (and, after a WIP commit, in that commit).
 */
export async function trackedChangesAccess(ctx: PlanContext, move: TrackedMove, memo?: Map<string, Promise<AccessReport>>): Promise<AccessReport> {
  if (isSuperuser()) return noProblems();
  const target = await targetOf(ctx, move);
  if (!target) return noProblems(); // nothing resolves: the step itself says so
  // (in a preflight, the emergency's switch and reset ask the same question: answered once)
  const key = JSON.stringify([target, move.paths, move.removes, move.untracked]);
  const known = memo?.get(key);
  if (known) return known;
  const answer = changesTo(ctx, target, move);
  memo?.set(key, answer);
  return answer;
}

/** The commit the move goes to: the first of its targets that resolves, or null. */
async function targetOf(ctx: PlanContext, move: TrackedMove): Promise<string | null> {
  for (const t of move.targets) {
    if (!t) continue;
    if (t === ctx.baseline.oid) return t; // (resolved to its commit before the run began)
    // a branch or tag from the ref listing; an object id's commit never changes: asked once
    const oid = /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(t) ? await memoized(`commit of ${ctx.repo.root} ${t}`, () => commitOf(ctx.repo.root, t), []) : await commitOf(ctx.repo.root, t);
    if (oid) return oid;
  }
  return null;
}

/** The untracked and ignored entries in the way of the files the move writes (in-the-way.ts). */
export async function inTheWayOf(ctx: PlanContext, move: TrackedMove): Promise<InTheWay[]> {
  const target = await targetOf(ctx, move);
  return target ? entriesInTheWay(ctx.repo.root, target, move.paths ?? []) : [];
}

async function changesTo(ctx: PlanContext, target: string, move: TrackedMove): Promise<AccessReport> {
  const root = ctx.repo.root;
  const [diff, untracked] = await Promise.all([
    targetDiff(root, target, move.paths ?? []),
    move.untracked ? git(['ls-files', '-z', '-o', '--exclude-standard'], { cwd: root, readOnly: true }) : null,
  ]);
  const changes: Change[] = [];
  for (const { status, path } of diff) {
    // A: here, not in the target (git removes it); D, M, T: git writes the target's file
    changes.push(status === 'A' ? { op: 'remove', path, skippable: true, mustRead: true } : { op: 'write', path, skippable: false, mustRead: true });
  }
  for (const path of untracked?.stdout.split('\0') ?? []) if (path && !path.endsWith('/')) changes.push({ op: 'remove', path, skippable: true });
  for (const path of move.removes ?? []) changes.push({ op: 'remove', path: path.replace(/\/+$/, ''), skippable: false });
  return checkChanges(root, changes);
}

/**
 * A step kind that moves tracked files, with the permission check of issue 22 around it: its
 * `access` hook for the preflight, and at run time the same check (stop if anything is in the
 * way; the preflight should have said so already) with this user's read-only directories made
 * writable for the step and their modes put back afterwards.
 */
export function checkingTrackedChanges<W>(
  kind: StepKind<W>,
  moveOf: (w: W, ctx: PlanContext, earlier: readonly string[]) => TrackedMove,
  /** read-only questions `run` asks (memoized: io/repo-state.ts), started before the checks so git answers them meanwhile */
  readAhead?: (w: W, ctx: StepContext) => Promise<unknown>,
): StepKind<W> {
  return {
    ...kind,
    access: (w, ctx) => trackedChangesAccess(ctx, moveOf(w, ctx, ctx.earlier), ctx.memo),
    inTheWay: (w, ctx) => inTheWayOf(ctx, moveOf(w, ctx, ctx.earlier)),
    async run(w, ctx) {
      readAhead?.(w, ctx).catch(() => undefined); // (run asks again and meets any error there)
      // every untracked or ignored entry git would write over must be in the run's snapshot
      await verifyHeldBySnapshot(ctx.repo.root, ctx.snapshotId, await inTheWayOf(ctx, moveOf(w, ctx, [])), ctx.run.id);
      const access = await trackedChangesAccess(ctx, moveOf(w, ctx, []));
      if (access.blocked.length) {
        if (!ctx.run.skipUnwritable || access.blocked.some((b) => !b.skippable)) {
          throw unwritableError(access.blocked, { retry: `rb resume ${ctx.run.id}`, skipFlag: false, nothingChanged: false });
        }
        ctx.reporter.warn(`not removed (not yours to change; left in place, --skip-unwritable): ${outermost(access.blocked).map((b) => `${showPath(b.path)} (${b.why})`).join(', ')}`);
      }
      return withOpenDirs(ctx.repo.root, access.openUp, () => kind.run(w, ctx));
    },
  };
}
