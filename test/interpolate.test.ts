import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  evaluateWhen, hasDeferred, interpolate, interpolateArgv, interpolateDeep, interpolateShell, parseTemplate,
  shellQuote, shellTemplateProblem, templateReferences,
} from '../src/playbook/interpolate.js';

const scope = {
  params: { sprint: 4, name: 'feature/x', paths: ['a b', 'c'], force: false, empty: '' },
  config: { baseline: 'baseline', undo: { windowHours: 24 } },
  run: { id: '20261122-101502-sprint-4', stamp: '20261122-101502', dir: 'sprint-4' },
  baseline: 'refs/heads/baseline',
  steps: { log: { exitCode: 0, output: 'ok' } },
};

describe('interpolate', () => {
  it('replaces paths, with or without whitespace inside the braces', () => {
    expect(interpolate('sprint-{{params.sprint}}/{{ run.stamp }}-{{  baseline  }}', scope))
      .toBe('sprint-4/20261122-101502-refs/heads/baseline');
  });

  it('stringifies values: numbers, booleans, null as empty, lists and mappings as JSON', () => {
    expect(interpolate('{{params.force}} {{params.paths}} {{config.undo}} [{{params.empty}}]', { ...scope })).toBe(
      'false ["a b","c"] {"windowHours":24} []',
    );
    expect(interpolate('[{{ x }}]', { x: null })).toBe('[]');
    expect(interpolate('{{ params.paths.1 }}', scope)).toBe('c');
  });

  it('names the expression and what is available when a reference is unknown', () => {
    expect(() => interpolate('{{ params.sprnt }}', scope)).toThrowErrorMatchingInlineSnapshot(
      `[TemplateError: unknown reference "{{ params.sprnt }}": "params" has no "sprnt" (it has: empty, force, name, paths, sprint; available names: baseline, config, params, run, steps)]`,
    );
    expect(() => interpolate('{{ parms.sprint }}', scope)).toThrowErrorMatchingInlineSnapshot(
      `[TemplateError: unknown reference "{{ parms.sprint }}": there is no "parms" (available names: baseline, config, params, run, steps)]`,
    );
  });

  it('never reads inherited properties', () => {
    expect(() => interpolate('{{ params.constructor }}', scope)).toThrow(/has no "constructor"/);
    expect(() => interpolate('{{ params.__proto__ }}', scope)).toThrow(/has no "__proto__"/);
    expect(() => interpolate('{{ params.name.length }}', scope)).toThrow(/has no "length"/);
  });

  it('rejects bad syntax instead of guessing', () => {
    expect(() => interpolate('a {{ params.sprint', scope)).toThrow(/unclosed "\{\{"/);
    expect(() => interpolate('{{ }}', scope)).toThrow(/empty/);
    expect(() => interpolate('{{ params.sprint | default: 3 }}', scope)).toThrow(/unsupported expression/);
    expect(() => interpolate('{{ process.exit() }}', scope)).toThrow(/unsupported expression/);
  });

  it('leaves text without templates alone', () => {
    expect(interpolate('no templates } here {', scope)).toBe('no templates } here {');
    expect(parseTemplate('')).toEqual([]);
  });
});

describe('interpolateDeep / interpolateArgv', () => {
  it('interpolates strings inside lists and mappings, not keys', () => {
    expect(interpolateDeep({ '{{k}}': ['{{params.sprint}}', 3, true, { to: 'sprint-{{params.sprint}}' }] }, scope)).toEqual({
      '{{k}}': ['4', 3, true, { to: 'sprint-4' }],
    });
  });

  it('keeps one argv element as one element, whatever the value contains', () => {
    const evil = { params: { msg: 'a b; rm -rf / $(touch pwned) "q"' } };
    expect(interpolateArgv(['git', 'commit', '-m', 'WIP: {{params.msg}}'], evil)).toEqual([
      'git', 'commit', '-m', 'WIP: a b; rm -rf / $(touch pwned) "q"',
    ]);
  });
});

describe('templateReferences / hasDeferred', () => {
  it('lists what a template reads', () => {
    expect(templateReferences('{{a.b}} and {{ steps.log.output }}')).toEqual([
      { expr: 'a.b', path: ['a', 'b'] },
      { expr: 'steps.log.output', path: ['steps', 'log', 'output'] },
    ]);
  });

  it('tells templates that read steps.* (known only at run time)', () => {
    expect(hasDeferred('x {{ steps.log.output }}')).toBe(true);
    expect(hasDeferred('x {{ params.sprint }}')).toBe(false);
    expect(hasDeferred({ a: ['plain', { b: '{{steps.x.y}}' }] })).toBe(true);
    expect(hasDeferred(['{{run.id}}', 3])).toBe(false);
  });
});

