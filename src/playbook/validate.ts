/**
 * Playbook validation (architecture §4): YAML text -> a checked {@link Playbook}, or a
 * UsageError listing every problem as `file:line:column: message`.
 *
 * Checked, all at once:
 * - YAML: syntax, duplicate keys, size and alias limits (see ./parse.ts); YAML 1.2 only, so
 *   `continueOnError: no` is the *string* "no" and is reported as such.
 * - Shape ({@link PlaybookSchema}, also published as playbooks/schema.json): unknown keys with
 *   the closest valid one, wrong types, durations, severities, levels, param declarations.
 * - Steps: exactly one of `uses` / `run` / `steps` (a group); `shell` only with `run`, and a
 *   string `run` only with `shell: true`; `concurrent` only on groups; `destructive` only on
 *   run/exec steps; `uses` names a known kind; `with` matches the kind's schema; ids are unique
 *   across the whole tree.
 * - Templates: `{{ … }}` syntax; references to undeclared params, unknown config keys, unknown
 *   roots, and steps that do not run before the reader; placeholders in shell commands that
 *   cannot be quoted safely.
 * - Safety: every destructive step must be preceded, in execution order, by a `uses: snapshot`
 *   step that is certain to have run (not skipped by its own `when`, not allowed to fail by
 *   `continueOnError`, not running concurrently with it).
 */
import { basename, resolve } from 'node:path';
import { z, type ZodType } from '#zod';
import { UsageError } from '../errors.js';
import { DURATION_HELP, DURATION_PATTERN } from '../duration.js';
import type { ParamSpec, Playbook, StepSpec, ValidationIssue } from '../types.js';
import { CONFIG_KEYS } from '../config/schema.js';
import {
  DEEP, closestMatch, describeValue, dottedPath, formatIssue, issuesFromZod, parseYaml, sortIssues, valueAt, yamlHint,
  type ParsedYaml, type YamlPath,
} from './parse.js';
import { shellTemplateProblem, templateReferences, TemplateError } from './interpolate.js';
import { stepKindAndWith } from './plan.js';

/** What validation needs to know about each step kind. StepKind (src/steps/types.ts) fits it. */
export type KindCatalog = Record<string, {
  with: ZodType;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  destructive: boolean | ((w: any) => boolean);
  /**
   * Extra names the kind's `with` templates may read, because the kind renders them itself with
   * a wider scope (e.g. `report` adds `report.date`). Default: none beyond {@link TEMPLATE_ROOTS}.
   */
  templateRoots?: readonly string[];
}>;

// ---------------------------------------------------------------------------------------------
// Schema

/** Step ids and param names: usable in `{{ steps.<id> }}` / `{{ params.<name> }}`. */
const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]*$/;
const PARAM_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** Playbook names are file names. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A duration (src/duration.ts: one grammar for every duration rb reads; `m` is minutes). */
const duration = z.string({ error: `expected a duration: ${DURATION_HELP}` }).regex(DURATION_PATTERN, {
  error: `expected a duration: ${DURATION_HELP}`,
});

const command = z.union([z.string().min(1), z.array(z.string()).min(1)], {
  error: 'expected a command: a list of strings (an argv), or a string with shell: true',
});

export const ParamSchema = z.strictObject({
  type: z.enum(['string', 'integer', 'number', 'boolean', 'string[]']),
  required: z.boolean().optional(),
  default: z.unknown().optional(),
  description: z.string().optional(),
}, { error: 'expected a parameter: { type, required, default, description }' });

