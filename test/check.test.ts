/**
 * `rb check` against real repositories (test/helpers/repo.ts): a healthy repository passes and
 * gets a checkpoint tag + metrics entry; a dirty tree, a missing baseline, failing baseline tests
 * and the disk threshold each fail with a reason (exit 3 through the command); the user's branch,
 * HEAD, index and files are unchanged afterwards and no worktree is left; --json parses; the
 * GitHub annotations and step summary appear under GITHUB_ACTIONS=true; the dependency dir is
 * linked into the baseline worktree when the lockfiles match (and never deleted through the
 * link), installed there when they differ; Ctrl-C removes the worktree. Plus the pure parts:
 * npm lockfile comparison, porcelain parsing, escaping, --max-disk parsing.
 *
 * No assertion is on timing. The baseline tests run `npm test` (= node --test test/).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyRepo, gitIn, gitRun, testEnv, tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { rb, waitFor } from './helpers/cli.js';
import { checkCommand, emitReport, githubAnnotations, githubSummary, parseMaxDisk, runCheck, type CheckReport } from '../src/commands/check.js';
import { checkNothingInProgress } from '../src/check/in-progress.js';
import { checkBaseline } from '../src/check/baseline.js';
import { checkInstall, compareNpmLockfiles } from '../src/check/dependencies.js';
import { dirtyPaths } from '../src/check/clean.js';
import { escapeData, escapeProperty, formatTable } from '../src/check/output.js';
import { UsageError } from '../src/errors.js';
import { keptWorktreePath } from '../src/check/kept-worktree.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const repos = tmpRepos();
const PROJECT = fileURLToPath(new URL('..', import.meta.url));

const PASSING = "const test = require('node:test');\ntest('adds', () => {});\ntest('subtracts', () => {});\n";
const FAILING = "const test = require('node:test');\nconst assert = require('node:assert');\ntest('adds', () => {});\ntest('broken sum', () => assert.equal(1 + 1, 3));\n";

/** Commit everything, move baseline (local and origin) to HEAD. */
function setBaselineHere(r: TestRepo): void {
  r.git('branch', '-f', 'baseline', 'HEAD');
  r.git('push', '-q', '-f', 'origin', 'baseline', 'main');
}

function commitAll(r: TestRepo, message: string): void {
  r.git('add', '-A');
  r.git('commit', '-q', '-m', message);
}

let template: TestRepo;

/** main = baseline: package.json (test: node --test test/) and a passing test file. */
beforeAll(() => {
  template = repos.make({ withOrigin: true });
  template.write('package.json', JSON.stringify({ name: 'app', version: '1.0.0', scripts: { test: 'node --test test/' } }, null, 2) + '\n');
  template.write('test/math.test.js', PASSING);
  template.write('src/app.js', 'module.exports = 1;\n');
  commitAll(template, 'project with tests');
  setBaselineHere(template);
});

const fresh = (): TestRepo => copyRepo(template);

/** One commit past the baseline (a change the tests do not read): HEAD is not the baseline, so the tests run in a worktree. */
function ahead(r: TestRepo): void {
  r.write('NOTES.md', `work past the baseline ${Math.random()}\n`);
  commitAll(r, 'past the baseline');
}

/** The baseline moves on (local and origin) by one commit changing `file`; HEAD stays on main. */
function commitOnBaseline(r: TestRepo, file: string, content: string): void {
  r.git('switch', '-q', 'baseline');
  r.write(file, content);
  commitAll(r, `baseline: ${file}`);
  r.git('push', '-q', 'origin', 'baseline');
  r.git('switch', '-q', 'main');
}

const keptPath = (r: TestRepo) => keptWorktreePath(r.repo());
const snap = (r: TestRepo) => manifest(r.root, { exclude: ['rollbacks'] });

function worktrees(r: TestRepo): string[] {
  return r.git('worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '));
}

function tags(r: TestRepo): string[] {
  return r.git('tag', '-l', 'checkpoint-*').split('\n').filter(Boolean);
}

const byId = (report: CheckReport, id: string) => report.checks.find((c) => c.id === id)!;

