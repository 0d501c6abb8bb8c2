/**
 * The JSON Schema (draft 2020-12) of playbooks, generated from the zod schemas validation uses
 * (./validate.ts and each step kind's `with`), so that editors and CI linters say what rb says.
 * Published as playbooks/schema.json by scripts/gen-schema.ts; a test fails when the committed
 * file is out of date, and checks it with ajv in strict mode against the shipped playbooks and
 * against broken ones rb rejects.
 *
 * On top of the zod shape it states the rules rb's validator checks one step at a time:
 *   - a step is exactly one of `uses`, `run` or a group (`steps`);
 *   - a group has no `uses`, `run`, `shell`, `with` or `destructive`; only a group has `concurrent`;
 *   - `run` as a string needs `shell: true`; `shell` only with `run`, and not with an argv list;
 *   - `destructive` only on `run` and `uses: exec` steps;
 *   - `uses` is one of the kinds, and `with` follows that kind's schema (a `run` step's `with` is
 *     exec's without `command`); a value that is a `{{ … }}` template is accepted anywhere in
 *     `with`, as rb checks it after interpolation;
 *   - a parameter's `default` has the parameter's type, and is not combined with `required: true`.
 * Checks that need the whole file (unique ids, what a template may read, the name matching the
 * file name, a snapshot before anything destructive) remain rb's job: run `rb plan <name>`.
 *
 * ajv's strict mode wants every name in a `required` to be declared in `properties` of the same
 * subschema: the rules below repeat `properties: { <name>: true }` next to each such `required`.
 */
import { z } from '#zod';
import { PlaybookSchema, type KindCatalog } from './validate.js';

type Json = Record<string, unknown>;

/** Accepted in place of any value of a kind's `with`: rb checks it after interpolation. */
const TEMPLATE: Json = { type: 'string', pattern: '\\{\\{', description: 'a {{ … }} template, checked after interpolation' };

/** `{ required: [names], properties: { name: true } }`: "these are present", ajv-strict style. */
function present(...names: string[]): Json {
  return { required: names, properties: Object.fromEntries(names.map((n) => [n, true])) };
}

/** Any of these present. */
const anyPresent = (...names: string[]): Json => ({ anyOf: names.map((n) => present(n)) });

/** A kind's `with` as JSON Schema, each value also accepting a template. */
function withSchema(schema: KindCatalog[string]['with'], opts: { omit?: string[] } = {}): Json {
  const j = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Json;
  delete j.$schema;
  if (j.$defs || JSON.stringify(j).includes('"$ref"')) throw new Error('a step kind\'s `with` schema with $defs cannot be published; flatten it');
  const props = { ...((j.properties ?? {}) as Record<string, Json>) };
  for (const k of opts.omit ?? []) delete props[k];
  for (const [k, v] of Object.entries(props)) props[k] = acceptTemplates(v);
  const required = ((j.required ?? []) as string[]).filter((k) => !(opts.omit ?? []).includes(k));
  const out: Json = { ...j, properties: props };
  if (required.length) out.required = required;
  else delete out.required;
  return out;
}

/** A value schema that also accepts a template, inside arrays too. */
function acceptTemplates(v: Json): Json {
  const inner = v.type === 'array' && v.items && typeof v.items === 'object' ? { ...v, items: acceptTemplates(v.items as Json) } : v;
  if (inner.type === 'string' && inner.pattern === undefined && inner.enum === undefined) return inner; // already takes any string (minLength aside)
  const { description, ...rest } = inner;
  return { ...(description ? { description } : {}), anyOf: [rest, TEMPLATE] };
}

/** The zod-generated schema with the recursive step definition named `step`. */
function generatedBase(): Json {
  const generated = z.toJSONSchema(PlaybookSchema, { target: 'draft-2020-12', io: 'input' }) as Json;
  const defs = (generated.$defs ?? {}) as Record<string, Json>;
  const stepKey = Object.keys(defs).find((k) => (defs[k]?.properties as Json | undefined)?.uses !== undefined);
  let text = JSON.stringify(generated);
  if (stepKey) text = text.split(`"#/$defs/${stepKey}"`).join('"#/$defs/step"').split(`"${stepKey}":`).join('"step":');
  return JSON.parse(text) as Json;
}

