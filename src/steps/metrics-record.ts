/**
 * `metrics.record`: append this run to rollbacks/metrics.json (the established format plus rb's
 * fields) — unless the run provably changed nothing (see changedNothing): such a run is not a
 * rollback, and counting it would inflate the rollback rate. It says so instead.
 */
import { z } from '#zod';
import { join } from 'node:path';
import { appendRollback } from '../records/metrics.js';
import { headState } from '../io/repo-state.js';
import type { StepContext, StepKind, StepResult } from './types.js';
import { renderTemplate, scopeOf } from './common.js';

const schema = z
  .object({
    severity: z.enum(['critical', 'high', 'medium', 'low']).optional(),
    cause: z.string().optional(),
    sprint: z.union([z.number().int(), z.string(), z.null()]).optional(),
    level: z.union([z.number().int(), z.null()]).optional(),
    filesChanged: z.union([z.number(), z.string(), z.null()]).optional(),
    testsFailed: z.union([z.number(), z.string(), z.null()]).optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '' || v === 'unknown') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Kinds whose effects rb cannot see (a database rollback in an exec step): a run with one that ran always counts. */
const OPAQUE_KINDS = new Set(['exec', 'deps.install', 'services.stop', 'services.start']);

/**
 * Did the run provably change nothing? Only on positive evidence: some step checked it changed
 * nothing (`unchanged`, e.g. rb files restoring files that already matched), every other
 * destructive step that ran did the same, no step created or moved a ref, and no step whose
 * effects rb cannot see ran. Returns why, or null when the run counts.
 */
function changedNothing(ctx: StepContext): string | null {
  const j = ctx.journal?.();
  if (!j) return null;
  const unchanged: string[] = [];
  for (const s of j.steps) {
    if (s.id === ctx.stepId || s.status !== 'succeeded') continue;
    const r = (ctx.results[s.id] ?? s.result ?? {}) as StepResult;
    if (r.createdRefs?.length || r.movedRefs?.length) return null;
    if (s.kind && OPAQUE_KINDS.has(s.kind)) return null;
    if (r.unchanged === true) unchanged.push(`${s.id} changed nothing`);
    else if (s.destructive) return null;
  }
  return unchanged.length ? unchanged.join('; ') : null;
}

export const metricsRecord: StepKind<With> = {
  kind: 'metrics.record',
  summary: 'append the run to rollbacks/metrics.json with its measured recovery time',
  with: schema,
  destructive: false,
  // figures read from other steps' results ({{steps.tests.failed}}) are rendered here, where a
  // step that was skipped (--no-tests, no test command) reads "unknown" (-> null) instead of
  // failing the run after every destructive step is done
  rawWith: ['filesChanged', 'testsFailed'],
  describe: (w, ctx) => [`append to ${ctx.config.rollbacksDir}/metrics.json (severity ${w.severity ?? ctx.playbook.severity ?? 'unspecified'}, cause ${w.cause ?? ctx.run.cause ?? 'unspecified'})`],
  async run(w, ctx) {
    const nothing = changedNothing(ctx);
    if (nothing) {
      ctx.reporter.warn(`the run changed nothing (${nothing}): not counted as a rollback in ${ctx.config.rollbacksDir}/metrics.json`);
      return { skipped: 'the run changed nothing: not a rollback', counted: false };
    }
    const figure = (v: unknown) => (typeof v === 'string' && v.includes('{{') ? renderTemplate(v, scopeOf(ctx)) : v);
    w = { ...w, filesChanged: figure(w.filesChanged) as With['filesChanged'], testsFailed: figure(w.testsFailed) as With['testsFailed'] };
    const now = Date.now();
    const started = Date.parse(ctx.run.startedAt);
    const durationMs = now - started;
    // the branch the run started on; only a run that started detached asks git for the current one
    const branch = ctx.run.branch ?? ((await headState(ctx.repo)).ref?.replace(/^refs\/heads\//, '') || null);
    const entry = {
      timestamp: new Date(now).toISOString(),
      sprint: num(w.sprint),
      severity: w.severity ?? ctx.playbook.severity ?? 'unspecified',
      cause: w.cause ?? ctx.run.cause ?? 'unspecified',
      recovery_time_minutes: Math.round((durationMs / 60000) * 100) / 100,
      run_id: ctx.run.id,
      level: w.level ?? ctx.playbook.level ?? null,
      playbook: ctx.playbook.name,
      duration_ms: durationMs,
      baseline: ctx.baseline.name,
      branch,
      files_changed: num(w.filesChanged),
      tests_failed: num(w.testsFailed),
      undone: false,
    };
    const file = join(ctx.repo.root, ctx.config.rollbacksDir, 'metrics.json');
    appendRollback(file, entry);
    ctx.reporter.output(`recorded ${entry.recovery_time_minutes} min (${entry.severity}, ${entry.cause})`);
    return { entry };
  },
};
