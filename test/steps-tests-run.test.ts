/**
 * tests.run and findTestsFor: the conventions and testMap against real files in a temp dir, and
 * real `node --test` runs through the step kind with a minimal StepContext built here.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config } from '../src/types.js';
import type { StepResult } from '../src/steps/types.js';
import { fakeStepContext } from './helpers/step-context.js';
import { findTestsFor, globToRegExp, isTestFile, NO_TEST_COMMAND, testsReportLines, testsRun, withTestFiles } from '../src/steps/tests-run.js';
import { liveOutput } from '../src/steps/common.js';

// real processes: generous bounds so a loaded machine does not fail them (no assertion is on speed)
vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

// ---- tiny local helpers ---------------------------------------------------------------------

let root: string;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'rb-tests-run-')));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function touch(...paths: string[]): void {
  for (const p of paths) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), '');
  }
}

function write(p: string, text: string): void {
  mkdirSync(dirname(join(root, p)), { recursive: true });
  writeFileSync(join(root, p), text);
}

function fakeCtx(over: Partial<Config> = {}, timeoutMs?: number) {
  return fakeStepContext(root, over, timeoutMs);
}

async function runExpectingFailure(p: Promise<unknown>): Promise<Error & { result: StepResult }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { result: StepResult };
  }
  throw new Error('the step was expected to fail');
}

const PASSING = "import test from 'node:test';\ntest('one', () => {});\ntest('two', () => {});\n";
const FAILING = "import test from 'node:test';\nimport assert from 'node:assert';\ntest('fine', () => {});\ntest('broken sum', () => assert.equal(1 + 1, 3));\n";

// ---- findTestsFor ---------------------------------------------------------------------------

describe('findTestsFor: conventions', () => {
  it('finds JavaScript / TypeScript tests by the usual names, only those that exist', () => {
    touch(
      'src/foo.ts', 'test/foo.test.ts',
      'src/bar.ts', 'src/bar.spec.ts', 'src/bar.test.ts',
      'src/baz.js', 'src/__tests__/baz.test.js',
      'lib/qux.ts', '__tests__/qux.ts',
      'src/lonely.ts',
      'src/tsx/Button.tsx', 'src/tsx/Button.test.tsx',
      'lib/m.js', 'tests/m.test.js',
    );
    expect(findTestsFor(root, ['src/foo.ts', 'src/bar.ts', 'src/baz.js', 'lib/qux.ts', 'src/lonely.ts', 'src/tsx/Button.tsx', 'lib/m.js'], [])).toEqual([
      { file: 'src/foo.ts', tests: ['test/foo.test.ts'] },
      { file: 'src/bar.ts', tests: ['src/bar.test.ts', 'src/bar.spec.ts'] },
      { file: 'src/baz.js', tests: ['src/__tests__/baz.test.js'] },
      { file: 'lib/qux.ts', tests: ['__tests__/qux.ts'] },
      { file: 'src/lonely.ts', tests: [] },
      { file: 'src/tsx/Button.tsx', tests: ['src/tsx/Button.test.tsx'] },
      { file: 'lib/m.js', tests: ['tests/m.test.js'] },
    ]);
  });

  it('Python and Go conventions', () => {
    touch('app/calc.py', 'tests/unit/test_calc.py', 'tests/test_calc.py', 'app/io.py', 'app/test_io.py', 'pkg/util.go', 'pkg/util_test.go');
    expect(findTestsFor(root, ['app/calc.py', 'app/io.py', 'pkg/util.go'], [])).toEqual([
      { file: 'app/calc.py', tests: ['tests/unit/test_calc.py', 'tests/test_calc.py'] },
      { file: 'app/io.py', tests: ['app/test_io.py'] },
      { file: 'pkg/util.go', tests: ['pkg/util_test.go'] },
    ]);
  });

  it('a test file maps to itself (when it exists); paths are normalised', () => {
    touch('test/a.test.ts', 'src/__tests__/b.js', 'tests/test_c.py', 'x/d_test.go');
    expect(findTestsFor(root, ['./test/a.test.ts', join(root, 'src/__tests__/b.js'), 'tests/test_c.py', 'x/d_test.go', 'test/gone.test.ts'], [])).toEqual([
      { file: 'test/a.test.ts', tests: ['test/a.test.ts'] },
      { file: 'src/__tests__/b.js', tests: ['src/__tests__/b.js'] },
      { file: 'tests/test_c.py', tests: ['tests/test_c.py'] },
      { file: 'x/d_test.go', tests: ['x/d_test.go'] },
      { file: 'test/gone.test.ts', tests: [] },
    ]);
  });

  it('file names with glob characters are taken literally', () => {
    touch('pages/[id].tsx', 'pages/[id].test.tsx', 'pages/i.test.tsx', 'pages/d.test.tsx');
    expect(findTestsFor(root, ['pages/[id].tsx'], [])).toEqual([{ file: 'pages/[id].tsx', tests: ['pages/[id].test.tsx'] }]);
  });

  it('a file at the root and a path outside the repository', () => {
    touch('index.js', 'index.test.js');
    expect(findTestsFor(root, ['index.js', '../elsewhere.js'], [])).toEqual([
      { file: 'index.js', tests: ['index.test.js'] },
      { file: '../elsewhere.js', tests: [] },
    ]);
  });
});

describe('findTestsFor: testMap', () => {
  it('expands {name}, {dir}, {path} and globs, and wins over the conventions', () => {
    touch('src/steps/exec.ts', 'test/steps/exec.test.ts', 'test/steps-exec.test.ts', 'spec/src/steps/exec.spec.ts', 'e2e/exec/a.e2e.ts', 'e2e/exec/b.e2e.ts', 'src/steps/exec.test.ts');
    const map = [
      { match: 'src/**/*.ts', tests: ['test/steps/{name}.test.ts', 'spec/{path}.spec.ts', 'e2e/{name}/*.e2e.ts', 'test/{name}.missing.ts'] },
      { match: 'src/steps/*.{ts,tsx}', tests: ['test/steps-{name}.test.ts', '{dir}/{name}.test.ts'] },
      { match: 'lib/**', tests: ['nothing'] },
    ];
    expect(findTestsFor(root, ['src/steps/exec.ts'], map)).toEqual([
      {
        file: 'src/steps/exec.ts',
        tests: ['test/steps/exec.test.ts', 'spec/src/steps/exec.spec.ts', 'e2e/exec/a.e2e.ts', 'e2e/exec/b.e2e.ts', 'test/steps-exec.test.ts', 'src/steps/exec.test.ts'],
      },
    ]);
  });

  it('falls back to the conventions when the matching entries find nothing', () => {
    touch('src/a.ts', 'test/a.test.ts');
    expect(findTestsFor(root, ['src/a.ts'], [{ match: 'src/**/*.ts', tests: ['spec/{name}.spec.ts'] }])).toEqual([{ file: 'src/a.ts', tests: ['test/a.test.ts'] }]);
  });

  it('templates that climb out of the repository find nothing', () => {
    touch('src/a.ts');
    expect(findTestsFor(root, ['src/a.ts'], [{ match: '**', tests: ['../../{name}.ts', '/etc/passwd'] }])).toEqual([{ file: 'src/a.ts', tests: [] }]);
  });

  it('globToRegExp: ** spans zero or more directories, * and ? stay within one name', () => {
    const re = globToRegExp('src/**/*.ts');
    expect(['src/a.ts', 'src/x/y/a.ts'].every((p) => re.test(p))).toBe(true);
    expect(['src/a.tsx', 'lib/a.ts', 'srcx/a.ts'].some((p) => re.test(p))).toBe(false);
    expect(globToRegExp('a?.js').test('ab.js')).toBe(true);
    expect(globToRegExp('a?.js').test('a/.js')).toBe(false);
    expect(globToRegExp('*.{js,mjs}').test('x.mjs')).toBe(true);
    expect(globToRegExp('*.{js,mjs}').test('d/x.mjs')).toBe(false);
    expect(globToRegExp('[!a]b').test('cb')).toBe(true);
    expect(globToRegExp('[!a]b').test('ab')).toBe(false);
    expect(globToRegExp('**').test('any/thing')).toBe(true);
  });

  it('isTestFile', () => {
    expect(['a.test.ts', 'x/a.spec.js', 'x/__tests__/a.js', 'tests/test_a.py', 'a_test.py', 'a_test.go'].every(isTestFile)).toBe(true);
    expect(['a.ts', 'test/helpers.ts', 'testing.py', 'latest.go'].some(isTestFile)).toBe(false);
  });
});

