/**
 * Throwaway git repositories for integration and scenario tests (architecture.md §6).
 *
 *   import { tmpRepos, gitIn, sh } from './helpers/repo.js';
 *   const repos = tmpRepos();                 // at file top level: registers afterAll cleanup
 *   it('...', () => {
 *     const r = repos.make({ withOrigin: true });
 *     r.write('src/a.ts', 'x\n');
 *     r.git('add', '-A');
 *     r.sh('echo hi > "b c.txt"');
 *   });
 *
 * Every repository lives in os.tmpdir() (rb-test-XXXXXX/work, with origin.git/ next to it), has
 * user.name/email, commit.gpgSign=false, gc.auto=0, core.autocrlf=false, branch main with one
 * commit (README.md) and, with withOrigin, a bare origin with `main` and `baseline` pushed (and a
 * local `baseline` branch at the same commit). `empty: true` gives a repository with no commit
 * (unborn main). Repositories are copies of a template built once per worker, which keeps tests
 * fast; build your own expensive fixture once and hand out copies with copyRepo().
 *
 * Also here: gitIn (argv, throws) / gitRun (argv, exit code) / sh (bash, throws) runners, wrap()
 * for a directory made some other way (a linked worktree, a clone), tmpDir() for scratch space.
 *
 * Importing this module makes git hermetic for the test process: the user's global and system
 * git config are not read (GIT_CONFIG_GLOBAL=/dev/null, GIT_CONFIG_NOSYSTEM=1),
 * so a developer's core.autocrlf or hooks path cannot change test outcomes, and XDG_CACHE_HOME
 * is a temp dir of its own (rb check's kept worktree lives there). Set RB_KEEP_TMP=1 to
 * keep the directories for inspection.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import { findRepo, type Repo } from '../../src/repo.js';

process.env.GIT_CONFIG_GLOBAL = '/dev/null';
process.env.GIT_CONFIG_NOSYSTEM = '1';
// rb check keeps its worktree in the user's cache dir: never the developer's own ~/.cache in tests
process.env.XDG_CACHE_HOME = realpathSync(mkdtempSync(join(tmpdir(), 'rb-test-cache-')));
for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_COMMON_DIR', 'GIT_PREFIX']) delete process.env[k];

const created = new Set<string>([process.env.XDG_CACHE_HOME]);
process.on('exit', () => cleanupRepos());

/** Environment for git and shell commands run by the helpers (scrubbed, C locale, no prompts). */
export function testEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', LANG: 'C', GIT_TERMINAL_PROMPT: '0', GIT_EDITOR: 'true', GIT_MERGE_AUTOEDIT: 'no' };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * Run git with an argv in `cwd`; returns stdout. Throws (with stderr) on a non-zero exit;
 * use gitRun when the exit code is the point.
 */
export function gitIn(cwd: string, ...args: string[]): string {
  const r = gitRun(cwd, args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} (in ${cwd}) exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Run git; never throws on a non-zero exit. */
export function gitRun(cwd: string, args: readonly string[], opts: { env?: Record<string, string | undefined>; input?: string | Buffer } = {}): { code: number; stdout: string; stderr: string; stdoutBuf: Buffer } {
  const r = spawnSync('git', args as string[], { cwd, env: testEnv(opts.env), input: opts.input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  const stdoutBuf = r.stdout ?? Buffer.alloc(0);
  return { code: r.status ?? 128, stdout: stdoutBuf.toString('utf8'), stderr: (r.stderr ?? Buffer.alloc(0)).toString('utf8'), stdoutBuf };
}

/** Run a bash command line in `cwd` (tests only: rb itself never uses a shell for git). Returns stdout; throws on failure. */
export function sh(cwd: string, cmd: string, env: Record<string, string | undefined> = {}): string {
  const r = spawnSync('bash', ['-c', `set -euo pipefail\n${cmd}`], { cwd, env: testEnv(env), maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`sh failed (${r.status}) in ${cwd}: ${cmd}\n${r.stderr?.toString()}${r.stdout?.toString()}`);
  return r.stdout.toString();
}

export interface MakeRepoOptions {
  /** add a bare origin with main and baseline pushed, and a local baseline branch (default false) */
  withOrigin?: boolean;
  /** no commits at all: HEAD is the unborn branch main (withOrigin is ignored) */
  empty?: boolean;
}

/** A throwaway repository. */
export interface TestRepo {
  /** real path of the worktree */
  root: string;
  /** real path of the bare origin, or null */
  origin: string | null;
  /** the parent temp directory (holds work/ and origin.git/) */
  dir: string;
  /** git in root; returns stdout, throws on failure */
  git(...args: string[]): string;
  /** bash in root; returns stdout, throws on failure */
  sh(cmd: string): string;
  /** write a file relative to root (parents created); mode applied exactly when given */
  write(rel: string, content: string | Buffer, mode?: number): void;
  /** create a symlink at rel pointing at target (parents created) */
  symlink(rel: string, target: string): void;
  /** mkdir -p relative to root */
  mkdir(rel: string): void;
  /** rb's view of the repository (findRepo) */
  repo(): Repo;
}

const templates = new Map<string, string>();

function buildTemplate(kind: 'plain' | 'origin' | 'empty'): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'rb-test-tpl-')));
  created.add(dir);
  const work = join(dir, 'work');
  mkdirSync(work);
  gitIn(work, 'init', '-q', '-b', 'main');
  for (const [k, v] of [
    ['user.name', 'rb test'], ['user.email', 'rb-test@example.invalid'], ['commit.gpgSign', 'false'], ['tag.gpgSign', 'false'],
    ['gc.auto', '0'], ['maintenance.auto', 'false'], ['init.defaultBranch', 'main'], ['core.autocrlf', 'false'],
    ['advice.detachedHead', 'false'], ['merge.conflictStyle', 'merge'],
  ] as const) gitIn(work, 'config', k, v);
  if (kind === 'empty') return dir;
  writeFileSync(join(work, 'README.md'), '# test repository\n');
  gitIn(work, 'add', 'README.md');
  gitIn(work, 'commit', '-q', '-m', 'initial commit');
  if (kind === 'origin') {
    const origin = join(dir, 'origin.git');
    gitIn(dir, 'init', '-q', '--bare', '-b', 'main', origin);
    gitIn(work, 'remote', 'add', 'origin', origin);
    gitIn(work, 'branch', 'baseline');
    gitIn(work, 'push', '-q', '-u', 'origin', 'main', 'baseline');
  }
  return dir;
}

