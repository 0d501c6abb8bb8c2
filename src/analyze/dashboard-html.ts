/**
 * The metrics dashboard (issue 20): one self-contained HTML page — inline SVG and CSS, no
 * script, no font, no image, nothing fetched from the network — written by
 * `rb metrics --html <file>` (this clone's records, or the team's with --team) and as index.html
 * of every `rb analyze` bundle. Pure: data in, text out.
 *
 * Four charts, each a <figure data-chart="…"> holding one <svg>:
 *   weeks     rollbacks per ISO week, stacked by level
 *   recovery  recovery time of each rollback against its level's target (L1 < 5 min, L2 < 15, L3 < 30)
 *   rate      the rollback rate after each sprint start (checkpoints), against the healthy line (5 %)
 *   causes    rollbacks by cause
 */
import type { Checkpoint, MetricsEntry } from '../records/metrics.js';
import { entryTime, weekLabel, type MetricsPeriod, type MetricsReport } from './metrics-stats.js';

/** Recovery-time objectives of the three levels, in minutes (architecture §2; playbooks' `target:`). */
export const RECOVERY_TARGETS: Record<string, number> = { '1': 5, '2': 15, '3': 30 };

const LEVEL_COLORS: Record<string, string> = { '1': '#c0392b', '2': '#e67e22', '3': '#2980b9', other: '#7f8c8d' };