// ---- the command ----------------------------------------------------------------------------

describe('withTestFiles', () => {
  it('argv: appended as elements; npm scripts get -- first', () => {
    expect(withTestFiles(['npx', 'vitest', 'run'], ['a.test.ts', 'b c.test.ts'])).toEqual(['npx', 'vitest', 'run', 'a.test.ts', 'b c.test.ts']);
    expect(withTestFiles(['npm', 'test'], ['a.test.ts'])).toEqual(['npm', 'test', '--', 'a.test.ts']);
    expect(withTestFiles(['npm', 'run', 'test:unit'], ['a.test.ts'])).toEqual(['npm', 'run', 'test:unit', '--', 'a.test.ts']);
    expect(withTestFiles(['npm', 'test', '--', '--reporter=dot'], ['a.test.ts'])).toEqual(['npm', 'test', '--', '--reporter=dot', 'a.test.ts']);
    expect(withTestFiles(['npm', 'test'], [])).toEqual(['npm', 'test']);
  });
  it('string: quoted words; npm test gets --', () => {
    expect(withTestFiles('npx vitest run', ['a.test.ts', "it's $(here).test.ts"])).toBe(`npx vitest run a.test.ts 'it'\\''s $(here).test.ts'`);
    expect(withTestFiles('npm test', ['a.test.ts'])).toBe('npm test -- a.test.ts');
    expect(withTestFiles('npm test -- --silent', ['a.test.ts'])).toBe('npm test -- --silent a.test.ts');
    expect(withTestFiles('pytest -q', ['tests/test_a.py'])).toBe('pytest -q tests/test_a.py');
  });
  it('a file starting with "-" is never read as an option', () => {
    expect(withTestFiles(['node', '--test'], ['-rf.test.mjs'])).toEqual(['node', '--test', './-rf.test.mjs']);
    expect(withTestFiles('node --test', ['-x.test.mjs'])).toBe('node --test ./-x.test.mjs');
  });
  it('describe shows the exact command and the record file', () => {
    const { ctx } = fakeCtx({ test: 'npm test' });
    expect(testsRun.describe({ files: ['a.test.ts'], to: 'sprint-1/test_failures.txt' }, ctx)).toEqual(['npm test -- a.test.ts  > rollbacks/sprint-1/test_failures.txt']);
    expect(testsRun.describe({}, fakeCtx().ctx)).toEqual(['(no test command configured (set test in rb.config.yaml))']);
  });
});

