/**
 * rollbacks/metrics.json. Keeps the long-standing format of the shell procedures rb replaces:
 *   { "rollbacks": [ { timestamp, sprint, severity, cause, recovery_time_minutes, ... } ],
 *     "statistics": { total_rollbacks, by_cause, average_recovery_time } }
 * rb adds fields to each entry (run_id, level, playbook, duration_ms, baseline, branch,
 * files_changed, tests_failed, undone) and a `checkpoints` list (rb check, rb checkpoint). An existing file is
 * read and extended: every entry and every key rb does not know is kept as it was.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../io/fs.js';

export interface MetricsEntry {
  timestamp: string;
  sprint: number | null;
  severity: string;
  cause: string;
  recovery_time_minutes: number;
  run_id?: string;
  level?: number | null;
  playbook?: string;
  duration_ms?: number;
  baseline?: string;
  branch?: string | null;
  files_changed?: number | null;
  tests_failed?: number | null;
  undone?: boolean;
  undone_by?: string;
  [key: string]: unknown;
}

export interface Checkpoint {
  timestamp: string;
  tag: string | null;
  commit: string;
  branch: string | null;
  /** named: `rb checkpoint <name>` (counted as a sprint start only with metrics.countNamedCheckpoints); absent: `rb check` */
  kind?: 'named';
  /** the name of a named checkpoint (its tag and its snapshot) */
  name?: string;
  [key: string]: unknown;
}

export interface MetricsFile {
  rollbacks: MetricsEntry[];
  statistics: { total_rollbacks: number; by_cause: Record<string, number>; average_recovery_time: number; [key: string]: unknown };
  checkpoints?: Checkpoint[];
  [key: string]: unknown;
}

export class MetricsFormatError extends Error {}

export function readMetrics(path: string): MetricsFile {
  if (!existsSync(path)) return { rollbacks: [], statistics: { total_rollbacks: 0, by_cause: {}, average_recovery_time: 0 } };
  const text = readFileSync(path, 'utf8');
  let data: unknown;
  try {
    data = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    throw new MetricsFormatError(`${path} is not valid JSON (${(e as Error).message}); rb will not overwrite it`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new MetricsFormatError(`${path} does not hold a JSON object; rb will not overwrite it`);
  }
  const m = data as Partial<MetricsFile>;
  if (m.rollbacks !== undefined && !Array.isArray(m.rollbacks)) {
    throw new MetricsFormatError(`${path}: "rollbacks" is not a list; rb will not overwrite it`);
  }
  return {
    ...m,
    rollbacks: (m.rollbacks ?? []) as MetricsEntry[],
    statistics: { total_rollbacks: 0, by_cause: {}, average_recovery_time: 0, ...(m.statistics ?? {}) },
  } as MetricsFile;
}

/** Recompute the statistics block from the entries (keeping any extra statistics keys). */
export function computeStatistics(m: MetricsFile): MetricsFile['statistics'] {
  const byCause: Record<string, number> = {};
  let sum = 0;
  let n = 0;
  for (const r of m.rollbacks) {
    const cause = typeof r.cause === 'string' && r.cause ? r.cause : 'unspecified';
    byCause[cause] = (byCause[cause] ?? 0) + 1;
    const t = Number(r.recovery_time_minutes);
    if (Number.isFinite(t)) {
      sum += t;
      n++;
    }
  }
  return {
    ...m.statistics,
    total_rollbacks: m.rollbacks.length,
    by_cause: byCause,
    average_recovery_time: n ? Math.round((sum / n) * 100) / 100 : 0,
  };
}

export function appendRollback(path: string, entry: MetricsEntry): MetricsFile {
  const m = readMetrics(path);
  m.rollbacks.push(entry);
  m.statistics = computeStatistics(m);
  writeJsonAtomic(path, m);
  return m;
}

/** Mark the entry of a run as undone (the entry stays; metrics counts undone rollbacks apart). */
export function markUndone(path: string, runId: string, undoneBy: string): boolean {
  if (!existsSync(path)) return false;
  const m = readMetrics(path);
  let found = false;
  for (const r of m.rollbacks) {
    if (r.run_id === runId) {
      r.undone = true;
      r.undone_by = undoneBy;
      found = true;
    }
  }
  if (found) {
    m.statistics = computeStatistics(m);
    writeJsonAtomic(path, m);
  }
  return found;
}

/** Mark the entry of a run as in effect again (a redo brought it back). */
export function markRedone(path: string, runId: string): boolean {
  if (!existsSync(path)) return false;
  const m = readMetrics(path);
  let found = false;
  for (const r of m.rollbacks) {
    if (r.run_id === runId && r.undone) {
      r.undone = false;
      delete r.undone_by;
      found = true;
    }
  }
  if (found) {
    m.statistics = computeStatistics(m);
    writeJsonAtomic(path, m);
  }
  return found;
}

export function appendCheckpoint(path: string, cp: Checkpoint): MetricsFile {
  const m = readMetrics(path);
  m.checkpoints = [...(m.checkpoints ?? []), cp];
  m.statistics = computeStatistics(m);
  writeJsonAtomic(path, m);
  return m;
}