/** One step, or a group of steps (`steps:`), as written in a playbook. */
export const StepSchema = z.strictObject({
  id: z.string({ error: 'expected a step id' }).regex(ID_PATTERN, {
    error: 'expected a step id of letters, digits, "_" or "-", starting with a letter',
  }).meta({ description: 'unique in the playbook; results are read as {{ steps.<id>.… }}' }),
  title: z.string().optional().meta({ description: 'shown in the task list and the journal; defaults to the id' }),
  uses: z.string().min(1).optional().meta({ description: 'a built-in step kind, e.g. git.reset-hard' }),
  run: command.optional().meta({ description: 'shorthand for uses: exec; an argv list, or a string with shell: true' }),
  shell: z.boolean().optional().meta({ description: 'run the string `run` with sh -c; interpolated values are quoted' }),
  with: z.record(z.string(), z.unknown(), { error: 'expected a mapping of the step kind\'s settings' }).optional(),
  when: z.union([z.string(), z.boolean()], { error: 'expected a string such as "{{ params.force }}", or true/false' }).optional()
    .meta({ description: 'interpolated; the step runs unless it becomes "", false, 0, null or undefined' }),
  continueOnError: z.boolean().optional(),
  timeout: duration.optional(),
  concurrent: z.boolean().optional().meta({ description: 'a group whose steps run in parallel' }),
  get steps(): z.ZodOptional<z.ZodArray<typeof StepSchema>> {
    return z.array(StepSchema, { error: 'expected a list of steps' }).min(1).optional();
  },
  confirm: z.union([z.string().min(1), z.boolean()], { error: 'expected a question to ask, or true/false' }).optional()
    .meta({ description: 'approval gate: prompts on a TTY, needs --yes otherwise' }),
  destructive: z.boolean().optional().meta({ description: 'run/exec steps only: the command changes the working copy' }),
}, { error: 'expected a step: a mapping with at least an id' });

export const PlaybookSchema = z.strictObject({
  name: z.string({ error: 'expected the playbook name (its file name)' }).regex(NAME_PATTERN, {
    error: 'expected a name of letters, digits, ".", "_" or "-" (the file name without .yaml)',
  }),
  level: z.literal([1, 2, 3]).optional(),
  title: z.string().min(1).optional().meta({ description: 'shown in plans, reports and notifications; defaults to the name' }),
  description: z.string().optional(),
  severity: z.enum(['critical', 'high', 'medium', 'low']).optional(),
  target: duration.optional().meta({ description: 'recovery-time objective, e.g. 15m' }),
  cause: z.string().min(1).optional().meta({ description: 'the cause tag its runs record in metrics.json unless --cause gives another, e.g. emergency' }),
  records: z.string().min(1).optional()
    .meta({ description: 'folder of the run\'s records under rollbacksDir, a template, e.g. sprint-{{params.sprint}}' }),
  params: z.record(z.string().regex(PARAM_PATTERN, {
    error: 'expected a parameter name of letters, digits, "_" or "-", not starting with a digit',
  }), ParamSchema, { error: 'expected a mapping of parameter names to { type, required, default, description }' }).optional(),
  steps: z.array(StepSchema, { error: 'expected a list of steps' }).min(1),
}, { error: 'expected a playbook: a mapping with name and steps' });

/** Names a template may read (architecture §4). */
export const TEMPLATE_ROOTS = ['params', 'config', 'run', 'baseline', 'steps'] as const;
/** `records:` is rendered before any step runs and without a baseline. */
const RECORDS_ROOTS = ['params', 'config', 'run'] as const;

/** Plain scalars YAML 1.1 read as booleans; as a `when` or `confirm` they are surely a mistake. */
const BOOLEAN_WORDS = /^(y|yes|n|no|on|off|true|false)$/i;

const NEXT = 'fix the lines above, then run `rb plan <name>` to check';

// ---------------------------------------------------------------------------------------------
// Validation

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A step seen while walking the tree. */
interface Seen {
  id: string | undefined;
  path: YamlPath;
  raw: Obj;
  ancestors: Obj[];
}

/** A snapshot step that has completed, for the safety rule. */
interface DoneSnapshot extends Seen {
  /** steps (itself or ancestors) whose `when` may skip it */
  whenGates: Obj[];
  /** steps (itself or ancestors) whose continueOnError lets the run go on without it */
  failGates: Obj[];
}

/**
 * Validates a playbook.
 * @param text the YAML source
 * @param file the path used in messages; `name` must equal its base name without .yaml/.yml
 * @param source where it was found
 * @param kinds the step kinds `uses` may name, with their `with` schemas
 * @throws UsageError `playbook <file> is not valid (N problems)` with one detail line per problem
 */
