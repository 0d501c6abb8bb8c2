/**
 * `rb status`: what is in progress, locked, interrupted or undoable, and what to run next.
 * Must start fast: journal and lock files only, plus one git call; no listr2, execa or zod.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRepo } from '../repo.js';
import { effectiveStatus, listRuns, needsResolution } from '../journal/journal.js';
import { lockIsStale, readLock } from '../journal/lock.js';
import { describeLeftovers, findLeftovers } from '../journal/leftovers.js';
import { gitOperations } from '../engine/preflight.js';
import { ago, print, printJson } from '../ui/format.js';
import { summary } from './history.js';

/** undo.windowHours without loading the validating config loader (yaml only, when the file exists). */
async function undoWindowHours(root: string): Promise<number> {
  const f = join(root, 'rb.config.yaml');
  if (!existsSync(f)) return 24;
  try {
    const text = readFileSync(f, 'utf8');
    // the YAML parser costs ~20 ms to load: a file that never names the key (an escape in a
    // quoted key could spell it otherwise) keeps the default without it
    if (!text.includes('windowHours') && !text.includes('\\')) return 24;
    const { parse } = await import('yaml');
    const v = (parse(text) as { undo?: { windowHours?: unknown } } | null)?.undo?.windowHours;
    return typeof v === 'number' && v > 0 ? v : 24;
  } catch {
    return 24;
  }
}

export async function statusCommand(opts: { json?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const runs = listRuns(repo);
  const lock = readLock(repo);
  const ops = gitOperations(repo);
  const unresolved = runs.filter(needsResolution);
  const windowHours = await undoWindowHours(repo.root);
  const now = Date.now();
  const undoable = runs.filter(
    (r) => effectiveStatus(r) === 'succeeded' && r.snapshot && !r.undoneBy && now - Date.parse(r.endedAt ?? r.startedAt) < windowHours * 3600_000,
  );
  const running = runs.filter((r) => effectiveStatus(r) === 'running');
  // killed before any step changed the repository: nothing to put back, only the journal to close
  const stopped = runs.filter((r) => r.status === 'running' && effectiveStatus(r) === 'interrupted' && !needsResolution(r));
  const next: string[] = [];
  for (const r of unresolved) next.push(`rb resume ${r.id}   (finish it)   or   rb abort ${r.id}   (put everything back)`);
  if (lock && lockIsStale(lock)) {
    // while a run must be resumed or aborted, only rb resume / rb abort can start (and take the lock over)
    const taker = unresolved.length ? `rb resume or rb abort of run ${unresolved[0]!.id}` : 'the next rb run';
    next.push(`the lock of run ${lock.runId} is stale (pid ${lock.pid} is gone); ${taker} takes it over`);
  }
  const leftovers = findLeftovers(repo);
  if (leftovers.length) next.push(`${describeLeftovers(leftovers)}: the next rb run removes them`);
  for (const o of ops) next.push(`a git ${o.name} is in progress: ${o.hint}`);
  if (!next.length && undoable[0]) next.push(`rb undo ${undoable[0].id}   (undo the latest run)`);

  if (opts.json) {
    printJson({
      root: repo.root,
      lock: lock ? { ...lock, stale: lockIsStale(lock) } : null,
      running: running.map(summary),
      unresolved: unresolved.map(summary),
      stopped: stopped.map(summary),
      gitOperations: ops.map((o) => o.name),
      leftovers: leftovers.map((l) => l.path),
      undoable: undoable.map(summary),
      undoWindowHours: windowHours,
      next,
    });
    return 0;
  }
  const out: string[] = [`Repository: ${repo.root}`];
  if (lock) out.push(`Lock: held by run ${lock.runId} (${lock.command}), pid ${lock.pid} on ${lock.host}, since ${ago(lock.startedAt)}${lockIsStale(lock) ? ' — STALE: that process is gone' : ''}`);
  else out.push('Lock: free');
  for (const r of running) out.push(`Running: ${r.id} (${r.playbook}), started ${ago(r.startedAt)}, step ${r.steps.find((s) => s.status === 'running')?.id ?? '?'}`);
  for (const r of unresolved) {
    const st = r.steps.find((s) => s.status === 'running' || s.status === 'failed');
    out.push(`${effectiveStatus(r) === 'interrupted' ? 'Interrupted' : 'Failed'}: ${r.id} (${r.playbook}) at step ${st?.id ?? '?'}, ${ago(r.startedAt)}; snapshot ${r.snapshot ?? '(none taken yet)'}`);
  }
  for (const r of stopped) out.push(`Stopped: ${r.id} (${r.playbook}) was killed ${ago(r.startedAt)} before it changed anything; nothing to put back (\`rb abort ${r.id}\` closes it)`);
  for (const o of ops) out.push(`Git: a ${o.name} is in progress`);
  if (undoable.length) out.push(`Undoable (within ${windowHours}h): ${undoable.slice(0, 5).map((r) => `${r.id} (${ago(r.endedAt ?? r.startedAt)})`).join(', ')}`);
  else out.push('Undoable: nothing');
  if (next.length) out.push('', 'Next:', ...next.map((n) => `  ${n}`));
  print(out.join('\n'));
  return 0;
}