/** What a step is and is not (see the module comment). */
function stepStructure(): Json[] {
  return [
    // a group: none of what a single step has
    { if: present('steps'), then: { not: anyPresent('uses', 'run', 'shell', 'with', 'destructive') } },
    // a single step: no concurrent
    { if: { not: present('steps') }, then: { not: present('concurrent') } },
    // shell only with run; a string run needs shell: true; an argv never goes through a shell
    { if: present('shell'), then: present('run') },
    { if: { ...present('run'), properties: { run: { type: 'string' } } }, then: { ...present('shell'), properties: { shell: { const: true } } } },
    { if: { ...present('run'), properties: { run: { type: 'array' } } }, then: { properties: { shell: { const: false } } } },
    // destructive: run and exec steps only
    { if: present('destructive'), then: { anyOf: [present('run'), { ...present('uses'), properties: { uses: { const: 'exec' } } }] } },
  ];
}

/** `uses` names a kind, and `with` follows its schema. */
function stepKinds(kinds: KindCatalog, step: Json): Json[] {
  const names = Object.keys(kinds).sort();
  const props = step.properties as Record<string, Json>;
  props.uses = { ...props.uses, enum: names };
  const rules: Json[] = names.map((k) => {
    const w = withSchema(kinds[k]!.with);
    // a kind with required settings needs a `with` at all
    return { if: { ...present('uses'), properties: { uses: { const: k } } }, then: w.required ? { ...present('with'), properties: { with: w } } : { properties: { with: w } } };
  });
  if (kinds.exec) rules.push({ if: present('run'), then: { properties: { with: withSchema(kinds.exec.with, { omit: ['command', 'destructive'] }) } } });
  return rules;
}

/** A parameter's default has its type; a parameter with a default is not `required: true`. */
function paramRules(): Json[] {
  const types: Record<string, Json> = {
    string: { type: 'string' },
    integer: { type: 'integer' },
    number: { type: 'number' },
    boolean: { type: 'boolean' },
    'string[]': { type: 'array', items: { type: 'string' } },
  };
  return [
    ...Object.entries(types).map(([t, schema]) => ({
      if: { ...present('type', 'default'), properties: { type: { const: t }, default: true } },
      then: { properties: { default: schema } },
    })),
    { if: present('default'), then: { properties: { required: { const: false } } } },
  ];
}

/**
 * `type: [a, b]` as `anyOf: [{ type: a }, { type: b }]`: ajv's strict mode refuses union types
 * (strictTypes), and every validator reads the anyOf form the same way.
 */
function singleTypes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(singleTypes);
  if (!v || typeof v !== 'object') return v;
  const o = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, singleTypes(x)])) as Json;
  if (!Array.isArray(o.type)) return o;
  const { type, anyOf, ...rest } = o;
  const union = { anyOf: (type as string[]).map((t) => ({ type: t })) };
  return anyOf ? { ...rest, allOf: [union, { anyOf }] } : { ...rest, ...union };
}

/** The playbook JSON Schema; `kinds` is the catalog of step kinds (src/steps/index.ts kindCatalog()). */
export function playbookJsonSchema(kinds: KindCatalog): Json {
  const schema = generatedBase();
  const defs = schema.$defs as Record<string, Json>;
  const step = defs.step!;
  step.oneOf = [
    { ...present('uses'), description: 'a built-in step kind' },
    { ...present('run'), description: 'a command (shorthand for uses: exec)' },
    { ...present('steps'), description: 'a group of steps' },
  ];
  step.allOf = [...stepStructure(), ...stepKinds(kinds, step)];
  const params = ((schema.properties as Record<string, Json>).params!.additionalProperties as Json);
  params.allOf = paramRules();

  const { $schema, ...rest } = singleTypes(schema) as Json;
  return {
    $schema,
    title: 'rb playbook',
    description: 'A rollback procedure run by rb (`rb run <name>`, preview with `rb plan <name>`). Generated by scripts/gen-schema.ts; do not edit.',
    ...rest,
  };
}

/** The text of playbooks/schema.json: stable key order, two-space indent, final newline. */
export function renderPlaybookJsonSchema(kinds: KindCatalog): string {
  return `${JSON.stringify(playbookJsonSchema(kinds), null, 2)}\n`;
}
