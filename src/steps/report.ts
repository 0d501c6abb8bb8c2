/**
 * `report`: render a markdown template (inline, or a file in the repository) into a file under
 * rollbacks/. Besides the run's values, a template reads `report.*`: date, elapsed, snapshot,
 * steps, warnings, and `report.tests` — the Tests lines of the playbook's tests.run steps,
 * whatever became of them (testsReportLines: ran, could not run, not run), naming an output file
 * only when it was written; and `report.undo`, what `rb undo` gives back and what to run after
 * it. With `append`, the text is added to the end of the file (a section written once later
 * steps ran, e.g. what the sprint's WIP commit left out).
 */
import { z } from '#zod';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/fs.js';
import type { StepKind } from './types.js';
import { recordPath, renderTemplate, repoPath, repoRelative, scopeOf, stepsOfKind } from './common.js';
import { testsReportLines } from './tests-run.js';
import { undoFollowUps } from './undo-follow-ups.js';

/** `{{report.undo}}`: what `rb undo` gives back, and what is left to do after it. */
function undoText(runId: string, followUps: string[]): string {
  if (!followUps.length) return `\`rb undo ${runId}\` restores everything`;
  return `\`rb undo ${runId}\` restores every file, but not the installed dependencies; after it, ${followUps.join('; ')}`;
}

const schema = z
  .object({
    template: z.string().min(1).optional(),
    templateFile: z.string().min(1).optional(),
    to: z.string().min(1),
    /** add to the end of the file instead of replacing it */
    append: z.boolean().optional(),
  })
  .strict()
  .refine((w) => Boolean(w.template) !== Boolean(w.templateFile), { message: 'give exactly one of template or templateFile' });
type With = z.infer<typeof schema>;

export const report: StepKind<With> = {
  kind: 'report',
  summary: 'render a markdown template into a file under rollbacks/ ({{ }} values that are unknown read "unknown")',
  with: schema,
  destructive: false,
  rawWith: ['template'],
  templateRoots: ['report'],
  describe: (w, ctx) => [`${w.append ? 'append to' : 'write'} ${ctx.config.rollbacksDir}/${w.to}${w.templateFile ? ` from ${w.templateFile}` : ''}`],
  async run(w, ctx) {
    const template = w.template ?? readFileSync(repoPath(ctx, w.templateFile), 'utf8');
    const scope = scopeOf(ctx);
    const j = ctx.journal?.();
    const elapsed = Date.now() - Date.parse(ctx.run.startedAt);
    scope.report = {
      date: new Date().toISOString(),
      elapsed: `${(elapsed / 1000).toFixed(1)}s`,
      elapsedMinutes: Math.round((elapsed / 60000) * 100) / 100,
      snapshot: j?.snapshot ?? 'none',
      steps: j ? j.steps.filter((s) => s.id !== ctx.stepId && s.status !== 'pending').map((s) => `- ${s.status === 'succeeded' ? '✔' : s.status === 'failed' ? '✖' : s.status === 'skipped' ? '↓' : '·'} ${s.title} — ${s.status}${s.error ? `: ${s.error}` : ''}`).join('\n') : 'unknown',
      warnings: j && j.warnings.length ? j.warnings.map((w) => `- ${w}`).join('\n') : '- none',
      tests: stepsOfKind(ctx.playbook.steps, 'tests.run').map((t) => {
        const status = j?.steps.find((s) => s.id === t.id)?.status;
        const why = status === 'skipped' && t.when ? `turned off for this run: ${t.when} is false` : status === 'pending' ? 'not run yet when this report was written' : undefined;
        return testsReportLines(ctx.results[t.id] as Parameters<typeof testsReportLines>[0], status, why);
      }).join('\n') || '- Tests: none in this playbook',
      undo: undoText(ctx.run.id, j ? undoFollowUps(j) : []),
    };
    const rendered = renderTemplate(template, scope);
    const out = recordPath(ctx, w.to);
    const before = w.append && existsSync(out) ? readFileSync(out, 'utf8') : '';
    const text = before + (before && !before.endsWith('\n') ? '\n' : '') + rendered;
    writeFileAtomic(out, text.endsWith('\n') ? text : text + '\n');
    ctx.reporter.output(`${w.append ? 'added to' : 'wrote'} ${repoRelative(ctx, out)}`);
    return { file: repoRelative(ctx, out), report: repoRelative(ctx, out) };
  },
};
