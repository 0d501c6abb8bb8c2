/**
 * The GitHub Action (issue 19, point 2): action.yml is a composite action whose inputs map to
 * `rb check`'s options. The test reads action.yml with `yaml`, fills in the `${{ inputs.* }}`
 * expressions as the runner does, and runs the step's own bash script — first with a stand-in
 * `rb` that records its argv, then with the built rb on a throwaway repository with the runner's
 * environment (GITHUB_ACTIONS, GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, RUNNER_TEMP), so the
 * annotations and the job summary are the real ones. The install step (npm ci and a build in
 * the action's checkout) is not run here: it is what `npm ci && npm run build` already is.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { RB } from './helpers/cli.js';
import { testEnv, tmpDir, tmpRepos } from './helpers/repo.js';

const repos = tmpRepos();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
interface Step { name: string; id?: string; shell: string; run: string; env?: Record<string, string> }
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as {
  inputs: Record<string, { default: string; description: string }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: Step[] };
};
const checkStep = action.runs.steps.find((s) => s.id === 'check')!;

/** `${{ inputs.x }}` and `${{ github.action_path }}` as the runner fills them in; anything else is a test failure. */
function expand(text: string, inputs: Record<string, string>): string {
  return text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_m, expr: string) => {
    const input = /^inputs\.([\w-]+)$/.exec(expr);
    if (input) {
      expect(action.inputs, `an input named ${input[1]}`).toHaveProperty([input[1]!]);
      return inputs[input[1]!] ?? action.inputs[input[1]!]!.default;
    }
    if (expr === 'github.action_path') return ROOT;
    throw new Error(`action.yml uses an expression this test does not know: ${expr}`);
  });
}

/** Run the check step's script the way the runner does (bash, its env, the workspace as cwd). */
function runCheckStep(workspace: string, inputs: Record<string, string>, rbBin: string) {
  const runnerTemp = tmpDir('rb-runner-');
  const files = { summary: join(runnerTemp, 'summary.md'), output: join(runnerTemp, 'output') };
  writeFileSync(files.summary, '');
  writeFileSync(files.output, '');
  const env = Object.fromEntries(Object.entries(checkStep.env ?? {}).map(([k, v]) => [k, expand(String(v), inputs)]));
  const r = spawnSync('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail', '-c', expand(checkStep.run, inputs)], {
    cwd: workspace,
    env: testEnv({ ...env, PATH: `${rbBin}:${process.env.PATH}`, GITHUB_ACTIONS: 'true', CI: 'true', GITHUB_STEP_SUMMARY: files.summary, GITHUB_OUTPUT: files.output, RUNNER_TEMP: runnerTemp, NO_COLOR: '1' }),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, summary: readFileSync(files.summary, 'utf8'), output: readFileSync(files.output, 'utf8') };
}

/** A bin dir whose `rb` records its argv (one JSON line per call) and exits 0. */
function recordingRb(): { bin: string; calls: () => string[][] } {
  const bin = tmpDir('rb-bin-');
  const log = join(bin, 'calls.jsonl');
  writeFileSync(join(bin, 'rb'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)) + "\\n")' ${JSON.stringify(log)} "$@"\n`);
  chmodSync(join(bin, 'rb'), 0o755);
  return { bin, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []) };
}

