/**
 * Check 2: nothing is half-done. No git operation (merge, rebase, cherry-pick, revert, bisect,
 * am) in progress in this work tree, no rb run holding the lock, and no rb run that stopped
 * part-way after changing something (it must be resumed or aborted first). A stale lock (its
 * process is gone) is a warning: the next rb run takes it over.
 */
import { effectiveStatus, listRuns, needsResolution } from '../journal/journal.js';
import { lockIsStale, readLock } from '../journal/lock.js';
import { gitOperations, type Repo } from '../repo.js';
import type { CheckResult } from './types.js';

const TITLE = 'Nothing in progress';

export function checkNothingInProgress(repo: Repo): CheckResult {
  const problems: string[] = [];
  const next: string[] = [];
  const warnings: string[] = [];

  const ops = gitOperations(repo);
  for (const o of ops) {
    problems.push(`a git ${o.name} is in progress`);
    next.push(o.hint);
  }

  const lock = readLock(repo);
  const live = lock && !lockIsStale(lock) ? lock : null;
  if (live) {
    problems.push(`rb run ${live.runId} (${live.command}) holds the lock (pid ${live.pid} on ${live.host}, since ${live.startedAt})`);
    next.push('wait for it to finish (`rb status` shows it)');
  } else if (lock) {
    warnings.push(`a stale lock of run ${lock.runId} (pid ${lock.pid} is gone); the next rb run takes it over`);
  }

  const runs = listRuns(repo);
  for (const r of runs) {
    if (live && r.id === live.runId) continue;
    if (effectiveStatus(r) === 'running' && !r.dryRun) {
      problems.push(`rb run ${r.id} (${r.playbook}) is running (pid ${r.pid} on ${r.host})`);
      next.push('wait for it to finish (`rb status` shows it)');
    } else if (needsResolution(r)) {
      problems.push(`rb run ${r.id} (${r.playbook}) is ${effectiveStatus(r)} part-way`);
      next.push(`\`rb resume ${r.id}\` to finish it, or \`rb abort ${r.id}\` to put everything back`);
    }
  }

  const data = { gitOperations: ops.map((o) => o.name), lock: lock ? { ...lock, stale: lockIsStale(lock) } : null };
  if (problems.length) {
    return { id: 'in-progress', title: TITLE, status: 'fail', reason: `${problems.join('; ')}.`, next: [...new Set(next)].join('; '), details: warnings.length ? warnings : undefined, data };
  }
  if (warnings.length) return { id: 'in-progress', title: TITLE, status: 'warn', reason: warnings.join('; '), next: '`rb status` shows it', data };
  return { id: 'in-progress', title: TITLE, status: 'pass', reason: 'no git operation, and no rb run in progress or interrupted', data };
}
