import { describe, expect, it } from 'vitest';
import { z } from '#zod';
import { UsageError } from '../src/errors.js';
import { validatePlaybook, type KindCatalog } from '../src/playbook/validate.js';
import { MAX_YAML_BYTES, parseYaml } from '../src/playbook/parse.js';

const command = z.union([z.string().min(1), z.array(z.string()).min(1)]);
/** A small catalog shaped like the real one (src/steps). */
const kinds: KindCatalog = {
  exec: {
    with: z.strictObject({ command, cwd: z.string().optional(), to: z.string().optional(), destructive: z.boolean().optional() }),
    destructive: (w: { destructive?: boolean }) => w.destructive === true,
  },
  snapshot: { with: z.strictObject({ message: z.string().optional() }), destructive: false },
  capture: { with: z.strictObject({ command, to: z.string().min(1) }), destructive: false },
  'git.reset-hard': { with: z.strictObject({ ref: z.string().min(1) }), destructive: true },
  'git.clean': {
    with: z.strictObject({ ignored: z.boolean().optional(), keep: z.array(z.string()).optional(), dryRun: z.boolean().optional() }),
    destructive: (w: { dryRun?: boolean }) => w.dryRun !== true,
  },
  'git.commit-all': { with: z.strictObject({ message: z.string().min(1) }), destructive: false },
  report: { with: z.strictObject({ template: z.string(), to: z.string() }), destructive: false, templateRoots: ['report'] },
};

const FILE = 'playbooks/sprint.yaml';

/** The detail lines of the UsageError thrown for `text`. */
function problems(text: string, file = FILE): string[] {
  try {
    validatePlaybook(text, file, 'repository', kinds);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as UsageError).details ?? [];
  }
  throw new Error('expected the playbook to be invalid');
}

const good = `# the sprint rollback
name: sprint
level: 2
title: Sprint rollback
severity: high
target: 15m
params:
  sprint: { type: integer, required: true, description: Sprint number }
  force: { type: boolean, default: false }
steps:
  - id: document
    title: Document the failure
    concurrent: true
    steps:
      - { id: log, uses: capture, with: { command: [git, log, --oneline, "{{baseline}}..HEAD"], to: "sprint-{{params.sprint}}/git_log.txt" } }
      - { id: status, run: [git, status], continueOnError: true }
  - { id: snapshot, uses: snapshot }
  - { id: wip, uses: git.commit-all, with: { message: "WIP: Sprint {{params.sprint}} ({{ steps.log.exitCode }})" } }
  - id: reset
    uses: git.reset-hard
    with: { ref: "{{ baseline }}" }
    confirm: Reset to the baseline?
  - id: note
    run: echo "reset {{ params.sprint }} to {{ config.baseline }}" >> note.txt
    shell: true
    when: "{{ params.force }}"
    timeout: 30s
`;

describe('validatePlaybook: a valid playbook', () => {
  it('returns the playbook with positions on every step', () => {
    const pb = validatePlaybook(good, FILE, 'built-in', kinds);
    expect(pb.name).toBe('sprint');
    expect(pb.level).toBe(2);
    expect(pb.source).toBe('built-in');
    expect(pb.file).toMatch(/\/playbooks\/sprint\.yaml$/);
    expect(pb.params.sprint).toEqual({ type: 'integer', required: true, description: 'Sprint number' });
    expect(pb.steps.map((s) => [s.id, s.line, s.column])).toEqual([
      ['document', 11, 5], ['snapshot', 17, 5], ['wip', 18, 5], ['reset', 19, 5], ['note', 23, 5],
    ]);
    expect(pb.steps[0]!.steps!.map((s) => [s.id, s.line, s.column])).toEqual([['log', 15, 9], ['status', 16, 9]]);
    expect(pb.steps[3]).toMatchObject({ uses: 'git.reset-hard', with: { ref: '{{ baseline }}' }, confirm: 'Reset to the baseline?' });
    expect(pb.steps[4]).toMatchObject({ shell: true, when: '{{ params.force }}', timeout: '30s' });
  });

  it('takes a minimal playbook: name and steps; the title defaults to the name', () => {
    const pb = validatePlaybook('name: slow\nsteps:\n  - { id: a, run: [sleep, "1"] }\n', 'slow.yaml', 'repository', kinds);
    expect(pb.title).toBe('slow');
    expect(pb.steps[0]!.title).toBeUndefined();
  });

  it('reads `when: false` as the string "false"', () => {
    const pb = validatePlaybook('name: x\ntitle: X\nsteps:\n  - { id: a, uses: snapshot, when: false }\n', 'x.yaml', 'repository', kinds);
    expect(pb.steps[0]!.when).toBe('false');
  });
});