export function validatePlaybook(text: string, file: string, source: 'built-in' | 'repository', kinds: KindCatalog): Playbook {
  const result = parseYaml(text, file);
  if (!result.ok) throw invalid(file, result.issues);
  const parsed = result.parsed;
  const data = parsed.data;
  if (!isObj(data)) {
    throw invalid(file, [parsed.issue([], `expected a playbook (a mapping with name and steps), got ${describeValue(data)}`)]);
  }

  const issues: ValidationIssue[] = [];
  const label = (path: YamlPath) => pathLabel(data, path);
  try {
    const r = PlaybookSchema.safeParse(data);
    if (!r.success) issues.push(...issuesFromZod(r.error.issues, parsed, PlaybookSchema, data, { label }));
    issues.push(...new Checker(parsed, data, kinds, label).run());
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw invalid(file, [{ file, line: 1, column: 1, message: `steps: ${DEEP}` }]);
  }

  if (issues.length) throw invalid(file, issues);
  return toPlaybook(data, parsed, file, source);
}

function invalid(file: string, issues: ValidationIssue[]): UsageError {
  const sorted = sortIssues(issues);
  const n = sorted.length;
  return new UsageError(`playbook ${file} is not valid (${n} problem${n === 1 ? '' : 's'})`, {
    details: sorted.map(formatIssue),
    next: NEXT,
  });
}

/** `step "reset": with.ref`, or a dotted path outside steps (`params.sprint.type`). */
function pathLabel(data: unknown, path: YamlPath): string {
  let stepAt = -1;
  for (let i = 0; i + 1 < path.length; i++) {
    if (path[i] === 'steps' && typeof path[i + 1] === 'number') stepAt = i + 1;
  }
  if (stepAt < 0) return dottedPath(path);
  const stepPath = path.slice(0, stepAt + 1);
  const id = valueAt(data, [...stepPath, 'id']);
  const name = typeof id === 'string' && ID_PATTERN.test(id) ? `step "${id}"` : `step ${dottedPath(stepPath)}`;
  const rest = dottedPath(path.slice(stepAt + 1));
  return rest ? `${name}: ${rest}` : name;
}

/** The semantic checks that zod cannot express; reads raw data defensively (zod reports types). */
class Checker {
  private issues: ValidationIssue[] = [];
  /** every step id with where it was first seen */
  private ids = new Map<string, YamlPath>();
  private params: Obj;
  /** kinds named in messages, sorted */
  private kindNames: string[];

  constructor(
    private parsed: ParsedYaml,
    private data: Obj,
    private kinds: KindCatalog,
    private label: (p: YamlPath) => string,
  ) {
    this.params = isObj(data.params) ? data.params : {};
    this.kindNames = Object.keys(kinds).sort();
  }

  run(): ValidationIssue[] {
    this.checkName();
    this.checkParams();
    if (typeof this.data.records === 'string') {
      this.checkTemplate(['records'], this.data.records, new Set(), RECORDS_ROOTS);
      if (/^[\\/~]|^[A-Za-z]:|(^|[\\/])\.\.([\\/]|$)/.test(this.data.records)) {
        this.add(['records'], 'records: must be a folder relative to rollbacksDir, without ".."');
      }
    }
    if (Array.isArray(this.data.steps)) {
      this.collectIds(this.data.steps, ['steps']);
      this.walk(this.data.steps, ['steps'], [], { snapshots: [], done: new Set() }, false);
    }
    return this.issues;
  }

  private add(path: YamlPath, message: string, opts: { key?: boolean } = {}): void {
    this.issues.push(this.parsed.issue(path, message, opts));
  }

