/**
 * `git.clean`: remove untracked (and, by default, ignored) files — except rollbacks/, .rb/,
 * rb.config.yaml, the configured keep paths (.env, .env.*), extra `keep` paths, dependency
 * directories whose lockfiles are unchanged (configured or found: every workspace package's
 * node_modules, a .venv — dependency-dirs.ts), and everything the snapshot did not capture (it
 * could not be restored) — with one exception: a dependency directory left out of the snapshot
 * because of its name (node_modules, .venv, … or snapshots.skipIgnored) is removed when its
 * lockfiles changed, because the install recreates it from the baseline's lockfiles (undo cannot
 * bring that old directory back; it was never captured); the output and the report name it with
 * the command that recreates it. Single -f: nested repositories are never
 * deleted; never -ff. Each one git skipped (a submodule the baseline does not have, a clone
 * inside the tree) is named in a warning and in `kept`: its files are in no snapshot, and it
 * holds its own history.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from '#zod';
import { git } from '../io/git.js';
import type { StepKind, StepContext, PlanContext } from './types.js';
import type { InstallConfig } from '../types.js';
import { displayCommand, gitLine } from './common.js';
import { lockfilesUnchanged } from './deps-install.js';
import { comparedFiles, dependencyDirs, installDir, lockWords, recreateCommand, type DependencyDir } from './dependency-dirs.js';
import { RB_OWN_PATHS } from '../config/defaults.js';
import { decodePathBytes, fsPath, splitNulPaths, unquoteGitPath } from '../io/path-bytes.js';
import { showPath } from '../ui/format.js';
import { withOpenDirs } from '../engine/access.js';
import { cleanAccess, cleanPreflight, leaveUnwritable } from './clean-access.js';

const schema = z
  .object({
    ignored: z.boolean().optional(),
    keep: z.array(z.string()).optional(),
    /** keep each install's dependency dir when its lockfiles are identical between this commit and HEAD */
    keepDepsSince: z.string().optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

