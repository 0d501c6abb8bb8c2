/**
 * parseTestOutput against real output. The main cases are produced here by the real tools on
 * the fixture projects of test/fixtures/projects/ (test/helpers/runners.ts): Jest and Mocha at
 * pinned versions from the npm registry, Vitest (rb's own), node --test with the spec and TAP
 * reporters, pytest and go test — each on a good project and on one where a deleted module
 * stops two test files from loading and one test fails. The files in test/fixtures/test-output/
 * were captured from real runs too (node --test 20.20, vitest 4.1 with colour, pytest 9 with
 * colour, -q and an erroring fixture) and keep those variants covered.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countsText, errorText, MAX_FAILURES, parseTestOutput, stripAnsi } from '../src/records/test-output.js';
import { toolOutputs, type ToolOutput } from './helpers/runners.js';

// real processes: generous bounds so a loaded machine does not fail them (no assertion is on speed)
vi.setConfig({ testTimeout: 60_000, hookTimeout: 600_000 });

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'test-output', name), 'utf8');

let out: Record<string, ToolOutput>;
beforeAll(async () => {
  out = await toolOutputs();
});

const good = { passed: 6, failed: 0, skipped: 1, loadFailures: 0, errors: [], failures: [] };

describe('the real runners on a good project and a broken one', () => {
  it('jest: Tests and Test Suites lines, the ● names, suites that failed to load with their one cause', () => {
    expect(out['jest-good']!.code).toBe(0);
    expect(parseTestOutput(out['jest-good']!.all)).toEqual({ framework: 'jest', ...good });
    expect(out['jest-broken']!.code).toBe(1);
    const r = parseTestOutput(out['jest-broken']!.all);
    expect(r).toEqual({
      framework: 'jest', passed: 2, failed: 1, skipped: 1, loadFailures: 2,
      errors: [{ message: "Cannot find module './suggestSimilar' from 'lib/command.js'", count: 2, first: expect.stringMatching(/^__tests__\/(command|help)\.test\.js$/) }],
      failures: ['math › divides'],
    });
    expect(countsText(r)).toBe('1 failed, 2 passed, 1 skipped; 2 test suites failed to load');
    expect(errorText(r.errors[0]!, r.framework)).toMatch(/^Cannot find module '.\/suggestSimilar' from 'lib\/command.js' \(2 test suites, first __tests__\//);
  });
  it('jest with more than 20 suites: the "Summary of all failing tests" repeats each failure, counted once', () => {
    const o = out['jest-many-broken']!;
    expect(o.all).toContain('Summary of all failing tests');
    expect(o.all).toMatch(/^Test Suites: 23 failed, 1 passed, 24 total$/m);
    const r = parseTestOutput(o.all);
    expect(r).toMatchObject({ framework: 'jest', passed: 2, failed: 1, skipped: 1, loadFailures: 22, failures: ['math › divides'] });
    expect(r.errors).toEqual([{ message: "Cannot find module './suggestSimilar' from 'lib/command.js'", count: 22, first: expect.stringMatching(/^__tests__\//) }]);
  });
  it('vitest: a FAIL line per test, " [ file ]" for a file that failed to load', () => {
    expect(parseTestOutput(out['vitest-good']!.all)).toEqual({ framework: 'vitest', ...good });
    expect(parseTestOutput(out['vitest-broken']!.all)).toEqual({
      framework: 'vitest', passed: 2, failed: 1, skipped: 1, loadFailures: 2,
      errors: [{ message: "Error: Cannot find module './suggestSimilar'", count: 2, first: 'test/command.test.js' }],
      failures: ['test/math.test.js > math > divides'],
    });
  });
  it('mocha: passing / pending / failing; a file that fails to load stops the run before any test (no counts then)', () => {
    expect(parseTestOutput(out['mocha-good']!.all)).toEqual({ framework: 'mocha', ...good });
    expect(out['mocha-broken']!.code).not.toBe(0);
    expect(parseTestOutput(out['mocha-broken']!.all)).toEqual({
      framework: 'mocha', passed: null, failed: null, skipped: null, loadFailures: 1,
      errors: [{ message: "Error: Cannot find module './suggestSimilar'", count: 1, first: join(out['mocha-broken']!.dir, 'test/command.spec.js') }],
      failures: [],
    });
  });
  for (const reporter of ['spec', 'tap']) {
    it(`node --test, ${reporter} reporter: a file that failed to load is a load failure, not a failing test`, () => {
      const broken = out[`node-${reporter}-broken`]!;
      expect(parseTestOutput(out[`node-${reporter}-good`]!.all)).toEqual({ framework: 'node:test', ...good });
      expect(parseTestOutput(broken.all)).toEqual({
        framework: 'node:test', passed: 2, failed: 1, skipped: 1, loadFailures: 2,
        errors: [{ message: "Error: Cannot find module './suggestSimilar'", count: 2, first: join(broken.dir, 'test/command.test.js') }],
        failures: ['divides'],
      });
    });
  }
  it('pytest: modules that could not be collected (the run stops there), with their E line', () => {
    expect(parseTestOutput(out['pytest-good']!.all)).toEqual({ framework: 'pytest', ...good });
    expect(out['pytest-broken']!.code).toBe(2);
    const r = parseTestOutput(out['pytest-broken']!.all);
    expect(r).toEqual({
      framework: 'pytest', passed: 0, failed: 0, skipped: 0, loadFailures: 2,
      errors: [{ message: "ModuleNotFoundError: No module named 'app.suggest'", count: 2, first: 'tests/test_command.py' }],
      failures: [],
    });
    expect(countsText(r)).toBe('0 failed, 0 passed; 2 test modules failed to load');
  });
  it('go test: a package that does not build, with its first compiler error; passes counted only with -v', () => {
    const buildError = { message: 'command/command.go:11:18: undefined: suggest.Similar', count: 1, first: 'example.com/fixture/command [build failed]' };
    expect(parseTestOutput(out['go-good']!.all)).toEqual({ framework: 'go', passed: null, failed: 0, skipped: null, loadFailures: 0, errors: [], failures: [] });
    expect(parseTestOutput(out['go-v-good']!.all)).toEqual({ framework: 'go', passed: 4, failed: 0, skipped: 1, loadFailures: 0, errors: [], failures: [] });
    expect(parseTestOutput(out['go-broken']!.all)).toEqual({ framework: 'go', passed: null, failed: 1, skipped: null, loadFailures: 1, errors: [buildError], failures: ['TestDivides'] });
    const v = parseTestOutput(out['go-v-broken']!.all);
    expect(v).toEqual({ framework: 'go', passed: 2, failed: 1, skipped: 1, loadFailures: 1, errors: [buildError], failures: ['TestDivides'] });
    expect(countsText(v)).toBe('1 failed, 2 passed, 1 skipped; 1 package failed to build');
  });
});

describe('vitest', () => {
  it('reads the summary and failing tests (plain)', () => {
    expect(parseTestOutput(fixture('vitest-fail.txt'))).toEqual({
      framework: 'vitest',
      passed: 4,
      failed: 2,
      skipped: 2,
      loadFailures: 0,
      errors: [],
      failures: ['test/math.test.ts > math > divides', 'test/str.test.ts > lower'],
    });
  });
  it('reads the same with ANSI colour codes', () => {
    const text = fixture('vitest-fail-color.txt');
    expect(text).toContain('\u001b[');
    expect(parseTestOutput(text)).toEqual(parseTestOutput(fixture('vitest-fail.txt')));
  });
  it('all passing', () => {
    expect(parseTestOutput(fixture('vitest-pass.txt'))).toEqual({ framework: 'vitest', passed: 1, failed: 0, skipped: 0, loadFailures: 0, errors: [], failures: [] });
  });
  it('the one-line form of the issue', () => {
    expect(parseTestOutput('      Tests  2 failed | 5 passed (7)\n')).toMatchObject({ framework: 'vitest', passed: 5, failed: 2, skipped: 0 });
  });
  it('every file failed to load: "Tests  no tests" is no count, the files are', () => {
    const text = ' FAIL  test/broken.test.ts [ test/broken.test.ts ]\nError: Cannot find module \'./nope\'\n\n Test Files  1 failed (1)\n      Tests  no tests\n';
    expect(parseTestOutput(text)).toEqual({
      framework: 'vitest', passed: 0, failed: 0, skipped: 0, loadFailures: 1,
      errors: [{ message: "Error: Cannot find module './nope'", count: 1, first: 'test/broken.test.ts' }], failures: [],
    });
  });
});

describe('node:test', () => {
  it('TAP reporter', () => {
    expect(parseTestOutput(fixture('node-test-tap.txt'))).toEqual({ framework: 'node:test', passed: 2, failed: 1, skipped: 2, loadFailures: 0, errors: [], failures: ['multiplies numbers'] });
  });
  it('TAP reporter with a suite: the failing leaf, not the suite', () => {
    expect(parseTestOutput(fixture('node-test-tap-nested.txt'))).toEqual({ framework: 'node:test', passed: 1, failed: 1, skipped: 0, loadFailures: 0, errors: [], failures: ['divides'] });
  });
  it('spec reporter (ℹ lines, failing tests section), with colour', () => {
    expect(parseTestOutput(fixture('node-test-spec-color.txt'))).toEqual({
      framework: 'node:test',
      passed: 3,
      failed: 2,
      skipped: 2,
      loadFailures: 0,
      errors: [],
      failures: ['multiplies numbers', 'divides'],
    });
  });
  it('spec reporter without the failing tests section: leaves of the tree', () => {
    const text = fixture('node-test-spec-color.txt');
    const body = text.slice(0, text.indexOf('failing tests:'));
    expect(parseTestOutput(body).failures).toEqual(['multiplies numbers', 'divides']);
  });
  it('the one-line forms of the issue', () => {
    expect(parseTestOutput('# pass 3\n# fail 1\n')).toMatchObject({ framework: 'node:test', passed: 3, failed: 1 });
    expect(parseTestOutput('ℹ pass 3\nℹ fail 1\n')).toMatchObject({ framework: 'node:test', passed: 3, failed: 1 });
  });
});

describe('pytest', () => {
  const expected = {
    framework: 'pytest',
    passed: 4,
    failed: 2,
    skipped: 1,
    loadFailures: 0,
    errors: [],
    failures: ['tests/test_calc.py::test_sub', 'tests/test_calc.py::TestMul::test_param[2]'],
  };
  it('the === summary and FAILED lines', () => {
    expect(parseTestOutput(fixture('pytest-fail.txt'))).toEqual(expected);
  });
  it('with --color=yes', () => {
    expect(parseTestOutput(fixture('pytest-fail-color.txt'))).toEqual(expected);
  });
  it('-q, with an error (counted as failed) and an xfail (neither)', () => {
    expect(parseTestOutput(fixture('pytest-quiet-error.txt'))).toEqual({
      ...expected,
      failed: 3,
      failures: [...expected.failures, 'tests/test_err.py::test_uses_broken'],
    });
  });
  it('all passing', () => {
    expect(parseTestOutput(fixture('pytest-pass.txt'))).toEqual({ framework: 'pytest', passed: 1, failed: 0, skipped: 0, loadFailures: 0, errors: [], failures: [] });
  });
  it('the one-line form of the issue', () => {
    expect(parseTestOutput('==== 1 failed, 2 passed in 0.12s ====\nFAILED tests/test_x.py::test_y - assert 1 == 2\n')).toEqual({
      framework: 'pytest',
      passed: 2,
      failed: 1,
      skipped: 0,
      loadFailures: 0,
      errors: [],
      failures: ['tests/test_x.py::test_y'],
    });
  });
});

describe('not recognised', () => {
  it('is unknown with nulls, never a guess', () => {
    for (const text of ['', 'make: *** [test] Error 1\n', 'Error: 3 tests passed somewhere\n', 'ok\n', 'All good, 12 passed!\n']) {
      expect(parseTestOutput(text)).toEqual({ framework: 'unknown', passed: null, failed: null, skipped: null, loadFailures: null, errors: [], failures: [] });
    }
  });
});

describe('robustness', () => {
  it('CRLF line ends and carriage-return progress lines', () => {
    const text = 'running...\rrunning 50%\r      Tests  1 failed | 2 passed (3)\r\n';
    expect(parseTestOutput(text)).toMatchObject({ framework: 'vitest', passed: 2, failed: 1 });
  });
  it('keeps at most MAX_FAILURES names, without duplicates', () => {
    const lines = Array.from({ length: 80 }, (_, i) => `FAILED tests/test_a.py::test_${i} - x`);
    const text = [...lines, lines[0], `==== 80 failed in 1.00s ====`].join('\n');
    const r = parseTestOutput(text);
    expect(r.failed).toBe(80);
    expect(r.failures).toHaveLength(MAX_FAILURES);
    expect(new Set(r.failures).size).toBe(MAX_FAILURES);
  });
  it('stripAnsi removes colour codes', () => {
    expect(stripAnsi('\u001b[31m\u001b[1mFAIL\u001b[22m\u001b[39m x')).toBe('FAIL x');
  });
});