describe('evaluateWhen', () => {
  it('is false for "", false, 0, null, undefined (trimmed, any case) and true otherwise', () => {
    const s = { params: { yes: true, no: false, zero: 0, n: null, text: 'no', one: 1 } };
    expect(evaluateWhen('{{ params.yes }}', s)).toBe(true);
    expect(evaluateWhen('{{ params.no }}', s)).toBe(false);
    expect(evaluateWhen('{{ params.zero }}', s)).toBe(false);
    expect(evaluateWhen('{{ params.n }}', s)).toBe(false);
    expect(evaluateWhen(' FALSE ', s)).toBe(false);
    expect(evaluateWhen('undefined', s)).toBe(false);
    expect(evaluateWhen('', s)).toBe(false);
    expect(evaluateWhen('{{ params.one }}', s)).toBe(true);
    // "no" is ordinary text, hence true: validation warns about `when: no`
    expect(evaluateWhen('{{ params.text }}', s)).toBe(true);
  });
});

describe('interpolateShell', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-interp-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const shells = ['sh', 'bash'].filter((s) => {
    try { execFileSync(s, ['-c', 'true']); return true; } catch { return false; }
  });

  /** runs the command in an empty folder; returns stdout and asserts nothing was created */
  const run = (shell: string, cmd: string): string => {
    const out = execFileSync(shell, ['-c', cmd], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir } });
    expect(readdirSync(dir), `files created by ${shell} -c ${JSON.stringify(cmd)}`).toEqual([]);
    return out;
  };

  const evil = [
    '$(touch pwned)',
    '`touch pwned`',
    "'; touch pwned; '",
    '"; touch pwned; "',
    "it's \"quoted\" \\ back\\slash",
    'a\ntouch pwned\n#',
    '$HOME ${HOME} * ? [a] ~ !x',
    "'\"'\"$(touch pwned)'\"",
    '',
    ' leading and trailing ',
  ];
  const templates: [string, (v: string) => string][] = [
    ['printf %s {{v}}', (v) => v],
    ['printf %s "{{v}}"', (v) => v],
    ["printf %s '{{v}}'", (v) => v],
    ['printf %s "pre {{v}} post"', (v) => `pre ${v} post`],
    ["printf %s 'pre {{v}} post'", (v) => `pre ${v} post`],
    ['printf %s x{{v}}y', (v) => `x${v}y`],
    ['printf %s "$(printf %s "in {{v}}")"', (v) => `in ${v}`],
    ['printf %s "$(printf %s {{v}})"', (v) => v],
    ['printf %s {{v}}{{v}}', (v) => v + v],
    ['printf %s "a"{{v}}\'b\'', (v) => `a${v}b`],
  ];

  it('keeps $(touch pwned) inert: the value is one literal word', () => {
    const cmd = interpolateShell('echo {{ params.msg }}', { params: { msg: '$(touch pwned)' } });
    expect(cmd).toBe("echo '$(touch pwned)'");
    for (const sh of shells) {
      expect(run(sh, cmd)).toBe('$(touch pwned)\n');
      expect(existsSync(join(dir, 'pwned'))).toBe(false);
    }
  });

  it('passes adversarial values through exactly, unquoted or inside the author\'s quotes', () => {
    expect(shells.length).toBeGreaterThan(0);
    for (const sh of shells) {
      for (const [template, expected] of templates) {
        for (const v of evil) {
          const cmd = interpolateShell(template, { v });
          // (sh strips one trailing newline from $( ) output; none of the values end with one)
          expect(run(sh, cmd), `${sh}: ${template} with ${JSON.stringify(v)} -> ${cmd}`).toBe(expected(v));
        }
      }
    }
  });

  it('adapts the quoting to the context of the placeholder', () => {
    const s = { v: "a'b" };
    expect(interpolateShell('echo {{v}}', s)).toBe(`echo 'a'\\''b'`);
    expect(interpolateShell('echo "x {{v}}"', s)).toBe(`echo "x "'a'\\''b'""`);
    expect(interpolateShell("echo 'x {{v}}'", s)).toBe(`echo 'x ''a'\\''b'''`);
  });

  it('refuses places where a value cannot be quoted safely', () => {
    const s = { v: 'x' };
    const cases = [
      'echo `echo {{v}}`',
      'echo "`echo {{v}}`"',
      'echo hi # {{v}}',
      'cat <<EOF\n{{v}}\nEOF',
      'echo ${X:-"{{v}}"}',
      'echo $(( {{v}} + 1 ))',
      "echo $'a' {{v}}",
      'echo \\{{v}}',
      'echo ${{v}}',
      'echo "$(case x in x) echo " {{v}} ;; esac)"',
    ];
    for (const c of cases) {
      expect(() => interpolateShell(c, s), c).toThrow(/cannot place \{\{ v \}\} safely/);
      expect(shellTemplateProblem(c), c).toMatch(/cannot place/);
    }
    expect(shellTemplateProblem('git log "{{ v }}" | head -n 3 # done')).toBeNull();
    expect(shellTemplateProblem('echo a#{{v}}')).toBeNull(); // not a comment: "#" inside a word
    expect(() => interpolateShell('echo hi # {{v}}', s)).toThrowErrorMatchingInlineSnapshot(
      `[TemplateError: cannot place {{ v }} safely in the shell command "echo hi # {{v}}": it is inside a comment]`,
    );
  });

  it('quotes for POSIX sh', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