/** An exclude pattern anchored at the root for a path, or a name pattern as given. */
function anchor(p: string): string {
  const s = p.replace(/^\.\//, '');
  return s.includes('/') && !s.startsWith('/') ? `/${s}` : s;
}

function baseExcludes(ctx: PlanContext, w: With): string[] {
  // rb's own configuration is never cleaned either (an untracked .rb/ or rb.config.yaml)
  return [`/${ctx.config.rollbacksDir.replace(/^\/+|\/+$/g, '')}/`, ...RB_OWN_PATHS.map((p) => `/${p}`), ...ctx.config.keep.map(anchor), ...(w.keep ?? []).map(anchor)];
}

/** An install's dependency dir relative to the repository root ("frontend/node_modules"). */
export function depDirOf(inst: InstallConfig): string | null {
  return installDir(inst);
}

/** The removed paths for a report: each one, up to {@link REMOVED_LISTED}, then how many more. */
export const REMOVED_LISTED = 20;
export function removedList(removed: readonly string[], runId: string): string {
  if (!removed.length) return 'none';
  const shown = removed.slice(0, REMOVED_LISTED).map((p) => `- ${p}`);
  const more = removed.length - shown.length;
  return [...shown, ...(more > 0 ? [`- … and ${more} more (listed in \`rb show ${runId} --json\`; the snapshot holds them all)`] : [])].join('\n');
}

/** Paths the run's snapshot reported as not captured, with the reason. */
function snapshotSkipped(ctx: StepContext): { path: string; reason: string }[] {
  const out: { path: string; reason: string }[] = [];
  for (const r of Object.values(ctx.results)) {
    const sk = (r as { notCaptured?: unknown }).notCaptured;
    if (r.snapshotId && Array.isArray(sk)) for (const s of sk as { path: string; reason: string }[]) out.push({ path: s.path.replace(/\/$/, ''), reason: s.reason });
  }
  return out;
}

/**
 * Submodules the commit the run started on had and HEAD no longer has, whose checkout is still
 * there as a repository of its own (git never deletes one on a switch or reset).
 */
/**
 * The gitlinks (submodules) the run's HEAD had and HEAD has not: asked when the step starts (the
 * clean changes no commit, so git answers while it runs); their checkouts left on disk are looked
 * for after the clean (submoduleCheckoutsLeft).
 */
async function gitlinksGone(ctx: StepContext): Promise<string[]> {
  if (!ctx.run.head) return [];
  const r = await git(['diff-tree', '-r', '-z', '--no-renames', ctx.run.head, 'HEAD'], { cwd: ctx.repo.root, readOnly: true, allowFail: true, binary: true });
  if (r.code !== 0) return [];
  const recs = splitNulPaths(r.stdoutBuf);
  const out: string[] = [];
  for (let i = 0; i + 1 < recs.length; i += 2) {
    const [oldMode, newMode] = recs[i]!.slice(1).split(' ');
    if (oldMode === '160000' && newMode !== '160000') out.push(recs[i + 1]!);
  }
  return out;
}

async function submoduleCheckoutsLeft(ctx: StepContext, gone: Promise<string[]>): Promise<string[]> {
  return (await gone).filter((path) => existsSync(fsPath(join(ctx.repo.root, path, '.git'))));
}

/** Single -f: nested repositories are never deleted; -x unless ignored: false. */
const cleanArgs = (w: With, excludes: string[]) => ['clean', '-fd', ...(w.ignored === false ? [] : ['-x']), ...excludes.flatMap((e) => ['-e', e])];

export const gitClean: StepKind<With> = {
  kind: 'git.clean',
  summary: 'remove untracked and ignored files, keeping rollbacks/, keep paths, uncaptured paths and unchanged dependency dirs',
  with: schema,
  destructive: true,
  describe: (w, ctx) => {
    // each dependency dir is kept only if its lockfiles are unchanged: an optional argument
    const seen = new Set<string>();
    const deps = w.keepDepsSince
      ? ctx.config.install.flatMap((i) => {
          const dir = depDirOf(i);
          if (!dir || seen.has(dir)) return [];
          seen.add(dir);
          return [` [-e /${dir}/ (if ${lockWords(i, { fromRoot: true })} unchanged)]`];
        })
      : [];
    const others = w.keepDepsSince ? ' [-e /<other dependency dir>/ (node_modules, .venv, … if its lockfiles are unchanged)]…' : '';
    return [`${gitLine(cleanArgs(w, baseExcludes(ctx, w)))}${deps.join('')}${others} [-e <path the snapshot did not capture>]…`];
  },
  access: (w, ctx) => cleanPreflight(ctx, w, baseExcludes(ctx, w)),
  async run(w, ctx) {
    const repo = ctx.repo;
    const gone = gitlinksGone(ctx);
    gone.catch(() => undefined); // awaited after the clean
    const excludes = baseExcludes(ctx, w);
    const kept: string[] = [];
    const notes: string[] = [];
    // dependency dirs, configured or found (issue 24): kept when their lockfiles are unchanged;
    // otherwise stale: removed, and the install recreates them
    const staleDeps = new Map<string, DependencyDir>();
    const keptDirs = new Set<string>();
    if (w.keepDepsSince) {
      for (const dep of await dependencyDirs(repo.root, ctx.config.install)) {
        if (await lockfilesUnchanged(repo.root, dep.install, w.keepDepsSince, 'HEAD')) {
          excludes.push(`/${dep.path}/`);
          keptDirs.add(dep.path);
          if (existsSync(join(repo.root, dep.path))) kept.push(`${showPath(dep.path)} (${lockWords(dep.install, { fromRoot: true })} unchanged)`);
        } else staleDeps.set(dep.path, dep);
      }
    }
    // dependency dirs removed without a copy in the snapshot: after `rb undo`, their install must run again
    const removedDeps: { dir: string; cwd: string; command: string; lockfiles: string[]; recreate: string; configured: boolean }[] = [];
    for (const { path: p, reason } of snapshotSkipped(ctx)) {
      if (keptDirs.has(p)) continue; // kept above already (and named once)
      // A dependency dir left out of the snapshot (listed: node_modules, .venv, …) whose
      // lockfiles changed is removed: its install recreates it from the baseline's lockfiles
      // (named with its command). Anything else not captured is kept.
      const stale = staleDeps.get(p);
      if (reason === 'listed' && stale) {
        const recreate = recreateCommand(stale.install);
        notes.push(`${showPath(p)} removed (${lockWords(stale.install, { fromRoot: true })} changed; ${stale.configured ? 'the install recreates it' : `recreate it with \`${recreate}\``})`);
        removedDeps.push({ dir: p, cwd: stale.install.cwd || '.', command: displayCommand(stale.install.command), lockfiles: comparedFiles(stale.install).files, recreate, configured: stale.configured });
        continue;
      }
      // a literal path: escape gitignore's special characters, anchor at the root
      excludes.push('/' + p.replace(/[*?[\]\\!#]/g, '\\$&').replace(/ $/, '\\ '));
      kept.push(`${showPath(p)} (${reason === 'unreadable' ? 'not captured: unreadable' : 'not in the snapshot'})`);
    }
    // entries this user cannot remove (issue 22) stop the step, or are left in place and named;
    // this user's read-only directories are opened for the clean, their modes put back after
    const access = await cleanAccess(repo.root, excludes, w.ignored !== false);
    const left = leaveUnwritable(access, ctx);
    excludes.push(...left.excludes);
    kept.push(...left.kept);
    const args = cleanArgs(w, excludes);
    const r = await withOpenDirs(repo.root, access.openUp, () => git(args, { cwd: repo.root, binary: true }));
    const lines = r.stdoutBuf.toString('latin1').split('\n').map((l) => decodePathBytes(Buffer.from(l, 'latin1')));
    const removed = lines.filter((l) => l.startsWith('Removing ')).map((l) => unquoteGitPath(l.slice(9)));
    // nested repositories git left (single -f): never deleted, named. git names those it met
    // inside an untracked directory; a submodule checkout that is itself the untracked entry it
    // passes over in silence, so those are found from the gitlinks the run's HEAD had.
    const said = lines.filter((l) => l.startsWith('Skipping repository ')).map((l) => unquoteGitPath(l.slice(20)).replace(/\/$/, ''));
    const notCaptured = new Set(snapshotSkipped(ctx).map((s) => s.path));
    const nested = [...new Set([...said, ...(await submoduleCheckoutsLeft(ctx, gone))])].filter((n) => !notCaptured.has(n)).sort();
    for (const n of nested) {
      kept.push(`${showPath(n)} (a nested git repository)`);
      ctx.reporter.warn(`${showPath(n)} is a nested git repository (a submodule the baseline does not have, or a clone inside the tree): left in place, never deleted; its files are not in the snapshot`);
    }
    ctx.reporter.output(`removed ${removed.length} path(s); kept ${kept.length ? kept.join(', ') : 'rollbacks/ and keep paths'}${notes.length ? `; ${notes.join(', ')}` : ''}`);
    const removedDepsList = removedDeps.length ? removedDeps.map((d) => `${showPath(d.dir)} (recreate it with \`${d.recreate}\`)`).join(', ') : 'none';
    return { commands: [gitLine(args)], removed: removed.slice(0, 1000), removedCount: removed.length, removedList: removedList(removed.map(showPath), ctx.run.id), kept, nested, removedDeps, removedDepsList, leftInPlace: left.paths };
  },
};
