/**
 * rb metrics: the arithmetic on a seeded history (old-format entries, undone entries,
 * checkpoints), ISO weeks, the rate's status thresholds, date options, and the command itself
 * against a throwaway repository (imported: the command is registered by src/cli.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpRepos } from './helpers/repo.js';
import {
  bar, computeMetrics, entryTime, isoWeek, median, parseDateOption, rateStatus, weekChart, weekLabel,
} from '../src/analyze/metrics-stats.js';
import { formatMetrics, metricsCommand, periodFromOptions } from '../src/commands/metrics.js';
import { UsageError } from '../src/errors.js';
import type { MetricsFile } from '../src/records/metrics.js';

const repos = tmpRepos();
const T = { healthyRate: 0.05, reviewRate: 0.1 };

/** Checkpoints (sprint starts) every day at 09:00Z from `from`, `n` of them. */
function checkpoints(from: string, n: number) {
  const t0 = Date.parse(`${from}T09:00:00Z`);
  return Array.from({ length: n }, (_, i) => ({
    timestamp: new Date(t0 + i * 86_400_000).toISOString(), tag: `checkpoint-${i}`, commit: 'c'.repeat(40), branch: 'main',
  }));
}

/** A history mixing the shell procedures' format with rb's, with one undone rollback. */
const HISTORY: MetricsFile = {
  rollbacks: [
    // the old format: no level, no run_id; timestamps as the shell wrote them
    { timestamp: '2026-11-02T10:00:00+00:00', sprint: 3, severity: 'high', cause: 'tests', recovery_time_minutes: 20 },
    { timestamp: '2026-11-04 09:15:00', sprint: 3, severity: 'critical', cause: 'deps', recovery_time_minutes: '5' as unknown as number },
    // rb's format
    { timestamp: '2026-11-10T12:00:00.000Z', sprint: 4, severity: 'high', cause: 'tests', recovery_time_minutes: 8, run_id: 'r-a', level: 2, undone: false },
    { timestamp: '2026-11-11T12:00:00.000Z', sprint: null, severity: 'medium', cause: 'perf', recovery_time_minutes: 2, run_id: 'r-b', level: 3, undone: false },
    { timestamp: '2026-11-12T12:00:00.000Z', sprint: null, severity: 'critical', cause: 'tests', recovery_time_minutes: 1, run_id: 'r-c', level: 1, undone: true, undone_by: 'r-u' },
    { timestamp: '2026-11-24T08:00:00.000Z', sprint: 5, severity: 'high', cause: 'tests', recovery_time_minutes: 11, run_id: 'r-d', level: 2 },
  ],
  statistics: { total_rollbacks: 6, by_cause: {}, average_recovery_time: 0 },
  // 40 sprint starts, 2026-10-27 … 2026-12-05
  checkpoints: checkpoints('2026-10-27', 40),
};