/** Run the command as cli.ts would, capturing stdout and stderr; GitHub variables unset unless given. */
async function command(cwd: string, opts: Record<string, unknown>, env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((s: any) => (out.push(String(s)), true));
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((s: any) => (err.push(String(s)), true));
  const vars = { GITHUB_ACTIONS: undefined, GITHUB_STEP_SUMMARY: undefined, ...env };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try {
    const code = await checkCommand(opts, { parent: { opts: () => ({ cwd }) } });
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    so.mockRestore();
    se.mockRestore();
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

afterEach(() => vi.restoreAllMocks());

describe('rb check on a healthy repository', () => {
  it('passes every check, runs the baseline tests, tags HEAD and records the checkpoint; nothing else changes', async () => {
    const r = fresh();
    const before = snap(r);
    const head = r.git('rev-parse', 'HEAD').trim();
    const report = await runCheck({ cwd: r.root });

    expect(report.checks.map((c) => c.id)).toEqual(['worktree', 'in-progress', 'baseline', 'clean', 'disk', 'dependencies', 'baseline-tests']);
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(report.ok).toBe(true);
    expect(byId(report, 'baseline').reason).toMatch(/local baseline .* and origin\/baseline .* found/);
    const tests = byId(report, 'baseline-tests');
    expect(tests.status).toBe('pass');
    expect(tests.data).toMatchObject({ passed: 2, failed: 0, framework: 'node:test', exitCode: 0 });
    expect(tests.reason).toMatch(/^2 tests passed \(node:test\) at baseline [0-9a-f]{12} in the work tree \(HEAD is the baseline and clean\)/);
    expect(tests.data).toMatchObject({ where: 'in-place', path: r.root });

    // the checkpoint: an annotated tag at HEAD, never pushed
    expect(report.tag).toMatch(/^checkpoint-\d{8}-\d{6}$/);
    expect(tags(r)).toEqual([report.tag]);
    expect(r.git('cat-file', '-t', report.tag!).trim()).toBe('tag');
    expect(r.git('rev-parse', `${report.tag}^{commit}`).trim()).toBe(head);
    expect(gitIn(r.origin!, 'tag', '-l')).toBe('');
    const metrics = JSON.parse(readFileSync(join(r.root, 'rollbacks/metrics.json'), 'utf8'));
    expect(metrics.checkpoints).toEqual([expect.objectContaining({ tag: report.tag, commit: head, branch: 'main' })]);
    expect(metrics.rollbacks).toEqual([]);
    const audit = readFileSync(join(r.root, 'rollbacks/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit).toEqual([expect.objectContaining({ action: 'check', result: 'passed', tag: report.tag })]);

    // the user's branch, HEAD, index and files: unchanged; HEAD is the baseline: no worktree at all; still clean
    expect(snap(r)).toBe(before);
    expect(worktrees(r)).toEqual([`worktree ${r.root}`]);
    expect(existsSync(keptPath(r))).toBe(false);
    expect(r.git('status', '--porcelain')).toBe('');

    // a second check the same second gets its own tag
    const again = await runCheck({ cwd: r.root, tests: false });
    expect(again.ok).toBe(true);
    expect(again.tag).not.toBe(report.tag);
    expect(byId(again, 'baseline-tests')).toMatchObject({ status: 'warn', reason: 'skipped (--no-tests)' });
  });

  it('--json prints one parseable document and exits 0; --no-tag takes no checkpoint', async () => {
    const r = fresh();
    const res = await command(r.root, { json: true, tag: false, tests: false });
    expect(res.code).toBe(0);
    const doc = JSON.parse(res.stdout);
    expect(doc).toMatchObject({ ok: true, tag: null, checkpointSkipped: '--no-tag' });
    expect(doc.checks).toHaveLength(7);
    for (const c of doc.checks) expect(Object.keys(c)).toEqual(expect.arrayContaining(['id', 'title', 'status', 'reason']));
    expect(tags(r)).toEqual([]);
    expect(existsSync(join(r.root, 'rollbacks'))).toBe(false);
  });
});

describe('rb check fails with exit 3 and a reason', () => {
  it('on a dirty tree, listing the first dirty paths (rollbacks/ excluded), and changes nothing', async () => {
    const r = fresh();
    r.write('src/app.js', 'module.exports = 2;\n');
    r.write('notes.txt', 'todo\n');
    r.write('rollbacks/old-report.md', 'rb records do not count\n');
    const before = snap(r);
    const res = await command(r.root, { tests: false });
    expect(res.code).toBe(3);
    expect(res.stdout).toMatch(/^fail {2}clean +2 uncommitted paths: /m);
    expect(res.stdout).toContain('?? notes.txt');
    expect(res.stdout).toContain(' M src/app.js');
    expect(res.stdout).not.toContain('old-report');
    expect(res.stdout).toContain('no checkpoint: a check failed');
    expect(res.stderr).toMatch(/^next: commit them \(`git add -A && git commit`\), or set them aside with `git stash push --include-untracked`/m);
    expect(tags(r)).toEqual([]);
    expect(snap(r)).toBe(before);
  });

  it('on a dirty tree, advises what makes the check pass; a snapshot is named for what it is (it leaves the tree dirty)', async () => {
    const r = fresh();
    r.write('src/app.js', 'module.exports = 2;\n');
    r.write('notes.txt', 'todo\n');
    const res = await command(r.root, { tests: false, tag: false });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('either makes this check pass');
    expect(res.stderr).toContain('`rb snapshots create` does not: it keeps a restorable copy of everything (ignored files too) and leaves the tree as it is');
    expect(res.stderr).not.toMatch(/\(or `rb snapshots create`\)/);
    // what the advice says is true: a snapshot leaves the check failing, the stash makes it pass
    expect(rb(r.root, ['snapshots', 'create', '-m', 'kept']).code).toBe(0);
    expect((await command(r.root, { tests: false, tag: false })).code).toBe(3);
    r.sh('git stash push -q --include-untracked');
    expect((await command(r.root, { tests: false, tag: false })).code).toBe(0);
    r.sh('git stash pop -q');
    expect(readFileSync(join(r.root, 'notes.txt'), 'utf8')).toBe('todo\n');
  });

  it('when the baseline is missing (local and remote), and does not run the tests', async () => {
    const r = fresh();
    r.git('branch', '-D', 'baseline');
    r.git('update-ref', '-d', 'refs/remotes/origin/baseline');
    const report = await runCheck({ cwd: r.root });
    expect(report.ok).toBe(false);
    expect(byId(report, 'baseline')).toMatchObject({ status: 'fail' });
    expect(byId(report, 'baseline').reason).toMatch(/the baseline "baseline" was not found: looked at refs\/heads\/baseline, refs\/tags\/baseline, refs\/remotes\/origin\/baseline/);
    expect(byId(report, 'baseline').next).toMatch(/git branch baseline <commit>/);
    expect(byId(report, 'baseline-tests')).toMatchObject({ status: 'warn', reason: expect.stringMatching(/not run/) });
    expect(report.tag).toBeNull();
    expect((await command(r.root, { tests: false })).code).toBe(3);
  });

  it("when the baseline's tests fail although HEAD's pass: the tests ran on the baseline, in a worktree", async () => {
    const r = fresh();
    r.write('test/math.test.js', FAILING);
    commitAll(r, 'a broken baseline');
    setBaselineHere(r);
    r.write('test/math.test.js', PASSING);
    commitAll(r, 'fixed on main');
    expect(gitRun(r.root, ['status', '--porcelain']).stdout).toBe('');
    const before = snap(r);
    const branch = r.git('symbolic-ref', 'HEAD').trim();

    const report = await runCheck({ cwd: r.root });
    const tests = byId(report, 'baseline-tests');
    expect(report.ok).toBe(false);
    expect(tests.status).toBe('fail');
    expect(tests.reason).toMatch(/the baseline baseline \([0-9a-f]{12}\) fails its tests: 1 failed, 1 passed: broken sum/);
    expect(tests.data).toMatchObject({ failed: 1, passed: 1, commit: r.git('rev-parse', 'baseline').trim() });
    expect(tests.next).toMatch(/git branch -f baseline <commit>/);
    expect(report.tag).toBeNull();

    // HEAD's own tests pass: what failed was the baseline
    expect(r.sh('npm test 2>&1 >/dev/null; echo "exit $?"').trim()).toMatch(/exit 0$/);
    expect(snap(r)).toBe(before);
    expect(r.git('symbolic-ref', 'HEAD').trim()).toBe(branch);
    expect(tests.data).toMatchObject({ where: 'kept', path: keptPath(r), created: true });
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${keptPath(r)}`]);
  });

  it('when the disk is used above --max-disk (1%); --max-disk must be a percentage', async () => {
    const r = fresh();
    const res = await command(r.root, { maxDisk: '1', tests: false });
    expect(res.code).toBe(3);
    expect(res.stdout).toMatch(/^fail {2}disk +[\d.]+% used \(.* free\) on the file system of .*: not below the limit of 1% \(--max-disk\)$/m);
    expect(res.stderr).toMatch(/^next: free disk space/m);
    expect(parseMaxDisk('85%')).toBe(85);
    expect(parseMaxDisk(undefined)).toBeUndefined();
    for (const bad of ['0', '101', 'abc', '', '-5']) expect(() => parseMaxDisk(bad)).toThrow(UsageError);
  });

  it('when a git operation or another rb run is in progress', () => {
    const r = fresh();
    const repo = r.repo();
    expect(checkNothingInProgress(repo).status).toBe('pass');
    writeFileSync(join(repo.gitDir, 'MERGE_HEAD'), r.git('rev-parse', 'HEAD'));
    mkdirSync(join(repo.commonDir, 'rb'), { recursive: true });
    writeFileSync(join(repo.commonDir, 'rb', 'lock'), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId: '20260101-000000-emergency', command: 'rb emergency' }));
    const res = checkNothingInProgress(repo);
    expect(res.status).toBe('fail');
    expect(res.reason).toMatch(/a git merge is in progress; rb run 20260101-000000-emergency \(rb emergency\) holds the lock/);
    expect(res.next).toMatch(/git merge --abort/);
  });

  it('when the local baseline is behind origin/baseline (ahead only warns); nothing is fetched without --fetch', async () => {
    const r = fresh();
    const repo = r.repo();
    const tree = r.git('rev-parse', 'baseline^{tree}').trim();
    const newer = gitRun(r.root, ['commit-tree', tree, '-p', 'baseline', '-m', 'newer on the remote']).stdout.trim();
    r.git('update-ref', 'refs/remotes/origin/baseline', newer);
    const behind = await checkBaseline(repo, { baseline: 'baseline', remote: 'origin' }, { currentBranch: 'main' });
    expect(behind.result).toMatchObject({ status: 'fail', data: { behind: 1, ahead: 0 } });
    expect(behind.result.reason).toMatch(/the local branch is 1 commit behind origin\/baseline/);
    expect(behind.result.next).toMatch(/git branch -f baseline origin\/baseline/);

    // --fetch brings origin/baseline back to what the origin really has (the local baseline)
    const fetched = await checkBaseline(repo, { baseline: 'baseline', remote: 'origin' }, { fetch: true });
    expect(fetched.result).toMatchObject({ status: 'pass', data: { behind: 0, ahead: 0, fetched: true } });

    r.git('update-ref', 'refs/heads/baseline', newer);
    const ahead = await checkBaseline(repo, { baseline: 'baseline', remote: 'origin' });
    expect(ahead.result).toMatchObject({ status: 'warn', data: { behind: 0, ahead: 1 } });
    expect(ahead.result.next).toMatch(/git push origin baseline/);
  });
});

describe('GitHub Actions', () => {
  it('prints ::error / ::warning annotations and appends a markdown summary to $GITHUB_STEP_SUMMARY', async () => {
    const r = fresh();
    r.write('notes.txt', 'wip\n');
    const summary = join(tmpDir(), 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    const res = await command(r.root, { tests: false }, { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
    expect(res.code).toBe(3);
    expect(res.stdout).toMatch(/^::error title=rb check::Working tree clean: 1 uncommitted path: notes\.txt — next: commit them/m);
    expect(res.stdout).toMatch(/^::warning title=rb check::Baseline tests pass: skipped \(--no-tests\)$/m);
    const md = readFileSync(summary, 'utf8');
    expect(md.startsWith('# earlier step\n')).toBe(true);
    expect(md).toContain('### rb check: ❌ failed');
    expect(md).toContain('| | Check | Result |');
    expect(md).toContain('| ❌ | Working tree clean | 1 uncommitted path: notes.txt |');
    expect(md).toContain('| ⚠️ | Baseline tests pass | skipped (--no-tests) |');
    expect(md).toMatch(/\*\*Next:\*\*\n\n- Working tree clean: commit them/);

    // with --json the annotations go to stderr: stdout stays one JSON document
    const json = await command(r.root, { tests: false, json: true }, { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
    expect(JSON.parse(json.stdout).ok).toBe(false);
    expect(json.stderr).toMatch(/^::error title=rb check::Working tree clean/m);
  });

  it('escapes workflow-command data and markdown table cells', () => {
    expect(escapeData('50% done\r\nnext')).toBe('50%25 done%0D%0Anext');
    expect(escapeProperty('rb check: a, b')).toBe('rb check%3A a%2C b');
    const report: CheckReport = {
      ok: false, root: '/r', tag: null, checkpoint: null, checkpointSkipped: 'a check failed', next: [], durationMs: 1,
      checks: [{ id: 'clean', title: 'Working tree clean', status: 'fail', reason: 'a|b <c>\nd', next: 'x', details: ['```', 'M a'] }],
    };
    expect(githubAnnotations(report)).toEqual(['::error title=rb check::Working tree clean: a|b <c>%0Ad — next: x']);
    const md = githubSummary(report);
    expect(md).toContain('| ❌ | Working tree clean | a\\|b &lt;c&gt; d |');
    expect(md).toContain('````text\n```\nM a\n````');
    expect(formatTable(report)).toMatch(/✖ {3}Working tree clean {2}a\|b <c>/);
  });

  it('writes nothing GitHub-specific outside GitHub Actions', () => {
    const out: string[] = [];
    const report: CheckReport = { ok: true, root: '/r', tag: null, checkpoint: null, checkpointSkipped: '--no-tag', next: [], durationMs: 1, checks: [{ id: 'disk', title: 'Disk usage', status: 'warn', reason: 'no size' }] };
    emitReport(report, { env: {}, stdout: (s) => out.push(s), stderr: (s) => out.push(s) });
    expect(out.join('')).not.toContain('::');
  });
});

describe('dependencies in the baseline worktree', () => {
  /**
   * An install of our own: `node install.js` writes vendor-deps/value.js (42) and counts its
   * runs in vendor-deps/runs.log; the tests require ../vendor-deps/value.js.
   */
  function depsRepo(lockOnBaseline: string, lockOnHead: string): TestRepo {
    const r = fresh();
    r.write('.gitignore', 'vendor-deps/\n');
    r.write('install.js', "const fs = require('fs');\nfs.mkdirSync('vendor-deps', { recursive: true });\nfs.writeFileSync('vendor-deps/value.js', 'module.exports = 42;\\n');\nfs.appendFileSync('vendor-deps/runs.log', process.cwd() + '\\n');\n");
    r.write('rb.config.yaml', 'test: [node, --test, test/]\ninstall:\n  - command: [node, install.js]\n    lockfiles: [deps.lock]\n    dir: vendor-deps\n');
    r.write('test/dep.test.js', "const test = require('node:test');\nconst assert = require('node:assert');\ntest('dep', () => assert.equal(require('../vendor-deps/value.js'), 42));\n");
    r.write('deps.lock', lockOnBaseline);
    commitAll(r, 'vendored deps');
    setBaselineHere(r);
    if (lockOnHead !== lockOnBaseline) {
      r.write('deps.lock', lockOnHead);
      commitAll(r, 'deps changed');
    }
    r.sh('node install.js');
    // the installed dir is newer than the lockfile (the mtime heuristic of non-npm installs)
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(r.root, 'deps.lock'), old, old);
    return r;
  }

  it('links the dependency dir when the lockfiles are identical, and never deletes through the link', async () => {
    const r = depsRepo('lock v1\n', 'lock v1\n');
    ahead(r);
    const before = snap(r);
    const report = await runCheck({ cwd: r.root, tag: false });
    expect(byId(report, 'dependencies')).toMatchObject({ status: 'pass' });
    const tests = byId(report, 'baseline-tests');
    expect(tests).toMatchObject({ status: 'pass', data: { passed: 3, installs: [expect.objectContaining({ action: 'linked' })] } });
    expect(tests.reason).toMatch(/dependencies linked/);
    expect(readFileSync(join(r.root, 'vendor-deps/value.js'), 'utf8')).toBe('module.exports = 42;\n');
    expect(readFileSync(join(r.root, 'vendor-deps/runs.log'), 'utf8').trim().split('\n')).toEqual([r.root]);
    expect(snap(r)).toBe(before);
    // the kept worktree stays, without the link (unlinked after the run)
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${keptPath(r)}`]);
    expect(existsSync(join(keptPath(r), 'vendor-deps'))).toBe(false);
    // a link left by a killed check is unlinked before the next one cleans the worktree
    symlinkSync(join(r.root, 'vendor-deps'), join(keptPath(r), 'vendor-deps'));
    const again = await runCheck({ cwd: r.root, tag: false });
    expect(byId(again, 'baseline-tests')).toMatchObject({ status: 'pass', data: { created: false, installs: [expect.objectContaining({ action: 'linked' })] } });
    expect(readFileSync(join(r.root, 'vendor-deps/value.js'), 'utf8')).toBe('module.exports = 42;\n');
    expect(snap(r)).toBe(before);
  });

  it('runs the install inside the worktree when the lockfiles differ between HEAD and the baseline', async () => {
    const r = depsRepo('lock v1\n', 'lock v2\n');
    const before = snap(r);
    const report = await runCheck({ cwd: r.root, tag: false });
    const tests = byId(report, 'baseline-tests');
    expect(tests).toMatchObject({ status: 'pass', data: { passed: 3, installs: [expect.objectContaining({ action: 'installed' })] } });
    expect(tests.reason).toMatch(/dependencies installed/);
    // the main work tree's install ran once (by the fixture), not again
    expect(readFileSync(join(r.root, 'vendor-deps/runs.log'), 'utf8').trim().split('\n')).toEqual([r.root]);
    expect(snap(r)).toBe(before);
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${keptPath(r)}`]);

    // the next check reuses that install: the baseline's lockfile is the same blob
    const again = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(again).toMatchObject({ status: 'pass', data: { created: false, installs: [expect.objectContaining({ action: 'reused' })] } });
    expect(readFileSync(join(keptPath(r), 'vendor-deps/runs.log'), 'utf8').trim().split('\n')).toHaveLength(1);
    // a new baseline lockfile: installed again
    commitOnBaseline(r, 'deps.lock', 'lock v3\n');
    const third = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(third).toMatchObject({ status: 'pass', data: { installs: [expect.objectContaining({ action: 'installed' })] } });
    expect(readFileSync(join(keptPath(r), 'vendor-deps/runs.log'), 'utf8').trim().split('\n')).toHaveLength(1); // a fresh install
    expect(snap(r)).toBe(before);
  });

  it('fails with "run <install command>" when the dependency dir is missing', async () => {
    const r = depsRepo('lock v1\n', 'lock v1\n');
    r.sh('rm -rf vendor-deps');
    const report = await runCheck({ cwd: r.root, tests: false });
    expect(byId(report, 'dependencies')).toMatchObject({ status: 'fail', reason: 'vendor-deps is missing', next: 'run node install.js' });
  });
});

