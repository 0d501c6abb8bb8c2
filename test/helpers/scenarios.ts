/**
 * Fixtures and runners for the scenario suites (test/levels.test.ts, test/undo-faults.test.ts):
 * repositories with a remote in the states the three levels are run on, built once per worker
 * and copied per test (copyRepo), plus an async `rb` runner so cases can run concurrently.
 *
 *   const base = baseRepo();            // main = baseline = "project" commit, pushed to origin
 *   const r = copyRepo(emergencyRepo()); // a feature branch with every kind of local change
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { copyRepo, makeRepo, type TestRepo } from './repo.js';
import { rbSpawn, type RbResult } from './cli.js';

/** Run the built rb without blocking the worker (so it.concurrent cases overlap). */
export function rbAsync(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<RbResult> {
  return rbSpawn(cwd, args, env).done;
}

/** Everything rb printed, for messages and "contains" checks. */
export const outOf = (r: RbResult): string => `${r.stdout}\n${r.stderr}`;

/** Fail with everything rb printed unless it exited with `code` (`what` names the case). */
export function expectCode(res: RbResult, code: number, what = ''): void {
  if (res.code !== code) throw new Error(`${what ? `${what}: ` : ''}expected exit ${code}, got ${res.code} (signal ${res.signal})\n--- stdout\n${res.stdout}\n--- stderr\n${res.stderr}`);
}

export const GITIGNORE = '.env\n.env.*\nbuild/\nnode_modules/\ninstalled.txt\n';

const cache = new Map<string, TestRepo>();
function once(key: string, build: () => TestRepo): TestRepo {
  let r = cache.get(key);
  if (!r) {
    r = build();
    cache.set(key, r);
  }
  return r;
}

/** Point `baseline` (local and on origin) at main's HEAD. */
export function moveBaselineHere(r: TestRepo): void {
  r.git('branch', '-f', 'baseline', 'HEAD');
  r.git('push', '-q', '-f', 'origin', 'HEAD:refs/heads/main', 'baseline');
}

/** main = baseline = a small project (.gitignore, src/a.ts, src/b.ts, src/c.ts), pushed to origin. */
export function baseRepo(): TestRepo {
  return once('base', () => {
    const r = makeRepo({ withOrigin: true });
    r.write('.gitignore', GITIGNORE);
    r.write('src/a.ts', 'export const a = 1;\n');
    r.write('src/b.ts', 'export const b = 1;\n');
    r.write('src/c.ts', 'export const c = 1;\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'project');
    moveBaselineHere(r);
    return r;
  });
}

/**
 * For emergency: on branch `feature` (two commits past the baseline) with a staged change and a
 * different unstaged change on top of it, an unstaged change, a staged deletion, untracked notes
 * and an untracked executable, an ignored `.env` (0600), an ignored build dir and an empty dir.
 */
export function emergencyRepo(): TestRepo {
  return once('emergency', () => {
    const r = copyRepo(baseRepo());
    r.git('switch', '-q', '-c', 'feature');
    r.write('src/a.ts', 'export const a = 2;\n');
    r.git('commit', '-q', '-am', 'feature: a = 2');
    r.write('src/d.ts', 'export const d = 1;\n');
    r.git('add', 'src/d.ts');
    r.git('commit', '-q', '-m', 'feature: add d');
    r.write('src/b.ts', 'export const b = 2; // staged\n');
    r.git('add', 'src/b.ts');
    r.write('src/b.ts', 'export const b = 3; // unstaged on top of the staged change\n');
    r.write('src/a.ts', 'export const a = 3; // unstaged\n');
    r.git('rm', '-q', 'src/c.ts');
    r.write('notes/todo.md', '- fix the login page\n');
    r.write('scratch with space.txt', 'draft\n');
    r.write('bin/tool.sh', '#!/bin/sh\necho tool\n', 0o755);
    r.write('.env', 'API_KEY=hunter2\n', 0o600);
    r.write('build/out.js', 'compiled();\n');
    r.mkdir('tmp/empty');
    return r;
  });
}

/**
 * For sprint: baseline has package.json (`node --test test/`) and a passing test; branch
 * `feature/auth` adds two commits with a failing test (1 failed, 2 passed), plus uncommitted
 * work: an unstaged change, a staged new file, an untracked note and an ignored `.env`.
 */
export function sprintRepo(): TestRepo {
  return once('sprint', () => {
    const r = copyRepo(baseRepo());
    r.write('package.json', JSON.stringify({ name: 'app', private: true, scripts: { test: 'node --test test/' } }, null, 2) + '\n');
    r.write('test/ok.test.js', "const test = require('node:test');\nconst assert = require('node:assert');\ntest('adds', () => assert.equal(1 + 1, 2));\n");
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'tests');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature/auth');
    r.write('src/auth.ts', 'export const login = () => false;\n');
    r.write(
      'test/auth.test.js',
      "const test = require('node:test');\nconst assert = require('node:assert');\n" +
        "test('login works', () => assert.equal('denied', 'granted'));\ntest('logout works', () => {});\n",
    );
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'auth: new login');
    r.write('src/a.ts', 'export const a = 42;\n');
    r.git('commit', '-q', '-am', 'auth: tweak a');
    r.write('src/a.ts', 'export const a = 43; // uncommitted\n');
    r.write('src/staged.ts', 'export const staged = true;\n');
    r.git('add', 'src/staged.ts');
    r.write('notes.md', 'what went wrong\n');
    r.write('.env', 'API_KEY=hunter2\n', 0o600);
    return r;
  });
}

