/**
 * Playbook + parameters + configuration -> Plan. Pure: no git, no processes, no writes; the
 * caller resolves the baseline and passes it in. A Plan is what `rb plan` prints and what the
 * engine executes, step by step. Values that read `{{ steps.<id>... }}` are resolved when the
 * step runs (they do not exist before), everything else is resolved here.
 */
import { UsageError } from '../errors.js';
import { parseDuration } from '../duration.js';
import { stepLine } from '../ui/format.js';
import type { Playbook, StepSpec } from '../types.js';
import type { PlanContext, StepKind } from '../steps/types.js';
import { evaluateWhen, hasDeferred, interpolate, interpolateArgv, interpolateShell, parseTemplate, resolvePath } from './interpolate.js';

export interface PlanStep {
  id: string;
  title: string;
  kind: string;
  /** `with` after plan-time interpolation (deferred strings left as templates) */
  with: Record<string, unknown>;
  destructive: boolean;
  continueOnError: boolean;
  timeoutMs?: number;
  when?: string;
  /** the `when` in words, as the plan saw it (see whenText) */
  whenText?: string;
  confirm?: string;
  /** display form of the commands it would run */
  commands: string[];
  concurrent?: boolean;
  children?: PlanStep[];
  /** true when some value is only known at run time */
  deferred: boolean;
}

export interface Plan {
  playbook: { name: string; title: string; level?: number; severity?: string; target?: string; file: string; source: string };
  run: { id: string; stamp: string; dir: string };
  baseline: PlanContext['baseline'];
  params: Record<string, unknown>;
  steps: PlanStep[];
  /** some step changes the working copy */
  destructive: boolean;
  /** some step has an approval gate */
  gated: boolean;
}

export type KindMap = Record<string, StepKind<any>>;

/** Parse `--set k=v` pairs against the playbook's params (types, required, defaults). */
export function resolveParams(playbook: Playbook, sets: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const raw: Record<string, string | unknown> = {};
  const problems: string[] = [];
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) {
      problems.push(`--set ${s}: expected key=value`);
      continue;
    }
    raw[s.slice(0, i)] = s.slice(i + 1);
  }
  Object.assign(raw, extra);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (!(key in playbook.params)) {
      const known = Object.keys(playbook.params);
      problems.push(`unknown parameter "${key}" for playbook ${playbook.name} (${known.length ? 'known: ' + known.join(', ') : 'it takes none'})`);
    }
  }
  for (const [key, spec] of Object.entries(playbook.params)) {
    let v = raw[key];
    if (v === undefined) {
      if (spec.default !== undefined) out[key] = spec.default;
      else if (spec.required) problems.push(`parameter "${key}" is required${spec.description ? ` (${spec.description})` : ''}: pass --set ${key}=<${spec.type}>`);
      continue;
    }
    switch (spec.type) {
      case 'integer': {
        const s = String(v).trim();
        if (!/^-?\d+$/.test(s)) problems.push(`parameter "${key}" must be an integer, got "${s}"`);
        else out[key] = Number(s);
        break;
      }
      case 'number': {
        const n = Number(String(v).trim());
        if (String(v).trim() === '' || !Number.isFinite(n)) problems.push(`parameter "${key}" must be a number, got "${String(v)}"`);
        else out[key] = n;
        break;
      }
      case 'boolean': {
        const s = String(v).trim().toLowerCase();
        if (typeof v === 'boolean') out[key] = v;
        else if (s === 'true' || s === 'false') out[key] = s === 'true';
        else problems.push(`parameter "${key}" must be true or false, got "${String(v)}"`);
        break;
      }
      case 'string[]':
        out[key] = Array.isArray(v) ? v.map(String) : String(v).split(',').filter(Boolean);
        break;
      default:
        out[key] = typeof v === 'string' ? v : String(v);
    }
  }
  if (problems.length) {
    const example = Object.entries(playbook.params).filter(([, p]) => p.required).map(([k, p]) => `--set ${k}=<${p.type}>`).join(' ');
    throw new UsageError(`bad parameters for playbook ${playbook.name}`, {
      details: problems,
      next: `rb plan ${playbook.name}${example ? ' ' + example : ''}`,
    });
  }
  return out;
}

/** A step's `timeout:` in ms (validated against DURATION_PATTERN before a plan is built). */
function timeoutOf(s: string | undefined): number | undefined {
  return s ? (parseDuration(s) ?? undefined) : undefined;
}

/** The interpolation scope at plan time (steps.* resolves only while running). */
export function planScope(ctx: PlanContext, results: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    params: ctx.params,
    config: ctx.config,
    run: { ...ctx.run, baselineName: ctx.baseline.name, baselineOid: ctx.baseline.oid ?? '' },
    baseline: ctx.baseline.ref,
    steps: results,
  };
}

/**
 * Interpolate a step's `with`. `command` is special: an argv is interpolated element by element,
 * a shell string with every value single-quoted — interpolated values are data, never shell.
 * With `deferredOk`, strings that read steps.* are left for run time.
 */