  private checkName(): void {
    const name = this.data.name;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) return;
    const base = basename(this.parsed.file).replace(/\.ya?ml$/i, '');
    if (name !== base) {
      this.add(['name'], `name: "${name}" must equal the file name "${base}" (from ${basename(this.parsed.file)}); rename one of them`);
    }
  }

  private checkParams(): void {
    for (const [key, spec] of Object.entries(this.params)) {
      if (!isObj(spec)) continue;
      const path = ['params', key];
      if (spec.required === true && spec.default !== undefined) {
        this.add([...path, 'required'], `params.${key}: a parameter with a default is never missing; drop "required: true" or the default`);
      }
      if (spec.default === undefined || typeof spec.type !== 'string') continue;
      const ok = paramValueOk(spec.type as ParamSpec['type'], spec.default);
      if (ok === false) {
        const expected = { string: 'a string', integer: 'an integer', number: 'a number', boolean: 'a boolean (true/false)', 'string[]': 'a list of strings' }[spec.type as ParamSpec['type']];
        const hint = yamlHint(spec.type === 'integer' ? 'number' : String(spec.type), spec.default, this.parsed.sourceOf([...path, 'default']));
        this.add([...path, 'default'], `params.${key}.default: expected ${expected} (the parameter's type), got ${describeValue(spec.default)}${hint}`);
      }
    }
  }

  /** First pass: ids, so references to later steps read "runs later", not "no such step". */
  private collectIds(list: unknown[], path: YamlPath): void {
    list.forEach((s, i) => {
      if (!isObj(s)) return;
      const p = [...path, i];
      if (typeof s.id === 'string') {
        const first = this.ids.get(s.id);
        if (first) {
          const at = this.parsed.positionOf([...first, 'id']);
          this.add([...p, 'id'], `duplicate step id "${s.id}" (first used at line ${at.line}); step ids must be unique in the whole playbook`);
        } else {
          this.ids.set(s.id, p);
        }
      }
      if (Array.isArray(s.steps)) this.collectIds(s.steps, [...p, 'steps']);
    });
  }

  /**
   * Walks steps in execution order.
   * @param state snapshots and step ids completed before this list starts (mutated for sequential lists)
   * @param concurrent the list's steps run in parallel: none sees another's effects
   */
  private walk(list: unknown[], path: YamlPath, ancestors: Obj[], state: { snapshots: DoneSnapshot[]; done: Set<string> }, concurrent: boolean): void {
    const before = { snapshots: [...state.snapshots], done: new Set(state.done) };
    /** in a concurrent group: the ids of snapshot steps that run alongside the others */
    const siblingSnapshots = concurrent
      ? list.filter((x): x is Obj => isObj(x) && x.uses === 'snapshot').map((x) => String(x.id))
      : [];
    list.forEach((s, i) => {
      if (!isObj(s)) return;
      const p = [...path, i];
      const seen: Seen = { id: typeof s.id === 'string' ? s.id : undefined, path: p, raw: s, ancestors };
      const mine = concurrent ? { snapshots: [...before.snapshots], done: new Set(before.done) } : state;
      this.checkStep(seen, mine, siblingSnapshots.filter((id) => id !== seen.id));
      if (Array.isArray(s.steps)) {
        this.walk(s.steps, [...p, 'steps'], [...ancestors, s], mine, s.concurrent === true);
      } else if (s.uses === 'snapshot') {
        const chain = [...ancestors, s];
        const snap: DoneSnapshot = {
          ...seen,
          whenGates: chain.filter((x) => x.when !== undefined && x.when !== true && x.when !== 'true'),
          failGates: chain.filter((x) => x.continueOnError === true),
        };
        mine.snapshots.push(snap);
      }
      if (seen.id) mine.done.add(seen.id);
      if (concurrent) {
        for (const x of mine.snapshots) if (!state.snapshots.includes(x)) state.snapshots.push(x);
        for (const x of mine.done) state.done.add(x);
      }
    });
  }

  private checkStep(step: Seen, state: { snapshots: DoneSnapshot[]; done: Set<string> }, concurrentSnapshots: string[]): void {
    const s = step.raw;
    const p = step.path;
    const name = this.label(p);
    const isGroup = s.steps !== undefined;
    const has = (k: string) => s[k] !== undefined;

    // structure
    if (isGroup) {
      for (const k of ['uses', 'run', 'shell', 'with', 'destructive']) {
        if (has(k)) this.add([...p, k], `${name}: a group (a step with steps:) cannot also have "${k}"; move it into one of its steps`, { key: true });
      }
    } else {
      if (has('concurrent')) this.add([...p, 'concurrent'], `${name}: concurrent only applies to a group; add steps: under it, or remove concurrent`, { key: true });
      if (has('uses') && has('run')) {
        this.add([...p, 'run'], `${name}: has both uses and run; a step does one thing (run: is shorthand for uses: exec)`, { key: true });
      } else if (!has('uses') && !has('run')) {
        this.add(p, `${name}: needs uses: <kind> or run: <command> (or steps: for a group)`);
      }
      if (has('shell') && !has('run')) {
        this.add([...p, 'shell'], `${name}: shell only applies to run:`, { key: true });
      } else if (typeof s.run === 'string' && s.shell !== true) {
        this.add([...p, 'run'], `${name}: run is a string, which needs a shell: write it as a list (run: [git, status]) or add shell: true`);
      } else if (Array.isArray(s.run) && s.shell === true) {
        this.add([...p, 'shell'], `${name}: shell: true needs run to be a string; an argv list never goes through a shell`);
      }
      if (has('destructive') && has('uses') && s.uses !== 'exec') {
        this.add([...p, 'destructive'], `${name}: destructive only applies to run and exec steps; whether "${String(s.uses)}" is destructive is fixed by its kind`, { key: true });
      }
      if (has('run') && isObj(s.with) && s.with.command !== undefined) {
        this.add([...p, 'with', 'command'], `${name}: with.command conflicts with run:; give the command once`, { key: true });
      }
    }

    // YAML 1.1 words that YAML 1.2 reads as text
    if (typeof s.when === 'string' && BOOLEAN_WORDS.test(s.when.trim()) && !/^(true|false)$/.test(s.when.trim())) {
      this.add([...p, 'when'], `${name}: when: "${s.when}" is text in YAML 1.2, and any text except "", false, 0, null and undefined is true: write true or false, or a template like "{{ params.force }}"`);
    }
    if (typeof s.confirm === 'string' && BOOLEAN_WORDS.test(s.confirm.trim())) {
      this.add([...p, 'confirm'], `${name}: confirm: "${s.confirm}" would be shown as the question; YAML 1.2 reads it as text — write true or false, or the question to ask`);
    }

    // templates
    for (const k of ['title', 'when', 'confirm']) {
      if (typeof s[k] === 'string') this.checkTemplate([...p, k], s[k] as string, state.done, TEMPLATE_ROOTS, step.id);
    }
    if (typeof s.run === 'string') {
      this.checkTemplate([...p, 'run'], s.run, state.done, TEMPLATE_ROOTS, step.id);
      if (s.shell === true) this.checkShell([...p, 'run'], s.run);
    } else if (Array.isArray(s.run)) {
      s.run.forEach((a, i) => { if (typeof a === 'string') this.checkTemplate([...p, 'run', i], a, state.done, TEMPLATE_ROOTS, step.id); });
    }
    if (isObj(s.with)) {
      const kind = typeof s.uses === 'string' ? this.kinds[s.uses] : undefined;
      const roots = [...TEMPLATE_ROOTS, ...(kind?.templateRoots ?? [])];
      this.checkTemplatesDeep([...p, 'with'], s.with, state.done, step.id, roots);
    }

    if (isGroup) return;

    // the kind and its `with`
    let destructive = false;
    let kindLabel = '';
    if (typeof s.uses === 'string' || s.run !== undefined) {
      const spec = { ...s } as unknown as StepSpec;
      const { kind, with: w } = stepKindAndWith(spec);
      kindLabel = s.run !== undefined ? 'run' : kind;
      const k = this.kinds[kind];
      if (!k) {
        if (s.run === undefined) {
          const guess = closestMatch(kind, this.kindNames);
          this.add([...p, 'uses'], `${name}: unknown step kind "${kind}"${guess ? ` (did you mean "${guess}"?)` : ''}; valid kinds: ${this.kindNames.join(', ')}`);
        } else if (s.destructive === true) {
          destructive = true;
        }
      } else if (s.with === undefined || isObj(s.with)) {
        const r = k.with.safeParse(w);
        const ok = r.success;
        if (!r.success) this.kindIssues(p, s, w, k.with, r.error.issues);
        try {
          destructive = typeof k.destructive === 'function' ? Boolean(k.destructive(ok ? r.data : w)) : k.destructive;
        } catch {
          // a kind that cannot tell: assume the worst, unless its `with` is invalid (reported above)
          destructive = ok;
        }
        if (s.destructive === true) destructive = true;
      }
    }

    // safety: a snapshot that certainly ran before
    if (destructive) {
      const mine = new Set<Obj>([...step.ancestors, s]);
      const whens = new Set([...step.ancestors, s].map((x) => x.when).filter((w) => w !== undefined).map(String));
      const reasons: string[] = [];
      const covered = state.snapshots.some((snap) => {
        const whenOk = snap.whenGates.every((g) => mine.has(g) || whens.has(String(g.when)));
        const failOk = snap.failGates.every((g) => mine.has(g));
        /** "its" for the snapshot step itself, else the enclosing group that has the setting */
        const whose = (g: Obj) => (g === snap.raw ? 'its' : `its group "${String(g.id)}" has`);
        if (!whenOk) {
          const g = snap.whenGates.find((x) => !mine.has(x) && !whens.has(String(x.when)))!;
          reasons.push(`snapshot step "${snap.id}" may be skipped: ${whose(g)} when: ${JSON.stringify(String(g.when))}`);
        } else if (!failOk) {
          const g = snap.failGates.find((x) => !mine.has(x))!;
          reasons.push(`snapshot step "${snap.id}" may fail and the run go on: ${whose(g)} continueOnError: true`);
        }
        return whenOk && failOk;
      });
      if (!covered) {
        for (const c of concurrentSnapshots) reasons.push(`snapshot step "${c}" runs at the same time, in the same concurrent group`);
        const why = reasons.length ? ` (${reasons.join('; ')})` : '';
        const where = s.uses !== undefined ? 'uses' : s.run !== undefined ? 'run' : 'id';
        const who = step.id ? `step "${step.id}"` : `step ${dottedPath(p)}`;
        this.add([...p, where], `${who} (${kindLabel}) changes the working copy but no snapshot step runs before it${why}; add { id: snapshot, uses: snapshot } before it`);
      }
    }
  }

  /** Issues from a kind's `with` schema, placed on the YAML (run: steps map `command` to `run`). */
  private kindIssues(p: YamlPath, s: Obj, w: Obj, schema: ZodType, zodIssues: readonly z.core.$ZodIssue[]): void {
    const isRun = s.run !== undefined;
    // values that are templates are only known after interpolation: check them then
    const relevant = zodIssues.filter((iss) => {
      const v = valueAt(w, iss.path as PropertyKey[]);
      return !(typeof v === 'string' && v.includes('{{'));
    });
    const onRun = isRun ? relevant.filter((i) => i.path[0] === 'command' || i.path[0] === 'destructive') : [];
    const onWith = relevant.filter((i) => !onRun.includes(i));
    const label = (path: YamlPath) => this.label(path);
    this.issues.push(...issuesFromZod(onWith as never, this.parsed, schema, w, { base: [...p, 'with'], label }));
    for (const iss of onRun) {
      const key = String(iss.path[0]);
      const moved = { ...iss, path: iss.path.slice(1) };
      this.issues.push(...issuesFromZod([moved] as never, this.parsed, schema, w[key], { base: [...p, key], label }));
    }
  }

  private checkTemplatesDeep(path: YamlPath, v: unknown, done: Set<string>, self: string | undefined, roots: readonly string[], key?: string): void {
    if (typeof v === 'string') {
      this.checkTemplate(path, v, done, roots, self);
      if (key === 'command') this.checkShell(path, v);
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => this.checkTemplatesDeep([...path, i], x, done, self, roots));
    } else if (isObj(v)) {
      for (const [k, x] of Object.entries(v)) this.checkTemplatesDeep([...path, k], x, done, self, roots, k);
    }
  }

  private checkShell(path: YamlPath, cmd: string): void {
    const why = shellTemplateProblem(cmd);
    if (why && !why.startsWith('unclosed') && !why.startsWith('empty') && !why.startsWith('unsupported')) {
      this.add(path, `${this.label(path)}: ${why}`);
    }
  }

  /** Template syntax and references. */
  private checkTemplate(path: YamlPath, template: string, done: Set<string>, roots: readonly string[] = TEMPLATE_ROOTS, self?: string): void {
    let refs: { expr: string; path: string[] }[];
    try {
      refs = templateReferences(template);
    } catch (e) {
      if (e instanceof TemplateError) { this.add(path, `${this.label(path)}: ${e.message}`); return; }
      throw e;
    }
    const at = this.label(path);
    for (const { expr, path: ref } of refs) {
      const [root, first] = ref;
      const bad = (why: string) => this.add(path, `${at}: {{ ${expr} }}: ${why}`);
      if (!roots.includes(root!)) {
        const guess = closestMatch(root!, roots);
        bad(`there is no "${root}"${guess ? ` (did you mean "${guess}"?)` : ''}; a template reads ${roots.join(', ')}`);
      } else if (root === 'params') {
        const names = Object.keys(this.params);
        if (first === undefined) bad('name a parameter, like {{ params.<name> }}');
        else if (!names.includes(first)) {
          const guess = closestMatch(first, names);
          bad(`the playbook declares no parameter "${first}"${guess ? ` (did you mean "${guess}"?)` : ''}; declared: ${names.length ? names.sort().join(', ') : 'none (add it under params:)'}`);
        }
      } else if (root === 'config') {
        if (first !== undefined && !(CONFIG_KEYS as readonly string[]).includes(first)) {
          const guess = closestMatch(first, CONFIG_KEYS);
          bad(`rb.config.yaml has no key "${first}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
        }
      } else if (root === 'steps') {
        if (first === undefined) bad('name a step, like {{ steps.<id>.<key> }}');
        else if (!this.ids.has(first)) {
          const guess = closestMatch(first, [...this.ids.keys()]);
          bad(`there is no step "${first}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
        } else if (first === self) {
          bad(`a step cannot read its own results; {{ steps.${first}.… }} is for the steps after it`);
        } else if (!done.has(first)) {
          bad(`step "${first}" has not run yet at this point (it runs later, or at the same time in a concurrent group)`);
        }
      }
    }
  }
}

