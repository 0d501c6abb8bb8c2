/**
 * The arithmetic of `rb metrics` (issue 5). Pure: a MetricsFile and a period in, numbers out.
 *
 * Rules:
 * - Entries are read as they are, old format included: an entry without `level` counts under
 *   level "unknown", without `cause` under "unspecified", without `severity` under
 *   "unspecified". Timestamps may be ISO date-times (with or without a zone; without one they
 *   are read as UTC), `YYYY-MM-DD HH:MM[:SS]` (UTC), or epoch seconds / milliseconds. An entry
 *   whose timestamp cannot be read is "undated": it counts when no period is given and is
 *   left out (and reported) when one is.
 * - Undone rollbacks (`undone: true`, set by `rb undo`) are counted apart (`undone`) and are
 *   in no other figure: not in the total, the breakdowns, recovery times, weeks or the rate.
 * - Recovery time: median and average of `recovery_time_minutes` over the counted entries that
 *   have a number there, rounded to 2 decimals; null when none has.
 * - Weeks are ISO 8601 weeks in UTC (`2026-W47`), from the first to the last week of the
 *   period (or of the entries, when the period is open), empty weeks included.
 * - Rate = counted rollbacks / sprints started (checkpoints recorded by `rb check`) in the
 *   period. Named checkpoints (`rb checkpoint <name>`, kind "named") count as sprints started
 *   only with `countNamedCheckpoints` (config metrics.countNamedCheckpoints); they are reported
 *   either way (namedCheckpoints). Status: rate < healthyRate → "healthy"; rate ≤ reviewRate → "review recent
 *   rollbacks"; above → "investigate validation gaps"; no checkpoint in the period → rate null,
 *   status "unknown".
 * - Periods: `since` is inclusive; `until` is inclusive (a date without a time means the end of
 *   that UTC day — see parseDateOption).
 */
import type { Checkpoint, MetricsEntry, MetricsFile } from '../records/metrics.js';
import { parseDuration } from '../duration.js';

export type RateStatus = 'healthy' | 'review recent rollbacks' | 'investigate validation gaps' | 'unknown';

export interface MetricsPeriod {
  /** inclusive lower bound (ms since epoch) */
  since?: number;
  /** inclusive upper bound (ms since epoch) */
  until?: number;
}

export interface MetricsThresholds {
  healthyRate: number;
  reviewRate: number;
}

export interface WeekCount {
  /** ISO week, e.g. 2026-W47 */
  week: string;
  /** Monday of that week, YYYY-MM-DD */
  monday: string;
  count: number;
}

export interface MetricsReport {
  period: { since: string | null; until: string | null };
  /** rollbacks counted (not undone, in the period) */
  total: number;
  /** undone rollbacks in the period (counted apart) */
  undone: number;
  /** entries whose timestamp could not be read */
  undated: number;
  /** entries in the old format (no run_id and no level) among the counted ones */
  oldFormat: number;
  byCause: Record<string, number>;
  byLevel: Record<string, number>;
  bySeverity: Record<string, number>;
  recovery: { median: number | null; average: number | null; measured: number };
  weeks: WeekCount[];
  sprints: number;
  /** named checkpoints (`rb checkpoint <name>`) in the period, and whether they are in `sprints` */
  namedCheckpoints: { count: number; counted: boolean };
  rate: number | null;
  status: RateStatus;
  thresholds: MetricsThresholds;
}