export interface DashboardInput {
  title: string;
  /** where the numbers come from (a file, "+ the team's records") */
  source: string;
  generatedAt: Date;
  report: MetricsReport;
  rollbacks: readonly MetricsEntry[];
  checkpoints: readonly Checkpoint[];
  period: MetricsPeriod;
  countNamedCheckpoints: boolean;
  /** an extra section first (rb analyze: the run it explains, its likely causes, the bundle's files) */
  intro?: { heading: string; lines: string[]; files?: string[] };
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const pct = (r: number) => `${Math.round(r * 1000) / 10}%`;
const levelOf = (e: MetricsEntry) => (e.level === 1 || e.level === 2 || e.level === 3 ? String(e.level) : typeof e.level === 'string' && /^[123]$/.test(e.level) ? e.level : 'other');
const inPeriod = (t: number | null, p: MetricsPeriod) => t !== null && (p.since === undefined || t >= p.since) && (p.until === undefined || t <= p.until);

/** The rollbacks the report counts (dated, in the period, not undone). */
function countedRollbacks(input: DashboardInput): { e: MetricsEntry; t: number }[] {
  const out: { e: MetricsEntry; t: number }[] = [];
  for (const e of input.rollbacks) {
    if (!e || typeof e !== 'object' || e.undone === true) continue;
    const t = entryTime(e.timestamp);
    if (inPeriod(t, input.period)) out.push({ e, t: t! });
  }
  return out.sort((a, b) => a.t - b.t);
}

export function dashboardHtml(input: DashboardInput): string {
  const counted = countedRollbacks(input);
  const r = input.report;
  const sections = [
    input.intro ? introSection(input.intro) : '',
    summarySection(r),
    figure('weeks', 'Rollbacks per week, by level', weeksChart(r, counted)),
    figure('recovery', 'Recovery time against the target of each level (L1 < 5 min, L2 < 15, L3 < 30)', recoveryChart(counted)),
    figure('rate', `Rollback rate after each sprint start, against the ${pct(r.thresholds.healthyRate)} line`, rateChart(input, counted)),
    figure('causes', 'Rollbacks by cause', causesChart(r)),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(input.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem;margin-bottom:.2rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem}
.source{color:#666;margin-top:0} figure{margin:1.2rem 0} figcaption{font-weight:600;margin-bottom:.4rem}
svg{max-width:100%;height:auto;background:#fafafa;border:1px solid #eee} svg text{font:11px system-ui,sans-serif;fill:#333}
table{border-collapse:collapse} td,th{padding:.15rem .8rem .15rem 0;text-align:left} .empty{fill:#888}
.legend span{display:inline-block;margin-right:1rem} .legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<p class="source">${escapeHtml(input.source)} · generated ${escapeHtml(input.generatedAt.toISOString())}</p>
${sections.filter(Boolean).join('\n')}
</body>
</html>
`;
}

function introSection(intro: NonNullable<DashboardInput['intro']>): string {
  const files = intro.files?.length ? `<p>Files of this bundle: ${intro.files.map((f) => `<a href="${escapeHtml(encodeURI(f))}">${escapeHtml(f)}</a>`).join(' · ')}</p>` : '';
  return `<section id="intro"><h2>${escapeHtml(intro.heading)}</h2>${intro.lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')}${files}</section>`;
}

function summarySection(r: MetricsReport): string {
  const rows: [string, string][] = [
    ['Rollbacks', `${r.total}${r.undone ? ` (+${r.undone} undone, not counted)` : ''}`],
    ['Recovery time', r.recovery.median === null ? 'unknown' : `median ${r.recovery.median} min · average ${r.recovery.average} min`],
    ['Sprint starts', String(r.sprints)],
    ['Rollback rate', r.rate === null ? 'unknown (no sprint start recorded: run `rb check` at the start of each sprint)' : `${pct(r.rate)} — ${r.status} (healthy under ${pct(r.thresholds.healthyRate)})`],
  ];
  return `<section id="summary"><table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table></section>`;
}

function figure(id: string, caption: string, svg: string): string {
  return `<figure id="chart-${id}" data-chart="${id}"><figcaption>${escapeHtml(caption)}</figcaption>\n${svg}\n</figure>`;
}

/** An <svg> of the given size with a title for screen readers. */
function svg(w: number, h: number, title: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>${body}</svg>`;
}

const emptyNote = (w: number, h: number, text: string) => `<text class="empty" x="${w / 2}" y="${h / 2}" text-anchor="middle">${escapeHtml(text)}</text>`;

function legend(levels: string[]): string {
  return `<div class="legend">${levels.map((l) => `<span><i style="background:${LEVEL_COLORS[l]}"></i>${l === 'other' ? 'other / unknown level' : `level ${l}`}</span>`).join('')}</div>`;
}

function weeksChart(r: MetricsReport, counted: { e: MetricsEntry; t: number }[]): string {
  const W = 760;
  const H = 240;
  const weeks = r.weeks.slice(-52);
  if (!weeks.length) return svg(W, H, 'no rollbacks', emptyNote(W, H, 'No rollbacks recorded in this period'));
  const byWeek = new Map<string, Record<string, number>>();
  for (const { e, t } of counted) {
    const w = weekLabel(t);
    const m = byWeek.get(w) ?? {};
    const l = levelOf(e);
    m[l] = (m[l] ?? 0) + 1;
    byWeek.set(w, m);
  }
  const max = Math.max(1, ...weeks.map((w) => w.count));
  const left = 30;
  const bottom = H - 40;
  const plotH = bottom - 15;
  const step = (W - left - 10) / weeks.length;
  const bw = Math.max(2, Math.min(28, step * 0.7));
  let body = axisY(left, bottom, plotH, max, W);
  weeks.forEach((w, i) => {
    const x = left + i * step + (step - bw) / 2;
    let y = bottom;
    for (const l of ['1', '2', '3', 'other']) {
      const n = byWeek.get(w.week)?.[l] ?? 0;
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      body += `<rect data-week="${w.week}" data-level="${l}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${LEVEL_COLORS[l]}"><title>${w.week}: ${n} at ${l === 'other' ? 'an unknown level' : `level ${l}`}</title></rect>`;
    }
    if (weeks.length <= 16 || i % Math.ceil(weeks.length / 16) === 0) body += `<text x="${(x + bw / 2).toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${w.week.slice(5)}</text>`;
  });
  body += `<text x="${left}" y="${H - 6}">ISO week (${weeks[0]!.week.slice(0, 4)}${weeks.at(-1)!.week.slice(0, 4) !== weeks[0]!.week.slice(0, 4) ? `–${weeks.at(-1)!.week.slice(0, 4)}` : ''})</text>`;
  return legend(['1', '2', '3', 'other']) + svg(W, H, 'rollbacks per week by level', body);
}

function axisY(left: number, bottom: number, plotH: number, max: number, W: number, fmt: (v: number) => string = (v) => String(v)): string {
  let s = `<line x1="${left}" y1="${bottom}" x2="${W - 5}" y2="${bottom}" stroke="#999"/>`;
  const ticks = max <= 5 ? max : 4;
  for (let i = 1; i <= ticks; i++) {
    const v = (max / ticks) * i;
    const y = bottom - (v / max) * plotH;
    s += `<line x1="${left}" y1="${y.toFixed(1)}" x2="${W - 5}" y2="${y.toFixed(1)}" stroke="#e5e5e5"/><text x="${left - 4}" y="${(y + 4).toFixed(1)}" text-anchor="end">${fmt(Number.isInteger(v) ? v : Math.round(v * 10) / 10)}</text>`;
  }
  return s;
}

function recoveryChart(counted: { e: MetricsEntry; t: number }[]): string {
  const W = 760;
  const H = 260;
  const levels = ['1', '2', '3'];
  const points = counted
    .map(({ e }) => ({ level: levelOf(e), min: Number(e.recovery_time_minutes), id: String(e.run_id ?? e.timestamp) }))
    .filter((p) => levels.includes(p.level) && Number.isFinite(p.min) && p.min >= 0);
  if (!points.length) return svg(W, H, 'no recovery times', emptyNote(W, H, 'No recovery time recorded for a level 1, 2 or 3 rollback'));
  const max = Math.max(35, ...points.map((p) => p.min)) * 1.1;
  const left = 40;
  const bottom = H - 30;
  const plotH = bottom - 15;
  const band = (W - left - 10) / levels.length;
  let body = axisY(left, bottom, plotH, Math.ceil(max), W, (v) => `${v}m`);
  levels.forEach((l, i) => {
    const x0 = left + i * band;
    const target = RECOVERY_TARGETS[l]!;
    const ty = bottom - (target / max) * plotH;
    const mine = points.filter((p) => p.level === l);
    const within = mine.filter((p) => p.min < target).length;
    body += `<line data-target="${l}" x1="${(x0 + 10).toFixed(1)}" y1="${ty.toFixed(1)}" x2="${(x0 + band - 10).toFixed(1)}" y2="${ty.toFixed(1)}" stroke="#27ae60" stroke-width="2" stroke-dasharray="6 3"><title>level ${l} target: under ${target} min</title></line>`;
    body += `<text x="${(x0 + band - 12).toFixed(1)}" y="${(ty - 4).toFixed(1)}" text-anchor="end" style="fill:#27ae60">target ${target}m</text>`;
    mine.forEach((p, j) => {
      const x = x0 + 20 + ((j + 0.5) / mine.length) * (band - 40);
      const y = bottom - (p.min / max) * plotH;
      body += `<circle data-level="${l}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" fill="${p.min < target ? LEVEL_COLORS[l] : '#000'}"><title>${escapeHtml(p.id)}: ${p.min} min (${p.min < target ? 'within' : 'over'} the ${target} min target)</title></circle>`;
    });
    body += `<text x="${(x0 + band / 2).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">level ${l}: ${mine.length ? `${within} of ${mine.length} within target` : 'none'}</text>`;
  });
  return svg(W, H, 'recovery time against targets', body);
}

function rateChart(input: DashboardInput, counted: { e: MetricsEntry; t: number }[]): string {
  const W = 760;
  const H = 240;
  const t = input.report.thresholds;
  const starts = input.checkpoints
    .filter((c) => c && typeof c === 'object' && (input.countNamedCheckpoints || c.kind !== 'named'))
    .map((c) => entryTime(c.timestamp))
    .filter((x): x is number => inPeriod(x, input.period))
    .sort((a, b) => a - b);
  if (!starts.length) return svg(W, H, 'no sprint starts', emptyNote(W, H, 'No sprint start recorded: run `rb check` at the start of each sprint'));
  // after sprint i started: rollbacks so far / sprints so far (the rate `rb metrics` prints, over time)
  const series = starts.map((s, i) => {
    const until = starts[i + 1] ?? Number.POSITIVE_INFINITY;
    const rollbacks = counted.filter((c) => c.t < until).length;
    return { sprint: i + 1, at: s, rate: rollbacks / (i + 1), rollbacks };
  });
  const max = Math.max(t.reviewRate * 1.5, ...series.map((p) => p.rate)) * 1.1;
  const left = 46;
  const bottom = H - 30;
  const plotH = bottom - 15;
  const step = series.length > 1 ? (W - left - 30) / (series.length - 1) : 0;
  const xy = (i: number, v: number) => [left + 10 + i * step, bottom - (v / max) * plotH] as const;
  let body = axisY(left, bottom, plotH, max, W, (v) => pct(v));
  for (const [name, v, color] of [['healthy', t.healthyRate, '#27ae60'], ['review', t.reviewRate, '#e67e22']] as const) {
    const y = bottom - (v / max) * plotH;
    body += `<line data-threshold="${name}" x1="${left}" y1="${y.toFixed(1)}" x2="${W - 5}" y2="${y.toFixed(1)}" stroke="${color}" stroke-width="2" stroke-dasharray="6 3"><title>${name}: ${pct(v)}</title></line><text x="${W - 8}" y="${(name === 'healthy' ? y + 12 : y - 4).toFixed(1)}" text-anchor="end" style="fill:${color}">${pct(v)} ${name}</text>`;
  }
  body += `<polyline fill="none" stroke="#2c3e50" stroke-width="2" points="${series.map((p, i) => xy(i, p.rate).map((n) => n.toFixed(1)).join(',')).join(' ')}"/>`;
  series.forEach((p, i) => {
    const [x, y] = xy(i, p.rate);
    body += `<circle data-sprint="${p.sprint}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3.5" fill="${p.rate < t.healthyRate ? '#27ae60' : p.rate <= t.reviewRate ? '#e67e22' : '#c0392b'}"><title>after sprint ${p.sprint} (${new Date(p.at).toISOString().slice(0, 10)}): ${p.rollbacks} rollbacks / ${p.sprint} sprints = ${pct(p.rate)}</title></circle>`;
    if (series.length <= 16 || i % Math.ceil(series.length / 16) === 0) body += `<text x="${x.toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${p.sprint}</text>`;
  });
  body += `<text x="${left}" y="${H - 4}">sprint (sprint starts: rb check checkpoints)</text>`;
  return svg(W, H, 'rollback rate per sprint', body);
}

function causesChart(r: MetricsReport): string {
  const W = 760;
  const entries = Object.entries(r.byCause).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const H = Math.max(60, 24 * entries.length + 20);
  if (!entries.length) return svg(W, H, 'no causes', emptyNote(W, H, 'No rollbacks recorded in this period'));
  const max = Math.max(...entries.map((e) => e[1]));
  const left = 170;
  let body = '';
  entries.forEach(([cause, n], i) => {
    const y = 10 + i * 24;
    const w = (n / max) * (W - left - 50);
    body += `<text x="${left - 6}" y="${y + 13}" text-anchor="end">${escapeHtml(cause.length > 26 ? cause.slice(0, 25) + '…' : cause)}</text><rect data-cause="${escapeHtml(cause)}" x="${left}" y="${y}" width="${Math.max(1, w).toFixed(1)}" height="16" fill="#8e44ad"><title>${escapeHtml(cause)}: ${n}</title></rect><text x="${(left + w + 6).toFixed(1)}" y="${y + 13}">${n}</text>`;
  });
  return svg(W, H, 'rollbacks by cause', body);
}