export function interpolateWith(
  w: Record<string, unknown>,
  scope: Record<string, unknown>,
  deferredOk: boolean,
  rawKeys: readonly string[] = [],
): { value: Record<string, unknown>; deferred: boolean } {
  let deferred = false;
  const walk = (v: unknown, key: string | null, top = false): unknown => {
    if (top && key !== null && rawKeys.includes(key)) return v;
    if (typeof v === 'string') {
      if (deferredOk && hasDeferred(v)) {
        deferred = true;
        return v;
      }
      if (key !== 'command') {
        // a value that is exactly one {{ expr }} keeps its type (a list stays a list, a number a number)
        const parts = parseTemplate(v);
        if (parts.length === 1 && parts[0]!.kind === 'expr') {
          const raw = resolvePath(parts[0]!.path, scope, parts[0]!.expr);
          if (raw !== null && raw !== undefined && typeof raw !== 'string') return raw;
        }
        return interpolate(v, scope);
      }
      return interpolateShell(v, scope);
    }
    if (Array.isArray(v)) {
      if (key === 'command' && v.every((x) => typeof x === 'string')) {
        if (deferredOk && v.some((x) => hasDeferred(x as string))) {
          deferred = true;
          return v;
        }
        return interpolateArgv(v as string[], scope);
      }
      return v.map((x) => walk(x, null));
    }
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = walk(x, k, v === w);
      return o;
    }
    return v;
  };
  return { value: walk(w, null) as Record<string, unknown>, deferred };
}

/** A step's kind and `with`: `run:` is shorthand for `uses: exec`. */
export function stepKindAndWith(step: StepSpec): { kind: string; with: Record<string, unknown> } {
  if (step.run !== undefined) {
    return { kind: 'exec', with: { ...(step.with ?? {}), command: step.run, destructive: step.destructive ?? false } };
  }
  const w = { ...(step.with ?? {}) };
  if (step.uses === 'exec' && step.destructive !== undefined) w.destructive = step.destructive;
  return { kind: step.uses ?? 'group', with: w };
}

/** The step kinds a playbook uses (`run:` steps are `exec`; groups use none themselves). */
export function kindsUsed(playbook: Playbook): string[] {
  const out = new Set<string>();
  const walk = (steps: StepSpec[]) => {
    for (const s of steps) {
      if (s.steps) walk(s.steps);
      else out.add(stepKindAndWith(s).kind);
    }
  };
  walk(playbook.steps);
  return [...out];
}

export function buildPlan(playbook: Playbook, ctx: PlanContext, kinds: KindMap): Plan {
  const scope = planScope(ctx);
  const problems: string[] = [];
  const build = (step: StepSpec): PlanStep => {
    const title = step.title ? safeInterpolate(step.title, scope) : step.id;
    if (step.steps) {
      const children = step.steps.map(build);
      return {
        id: step.id,
        title,
        kind: 'group',
        with: {},
        destructive: children.some((c) => c.destructive),
        continueOnError: step.continueOnError ?? false,
        timeoutMs: timeoutOf(step.timeout),
        when: step.when,
        whenText: step.when !== undefined ? whenText(step.when, scope, true) : undefined,
        confirm: confirmText(step, scope),
        commands: [],
        concurrent: step.concurrent ?? false,
        children,
        deferred: children.some((c) => c.deferred),
      };
    }
    const { kind, with: rawWith } = stepKindAndWith(step);
    const k = kinds[kind];
    let w: Record<string, unknown> = rawWith;
    let deferred = false;
    try {
      const r = interpolateWith(rawWith, scope, true, k?.rawWith);
      w = r.value;
      deferred = r.deferred;
    } catch (e) {
      problems.push(`step "${step.id}": ${(e as Error).message}`);
    }
    let parsed: Record<string, unknown> = w;
    let commands: string[] = [];
    let destructive = false;
    if (!k) problems.push(`step "${step.id}": unknown step kind "${kind}"`);
    else {
      const res = deferred ? { success: true as const, data: w } : k.with.safeParse(w);
      if (!res.success) problems.push(`step "${step.id}" (${kind}): ${res.error.issues.map((i) => `${i.path.join('.') || 'with'}: ${i.message}`).join('; ')}`);
      else parsed = res.data as Record<string, unknown>;
      destructive = typeof k.destructive === 'function' ? Boolean(k.destructive(parsed)) : k.destructive;
      try {
        commands = k.describe(parsed, ctx);
      } catch (e) {
        commands = [`(${(e as Error).message})`];
      }
    }
    return {
      id: step.id,
      title,
      kind,
      with: parsed,
      destructive,
      continueOnError: step.continueOnError ?? false,
      timeoutMs: timeoutOf(step.timeout),
      when: step.when,
      whenText: step.when !== undefined ? whenText(step.when, scope, true) : undefined,
      confirm: confirmText(step, scope),
      commands,
      deferred,
    };
  };
  const steps = playbook.steps.map(build);
  if (problems.length) {
    throw new UsageError(`playbook ${playbook.name} cannot be planned`, { details: problems, next: `fix ${playbook.file}, then run \`rb plan ${playbook.name}\`` });
  }
  const all = flatten(steps);
  return {
    playbook: { name: playbook.name, title: playbook.title, level: playbook.level, severity: playbook.severity, target: playbook.target, file: playbook.file, source: playbook.source },
    run: { ...ctx.run },
    baseline: ctx.baseline,
    params: ctx.params,
    steps,
    destructive: all.some((s) => s.destructive),
    gated: all.some((s) => s.confirm !== undefined) || steps.some((s) => s.confirm !== undefined),
  };
}

