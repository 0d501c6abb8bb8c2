/**
 * parseTestOutput against real output: fixtures in test/fixtures/test-output/ were captured from
 * real runs (node --test 20.20 with the tap and spec reporters, vitest 4.1 with and without
 * colour, pytest 9); jest, mocha and go samples are literal copies of their reporters' formats.
 * One test runs `node --test` live so a change of Node's reporters is noticed.
 */
import { describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_FAILURES, parseTestOutput, stripAnsi } from '../src/records/test-output.js';

// real processes: generous bounds so a loaded machine does not fail them (no assertion is on speed)
vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'test-output', name), 'utf8');

describe('vitest', () => {
  it('reads the summary and failing tests (plain)', () => {
    expect(parseTestOutput(fixture('vitest-fail.txt'))).toEqual({
      framework: 'vitest',
      passed: 4,
      failed: 2,
      skipped: 2,
      failures: ['test/math.test.ts > math > divides', 'test/str.test.ts > lower'],
    });
  });
  it('reads the same with ANSI colour codes', () => {
    const text = fixture('vitest-fail-color.txt');
    expect(text).toContain('\u001b[');
    expect(parseTestOutput(text)).toEqual(parseTestOutput(fixture('vitest-fail.txt')));
  });
  it('all passing', () => {
    expect(parseTestOutput(fixture('vitest-pass.txt'))).toEqual({ framework: 'vitest', passed: 1, failed: 0, skipped: 0, failures: [] });
  });
  it('the one-line form of the issue', () => {
    expect(parseTestOutput('      Tests  2 failed | 5 passed (7)\n')).toMatchObject({ framework: 'vitest', passed: 5, failed: 2, skipped: 0 });
  });
  it('a suite that failed to load', () => {
    const text = ' FAIL  test/broken.test.ts [ test/broken.test.ts ]\nError: Cannot find module \'./nope\'\n\n Test Files  1 failed (1)\n      Tests  no tests\n';
    // "no tests" is not a count: nothing recognised, no guess
    expect(parseTestOutput(text).framework).toBe('unknown');
  });
});

describe('jest', () => {
  const sample = [
    ' FAIL  src/math.test.js',
    '  math',
    '    ✓ adds (2 ms)',
    '    ✕ divides (3 ms)',
    '    ○ skipped later',
    '',
    '  ● math › divides',
    '',
    '    expect(received).toBe(expected) // Object.is equality',
    '',
    '    Expected: 3',
    '    Received: 2',
    '',
    '      3 | test(\'divides\', () => {',
    '    > 4 |   expect(4 / 2).toBe(3);',
    '        |                 ^',
    '',
    '      at Object.toBe (src/math.test.js:4:17)',
    '',
    ' FAIL  src/broken.test.js',
    '  ● Test suite failed to run',
    '',
    '    Cannot find module \'./nope\' from \'src/broken.test.js\'',
    '',
    ' PASS  src/str.test.js',
    '',
    'Test Suites: 2 failed, 1 passed, 3 total',
    'Tests:       1 failed, 1 skipped, 3 passed, 5 total',
    'Snapshots:   0 total',
    'Time:        0.512 s, estimated 1 s',
    'Ran all test suites.',
  ].join('\n');
  it('reads "Tests:" (not "Test Suites:") and the ● names', () => {
    expect(parseTestOutput(sample)).toEqual({
      framework: 'jest',
      passed: 3,
      failed: 1,
      skipped: 1,
      failures: ['math › divides', 'src/broken.test.js: test suite failed to run'],
    });
  });
  it('the one-line form of the issue', () => {
    expect(parseTestOutput('Tests:       1 failed, 3 passed, 4 total\n')).toMatchObject({ framework: 'jest', passed: 3, failed: 1, skipped: 0 });
  });
});

describe('mocha', () => {
  const sample = [
    '',
    '',
    '  math',
    '    ✔ adds',
    '    1) divides',
    '    - later',
    '',
    '  2) top level',
    '',
    '  1 passing (12ms)',
    '  1 pending',
    '  2 failing',
    '',
    '  1) math',
    '       divides:',
    '',
    '      AssertionError [ERR_ASSERTION]: 2 == 3',
    '      + expected - actual',
    '',
    '      -2',
    '      +3',
    '      ',
    '      at Context.<anonymous> (test/math.spec.js:5:12)',
    '',
    '  2) top level:',
    '     Error: boom',
    '      at Context.<anonymous> (test/top.spec.js:2:9)',
    '',
  ].join('\n');
  it('reads passing / pending / failing and the multi-line titles', () => {
    expect(parseTestOutput(sample)).toEqual({ framework: 'mocha', passed: 1, failed: 2, skipped: 1, failures: ['math divides', 'top level'] });
  });
  it('all passing', () => {
    expect(parseTestOutput('\n  3 passing (12ms)\n\n')).toEqual({ framework: 'mocha', passed: 3, failed: 0, skipped: 0, failures: [] });
  });
});

