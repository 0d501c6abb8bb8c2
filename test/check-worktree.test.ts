/**
 * Where `rb check` runs the baseline's tests when HEAD is past the baseline: the kept worktree,
 * a per-repository folder of the user's cache dir (XDG_CACHE_HOME is a temp dir in tests, see
 * helpers/repo.ts), never under .git. Covered here on real projects:
 *   - a real Jest project (test/fixtures/projects/jest, Jest from the npm registry): Jest ignores
 *     every path under .git ("No tests found"), so the baseline only passes outside it;
 *   - Node's module resolution does not climb into the user's own node_modules;
 *   - `git worktree prune` while the folder is out of reach does not drop it (it is locked);
 *   - `rb check --prune-worktree` removes it (verified), refuses while a check holds it;
 *   - a kept worktree an older rb left under .git is removed;
 *   - the path is in the output and in --json; check.worktree inside the repository is refused;
 *   - a test command that cannot run (127, 126, a signal, a timeout) is not "the baseline fails its tests".
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { makeProject } from './helpers/runners.js';
import { manifest } from './helpers/manifest.js';
import { checkCommand, runCheck, type CheckReport } from '../src/commands/check.js';
import { keptWorktreePath } from '../src/check/kept-worktree.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 600_000 });

const repos = tmpRepos();

function commitAll(r: TestRepo, message: string): void {
  r.git('add', '-A');
  r.git('commit', '-q', '-m', message);
}

/** Baseline (local and origin) here; then one commit past it, which the tests do not read. */
function baselineHereThenAhead(r: TestRepo): void {
  r.git('branch', '-f', 'baseline', 'HEAD');
  r.git('push', '-q', '-f', 'origin', 'baseline', 'main');
  r.write('NOTES.md', `work past the baseline ${Math.random()}\n`);
  commitAll(r, 'past the baseline');
}

const worktrees = (r: TestRepo) => r.git('worktree', 'list', '--porcelain').split('\n').filter((l) => l.startsWith('worktree '));
const tests = (report: CheckReport) => report.checks.find((c) => c.id === 'baseline-tests')!;
const kept = (r: TestRepo) => keptWorktreePath(r.repo());
const snap = (r: TestRepo) => manifest(r.root, { exclude: ['rollbacks'] });

