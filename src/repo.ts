/**
 * The repository rb works on: found from --cwd (or the current directory), never from
 * inherited GIT_DIR / GIT_WORK_TREE. Read-only.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { gitSync, setFileSystemFlags } from './io/git.js';
import { PreconditionError } from './errors.js';
import { currentScope } from './io/run-scope.js';
import { userCacheDir } from './io/user-cache.js';

export interface Repo {
  /** absolute, real path of the work tree's top level */
  root: string;
  /** this work tree's git dir (differs from commonDir in a linked worktree) */
  gitDir: string;
  /** the common git dir: lock, journal and services live here */
  commonDir: string;
  /** the directory rb was started in (for resolving user paths) */
  cwd: string;
  /** true in a linked worktree */
  linked: boolean;
}

export const MIN_GIT = [2, 25] as const;

let versionMemo: [number, number, number] | null = null;

/** The git version when it is known already (asked or read from the cache this run), else null: never starts git. */
export function knownGitVersion(): [number, number, number] | null {
  return versionMemo ?? null;
}

/** How many git binaries git-version.json remembers (a user may switch between a few). */
const VERSION_CACHE_KEYS = 8;

/**
 * The version of the git on PATH. Asked once per machine and git binary, not per run: the answer
 * is kept in the user's cache dir (io/user-cache.ts), rb/git-version.json, keyed by the git
 * executable's path, inode, size and mtime, so a new or upgraded git binary is a new key. Before
 * issue 18 it was kept in the repository's rb dir, so a repository's first runs and every dry run
 * of one rb had never changed (no rb dir) started `git --version`. A cache file another user
 * owns is not read.
 */
export function gitVersion(): [number, number, number] {
  if (versionMemo) return versionMemo;
  const key = gitBinaryKey();
  const file = join(userCacheDir(), 'rb', 'git-version.json');
  let cached: Record<string, unknown> = {};
  if (key) {
    try {
      const mine = process.getuid === undefined || statSync(file).uid === process.getuid();
      const c = mine ? (JSON.parse(readFileSync(file, 'utf8')) as { versions?: Record<string, unknown> }) : null;
      if (c?.versions && typeof c.versions === 'object' && !Array.isArray(c.versions)) cached = c.versions;
      const v = cached[key];
      if (Array.isArray(v) && v.length === 3 && v.every((n) => Number.isInteger(n))) return (versionMemo = v as [number, number, number]);
    } catch { /* no cache yet, or unreadable: ask git */ }
  }
  const r = gitSync(['--version'], { cwd: process.cwd(), hardened: false, readOnly: true });
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(r.stdout);
  versionMemo = m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : [0, 0, 0];
  if (key && m) {
    const versions = Object.fromEntries([...Object.entries(cached).filter(([k]) => k !== key).slice(-(VERSION_CACHE_KEYS - 1)), [key, versionMemo]]);
    // written in place: a torn or interleaved file does not parse, and the next run asks git again
    try {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ versions }) + '\n');
    } catch { /* read-only cache dir: ask again next time */ }
  }
  return versionMemo;
}

/** "path ino size mtime" of the git executable the spawns find on PATH, or null. */
function gitBinaryKey(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'git');
    try {
      const st = statSync(p);
      if (st.isFile() && st.mode & 0o111) return `${p} ${st.ino} ${st.size} ${st.mtimeMs}`;
    } catch { /* not here */ }
  }
  return null;
}

export function findRepo(cwdOpt?: string): Repo {
  const cwd = resolve(cwdOpt ?? process.cwd());
  // one command asks once (the command, then the engine it starts)
  const scope = currentScope();
  const known = scope?.fixed.get(`repo ${cwd}`) as Repo | undefined;
  if (known) return known;
  const repo = locateRepo(cwd);
  scope?.fixed.set(`repo ${cwd}`, repo);
  return repo;
}