describe('node:test', () => {
  it('TAP reporter', () => {
    expect(parseTestOutput(fixture('node-test-tap.txt'))).toEqual({ framework: 'node:test', passed: 2, failed: 1, skipped: 2, failures: ['multiplies numbers'] });
  });
  it('TAP reporter with a suite: the failing leaf, not the suite', () => {
    expect(parseTestOutput(fixture('node-test-tap-nested.txt'))).toEqual({ framework: 'node:test', passed: 1, failed: 1, skipped: 0, failures: ['divides'] });
  });
  it('spec reporter (ℹ lines, failing tests section), with colour', () => {
    expect(parseTestOutput(fixture('node-test-spec-color.txt'))).toEqual({
      framework: 'node:test',
      passed: 3,
      failed: 2,
      skipped: 2,
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
  it('live: the installed node with both reporters', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-nodetest-'));
    try {
      writeFileSync(
        join(dir, 'x.test.mjs'),
        "import test from 'node:test';\nimport assert from 'node:assert';\ntest('good', () => {});\ntest('bad one', () => assert.equal(1, 2));\ntest('later', { skip: true }, () => {});\n",
      );
      for (const reporter of ['tap', 'spec']) {
        const r = spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, 'x.test.mjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
        expect(r.status).toBe(1);
        expect(parseTestOutput(r.stdout + r.stderr)).toEqual({ framework: 'node:test', passed: 1, failed: 1, skipped: 1, failures: ['bad one'] });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pytest', () => {
  const expected = {
    framework: 'pytest',
    passed: 4,
    failed: 2,
    skipped: 1,
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
    expect(parseTestOutput(fixture('pytest-pass.txt'))).toEqual({ framework: 'pytest', passed: 1, failed: 0, skipped: 0, failures: [] });
  });
  it('the one-line form of the issue', () => {
    expect(parseTestOutput('==== 1 failed, 2 passed in 0.12s ====\nFAILED tests/test_x.py::test_y - assert 1 == 2\n')).toEqual({
      framework: 'pytest',
      passed: 2,
      failed: 1,
      skipped: 0,
      failures: ['tests/test_x.py::test_y'],
    });
  });
});

describe('go test', () => {
  it('-v: counts leaves, subtests instead of their parents', () => {
    const text = [
      '=== RUN   TestAdd',
      '--- PASS: TestAdd (0.00s)',
      '=== RUN   TestDivide',
      '    calc_test.go:12: expected 3, got 2',
      '--- FAIL: TestDivide (0.00s)',
      '=== RUN   TestSkip',
      '    calc_test.go:16: later',
      '--- SKIP: TestSkip (0.00s)',
      '=== RUN   TestSub',
      '=== RUN   TestSub/positive',
      '=== RUN   TestSub/negative',
      '    calc_test.go:25: expected -1, got 1',
      '--- FAIL: TestSub (0.00s)',
      '    --- PASS: TestSub/positive (0.00s)',
      '    --- FAIL: TestSub/negative (0.00s)',
      'FAIL',
      'exit status 1',
      'FAIL\texample.com/calc\t0.002s',
      'ok  \texample.com/calc/str\t0.003s',
      '?   \texample.com/calc/cmd\t[no test files]',
      'FAIL',
    ].join('\n');
    expect(parseTestOutput(text)).toEqual({ framework: 'go', passed: 2, failed: 2, skipped: 1, failures: ['TestDivide', 'TestSub/negative'] });
  });
  it('without -v: failures are exact, passes unknown (null, not 0)', () => {
    const text = [
      '--- FAIL: TestX (0.00s)',
      '    x_test.go:8: nope',
      'FAIL',
      'FAIL\texample.com/x\t0.004s',
      'ok  \texample.com/y\t0.01s',
      'FAIL\texample.com/z [build failed]',
      'FAIL',
    ].join('\n');
    expect(parseTestOutput(text)).toEqual({ framework: 'go', passed: null, failed: 2, skipped: null, failures: ['TestX', 'example.com/z [build failed]'] });
  });
  it('all passing without -v', () => {
    expect(parseTestOutput('ok  \texample.com/y\t0.01s\nok  \texample.com/w\t(cached)\n')).toEqual({ framework: 'go', passed: null, failed: 0, skipped: null, failures: [] });
  });
});

describe('not recognised', () => {
  it('is unknown with nulls, never a guess', () => {
    for (const text of ['', 'make: *** [test] Error 1\n', 'Error: 3 tests passed somewhere\n', 'ok\n', 'All good, 12 passed!\n']) {
      expect(parseTestOutput(text)).toEqual({ framework: 'unknown', passed: null, failed: null, skipped: null, failures: [] });
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
