/**
 * `rb metrics [--json] [--since <date>] [--until <date>]`: rollback statistics from
 * `<rollbacksDir>/metrics.json` (old-format files included) — totals by cause, level and
 * severity, median and average recovery time, rollbacks per ISO week as a bar chart, and the
 * rollback rate (rollbacks / sprints started, from `rb check` checkpoints) with its status.
 * The arithmetic is src/analyze/metrics-stats.ts (pure); this file reads and prints.
 *
 * Exit 0, also when nothing is recorded yet; exit 2 for an unreadable date or a metrics.json
 * that is not valid JSON.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findRepo } from '../repo.js';
import { loadConfig } from '../config/load.js';
import { MetricsFormatError, readMetrics, type MetricsFile } from '../records/metrics.js';
import { UsageError } from '../errors.js';
import { print, printJson } from '../ui/format.js';
import { computeMetrics, parseDateOption, weekChart, type MetricsPeriod, type MetricsReport } from '../analyze/metrics-stats.js';

export interface MetricsCommandOptions {
  json?: boolean;
  /** every clone's records too (refs/rb/records/, fetched by rb sync) */
  team?: boolean;
  /** also write the dashboard: one self-contained HTML page (analyze/dashboard-html.ts) */
  html?: string;
  since?: string;
  until?: string;
}

/** Weeks shown in the terminal chart (--json has them all). */
export const CHART_WEEKS = 26;

const DATE_FORMS = 'a date (2026-11-01), a date-time (2026-11-01T09:00:00Z) or an age (30d, 12w, 36h; m is minutes, there is no month unit)';

/** --since / --until → a period; UsageError (exit 2) for a value that is not a date. */
export function periodFromOptions(opts: Pick<MetricsCommandOptions, 'since' | 'until'>, now = Date.now()): MetricsPeriod {
  const period: MetricsPeriod = {};
  for (const bound of ['since', 'until'] as const) {
    const v = opts[bound];
    if (v === undefined) continue;
    const t = parseDateOption(v, bound, now);
    if (t === null) {
      throw new UsageError(`--${bound} "${v}" is not a date: give ${DATE_FORMS}.`, { next: `rb metrics --${bound} ${bound === 'since' ? '2026-11-01' : '2026-11-30'}` });
    }
    period[bound] = t;
  }
  if (period.since !== undefined && period.until !== undefined && period.since > period.until) {
    throw new UsageError(`--since ${opts.since} is after --until ${opts.until}: the period is empty.`, { next: `rb metrics --since ${opts.until} --until ${opts.since}` });
  }
  return period;
}

const pct = (r: number) => `${(Math.round(r * 1000) / 10).toString()}%`;
const minutes = (m: number | null) => (m === null ? 'unknown' : `${m} min`);

function counts(m: Record<string, number>, fmt: (k: string) => string = (k) => k): string {
  // largest first (an object keeps integer-like keys such as levels in numeric order, so sort here)
  const e = Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], 'en', { numeric: true }));
  return e.length ? e.map(([k, v]) => `${fmt(k)} ${v}`).join(' · ') : '-';
}

/** The terminal text of a report. */
export function formatMetrics(r: MetricsReport, file: string): string {
  const out: string[] = [];
  const period = r.period.since || r.period.until
    ? `${r.period.since ? r.period.since.slice(0, 10) : 'the beginning'} … ${r.period.until ? r.period.until.slice(0, 10) : 'now'}`
    : 'all recorded time';
  out.push(`Rollback metrics — ${file}, ${period}`, '');
  const undone = r.undone ? `   (+${r.undone} undone with \`rb undo\`, not counted)` : '';
  out.push(`Rollbacks:      ${r.total}${undone}`);
  if (r.total) {
    out.push(`  by cause:     ${counts(r.byCause)}`);
    out.push(`  by level:     ${counts(r.byLevel, (k) => (k === 'unknown' ? 'unknown:' : `level ${k}:`))}`);
    out.push(`  by severity:  ${counts(r.bySeverity)}`);
    out.push(`Recovery time:  median ${minutes(r.recovery.median)} · average ${minutes(r.recovery.average)}${r.recovery.measured !== r.total ? ` (over the ${r.recovery.measured} with a recorded time)` : ''}`);
  }
  if (r.oldFormat) out.push(`                ${r.oldFormat} from the older format (no level recorded: counted under "unknown")`);
  if (r.undated) out.push(`                ${r.undated} ${r.undated === 1 ? 'entry has' : 'entries have'} an unreadable timestamp${r.period.since || r.period.until ? ' and are left out of a period' : ''}`);

  if (r.weeks.length) {
    const shown = r.weeks.slice(-CHART_WEEKS);
    out.push('', 'Rollbacks per ISO week:');
    for (const line of weekChart(shown)) out.push(`  ${line}`);
    if (shown.length < r.weeks.length) out.push(`  (${r.weeks.length - shown.length} earlier weeks not shown; --json has them all)`);
  }

  out.push('');
  const t = r.thresholds;
  const named = r.namedCheckpoints;
  if (r.rate === null) {
    out.push('Rollback rate:  unknown — no sprint start (checkpoint) is recorded in this period.');
    out.push('                Run `rb check` at the start of each sprint: it tags a checkpoint and records it in metrics.json.');
  } else {
    out.push(`Rollback rate:  ${r.total} ${r.total === 1 ? 'rollback' : 'rollbacks'} / ${r.sprints} ${r.sprints === 1 ? 'sprint' : 'sprints'} started = ${pct(r.rate)} — ${r.status}`);
    out.push(`                (healthy under ${pct(t.healthyRate)}, review up to ${pct(t.reviewRate)}; metrics.healthyRate / metrics.reviewRate in rb.config.yaml)`);
  }
  if (named.count) {
    out.push(named.counted
      ? `                ${named.count} of the sprint starts ${named.count === 1 ? 'is a named checkpoint' : 'are named checkpoints'} (rb checkpoint; metrics.countNamedCheckpoints: true)`
      : `                ${named.count} named ${named.count === 1 ? 'checkpoint' : 'checkpoints'} (rb checkpoint) not counted as sprint starts; set metrics.countNamedCheckpoints: true to count them`);
  }
  return out.join('\n');
}