async function command(cwd: string, opts: Record<string, unknown>) {
  const out: string[] = [];
  const err: string[] = [];
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((s: any) => (out.push(String(s)), true));
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((s: any) => (err.push(String(s)), true));
  try {
    const code = await checkCommand(opts, { parent: { opts: () => ({ cwd }) } });
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

let jestTemplate: TestRepo;
let plainTemplate: TestRepo;

beforeAll(() => {
  // a real Jest project (npm test = jest), its lockfile the one node_modules was installed from
  jestTemplate = repos.make({ withOrigin: true });
  makeProject('jest', { dir: jestTemplate.root });
  commitAll(jestTemplate, 'a Jest project');
  baselineHereThenAhead(jestTemplate);
  // node --test, no dependencies
  plainTemplate = repos.make({ withOrigin: true });
  plainTemplate.write('package.json', JSON.stringify({ name: 'app', version: '1.0.0', scripts: { test: 'node --test test/' } }, null, 2) + '\n');
  plainTemplate.write('test/math.test.js', "const test = require('node:test');\ntest('adds', () => {});\n");
  commitAll(plainTemplate, 'project with tests');
  baselineHereThenAhead(plainTemplate);
});

describe('the kept worktree lives outside the repository', () => {
  it("a real Jest project: the baseline's 7 tests run and pass in the kept worktree in the cache dir (Jest finds no tests under .git)", async () => {
    const r = copyRepo(jestTemplate);
    const before = snap(r);
    const report = await runCheck({ cwd: r.root, tag: false });
    const t = tests(report);
    expect(t.status, `${t.reason}\n${(t.details ?? []).join('\n')}`).toBe('pass');
    expect(t.data).toMatchObject({ framework: 'jest', passed: 6, failed: 0, skipped: 1, where: 'kept', created: true, outcome: 'ok' });
    expect(t.reason).toMatch(/^6 tests passed, 1 skipped \(jest\) at baseline [0-9a-f]{12} in the kept worktree .* \(created\).*dependencies linked/);
    const path = kept(r);
    expect(t.data!.path).toBe(path);
    expect(path.startsWith(join(process.env.XDG_CACHE_HOME!, 'rb', 'check-worktrees') + '/')).toBe(true);
    expect(relative(r.root, path).startsWith('..')).toBe(true);
    expect(report.worktree).toEqual({ kind: 'kept', path, created: true });
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${path}`]);
    expect(snap(r)).toBe(before);

    // the broken state of the same project: 2 suites cannot load ./suggestSimilar, 1 test fails
    r.git('switch', '-q', 'baseline');
    rmSync(join(r.root, 'lib/suggestSimilar.js'));
    r.write('lib/math.js', readFileSync(join(r.root, 'lib/math.js'), 'utf8').replace('a / b', 'a * b'));
    commitAll(r, 'a broken baseline');
    r.git('switch', '-q', 'main');
    const broken = tests(await runCheck({ cwd: r.root, tag: false }));
    expect(broken.status).toBe('fail');
    expect(broken.reason).toMatch(/fails its tests: 1 failed, 2 passed, 1 skipped; 2 test suites failed to load: Cannot find module '\.\/suggestSimilar' from 'lib\/command\.js' \(2 test suites, first __tests__\//);
    expect(broken.data).toMatchObject({ where: 'kept', created: false, loadFailures: 2, failures: ['math › divides'] });
  });

  it("Node's module resolution does not reach the user's own node_modules from the kept worktree", async () => {
    const r = copyRepo(plainTemplate);
    // the baseline's test needs a package the baseline does not install; only HEAD's work tree has it
    r.git('switch', '-q', 'baseline');
    r.write('test/dep.test.js', "const test = require('node:test');\nconst x = require('only-in-your-tree');\ntest('uses it', () => x());\n");
    commitAll(r, 'baseline: a test needing an undeclared package');
    r.git('push', '-q', 'origin', 'baseline');
    r.git('switch', '-q', 'main');
    r.write('.gitignore', 'node_modules/\n');
    // (another package.json than the baseline's: the work tree's node_modules is not the baseline's to link)
    r.write('package.json', JSON.stringify({ name: 'app', version: '1.0.1', scripts: { test: 'node --test test/' } }, null, 2) + '\n');
    commitAll(r, 'ignore node_modules');
    r.write('node_modules/only-in-your-tree/index.js', 'module.exports = () => true;\n');
    const t = tests(await runCheck({ cwd: r.root, tag: false }));
    expect(t.status).toBe('fail');
    expect(t.reason).toMatch(/fails its tests: 0 failed, 1 passed; 1 test file failed to load: Error: Cannot find module 'only-in-your-tree'/);
  });

  it('survives `git worktree prune` while its folder is out of reach (locked), and is reused', async () => {
    const r = copyRepo(plainTemplate);
    expect(tests(await runCheck({ cwd: r.root, tag: false })).data).toMatchObject({ where: 'kept', created: true });
    const path = kept(r);
    expect(r.git('worktree', 'list', '--porcelain')).toMatch(/\nlocked rb check's kept worktree/);
    renameSync(path, `${path}.away`);
    r.git('worktree', 'prune');
    renameSync(`${path}.away`, path);
    const again = tests(await runCheck({ cwd: r.root, tag: false }));
    expect(again.status).toBe('pass');
    expect(again.data).toMatchObject({ where: 'kept', created: false });
    // its folder deleted (a cleaned cache) and pruned by hand: made again
    rmSync(path, { recursive: true, force: true });
    r.git('worktree', 'unlock', path);
    r.git('worktree', 'prune');
    const third = tests(await runCheck({ cwd: r.root, tag: false }));
    expect(third).toMatchObject({ status: 'pass', data: expect.objectContaining({ created: true }) });
  });

  it('`rb check --prune-worktree` removes it (folder and registration), says so, and refuses while a check holds it', async () => {
    const r = copyRepo(plainTemplate);
    const before = snap(r);
    const checked = await command(r.root, { tag: false });
    expect(checked.code).toBe(0);
    const path = kept(r);
    expect(checked.stdout).toContain(`kept worktree: ${path} (created) — kept for the next check; \`rb check --prune-worktree\` removes it`);

    // held by a live check: exit 4, nothing removed
    const lock = join(r.repo().commonDir, 'rb', 'check-worktree.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), runId: 'check' }));
    await expect(command(r.root, { pruneWorktree: true })).rejects.toMatchObject({ exitCode: 4, message: expect.stringContaining('another rb check is using the kept worktree') });
    expect(existsSync(path)).toBe(true);
    rmSync(lock);

    const pruned = await command(r.root, { pruneWorktree: true, json: true });
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout)).toEqual({ path, removed: true });
    expect(existsSync(path)).toBe(false);
    expect(worktrees(r)).toEqual([`worktree ${r.root}`]);
    expect(existsSync(join(r.repo().commonDir, 'rb', 'check-worktree.json'))).toBe(false);
    expect((await command(r.root, { pruneWorktree: true })).stdout).toBe(`no kept worktree at ${path}: nothing to remove\n`);
    expect(snap(r)).toBe(before);
  });

  it('one an older rb kept under .git is removed by the next check; check.worktree inside the repository is refused', async () => {
    const r = copyRepo(plainTemplate);
    const legacy = join(r.repo().commonDir, 'rb', 'check-worktree');
    mkdirSync(join(r.repo().commonDir, 'rb'), { recursive: true });
    r.git('worktree', 'add', '-q', '--detach', legacy, 'baseline');
    expect((await runCheck({ cwd: r.root, tag: false })).ok).toBe(true);
    expect(existsSync(legacy)).toBe(false);
    expect(worktrees(r)).toEqual([`worktree ${r.root}`, `worktree ${kept(r)}`]);

    r.write('rb.config.yaml', `check:\n  worktree: ${join(r.root, '.baseline')}\n`);
    r.write('.gitignore', 'rb.config.yaml\n.baseline\n');
    commitAll(r, 'ignore');
    const t = tests(await runCheck({ cwd: r.root, tag: false }));
    expect(t.status).toBe('fail');
    expect(t.reason).toContain(`check.worktree ${join(r.root, '.baseline')} is inside the work tree`);
    expect(existsSync(join(r.root, '.baseline'))).toBe(false);
  });

  it('a test command that cannot run (exit 127) is said as such, with what to do; not "the baseline fails its tests"', async () => {
    const r = copyRepo(plainTemplate);
    r.write('rb.config.yaml', 'test: rb-no-such-runner test\n');
    r.write('.gitignore', 'rb.config.yaml\n');
    commitAll(r, 'ignore the config');
    const res = await command(r.root, { tag: false });
    expect(res.code).toBe(3);
    const t = tests(await runCheck({ cwd: r.root, tag: false }));
    expect(t).toMatchObject({ status: 'fail', data: expect.objectContaining({ outcome: 'not-found', exitCode: 127 }) });
    expect(t.reason).toMatch(/^the baseline's tests could not run: rb-no-such-runner test: rb-no-such-runner: command not found \(exit 127\) \(in the kept worktree /);
    expect(t.next).toMatch(/^install rb-no-such-runner .*, or set `test:` in rb\.config\.yaml/);
    expect(res.stdout).not.toMatch(/fails its tests/);
    expect(res.stderr).toMatch(/next: install rb-no-such-runner/);
  });
});