/** Oid of a rev, or '' when it does not resolve. */
export function oid(r: TestRepo, rev: string): string {
  try {
    return r.git('rev-parse', '-q', '--verify', '--end-of-options', rev).trim();
  } catch {
    return '';
  }
}

/** Every ref (branches, tags, remotes, stash, rb's snapshots) with its oid. */
export function allRefs(r: TestRepo, ...prefixes: string[]): string {
  return r.git('for-each-ref', '--format=%(refname) %(objectname)', ...prefixes);
}

export function gitDirOf(r: TestRepo): string {
  return r.git('rev-parse', '--absolute-git-dir').trim();
}

/** Journals of rb's runs in this repository, newest first. */
export function runsOf(r: TestRepo): { id: string; status: string; playbook: string; snapshot: string | null; changed: boolean; undoOf?: string }[] {
  const dir = join(gitDirOf(r), 'rb', 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
}

/** Pids of git processes working in this directory (rb starts git in its own process group: it outlives a killed rb). */
function gitProcessesIn(root: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/cwd`) !== root) continue;
      const argv0 = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0] ?? '';
      if (/(^|\/)git(-[a-z-]+)?$/.test(argv0)) out.push(Number(p));
    } catch {
      /* gone, or not ours */
    }
  }
  return out;
}

/**
 * Wait (bounded) until no git process is left working in the repository and git's index.lock is
 * gone: after rb is killed, the git command it had started finishes on its own.
 */
export async function waitGitIdle(r: TestRepo, timeoutMs = 15_000): Promise<void> {
  const lock = join(gitDirOf(r), 'index.lock');
  const start = Date.now();
  for (;;) {
    const busy = gitProcessesIn(r.root);
    if (!busy.length && !existsSync(lock)) return;
    if (Date.now() - start > timeoutMs) throw new Error(`git still busy in ${r.root} after ${timeoutMs} ms (pids ${busy.join(', ') || 'none'}; index.lock ${existsSync(lock) ? 'present' : 'absent'})`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** rb's temporary files and directories in the git dir and in <git dir>/rb (none may outlive the recovery). */
export function rbTempEntries(r: TestRepo): string[] {
  const gd = gitDirOf(r);
  const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  return [
    ...list(gd).filter((n) => /^rb-(snap|restore|commit|stash)\./.test(n)),
    ...list(join(gd, 'rb')).filter((n) => /\.tmp$|^lock\.stale-/.test(n)).map((n) => `rb/${n}`),
    ...list(join(gd, 'rb', 'runs')).filter((n) => n.endsWith('.tmp')).map((n) => `rb/runs/${n}`),
  ];
}
