/**
 * Small pieces shared by step kinds: the zod shape of a command, safe paths inside the
 * rollbacks folder, and report-style rendering where a missing value reads "unknown".
 */
import { z } from 'zod';
import { isAbsolute, join, normalize, relative, resolve } from 'node:path';
import type { PlanContext } from './types.js';
import { interpolate, resolvePath } from '../playbook/interpolate.js';
import { planScope } from '../playbook/plan.js';
import { displayArgv } from '../io/git.js';
import type { Command } from '../types.js';

export const commandSchema = z.union([z.string().min(1), z.array(z.string()).min(1)]);

export function displayCommand(c: Command): string {
  return typeof c === 'string' ? c : displayArgv(c);
}

/** Absolute path of a file under the rollbacks folder; refuses anything that escapes it. */
export function recordPath(ctx: PlanContext, rel: string): string {
  const base = resolve(ctx.repo.root, ctx.config.rollbacksDir);
  const p = resolve(base, normalize(rel));
  const r = relative(base, p);
  if (isAbsolute(rel) || r.startsWith('..') || r === '') throw new Error(`"${rel}" must be a file inside ${ctx.config.rollbacksDir}/`);
  return p;
}

/** Path relative to the repository root, for messages. */
export function repoRelative(ctx: PlanContext, abs: string): string {
  return relative(ctx.repo.root, abs) || '.';
}

/** Resolve a cwd given relative to the repository root, refusing escapes. */
export function repoPath(ctx: PlanContext, rel: string | undefined): string {
  const p = resolve(ctx.repo.root, rel ?? '.');
  const r = relative(ctx.repo.root, p);
  if (r.startsWith('..') || isAbsolute(r)) throw new Error(`"${rel}" is outside the repository`);
  return p;
}

/** Replace each {{ expr }}; a value that cannot be resolved reads "unknown" (reports never guess). */
export function renderTemplate(template: string, scope: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([^{}]+?)\s*\}\}/g, (_m, expr: string) => {
    try {
      const raw = resolvePath(expr.split('.'), scope, expr);
      if (Array.isArray(raw)) return raw.length ? raw.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ') : 'none';
      const v = interpolate(`{{ ${expr} }}`, scope);
      return v === '' ? 'unknown' : v;
    } catch {
      return 'unknown';
    }
  });
}

export function scopeOf(ctx: PlanContext & { results?: Record<string, unknown> }): Record<string, unknown> {
  return planScope(ctx, ctx.results ?? {});
}

export { join };
