/**
 * analysis.md of an analysis bundle: timeline, test summary, likely causes with their evidence,
 * recommended actions, the collected files and how secrets were handled. Pure: text from data.
 * Values that are not known read "unknown".
 */
import type { Cause, TestsSeen } from './causes.js';
import type { CollectorResult } from './collectors.js';
import { fmtSeconds } from './collectors.js';
import { SECRET_NAME } from './redact.js';
import { countsText, errorWhere } from '../records/test-output.js';

export interface AnalysisDoc {
  stamp: string;
  generatedAt: string;
  root: string;
  run: null | {
    id: string;
    title: string;
    playbook: string;
    level: number | null;
    severity: string | null;
    status: string;
    startedAt: string;
    endedAt: string | null;
    durationMs: number | null;
    reason: string | null;
    snapshot: string | null;
  };
  /** why there is no run, when there is none */
  noRun?: string;
  baseline: { name: string; line: string | null };
  failed: { branch: string | null; line: string | null; backupBranch: string | null; retryBranch: string | null; recoveryBranch: string | null; workingTree: boolean };
  tests: TestsSeen[];
  causes: Cause[];
  actions: string[];
  collectors: CollectorResult[];
  /** other files of the bundle (run.json, report.md, …) with what they are */
  extraFiles: { file: string; title: string }[];
  wallMs: number;
  sumMs: number;
  concurrent: boolean;
  secretCount: number;
}

const code = (s: string) => `\`${s.replace(/`/g, "'")}\``;
const orUnknown = (s: string | null | undefined) => (s === null || s === undefined || s === '' ? 'unknown' : s);

function testLine(t: TestsSeen): string {
  const s = t.summary;
  if (t.notRun) return `- **${t.label}:** the test command${t.command ? ` ${code(t.command)}` : ''} could not run: ${t.notRun.message}${t.notRun.next ? ` — next: ${t.notRun.next}` : ''}`;
  const load = (s.errors ?? []).slice(0, 5).map((e) => `\n  - failed to load: ${code(e.message)} ${errorWhere(e, s.framework)}`).join('');
  if (s.framework === 'unknown' || (s.passed === null && s.failed === null && !s.loadFailures)) {
    return `- **${t.label}:** output not recognised as a known test runner's summary${t.exitCode !== null ? `; exit ${t.exitCode}` : ''}`;
  }
  const counts = countsText({ framework: s.framework, passed: s.passed, failed: s.failed, skipped: null, loadFailures: s.loadFailures ?? null });
  const names = s.failures.length ? ` — failing: ${s.failures.slice(0, 10).map(code).join(', ')}${s.failures.length > 10 ? ` and ${s.failures.length - 10} more` : ''}` : '';
  return `- **${t.label}** (${s.framework}): ${counts}${t.exitCode !== null ? ` (exit ${t.exitCode})` : ''}${names}${load}`;
}

function collectorResult(c: CollectorResult): string {
  switch (c.status) {
    case 'ok': return 'ok';
    case 'skipped': return `skipped: ${c.reason}`;
    case 'timeout': return `**timed out**: ${c.reason}`;
    default: return `**failed**: ${c.reason}`;
  }
}

export function renderAnalysis(d: AnalysisDoc): string {
  const out: string[] = [];
  out.push(`# Rollback analysis — ${d.stamp}`, '');
  out.push(`Generated ${d.generatedAt} by \`rb analyze\` in ${code(d.root)}.`);
  if (d.run) {
    const r = d.run;
    out.push(`Run ${code(r.id)}: ${r.title} (playbook ${r.playbook}${r.level !== null ? `, level ${r.level}` : ''}${r.severity ? `, severity ${r.severity}` : ''}), ${r.status}.`);
  } else {
    out.push(d.noRun ?? 'No level run is recorded in this repository: the timeline describes the current state.');
  }

  out.push('', '## Timeline', '');
  if (d.run) out.push(`- **Failure detected:** ${d.run.startedAt} — run ${code(d.run.id)} started; reason: ${orUnknown(d.run.reason)}`);
  out.push(`- **Last good commit on the baseline** (${code(d.baseline.name)}): ${d.baseline.line ? code(d.baseline.line) : 'unknown (the baseline does not resolve)'}`);
  const f = d.failed;
  const failedAt = f.line ? code(f.line) : 'unknown';
  if (f.workingTree) out.push(`- **Current state** (branch ${f.branch ? code(f.branch) : '(detached HEAD)'}): ${failedAt}, plus any uncommitted changes`);
  else out.push(`- **Failed branch:** ${f.branch ? code(f.branch) : '(detached HEAD)'}, head ${failedAt}${f.backupBranch ? `; the work is kept on ${code(f.backupBranch)}` : ''}`);
  if (d.run) {
    const took = d.run.durationMs !== null ? ` in ${fmtSeconds(d.run.durationMs)}` : '';
    const next = [
      f.retryBranch ? `retry branch ${code(f.retryBranch)}` : null,
      f.recoveryBranch ? `recovery branch ${code(f.recoveryBranch)}` : null,
      d.run.snapshot ? `snapshot ${code(d.run.snapshot)}` : null,
    ].filter(Boolean).join('; ');
    out.push(`- **Rollback ${d.run.status}:** ${orUnknown(d.run.endedAt)}${took}${next ? `; ${next}` : ''}`);
  }
  out.push(`- **This analysis:** ${d.generatedAt}`);

  out.push('', '## Test summary', '');
  if (d.tests.length) out.push(...d.tests.map(testLine));
  else out.push('- No test results: no test command is configured (set `test` in rb.config.yaml) and the run recorded none.');

  out.push('', '## Likely causes', '');
  if (!d.causes.length) {
    out.push('No likely cause stands out in the collected data (no lockfile change, import error, build error, failing test or very large change was found). Read test_results.txt and git_graph.txt.');
  }
  d.causes.forEach((c, i) => {
    out.push(`### ${i + 1}. ${c.title}`, '', 'What the data shows:', '', ...c.evidence.map((e) => `- ${e}`), '');
  });

  if (out[out.length - 1] === '') out.pop();
  out.push('', '## Recommended actions', '');
  d.actions.forEach((a, i) => out.push(`${i + 1}. ${a}`));

  out.push('', '## Collected data', '');
  out.push('| file | what | result | took |', '|---|---|---|---|');
  for (const c of d.collectors) out.push(`| ${c.file} | ${c.title} | ${collectorResult(c).replace(/\|/g, '\\|')} | ${fmtSeconds(c.durationMs)} |`);
  for (const x of d.extraFiles) out.push(`| ${x.file} | ${x.title} | copied | |`);
  out.push('', d.concurrent
    ? `The collectors ran concurrently in ${fmtSeconds(d.wallMs)} (their times add up to ${fmtSeconds(d.sumMs)}). A collector that failed or timed out is recorded above and in its file; it did not stop the others.`
    : `The collectors ran one after another in ${fmtSeconds(d.wallMs)}.`);

  out.push('', '## Secrets', '');
  out.push(`\`.env\` files were not read. In every file of this bundle, the value of each environment variable whose name matches ${code(SECRET_NAME.source)} (any case, values of 4 characters or more) is replaced by \`[REDACTED:<NAME>]\`, as are credentials written into URLs (the \`user:password@\` part) and the notification webhook URL; ${d.secretCount === 1 ? '1 such value was' : `${d.secretCount} such values were`} set when this bundle was made. Review the bundle before sharing it outside the team all the same: a secret under an innocent name cannot be recognised.`);
  return out.join('\n') + '\n';
}