describe('computeMetrics', () => {
  it('totals, breakdowns, median and average, weeks and rate over the whole history', () => {
    const r = computeMetrics(HISTORY, {}, T);
    expect(r.total).toBe(5);
    expect(r.undone).toBe(1);
    expect(r.oldFormat).toBe(2);
    expect(r.undated).toBe(0);
    expect(r.byCause).toEqual({ tests: 3, deps: 1, perf: 1 });
    expect(Object.entries(r.byCause)[0]).toEqual(['tests', 3]);
    expect(r.byLevel).toEqual({ 2: 2, unknown: 2, 3: 1 });
    expect(r.bySeverity).toEqual({ high: 3, critical: 1, medium: 1 });
    // 2, 5, 8, 11, 20 (the undone rollback's 1 minute is not counted)
    expect(r.recovery).toEqual({ median: 8, average: 9.2, measured: 5 });
    expect(r.weeks).toEqual([
      { week: '2026-W45', monday: '2026-11-02', count: 2 },
      { week: '2026-W46', monday: '2026-11-09', count: 2 },
      { week: '2026-W47', monday: '2026-11-16', count: 0 },
      { week: '2026-W48', monday: '2026-11-23', count: 1 },
    ]);
    expect(r.sprints).toBe(40);
    expect(r.rate).toBe(0.125);
    expect(r.status).toBe('investigate validation gaps');
  });

  it('a period counts only its rollbacks and its sprint starts (since and until inclusive)', () => {
    const period = periodFromOptions({ since: '2026-11-09', until: '2026-11-15' });
    const r = computeMetrics(HISTORY, period, T);
    expect(r.total).toBe(2);
    expect(r.undone).toBe(1);
    expect(r.byCause).toEqual({ perf: 1, tests: 1 });
    expect(r.recovery).toEqual({ median: 5, average: 5, measured: 2 });
    expect(r.sprints).toBe(7);
    expect(r.rate).toBe(0.2857);
    expect(r.weeks).toEqual([{ week: '2026-W46', monday: '2026-11-09', count: 2 }]);
    expect(r.period).toEqual({ since: '2026-11-09T00:00:00.000Z', until: '2026-11-15T23:59:59.999Z' });

    // until is the end of its day: the rollback at 12:00 on the 24th is in
    const late = computeMetrics(HISTORY, periodFromOptions({ since: '2026-11-24', until: '2026-11-24' }), T);
    expect(late.total).toBe(1);
    expect(late.sprints).toBe(1);
    expect(late.rate).toBe(1);
  });

  it('undone rollbacks are excluded from the rate; a healthy and a review rate', () => {
    const file = {
      rollbacks: [
        { timestamp: '2026-11-10T00:00:00Z', severity: 'high', cause: 'tests', recovery_time_minutes: 3 },
        { timestamp: '2026-11-11T00:00:00Z', severity: 'high', cause: 'tests', recovery_time_minutes: 3, undone: true },
        { timestamp: '2026-11-12T00:00:00Z', severity: 'high', cause: 'tests', recovery_time_minutes: 3, undone: true },
      ],
      checkpoints: checkpoints('2026-11-01', 25),
    } as MetricsFile;
    const r = computeMetrics(file, {}, T);
    expect([r.total, r.undone, r.sprints, r.rate, r.status]).toEqual([1, 2, 25, 0.04, 'healthy']);
    const r2 = computeMetrics({ ...file, checkpoints: checkpoints('2026-11-01', 10) }, {}, T);
    expect([r2.rate, r2.status]).toEqual([0.1, 'review recent rollbacks']);
  });

  it('no checkpoints: the rate is unknown; an empty history is all zeros', () => {
    const r = computeMetrics({ rollbacks: HISTORY.rollbacks }, {}, T);
    expect(r.rate).toBeNull();
    expect(r.status).toBe('unknown');
    const e = computeMetrics({ rollbacks: [] }, {}, T);
    expect([e.total, e.recovery.median, e.recovery.average, e.weeks, e.status]).toEqual([0, null, null, [], 'unknown']);
  });

  it('undated entries count without a period and are left out of one', () => {
    const file = { rollbacks: [{ timestamp: 'yesterday-ish', severity: 'low', cause: 'x', recovery_time_minutes: 1 }, HISTORY.rollbacks[0]!] } as MetricsFile;
    expect(computeMetrics(file, {}, T)).toMatchObject({ total: 2, undated: 1 });
    expect(computeMetrics(file, periodFromOptions({ since: '2026-01-01' }), T)).toMatchObject({ total: 1, undated: 1 });
  });
});

