/**
 * How `rb check` reports: a table on a terminal, plain `status  id  reason` lines otherwise,
 * one JSON document with --json; under GitHub Actions (GITHUB_ACTIONS=true) also `::error` /
 * `::warning` workflow commands (annotations) for failing and warning checks, and a markdown
 * table appended to the file named by $GITHUB_STEP_SUMMARY. "next:" lines, naming what to run
 * for each failing check, go to stderr.
 *
 * The format* functions are pure (they return text); emitReport writes through the streams it
 * is given, so tests can capture everything.
 */
import { appendFileSync } from 'node:fs';
import type { CheckReport, CheckStatus } from './types.js';

const MARK: Record<CheckStatus, string> = { pass: '✔', warn: '!', fail: '✖' };
const COLOR: Record<CheckStatus, string> = { pass: '\u001b[32m', warn: '\u001b[33m', fail: '\u001b[31m' };
const RESET = '\u001b[0m';
const DIM = '\u001b[2m';

function counts(report: CheckReport): { pass: number; warn: number; fail: number } {
  const c = { pass: 0, warn: 0, fail: 0 };
  for (const r of report.checks) c[r.status]++;
  return c;
}

/** "1 failed, 1 warning, 5 passed" */
export function countsLine(report: CheckReport): string {
  const c = counts(report);
  return [c.fail ? `${c.fail} failed` : '', c.warn ? `${c.warn} warning${c.warn === 1 ? '' : 's'}` : '', `${c.pass} passed`].filter(Boolean).join(', ');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** What happened to the checkpoint, in one line. */
export function checkpointLine(report: CheckReport): string {
  const cp = report.checkpoint;
  if (cp?.tag) {
    return `checkpoint: tag ${cp.tag} at ${cp.commit.slice(0, 12)}${cp.branch ? ` on ${cp.branch}` : ''} (a local tag; rb never pushes it)${cp.metrics ? `, recorded in ${cp.metrics}` : ''}`;
  }
  if (cp) return `checkpoint: no tag (${cp.warnings.join('; ')})`;
  return `no checkpoint: ${report.checkpointSkipped ?? 'not taken'}`;
}

/** Where the baseline's tests ran, when that was the kept worktree (it stays, and takes disk). */
export function worktreeLine(report: CheckReport): string | null {
  const w = report.worktree;
  if (w?.kind !== 'kept') return null;
  return `kept worktree: ${w.path}${w.created ? ' (created)' : ''} — kept for the next check; \`rb check --prune-worktree\` removes it`;
}

/** The report as a table (for a terminal). */
export function formatTable(report: CheckReport, opts: { color?: boolean } = {}): string {
  const paint = (s: CheckStatus, text: string) => (opts.color ? `${COLOR[s]}${text}${RESET}` : text);
  const dim = (text: string) => (opts.color ? `${DIM}${text}${RESET}` : text);
  const width = Math.max(5, ...report.checks.map((c) => c.title.length));
  const out: string[] = [];
  out.push(`rb check${report.root ? `  ${report.root}` : ''}`, '');
  out.push(`    ${'CHECK'.padEnd(width)}  RESULT`);
  for (const c of report.checks) {
    out.push(`${paint(c.status, `${MARK[c.status]} `)}  ${c.title.padEnd(width)}  ${c.reason}`);
    for (const d of c.details ?? []) out.push(dim(`    ${' '.repeat(width)}    ${d}`));
  }
  out.push('');
  const status: CheckStatus = report.ok ? (counts(report).warn ? 'warn' : 'pass') : 'fail';
  out.push(paint(status, `${MARK[report.ok ? 'pass' : 'fail']} rb check ${report.ok ? 'passed' : 'failed'}: ${countsLine(report)} (${seconds(report.durationMs)})`));
  out.push(`  ${checkpointLine(report)}`);
  for (const w of report.checkpoint?.warnings ?? []) if (report.checkpoint?.tag) out.push(`  warning: ${w}`);
  const kept = worktreeLine(report);
  if (kept) out.push(dim(`  ${kept}`));
  return out.join('\n') + '\n';
}

/** The report as plain lines (logs, pipes): `<status>  <id>  <reason>`, details indented. */
export function formatPlain(report: CheckReport): string {
  const width = Math.max(...report.checks.map((c) => c.id.length));
  const out: string[] = [];
  if (report.root) out.push(`rb check: ${report.root}`);
  for (const c of report.checks) {
    out.push(`${c.status}  ${c.id.padEnd(width)}  ${c.reason}`);
    for (const d of c.details ?? []) out.push(`      ${' '.repeat(width)}  ${d}`);
  }
  out.push(`rb check: ${report.ok ? 'passed' : 'failed'} (${countsLine(report)}) in ${seconds(report.durationMs)}`);
  out.push(checkpointLine(report));
  for (const w of report.checkpoint?.warnings ?? []) if (report.checkpoint?.tag) out.push(`warning: ${w}`);
  const kept = worktreeLine(report);
  if (kept) out.push(kept);
  return out.join('\n') + '\n';
}

/** The --json document: `{ ok, checks, tag, … }`. */
export function formatJson(report: CheckReport): string {
  const { ok, checks, tag, ...rest } = report;
  return JSON.stringify({ ok, checks, tag, ...rest }, null, 2) + '\n';
}

/** The "next:" lines for the failing checks (stderr). */
export function formatNext(report: CheckReport): string {
  if (report.ok) return '';
  const failed = report.checks.filter((c) => c.status === 'fail');
  const lines = [`rb: ${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((c) => c.id).join(', ')}.`];
  for (const c of failed) lines.push(`next: ${c.next ? `${c.next}  (${c.id})` : `see the ${c.id} check above`}`);
  lines.push('next: run `rb check` again once they are fixed');
  return lines.join('\n') + '\n';
}

// ---- GitHub Actions -------------------------------------------------------------------------

/** Escape a workflow command's message (as @actions/core does). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escape a workflow command's property value. */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error title=rb check::…` for each failing check, `::warning …` for each warning. */
export function githubAnnotations(report: CheckReport): string[] {
  return report.checks
    .filter((c) => c.status !== 'pass')
    .map((c) => `::${c.status === 'fail' ? 'error' : 'warning'} title=${escapeProperty('rb check')}::${escapeData(`${c.title}: ${c.reason}${c.next ? ` — next: ${c.next}` : ''}`)}`);
}

function cell(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function fenced(lines: string[]): string {
  const longest = Math.max(2, ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${lines.join('\n')}\n${fence}`;
}

