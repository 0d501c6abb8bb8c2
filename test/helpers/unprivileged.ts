/**
 * rb run as a normal user (issue 22). CI and most test machines run as root, who may delete,
 * write and read anything: none of the permission problems a developer meets on a laptop exist
 * there. So, when the suite runs as root, it makes (once) an unprivileged user, `rb-test-user`
 * (useradd), and runs the built rb as that user (setpriv, or runuser); the throwaway
 * repositories are handed to that user (chown -R) after git has built them, and root then adds
 * the entries the user cannot touch (a root-owned build/ as `docker run -v $PWD:/app` leaves).
 * Manifests are taken as root (git's safe.directory is set for this test process only).
 *
 * When the suite does not run as root, rb runs as the current user: scenarios that need an entry
 * owned by someone else are skipped with a visible reason, the others (read-only directories,
 * unreadable files) still run.
 *
 *   const u = normalUser();                       // at file top level
 *   it('…', async (ctx) => {
 *     if (!u.user) ctx.skip(u.reason);
 *     const r = giveTo(copyRepo(fixture), u.user); // the user's repository
 *     asRoot.writeOwned(r, 'build/cache/x', 'r');    // root-owned entry (needs u.root)
 *     const res = await rbAs(u.user, r.root, ['emergency', '--yes']);
 *   });
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RB, type RbResult } from './cli.js';
import type { TestRepo } from './repo.js';

export const TEST_USER = 'rb-test-user';

export interface NormalUser {
  name: string;
  uid: number;
  gid: number;
}

export interface Unprivileged {
  /** the user rb runs as, or null (then `reason` says why every scenario is skipped) */
  user: NormalUser | null;
  /** the suite runs as root: it can make entries owned by someone else (root) */
  root: boolean;
  reason: string;
}

function idOf(name: string): NormalUser | null {
  const u = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (u.status !== 0 || g.status !== 0) return null;
  return { name, uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

let found: Unprivileged | null = null;

/** The normal user the scenarios run rb as (made when missing and the suite runs as root). */
export function normalUser(): Unprivileged {
  if (found) return found;
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    const name = spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim() || String(uid);
    found = { user: { name, uid, gid: process.getgid?.() ?? uid }, root: false, reason: 'the suite does not run as root: it cannot make entries owned by another user' };
    return found;
  }
  let user = idOf(TEST_USER);
  if (!user) {
    const made = spawnSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', TEST_USER], { encoding: 'utf8' });
    user = idOf(TEST_USER); // (another test process may have made it meanwhile)
    if (!user) {
      found = { user: null, root: true, reason: `cannot make the unprivileged user ${TEST_USER}: useradd ${made.error ? `is not available (${made.error.message})` : `exited ${made.status}: ${made.stderr.trim()}`}` };
      return found;
    }
  }
  const tool = ['setpriv', 'runuser'].find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
  if (!tool) {
    found = { user: null, root: true, reason: 'neither setpriv nor runuser is available to run rb as an unprivileged user' };
    return found;
  }
  found = { user, root: true, reason: '' };
  // root reads the user's repositories (manifests): git's ownership check would refuse them
  process.env.GIT_CONFIG_COUNT = '1';
  process.env.GIT_CONFIG_KEY_0 = 'safe.directory';
  process.env.GIT_CONFIG_VALUE_0 = '*';
  return found;
}

/** Hand a test repository (its folder, with the origin) to the user; git must not be run as root in it afterwards, except read-only. */
export function giveTo(r: TestRepo, user: NormalUser): TestRepo {
  if (process.getuid?.() === 0) {
    const walk = (p: string) => {
      chownSync(p, user.uid, user.gid);
      if (lstatSync(p).isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    };
    walk(r.dir);
  }
  return r;
}

/** As root: write a file owned by root (its missing parents too, root-owned, 0755) — what a container run as root leaves. */
export function writeRootOwned(r: TestRepo, rel: string, content: string, mode = 0o644): void {
  const abs = join(r.root, rel);
  const parts = rel.split('/');
  let cur = r.root;
  for (const part of parts.slice(0, -1)) {
    cur = join(cur, part);
    try {
      lstatSync(cur);
    } catch {
      mkdirSync(cur, { mode: 0o755 });
      chownSync(cur, 0, 0);
    }
  }
  writeFileSync(abs, content);
  chownSync(abs, 0, 0);
  chmodSync(abs, mode);
}

/** chown -R to root (a directory the user made, taken over by a container). */
export function chownRoot(r: TestRepo, rel: string): void {
  spawnSync('chown', ['-R', '0:0', join(r.root, rel)]);
}

/** Give back to the user (the fix rb suggests: sudo chown -R "$USER" <path>). */
export function chownUser(r: TestRepo, rel: string, user: NormalUser): void {
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, join(r.root, rel)]);
}

/** Paths (relative) whose owner is not `user`, with their owner uid: what must survive a run untouched. */
export function foreignOwned(r: TestRepo, user: NormalUser): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of readdirSync(rel ? join(r.root, rel) : r.root)) {
      if (!rel && n === '.git') continue;
      const p = rel ? `${rel}/${n}` : n;
      const st = lstatSync(join(r.root, p));
      if (st.uid !== user.uid) out.push(`${p} uid=${st.uid} mode=${(st.mode & 0o7777).toString(8)}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk('');
  return out.sort();
}

/** Run the built rb as `user` in `cwd` (stdin closed), its HOME a folder the user owns. */
export function rbAs(user: NormalUser, cwd: string, args: string[], home: string): Promise<RbResult> {
  return runAs(user, cwd, [process.execPath, RB, ...args], home, { NO_COLOR: '1', FORCE_COLOR: '0' });
}

/** Run a program as `user` in `cwd` (stdin closed), its HOME a folder the user owns. */
export function runAs(user: NormalUser, cwd: string, command: string[], home: string, extraEnv: Record<string, string> = {}): Promise<RbResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extraEnv, HOME: home, USER: user.name, LOGNAME: user.name };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0']) delete env[k];
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = !asRoot
    ? [command[0]!, command.slice(1)]
    : spawnSync('sh', ['-c', 'command -v setpriv']).status === 0
      ? ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', ...command]]
      : ['runuser', ['-u', user.name, '--', ...command]];
  const child = spawn(cmd, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}
