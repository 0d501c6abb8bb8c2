/**
 * The permission checks (engine/access.ts) of the step kinds that change tracked files —
 * git.reset-hard, git.switch, git.restore-files — in one place: what such a step changes is
 * every path where the working copy differs from the commit it moves to.
 */
import { git } from '../io/git.js';
import { isSuperuser } from '../io/access.js';
import { checkChanges, outermost, unwritableError, withOpenDirs, noProblems, type AccessReport, type Change } from '../engine/access.js';
import { showPath } from '../ui/format.js';
import type { PlanContext, StepKind } from './types.js';

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
  const root = ctx.repo.root;
  let target: string | null = null;
  for (const t of move.targets) {
    if (!t) continue;
    const r = await git(['rev-parse', '-q', '--verify', '--end-of-options', `${t}^{commit}`], { cwd: root, readOnly: true, allowFail: true });
    if (r.code === 0) {
      target = r.stdout.trim();
      break;
    }
  }
  if (!target) return noProblems(); // nothing resolves: the step itself says so
  // (in a preflight, the emergency's switch and reset ask the same question: answered once)
  const key = JSON.stringify([target, move.paths, move.removes, move.untracked]);
  const known = memo?.get(key);
  if (known) return known;
  const answer = changesTo(ctx, target, move);
  memo?.set(key, answer);
  return answer;
}

async function changesTo(ctx: PlanContext, target: string, move: TrackedMove): Promise<AccessReport> {
  const root = ctx.repo.root;
  const [diff, untracked] = await Promise.all([
    git(['diff', '--name-status', '-z', '--no-renames', '--no-ext-diff', target, '--', ...(move.paths ?? [])], { cwd: root, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' } }),
    move.untracked ? git(['ls-files', '-z', '-o', '--exclude-standard'], { cwd: root, readOnly: true }) : null,
  ]);
  const changes: Change[] = [];
  const recs = diff.stdout.split('\0');
  for (let i = 0; i + 1 < recs.length; i += 2) {
    // A: here, not in the target (git removes it); D, M, T: git writes the target's file
    const path = recs[i + 1]!;
    changes.push(recs[i] === 'A' ? { op: 'remove', path, skippable: true, mustRead: true } : { op: 'write', path, skippable: false, mustRead: true });
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
export function checkingTrackedChanges<W>(kind: StepKind<W>, moveOf: (w: W, ctx: PlanContext, earlier: readonly string[]) => TrackedMove): StepKind<W> {
  return {
    ...kind,
    access: (w, ctx) => trackedChangesAccess(ctx, moveOf(w, ctx, ctx.earlier), ctx.memo),
    async run(w, ctx) {
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