describe('npm: dependencies match package-lock.json by content', () => {
  const lock = (packages: Record<string, object>) => ({ lockfileVersion: 3, packages: { '': { name: 'app' }, ...packages } });

  it('compares versions, missing and extra packages; optional packages may be absent', () => {
    const locked = lock({
      'node_modules/a': { version: '1.0.0' },
      'node_modules/b': { version: '2.0.0' },
      'node_modules/@esbuild/darwin-arm64': { version: '0.1.0', optional: true },
      'node_modules/w': { resolved: 'packages/w', link: true },
      'packages/w': { version: '0.0.1' },
    });
    const same = { packages: { 'node_modules/a': { version: '1.0.0' }, 'node_modules/b': { version: '2.0.0' }, 'node_modules/w': { resolved: 'packages/w', link: true } } };
    expect(compareNpmLockfiles(locked, same)).toEqual({ locked: 4, differ: [], missing: [], extra: [] });
    const drifted = { packages: { 'node_modules/a': { version: '1.1.0' }, 'node_modules/w': { resolved: 'packages/w', link: true }, 'node_modules/zz': { version: '9.0.0' } } };
    expect(compareNpmLockfiles(locked, drifted)).toEqual({ locked: 4, differ: ['a (installed 1.1.0, locked 1.0.0)'], missing: ['b'], extra: ['zz'] });
    expect(compareNpmLockfiles({ lockfileVersion: 1 }, same)).toBeNull();
  });

  it('decides per install: no packages locked, missing dir, hidden lockfile, mismatch', async () => {
    const root = tmpDir();
    const npm = { command: 'npm ci', cwd: '.', lockfiles: ['package-lock.json'], dir: 'node_modules' };
    writeFileSync(join(root, 'package-lock.json'), JSON.stringify(lock({})));
    expect(await checkInstall(root, npm)).toMatchObject({ status: 'pass', text: expect.stringMatching(/locks no packages/) });
    writeFileSync(join(root, 'package-lock.json'), JSON.stringify(lock({ 'node_modules/a': { version: '1.0.0' } })));
    expect(await checkInstall(root, npm)).toMatchObject({ status: 'fail', text: 'node_modules is missing', next: 'run npm ci' });
    expect(await checkInstall(root, { ...npm, cwd: 'web' })).toMatchObject({ status: 'warn' }); // web/package-lock.json does not exist
    mkdirSync(join(root, 'node_modules/a'), { recursive: true });
    expect(await checkInstall(root, npm)).toMatchObject({ status: 'warn', text: expect.stringMatching(/\.package-lock\.json not found/) });
    writeFileSync(join(root, 'node_modules/.package-lock.json'), JSON.stringify({ packages: { 'node_modules/a': { version: '1.0.0' } } }));
    expect(await checkInstall(root, npm)).toMatchObject({ status: 'pass', text: 'node_modules matches package-lock.json (1 package, compared by content)' });
    writeFileSync(join(root, 'node_modules/.package-lock.json'), JSON.stringify({ packages: { 'node_modules/a': { version: '0.9.0' } } }));
    expect(await checkInstall(root, npm)).toMatchObject({ status: 'fail', text: expect.stringMatching(/1 differ: a \(installed 0\.9\.0, locked 1\.0\.0\)/), next: 'run npm ci' });
  });

  it('lists dirty paths from git status (simple-git): renames, staged and unstaged, odd names whole, rollbacks/ left out', async () => {
    const r = repos.make();
    r.write('old.txt', 'a\n');
    r.write('keep.txt', 'b\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'two files');
    r.git('mv', 'old.txt', 'new name.txt');
    r.write('keep.txt', 'b\nc\n');
    r.write('line\nbreak.txt', 'x');
    r.write('é ü.txt', 'y');
    r.write('rollbacks/report.md', 'rb writes here');
    const paths = await dirtyPaths(r.repo(), 'rollbacks');
    expect(paths.sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
      { xy: ' M', path: 'keep.txt' }, { xy: '??', path: 'line\nbreak.txt' }, { xy: 'R ', path: 'new name.txt' }, { xy: '??', path: 'é ü.txt' },
    ]);
  });
});

