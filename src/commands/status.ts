/**
 * `rb status`: what is in progress, locked, interrupted or undoable, and what to run next.
 * Must start fast: journal and lock files only, plus one git call; no listr2, execa or zod.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findRepo, gitOperations } from '../repo.js';
import { effectiveStatus, listRuns, needsResolution } from '../journal/journal.js';
import { lockIsStale, readLock } from '../journal/lock.js';
import { describeLeftovers, findLeftovers } from '../journal/leftovers.js';
import { ago, print, printJson } from '../ui/format.js';
import { summary } from './history.js';
import { damagedJournals, stoppedAt, unchangedWords } from '../journal/lifecycle.js';
import { chainPosition, chainRole } from '../journal/chain.js';
import type { RunRecord } from '../journal/journal.js';

/** What to run for the newest stuck run: abort always works; resume where it can go on by itself. */
function nextForStuck(r: RunRecord): string[] {
  const at = stoppedAt(r);
  const rec = at.step ? r.steps.find((s) => s.id === at.step) : undefined;
  if (r.playbook === 'abort' && r.undoOf) {
    // an abort that stopped: finishing it puts back the state before the run it aborts
    return [`rb abort ${r.undoOf}   (finish the abort: everything as it was before run ${r.undoOf})`, `or: rb abort ${r.id}   (back to where run ${r.undoOf} stopped)`];
  }
  const what = r.undoOf ? `the ${r.playbook} of run ${r.undoOf}` : `run ${r.id}`;
  const out = [`rb abort ${r.id}   (put everything back as it was before ${what})`];
  if (rec && rec.rerunnable === false) out.push(`or: rb resume ${r.id} --retry ${rec.id}   (run step ${rec.id} again)   or   rb resume ${r.id} --skip ${rec.id}   (go on without it)`);
  else out.push(`or: rb resume ${r.id}   (finish it)${rec?.status === 'failed' ? `   or   rb resume ${r.id} --skip ${rec.id}   (go on without step ${rec.id})` : ''}`);
  return out;
}

