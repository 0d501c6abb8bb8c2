/**
 * `--json` everywhere, errors included (issue 19, point 4): every command but demo takes it;
 * with it, stdout holds exactly one JSON document — for an error `{ "error": { message, exit,
 * next } }` (added to the command's own document when it printed one), with the documented exit
 * code. Before, errors went to stderr only, `rb init` had no --json, and a failed run's document
 * did not say why.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rb, type RbResult } from './helpers/cli.js';
import { tmpDir, tmpRepos } from './helpers/repo.js';

const repos = tmpRepos();

/** stdout is one JSON document (JSON.parse of the whole text) whose `error.exit` is the exit code. */
function jsonError(r: RbResult) {
  const doc = JSON.parse(r.stdout);
  expect(doc.error, r.stdout).toBeDefined();
  expect(doc.error.exit).toBe(r.code);
  expect(typeof doc.error.message).toBe('string');
  expect(doc.error.message.length).toBeGreaterThan(5);
  expect(doc.error.next === null || typeof doc.error.next === 'string').toBe(true);
  return doc;
}

describe('--json', () => {
  it('every command but demo takes --json', () => {
    const help = rb(tmpDir(), ['--help']).stdout;
    const section = help.slice(help.indexOf('\nCommands:\n'), help.indexOf('\nExit codes:'));
    const commands = [...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['init', 'check', 'guard', 'emergency', 'status', 'history']));
    for (const c of commands.filter((c) => c !== 'demo')) expect(rb(tmpDir(), [c, '--help']).stdout, c).toContain('--json');
  });

  it('errors are one JSON document on stdout with the documented exit code and the next command', () => {
    const r = repos.make({ withOrigin: true });
    const outside = tmpDir();
    const cases: [string, string, string[], number, RegExp][] = [
      ['unknown playbook', r.root, ['plan', 'nope', '--json'], 2, /no playbook named "nope"/],
      ['unknown option (commander)', r.root, ['status', '--bogus', '--json'], 2, /unknown option '--bogus'/],
      ['missing argument (commander)', r.root, ['show', '--json'], 2, /missing required argument/],
      ['destructive without --yes', r.root, ['emergency', '--json'], 2, /stdin is not a terminal/],
      ['bad sprint number', r.root, ['sprint', '0', '--json'], 2, /positive whole number/],
      ['bad duration', r.root, ['snapshots', 'prune', '--older-than', '30', '--json'], 2, /duration/],
      ['nothing to undo', r.root, ['undo', '--yes', '--json'], 5, /./],
      ['not a repository: init', outside, ['init', '--json'], 3, /not inside a git work tree/],
      ['not a repository: status', outside, ['status', '--json'], 3, /./],
    ];
    for (const [what, cwd, args, exit, message] of cases) {
      const res = rb(cwd, args);
      expect(res.code, `${what}: ${res.stderr}`).toBe(exit);
      const doc = jsonError(res);
      expect(doc.error.message, what).toMatch(message);
      expect(Object.keys(doc), what).toEqual(['error']);
      if (exit !== 5) expect(doc.error.next, what).toBeTruthy();
      // the human-readable form is still on stderr, for logs
      expect(res.stderr, what).toMatch(/rb: |error: /);
    }
    // a playbook with several problems: each one is a detail
    mkdirSync(join(r.root, '.rb/playbooks'), { recursive: true });
    writeFileSync(join(r.root, '.rb/playbooks/bad.yaml'), 'name: bad\nsteps:\n  - { id: a, uses: snapshott }\n  - { id: b, run: "echo hi" }\n');
    const bad = rb(r.root, ['plan', 'bad', '--json']);
    const doc = jsonError(bad);
    expect(bad.code).toBe(2);
    expect(doc.error.details.join('\n')).toMatch(/bad\.yaml:3:[\s\S]*snapshott[\s\S]*bad\.yaml:4:/);
  });

  it('a failed run: its document says why ({ run, error }), exit 1', () => {
    const r = repos.make();
    mkdirSync(join(r.root, '.rb/playbooks'), { recursive: true });
    writeFileSync(join(r.root, '.rb/playbooks/fails.yaml'), 'name: fails\nsteps:\n  - { id: boom, run: [sh, -c, "echo broken >&2; exit 7"] }\n');
    const res = rb(r.root, ['run', 'fails', '--yes', '--json']);
    expect(res.code).toBe(1);
    const doc = jsonError(res);
    expect(doc.run).toMatchObject({ playbook: 'fails', status: 'failed' });
    expect(doc.error.message).toContain('failed at step "boom"');
    expect(doc.error.next).toContain(`rb show ${doc.run.id}`);
  });

  it('rb init --json: one document, never a prompt; the baseline branch only with --yes', () => {
    const r = repos.make();
    const first = rb(r.root, ['init', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a).toMatchObject({ root: r.root, configWritten: true, excludeAdded: true, baselineCreated: null, config: 'rb.config.yaml', baseline: { name: 'baseline', oid: null } });
    expect(a.next.join('\n')).toContain('rb check');
    const second = JSON.parse(rb(r.root, ['init', '--yes', '--json']).stdout);
    expect(second).toMatchObject({ configWritten: false, baselineCreated: 'baseline', unchanged: false, baseline: { name: 'baseline', ref: 'refs/heads/baseline' } });
    expect(second.baseline.oid).toBe(r.git('rev-parse', 'HEAD').trim());
  });
});
