/**
 * Check 5: the file system holding the repository is used below `check.maxDiskPercent`
 * (default 90; `rb check --max-disk <pct>` overrides it). Usage is computed as `df` does:
 * used / (used + available to unprivileged users), from fs.statfsSync.
 */
import { statfsSync } from 'node:fs';
import type { Repo } from '../repo.js';
import type { CheckResult } from './types.js';

const TITLE = 'Disk usage';

export interface DiskUsage {
  /** percent used, as df reports it (0–100, one decimal) */
  percent: number;
  /** bytes available to unprivileged users */
  free: number;
  /** bytes in the file system */
  total: number;
}

/** Usage of the file system holding `path`, or null when the file system reports no sizes. */
export function diskUsage(path: string): DiskUsage | null {
  const s = statfsSync(path);
  const used = (s.blocks - s.bfree) * s.bsize;
  const avail = s.bavail * s.bsize;
  if (s.blocks <= 0 || used + avail <= 0) return null;
  return { percent: Math.round((used / (used + avail)) * 1000) / 10, free: avail, total: s.blocks * s.bsize };
}

function size(bytes: number): string {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;
}

/**
 * @param maxPercent the limit: usage must be below it
 * @param source where the limit came from, for the message ("check.maxDiskPercent", "--max-disk")
 */
export function checkDisk(repo: Repo, maxPercent: number, source = 'check.maxDiskPercent'): CheckResult {
  let u: DiskUsage | null;
  try {
    u = diskUsage(repo.root);
  } catch (e) {
    return { id: 'disk', title: TITLE, status: 'warn', reason: `could not read the disk usage of ${repo.root}: ${(e as Error).message}` };
  }
  if (!u) return { id: 'disk', title: TITLE, status: 'warn', reason: `the file system of ${repo.root} reports no size; disk usage not checked` };
  const data = { ...u, maxPercent, path: repo.root };
  const what = `${u.percent}% used (${size(u.free)} free) on the file system of ${repo.root}`;
  if (u.percent >= maxPercent) {
    return {
      id: 'disk', title: TITLE, status: 'fail',
      reason: `${what}: not below the limit of ${maxPercent}% (${source})`,
      next: 'free disk space (e.g. `rb snapshots prune`, remove old build output), or raise check.maxDiskPercent in rb.config.yaml',
      data,
    };
  }
  return { id: 'disk', title: TITLE, status: 'pass', reason: `${what}; limit ${maxPercent}%`, data };
}
