/**
 * Where `rb analyze` runs the user's commands (test, coverage, performance, build): never in the
 * working copy, which `rb analyze` promises not to change (a Jest run rewrites coverage/, a build
 * its output dir), but in the kept worktree `rb check` uses (src/check/commit-checkout.ts: outside
 * the repository, dependencies linked or installed; a temporary worktree when a check is using
 * it), checked out at the state being analysed:
 *   - HEAD, when the work tree has no uncommitted change (rb's own records aside);
 *   - otherwise a commit of the working copy made with a temporary index (the real index copied,
 *     then `git add -A`, `write-tree`, `commit-tree`): tracked changes and untracked files, not
 *     ignored ones. It is written to the object database only — no ref, no index, no file of
 *     the user's changes.
 * Ignored files (.env, build output, caches) are not in that checkout.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { git } from '../io/git.js';
import type { Repo } from '../repo.js';
import type { Config } from '../types.js';
import { dirtyPaths } from '../check/clean.js';
import { openCommitCheckout } from '../check/commit-checkout.js';
import { DEFAULT_INSTALL_TIMEOUT_MS } from '../steps/deps-install.js';
import type { BaselineCheckout } from '../check/temp-worktree.js';

/** Where the commands run, in words and as a path; or why they cannot run. */
export interface AnalysisWorkspace {
  /** the checkout's path, or null when none could be made */
  path: string | null;
  /** one line for the bundle: where the commands ran and at which state */
  where: string;
  /** the commit checked out (HEAD, or a commit of the working copy) */
  commit: string | null;
  /** why the commands cannot run, when no checkout could be made or an install failed */
  problem: string | null;
  release(): Promise<void>;
}

/** The working copy as a commit: HEAD when nothing is uncommitted, else one made with a temporary index. */
export async function workingCopyCommit(repo: Repo, rollbacksDir: string): Promise<{ oid: string; changed: number }> {
  const head = (await git(['rev-parse', '--verify', 'HEAD^{commit}'], { cwd: repo.root, readOnly: true })).stdout.trim();
  const changed = (await dirtyPaths(repo, rollbacksDir)).length;
  if (!changed) return { oid: head, changed };
  const dir = mkdtempSync(join(tmpdir(), 'rb-analyze-index-'));
  try {
    const index = join(dir, 'index');
    // a copy of the real index keeps git's stat cache: only changed files are hashed. Its time is
    // set a second before the original's: git's racy-clean check compares file times with the
    // index's own, and a newer copy would make a file changed just before look unchanged
    const real = join(repo.gitDir, 'index');
    if (existsSync(real)) {
      copyFileSync(real, index);
      const t = statSync(real);
      utimesSync(index, t.atime, new Date(t.mtimeMs - 1000));
    }
    const opts = { cwd: repo.root, indexFile: index };
    const records = posix.normalize(rollbacksDir.replace(/\\/g, '/')).replace(/^\.\/|\/+$/g, '');
    await git(['add', '-A', '--', '.'], opts);
    // rb's own records stay as HEAD has them (an exclude pathspec fails when they are ignored)
    await git(['reset', '-q', 'HEAD', '--', `:(top,literal)${records}`], opts);
    const tree = (await git(['write-tree'], opts)).stdout.trim();
    const oid = (await git(['commit-tree', tree, '-p', head, '-m', 'rb analyze: the working copy (uncommitted changes included)'], { cwd: repo.root })).stdout.trim();
    return { oid, changed };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Open the checkout the user's commands run in (see the module comment). Never throws: a problem
 * is returned, and the commands are then recorded as not run.
 */
export async function openAnalysisWorkspace(repo: Repo, config: Config, signal: AbortSignal): Promise<AnalysisWorkspace> {
  let wt: BaselineCheckout | null = null;
  const release = async () => {
    try { await wt?.release(); } catch { /* a temporary worktree left behind is reported by git worktree list */ }
  };
  let commit: string | null = null;
  try {
    const state = await workingCopyCommit(repo, config.rollbacksDir);
    commit = state.oid;
    const at = state.changed ? `a commit of the working copy (HEAD plus ${state.changed} uncommitted path${state.changed === 1 ? '' : 's'}), ${commit.slice(0, 12)}` : `HEAD ${commit.slice(0, 12)}`;
    const r = await openCommitCheckout(repo, config, commit, {
      inPlace: false, label: 'the analysed state', signal, installTimeoutMs: DEFAULT_INSTALL_TIMEOUT_MS, progress: () => undefined,
      onOpen: (w) => { wt = w; },
    });
    const kind = r.wt.kind === 'kept' ? 'the kept worktree of rb check' : 'a temporary worktree';
    const where = `in ${kind} ${r.wt.path}, at ${at}; your working copy is not touched (ignored files such as .env are not there)`;
    if (r.failure) return { path: r.wt.path, where, commit, problem: r.failure.reason, release };
    return { path: r.wt.path, where, commit, problem: null, release };
  } catch (e) {
    await release();
    return { path: null, where: 'nowhere: no checkout could be made', commit, problem: `could not check out the analysed state in a worktree: ${(e as Error).message}`, release: async () => undefined };
  }
}
