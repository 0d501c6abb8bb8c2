/**
 * One lock per repository (safety.md §3): <git-common-dir>/rb/lock, created exclusively,
 * holding pid, host, start time and run id. A lock whose pid is dead on this host is stale:
 * it is reported and taken over. Otherwise the second run exits 4 naming the holder.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, fsyncSync } from 'node:fs';
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
  try {
    return JSON.parse(readFileSync(lockPath(repo), 'utf8')) as LockInfo;
  } catch {
    return null;
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

/** Take the lock or throw LockedError (exit 4). */
export function acquireLock(repo: Pick<Repo, 'commonDir'>, runId: string, command: string): HeldLock {
  const path = lockPath(repo);
  mkdirSync(join(repo.commonDir, 'rb'), { recursive: true });
  const info: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId, command };
  let tookOver: LockInfo | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, JSON.stringify(info, null, 2) + '\n');
      fsyncSync(fd);
      closeSync(fd);
      let released = false;
      return {
        info,
        tookOver,
        release() {
          if (released) return;
          released = true;
          const cur = readLock(repo);
          if (cur && cur.pid === info.pid && cur.runId === info.runId) rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readLock(repo);
      if (holder && !lockIsStale(holder)) {
        throw new LockedError(
          `another rb run holds the lock: run ${holder.runId} (${holder.command}), pid ${holder.pid} on ${holder.host}, since ${holder.startedAt}.`,
          { next: 'wait for it to finish (rb status shows it); if that process is gone from another machine, remove ' + path },
        );
      }
      // stale (dead pid on this host) or unreadable: move it aside atomically, then retry
      tookOver = holder;
      try {
        renameSync(path, `${path}.stale-${process.pid}`);
        rmSync(`${path}.stale-${process.pid}`, { force: true });
      } catch {
        /* someone else took it over first; retry */
      }
    }
  }
  throw new LockedError(`could not take the lock ${path}.`, { next: 'run `rb status`, then try again' });
}