/** The snapshots whose run id is one of `ids` (for runs whose journal is damaged). */
async function snapshotsOfRuns(repo: ReturnType<typeof findRepo>, ids: string[]): Promise<Map<string, string>> {
  const { listSnapshots } = await import('../snapshot/store.js');
  const out = new Map<string, string>();
  for (const s of await listSnapshots(repo).catch(() => [])) {
    const runId = (s as { runId?: string }).runId;
    if (runId && ids.includes(runId) && !out.has(runId)) out.set(runId, s.id);
  }
  return out;
}

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
  const inWindow = (r: RunRecord) => now - Date.parse(r.endedAt ?? r.startedAt) < windowHours * 3600_000;
  // undos and redos are steps of the chain, not runs to undo: `rb redo` reverses an undo
  const undoable = runs.filter((r) => effectiveStatus(r) === 'succeeded' && r.snapshot && !r.undoneBy && chainRole(r) !== 'undo' && chainRole(r) !== 'redo' && inWindow(r));
  const chain = chainPosition(runs);
  const redoable = chain.nextRedo && inWindow(runs.find((r) => r.id === chain.nextRedo!.undo)!) ? chain.nextRedo : null;
  const running = runs.filter((r) => effectiveStatus(r) === 'running');
  // stopped before any step changed the repository (killed, or interrupted with only plain
  // commands run): nothing to put back, only the journal to close
  const stopped = runs.filter((r) => effectiveStatus(r) === 'interrupted' && !needsResolution(r) && !r.undoneBy);
  const damaged = damagedJournals(repo);
  const damagedSnapshots = damaged.length ? await snapshotsOfRuns(repo, damaged.map((d) => d.id)) : new Map<string, string>();
  const next: string[] = [];
  // the newest stuck run first: a stopped undo or abort is settled before the run it acts on
  const first = unresolved[0];
  if (first) next.push(...nextForStuck(first));
  for (const r of unresolved.slice(1)) next.push(`then: rb abort ${r.id}   (put everything back)   or   rb resume ${r.id}   (finish it)`);
  if (lock && lockIsStale(lock)) {
    // while a run must be resumed or aborted, only rb resume / rb abort can start (and take the lock over)
    const taker = unresolved.length ? `rb resume or rb abort of run ${unresolved[0]!.id}` : 'the next rb run';
    next.push(`the lock of run ${lock.runId} is stale (pid ${lock.pid} is gone); ${taker} takes it over`);
  }
  const leftovers = findLeftovers(repo);
  if (leftovers.length) next.push(`${describeLeftovers(leftovers)}: the next rb run removes them`);
  for (const o of ops) next.push(`a git ${o.name} is in progress: ${o.hint}`);
  for (const d of damaged) {
    const snap = damagedSnapshots.get(d.id);
    if (snap) next.push(`rb snapshots restore ${snap}   (the state before run ${d.id}, whose journal is damaged)`);
  }
  if (!next.length) {
    const back = chain.nextUndo ? undoable.find((r) => r.id === chain.nextUndo) : undefined;
    if (back) next.push(`rb undo   (take back run ${back.id}: the state before it${redoable ? '; one run further back' : ''})`);
    if (redoable) next.push(`rb redo   (bring back run ${redoable.brings}, undone by run ${redoable.undo})`);
  }
  const nextCommand = first ? ['rb', 'abort', first.playbook === 'abort' && first.undoOf ? first.undoOf : first.id] : null;

  if (opts.json) {
    printJson({
      root: repo.root,
      lock: lock ? { ...lock, stale: lockIsStale(lock) } : null,
      running: running.map(summary),
      unresolved: unresolved.map(summary),
      stopped: stopped.map(summary),
      stoppedAt: Object.fromEntries([...unresolved, ...stopped].map((r) => [r.id, stoppedAt(r).where])),
      damaged: damaged.map((d) => ({ ...d, snapshot: damagedSnapshots.get(d.id) ?? null })),
      gitOperations: ops.map((o) => o.name),
      leftovers: leftovers.map((l) => l.path),
      undoable: undoable.map(summary),
      undoWindowHours: windowHours,
      chain: { ...chain, nextRedo: redoable },
      next,
      nextCommand,
    });
    return 0;
  }
  const out: string[] = [`Repository: ${repo.root}`];
  if (lock) out.push(`Lock: held by run ${lock.runId} (${lock.command}), pid ${lock.pid} on ${lock.host}, since ${ago(lock.startedAt)}${lockIsStale(lock) ? ' — STALE: that process is gone' : ''}`);
  else out.push('Lock: free');
  for (const r of running) out.push(`Running: ${r.id} (${r.playbook}), started ${ago(r.startedAt)}, ${stoppedAt(r).where.replace(/^at /, '')}`);
  for (const r of unresolved) {
    out.push(`${effectiveStatus(r) === 'interrupted' ? 'Interrupted' : 'Failed'}: ${r.id} (${r.playbook}${r.undoOf ? ` of run ${r.undoOf}` : ''}) ${stoppedAt(r).where}, ${ago(r.startedAt)}; snapshot ${r.snapshot ?? '(none taken yet)'}`);
  }
  for (const r of stopped) out.push(`Stopped: ${r.id} (${r.playbook}) was ${r.status === 'running' ? 'killed' : 'interrupted'} ${stoppedAt(r).where}, ${ago(r.startedAt)}, ${unchangedWords(r)} (\`rb abort ${r.id}\` closes it, \`rb resume ${r.id}\` finishes it)`);
  for (const d of damaged) {
    const snap = damagedSnapshots.get(d.id);
    out.push(`Damaged: the journal of run ${d.id} cannot be read (${d.problem}); ${snap ? `its snapshot is ${snap}` : 'no snapshot of it was found'} — ${d.path}`);
  }
  for (const o of ops) out.push(`Git: a ${o.name} is in progress`);
  if (undoable.length) out.push(`Undoable (within ${windowHours}h): ${undoable.slice(0, 5).map((r) => `${r.id} (${ago(r.endedAt ?? r.startedAt)})`).join(', ')}`);
  else out.push('Undoable: nothing');
  if (redoable) out.push(`Redoable: run ${redoable.brings} (undone by run ${redoable.undo})`);
  if (next.length) out.push('', 'Next:', ...next.map((n) => `  ${n}`));
  print(out.join('\n'));
  return 0;
}
