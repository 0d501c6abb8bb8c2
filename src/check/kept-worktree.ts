/**
 * The gate's own worktree, kept between runs of `rb check`: a detached `git worktree` of the
 * baseline in a per-repository folder of the user's cache dir,
 * `$XDG_CACHE_HOME/rb/check-worktrees/<name>-<hash>` (`~/.cache/...` when XDG_CACHE_HOME is not
 * set), or the path `check.worktree` of rb.config.yaml. Never inside the repository or its git
 * dir: Jest and other runners ignore every path under `.git` ("No tests found"), and Node's
 * module resolution would climb from there into the user's own node_modules.
 *
 * Creating a worktree writes every file of the checkout (about 30 s for 50,000 files on the
 * bench machine); moving a kept one with `git checkout --detach --force <oid>` rewrites only the
 * files that differ, and git's stat cache makes the rest free. `git clean -ffdx` then drops
 * whatever the previous run's tests wrote, except the dependency dirs an earlier check installed
 * there for the same lockfiles.
 *
 * It is registered with `git worktree lock`, so a `git worktree prune` (by the user, or by
 * `git gc`) while its folder is out of reach does not drop it. One check at a time uses it:
 * `<git-common-dir>/rb/check-worktree.lock` (exclusive create; pid, host, start time) — a second,
 * concurrent `rb check` gets null and uses a temporary worktree instead. A lock whose pid is gone
 * on this host is taken over.
 *
 * A kept worktree that is broken (its directory deleted, its `.git` file damaged, its
 * registration under <common dir>/worktrees gone) is removed — only that registration, never a
 * blanket `git worktree prune` — and added again. One left by an older rb at
 * `<git-common-dir>/rb/check-worktree` is removed the same way.
 *
 * `<git-common-dir>/rb/check-worktree.json` records, per install cwd, the baseline lockfile blobs
 * its dependency dir was installed for; a dir is reused only while those blobs are the same.
 *
 * The user's branch, index and files are never touched. `git worktree list` shows it (locked);
 * `rb check --prune-worktree` (pruneKeptWorktree) gives the disk back.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import fse from 'fs-extra';
import { homedir, hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, posix, relative, resolve } from 'node:path';
import { git } from '../io/git.js';
import { excludePattern } from '../snapshot/format.js';
import { writeFileAtomic } from '../io/fs.js';
import { takeLockFile } from '../journal/lock.js';
import { userCacheDir } from '../io/user-cache.js';
import type { Repo } from '../repo.js';
import type { InstallConfig } from '../types.js';
import { isRegisteredWorktree, unlinkLinks, type BaselineCheckout } from './temp-worktree.js';

export { userCacheDir };

/** `<name>-<hash>`: the repository's folder name (for people) and a hash of its common git dir (unique per repository). */
function repositoryKey(commonDir: string): string {
  let real = commonDir;
  try {
    real = realpathSync(commonDir);
  } catch { /* as given */ }
  const base = basename(real) === '.git' ? basename(dirname(real)) : basename(real).replace(/\.git$/, '');
  const name = base.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[.-]+/, '').slice(0, 40) || 'repo';
  return `${name}-${createHash('sha256').update(real).digest('hex').slice(0, 12)}`;
}

/**
 * Where the kept worktree lives: `configured` (check.worktree: absolute, or ~/…) or
 * `<cache dir>/rb/check-worktrees/<name>-<hash>`. The parent folder's real path, so the path is
 * the one `git worktree list` prints.
 */
export function keptWorktreePath(repo: Pick<Repo, 'commonDir'>, configured: string | null = null, env: NodeJS.ProcessEnv = process.env): string {
  const path = configured
    ? resolve(configured.startsWith('~/') ? join(homedir(), configured.slice(2)) : configured)
    : join(userCacheDir(env), 'rb', 'check-worktrees', repositoryKey(repo.commonDir));
  let parent = dirname(path);
  try {
    parent = realpathSync(parent);
  } catch { /* not there yet */ }
  return join(parent, basename(path));
}

/** Where an older rb kept it: inside the git dir, where Jest finds no tests. */
const legacyPathOf = (repo: Pick<Repo, 'commonDir'>) => join(repo.commonDir, 'rb', 'check-worktree');