// ---- running ----------------------------------------------------------------------------------

describe('tests.run with a real node --test', () => {
  const node = [process.execPath, '--test', '--test-reporter=tap'];

  it('no test command configured: skipped', async () => {
    const { ctx } = fakeCtx();
    expect(await testsRun.run({}, ctx)).toEqual({ skipped: 'no test command configured (set test in rb.config.yaml)' });
  });

  it('an empty file list: skipped, nothing run', async () => {
    const { ctx } = fakeCtx({ test: node });
    expect(await testsRun.run({ files: [] }, ctx)).toEqual({ skipped: 'no test files to run' });
  });

  it('passing files: result with counts, a live line then the totals (not the stream), output saved under rollbacks/', async () => {
    write('test/ok.test.mjs', PASSING);
    write('test/bad.test.mjs', FAILING);
    const { ctx, lines } = fakeCtx({ test: node });
    const r = await testsRun.run({ files: ['test/ok.test.mjs'], to: 'files-1/tests.txt' }, ctx);
    expect(r).toMatchObject({
      exitCode: 0,
      framework: 'node:test',
      passed: 2,
      failed: 0,
      skippedTests: 0,
      failures: [],
      file: 'rollbacks/files-1/tests.txt',
    });
    expect((r as StepResult).commands![0]).toContain('test/ok.test.mjs');
    expect(lines.length).toBeLessThanOrEqual(3);
    expect(lines).not.toContain('# pass 2');
    expect(lines.at(-1)).toBe('node:test: 0 failed, 2 passed');
    expect(readFileSync(join(root, 'rollbacks/files-1/tests.txt'), 'utf8')).toContain('ok 2 - two');
  });

  it('failing tests fail the step with the result attached; the record is still written', async () => {
    write('test/ok.test.mjs', PASSING);
    write('test/bad.test.mjs', FAILING);
    const { ctx } = fakeCtx({ test: node });
    const err = await runExpectingFailure(testsRun.run({ files: ['test/ok.test.mjs', 'test/bad.test.mjs'], to: 'sprint-2/test_failures.txt' }, ctx));
    expect(err.message).toMatch(/^tests failed .*node:test: 1 failed, 3 passed: broken sum$/);
    expect(err.result).toMatchObject({ exitCode: 1, framework: 'node:test', passed: 3, failed: 1, failures: ['broken sum'], file: 'rollbacks/sprint-2/test_failures.txt' });
    expect(err.result.outputTail).toContain('# fail 1');
    expect(existsSync(join(root, 'rollbacks/sprint-2/test_failures.txt'))).toBe(true);
  });

  it('allowFail: failing tests are recorded and warned about, the step succeeds', async () => {
    write('test/bad.test.mjs', FAILING);
    const { ctx, warnings } = fakeCtx({ test: node });
    const r = await testsRun.run({ files: ['test/bad.test.mjs'], allowFail: true }, ctx);
    expect(r).toMatchObject({ exitCode: 1, failed: 1, failures: ['broken sum'], file: null });
    expect(warnings).toEqual(['tests failed (allowed): node:test: 1 failed, 1 passed: broken sum']);
  });

  it('a string command (run by the shell) with a quoted file name, in a cwd below the root', async () => {
    write('pkg/test/my ok.test.mjs', PASSING);
    const { ctx } = fakeCtx({ test: `"${process.execPath}" --test --test-reporter=tap` });
    const r = await testsRun.run({ files: ['pkg/test/my ok.test.mjs'], cwd: 'pkg' }, ctx);
    expect(r).toMatchObject({ exitCode: 0, passed: 2 });
    expect((r as StepResult).commands![0]).toMatch(/ 'test\/my ok\.test\.mjs'$/);
  });

  it('the step command overrides config.test', async () => {
    write('test/ok.test.mjs', PASSING);
    const { ctx } = fakeCtx({ test: ['false'] });
    expect(await testsRun.run({ command: node, files: ['test/ok.test.mjs'] }, ctx)).toMatchObject({ exitCode: 0 });
  });

  it('a hung command times out and fails even with allowFail', async () => {
    const { ctx } = fakeCtx({ test: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] }, 300);
    const err = await runExpectingFailure(testsRun.run({ allowFail: true }, ctx));
    expect(err.message).toMatch(/timed out after 300 ms/);
    expect(err.result.framework).toBe('unknown');
  });

  it('unrecognised output: counts are null, the exit code decides', async () => {
    const { ctx } = fakeCtx({ test: [process.execPath, '-e', 'console.log("all fine"); process.exit(3)'] });
    const err = await runExpectingFailure(testsRun.run({}, ctx));
    expect(err.message).toMatch(/exited 3$/);
    expect(err.result).toMatchObject({ framework: 'unknown', passed: null, failed: null, skippedTests: null, failures: [] });
  });
});

