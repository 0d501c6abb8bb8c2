/**
 * The run lifecycle, in one place that run, undo, abort, resume and restore all go through
 * (architecture §1, journal/):
 *
 * - where a stopped run stopped (`stoppedAt`): the step it was in, or between which steps;
 * - which stuck runs must be settled first, and which a command may pass over (`blockers`):
 *   an undo or abort of run X that was itself stopped belongs to X — aborting it, or finishing
 *   X's abort, never waits for the other;
 * - the processes a run started (`trackProcesses`): every process group a step starts is
 *   journaled the moment it is spawned, and when a dead run is taken over, resumed, aborted or
 *   undone, the groups still alive are stopped (TERM, then KILL) before anything else runs
 *   (`stopLeftoverProcesses`), so a killed rb's `npm ci` cannot overwrite what the next run
 *   restores;
 * - journals that cannot be read (`damagedJournals`), shown rather than hidden.
 *
 * Node built-ins only (rb status imports it).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { effectiveStatus, needsResolution, pidAlive, runsDir, type RunRecord, type StepRecord } from './journal.js';

// ---- where a run stopped ------------------------------------------------------------------------

/** The step a stopped run was in, or a description of where it stopped between steps. */
export function stoppedAt(run: RunRecord): { step: string | null; where: string } {
  const leaves = run.steps.filter((s) => !run.steps.some((c) => c.group === s.id));
  const inStep = [...leaves].reverse().find((s) => s.status === 'running') ?? (run.error?.step ? leaves.find((s) => s.id === run.error!.step) : undefined) ?? [...leaves].reverse().find((s) => s.status === 'failed');
  if (inStep) return { step: inStep.id, where: `at step ${inStep.id}` };
  const done = leaves.filter((s) => s.status === 'succeeded' || s.status === 'skipped');
  const last = done[done.length - 1];
  const next = leaves.find((s) => s.status === 'pending');
  if (!last) return { step: null, where: next ? `before its first step (${next.id})` : 'before its first step' };
  return { step: null, where: next ? `between steps ${last.id} and ${next.id}` : `after its last step (${last.id})` };
}

/** Kinds whose steps run commands of the user's (their effects are not tracked by rb). */
const COMMAND_KINDS = new Set(['exec', 'capture', 'tests.run', 'deps.install', 'services.start', 'services.stop', 'notify']);

/** Steps of a run that started a command of the user's: what they did is not in the journal. */
export function stepsThatRanCommands(run: RunRecord): string[] {
  return run.steps.filter((s) => COMMAND_KINDS.has(s.kind) && (s.status === 'running' || s.status === 'succeeded' || s.status === 'failed')).map((s) => s.id);
}

/** What rb can say of a run that changed nothing it tracks, without claiming more than it checked. */
export function unchangedWords(run: RunRecord): string {
  const ran = stepsThatRanCommands(run);
  return ran.length
    ? `before any step that changes the repository; but step${ran.length > 1 ? 's' : ''} ${ran.join(', ')} ran commands whose effects rb does not track or put back`
    : 'before it changed anything; nothing to put back';
}

// ---- which stuck run goes first -------------------------------------------------------------------

/**
 * The stuck runs (interrupted or failed part-way) in `open` that stop a command acting on
 * `actsOn` (or starting afresh) from starting (exit 4). A stuck undo or abort of the run it acts
 * on, and the run that the stuck undo or abort it acts on was undoing, never block: the two are
 * one piece of work, settled together.
 */
export function blockers(open: readonly RunRecord[], actsOn?: RunRecord): RunRecord[] {
  const related = new Set<string>();
  if (actsOn) {
    related.add(actsOn.id);
    if (actsOn.undoOf) related.add(actsOn.undoOf);
    for (const r of open) if (r.undoOf === actsOn.id) related.add(r.id);
  }
  return open.filter((r) => needsResolution(r) && !related.has(r.id));
}

/** A stuck undo or abort of `run` (newest first), which finishing puts `run` back. */
export function stuckUndoOf(runs: readonly RunRecord[], run: RunRecord): RunRecord | null {
  return runs.find((r) => r.undoOf === run.id && needsResolution(r)) ?? null;
}

// ---- processes a run started -------------------------------------------------------------------------

export interface TrackedProcess {
  /** process group id (the leader's pid: steps start commands in their own group) */
  pgid: number;
  /** the leader's start time in clock ticks since boot (/proc/<pid>/stat field 22), to tell a reused pid */
  startTicks: string | null;
  command: string;
  step?: string;
  startedAt: string;
}

/** Field 22 of /proc/<pid>/stat (start time), or null where there is no /proc. */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // fields after "(comm)" start at field 3
  } catch {
    return null;
  }
}

/** Pids of the living processes in group `pgid` that started no earlier than its leader did. */
function groupMembers(p: TrackedProcess): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] state (field 3), f[2] pgrp (field 5), f[19] starttime (field 22)
      if (Number(f[2]) !== p.pgid || f[0] === 'Z') continue;
      if (p.startTicks !== null && BigInt(f[19] ?? '0') < BigInt(p.startTicks)) continue;
      out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Is the recorded group still running (and not a new group that reuses the id)? */
function groupAlive(p: TrackedProcess): boolean {
  const leaderTicks = processStartTicks(p.pgid);
  if (leaderTicks !== null && p.startTicks !== null && leaderTicks !== p.startTicks) return false; // the pid was reused
  if (existsSync('/proc/self/stat')) return groupMembers(p).length > 0;
  return pidAlive(p.pgid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stop the process groups a dead run started that are still alive: TERM, then KILL after
 * `graceMs`. Returns one line per group stopped, for the user. Does nothing for a live run.
 */
export async function stopLeftoverProcesses(run: RunRecord, graceMs = 3000): Promise<string[]> {
  if (effectiveStatus(run) === 'running') return [];
  const alive = (run.processes ?? []).filter(groupAlive);
  if (!alive.length) return [];
  const signal = (p: TrackedProcess, sig: NodeJS.Signals) => {
    try {
      process.kill(-p.pgid, sig);
    } catch {
      /* gone */
    }
  };
  for (const p of alive) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && alive.some(groupAlive)) await sleep(50);
  const killed = alive.filter(groupAlive);
  for (const p of killed) signal(p, 'SIGKILL');
  for (let i = 0; i < 40 && killed.some(groupAlive); i++) await sleep(25);
  return alive.map((p) => `stopped \`${p.command}\` (process group ${p.pgid}${p.step ? `, step ${p.step}` : ''}) left running by run ${run.id}${killed.includes(p) ? ' (it ignored SIGTERM: killed)' : ''}`);
}

// ---- journals that cannot be read ------------------------------------------------------------------

export interface DamagedJournal {
  id: string;
  path: string;
  problem: string;
}

/** Journal files that exist but do not parse as a run (truncated, overwritten). */
export function damagedJournals(repo: { commonDir: string }): DamagedJournal[] {
  const dir = runsDir(repo);
  if (!existsSync(dir)) return [];
  const out: DamagedJournal[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    const path = join(dir, f);
    try {
      const run = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunRecord>;
      if (!run || typeof run !== 'object' || typeof run.id !== 'string' || !Array.isArray(run.steps)) out.push({ id: f.slice(0, -5), path, problem: 'not a run record' });
    } catch (e) {
      out.push({ id: f.slice(0, -5), path, problem: (e as Error).message.split('\n')[0]! });
    }
  }
  return out;
}

export type { StepRecord };
