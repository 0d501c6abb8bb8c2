/**
 * Integration tests of the built `rb` (dist/cli.js) against real throwaway repositories, run as
 * a user would (stdin closed, so never a TTY): the command-line surface, playbook discovery, a
 * custom playbook from .rb/playbooks/ end to end (journal, history, show, records), plans and
 * dry runs, invalid playbooks, shell injection, and errors outside a repository.
 *
 * The engine's concurrency, interruption and crash behaviour is in engine.test.ts.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { rb, rbSpawn } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';
import { tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { addPlaybook, commonDir, journal, journalFiles, onlyJournal, runsDir } from './helpers/runs.js';

const repos = tmpRepos();
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const BUILTIN = (name: string) => fileURLToPath(new URL(`../playbooks/${name}.yaml`, import.meta.url));

/** A custom playbook using exec/run steps, capture, report and metrics.record. */
const CUSTOM = `name: custom
title: Custom procedure
severity: medium
params:
  who: { type: string, default: world }
  sprint: { type: integer, default: 0 }
steps:
  - { id: hello, title: "Say hello to {{params.who}}", run: [echo, "hello {{params.who}}"] }
  - { id: log, uses: exec, with: { command: [git, log, --oneline], to: "{{run.dir}}/log.txt" } }
  - { id: status, uses: capture, with: { command: [git, status, --short], to: "{{run.dir}}/status.txt" } }
  - id: report
    uses: report
    with:
      to: "{{run.dir}}/report.md"
      template: |
        # Report for {{params.who}}

        Run {{run.id}}.
  - { id: metrics, uses: metrics.record, with: { cause: config, sprint: "{{params.sprint}}" } }
`;

function customRepo(): TestRepo {
  const r = repos.make();
  addPlaybook(r.root, 'custom', CUSTOM);
  return r;
}

/** Every path under `dir` (recursively, .git included) whose name starts with `prefix`. */
function findNamed(dir: string, prefix: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.name.startsWith(prefix)) out.push(p);
    if (e.isDirectory() && !e.isSymbolicLink()) out.push(...findNamed(p, prefix));
  }
  return out;
}