/** A bin dir whose `rb` is the built one. */
function builtRb(): string {
  const bin = tmpDir('rb-bin-');
  writeFileSync(join(bin, 'rb'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(RB)} "$@"\n`);
  chmodSync(join(bin, 'rb'), 0o755);
  return bin;
}

describe('action.yml', () => {
  it('is a composite action with an input for every option of the gate (and -C)', () => {
    expect(action.runs.using).toBe('composite');
    const help = spawnSync(process.execPath, [RB, 'check', '--help'], { encoding: 'utf8' }).stdout;
    // --prune-worktree is upkeep of the kept worktree, not an option of the gate
    const options = [...help.matchAll(/^ {2}(--[\w-]+)/gm)].map((m) => m[1]!).filter((o) => o !== '--help' && o !== '--prune-worktree');
    expect(options.sort()).toEqual(['--fetch', '--json', '--max-disk', '--no-tag', '--no-tests']);
    expect(Object.keys(action.inputs).sort()).toEqual(['fetch', 'json', 'max-disk', 'tag', 'tests', 'working-directory']);
    for (const [name, i] of Object.entries(action.inputs)) expect(i.description.length, name).toBeGreaterThan(20);
    // inputs reach the script through env, never pasted into it (no shell injection from a workflow)
    expect(checkStep.run).not.toContain('${{');
  });

  it('maps each input to its flag', () => {
    const ws = tmpDir();
    const cases: [Record<string, string>, string[]][] = [
      [{}, ['-C', '.', 'check', '--no-tag', '--fetch']],
      [{ tests: 'false' }, ['-C', '.', 'check', '--no-tests', '--no-tag', '--fetch']],
      [{ tag: 'true', fetch: 'false' }, ['-C', '.', 'check']],
      [{ 'max-disk': '85' }, ['-C', '.', 'check', '--no-tag', '--fetch', '--max-disk', '85']],
      [{ json: 'true' }, ['-C', '.', 'check', '--no-tag', '--fetch', '--json']],
      [{ 'working-directory': 'sub dir' }, ['-C', 'sub dir', 'check', '--no-tag', '--fetch']],
    ];
    for (const [inputs, argv] of cases) {
      const rb = recordingRb();
      const r = runCheckStep(ws, inputs, rb.bin);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(rb.calls(), JSON.stringify(inputs)).toEqual([argv]);
    }
    const rb = recordingRb();
    const bad = runCheckStep(ws, { tests: 'yes' }, rb.bin);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toContain('::error title=rb check::input tests must be true or false, got "yes"');
    expect(rb.calls()).toEqual([]);
  });

  it('runs the real rb check: annotations and the job summary come through, and the step fails with exit 3', () => {
    const r = repos.make({ withOrigin: true });
    writeFileSync(join(r.root, 'notes.txt'), 'uncommitted\n');
    const res = runCheckStep(r.root, { tests: 'false' }, builtRb());
    expect(res.code, res.stderr).toBe(3);
    expect(res.stdout).toContain('::error title=rb check::Working tree clean: 1 uncommitted path: notes.txt');
    expect(res.stdout).toContain('::warning title=rb check::Baseline tests pass');
    expect(res.stdout).toMatch(/^fail {2}clean /m); // the plain lines of a CI log
    expect(res.summary).toMatch(/rb check[\s\S]*failed[\s\S]*\| ❌ \| Working tree clean \|/);
    // --no-tag by default: no checkpoint tag on the runner
    expect(r.git('tag', '--list', 'checkpoint-*').trim()).toBe('');
  });

  it('json: true writes the document to the report output; annotations still come through', () => {
    const r = repos.make({ withOrigin: true });
    const res = runCheckStep(r.root, { tests: 'false', json: 'true' }, builtRb());
    expect(res.code, res.stderr).toBe(0);
    const report = /^report=(.+)$/m.exec(res.output)![1]!;
    const doc = JSON.parse(readFileSync(report, 'utf8'));
    expect(doc).toMatchObject({ ok: true, root: r.root });
    expect(res.stderr).toContain('::warning title=rb check::Baseline tests pass');
    expect(res.summary).toContain('rb check');
  });

  it('docs/ci/github-actions.yml uses it, with inputs it has; the repository named matches package.json', () => {
    const wf = parse(readFileSync(join(ROOT, 'docs/ci/github-actions.yml'), 'utf8')) as { jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }> };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    const mine = steps.filter((s) => s.uses && !s.uses.startsWith('actions/'));
    expect(mine).toHaveLength(1);
    const repo = /github\.com\/([\w.-]+\/[\w.-]+?)\.git$/.exec(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).repository.url)![1];
    expect(mine[0]!.uses).toBe(`${repo}@v1`);
    for (const k of Object.keys(mine[0]!.with ?? {})) expect(action.inputs).toHaveProperty([k]);
    expect(existsSync(join(ROOT, 'docs/ci/gitlab-ci.yml'))).toBe(true);
  });
});
