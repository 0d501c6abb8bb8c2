/**
 * The gate's own worktree, kept between runs of `rb check`: `<git-common-dir>/rb/check-worktree`,
 * a detached `git worktree` of the baseline. Creating a worktree writes every file of the
 * checkout (about 30 s for 50,000 files on the bench machine); moving a kept one with
 * `git checkout --detach --force <oid>` rewrites only the files that differ, and git's stat
 * cache makes the rest free. `git clean -ffdx` then drops whatever the previous run's tests
 * wrote, except the dependency dirs an earlier check installed there for the same lockfiles.
 *
 * One check at a time uses it: `check-worktree.lock` beside it (exclusive create; pid, host,
 * start time) — a second, concurrent `rb check` gets null and uses a temporary worktree instead.
 * A lock whose pid is gone on this host is taken over.
 *
 * A kept worktree that is broken (its directory deleted, its `.git` file damaged, its
 * registration under <common dir>/worktrees gone) is removed — only that registration, never a
 * blanket `git worktree prune` — and added again.
 *
 * `state.json` beside it records, per install cwd, the baseline lockfile blobs its dependency dir
 * was installed for; a dir is reused only while those blobs are the same.
 *
 * The user's branch, index and files are never touched; the worktree lives inside the git dir,
 * so no clean, reset or status of the main work tree sees it. `git worktree list` shows it;
 * `git worktree remove --force <path>` (or deleting the directory) gives the disk back.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, posix, resolve } from 'node:path';
import { git } from '../io/git.js';
import { excludePattern } from '../snapshot/format.js';
import { writeFileAtomic } from '../io/fs.js';
import { takeLockFile } from '../journal/lock.js';
import type { Repo } from '../repo.js';
import type { InstallConfig } from '../types.js';
import { isRegisteredWorktree, unlinkLinks, type BaselineCheckout } from './temp-worktree.js';

export function keptWorktreePath(repo: Pick<Repo, 'commonDir'>): string {
  return join(repo.commonDir, 'rb', 'check-worktree');
}

const lockPathOf = (repo: Pick<Repo, 'commonDir'>) => join(repo.commonDir, 'rb', 'check-worktree.lock');
const statePathOf = (repo: Pick<Repo, 'commonDir'>) => join(repo.commonDir, 'rb', 'check-worktree.json');

/** What the kept worktree's dependency dirs were installed for. */
export interface KeptState {
  version: 1;
  /** install cwd -> the dir (relative to that cwd) and the baseline lockfile blobs it was installed for */
  installs: Record<string, { dir: string; lockfiles: Record<string, string | null> }>;
}

export function readKeptState(repo: Pick<Repo, 'commonDir'>): KeptState {
  try {
    const s = JSON.parse(readFileSync(statePathOf(repo), 'utf8')) as KeptState;
    if (s && s.version === 1 && s.installs && typeof s.installs === 'object') return s;
  } catch { /* none yet, or unreadable: nothing is reused */ }
  return { version: 1, installs: {} };
}

export function writeKeptState(repo: Pick<Repo, 'commonDir'>, state: KeptState): void {
  writeFileAtomic(statePathOf(repo), JSON.stringify(state, null, 2) + '\n');
}

/** `<cwd>/<dir>` as a worktree-relative path ("node_modules", "web/node_modules"). */
export function installDirPath(install: Pick<InstallConfig, 'cwd' | 'dir'>): string {
  return posix.normalize(posix.join(install.cwd || '.', install.dir ?? '')).replace(/^\.\//, '');
}

/** Take the kept worktree's lock (journal/lock.ts, the same protocol as the run lock), or null when a live check holds it. */
function takeLock(repo: Pick<Repo, 'commonDir'>): (() => void) | null {
  mkdirSync(join(repo.commonDir, 'rb'), { recursive: true });
  const r = takeLockFile(lockPathOf(repo), { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId: 'check', command: 'rb check' });
  return 'held' in r ? () => r.held.release() : null;
}

/** Is `path` a worktree of this repository whose files can be used (directory, .git file, registration)? */
async function usable(repo: Repo, path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isDirectory() || !lstatSync(join(path, '.git')).isFile()) return false;
  } catch {
    return false;
  }
  const r = await git(['rev-parse', '--git-common-dir'], { cwd: path, allowFail: true, readOnly: true });
  if (r.code !== 0) return false;
  try {
    if (realpathSync(resolve(path, r.stdout.trim())) !== realpathSync(repo.commonDir)) return false;
  } catch {
    return false;
  }
  return isRegisteredWorktree(repo, path);
}

/**
 * Remove what is left of a broken kept worktree: its directory and the registration under
 * <common dir>/worktrees whose gitdir names it (only that one: a blanket prune would also drop
 * the records of the user's worktrees whose directories are momentarily missing).
 */
async function discard(repo: Repo, path: string): Promise<void> {
  await git(['worktree', 'remove', '--force', '--force', path], { cwd: repo.root, allowFail: true });
  rmSync(path, { recursive: true, force: true });
  const regs = join(repo.commonDir, 'worktrees');
  let names: string[] = [];
  try {
    names = readdirSync(regs);
  } catch { /* no registrations */ }
  for (const name of names) {
    try {
      if (readFileSync(join(regs, name, 'gitdir'), 'utf8').trim() === join(path, '.git')) rmSync(join(regs, name), { recursive: true, force: true });
    } catch { /* not a registration */ }
  }
}

/**
 * Open the kept worktree at `oid`, creating it when needed, or null when another check is using
 * it. `keepDirs` are worktree-relative dependency dirs to keep through the clean (installed for
 * the same lockfiles); any symlink at a configured dependency path (left by a killed check) is
 * unlinked first.
 * @throws Error when git cannot add or move it (the lock is released then)
 */
export async function openKeptWorktree(repo: Repo, oid: string, depPaths: readonly string[], keepDirs: readonly string[]): Promise<BaselineCheckout | null> {
  const release = takeLock(repo);
  if (!release) return null;
  const path = keptWorktreePath(repo);
  const links: string[] = [];
  let released = false;
  const done = () => {
    if (released) return;
    released = true;
    unlinkLinks(links);
    release();
  };
  try {
    let created = false;
    let moved = false;
    if (await usable(repo, path)) {
      unlinkLinks(depPaths.map((p) => join(path, p)));
      const keep = keepDirs.flatMap((d) => ['-e', excludePattern(d)]);
      // a git killed inside it (an index.lock left behind) or a damaged index: start afresh
      const co = await git(['checkout', '--detach', '--force', '--quiet', oid, '--'], { cwd: path, allowFail: true });
      moved = co.code === 0 && (await git(['clean', '-ffdxq', ...keep], { cwd: path, allowFail: true })).code === 0;
    }
    if (!moved) {
      if (existsSync(path) || (await isRegisteredWorktree(repo, path))) await discard(repo, path);
      mkdirSync(join(repo.commonDir, 'rb'), { recursive: true });
      const r = await git(['worktree', 'add', '--detach', '--quiet', '--', path, oid], { cwd: repo.root, allowFail: true });
      if (r.code !== 0) throw new Error(`git worktree add failed: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
      created = true;
    }
    return {
      path,
      kind: 'kept',
      created,
      links,
      async release() {
        done();
        return null;
      },
      releaseSync: done,
    };
  } catch (e) {
    done();
    throw e;
  }
}