describe('validatePlaybook: problems', () => {
  it('reports every problem at once, sorted, as file:line:column lines', () => {
    const text = `name: sprnt
level: 0777
title: Sprint
severity: urgent
target: 15 minutes
colour: red
steps:
  - id: a
    uses: capture
    with: { command: [git, log], to: x }
    continueOnError: no
  - id: b
    uses: snapshot
    concurent: true
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:1:7: name: "sprnt" must equal the file name "sprint" (from sprint.yaml); rename one of them",
        "playbooks/sprint.yaml:2:8: level: expected one of 1, 2 or 3, got the number 777 — YAML 1.2 reads 0777 as the decimal number 777 (octal is written 0o…)",
        "playbooks/sprint.yaml:4:11: severity: expected one of "critical", "high", "medium" or "low", got the string "urgent"",
        "playbooks/sprint.yaml:5:9: target: expected a duration: a number and a unit: ms, s, m (minutes), h, d or w — e.g. 30s, 15m, 12h, 30d, 4w, got the string "15 minutes"",
        "playbooks/sprint.yaml:6:1: unknown key "colour" (valid keys: cause, description, level, name, params, records, severity, steps, target, title)",
        "playbooks/sprint.yaml:11:22: step "a": continueOnError: expected a boolean (true/false), got the string "no" — YAML 1.2 reads it as text",
        "playbooks/sprint.yaml:14:5: step "b": unknown key "concurent" (did you mean "concurrent"?)",
      ]
    `);
  });

  it('names the count in the message and the next step', () => {
    try {
      validatePlaybook('name: x\ntitle: X\nsteps: []\n', 'x.yaml', 'repository', kinds);
      throw new Error('not thrown');
    } catch (e) {
      expect((e as UsageError).message).toBe('playbook x.yaml is not valid (1 problem)');
      expect((e as UsageError).next).toBe('fix the lines above, then run `rb plan <name>` to check');
      expect((e as UsageError).exitCode).toBe(2);
    }
  });

  it('catches YAML 1.1 words that YAML 1.2 reads as text: on, no, yes', () => {
    const text = `name: sprint
title: S
steps:
  - id: g
    concurrent: on
    steps:
      - { id: a, uses: snapshot, continueOnError: yes }
  - { id: b, uses: snapshot, when: no, confirm: "off" }
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:5:17: step "g": concurrent: expected a boolean (true/false), got the string "on" — YAML 1.2 reads it as text",
        "playbooks/sprint.yaml:7:51: step "a": continueOnError: expected a boolean (true/false), got the string "yes" — YAML 1.2 reads it as text",
        "playbooks/sprint.yaml:8:36: step "b": when: "no" is text in YAML 1.2, and any text except "", false, 0, null and undefined is true: write true or false, or a template like "{{ params.force }}"",
        "playbooks/sprint.yaml:8:49: step "b": confirm: "off" would be shown as the question; YAML 1.2 reads it as text — write true or false, or the question to ask",
      ]
    `);
  });

  it('reports malformed YAML with its position', () => {
    expect(problems('name: sprint\ntitle: [unclosed\nsteps: []\n')).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:3:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]",
      ]
    `);
    expect(problems('name: sprint\n\ttitle: x\n')[0]).toMatch(/^playbooks\/sprint\.yaml:2:1: invalid YAML: /);
  });

  it('rejects duplicate keys', () => {
    expect(problems('name: sprint\ntitle: a\ntitle: b\nsteps: [{ id: s, uses: snapshot }]\n')).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:3:1: invalid YAML: duplicate key: this key already appears earlier in the same mapping",
      ]
    `);
  });

  it('rejects several documents and custom tags', () => {
    expect(problems('name: sprint\n---\nname: other\n')[0]).toMatch(/:2:1: invalid YAML: the file contains several YAML documents/);
    expect(problems('name: !!binary aGk=\n')).toEqual([
      'playbooks/sprint.yaml:1:7: invalid YAML: Unresolved tag: tag:yaml.org,2002:binary — rb reads plain YAML 1.2 without custom tags',
    ]);
    expect(problems('? [a, b]\n: c\n')).toEqual(['playbooks/sprint.yaml:1:3: invalid YAML: a key must be plain text, not a list, mapping or alias']);
  });

  it('stops an alias bomb fast with a clear message', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [prev, cur] of ['ab', 'bc', 'cd', 'de', 'ef', 'fg', 'gh', 'hi']) {
      lines.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const out = problems(lines.join('\n') + '\n');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(out).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:2:8: aliases expand to too much data (more than 100 alias expansions); this looks like a "billion laughs" file — write the values out instead of nesting aliases",
      ]
    `);
  });

  it('accepts a few aliases', () => {
    const text = 'name: x\ntitle: &t X\ndescription: *t\nsteps: [{ id: s, uses: snapshot }]\n';
    expect(validatePlaybook(text, 'x.yaml', 'repository', kinds).description).toBe('X');
  });

  it('refuses a file over the size limit before parsing it', () => {
    const huge = `name: sprint\ndescription: "${'x'.repeat(MAX_YAML_BYTES)}"\n`;
    expect(problems(huge)).toEqual(['playbooks/sprint.yaml:1:1: the file is 257 KiB; rb reads YAML files of at most 256 KiB']);
  });

  it('reports an empty file or a list as not a playbook', () => {
    expect(problems('')).toEqual(['playbooks/sprint.yaml:1:1: expected a playbook (a mapping with name and steps), got an empty value (null)']);
    expect(problems('- a\n')).toEqual(['playbooks/sprint.yaml:1:1: expected a playbook (a mapping with name and steps), got a list']);
  });

  it('lists the valid kinds for an unknown uses, suggesting the closest', () => {
    const text = 'name: sprint\ntitle: S\nsteps:\n  - { id: a, uses: git.rest-hard }\n  - { id: b, uses: deploy }\n';
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:4:20: step "a": unknown step kind "git.rest-hard" (did you mean "git.reset-hard"?); valid kinds: capture, exec, git.clean, git.commit-all, git.reset-hard, report, snapshot",
        "playbooks/sprint.yaml:5:20: step "b": unknown step kind "deploy"; valid kinds: capture, exec, git.clean, git.commit-all, git.reset-hard, report, snapshot",
      ]
    `);
  });

  it('rejects duplicate step ids anywhere in the tree', () => {
    const text = `name: sprint
title: S
steps:
  - id: a
    uses: snapshot
  - id: g
    steps:
      - { id: a, uses: snapshot }
      - { id: g, uses: snapshot }
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:8:15: duplicate step id "a" (first used at line 4); step ids must be unique in the whole playbook",
        "playbooks/sprint.yaml:9:15: duplicate step id "g" (first used at line 6); step ids must be unique in the whole playbook",
      ]
    `);
  });

  it('validates `with` against the kind\'s schema, at the right line and column', () => {
    const text = `name: sprint
title: S
steps:
  - { id: snap, uses: snapshot }
  - id: reset
    uses: git.reset-hard
    with:
      ref: 42
      hard: true
  - id: log
    uses: capture
    with: { command: [git, log] }
  - { id: wip, uses: git.commit-all }
  - { id: msg, uses: git.commit-all, with: { message: "{{ params.nope }}" } }
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:8:12: step "reset": with.ref: expected a string, got the number 42 — write "42" in quotes to make it text",
        "playbooks/sprint.yaml:9:7: step "reset": with: unknown key "hard" (valid keys: ref)",
        "playbooks/sprint.yaml:12:11: step "log": with: missing required key "to" (a string)",
        "playbooks/sprint.yaml:13:5: step "wip": with: missing required key "message" (a string)",
        "playbooks/sprint.yaml:14:55: step "msg": with.message: {{ params.nope }}: the playbook declares no parameter "nope"; declared: none (add it under params:)",
      ]
    `);
  });

  it('checks the structure of steps: uses / run / steps, shell, concurrent, destructive', () => {
    const text = `name: sprint
title: S
steps:
  - { id: snap, uses: snapshot }
  - { id: none }
  - { id: both, uses: snapshot, run: [ls] }
  - { id: str, run: ls -la }
  - { id: argv, run: [ls], shell: true }
  - { id: sh, uses: snapshot, shell: true }
  - { id: conc, uses: snapshot, concurrent: true }
  - { id: kinddestr, uses: git.reset-hard, with: { ref: x }, destructive: false }
  - id: grp
    uses: snapshot
    steps: [{ id: inner, uses: snapshot }]
  - { id: 1st, uses: snapshot }
  - { id: cmd, run: [ls], with: { command: [pwd] } }
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:5:5: step "none": needs uses: <kind> or run: <command> (or steps: for a group)",
        "playbooks/sprint.yaml:6:33: step "both": has both uses and run; a step does one thing (run: is shorthand for uses: exec)",
        "playbooks/sprint.yaml:7:21: step "str": run is a string, which needs a shell: write it as a list (run: [git, status]) or add shell: true",
        "playbooks/sprint.yaml:8:35: step "argv": shell: true needs run to be a string; an argv list never goes through a shell",
        "playbooks/sprint.yaml:9:31: step "sh": shell only applies to run:",
        "playbooks/sprint.yaml:10:33: step "conc": concurrent only applies to a group; add steps: under it, or remove concurrent",
        "playbooks/sprint.yaml:11:62: step "kinddestr": destructive only applies to run and exec steps; whether "git.reset-hard" is destructive is fixed by its kind",
        "playbooks/sprint.yaml:13:5: step "grp": a group (a step with steps:) cannot also have "uses"; move it into one of its steps",
        "playbooks/sprint.yaml:15:11: step steps[9]: id: expected a step id of letters, digits, "_" or "-", starting with a letter, got the string "1st"",
        "playbooks/sprint.yaml:16:35: step "cmd": with.command conflicts with run:; give the command once",
      ]
    `);
  });

  it('checks params: names, types and defaults', () => {
    const text = `name: sprint
title: S
params:
  count: { type: integer, default: "3" }
  mode: { type: strng }
  flag: { type: boolean, required: true, default: true }
  9lives: { type: string }
steps: [{ id: s, uses: snapshot }]
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:4:36: params.count.default: expected an integer (the parameter's type), got the string "3"",
        "playbooks/sprint.yaml:5:17: params.mode.type: expected one of "string", "integer", "number", "boolean" or "string[]", got the string "strng" (did you mean "string"?)",
        "playbooks/sprint.yaml:6:36: params.flag: a parameter with a default is never missing; drop "required: true" or the default",
        "playbooks/sprint.yaml:7:3: params: invalid key "9lives": expected a parameter name of letters, digits, "_" or "-", not starting with a digit",
      ]
    `);
  });

  it('checks template references: roots, params, config keys, and step order', () => {
    const text = `name: sprint
title: S
params:
  sprint: { type: integer }
steps:
  - { id: a, run: [echo, "{{ parms.sprint }}", "{{ config.baselin }}", "{{ steps.b.output }}", "{{ steps.zz.x }}"] }
  - { id: b, run: [echo, "{{ steps.a.output }} {{ steps.b.output }}"], when: "{{ params.sprnt }}" }
  - { id: c, run: [echo, "{{ unclosed"] }
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:6:26: step "a": run[1]: {{ parms.sprint }}: there is no "parms" (did you mean "params"?); a template reads params, config, run, baseline, steps",
        "playbooks/sprint.yaml:6:48: step "a": run[2]: {{ config.baselin }}: rb.config.yaml has no key "baselin" (did you mean "baseline"?)",
        "playbooks/sprint.yaml:6:72: step "a": run[3]: {{ steps.b.output }}: step "b" has not run yet at this point (it runs later, or at the same time in a concurrent group)",
        "playbooks/sprint.yaml:6:96: step "a": run[4]: {{ steps.zz.x }}: there is no step "zz"",
        "playbooks/sprint.yaml:7:26: step "b": run[1]: {{ steps.b.output }}: a step cannot read its own results; {{ steps.b.… }} is for the steps after it",
        "playbooks/sprint.yaml:7:78: step "b": when: {{ params.sprnt }}: the playbook declares no parameter "sprnt" (did you mean "sprint"?); declared: sprint",
        "playbooks/sprint.yaml:8:26: step "c": run[1]: unclosed "{{" in "{{ unclosed": every "{{" needs a matching "}}"",
      ]
    `);
  });

  it('lets a kind widen what its own `with` templates may read (templateRoots)', () => {
    const text = `name: sprint
title: S
steps:
  - { id: r, uses: report, with: { to: r.md, template: "{{ report.date }} {{ run.id }}" } }
  - { id: c, uses: capture, with: { to: "{{ report.date }}", command: [ls] } }
`;
    expect(problems(text)).toEqual([
      'playbooks/sprint.yaml:5:41: step "c": with.to: {{ report.date }}: there is no "report"; a template reads params, config, run, baseline, steps',
    ]);
  });

  it('turns data nested beyond what can be read into a problem, not a crash', () => {
    let steps = '[{ id: s, uses: snapshot }]';
    for (let i = 0; i < 3000; i++) steps = `[{ id: g${i}, steps: ${steps} }]`;
    expect(problems(`name: sprint\ntitle: S\nsteps: ${steps}\n`)[0]).toMatch(/the data nests too deeply for rb to read/);
  });

  it('refuses shell placeholders that cannot be quoted safely', () => {
    const text = 'name: sprint\ntitle: S\nsteps:\n  - { id: a, run: "echo `date` {{ run.id }}", shell: true }\n';
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:4:19: step "a": run: cannot place {{ run.id }} safely in the shell command "echo \`date\` {{ run.id }}": it is inside backticks (use $( ) instead)",
      ]
    `);
  });
});

describe('validatePlaybook: a destructive step needs a snapshot before it', () => {
  const head = 'name: sprint\ntitle: S\nparams:\n  force: { type: boolean, default: false }\nsteps:\n';

  it('flags a destructive kind with no snapshot before it', () => {
    expect(problems(`${head}  - { id: reset, uses: git.reset-hard, with: { ref: main } }\n  - { id: snap, uses: snapshot }\n`))
      .toMatchInlineSnapshot(`
        [
          "playbooks/sprint.yaml:6:24: step "reset" (git.reset-hard) changes the working copy but no snapshot step runs before it; add { id: snapshot, uses: snapshot } before it",
        ]
      `);
  });

  it('uses the kind\'s function on `with` and the destructive flag of run/exec steps', () => {
    const text = `${head}  - { id: preview, uses: git.clean, with: { dryRun: true } }
  - { id: clean, uses: git.clean }
  - { id: wipe, run: [rm, -rf, build], destructive: true }
  - { id: wipe2, uses: exec, with: { command: [rm, x] }, destructive: true }
  - { id: wipe3, uses: exec, with: { command: [rm, x], destructive: true } }
  - { id: ls, run: [ls] }
`;
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:7:24: step "clean" (git.clean) changes the working copy but no snapshot step runs before it; add { id: snapshot, uses: snapshot } before it",
        "playbooks/sprint.yaml:8:22: step "wipe" (run) changes the working copy but no snapshot step runs before it; add { id: snapshot, uses: snapshot } before it",
        "playbooks/sprint.yaml:9:24: step "wipe2" (exec) changes the working copy but no snapshot step runs before it; add { id: snapshot, uses: snapshot } before it",
        "playbooks/sprint.yaml:10:24: step "wipe3" (exec) changes the working copy but no snapshot step runs before it; add { id: snapshot, uses: snapshot } before it",
      ]
    `);
  });

  it('accepts a snapshot earlier in the list or inside an earlier group', () => {
    const text = `${head}  - id: prep
    steps:
      - { id: snap, uses: snapshot }
  - id: work
    concurrent: true
    steps:
      - { id: reset, uses: git.reset-hard, with: { ref: main } }
      - { id: clean, uses: git.clean }
`;
    expect(validatePlaybook(text, FILE, 'repository', kinds).steps).toHaveLength(2);
  });

  it('does not count a snapshot that runs concurrently with the destructive step', () => {
    const text = `${head}  - id: g
    concurrent: true
    steps:
      - { id: snap, uses: snapshot }
      - { id: reset, uses: git.reset-hard, with: { ref: main } }
  - { id: clean, uses: git.clean }
`;
    // "clean" is fine: the whole group, snapshot included, has finished before it starts
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:10:28: step "reset" (git.reset-hard) changes the working copy but no snapshot step runs before it (snapshot step "snap" runs at the same time, in the same concurrent group); add { id: snapshot, uses: snapshot } before it",
      ]
    `);
  });

  it('does not count a snapshot that may be skipped (when) or may fail (continueOnError)', () => {
    const text = `${head}  - { id: maybe, uses: snapshot, when: "{{ params.force }}" }
  - id: soft
    continueOnError: true
    steps:
      - { id: snap, uses: snapshot }
  - { id: clean, uses: git.clean }
  - { id: clean2, uses: git.clean, when: "{{ params.force }}" }
  - id: inside
    continueOnError: true
    steps:
      - { id: snap2, uses: snapshot }
      - { id: clean3, uses: git.clean }
`;
    // clean2 shares the snapshot's condition; clean3 cannot run once snap2 failed (same group)
    expect(problems(text)).toMatchInlineSnapshot(`
      [
        "playbooks/sprint.yaml:11:24: step "clean" (git.clean) changes the working copy but no snapshot step runs before it (snapshot step "maybe" may be skipped: its when: "{{ params.force }}"; snapshot step "snap" may fail and the run go on: its group "soft" has continueOnError: true); add { id: snapshot, uses: snapshot } before it",
      ]
    `);
  });
});

describe('parseYaml', () => {
  it('uses YAML 1.2 core: on/no/yes stay strings, 0777 is 777, 0o777 is octal', () => {
    const r = parseYaml('a: on\nb: no\nc: yes\nd: 0777\ne: 0o777\nf: True\ng: ~\n', 'x.yaml');
    expect(r.ok && r.parsed.data).toEqual({ a: 'on', b: 'no', c: 'yes', d: 777, e: 511, f: true, g: null });
  });

  it('finds the position of keys and values by path, through aliases', () => {
    const r = parseYaml('a:\n  b: [1, {c: 2}]\nd: &x {e: 3}\nf: *x\n', 'x.yaml');
    if (!r.ok) throw new Error('parse failed');
    expect(r.parsed.positionOf(['a', 'b', 1, 'c'])).toEqual({ line: 2, column: 14 });
    expect(r.parsed.positionOf(['a', 'b', 1, 'c'], { key: true })).toEqual({ line: 2, column: 11 });
    expect(r.parsed.positionOf(['f', 'e'])).toEqual({ line: 3, column: 11 });
    expect(r.parsed.positionOf(['a', 'missing'])).toEqual({ line: 2, column: 3 });
    expect(r.parsed.sourceOf(['a', 'b', 0])).toBe('1');
  });
});