const inside = (path: string, dir: string) => {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** Why `path` cannot hold the kept worktree (inside the work tree or the git dir), or null. */
export function keptWorktreeProblem(repo: Pick<Repo, 'root' | 'commonDir' | 'gitDir'>, path: string): string | null {
  for (const [dir, what] of [[repo.root, 'the work tree'], [repo.commonDir, 'the git dir'], [repo.gitDir, 'the git dir']] as const) {
    let real = dir;
    try { real = realpathSync(dir); } catch { /* as given */ }
    if (inside(path, real) || inside(path, dir)) return `check.worktree ${path} is inside ${what} (${dir}): test runners ignore paths under .git, and Node would resolve modules from your own node_modules`;
  }
  return null;
}

/** The reason `git worktree lock` records, shown by `git worktree list --verbose`. */
export const KEPT_LOCK_REASON = "rb check's kept worktree of the baseline; `rb check --prune-worktree` removes it";

const lockPathOf = (repo: Pick<Repo, 'commonDir'>) => join(repo.commonDir, 'rb', 'check-worktree.lock');
const statePathOf = (repo: Pick<Repo, 'commonDir'>) => join(repo.commonDir, 'rb', 'check-worktree.json');

/** What the kept worktree's dependency dirs were installed for. */
export interface KeptState {
  version: 1;
  /** the worktree these installs are in (a state for another path describes nothing here) */
  path?: string;
  /** install cwd (or dir:<path>) -> the dir (relative to that cwd), the baseline lockfile blobs it was installed for, and every dependency dir the install made (worktree-relative) */
  installs: Record<string, { dir: string; lockfiles: Record<string, string | null>; dirs?: string[] }>;
}

export function readKeptState(repo: Pick<Repo, 'commonDir'>, path: string): KeptState {
  // none yet, or unreadable: nothing is reused
  const s = fse.readJsonSync(statePathOf(repo), { throws: false }) as KeptState | null;
  return s && s.version === 1 && s.path === path && s.installs && typeof s.installs === 'object' ? s : { version: 1, path, installs: {} };
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
 * Open the kept worktree at `path` on `oid`, creating it when needed, or null when another
 * check is using it. `keepDirs` are worktree-relative dependency dirs to keep through the clean
 * (installed for the same lockfiles); any symlink at a configured dependency path (left by a
 * killed check) is unlinked first.
 * @throws Error when git cannot add or move it (the lock is released then)
 */
export async function openKeptWorktree(repo: Repo, path: string, oid: string, depPaths: readonly string[], keepDirs: readonly string[]): Promise<BaselineCheckout | null> {
  const release = takeLock(repo);
  if (!release) return null;
  const links: string[] = [];
  let released = false;
  const done = () => {
    if (released) return;
    released = true;
    unlinkLinks(links);
    release();
  };
  try {
    await removeLegacy(repo);
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
      mkdirSync(dirname(path), { recursive: true });
      const r = await git(['worktree', 'add', '--detach', '--quiet', '--', path, oid], { cwd: repo.root, allowFail: true });
      if (r.code !== 0) throw new Error(`git worktree add failed: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
      // locked: a `git worktree prune` while the folder is out of reach (an unmounted or restored cache) keeps it
      await git(['worktree', 'lock', '--reason', KEPT_LOCK_REASON, '--', path], { cwd: repo.root, allowFail: true });
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

/** A kept worktree an older rb made inside the git dir: removed (its registration and files). */
async function removeLegacy(repo: Repo): Promise<void> {
  const legacy = legacyPathOf(repo);
  if (existsSync(legacy) || (await isRegisteredWorktree(repo, legacy))) await discard(repo, legacy);
}

export interface PruneResult {
  path: string;
  /** there was a kept worktree (its folder, or its registration) and it is gone now */
  removed: boolean;
  /** another check is using it: nothing was removed */
  busy: boolean;
}

/**
 * `rb check --prune-worktree`: remove the kept worktree (its folder and its registration, also
 * one left inside the git dir by an older rb) and forget what was installed in it. Verified: the
 * answer says removed only when neither the folder nor the registration is left.
 * @throws Error when something could not be removed
 */
export async function pruneKeptWorktree(repo: Repo, path: string): Promise<PruneResult> {
  const release = takeLock(repo);
  if (!release) return { path, removed: false, busy: true };
  try {
    const legacy = legacyPathOf(repo);
    let found = false;
    for (const p of [path, legacy]) {
      if (!existsSync(p) && !(await isRegisteredWorktree(repo, p))) continue;
      found = true;
      await discard(repo, p);
      if (existsSync(p)) throw new Error(`could not delete ${p}`);
      if (await isRegisteredWorktree(repo, p)) throw new Error(`${p} is still registered (see \`git worktree list\`)`);
    }
    rmSync(statePathOf(repo), { force: true });
    return { path, removed: found, busy: false };
  } finally {
    release();
  }
}