describe('interrupting rb check', () => {
  it('Ctrl-C while the baseline tests run stops them, leaves the kept worktree (unlocked) for the next check and exits 130', async () => {
    const r = fresh();
    r.write('hang.js', "require('fs').writeFileSync(process.env.RB_TEST_MARKER, 'started');\nsetTimeout(() => {}, 30000);\n");
    r.write('rb.config.yaml', 'test: [node, hang.js]\n');
    commitAll(r, 'a test command that hangs');
    setBaselineHere(r);
    ahead(r);
    const before = snap(r);
    const marker = join(tmpDir(), 'started');
    const script = join(tmpDir(), 'check.mts');
    writeFileSync(script, [
      `import { runCheck } from ${JSON.stringify(join(PROJECT, 'src/check/run-check.ts'))};`,
      'try {',
      '  const r = await runCheck({ cwd: process.argv[2], tag: false, onProgress: (l) => process.stderr.write(`progress: ${l}\\n`) });',
      '  process.stdout.write(JSON.stringify({ ok: r.ok }));',
      '} catch (e) {',
      '  process.stderr.write(`error ${e.exitCode}: ${e.message}\\n`);',
      '  process.exitCode = e.exitCode ?? 1;',
      '}',
    ].join('\n'));
    const child = spawn(process.execPath, ['--import', 'tsx', script, r.root], { cwd: PROJECT, env: testEnv({ RB_TEST_MARKER: marker }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor(() => existsSync(marker), 30_000, 'the baseline test command to start');
    const wtPath = /progress: running the baseline's tests: .* \(in (.+)\)/.exec(stderr)?.[1];
    expect(wtPath && existsSync(wtPath)).toBeTruthy();
    child.kill('SIGINT');
    const code = await done;
    expect(stderr).toMatch(/error 130: rb check was interrupted; the kept worktree stays for the next check\./);
    expect(code).toBe(130);
    expect(wtPath).toBe(keptPath(r));
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${keptPath(r)}`]);
    expect(existsSync(join(r.repo().commonDir, 'rb', 'check-worktree.lock'))).toBe(false);
    expect(snap(r)).toBe(before);
  });
});

describe('where the baseline tests run: the kept worktree, in place, a temporary one', () => {
  /** A test that leaves a uniquely named untracked file behind in the directory it runs in. */
  const LITTERING = "const test = require('node:test');\ntest('litters', () => require('fs').writeFileSync(`left-${Date.now()}-${process.pid}.txt`, 'x'));\n";

  function litteringRepo(): TestRepo {
    const r = fresh();
    r.write('test/litter.test.js', LITTERING);
    r.write('src/big.js', 'module.exports = "unchanged";\n');
    commitAll(r, 'a test that writes files');
    setBaselineHere(r);
    ahead(r);
    return r;
  }
  const leftFiles = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('left-'));

  it('a second check reuses the kept worktree: moved, cleaned, only the changed file rewritten', async () => {
    const r = litteringRepo();
    const before = snap(r);
    const first = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(first).toMatchObject({ status: 'pass', data: { where: 'kept', created: true } });
    const kept = keptPath(r);
    const dirIno = statSync(kept).ino;
    expect(leftFiles(kept)).toHaveLength(1);
    const unchanged = statSync(join(kept, 'src/big.js'));

    // the baseline moves: one file changes
    commitOnBaseline(r, 'src/app.js', 'module.exports = 2;\n');
    const second = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(second).toMatchObject({ status: 'pass', data: { where: 'kept', created: false } });
    expect(second.reason).toContain(`in the kept worktree ${kept} (reused)`);
    expect(statSync(kept).ino).toBe(dirIno);
    expect(gitIn(kept, 'rev-parse', 'HEAD').trim()).toBe(r.git('rev-parse', 'baseline').trim());
    expect(readFileSync(join(kept, 'src/app.js'), 'utf8')).toBe('module.exports = 2;\n');
    const after = statSync(join(kept, 'src/big.js'));
    expect([after.ino, after.mtimeMs]).toEqual([unchanged.ino, unchanged.mtimeMs]);
    expect(leftFiles(kept)).toHaveLength(1); // the first run's file was cleaned away, this run wrote one
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${kept}`]);
    expect(gitIn(kept, 'status', '--porcelain', '--ignored')).toMatch(/^\?\? left-/);
    expect(snap(r)).toBe(before);
  });

  it('a broken kept worktree (directory deleted, .git file damaged, a stale index.lock) is added again', async () => {
    const r = litteringRepo();
    const before = snap(r);
    await runCheck({ cwd: r.root, tag: false, tests: true });
    const kept = keptPath(r);
    rmSync(kept, { recursive: true, force: true });
    const a = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(a).toMatchObject({ status: 'pass', data: { where: 'kept', created: true } });
    writeFileSync(join(kept, '.git'), 'gitdir: /nowhere\n');
    const b = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(b).toMatchObject({ status: 'pass', data: { where: 'kept', created: true } });
    // a git killed inside it left its index.lock: the checkout there fails, so it is made afresh
    const reg = readdirSync(join(r.repo().commonDir, 'worktrees'))[0]!;
    writeFileSync(join(r.repo().commonDir, 'worktrees', reg, 'index.lock'), '');
    const c = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(c).toMatchObject({ status: 'pass', data: { where: 'kept', created: true } });
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${kept}`]);
    expect(readdirSync(join(r.repo().commonDir, 'worktrees'))).toHaveLength(1);
    expect(snap(r)).toBe(before);
  });

  it('while another check holds the kept worktree: a temporary worktree, removed afterwards', async () => {
    const r = litteringRepo();
    const before = snap(r);
    mkdirSync(join(r.repo().commonDir, 'rb'), { recursive: true });
    const lock = join(r.repo().commonDir, 'rb', 'check-worktree.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: 'rb check' }));
    const t = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(t).toMatchObject({ status: 'pass', data: { where: 'temporary', created: true } });
    expect(t.reason).toContain('in a temporary worktree (the kept one is in use by another rb check)');
    expect(existsSync(t.data!.path as string)).toBe(false);
    expect(existsSync(keptPath(r))).toBe(false);
    expect(worktrees(r)).toEqual([`worktree ${r.root}`]);
    expect(existsSync(lock)).toBe(true); // not ours: left alone
    // a lock whose process is gone is taken over
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), startedAt: new Date().toISOString(), command: 'rb check' }));
    const k = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(k).toMatchObject({ status: 'pass', data: { where: 'kept' } });
    expect(existsSync(lock)).toBe(false);
    expect(snap(r)).toBe(before);
  });

  it('in place, tests that leave files in the work tree turn the result into a warning naming them (rb cleans nothing of yours)', async () => {
    const r = fresh();
    r.write('test/litter.test.js', LITTERING);
    commitAll(r, 'a test that writes files');
    setBaselineHere(r);
    const t = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(t).toMatchObject({ status: 'warn', data: { where: 'in-place', dirtyAfter: 1 } });
    expect(t.details![0]).toBe('the tests left 1 uncommitted path in the work tree:');
    expect(t.details![1]).toMatch(/^\?\? left-/);
    expect(leftFiles(r.root)).toHaveLength(1);
    expect(worktrees(r)).toEqual([`worktree ${r.root}`]);
  });

  it('not in place when a configured dependency dir is missing from the work tree: the kept worktree installs it', async () => {
    const r = fresh();
    r.write('.gitignore', 'vendor-deps/\n');
    r.write('install.js', "require('fs').mkdirSync('vendor-deps', { recursive: true });\n");
    r.write('rb.config.yaml', 'test: [node, --test, test/]\ninstall:\n  - command: [node, install.js]\n    lockfiles: [deps.lock]\n    dir: vendor-deps\n');
    r.write('deps.lock', 'v1\n');
    commitAll(r, 'deps');
    setBaselineHere(r);
    const t = byId(await runCheck({ cwd: r.root, tag: false }), 'baseline-tests');
    expect(t).toMatchObject({ status: 'pass', data: { where: 'kept', installs: [expect.objectContaining({ action: 'installed' })] } });
    expect(existsSync(join(r.root, 'vendor-deps'))).toBe(false);
  });
});