describe('pieces', () => {
  it('rate status at the thresholds', () => {
    expect(rateStatus(0.0499, T)).toBe('healthy');
    expect(rateStatus(0.05, T)).toBe('review recent rollbacks');
    expect(rateStatus(0.1, T)).toBe('review recent rollbacks');
    expect(rateStatus(0.1001, T)).toBe('investigate validation gaps');
    expect(rateStatus(null, T)).toBe('unknown');
    expect(rateStatus(0.07, { healthyRate: 0.08, reviewRate: 0.2 })).toBe('healthy');
  });

  it('ISO weeks, across year boundaries', () => {
    expect(weekLabel(Date.parse('2021-01-03T12:00:00Z'))).toBe('2020-W53');
    expect(weekLabel(Date.parse('2024-12-30T00:00:00Z'))).toBe('2025-W01');
    expect(weekLabel(Date.parse('2026-01-01T00:00:00Z'))).toBe('2026-W01');
    expect(isoWeek(Date.parse('2026-11-22T23:59:59Z'))).toEqual({ year: 2026, week: 47, monday: '2026-11-16' });
  });

  it('timestamps in the old and new formats', () => {
    expect(entryTime('2026-11-04 09:15:00')).toBe(Date.parse('2026-11-04T09:15:00Z'));
    expect(entryTime('2026-11-02T10:00:00+02:00')).toBe(Date.parse('2026-11-02T08:00:00Z'));
    expect(entryTime(1_700_000_000)).toBe(1_700_000_000_000);
    expect(entryTime('1700000000000')).toBe(1_700_000_000_000);
    expect(entryTime('')).toBeNull();
    expect(entryTime(undefined)).toBeNull();
  });

  it('date options: days, date-times, ages; anything else is null', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    expect(parseDateOption('2026-11-01', 'since')).toBe(Date.parse('2026-11-01T00:00:00Z'));
    expect(parseDateOption('2026-11-01', 'until')).toBe(Date.parse('2026-11-01T23:59:59.999Z'));
    expect(parseDateOption('2026-11-01T09:30:00Z', 'since')).toBe(Date.parse('2026-11-01T09:30:00Z'));
    expect(parseDateOption('30d', 'since', now)).toBe(now - 30 * 86_400_000);
    expect(parseDateOption('2w', 'since', now)).toBe(now - 14 * 86_400_000);
    for (const bad of ['yesterday', '2026-02-30', '11/01/2026', '', '2026-13-01', '30']) expect(parseDateOption(bad, 'since', now)).toBeNull();
  });

  it('median and the bar chart', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    expect(bar(3, 30)).toBe('███');
    expect(bar(0, 30)).toBe('');
    expect(weekChart([{ week: '2026-W45', monday: '', count: 2 }, { week: '2026-W46', monday: '', count: 0 }, { week: '2026-W47', monday: '', count: 10 }]))
      .toEqual(['2026-W45   2 ██', '2026-W46   0', '2026-W47  10 ██████████']);
    // scaled when the busiest week is wider than the chart
    expect(weekChart([{ week: 'W', monday: '', count: 60 }, { week: 'V', monday: '', count: 15 }], 30)).toEqual([`W  60 ${'█'.repeat(30)}`, `V  15 ${'█'.repeat(7)}▌`]);
  });
});

// ---- the command ----------------------------------------------------------------------------------

function capture() {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write);
  return { text: () => out, restore: () => spy.mockRestore() };
}

afterEach(() => vi.restoreAllMocks());

const cmdFor = (root: string) => ({ parent: { opts: () => ({ cwd: root }) } });

