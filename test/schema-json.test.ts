/**
 * playbooks/schema.json says what rb says (issue 19, point 8): generated from the validator and
 * the step kinds, it compiles under ajv's strict mode, accepts the shipped playbooks and the
 * documented example, and rejects what rb rejects — `uses: snapshott`, `with: { bogus: 1 }`,
 * `run: "echo hi"` without `shell:` among them (the file before accepted all three, and ajv's
 * strict mode refused to compile it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderPlaybookJsonSchema } from '../src/playbook/schema-json.js';
import { validatePlaybook, type KindCatalog } from '../src/playbook/validate.js';
import { kindCatalog } from '../src/steps/index.js';
import { UsageError } from '../src/errors.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const committed = readFileSync(join(ROOT, 'playbooks/schema.json'), 'utf8');
let kinds: KindCatalog;
let validate: ReturnType<Ajv2020['compile']>;

beforeAll(async () => {
  kinds = await kindCatalog();
  validate = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(committed));
});

/** rb's own verdict: the problems it reports (none: valid). */
function rbProblems(text: string, name = 'p'): string[] {
  try {
    validatePlaybook(text, `${name}.yaml`, 'repository', kinds);
    return [];
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return e.details ?? [e.message];
  }
}

const schemaAccepts = (text: string) => validate(parse(text)) as boolean;

describe('playbooks/schema.json', () => {
  it('is the schema generated from the validator and the step kinds (`npm run gen-schema` after changing them)', () => {
    expect(committed).toBe(renderPlaybookJsonSchema(kinds));
  });

  it('compiles under ajv strict mode (draft 2020-12)', () => {
    expect(JSON.parse(committed).$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(typeof validate).toBe('function');
  });

  it('accepts every shipped playbook and the documented example', () => {
    const files = readdirSync(join(ROOT, 'playbooks')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      const text = readFileSync(join(ROOT, 'playbooks', f), 'utf8');
      expect(validate(parse(text)), `${f}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const docs = readFileSync(join(ROOT, 'docs/playbooks.md'), 'utf8');
    const example = /```yaml\n(# \.rb\/playbooks\/db-rollback\.yaml[\s\S]*?)```/.exec(docs)![1]!;
    expect(rbProblems(example, 'db-rollback')).toEqual([]);
    expect(validate(parse(example)), JSON.stringify(validate.errors)).toBe(true);
  });

  // each: a playbook rb rejects, and what rb says about it
  const broken: [string, string, RegExp][] = [
    ['a misspelt kind', '- { id: s, uses: snapshott }', /unknown step kind "snapshott"/],
    ['an unknown with key', '- { id: s, uses: snapshot, with: { bogus: 1 } }', /bogus/],
    ['a string run without shell', '- { id: r, run: "echo hi" }', /needs a shell/],
    ['shell with an argv run', '- { id: r, run: [echo, hi], shell: true }', /shell: true needs run to be a string/],
    ['shell without run', '- { id: s, uses: snapshot, shell: true }', /shell only applies to run/],
    ['both uses and run', '- { id: s, uses: snapshot, run: [echo] }', /both uses and run/],
    ['neither uses nor run', '- { id: s, title: nothing }', /needs uses: <kind> or run:/],
    ['a group with uses', '- { id: g, uses: snapshot, steps: [{ id: s, uses: snapshot }] }', /a group .* cannot also have "uses"/],
    ['concurrent on a single step', '- { id: s, uses: snapshot, concurrent: true }', /concurrent only applies to a group/],
    ['destructive on a kind', '- { id: s, uses: snapshot }\n  - { id: c, uses: git.clean, destructive: true }', /destructive only applies to run and exec steps/],
    ['a missing required with key', '- { id: s, uses: snapshot }\n  - { id: r, uses: git.reset-hard }', /ref/],
    ['a wrong with type', '- { id: s, uses: snapshot }\n  - { id: c, uses: git.clean, with: { ignored: "yes please" } }', /ignored/],
    ['with.command on a run step', '- { id: r, run: [echo, hi], with: { command: [ls] } }', /with\.command conflicts with run/],
    ['an unknown with key on a run step', '- { id: r, run: [echo, hi], with: { bogus: 1 } }', /bogus/],
    ['a timeout in months', '- { id: s, uses: snapshot, timeout: 6mo }', /duration/],
  ];
  it.each(broken)('rejects what rb rejects: %s', (_what, steps, rbSays) => {
    const text = `name: p\nsteps:\n  ${steps}\n`;
    expect(rbProblems(text).join('\n')).toMatch(rbSays);
    expect(schemaAccepts(text)).toBe(false);
  });

  it('rejects a parameter default of the wrong type, and a required parameter with a default, as rb does', () => {
    for (const [params, rbSays] of [
      ['{ n: { type: integer, default: "four" } }', /expected an integer/],
      ['{ tags: { type: "string[]", default: [1, 2] } }', /expected a list of strings/],
      ['{ n: { type: integer, default: 4, required: true } }', /never missing/],
    ] as const) {
      const text = `name: p\nparams: ${params}\nsteps:\n  - { id: s, uses: snapshot }\n`;
      expect(rbProblems(text).join('\n')).toMatch(rbSays);
      expect(schemaAccepts(text), params).toBe(false);
    }
  });

  it('accepts what rb accepts: templates in with values of any type, shell strings, groups, exec with destructive', () => {
    const text = [
      'name: p',
      'params: { deep: { type: boolean, default: false }, n: { type: integer, default: 3 } }',
      'steps:',
      '  - { id: s, uses: snapshot, with: { message: "before {{params.n}}" } }',
      '  - { id: c, uses: git.clean, with: { ignored: "{{params.deep}}", keep: ["{{config.rollbacksDir}}"] } }',
      '  - { id: sh, run: "echo {{params.n}} | wc -c", shell: true, timeout: 2d }',
      '  - id: g',
      '    concurrent: true',
      '    steps:',
      '      - { id: a, run: [echo, a], with: { to: a.txt } }',
      '      - { id: b, uses: exec, destructive: true, with: { command: [touch, b] } }',
    ].join('\n');
    expect(rbProblems(text)).toEqual([]);
    expect(schemaAccepts(text), JSON.stringify(validate.errors)).toBe(true);
  });
});