describe('the command-line surface', () => {
  it('prints its version, its help with examples and exit codes, and an example for every command', async () => {
    const cwd = tmpDir();
    const v = rb(cwd, ['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);

    const h = rb(cwd, ['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: rb');
    expect(h.stdout).toContain('Examples:');
    expect(h.stdout).toMatch(/Exit codes: 0 ok/);

    // every command listed in the help, whatever later issues add
    const section = h.stdout.slice(h.stdout.indexOf('Commands:\n'), h.stdout.indexOf('\n\n', h.stdout.indexOf('Commands:\n')));
    const commands = [...section.matchAll(/^  ([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['playbooks', 'plan', 'run', 'emergency', 'sprint', 'files', 'undo', 'resume', 'abort', 'history', 'show', 'status', 'config']));
    const helps = await Promise.all(commands.map((c) => rbSpawn(cwd, [c, '--help']).done));
    for (const [i, c] of commands.entries()) {
      const ch = helps[i]!;
      expect(ch.code, `rb ${c} --help`).toBe(0);
      expect(ch.stdout, `rb ${c} --help`).toContain(`Usage: rb ${c}`);
      expect(ch.stdout, `rb ${c} --help shows an example`).toMatch(/Examples?:\n  rb /);
    }
  });

  it('exits 2 on an unknown command, an unknown option or a missing argument, and says so', () => {
    const cwd = tmpDir();
    const r = rb(cwd, ['rollback-everything']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'rollback-everything'");
    const o = rb(cwd, ['status', '--frobnicate']);
    expect(o.code).toBe(2);
    expect(o.stderr).toContain("unknown option '--frobnicate'");
    const m = rb(cwd, ['run']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain("missing required argument 'playbook'");
  });
});

describe('rb playbooks', () => {
  it('lists the built-ins and the repository playbooks with their source; a repository file overrides a built-in', () => {
    const r = customRepo();
    const files = readFileSync(BUILTIN('files'), 'utf8').replace(/^title: .*$/m, 'title: Our own file restore');
    addPlaybook(r.root, 'files', files);

    const t = rb(r.root, ['playbooks']);
    expect(t.code, t.stderr).toBe(0);
    const rows = Object.fromEntries(t.stdout.trim().split('\n').slice(1).map((l) => [l.split(/\s+/)[0], l]));
    expect(rows.emergency).toMatch(/^emergency\s+1\s+.*\sbuilt-in$/);
    expect(rows.sprint).toMatch(/^sprint\s+2\s+.*\sbuilt-in$/);
    expect(rows.files).toMatch(/^files\s+3\s+Our own file restore\s+repository \(overrides built-in\)$/);
    expect(rows.custom).toMatch(/^custom\s+-\s+Custom procedure\s+repository$/);

    const j = rb(r.root, ['playbooks', '--json']);
    expect(j.code).toBe(0);
    const list = JSON.parse(j.stdout).playbooks as { name: string; level: number | null; source: string; overrides: boolean; file: string }[];
    const by = Object.fromEntries(list.map((p) => [p.name, p]));
    expect(by.emergency).toMatchObject({ level: 1, source: 'built-in', overrides: false });
    expect(by.sprint).toMatchObject({ level: 2, source: 'built-in', overrides: false });
    expect(by.files).toMatchObject({ level: 3, source: 'repository', overrides: true, file: join(r.root, '.rb', 'playbooks', 'files.yaml') });
    expect(by.custom).toMatchObject({ level: null, source: 'repository', overrides: false });

    // the override is the one that is planned
    const p = rb(r.root, ['plan', 'files', '--set', 'paths=README.md']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('Our own file restore');
    expect(p.stdout).toContain(`from ${join(r.root, '.rb', 'playbooks', 'files.yaml')}`);
  });
});

describe('a custom playbook from .rb/playbooks/', () => {
  it('runs, journals every step, appears in history and show, and writes the records', () => {
    const r = customRepo();
    const res = rb(r.root, ['run', 'custom', '--set', 'who=bob', '--set', 'sprint=7']);
    expect(res.code, res.stderr).toBe(0);

    // the journal, in the git common dir
    const files = journalFiles(r.root);
    expect(files).toHaveLength(1);
    const id = files[0]!.replace(/\.json$/, '');
    expect(id).toMatch(/^\d{8}-\d{6}-custom-7$/);
    expect(runsDir(r.root)).toBe(join(commonDir(r.root), 'rb', 'runs'));
    const j = journal(r.root, id);
    expect(j).toMatchObject({ id, playbook: 'custom', playbookSource: 'repository', status: 'succeeded', params: { who: 'bob', sprint: 7 }, changed: false });
    expect(j.steps.map((s: { id: string }) => s.id)).toEqual(['hello', 'log', 'status', 'report', 'metrics']);
    for (const s of j.steps) expect(s.status, `step ${s.id}`).toBe('succeeded');
    expect(j.steps[0].commands).toEqual(["echo 'hello bob'"]);
    expect(j.steps[0].outputTail).toBe('hello bob');
    expect(res.stdout).toContain(`run ${id} succeeded`);
    expect(existsSync(join(commonDir(r.root), 'rb', 'lock'))).toBe(false);

    // files written under rollbacks/<run dir>/
    const dir = join(r.root, 'rollbacks', j.runDir);
    expect(readFileSync(join(dir, 'log.txt'), 'utf8')).toContain('initial commit');
    expect(existsSync(join(dir, 'status.txt'))).toBe(true);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain('# Report for bob');
    expect(report).toContain(`Run ${id}.`);
    expect(j.report).toBe(`rollbacks/${j.runDir}/report.md`);

    // history
    const h = rb(r.root, ['history']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(new RegExp(`^[@ ]\\s+${id}\\s+succeeded\\s+custom\\s`, 'm'));
    const hj = rb(r.root, ['history', '--json']);
    expect(hj.code).toBe(0);
    const runs = JSON.parse(hj.stdout).runs;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id, playbook: 'custom', status: 'succeeded', title: 'Custom procedure' });

    // show: steps and their commands
    const sh = rb(r.root, ['show', id]);
    expect(sh.code, sh.stderr).toBe(0);
    expect(sh.stdout).toContain(`Run ${id}: Custom procedure (playbook custom)`);
    expect(sh.stdout).toContain('status:   succeeded');
    expect(sh.stdout).toMatch(/✔ hello — Say hello to bob \[exec\] succeeded/);
    expect(sh.stdout).toContain("$ echo 'hello bob'");
    expect(sh.stdout).toContain('$ git log --oneline');
    expect(sh.stdout).toContain('$ git status --short');
    for (const s of ['hello', 'log', 'status', 'report', 'metrics']) expect(sh.stdout).toMatch(new RegExp(`✔ ${s} — `));
    const sj = rb(r.root, ['show', id.slice(0, -3), '--json']); // a unique prefix
    expect(sj.code, sj.stderr).toBe(0);
    expect(JSON.parse(sj.stdout).run).toMatchObject({ id, status: 'succeeded' });
    expect(rb(r.root, ['show', 'no-such-run']).code).toBe(2);

    // metrics.json in the established format, plus rb's fields
    const m = JSON.parse(readFileSync(join(r.root, 'rollbacks', 'metrics.json'), 'utf8'));
    expect(Object.keys(m)).toEqual(['rollbacks', 'statistics']);
    expect(m.rollbacks).toHaveLength(1);
    const e = m.rollbacks[0];
    expect(Object.keys(e).slice(0, 5)).toEqual(['timestamp', 'sprint', 'severity', 'cause', 'recovery_time_minutes']);
    expect(e).toMatchObject({ sprint: 7, severity: 'medium', cause: 'config', run_id: id, playbook: 'custom', level: null, undone: false, baseline: 'baseline', branch: 'main' });
    expect(new Date(e.timestamp).toISOString()).toBe(e.timestamp);
    expect(typeof e.recovery_time_minutes).toBe('number');
    expect(e.recovery_time_minutes).toBeGreaterThanOrEqual(0);
    expect(Number.isInteger(e.duration_ms)).toBe(true);
    expect(m.statistics).toEqual({ total_rollbacks: 1, by_cause: { config: 1 }, average_recovery_time: e.recovery_time_minutes });
    // every key the published schema requires is there
    const schema = JSON.parse(readFileSync(new URL('../rollbacks/metrics.schema.json', import.meta.url), 'utf8'));
    for (const k of schema.required) expect(m).toHaveProperty(k);
    for (const k of schema.properties.rollbacks.items.required) expect(e).toHaveProperty(k);
    for (const k of schema.properties.statistics.required) expect(m.statistics).toHaveProperty(k);

    // one audit line
    const audit = readFileSync(join(r.root, 'rollbacks', 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]!)).toMatchObject({ run_id: id, action: 'run', playbook: 'custom', result: 'succeeded', git_user: 'rb test', cwd: r.root });

    // rollbacks/ is excluded from git
    const exclude = readFileSync(join(r.root, r.git('rev-parse', '--git-path', 'info/exclude').trim()), 'utf8');
    expect(exclude.split('\n')).toContain('/rollbacks/');
    expect(r.git('status', '--porcelain', '--untracked-files=all')).not.toContain('rollbacks');
  });

  it('a minimal playbook (name and steps, no titles) runs: the title defaults to the name, a step\'s to its id', () => {
    const r = repos.make();
    addPlaybook(r.root, 'slow', 'name: slow\nsteps:\n  - id: wait\n    run: [node, -e, "setTimeout(() => {}, 10)"]\n');
    const p = rb(r.root, ['plan', 'slow']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain('Plan: slow (playbook slow)');
    expect(p.stdout).toMatch(/1\. wait \[exec\]/);
    const res = rb(r.root, ['run', 'slow']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('slow: run ');
    const j = onlyJournal(r.root);
    expect(j).toMatchObject({ playbook: 'slow', title: 'slow', status: 'succeeded' });
    expect(j.steps.map((s: { id: string; title: string }) => [s.id, s.title])).toEqual([['wait', 'wait']]);
    const list = rb(r.root, ['playbooks', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(list.stdout))).toContain('"slow"');
  });

  it('extends an existing metrics.json in the old format without losing anything', () => {
    const r = customRepo();
    const old = {
      rollbacks: [
        { timestamp: '2024-03-01T10:00:00Z', sprint: 3, severity: 'high', cause: 'tests', recovery_time_minutes: 12.5 },
        { timestamp: '2024-04-11T16:20:00Z', sprint: 4, severity: 'critical', cause: 'deps', recovery_time_minutes: 30 },
        { timestamp: '2024-05-02T09:05:00Z', sprint: null, severity: 'low', cause: 'tests', recovery_time_minutes: 7 },
      ],
      statistics: { total_rollbacks: 99, by_cause: { stale: 1 }, average_recovery_time: 1, last_review: '2024-05' },
      team: { name: 'platform', notes: ['keep me', { nested: [1, 2.5, null, true] }] },
    };
    r.write('rollbacks/metrics.json', JSON.stringify(old, null, 4) + '\n');

    const res = rb(r.root, ['run', 'custom', '--json', '--set', 'who=ann']);
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout); // --json: one JSON document on stdout, nothing else
    expect(out.run).toMatchObject({ playbook: 'custom', status: 'succeeded' });

    const m = JSON.parse(readFileSync(join(r.root, 'rollbacks', 'metrics.json'), 'utf8'));
    expect(m.rollbacks).toHaveLength(4);
    old.rollbacks.forEach((e, i) => expect(JSON.stringify(m.rollbacks[i]), `entry ${i}`).toBe(JSON.stringify(e)));
    expect(JSON.stringify(m.team)).toBe(JSON.stringify(old.team));
    const mine = m.rollbacks[3];
    expect(mine).toMatchObject({ run_id: out.run.id, cause: 'config', severity: 'medium' });
    const times = [12.5, 30, 7, mine.recovery_time_minutes];
    expect(m.statistics).toEqual({
      total_rollbacks: 4,
      by_cause: { tests: 2, deps: 1, config: 1 },
      average_recovery_time: Math.round((times.reduce((a, b) => a + b, 0) / 4) * 100) / 100,
      last_review: '2024-05',
    });
  });
});

describe('rb plan and --dry-run', () => {
  it('prints numbered steps with the exact commands, as text and JSON', () => {
    const r = customRepo();
    const p = rb(r.root, ['plan', 'custom', '--set', 'who=bob']);
    expect(p.code, p.stderr).toBe(0);
    const lines = p.stdout.split('\n');
    const numbered = lines.filter((l) => /^\s+\d+\. /.test(l)).map((l) => l.trim());
    expect(numbered).toEqual([
      '1. Say hello to bob [exec]',
      '2. log [exec]',
      '3. status [capture]',
      '4. report [report]',
      '5. metrics [metrics.record]',
    ]);
    expect(lines).toContain("     $ echo 'hello bob'");
    expect(p.stdout).toMatch(/^ {5}\$ git status --short {2}> rollbacks\/custom-<stamp>\/status\.txt$/m);

    const j = rb(r.root, ['plan', 'custom', '--set', 'who=bob', '--json']);
    expect(j.code).toBe(0);
    const plan = JSON.parse(j.stdout).plan;
    expect(plan.steps.map((s: { id: string }) => s.id)).toEqual(['hello', 'log', 'status', 'report', 'metrics']);
    expect(plan.steps[0]).toMatchObject({ kind: 'exec', commands: ["echo 'hello bob'"], destructive: false });
    expect(plan.params).toEqual({ who: 'bob', sprint: 0 });
    expect(plan.destructive).toBe(false);

    expect(journalFiles(r.root)).toEqual([]);
    expect(existsSync(join(r.root, 'rollbacks'))).toBe(false);
  });

  it("shows where an exec step's `to` output goes (a file under rollbacks/, as for capture)", () => {
    const r = customRepo();
    const p = rb(r.root, ['plan', 'custom']);
    expect(p.code, p.stderr).toBe(0);
    // the step writes rollbacks/custom-<stamp>/log.txt (see the run test above)
    expect(p.stdout).toMatch(/^ {5}\$ git log --oneline {2}> rollbacks\/custom-<stamp>\/log\.txt$/m);
  });

  it('rb run --dry-run prints the plan and changes nothing', () => {
    const r = customRepo();
    r.write('README.md', 'changed, not committed\n');
    r.write('notes.txt', 'untracked\n');
    const before = manifest(r.root);
    const exclude = readFileSync(join(r.root, '.git', 'info', 'exclude'), 'utf8');

    const d = rb(r.root, ['run', 'custom', '--dry-run', '--set', 'who=bob']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain("$ echo 'hello bob'");
    expect(d.stdout).toContain('[dry run] nothing was changed.');
    const dj = rb(r.root, ['run', 'custom', '--dry-run', '--json']);
    expect(dj.code).toBe(0);
    expect(JSON.parse(dj.stdout)).toMatchObject({ dryRun: true });

    expect(manifest(r.root)).toBe(before);
    expect(readFileSync(join(r.root, '.git', 'info', 'exclude'), 'utf8')).toBe(exclude);
    expect(existsSync(join(commonDir(r.root), 'rb'))).toBe(false);
  });
});

describe('invalid playbooks', () => {
  const BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    .concat('bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`))
    .join('\n');

  /** name -> [yaml, expected `line:column: ` and message parts] */
  const cases: Record<string, [string, string, ...(string | RegExp)[]]> = {
    malformed: ['name: malformed\ntitle: x\nsteps:\n  - { id: a, run: [echo, hi]\n', '', /:\d+:\d+: invalid YAML: /],
    'duplicate-key': ['name: duplicate-key\ntitle: x\ntitle: y\nsteps:\n  - { id: a, run: [echo, hi] }\n', '3:1', 'duplicate key'],
    'unknown-key': [
      'name: unknown-key\ntitle: x\nstpes: []\nsteps:\n  - { id: a, run: [echo, hi], continueOnEror: true }\n',
      '3:1',
      'unknown key "stpes" (did you mean "steps"?)',
      ':5:31: step "a": unknown key "continueOnEror" (did you mean "continueOnError"?)',
    ],
    'unknown-uses': [
      'name: unknown-uses\ntitle: x\nsteps:\n  - { id: a, uses: git.rest-hard }\n',
      '4:20',
      'unknown step kind "git.rest-hard" (did you mean "git.reset-hard"?); valid kinds: ',
      /valid kinds: .*\bcapture\b.*\bexec\b.*\bgit\.reset-hard\b.*\bmetrics\.record\b.*\breport\b.*\bsnapshot\b/,
    ],
    'wrong-type': [
      'name: wrong-type\ntitle: x\nsteps:\n  - { id: a, run: [echo, hi], timeout: 5 }\n  - { id: b, run: echo hi }\n',
      '4:40',
      'step "a": timeout: expected a duration',
      ':5:19: step "b": run is a string, which needs a shell',
    ],
    'yaml11-no': ['name: yaml11-no\ntitle: x\nsteps:\n  - { id: a, run: [echo, hi], continueOnError: no }\n', '4:48', 'continueOnError: expected a boolean (true/false), got the string "no" — YAML 1.2 reads it as text'],
    'yaml11-on': [
      'name: yaml11-on\ntitle: x\nsteps:\n  - id: g\n    concurrent: on\n    steps:\n      - { id: a, run: [echo, hi] }\n',
      '5:17',
      'concurrent: expected a boolean (true/false), got the string "on"',
    ],
    'yaml11-octal': [
      'name: yaml11-octal\ntitle: x\nsteps:\n  - { id: a, uses: capture, with: { command: [echo, hi], to: 0777 } }\n',
      '4:62',
      'with.to: expected a string, got the number 777 — YAML 1.2 reads 0777 as the decimal number 777',
    ],
    'duplicate-id': ['name: duplicate-id\ntitle: x\nsteps:\n  - { id: a, run: [echo, hi] }\n  - { id: a, run: [echo, ho] }\n', '5:11', 'duplicate step id "a" (first used at line 4)'],
    'no-snapshot': [
      'name: no-snapshot\ntitle: x\nsteps:\n  - { id: note, run: [echo, hi] }\n  - { id: reset, uses: git.reset-hard, with: { ref: HEAD } }\n',
      '5:24',
      'step "reset" (git.reset-hard) changes the working copy but no snapshot step runs before it',
    ],
    'alias-bomb': [`name: alias-bomb\ntitle: x\n${BOMB}\nsteps:\n  - { id: a, run: [echo, hi] }\n`, '', /:\d+:\d+: aliases expand to too much data.*billion laughs/],
  };

  // one repository for all cases: each run loads only the playbook it names
  let shared: TestRepo | null = null;
  it.each(Object.keys(cases))('%s: file:line:column on stderr, exit 2, no run record', (name) => {
    const [yaml, at, ...parts] = cases[name]!;
    const r = (shared ??= repos.make());
    const file = addPlaybook(r.root, name, yaml);
    const before = manifest(r.root);
    const res = rb(r.root, ['run', name, '--yes']);
    expect(res.code, res.stderr + res.stdout).toBe(2);
    expect(res.stderr).toContain(`rb: playbook ${file} is not valid`);
    if (at) expect(res.stderr).toContain(`  ${file}:${at}: `);
    for (const p of parts) {
      if (typeof p === 'string') expect(res.stderr).toContain(p.startsWith(':') ? `${file}${p}` : p);
      else expect(res.stderr).toMatch(p);
    }
    expect(res.stderr).toMatch(/^next: /m);
    expect(res.stdout).toBe('');
    expect(journalFiles(r.root)).toEqual([]);
    expect(existsSync(join(commonDir(r.root), 'rb'))).toBe(false);
    expect(manifest(r.root)).toBe(before);
    if (name === 'unknown-key') {
      // rb plan and rb playbooks read the same validation
      const p = rb(r.root, ['plan', name]);
      expect(p.code).toBe(2);
      expect(p.stderr).toContain(`${file}:${at}: `);
      const l = rb(r.root, ['playbooks', '--json']);
      expect(l.code).toBe(2);
      const row = JSON.parse(l.stdout).playbooks.find((x: { name: string }) => x.name === name);
      expect(row.error).toContain(`${file}:${at}: `);
    }
  });

  it('bad --set values and unknown playbooks are usage errors without a run record', () => {
    const r = customRepo();
    const bad = rb(r.root, ['run', 'custom', '--set', 'sprint=four', '--set', 'colour=red']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('parameter "sprint" must be an integer, got "four"');
    expect(bad.stderr).toContain('unknown parameter "colour"');
    const none = rb(r.root, ['run', 'nonexistent']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no playbook named "nonexistent"');
    expect(none.stderr).toMatch(/^next: .*rb playbooks/m);
    expect(journalFiles(r.root)).toEqual([]);
  });
});

describe('interpolated values are never parsed by a shell', () => {
  it('$(…), backticks and quotes in a playbook or --set create no file', () => {
    const r = repos.make();
    addPlaybook(
      r.root,
      'inject',
      `name: inject
title: Injection probe
params:
  who: { type: string, default: nobody }
steps:
  - { id: literal, run: [echo, "$(touch pwned)", "\`touch pwned-bt\`"] }
  - { id: argv, run: [echo, "hello {{params.who}}"] }
  - { id: shellPlain, run: "echo hello {{params.who}}", shell: true }
  - { id: shellQuoted, run: "echo \\"{{params.who}}\\" '{{params.who}}'", shell: true }
  - { id: captured, uses: capture, with: { command: [echo, "{{params.who}}"], to: who.txt } }
  - { id: captureShell, uses: capture, with: { command: "echo {{params.who}}", to: who-shell.txt } }
`,
    );
    const cwd = tmpDir('rb-test-cwd-');
    // the value from the brief, then one carrying every quoting trick at once
    const values = ['$(touch pwned2)', `$(touch pwned3)\`touch pwned4\`'; touch pwned5; '"; touch pwned6; "\\'$(touch pwned7)`];
    for (const who of values) {
      const known = new Set(journalFiles(r.root));
      const res = rb(cwd, ['--cwd', r.root, 'run', 'inject', '--set', `who=${who}`]);
      expect(res.code, res.stderr).toBe(0);
      const added = journalFiles(r.root).filter((f) => !known.has(f));
      expect(added).toHaveLength(1);
      const j = journal(r.root, added[0]!.replace(/\.json$/, ''));
      expect(j.status).toBe('succeeded');
      const out = (id: string) => j.steps.find((s: { id: string }) => s.id === id).result.output;
      expect(out('literal')).toBe('$(touch pwned) `touch pwned-bt`\n');
      expect(out('argv')).toBe(`hello ${who}\n`);
      expect(out('shellPlain')).toBe(`hello ${who}\n`);
      expect(out('shellQuoted')).toBe(`${who} ${who}\n`);
      expect(readFileSync(join(r.root, 'rollbacks', 'who.txt'), 'utf8')).toBe(`${who}\n`);
      expect(readFileSync(join(r.root, 'rollbacks', 'who-shell.txt'), 'utf8')).toBe(`${who}\n`);
    }
    expect(findNamed(r.root, 'pwned')).toEqual([]);
    expect(findNamed(cwd, 'pwned')).toEqual([]);
    expect(findNamed(r.dir, 'pwned')).toEqual([]);
  });
});

describe('errors outside a usable repository', () => {
  it('outside a repository: exit 3 with a next: line', () => {
    const cwd = tmpDir();
    for (const args of [['status'], ['history'], ['run', 'custom'], ['plan', 'emergency'], ['playbooks']]) {
      const res = rb(cwd, args);
      expect(res.code, args.join(' ')).toBe(3);
      expect(res.stderr).toContain(`rb: ${cwd} is not inside a git work tree.`);
      expect(res.stderr).toMatch(/^next: .*--cwd/m);
    }
  });

  it('a bare repository: exit 3 with a next: line', () => {
    const r = repos.make({ withOrigin: true });
    const res = rb(r.origin!, ['status']);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^next: /m);
  });

  it('a bare repository is named as such', () => {
    const r = repos.make({ withOrigin: true });
    const res = rb(r.origin!, ['status']);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('is a bare repository');
  });

  it('--cwd (and -C) run rb as if started there', () => {
    const r = customRepo();
    r.mkdir('sub/dir');
    const cwd = tmpDir();
    for (const flag of ['--cwd', '-C']) {
      const s = rb(cwd, [flag, r.root, 'status']);
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout).toContain(`Repository: ${r.root}`);
    }
    const sub = rb(cwd, ['--cwd', join(r.root, 'sub', 'dir'), 'run', 'custom']);
    expect(sub.code, sub.stderr).toBe(0);
    expect(onlyJournal(r.root)).toMatchObject({ status: 'succeeded', root: r.root });
    expect(existsSync(join(r.root, 'rollbacks', 'metrics.json'))).toBe(true);
    expect(existsSync(join(cwd, 'rollbacks'))).toBe(false);
    const missing = rb(cwd, ['--cwd', join(cwd, 'does-not-exist'), 'status']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^next: /m);
  });

  it('an invalid rb.config.yaml: exit 2 with line:column, and nothing runs', () => {
    const r = customRepo();
    writeFileSync(join(r.root, 'rb.config.yaml'), 'baseline: main\nremote: 5\nundo: { windowHours: "x" }\nrollbackDir: out\n');
    const c = rb(r.root, ['config']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('rb: rb.config.yaml is not valid');
    expect(c.stderr).toContain('rb.config.yaml:2:9: remote: ');
    expect(c.stderr).toContain('rb.config.yaml:3:22: undo.windowHours: expected a number');
    expect(c.stderr).toMatch(/rb\.config\.yaml:4:1: unknown key "rollbackDir"/);
    expect(c.stderr).toMatch(/^next: /m);
    const run = rb(r.root, ['run', 'custom', '--yes']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('rb.config.yaml:2:9: ');
    expect(journalFiles(r.root)).toEqual([]);

    writeFileSync(join(r.root, 'rb.config.yaml'), 'baseline: main\nundo: { windowHours: 2 }\n');
    const ok = rb(r.root, ['config', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const cfg = JSON.parse(ok.stdout);
    expect(cfg.config).toMatchObject({ baseline: 'main', remote: 'origin', rollbacksDir: 'rollbacks', undo: { windowHours: 2 } });
    expect(cfg.sources).toMatchObject({ baseline: 'rb.config.yaml', 'undo.windowHours': 'rb.config.yaml' });
  });
});
