/**
 * `rb analyze [--run <id>] [--out <dir>] [--no-archive] [--json]`: write the analysis bundle of
 * a failure (see src/analyze/bundle.ts) and say where it is and what it found. Thin: options →
 * analyze() → output. Exit 0 even when collectors failed (they are recorded in the bundle);
 * exit 2 for an unknown --run or an --out folder that is not empty.
 */
import { analyze, displayPath, type AnalyzeResult } from '../analyze/bundle.js';
import { fmtSeconds } from '../analyze/collectors.js';
import { print, printJson, table } from '../ui/format.js';

export interface AnalyzeCommandOptions {
  run?: string;
  out?: string;
  /** commander's --no-archive sets this to false */
  archive?: boolean;
  json?: boolean;
}

const MARK = { ok: '✔', failed: '✖', timeout: '⏱', skipped: '↓' } as const;

/** The human summary of a bundle. */
export function formatAnalyzeResult(root: string, r: AnalyzeResult): string {
  const out: string[] = [];
  out.push(`Analysis bundle: ${displayPath(root, r.dir)}/ (${r.files.length} files)`);
  if (r.archive) out.push(`Archive:         ${displayPath(root, r.archive)}`);
  const skipped = r.undoneSkipped.length ? `passed over as undone: ${r.undoneSkipped.join(', ')} — analyse one with \`rb analyze --run <id>\`` : '';
  out.push(`Run:             ${r.run ?? (skipped ? 'none still in effect (the analysis describes the current state)' : 'none recorded (the analysis describes the current state)')}`);
  if (skipped) out.push(`                 (${r.run ? 'the latest run still in effect; ' : ''}${skipped})`);
  out.push('', r.concurrent
    ? `Collected concurrently in ${fmtSeconds(r.wallMs)} (${fmtSeconds(r.sumMs)} one after another):`
    : `Collected one after another in ${fmtSeconds(r.wallMs)}:`);
  out.push(table(r.collectors.map((c) => [
    `  ${MARK[c.status]}`, c.file, fmtSeconds(c.durationMs), c.status === 'ok' ? '' : `${c.status}: ${c.reason ?? ''}`,
  ])));
  out.push('', r.causes.length ? 'Likely causes:' : 'Likely causes: none stands out in the collected data.');
  for (const c of r.causes) {
    out.push(`  - ${c.title}`);
    for (const e of c.evidence.slice(0, 3)) out.push(`      ${e}`);
  }
  out.push('', 'Recommended actions:');
  r.actions.forEach((a, i) => out.push(`  ${i + 1}. ${a}`));
  out.push('', `next: read ${displayPath(root, r.dir)}/analysis.md${r.archive ? `, and share ${displayPath(root, r.archive)} with the team` : ''}`);
  return out.join('\n');
}

export async function analyzeCommand(opts: AnalyzeCommandOptions, cmd?: { parent?: { opts(): { cwd?: string } } | null }): Promise<number> {
  const cwd = cmd?.parent?.opts().cwd;
  const r = await analyze({ cwd, run: opts.run, out: opts.out, archive: opts.archive !== false });
  if (opts.json) {
    printJson(r);
    return 0;
  }
  print(formatAnalyzeResult(r.root, r));
  return 0;
}
