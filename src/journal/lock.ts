/**
 * One lock per repository (safety.md §3): <git-common-dir>/rb/lock, created exclusively,
 * holding pid, host, start time and run id. A lock whose pid is dead on this host is stale:
 * it is reported and taken over. Otherwise the second run exits 4 naming the holder.
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { flushFile } from '../io/fs.js';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockedError } from '../errors.js';
import type { Repo } from '../repo.js';
import { pidAlive } from './journal.js';

export interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  runId: string;
  command: string;
}

export function lockPath(repo: Pick<Repo, 'commonDir'>): string {
  return join(repo.commonDir, 'rb', 'lock');
}

export function readLock(repo: Pick<Repo, 'commonDir'>): LockInfo | null {
  return readLockFile(lockPath(repo));
}

function readLockFile(path: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

function sameLock(a: LockInfo | null, b: LockInfo | null): boolean {
  if (!a || !b) return a === b;
  return a.pid === b.pid && a.host === b.host && a.runId === b.runId && a.startedAt === b.startedAt;
}

/**
 * Create the lock file exclusively, with its content in place from the first instant: the
 * content goes to a temp file that is then hard-linked to the lock path (link fails with EEXIST
 * when the lock exists). With open('wx') + write, a concurrent run could read the lock while it
 * is still empty, take it for an unreadable stale lock and move it aside: two runs at once.
 * File systems without hard links fall back to open('wx').
 */
function createLockFile(path: string, content: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, content);
    flushFile(fd, 'lock');
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw e;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
  const fd2 = openSync(path, 'wx', 0o644);
  try {
    writeSync(fd2, content);
    flushFile(fd2, 'lock');
  } finally {
    closeSync(fd2);
  }
}

export function lockIsStale(l: LockInfo): boolean {
  return l.host === hostname() && !pidAlive(l.pid);
}

export interface HeldLock {
  info: LockInfo;
  /** a stale lock that was taken over, if any */
  tookOver: LockInfo | null;
  release(): void;
}

/**
 * Take the lock file at `path` (any of rb's locks: the run lock, the kept check worktree's).
 * Returns the held lock, or the live holder when another process has it. A stale holder (dead
 * pid on this host) or an unreadable file is moved aside atomically and taken over.
 */
export function takeLockFile(path: string, info: LockInfo): { held: HeldLock } | { holder: LockInfo } {
  let tookOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      createLockFile(path, JSON.stringify(info, null, 2) + '\n');
      let released = false;
      return {
        held: {
          info,
          tookOver,
          release() {
            if (released) return;
            released = true;
            const cur = readLockFile(path);
            if (cur && cur.pid === info.pid && cur.runId === info.runId) rmSync(path, { force: true });
          },
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readLockFile(path);
      if (holder && !lockIsStale(holder)) return { holder };
      // stale (dead pid on this host) or unreadable: move it aside atomically, then retry
      tookOver = holder;
      const aside = `${path}.stale-${process.pid}`;
      try {
        renameSync(path, aside);
      } catch {
        continue; // someone else took it over first; retry
      }
      // Another process may have taken the stale lock over between our read and our rename: then
      // what we moved aside is its live lock. Put it back (never over a newer one) and retry.
      const moved = readLockFile(aside);
      if (!sameLock(moved, holder)) {
        try {
          linkSync(aside, path);
        } catch {
          /* a newer lock is in place already */
        }
      }
      rmSync(aside, { force: true });
    }
  }
  throw new LockedError(`could not take the lock ${path}.`, { next: 'run `rb status`, then try again' });
}

/** Take the lock or throw LockedError (exit 4). */
export function acquireLock(repo: Pick<Repo, 'commonDir'>, runId: string, command: string): HeldLock {
  const path = lockPath(repo);
  mkdirSync(join(repo.commonDir, 'rb'), { recursive: true });
  const r = takeLockFile(path, { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId, command });
  if ('held' in r) return r.held;
  const holder = r.holder;
  throw new LockedError(
    `another rb run holds the lock: run ${holder.runId} (${holder.command}), pid ${holder.pid} on ${holder.host}, since ${holder.startedAt}.`,
    { next: 'wait for it to finish (rb status shows it); if that process is gone from another machine, remove ' + path },
  );
}