function confirmText(step: StepSpec, scope: Record<string, unknown>): string | undefined {
  if (step.confirm === undefined || step.confirm === false) return undefined;
  return step.confirm === true ? `Continue with "${safeInterpolate(step.title ?? step.id, scope)}"?` : safeInterpolate(step.confirm, scope);
}

function safeInterpolate(s: string, scope: Record<string, unknown>): string {
  if (hasDeferred(s)) return s;
  try {
    return interpolate(s, scope);
  } catch {
    return s;
  }
}

export function flatten(steps: PlanStep[]): PlanStep[] {
  const out: PlanStep[] = [];
  for (const s of steps) {
    out.push(s);
    if (s.children) out.push(...flatten(s.children));
  }
  return out;
}

/**
 * A step's `when` in words, never as a template: "parameter tests is false" (why a step was
 * skipped), or for a plan "runs: parameter tests is true" / "skipped: parameter tests is false".
 * A value only known while running (steps.*) reads "(decided when it runs)".
 */
export function whenText(when: string, scope: Record<string, unknown>, plan: boolean): string {
  const parts = parseTemplate(when);
  const single = parts.length === 1 && parts[0]!.kind === 'expr' ? parts[0]!.expr : null;
  const name = single ? (single.startsWith('params.') ? `parameter ${single.slice(7)}` : single) : `"${when.replace(/\{\{\s*|\s*\}\}/g, '')}"`;
  let value: string | null = null;
  let go: boolean | null = null;
  if (!hasDeferred(when)) {
    try {
      value = interpolate(when, scope).trim();
      go = evaluateWhen(when, scope);
    } catch {
      /* unknown here */
    }
  }
  const shown = value === null ? null : value === '' ? 'empty' : value;
  if (!plan) return `${name} is ${shown ?? 'false'}`;
  if (go === null) return `runs if ${name} is true (decided when it runs)`;
  return go ? `runs: ${name} is ${shown}` : `skipped: ${name} is ${shown}`;
}

/** The numbered, human-readable form printed by `rb plan` and `--dry-run`. */
export function formatPlan(plan: Plan): string {
  const lines: string[] = [];
  const p = plan.playbook;
  lines.push(`Plan: ${p.title} (playbook ${p.name}${p.level ? `, level ${p.level}` : ''}${p.severity ? `, severity ${p.severity}` : ''}${p.target ? `, target ${p.target}` : ''})`);
  lines.push(`  from ${p.source === 'built-in' ? 'built-in' : p.file}`);
  lines.push(`  baseline: ${plan.baseline.name}${plan.baseline.oid ? ` (${plan.baseline.ref} at ${plan.baseline.oid.slice(0, 12)})` : ' (not resolved)'}`);
  if (Object.keys(plan.params).length) lines.push(`  params: ${Object.entries(plan.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  lines.push(`  run id: ${plan.run.id}  records: ${plan.run.dir}/`);
  lines.push('');
  const walk = (steps: PlanStep[], prefix: string, indent: string) => {
    steps.forEach((s, i) => {
      const n = `${prefix}${i + 1}`;
      const flags = [s.destructive ? 'destructive' : '', s.continueOnError ? 'continue on error' : '', s.concurrent ? 'concurrent' : '', s.when ? (s.whenText ?? `when ${s.when}`) : '', s.timeoutMs ? `timeout ${s.timeoutMs / 1000}s` : '']
        .filter(Boolean)
        .join(', ');
      lines.push(`${indent}${n}. ${s.title} [${s.kind === 'group' ? 'group' : s.kind}${flags ? '; ' + flags : ''}]`);
      if (s.confirm) lines.push(`${indent}   approval: ${s.confirm}`);
      for (const c of s.commands) lines.push(`${indent}   ${stepLine(c)}`);
      if (s.children) walk(s.children, `${n}.`, indent + '   ');
    });
  };
  walk(plan.steps, '', '  ');
  // the marks of values a plan cannot know yet (steps/common.ts): say what they mean, once
  if (lines.some((l) => /<[^<>\n]+>|\{\{|\[-N\]/.test(l))) {
    lines.push('', '  <…> and {{ … }}: values known only when the run gets there (<stamp> is when it starts, YYYYMMDD-HHMMSS);', '  [-N]: a suffix added when the name is taken; […]: arguments only when they apply; …: as many as there are');
  }
  return lines.join('\n');
}

/** Can a step with this `when` run? (One that reads what earlier steps produce: maybe.) */
export function mayRun(when: string | undefined, ctx: PlanContext): boolean {
  if (when === undefined) return true;
  try {
    return evaluateWhen(when, planScope(ctx, {}));
  } catch {
    return true;
  }
}