describe('a test command that cannot run is an outcome of its own, never failing tests (even with allowFail)', () => {
  const cases: { name: string; setup?: () => void; test: Config['test']; outcome: string; message: RegExp; next: RegExp }[] = [
    { name: 'not found (sh: exit 127)', test: 'rb-no-such-runner test', outcome: 'not-found', message: /^rb-no-such-runner: command not found \(exit 127\)$/, next: /^install rb-no-such-runner .*, or set `test:` in rb\.config\.yaml/ },
    { name: 'not found (an argv)', test: ['rb-no-such-runner', 'test'], outcome: 'not-found', message: /rb-no-such-runner: command not found/, next: /^install it, or set `test:` in rb\.config\.yaml/ },
    { name: 'not executable (exit 126)', setup: () => write('run-tests.sh', '#!/bin/sh\necho hi\n'), test: './run-tests.sh', outcome: 'not-executable', message: /^\.\/run-tests\.sh: permission denied: not executable \(exit 126\)$/, next: /^make it executable \(chmod \+x \.\/run-tests\.sh\), or set `test:`/ },
    { name: 'killed by a signal', test: [process.execPath, '-e', "console.log('# pass 1\\n# fail 0'); process.kill(process.pid, 'SIGKILL')"], outcome: 'killed', message: /^killed by SIGKILL \(often the out-of-memory killer\)$/, next: /^run it by hand to see why it was killed/ },
    { name: 'killed, as a shell reports it (exit 128+9)', test: "sh -c 'kill -9 $$'; exit $?", outcome: 'killed', message: /^killed by SIGKILL .*\(exit 137\)$/, next: /^run it by hand/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      c.setup?.();
      const { ctx } = fakeCtx({ test: c.test });
      const err = await runExpectingFailure(testsRun.run({ allowFail: true, to: 'sprint-1/test_failures.txt' }, ctx));
      expect(err.result).toMatchObject({ outcome: c.outcome });
      expect(err.result.outcomeMessage).toMatch(c.message);
      expect(err.result.next).toMatch(c.next);
      expect(err.message).toContain(`could not run: ${err.result.outcomeMessage as string}; next: ${err.result.next as string}`);
      expect(err.message).not.toMatch(/tests failed/);
      const report = testsReportLines(err.result, 'failed');
      expect(report).toMatch(/^- Tests: could not run `.*`: .* \(full output: rollbacks\/sprint-1\/test_failures\.txt\)\n- Next: /);
      expect(report).not.toMatch(/Failing tests/);
    });
  }
  it('timed out', async () => {
    const { ctx } = fakeCtx({ test: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] }, 300);
    const err = await runExpectingFailure(testsRun.run({ allowFail: true }, ctx));
    expect(err.result).toMatchObject({ outcome: 'timed-out', outcomeMessage: 'timed out after 300 ms and was stopped' });
    expect(testsReportLines(err.result, 'failed')).toBe(`- Tests: could not run \`${(err.result.commands as string[])[0]}\`: timed out after 300 ms and was stopped\n- Next: run it by hand to see where it hangs`);
  });
  it('the report lines of tests that ran, and of tests that did not run: no output file is named unless written', () => {
    expect(testsReportLines({ skipped: NO_TEST_COMMAND }, 'skipped')).toBe(`- Tests: not run (${NO_TEST_COMMAND})`);
    expect(testsReportLines(undefined, 'skipped', 'turned off for this run')).toBe('- Tests: not run (turned off for this run)');
    expect(testsReportLines({
      commands: ['npm test'], outcome: 'failed', framework: 'jest', passed: 2, failed: 1, skippedTests: 1, loadFailures: 2,
      errors: [{ message: "Cannot find module './suggestSimilar' from 'lib/command.js'", count: 2, first: '__tests__/command.test.js' }],
      failures: ['math › divides'], file: 'rollbacks/sprint-3/test_failures.txt', exitCode: 1,
    }, 'succeeded')).toBe([
      '- Tests (jest): 1 failed, 2 passed, 1 skipped; 2 test suites failed to load (full output: rollbacks/sprint-3/test_failures.txt)',
      "- Failed to load: `Cannot find module './suggestSimilar' from 'lib/command.js'` (2 test suites, first __tests__/command.test.js)",
      '- Failing tests: math › divides',
    ].join('\n'));
  });
});

describe('the live line: never the whole stream', () => {
  it('in a log (no terminal): the first line, then at most one every 15 s', () => {
    const shown: string[] = [];
    const live = liveOutput({ output: (l) => shown.push(l) }, { tty: false });
    for (let i = 0; i < 5000; i++) live.line(`line ${i}`);
    live.stop();
    expect(shown).toEqual(['line 0']);
  });
  it('on a terminal: the latest line, redrawn at most every 100 ms; colours and carriage returns removed', async () => {
    const shown: string[] = [];
    const live = liveOutput({ output: (l) => shown.push(l) }, { tty: true });
    live.line('\u001b[32mfirst\u001b[0m');
    for (let i = 0; i < 1000; i++) live.line(`progress ${i}%\rline ${i}`);
    await new Promise((r) => setTimeout(r, 250));
    live.stop();
    expect(shown).toEqual(['first', 'line 999']);
  });
});