/** Whether `v` fits a param type (undefined when the type itself is unknown). */
function paramValueOk(type: ParamSpec['type'], v: unknown): boolean | undefined {
  switch (type) {
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'string[]': return Array.isArray(v) && v.every((x) => typeof x === 'string');
    default: return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function toPlaybook(data: Obj, parsed: ParsedYaml, file: string, source: 'built-in' | 'repository'): Playbook {
  const toStep = (raw: Obj, path: YamlPath): StepSpec => {
    const pos = parsed.positionOf(path);
    const step: StepSpec = { id: raw.id as string };
    const copy = ['title', 'uses', 'run', 'shell', 'with', 'continueOnError', 'timeout', 'concurrent', 'confirm', 'destructive'] as const;
    for (const k of copy) if (raw[k] !== undefined) (step as unknown as Obj)[k] = raw[k];
    if (raw.when !== undefined) step.when = String(raw.when);
    if (Array.isArray(raw.steps)) step.steps = raw.steps.map((c, i) => toStep(c as Obj, [...path, 'steps', i]));
    step.line = pos.line;
    step.column = pos.column;
    return step;
  };
  const pb: Playbook = {
    name: data.name as string,
    // a minimal playbook is `name` + `steps`: the title defaults to the name (a step's to its id, in the plan)
    title: (data.title as string | undefined) ?? (data.name as string),
    params: (data.params ?? {}) as Record<string, ParamSpec>,
    steps: (data.steps as Obj[]).map((s, i) => toStep(s, ['steps', i])),
    file: resolve(file),
    source,
  };
  if (data.level !== undefined) pb.level = data.level as 1 | 2 | 3;
  if (data.description !== undefined) pb.description = data.description as string;
  if (data.severity !== undefined) pb.severity = data.severity as Playbook['severity'];
  if (data.target !== undefined) pb.target = data.target as string;
  if (data.cause !== undefined) pb.cause = data.cause as string;
  if (data.records !== undefined) pb.records = data.records as string;
  return pb;
}
