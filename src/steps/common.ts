/**
 * Small pieces shared by step kinds: the zod shape of a command, safe paths inside the
 * rollbacks folder, report-style rendering where a missing value reads "unknown", and a long
 * command's output shown as one live line.
 */
import { z } from '#zod';
import { isAbsolute, join, normalize, relative, resolve } from 'node:path';
import type { PlanContext, StepReporter } from './types.js';
import { interpolate, resolvePath } from '../playbook/interpolate.js';
import { planScope } from '../playbook/plan.js';
import { shellQuote } from '../io/git.js';
import { stripAnsi } from '../records/test-output.js';
import type { Command, StepSpec } from '../types.js';

export const commandSchema = z.union([z.string().min(1), z.array(z.string()).min(1)]);

/** The stamp of a run that has not started (`rb plan`, `--dry-run`): run ids and records folders read `<stamp>-emergency`. */
export const STAMP_MARK = '<stamp>';

/**
 * How a plan marks what it can only know when the run happens (docs/commands.md, --dry-run):
 *   <name>        one value: `<commit>`, `<stamp>`, `<oid of HEAD>`;
 *   {{steps.x.y}} a value an earlier step of the run produces;
 *   [-N]          "-2", "-3" … appended when the name is taken (unique: true);
 *   [-e /dir/ …]  arguments only when they apply (a dependency dir whose lockfiles are unchanged);
 *   [-e <path>]…  zero or more of these arguments.
 * A step kind builds its command lines with one function for its plan (describe) and its
 * journal (run), so that `rb plan`, `--dry-run` and `rb show` use the same words and only these
 * marks differ.
 */
const MARK = /<[^<>\n]+>|\{\{[^}]*\}\}|\[-N\]/;
const MARKS = new RegExp(MARK.source, 'g');

/** One argument as a shell would read it: quoted when its (real) value needs quoting, marks kept as written. */
export function shownArg(a: string): string {
  if (!MARK.test(a)) return shellQuote(a);
  // quote a value with marks only when its real value would need it
  const plain = a.replace(MARKS, 'x');
  return shellQuote(plain) === plain ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** An argv for plans and journals. */
export function commandLine(argv: readonly string[]): string {
  return argv.map(shownArg).join(' ');
}

/** A git command for plans and journals: `git <args>`. */
export function gitLine(args: readonly string[]): string {
  return `git ${commandLine(args)}`;
}

export function displayCommand(c: Command): string {
  return typeof c === 'string' ? c : commandLine(c);
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

export interface LiveOutput {
  /** a line of the command's output (most are never shown) */
  line(l: string): void;
  /** the command ended: no more updates */
  stop(): void;
}

/** How often the live line is updated: redrawn in place on a terminal; a new line each time in a log. */
export const LIVE_EVERY_MS = { tty: 100, log: 15_000 } as const;

/**
 * A long command's output as one live line under its task — the latest line, at most every
 * LIVE_EVERY_MS — never the whole stream (that goes to the run's files). On a terminal listr2
 * redraws the line in place; without one (CI logs, pipes: listr2's simple renderer, which
 * prints every update) an update every 15 s says it is still running. `tty` defaults to what
 * listr2 itself decides by: process.stdout.isTTY.
 */
export function liveOutput(reporter: Pick<StepReporter, 'output'>, opts: { tty?: boolean; everyMs?: number } = {}): LiveOutput {
  const tty = opts.tty ?? process.stdout.isTTY === true;
  const every = opts.everyMs ?? (tty ? LIVE_EVERY_MS.tty : LIVE_EVERY_MS.log);
  let latest = '';
  let shownAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const show = () => {
    timer = undefined;
    if (stopped || !latest) return;
    shownAt = Date.now();
    reporter.output(latest);
  };
  return {
    line(l) {
      const t = stripAnsiLine(l).trim();
      if (!t || stopped) return;
      latest = t.length > 160 ? `${t.slice(0, 159)}…` : t;
      const wait = every - (Date.now() - shownAt);
      if (wait <= 0) show();
      else if (tty && !timer) timer = setTimeout(show, wait);
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** A line as a terminal finally shows it: colours removed, only what follows the last carriage return. */
const stripAnsiLine = (s: string) => stripAnsi(s).replace(/\r+$/, '').replace(/^.*\r/, '');

/** The playbook's steps of one kind (`uses`), groups flattened, in order. */
export function stepsOfKind(steps: readonly StepSpec[], kind: string): StepSpec[] {
  return steps.flatMap((s) => (s.steps ? stepsOfKind(s.steps, kind) : s.uses === kind ? [s] : []));
}

/** The title the playbook gives the running step (null when it has none). */
export function stepTitle(ctx: PlanContext & { stepId?: string }): string | null {
  const find = (steps: readonly StepSpec[]): StepSpec | undefined => {
    for (const s of steps) {
      if (s.id === ctx.stepId) return s;
      const inner = s.steps ? find(s.steps) : undefined;
      if (inner) return inner;
    }
    return undefined;
  };
  return find(ctx.playbook.steps)?.title ?? null;
}