const ICON: Record<CheckStatus, string> = { pass: '✅', warn: '⚠️', fail: '❌' };

/** The markdown summary for $GITHUB_STEP_SUMMARY. */
export function githubSummary(report: CheckReport): string {
  const out: string[] = [];
  out.push(`### rb check: ${report.ok ? '✅ passed' : '❌ failed'}`, '');
  out.push(`${countsLine(report)} · ${seconds(report.durationMs)}`, '');
  out.push('| | Check | Result |', '|:-:|---|---|');
  for (const c of report.checks) out.push(`| ${ICON[c.status]} | ${cell(c.title)} | ${cell(c.reason)} |`);
  out.push('');
  for (const c of report.checks) {
    if (c.status === 'pass' || !c.details?.length) continue;
    out.push(`<details><summary>${cell(c.title)}</summary>`, '', fenced(c.details), '', '</details>', '');
  }
  const cp = report.checkpoint;
  if (cp?.tag) out.push(`Checkpoint: \`${cp.tag}\` at \`${cp.commit.slice(0, 12)}\` (a local tag of this run; rb never pushes it).`, '');
  else out.push(`${cell(checkpointLine(report))}`, '');
  const failed = report.checks.filter((c) => c.status === 'fail' && c.next);
  if (failed.length) {
    out.push('**Next:**', '');
    for (const c of failed) out.push(`- ${cell(c.title)}: ${cell(c.next!)}`);
    out.push('');
  }
  return out.join('\n') + '\n';
}

// ---- writing ----------------------------------------------------------------------------------

export interface EmitOptions {
  json?: boolean;
  /** stdout is a terminal: a table instead of plain lines */
  tty?: boolean;
  color?: boolean;
  /** the environment to read GITHUB_ACTIONS and GITHUB_STEP_SUMMARY from */
  env?: NodeJS.ProcessEnv;
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
}

/**
 * Write the report. Under GitHub Actions the annotations go to stdout (to stderr with --json, so
 * stdout stays one JSON document; the runner reads workflow commands from both) and the summary
 * is appended to $GITHUB_STEP_SUMMARY when that is set.
 */
export function emitReport(report: CheckReport, opts: EmitOptions = {}): void {
  const out = opts.stdout ?? ((s: string) => void process.stdout.write(s));
  const err = opts.stderr ?? ((s: string) => void process.stderr.write(s));
  const env = opts.env ?? process.env;
  if (opts.json) out(formatJson(report));
  else out(opts.tty ? formatTable(report, { color: opts.color }) : formatPlain(report));
  if (env.GITHUB_ACTIONS === 'true') {
    const lines = githubAnnotations(report);
    if (lines.length) (opts.json ? err : out)(lines.join('\n') + '\n');
    const file = env.GITHUB_STEP_SUMMARY;
    if (file) {
      try {
        appendFileSync(file, githubSummary(report));
      } catch (e) {
        err(`rb: warning: could not append the summary to ${file}: ${(e as Error).message}\n`);
      }
    }
  }
  const next = formatNext(report);
  if (next) err(next);
}