/**
 * Create a repository (see the module comment). Registered for cleanup: call tmpRepos() at the
 * top level of the test file so an afterAll removes it (a process exit hook is the backstop).
 */
export function makeRepo(opts: MakeRepoOptions = {}): TestRepo {
  const key = opts.empty ? 'empty' : opts.withOrigin ? 'origin' : 'plain';
  let tpl = templates.get(key);
  if (!tpl) {
    tpl = buildTemplate(key);
    templates.set(key, tpl);
  }
  return copyDir(tpl, key === 'origin');
}

/**
 * A fresh copy of an existing test repository (its worktree, .git and origin): build an
 * expensive fixture once, then give every test its own copy.
 */
export function copyRepo(src: TestRepo): TestRepo {
  return copyDir(src.dir, src.origin !== null);
}

function copyDir(srcDir: string, withOrigin: boolean): TestRepo {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'rb-test-')));
  created.add(dir);
  cpSync(srcDir, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  const root = join(dir, 'work');
  const origin = withOrigin ? join(dir, 'origin.git') : null;
  if (origin) gitIn(root, 'remote', 'set-url', 'origin', origin);
  if (gitRun(root, ['rev-parse', '-q', '--verify', 'HEAD']).code === 0) gitRun(root, ['update-index', '-q', '--refresh']);
  return wrap(root, origin, dir);
}

/** Wrap an existing directory as a TestRepo (e.g. a linked worktree or a clone made in a test). */
export function wrap(root: string, origin: string | null = null, dir: string = dirname(root)): TestRepo {
  return {
    root, origin, dir,
    git: (...args) => gitIn(root, ...args),
    sh: (cmd) => sh(root, cmd),
    write(rel, content, mode) {
      const p = join(root, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      if (mode !== undefined) chmodSync(p, mode);
    },
    symlink(rel, target) {
      const p = join(root, rel);
      mkdirSync(dirname(p), { recursive: true });
      symlinkSync(target, p);
    },
    mkdir(rel) {
      mkdirSync(join(root, rel), { recursive: true });
    },
    repo: () => findRepo(root),
  };
}

/** Make a fresh directory under the test temp area (removed with the repositories). */
export function tmpDir(prefix = 'rb-test-'): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  created.add(d);
  return d;
}

/** Remove every directory the helpers created (unless RB_KEEP_TMP=1). */
export function cleanupRepos(): void {
  if (process.env.RB_KEEP_TMP) return;
  for (const d of created) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch { /* best effort */ }
    created.delete(d);
  }
  templates.clear();
}

/**
 * The per-file tracker: call once at the top level of a test file. Registers afterAll cleanup
 * and returns `make` (= makeRepo) plus the list of directories created so far.
 */
export function tmpRepos(): { make: (opts?: MakeRepoOptions) => TestRepo; dirs: () => string[]; cleanup: () => void } {
  // many copies (the crash sweep makes hundreds) take a while to remove on a busy machine
  afterAll(() => cleanupRepos(), 300_000);
  return { make: makeRepo, dirs: () => [...created], cleanup: cleanupRepos };
}
