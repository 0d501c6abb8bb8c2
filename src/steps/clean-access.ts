/**
 * The permission check of `git.clean` (issue 22): what the clean would remove — git's own dry
 * run (`git clean -n` with the same excludes) — and whether this user can: the directory of each
 * entry writable, every directory inside a removed one listable and writable (engine/access.ts).
 *
 * In the preflight the clean's excludes are predicted: the snapshot has not run yet, so what it
 * will leave out (and the clean will therefore keep) comes from previewSkipped, asked only when
 * something is in the way. At run time the excludes are the clean's own; entries in the way stop
 * the step, or with --skip-unwritable are excluded too: left in place and named, like a nested
 * repository.
 */
import { git } from '../io/git.js';
import { decodePathBytes, unquoteGitPath } from '../io/path-bytes.js';
import { isSuperuser } from '../io/access.js';
import { checkChanges, noProblems, underBlocked, unwritableError, type AccessReport } from '../engine/access.js';
import { excludePattern } from '../snapshot/format.js';
import { previewSkipped } from '../snapshot/capture.js';
import { lockfilesUnchanged } from './deps-install.js';
import { dependencyDirs } from './dependency-dirs.js';
import type { AccessContext, StepContext } from './types.js';
import { showPath } from '../ui/format.js';

/** The entries `git clean -fd[x] -e …` would remove: its dry run (directories without their trailing slash). */
export async function cleanWouldRemove(root: string, excludes: readonly string[], ignored: boolean): Promise<string[]> {
  const r = await git(['clean', '-n', '-d', ...(ignored ? ['-x'] : []), ...excludes.flatMap((e) => ['-e', e])], { cwd: root, readOnly: true, binary: true });
  // (names read as bytes, as git-clean.ts reads its output: a name that is not UTF-8 survives)
  const lines = r.stdoutBuf.toString('latin1').split('\n').map((l) => decodePathBytes(Buffer.from(l, 'latin1')));
  return lines.filter((l) => l.startsWith('Would remove ')).map((l) => unquoteGitPath(l.slice(13)).replace(/\/$/, ''));
}

/** What removing those entries needs that this user may not do. */
export async function cleanAccess(root: string, excludes: readonly string[], ignored: boolean): Promise<AccessReport> {
  if (isSuperuser()) return noProblems();
  const removed = await cleanWouldRemove(root, excludes, ignored);
  const report = await checkChanges(root, removed.map((path) => ({ op: 'remove', path, skippable: true })));
  return { ...report, blocked: report.blocked.map((b) => ({ ...b, keepable: true })) };
}

/**
 * The preflight of a clean that runs later in the playbook. Its excludes as the step will have
 * them: `excludes` (rollbacks/, rb's files, keep paths), each install's dependency directory
 * whose lockfiles the run's target leaves unchanged (`keepDepsSince`), and what the snapshot will
 * not capture — except a listed dependency directory whose lockfiles change (git-clean.ts removes
 * that one: the install recreates it).
 */
export async function cleanPreflight(ctx: AccessContext, w: { ignored?: boolean; keepDepsSince?: string }, excludes: readonly string[]): Promise<AccessReport> {
  if (isSuperuser()) return noProblems();
  const root = ctx.repo.root;
  const ignored = w.ignored !== false;
  const since = w.keepDepsSince && !w.keepDepsSince.includes('{{') ? w.keepDepsSince : null;
  const target = ctx.baseline.oid;
  const depExcludes: string[] = [];
  const staleDeps = new Set<string>();
  if (since && target) {
    for (const dep of await dependencyDirs(root, ctx.config.install)) {
      if (await lockfilesUnchanged(root, dep.install, since, target)) depExcludes.push(`/${dep.path}/`);
      else staleDeps.add(dep.path);
    }
  }
  const report = await cleanAccess(root, [...excludes, ...depExcludes], ignored);
  if (report.blocked.length === 0) return report;
  const notCaptured = (await previewSkipped(ctx.repo, {
    maxIgnoredBytes: ctx.config.snapshots.maxIgnoredBytes, skipIgnored: ctx.config.snapshots.skipIgnored, exclude: [ctx.config.rollbacksDir],
  })).filter((s) => !(s.reason === 'listed' && staleDeps.has(s.path)));
  const keptByClean = (p: string) => notCaptured.some((s) => p === s.path || p.startsWith(s.path + '/'));
  return { ...report, blocked: report.blocked.filter((b) => !keptByClean(b.path.replace(/\/$/, ''))) };
}

/**
 * At run time, before the clean: entries in the way stop the step (the preflight should have
 * said so already), or — the run skips unwritable entries — are excluded from the clean, named
 * in a warning and in `kept`. Returns the extra excludes, `kept` lines and the paths left.
 */
export function leaveUnwritable(report: AccessReport, ctx: StepContext): { excludes: string[]; kept: string[]; paths: string[] } {
  const out = { excludes: [] as string[], kept: [] as string[], paths: [] as string[] };
  if (report.blocked.length === 0) return out;
  if (!ctx.run.skipUnwritable || underBlocked('', report.blocked)) {
    throw unwritableError(report.blocked, { retry: `rb resume ${ctx.run.id}`, skipFlag: false, nothingChanged: false });
  }
  for (const b of report.blocked) {
    out.excludes.push(excludePattern(b.path.replace(/\/$/, '')));
    out.paths.push(b.path.replace(/\/$/, ''));
    out.kept.push(`${showPath(b.path)} (${b.why}: left in place, --skip-unwritable)`);
  }
  ctx.reporter.warn(`not cleaned (not yours to change; left in place, --skip-unwritable): ${report.blocked.map((b) => `${showPath(b.path)} (${b.why})`).join(', ')}`);
  return out;
}