export async function metricsCommand(opts: MetricsCommandOptions, cmd?: { parent?: { opts(): { cwd?: string } } | null }): Promise<number> {
  const period = periodFromOptions(opts);
  const repo = findRepo(cmd?.parent?.opts().cwd);
  const { config } = await loadConfig(repo.root);
  const rel = `${config.rollbacksDir}/metrics.json`;
  const path = join(repo.root, config.rollbacksDir, 'metrics.json');
  const thresholds = { healthyRate: config.metrics.healthyRate, reviewRate: config.metrics.reviewRate };
  const counting = { countNamedCheckpoints: config.metrics.countNamedCheckpoints };

  if (opts.team) return teamMetrics(repo, path, rel, period, thresholds, counting, opts);
  if (!existsSync(path)) {
    const empty = computeMetrics({ rollbacks: [], checkpoints: [] }, period, thresholds, counting);
    const html = opts.html ? await writeDashboard(repo, opts.html, { rollbacks: [], checkpoints: [] }, empty, period, counting, rel) : null;
    if (opts.json) printJson({ file: rel, exists: false, ...empty, ...(html ? { html } : {}) });
    else if (html) print(`No rollbacks recorded yet (${rel} does not exist); wrote the empty dashboard ${html}`);
    else {
      print([
        `No rollbacks recorded yet: ${rel} does not exist.`,
        'rb emergency, rb sprint and rb files record each rollback there. Run `rb check` at the start of each',
        'sprint to record sprint starts, so `rb metrics` can show the rollback rate.',
      ].join('\n'));
    }
    return 0;
  }

  const file = readMetricsFile(path, rel);
  const report = computeMetrics(file, period, thresholds, counting);
  const html = opts.html ? await writeDashboard(repo, opts.html, file, report, period, counting, rel) : null;
  if (opts.json) printJson({ file: rel, exists: true, ...report, ...(html ? { html } : {}) });
  else print(formatMetrics(report, rel) + (html ? `\n\nDashboard: ${html}` : ''));
  return 0;
}

/** `--html <file>`: the dashboard page, written atomically; returns the path as given. */
async function writeDashboard(
  repo: ReturnType<typeof findRepo>, out: string, file: Pick<MetricsFile, 'rollbacks' | 'checkpoints'>, report: MetricsReport,
  period: MetricsPeriod, counting: { countNamedCheckpoints: boolean }, source: string,
): Promise<string> {
  const [{ dashboardHtml }, { writeFileAtomic }, { resolve }] = await Promise.all([import('../analyze/dashboard-html.js'), import('../io/fs.js'), import('node:path')]);
  const target = resolve(repo.cwd, out);
  const html = dashboardHtml({
    title: 'Rollback metrics', source, generatedAt: new Date(), report, rollbacks: file.rollbacks, checkpoints: file.checkpoints ?? [], period,
    countNamedCheckpoints: counting.countNamedCheckpoints,
  });
  try {
    writeFileAtomic(target, html);
  } catch (e) {
    throw new UsageError(`could not write the dashboard to ${out}: ${(e as Error).message}`, { next: 'pass a path in an existing, writable folder: `rb metrics --html metrics.html`' });
  }
  return out;
}

function readMetricsFile(path: string, rel: string) {
  try {
    return readMetrics(path);
  } catch (e) {
    if (e instanceof MetricsFormatError) {
      throw new UsageError(e.message, { next: `fix ${rel} (or move it aside to start a new one), then run \`rb metrics\` again` });
    }
    throw e;
  }
}

/** `rb metrics --team`: this clone's metrics.json and every clone's shared records (rb sync fetches them). */
async function teamMetrics(
  repo: ReturnType<typeof findRepo>, path: string, rel: string, period: MetricsPeriod,
  thresholds: Parameters<typeof computeMetrics>[2], counting: Parameters<typeof computeMetrics>[3], opts: MetricsCommandOptions,
): Promise<number> {
  const { teamMetricsFile } = await import('../records/team.js');
  const file = await teamMetricsFile(repo, existsSync(path) ? readMetricsFile(path, rel) : null);
  const report = computeMetrics(file, period, thresholds, counting);
  const source = `${rel} + refs/rb/records/ (${file.writers} ${file.writers === 1 ? 'clone' : 'clones'})`;
  const html = opts.html ? await writeDashboard(repo, opts.html, file, report, period, { countNamedCheckpoints: Boolean(counting?.countNamedCheckpoints) }, source) : null;
  if (opts.json) printJson({ file: rel, team: true, clones: file.writers, ...report, ...(html ? { html } : {}) });
  else print(formatMetrics(report, source) + (file.writers === 1 ? '\n\nOnly this clone\'s records are here: `rb sync` fetches the team\'s.' : '') + (html ? `\n\nDashboard: ${html}` : ''));
  return 0;
}