/** Read an entry's timestamp as ms since epoch, or null. */
export function entryTime(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e12 ? v * 1000 : v;
  if (typeof v !== 'string' || !v.trim()) return null;
  const s = v.trim();
  if (/^\d{9,13}$/.test(s)) return entryTime(Number(s));
  // a date-time without a zone is UTC (the shell procedures wrote `date -u`); a bare date is its UTC midnight
  const m = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?$/.exec(s);
  const t = m ? Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}Z`) : Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** The ISO 8601 week of a UTC time: { year, week, monday }. */
export function isoWeek(ms: number): { year: number; week: number; monday: string } {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7; // Monday = 0
  const monday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day);
  const thursday = new Date(monday + 3 * 86_400_000);
  const year = thursday.getUTCFullYear();
  const jan4 = Date.UTC(year, 0, 4);
  const jan4Monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * 86_400_000;
  const week = Math.round((monday - jan4Monday) / (7 * 86_400_000)) + 1;
  return { year, week, monday: new Date(monday).toISOString().slice(0, 10) };
}

export function weekLabel(ms: number): string {
  const w = isoWeek(ms);
  return `${w.year}-W${String(w.week).padStart(2, '0')}`;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function median(xs: readonly number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return round2(s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2);
}

export function average(xs: readonly number[]): number | null {
  return xs.length ? round2(xs.reduce((a, b) => a + b, 0) / xs.length) : null;
}

/** The status of a rate against the thresholds. */
export function rateStatus(rate: number | null, t: MetricsThresholds): RateStatus {
  if (rate === null) return 'unknown';
  if (rate < t.healthyRate) return 'healthy';
  if (rate <= t.reviewRate) return 'review recent rollbacks';
  return 'investigate validation gaps';
}

function inPeriod(t: number | null, p: MetricsPeriod): boolean {
  if (t === null) return p.since === undefined && p.until === undefined;
  return (p.since === undefined || t >= p.since) && (p.until === undefined || t <= p.until);
}

function bump(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

function label(v: unknown, fallback: string): string {
  if (typeof v === 'string' && v.trim()) return v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return fallback;
}

/** Compute the report of a metrics file over a period. */
export function computeMetrics(file: Pick<MetricsFile, 'rollbacks' | 'checkpoints'>, period: MetricsPeriod, thresholds: MetricsThresholds, opts: { countNamedCheckpoints?: boolean } = {}): MetricsReport {
  const counted: { e: MetricsEntry; t: number | null }[] = [];
  let undone = 0;
  let undated = 0;
  for (const e of file.rollbacks ?? []) {
    if (!e || typeof e !== 'object') continue;
    const t = entryTime(e.timestamp);
    if (t === null) undated++;
    if (!inPeriod(t, period)) continue;
    if (e.undone === true) undone++;
    else counted.push({ e, t });
  }

  const byCause: Record<string, number> = {};
  const byLevel: Record<string, number> = {};
  const bySeverity: Record<string, number> = {};
  const times: number[] = [];
  let oldFormat = 0;
  for (const { e } of counted) {
    bump(byCause, label(e.cause, 'unspecified'));
    bump(byLevel, label(e.level, 'unknown'));
    bump(bySeverity, label(e.severity, 'unspecified'));
    if (e.run_id === undefined && e.level === undefined) oldFormat++;
    const m = typeof e.recovery_time_minutes === 'string' ? Number(e.recovery_time_minutes) : e.recovery_time_minutes;
    if (typeof m === 'number' && Number.isFinite(m) && m >= 0) times.push(m);
  }

  // weeks: from the period's (or the entries') first week to its last, empty ones included
  const dated = counted.map((c) => c.t).filter((t): t is number => t !== null);
  const first = period.since ?? (dated.length ? Math.min(...dated) : undefined);
  const last = period.until ?? (dated.length ? Math.max(...dated) : undefined);
  const weeks: WeekCount[] = [];
  if (first !== undefined && last !== undefined && first <= last) {
    const index = new Map<string, WeekCount>();
    const start = Date.parse(`${isoWeek(first).monday}T00:00:00Z`);
    for (let t = start; t <= last; t += 7 * 86_400_000) {
      const w: WeekCount = { week: weekLabel(t), monday: isoWeek(t).monday, count: 0 };
      weeks.push(w);
      index.set(w.week, w);
    }
    for (const t of dated) {
      const w = index.get(weekLabel(t));
      if (w) w.count++;
    }
  }

  const checkpoints = (file.checkpoints ?? []).filter((c: Checkpoint) => c && typeof c === 'object' && inPeriod(entryTime(c.timestamp), period));
  const named = checkpoints.filter((c) => c.kind === 'named').length;
  const countNamed = opts.countNamedCheckpoints === true;
  const sprints = checkpoints.length - (countNamed ? 0 : named);
  const rate = sprints > 0 ? counted.length / sprints : null;
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    period: { since: iso(period.since), until: iso(period.until) },
    total: counted.length,
    undone,
    undated,
    oldFormat,
    byCause: sortCounts(byCause),
    byLevel: sortCounts(byLevel),
    bySeverity: sortCounts(bySeverity),
    recovery: { median: median(times), average: average(times), measured: times.length },
    weeks,
    sprints,
    namedCheckpoints: { count: named, counted: countNamed },
    rate: rate === null ? null : Math.round(rate * 10_000) / 10_000,
    status: rateStatus(rate, thresholds),
    thresholds,
  };
}

/** Largest count first, then by name (integer-like keys, e.g. levels, still come first in a JS object: printers sort again). */
function sortCounts(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], 'en', { numeric: true })));
}

// ---- parsing --since / --until ---------------------------------------------------------------------

/**
 * Read a --since / --until value: `YYYY-MM-DD` (a UTC day: its start for since, its end for
 * until), an ISO date-time (`2026-11-01T09:00:00Z`; without a zone, UTC), or an age counted
 * back from `now`: a duration as src/duration.ts reads it (`30d`, `12w`; `m` is minutes). Returns
 * null when unreadable.
 */
export function parseDateOption(value: string, bound: 'since' | 'until', now = Date.now()): number | null {
  const s = value.trim();
  const age = parseDuration(s);
  if (age !== null) return now - age;
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (day) {
    const [y, m, d] = [Number(day[1]), Number(day[2]), Number(day[3])];
    const t = Date.UTC(y, m - 1, d);
    const back = new Date(t);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) return null; // 2026-02-30
    return bound === 'since' ? t : t + 86_400_000 - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}/.test(s)) return null;
  return entryTime(s);
}

// ---- the terminal chart ------------------------------------------------------------------------------

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A horizontal bar of `value` on a scale where `max` fills `width` cells (unicode blocks, eighths). */
export function bar(value: number, max: number, width = 30): string {
  if (value <= 0 || max <= 0) return '';
  const cells = (value / max) * width;
  const full = Math.floor(cells);
  const rest = Math.round((cells - full) * 8);
  const s = '█'.repeat(full) + (rest === 8 ? '█' : EIGHTHS[rest]!);
  return s || '▏'; // a non-zero value always shows
}

/** One line per week: "2026-W47  ███ 3". Width scales to the busiest week, at most `width` cells. */
export function weekChart(weeks: readonly WeekCount[], width = 30): string[] {
  const max = Math.max(0, ...weeks.map((w) => w.count));
  // one cell per rollback until the busiest week would not fit; then scaled to the width
  const cellsFor = (c: number) => (max <= width ? c : (c / max) * width);
  const digits = String(max).length;
  return weeks.map((w) => {
    const b = bar(cellsFor(w.count), width, width);
    return `${w.week}  ${String(w.count).padStart(digits)} ${b}`.trimEnd();
  });
}
