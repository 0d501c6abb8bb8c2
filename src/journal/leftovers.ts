/**
 * What a killed rb leaves behind (kill -9, power loss, OOM) and how the next run removes it
 * (safety.md §3: temporary directories under the git dir are swept on start).
 *
 * Every temporary directory rb makes in the git dir is named `<kind>.<pid>.XXXXXX` (tempDirPrefix),
 * and the temporary files of the lock and of atomic writes in `<common dir>/rb/` carry the pid
 * too, so a later process can tell the leftovers of a dead process from the work of a live one:
 *   <git dir>/rb-snap.<pid>.XXXXXX, rb-restore.*, rb-commit.*, rb-stash.*   temp indexes, blobs
 *   <common dir>/rb/{,check-worktree.}lock.<pid>.tmp, …lock.stale-<pid>     the locks' own temp files
 *   <common dir>/rb/{,runs/}.<name>.<pid>.<ms>.tmp                          atomic writes (io/fs.ts)
 * An entry is a leftover when its pid is not alive on this machine. Directories of older rb
 * versions (`rb-snap.XXXXXX`, no pid) count as leftovers once they are an hour old: no snapshot
 * or restore takes that long.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Repo } from '../repo.js';
import { effectiveStatus, pidAlive, readRun, writeRun } from './journal.js';
import type { HeldLock } from './lock.js';

export type TempDirKind = 'rb-snap' | 'rb-restore' | 'rb-commit' | 'rb-stash';

/** The mkdtemp prefix of a temporary directory of this process in `gitDir`. */
export function tempDirPrefix(gitDir: string, kind: TempDirKind): string {
  return join(gitDir, `${kind}.${process.pid}.`);
}

const TEMP_DIR = /^rb-(?:snap|restore|commit|stash)\.(?:(\d+)\.)?[A-Za-z0-9]{6}$/;
const RB_DIR_FILE = /^(?:(?:check-worktree\.)?lock\.(\d+)\.tmp|(?:check-worktree\.)?lock\.stale-(\d+)|\..+\.(\d+)\.\d+\.tmp)$/;
const LEGACY_AGE_MS = 3600_000;

export interface Leftover {
  path: string;
  /** the process that made it, or null for a directory of an older rb without a pid in its name */
  pid: number | null;
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isLeftover(path: string, pid: number | null, now: number): boolean {
  if (pid !== null) return pid !== process.pid && !pidAlive(pid);
  try {
    return now - lstatSync(path).mtimeMs > LEGACY_AGE_MS;
  } catch {
    return false;
  }
}

/** The leftovers of dead rb processes in this repository (read-only). */
export function findLeftovers(repo: Pick<Repo, 'gitDir' | 'commonDir'>, now = Date.now()): Leftover[] {
  const out: Leftover[] = [];
  for (const name of entries(repo.gitDir)) {
    const m = TEMP_DIR.exec(name);
    if (!m) continue;
    const pid = m[1] ? Number(m[1]) : null;
    const path = join(repo.gitDir, name);
    if (isLeftover(path, pid, now)) out.push({ path, pid });
  }
  const rbDir = join(repo.commonDir, 'rb');
  for (const dir of [rbDir, join(rbDir, 'runs')]) {
    for (const name of entries(dir)) {
      const m = RB_DIR_FILE.exec(name);
      if (!m) continue;
      const pid = Number(m[1] ?? m[2] ?? m[3]);
      const path = join(dir, name);
      if (isLeftover(path, pid, now)) out.push({ path, pid });
    }
  }
  return out;
}

/** Remove the leftovers of dead rb processes; returns what was removed. */
export function sweepLeftovers(repo: Pick<Repo, 'gitDir' | 'commonDir'>): Leftover[] {
  const removed: Leftover[] = [];
  for (const l of findLeftovers(repo)) {
    try {
      rmSync(l.path, { recursive: true, force: true });
      removed.push(l);
    } catch { /* still there: the next run tries again */ }
  }
  return removed;
}

/** One line for messages: "2 temporary directories and 1 temporary file left by rb processes that are gone (pid 123, 456)". */
export function describeLeftovers(list: readonly Leftover[]): string {
  const dirs = list.filter((l) => TEMP_DIR.test(l.path.slice(l.path.lastIndexOf('/') + 1))).length;
  const files = list.length - dirs;
  const parts = [
    dirs ? `${dirs} temporary director${dirs === 1 ? 'y' : 'ies'}` : '',
    files ? `${files} temporary file${files === 1 ? '' : 's'}` : '',
  ].filter(Boolean);
  const pids = [...new Set(list.map((l) => l.pid).filter((p): p is number => p !== null))];
  return `${parts.join(' and ')} left by rb processes that are gone${pids.length ? ` (pid ${pids.join(', ')})` : ''}`;
}

/**
 * Once the lock is held: what a killed rb left (safety.md §3). A stale lock taken over is
 * reported, and its run closed as `interrupted` when its journal still says `running` and it
 * changed nothing (a run that did change something is refused earlier: resume or abort it);
 * temporary files and directories of dead rb processes are removed. Returns the warnings.
 */
export function cleanUpAfterDeadRuns(repo: Pick<Repo, 'gitDir' | 'commonDir'>, lock: Pick<HeldLock, 'tookOver'>, runId: string): string[] {
  const warnings: string[] = [];
  const stale = lock.tookOver;
  if (stale) {
    warnings.push(`took over a stale lock of run ${stale.runId} (pid ${stale.pid} on ${stale.host} is gone)`);
    const dead = stale.runId !== runId ? readRun(repo, stale.runId) : null;
    if (dead && dead.status === 'running' && effectiveStatus(dead) === 'interrupted' && !dead.changed) {
      dead.status = 'interrupted';
      dead.endedAt = new Date().toISOString();
      dead.warnings = [...(dead.warnings ?? []), `its process (pid ${dead.pid}) was gone; closed by run ${runId}, nothing had been changed`];
      // a power cut that loses this leaves it `running` and dead: closed the same way next time
      writeRun(repo, dead, 'whole');
    }
  }
  const swept = sweepLeftovers(repo);
  if (swept.length) warnings.push(`removed ${describeLeftovers(swept)}`);
  return warnings;
}
