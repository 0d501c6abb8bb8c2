/**
 * `rb sprint` with the tests users really have, run as a user runs rb (dist/cli.js, no TTY):
 *   - a real Jest project whose `jest --coverage` rewrites the ignored coverage/: the snapshot
 *     comes first, so `rb undo` gives back the user's own coverage/, byte for byte;
 *   - a real pytest project whose test modules fail to import: the report counts them and names
 *     the one cause;
 *   - a test command that prints thousands of lines: the terminal gets a few, the run's file all;
 *   - a test command that is not installed: "could not run" with what to do, never
 *     "Failing tests: none";
 *   - no test command at all: the report says so and names no test_failures.txt.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { makeProject, pytestArgv } from './helpers/runners.js';
import { manifest } from './helpers/manifest.js';
import { rbAsync } from './helpers/scenarios.js';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 600_000 });

const repos = tmpRepos();
const EXCL = { exclude: ['rollbacks'] };

/** A repository holding `project`'s files on main = baseline, then a commit on feature/x that `breaks` it. */
function projectRepo(setup: (r: TestRepo) => void, breakIt: (r: TestRepo) => void): TestRepo {
  const r = repos.make();
  setup(r);
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'the project');
  r.git('branch', 'baseline');
  r.git('switch', '-q', '-c', 'feature/x');
  breakIt(r);
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'the sprint that broke it');
  return r;
}

const report = (r: TestRepo, n: number) => readFileSync(join(r.root, 'rollbacks', `sprint-${n}`, 'report.md'), 'utf8');
const lines = (s: string) => s.split('\n').filter((l) => l.trim()).length;

let jest: TestRepo;
let pytest: TestRepo;

beforeAll(() => {
  jest = projectRepo((r) => {
    makeProject('jest', { dir: r.root });
    r.write('rb.config.yaml', 'test: npx jest --coverage\n');
  }, (r) => {
    r.write('lib/math.js', readFileSync(join(r.root, 'lib/math.js'), 'utf8').replace('a / b', 'a * b'));
  });
  pytest = projectRepo((r) => {
    makeProject('pytest', { dir: r.root });
    r.write('rb.config.yaml', `test: ${JSON.stringify(pytestArgv())}\n`);
  }, (r) => {
    r.git('rm', '-q', 'app/suggest.py');
  });
});

describe('rb sprint runs nothing of yours before its snapshot', () => {
  it("a real Jest project: jest --coverage rewrites coverage/ during the sprint, and `rb undo` gives back yours", async () => {
    const r = copyRepo(jest);
    r.write('coverage/lcov.info', 'the coverage you made yesterday\n');
    r.write('coverage/lcov-report/index.html', '<p>yours</p>\n');
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['sprint', '1', '--yes']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    // the tests did run, and wrote their own coverage/
    expect(readFileSync(join(r.root, 'coverage/lcov.info'), 'utf8')).not.toBe('the coverage you made yesterday\n');
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expect(undo.code, undo.stdout + undo.stderr).toBe(0);
    expect(readFileSync(join(r.root, 'coverage/lcov.info'), 'utf8')).toBe('the coverage you made yesterday\n');
    expect(manifest(r.root, EXCL)).toBe(before);
    const text = report(r, 1);
    expect(text).toMatch(/^- Tests \(jest\): 1 failed, 5 passed, 1 skipped \(full output: rollbacks\/sprint-1\/test_failures\.txt\)$/m);
    expect(text).toMatch(/^- Failing tests: math › divides$/m);
  });
});

describe('the sprint report says what the tests said', () => {
  it('a real pytest project whose test modules cannot import: counted, with their one cause', async () => {
    const r = copyRepo(pytest);
    const res = await rbAsync(r.root, ['sprint', '2', '--yes']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const text = report(r, 2);
    expect(text).toMatch(/^- Tests \(pytest\): 0 failed, 0 passed; 2 test modules failed to load \(full output: rollbacks\/sprint-2\/test_failures\.txt\)$/m);
    expect(text).toMatch(/^- Failed to load: `ModuleNotFoundError: No module named 'app\.suggest'` \(2 test modules, first tests\/test_command\.py\)$/m);
    expect(text).not.toMatch(/Failing tests/);
  });

  it('thousands of output lines: the terminal shows a few, the run keeps them all', async () => {
    const r = copyRepo(jest);
    r.write('rb.config.yaml', `test: ${JSON.stringify([process.execPath, '-e', "for (let i = 0; i < 6000; i++) console.log('noisy test line ' + i); process.exitCode = 1"])}\n`);
    r.git('commit', '-q', '-am', 'noisy tests');
    const res = await rbAsync(r.root, ['sprint', '3', '--yes']);
    expect(res.code, res.stderr).toBe(0);
    const out = res.stdout + res.stderr;
    expect(lines(out)).toBeLessThan(60);
    expect(out).not.toContain('noisy test line 3000');
    expect(out).toMatch(/Run the tests \(test_failures\.txt\): test output not recognised: no counts/);
    const saved = readFileSync(join(r.root, 'rollbacks/sprint-3/test_failures.txt'), 'utf8');
    expect(saved.split('\n').filter((l) => l.startsWith('noisy test line'))).toHaveLength(6000);
  });

  it('a test command that is not installed: "could not run" and what to do, never "Failing tests: none"', async () => {
    const r = copyRepo(jest);
    r.write('rb.config.yaml', 'test: rb-no-such-runner test\n');
    r.git('commit', '-q', '-am', 'a runner that is not installed');
    const res = await rbAsync(r.root, ['sprint', '4', '--yes']);
    expect(res.code, res.stderr).toBe(0);
    const text = report(r, 4);
    expect(text).toMatch(/^- Tests: could not run `rb-no-such-runner test`: rb-no-such-runner: command not found \(exit 127\) \(full output: rollbacks\/sprint-4\/test_failures\.txt\)$/m);
    expect(text).toMatch(/^- Next: install rb-no-such-runner .*, or set `test:` in rb\.config\.yaml/m);
    expect(text).not.toMatch(/Failing tests/);
  });

  it('no test command configured: the report says so and names no test_failures.txt', async () => {
    const r = copyRepo(jest);
    r.write('package.json', JSON.stringify({ name: 'no-tests', private: true }) + '\n');
    r.git('rm', '-q', 'rb.config.yaml');
    r.git('commit', '-q', '-am', 'no test script');
    const res = await rbAsync(r.root, ['sprint', '5', '--yes']);
    expect(res.code, res.stderr).toBe(0);
    const text = report(r, 5);
    expect(text).toMatch(/^- Tests: not run \(no test command configured \(set test in rb\.config\.yaml\)\)$/m);
    expect(text).not.toContain('test_failures.txt');
    expect(existsSync(join(r.root, 'rollbacks/sprint-5/test_failures.txt'))).toBe(false);
  });
});
