/**
 * `rb analyze` changes nothing: the user's commands run in a checkout of the analysed state
 * outside the working copy (src/analyze/workspace.ts), on a real Jest project whose
 * `jest --coverage` rewrites coverage/; uncommitted changes are part of the analysed state; a
 * test command that cannot run is its own cause (not "reproduce one failing test"); test suites
 * that failed to load are counted with their first error.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { makeProject } from './helpers/runners.js';
import { manifest } from './helpers/manifest.js';
import { analyze } from '../src/analyze/bundle.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 600_000 });

const repos = tmpRepos();
let jestTemplate: TestRepo;

beforeAll(() => {
  jestTemplate = repos.make();
  makeProject('jest', { dir: jestTemplate.root });
  jestTemplate.write('rb.config.yaml', 'test: npx jest --coverage\n');
  jestTemplate.git('add', '-A');
  jestTemplate.git('commit', '-q', '-m', 'a Jest project');
  jestTemplate.git('branch', 'baseline');
});

const snap = (r: TestRepo) => manifest(r.root, { exclude: ['rollbacks'] });
const read = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8');

describe('rb analyze runs your commands outside the working copy', () => {
  it("Jest's coverage/ and every other file stay as they were; the uncommitted change is what was tested", async () => {
    const r = copyRepo(jestTemplate);
    r.write('coverage/lcov-report/index.html', '<p>the coverage report you made yesterday</p>\n');
    r.write('coverage/lcov.info', 'yours\n');
    // an uncommitted change the tests must see: divide broken
    r.write('lib/math.js', read(r.root, 'lib/math.js').replace('a / b', 'a * b'));
    const before = snap(r);
    const res = await analyze({ cwd: r.root, archive: false });
    expect(snap(r)).toBe(before);
    const results = read(res.dir, 'test_results.txt');
    expect(results).toMatch(/^# ran in the kept worktree of rb check .*, at a commit of the working copy \(HEAD plus 1 uncommitted path\), [0-9a-f]{12}; your working copy is not touched/m);
    expect(results).toContain('All files');
    expect(res.tests).toEqual([expect.objectContaining({ label: 'now (test_results.txt)', summary: expect.objectContaining({ framework: 'jest', failed: 1, passed: 5, failures: ['math › divides'] }) })]);
    expect(r.git('status', '--porcelain')).toBe(' M lib/math.js\n');
    expect(r.git('stash', 'list')).toBe('');
  });

  it('test suites that failed to load: counted, with their one cause first', async () => {
    const r = copyRepo(jestTemplate);
    rmSync(join(r.root, 'lib/suggestSimilar.js'));
    const res = await analyze({ cwd: r.root, archive: false });
    const tests = res.causes.find((c) => c.id === 'tests')!;
    expect(tests.title).toBe('Test files that fail to load');
    expect(tests.evidence).toContain('2 test suites failed to load now (test_results.txt)');
    expect(tests.evidence).toContainEqual(expect.stringMatching(/^first error: `Cannot find module '\.\/suggestSimilar' from 'lib\/command\.js'` \(2 test suites, first __tests__\//));
    expect(tests.actions[0]).toMatch(/^fix what stops the test files from loading first — one cause can stop them all: `Cannot find module/);
    expect(tests.actions.join('\n')).not.toContain('reproduce one failing test');
    expect(read(res.dir, 'analysis.md')).toMatch(/\*\*now \(test_results\.txt\)\*\* \(jest\): 0 failed, 3 passed; 2 test suites failed to load \(exit 1\)\n {2}- failed to load: `Cannot find module '\.\/suggestSimilar' from 'lib\/command\.js'` \(2 test suites, first __tests__\//);
  });

  it('a test command that cannot run is its own cause, with what to do — not failing tests', async () => {
    const r = copyRepo(jestTemplate);
    r.write('rb.config.yaml', 'test: rb-no-such-runner test\n');
    const res = await analyze({ cwd: r.root, archive: false });
    expect(res.causes.map((c) => c.id)).toEqual(['test-command']);
    const cause = res.causes[0]!;
    expect(cause.evidence).toEqual(['`rb-no-such-runner test` now (test_results.txt): rb-no-such-runner: command not found (exit 127)']);
    expect(cause.actions).toEqual([expect.stringMatching(/^install rb-no-such-runner .*, or set `test:` in rb\.config\.yaml/)]);
    expect(res.actions.join('\n')).not.toContain('reproduce one failing test');
    expect(read(res.dir, 'analysis.md')).toContain('- **now (test_results.txt):** the test command `rb-no-such-runner test` could not run: rb-no-such-runner: command not found (exit 127) — next: install rb-no-such-runner');
  });

  it('a test command that does not finish in the collector\'s time is said as such too', async () => {
    const r = copyRepo(jestTemplate);
    r.write('rb.config.yaml', `test: ${JSON.stringify([process.execPath, '-e', 'setTimeout(() => {}, 30000)'])}\n`);
    const res = await analyze({ cwd: r.root, archive: false, timeoutMs: 1500 });
    expect(res.causes.map((c) => c.id)).toEqual(['test-command']);
    expect(res.causes[0]!.evidence).toEqual([expect.stringMatching(/ now \(test_results\.txt\): timed out after 1\.5 s \(the limit of every collector\)$/)]);
    expect(res.causes[0]!.actions).toEqual([expect.stringMatching(/^run `.*` by hand to see how long it takes and where it hangs$/)]);
    expect(read(res.dir, 'test_results.txt')).toMatch(/^# ran in the kept worktree of rb check /m);
  });
});