describe('rb metrics (command)', () => {
  it('no metrics.json: a friendly message and exit 0', async () => {
    const r = repos.make();
    const c = capture();
    const code = await metricsCommand({}, cmdFor(r.root));
    c.restore();
    expect(code).toBe(0);
    expect(c.text()).toContain('No rollbacks recorded yet: rollbacks/metrics.json does not exist.');
    expect(c.text()).toContain('rb check');
  });

  it('an old-format metrics.json: totals and an unknown rate with how to get it', async () => {
    const r = repos.make();
    mkdirSync(join(r.root, 'rollbacks'));
    // exactly what the shell procedures wrote: no level, run_id or checkpoints
    writeFileSync(join(r.root, 'rollbacks/metrics.json'), JSON.stringify({
      rollbacks: [
        { timestamp: '2026-10-05T10:00:00+00:00', sprint: 1, severity: 'high', cause: 'tests', recovery_time_minutes: 30 },
        { timestamp: '2026-10-20T10:00:00+00:00', sprint: 2, severity: 'critical', cause: 'deps', recovery_time_minutes: 10 },
      ],
      statistics: { total_rollbacks: 2, by_cause: { tests: 1, deps: 1 }, average_recovery_time: 20 },
    }));
    const c = capture();
    expect(await metricsCommand({}, cmdFor(r.root))).toBe(0);
    c.restore();
    const text = c.text();
    expect(text).toContain('Rollbacks:      2');
    expect(text).toContain('by cause:     deps 1 · tests 1');
    expect(text).toContain('by level:     unknown: 2');
    expect(text).toContain('median 20 min · average 20 min');
    expect(text).toContain('2 from the older format');
    expect(text).toMatch(/2026-W41\s+1 █/);
    expect(text).toMatch(/2026-W42\s+0/);
    expect(text).toContain('Rollback rate:  unknown');
    expect(text).toContain('Run `rb check` at the start of each sprint');
  });

  it('--json with --since/--until, and the thresholds from rb.config.yaml', async () => {
    const r = repos.make();
    mkdirSync(join(r.root, 'rollbacks'));
    writeFileSync(join(r.root, 'rollbacks/metrics.json'), JSON.stringify(HISTORY));
    writeFileSync(join(r.root, 'rb.config.yaml'), 'metrics: { healthyRate: 0.2, reviewRate: 0.5 }\n');
    const c = capture();
    expect(await metricsCommand({ json: true, since: '2026-11-09', until: '2026-11-15' }, cmdFor(r.root))).toBe(0);
    c.restore();
    const j = JSON.parse(c.text());
    expect(j).toMatchObject({ file: 'rollbacks/metrics.json', exists: true, total: 2, undone: 1, sprints: 7, rate: 0.2857, status: 'review recent rollbacks' });
    expect(j.thresholds).toEqual({ healthyRate: 0.2, reviewRate: 0.5 });

    const c2 = capture();
    await metricsCommand({}, cmdFor(r.root));
    c2.restore();
    expect(c2.text()).toContain('Rollback rate:  5 rollbacks / 40 sprints started = 12.5% — healthy');
    expect(c2.text()).toContain('(+1 undone with `rb undo`, not counted)');
  });

  it('bad dates are usage errors (exit 2) naming the accepted forms', async () => {
    const r = repos.make();
    for (const opts of [{ since: 'last tuesday' }, { until: '2026-02-30' }, { since: '2026-12-01', until: '2026-11-01' }]) {
      const e = await metricsCommand(opts, cmdFor(r.root)).then(() => null, (x: unknown) => x);
      expect(e).toBeInstanceOf(UsageError);
      expect((e as UsageError).exitCode).toBe(2);
      expect((e as UsageError).next).toMatch(/^rb metrics --/);
    }
  });

  it('an unreadable metrics.json is a usage error that says what to do', async () => {
    const r = repos.make();
    mkdirSync(join(r.root, 'rollbacks'));
    writeFileSync(join(r.root, 'rollbacks/metrics.json'), '{ not json');
    const e = (await metricsCommand({}, cmdFor(r.root)).catch((x: unknown) => x)) as UsageError;
    expect(e).toBeInstanceOf(UsageError);
    expect(e.next).toContain('rollbacks/metrics.json');
  });

  it('formatMetrics shows every figure', () => {
    const text = formatMetrics(computeMetrics(HISTORY, {}, T), 'rollbacks/metrics.json');
    expect(text).toContain('Rollback metrics — rollbacks/metrics.json, all recorded time');
    expect(text).toContain('by level:     level 2: 2 · unknown: 2 · level 3: 1');
    expect(text).toContain('by severity:  high 3 · critical 1 · medium 1');
    expect(text).toContain('median 8 min · average 9.2 min');
    expect(text).toContain('2026-W45  2 ██');
    expect(text).toContain('= 12.5% — investigate validation gaps');
    expect(text).toContain('healthy under 5%, review up to 10%');
  });
});