function locateRepo(cwd: string): Repo {
  let r;
  try {
    r = gitSync(['rev-parse', '--is-bare-repository', '--show-toplevel', '--absolute-git-dir', '--git-common-dir'], {
      cwd, allowFail: true, readOnly: true, hardened: false,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new PreconditionError(`git was not found, or the directory ${cwd} does not exist.`, { next: 'install git 2.25 or newer, or pass an existing directory with --cwd' });
    throw e;
  }
  if (r.code !== 0 && r.stdout.split('\n')[0] === 'true') {
    throw new PreconditionError(`${cwd} is a bare repository: rb needs a work tree to roll back.`, {
      next: 'run rb inside a clone with a work tree (git clone <this repo> <dir>)',
    });
  }
  if (r.code !== 0) {
    throw new PreconditionError(`${cwd} is not inside a git work tree.`, {
      next: 'cd into your repository (or pass --cwd <dir>) and run the command again',
    });
  }
  const lines = r.stdout.split('\n');
  if (lines[0] === 'true' || lines.length < 4) {
    throw new PreconditionError(`${cwd} is a bare repository: rb needs a work tree to roll back.`, {
      next: 'run rb inside a clone with a work tree (git clone <this repo> <dir>)',
    });
  }
  const root = realpathSync(lines[1]!);
  const gitDir = lines[2]!;
  const common = lines[3]!;
  const commonDir = realpathSync(isAbsolute(common) ? common : join(cwd, common));
  const [maj, min] = gitVersion();
  if (maj < MIN_GIT[0] || (maj === MIN_GIT[0] && min < MIN_GIT[1])) {
    throw new PreconditionError(`git ${maj}.${min} is too old: rb needs git ${MIN_GIT.join('.')} or newer.`, {
      next: 'upgrade git, then run the command again',
    });
  }
  setFileSystemFlags(fileSystemFlags(commonDir));
  return { root, gitDir: realpathSync(gitDir), commonDir, cwd, linked: realpathSync(gitDir) !== commonDir };
}

/**
 * `-c` flags saying what the file system under the git dir is, for every git call rb makes (git
 * probes the same way when it creates a repository: is `config` also reachable as `CONFIG`?).
 * On a file system that tells `A` from `a`, core.ignorecase=false, whatever the repository says:
 * a repository made on macOS or Windows and used on Linux keeps core.ignorecase=true, and git
 * then hides a case-only rename from rb's snapshot (io/git.ts setFileSystemFlags). On a
 * case-insensitive file system the repository's own setting stands. core.precomposeunicode
 * only has an effect on macOS, where git's default (true) is what rb's snapshot expects
 * (docs/safety.md "File systems").
 */
export function fileSystemFlags(commonDir: string): string[] {
  let upper;
  try {
    upper = lstatSync(join(commonDir, 'CONFIG'));
  } catch {
    return ['-c', 'core.ignorecase=false'];
  }
  const lower = lstatSync(join(commonDir, 'config'), { throwIfNoEntry: false });
  const sameFile = !!lower && lower.ino === upper.ino && lower.dev === upper.dev;
  return sameFile ? [] : ['-c', 'core.ignorecase=false'];
}

export function rbDir(repo: Repo): string {
  return join(repo.commonDir, 'rb');
}

export interface GitOperation {
  name: 'merge' | 'rebase' | 'cherry-pick' | 'revert' | 'bisect' | 'am';
  /** how to finish or abandon it */
  hint: string;
}

/**
 * In-progress git operations of this work tree, from the state files git leaves in its git dir.
 * Here, with node built-ins only, because `rb status` asks it too (the engine's preflight and the
 * check import it from here; test/dependencies.test.ts keeps status from loading the engine).
 */
export function gitOperations(repo: Repo): GitOperation[] {
  const has = (f: string) => existsSync(join(repo.gitDir, f));
  const ops: GitOperation[] = [];
  if (has('MERGE_HEAD')) ops.push({ name: 'merge', hint: 'git merge --continue or git merge --abort' });
  if (has('rebase-merge') || (has('rebase-apply') && !has('rebase-apply/applying'))) ops.push({ name: 'rebase', hint: 'git rebase --continue or git rebase --abort' });
  if (has('rebase-apply/applying')) ops.push({ name: 'am', hint: 'git am --continue or git am --abort' });
  if (has('CHERRY_PICK_HEAD')) ops.push({ name: 'cherry-pick', hint: 'git cherry-pick --continue or git cherry-pick --abort' });
  if (has('REVERT_HEAD')) ops.push({ name: 'revert', hint: 'git revert --continue or git revert --abort' });
  if (has('BISECT_LOG')) ops.push({ name: 'bisect', hint: 'git bisect reset' });
  return ops;
}
