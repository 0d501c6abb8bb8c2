/**
 * Reads the output of a test run and says what it found: which runner produced it, how many
 * tests passed, failed and were skipped, the names of the failing tests, and the test files
 * (suites, modules, packages) that failed to load — with the first error of each distinct cause,
 * since one missing module can stop a hundred suites. Used by `tests.run` (the journal, sprint
 * reports, metrics' tests_failed), `rb check` and `rb analyze`, so a report can say
 * "1 failed: math › divides; 109 test files failed to load: Cannot find module './x'" instead of
 * pasting a log.
 *
 * Only real output formats are recognised (vitest, jest, mocha, node:test spec and TAP, pytest,
 * go test), as test/test-output.test.ts checks on the output of the real tools. When none is
 * found the answer is framework 'unknown' with null counts: a report must never show a guessed
 * number. Pure: no I/O.
 */
import { stripVTControlCharacters } from 'node:util';

export type TestFramework = 'vitest' | 'jest' | 'mocha' | 'node:test' | 'pytest' | 'go' | 'unknown';

export interface TestOutputSummary {
  framework: TestFramework;
  passed: number | null;
  failed: number | null;
  skipped: number | null;
  /**
   * test files / suites / packages that failed to load, collect or build, so none of their tests
   * ran (not counted in `failed`); null when the output cannot tell
   */
  loadFailures: number | null;
  /** the first error of each distinct cause of those load failures, most frequent first */
  errors: LoadError[];
  /** names of failing tests as the runner prints them, in order, without duplicates, at most MAX_FAILURES */
  failures: string[];
}

export interface LoadError {
  /** the error's first line, e.g. "Cannot find module './suggestSimilar' from 'lib/command.js'" */
  message: string;
  /** how many files failed to load with it */
  count: number;
  /** the first file that showed it */
  first: string;
}

export const MAX_FAILURES = 50;

/** Remove colour and cursor escape sequences (CSI and OSC): node's own util.stripVTControlCharacters. */
export function stripAnsi(text: string): string {
  return stripVTControlCharacters(text);
}

/**
 * Lines as a terminal would finally show them: ANSI removed, CRLF normalised, and for a line
 * rewritten with carriage returns (progress output) only its last version.
 */
function screenLines(text: string): string[] {
  return stripAnsi(text)
    .split('\n')
    .map((l) => {
      const s = l.replace(/\r+$/, '');
      const i = s.lastIndexOf('\r');
      return i >= 0 ? s.slice(i + 1) : s;
    });
}

/** Parse "2 failed | 5 passed" or "1 failed, 3 passed, 4 total" into word -> count; null if any part is not "<n> <word>". */
function counts(list: string, sep: RegExp): Map<string, number> | null {
  const m = new Map<string, number>();
  for (const part of list.split(sep)) {
    const p = /^\s*(\d+) ([a-z][a-z ]*?)\s*$/.exec(part);
    if (!p) return null;
    m.set(p[2]!, (m.get(p[2]!) ?? 0) + Number(p[1]));
  }
  return m;
}

function sum(m: Map<string, number>, ...words: string[]): number {
  return words.reduce((a, w) => a + (m.get(w) ?? 0), 0);
}

/** Collects failure names: first MAX_FAILURES distinct ones. */
class Failures {
  readonly names: string[] = [];
  private readonly seen = new Set<string>();
  add(name: string): void {
    const n = name.trim();
    if (!n || this.seen.has(n) || this.names.length >= MAX_FAILURES) return;
    this.seen.add(n);
    this.names.push(n);
  }
}

/**
 * Reporters that print a tree (TAP, node's spec reporter) print a failing suite after its
 * failing children, one level less indented. Only the leaves are failing tests: a failure is a
 * parent when a deeper failure was seen since the last test point at its own depth.
 */
class LeafTracker {
  private deeperFails: number[] = [];
  constructor(private readonly out: Failures) {}
  point(indent: number, failed: boolean, name: string): void {
    const isParent = this.deeperFails.some((d) => d > indent);
    this.deeperFails = this.deeperFails.filter((d) => d <= indent);
    if (!failed) return;
    this.deeperFails.push(indent);
    if (!isParent) this.out.add(name);
  }
}

/** Files that failed to load (each once), grouped by the first line of their error (clipped), most frequent first. */
class LoadErrors {
  count = 0;
  private readonly byMessage = new Map<string, LoadError>();
  private readonly files = new Set<string>();
  /** a file counts once: Jest repeats every failure under "Summary of all failing tests" */
  add(file: string, message: string | null | undefined): void {
    if (this.files.has(file.trim())) return;
    this.files.add(file.trim());
    this.count++;
    const m = (message ?? '').trim();
    const key = m ? (m.length > 300 ? `${m.slice(0, 299)}…` : m) : '(no error message)';
    const e = this.byMessage.get(key);
    if (e) e.count++;
    else this.byMessage.set(key, { message: key, count: 1, first: file.trim() });
  }
  get list(): LoadError[] {
    return [...this.byMessage.values()].sort((a, b) => b.count - a.count);
  }
}

/** The first non-empty line from `from` on (at most `within` lines on), trimmed, or null. */
function firstLine(lines: string[], from: number, within = 20, skip?: RegExp): string | null {
  for (let i = from; i < lines.length && i < from + within; i++) {
    const t = lines[i]!.trim();
    if (t && !(skip && skip.test(t))) return t;
  }
  return null;
}

type Parser = (lines: string[]) => Omit<TestOutputSummary, 'framework'> | null;

/**
 * vitest: " Tests  2 failed | 5 passed | 1 skipped | 1 todo (9)" (or "Tests  no tests" when no
 * file loaded) after " Test Files  3 failed | 1 passed (4)"; failing tests: " FAIL  file > suite >
 * test"; a file that failed to load: " FAIL  file [ file ]" followed by its error.
 */
const vitest: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  const load = new LoadErrors();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*Test Files\s{2,}.+\(\d+\)\s*$/.test(line)) found = true;
    if (/^\s*Tests\s{2,}no tests\s*$/.test(line) && found) continue;
    const t = /^\s*Tests\s{2,}(.+?)\s+\((\d+)\)\s*$/.exec(line);
    if (t) {
      const m = counts(t[1]!, /\s\|\s/);
      if (!m) continue;
      found = true;
      passed += sum(m, 'passed');
      failed += sum(m, 'failed');
      skipped += sum(m, 'skipped', 'todo');
      continue;
    }
    const f = /^\s*FAIL\s+(.+?)\s*$/.exec(line);
    if (!f) continue;
    const suite = /^(.+?)\s+\[ (.+) \]$/.exec(f[1]!);
    if (suite && !suite[1]!.includes(' > ')) load.add(suite[1]!, firstLine(lines, i + 1, 5));
    else failures.add(f[1]!.replace(/\s+\[ .* \]$/, ''));
  }
  return found ? { passed, failed, skipped, loadFailures: load.count, errors: load.list, failures: failures.names } : null;
};

/**
 * jest: "Tests:       1 failed, 1 skipped, 3 passed, 5 total"; failing tests: "  ● suite › test";
 * a suite that failed to load: "  ● Test suite failed to run" under " FAIL  file", its error on
 * the next lines. (When every suite fails to load there is no Tests line: "Tests: 0 total".)
 */
const jest: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  const load = new LoadErrors();
  let suite = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const t = /^Tests:\s+(.+?)\s*$/.exec(line);
    if (t) {
      const m = counts(t[1]!, /,\s*/);
      if (!m || !m.has('total')) continue;
      found = true;
      passed += sum(m, 'passed');
      failed += sum(m, 'failed');
      skipped += sum(m, 'skipped', 'todo');
      continue;
    }
    if (/^Test Suites:\s+.*\d+ total\s*$/.test(line)) found = true;
    const file = /^\s?FAIL\s+(\S.*?)\s*$/.exec(line);
    if (file) {
      suite = file[1]!;
      continue;
    }
    const b = /^ {2}● (.+?)\s*$/.exec(line);
    if (!b || b[1] === 'Console') continue;
    if (b[1] === 'Test suite failed to run') load.add(suite || '(unknown file)', firstLine(lines, i + 1));
    else failures.add(b[1]!);
  }
  return found ? { passed, failed, skipped, loadFailures: load.count, errors: load.list, failures: failures.names } : null;
};

/**
 * pytest: "==== 2 failed, 4 passed, 1 skipped in 0.12s ====" (or without the rules with -q);
 * failing tests: "FAILED path::test - message" and "ERROR path::test - message" (short summary).
 * Errors of a test (its fixture) count as failed; a module that could not be collected
 * ("ERROR collecting path", its error on the first "E   " line) is a load failure. xfailed /
 * xpassed are neither (pytest itself reports them apart).
 */
const pytest: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let errors = 0;
  const failures = new Failures();
  const load = new LoadErrors();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const c = /^_+ ERROR collecting (.+?) _+$/.exec(line);
    if (c) {
      let error: string | null = null;
      for (let j = i + 1; j < lines.length && !/^_{3,} /.test(lines[j]!) && !/^={3,} /.test(lines[j]!); j++) {
        const e = /^E\s+(.+?)\s*$/.exec(lines[j]!);
        if (e) {
          error = e[1]!;
          break;
        }
      }
      load.add(c[1]!, error);
      continue;
    }
    const s = /^=*\s*(.+?) in \d+(?:\.\d+)?s(?: \([\d:]+\))?\s*=*\s*$/.exec(line);
    if (s) {
      if (s[1] === 'no tests ran') {
        found = true;
        continue;
      }
      const m = counts(s[1]!, /,\s*/);
      const known = /^(failed|passed|skipped|deselected|xfailed|xpassed|errors?|warnings?|rerun)$/;
      if (!m || ![...m.keys()].every((k) => known.test(k))) continue;
      found = true;
      passed += sum(m, 'passed');
      failed += sum(m, 'failed');
      errors += sum(m, 'error', 'errors');
      skipped += sum(m, 'skipped');
      continue;
    }
    const f = /^(?:FAILED|ERROR) (\S.*?)(?: - .*)?\s*$/.exec(line);
    if (f && f[1]!.includes('::')) failures.add(f[1]!);
  }
  if (!found) return null;
  return { passed, failed: failed + Math.max(0, errors - load.count), skipped, loadFailures: load.count, errors: load.list, failures: failures.names };
};

/** A node:test "test" that is a whole file (it failed to load, or exited non-zero): its name is the file's path. */
const TEST_FILE_NAME = /^(?:\/|[A-Za-z]:\\|\.{0,2}\/?)?(?:[^\s/\\]+[/\\])*[^\s/\\]+\.(?:[cm]?[jt]sx?)$/;

/** "Error: Cannot find module './x'", "SyntaxError: …", "AssertionError [ERR_ASSERTION]: …" (a TAP comment too). */
const ERROR_LINE = /^(?:#\s+)?((?:[A-Z][A-Za-z]*)?Error(?: \[[A-Z_]+\])?: .+)$/;

/**
 * node --test: the TAP reporter ("# pass 3", "# fail 1", "not ok 3 - name") and the spec
 * reporter ("ℹ pass 3", "✖ name (1.2ms)", and since Node 20 a "✖ failing tests:" section).
 * Cancelled tests count as failed (node exits 1 for them); todo tests as skipped. A test file
 * that failed to load is reported by node as a failing test named by its path: here a load
 * failure (not counted in failed), with the error printed before it.
 */
const nodeTest: Parser = (lines) => {
  const totals = new Map<string, number>();
  for (const line of lines) {
    const t = /^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$/.exec(line);
    if (t) totals.set(t[1]!, (totals.get(t[1]!) ?? 0) + Number(t[2]));
  }
  if (!totals.has('pass') || !totals.has('fail')) return null;

  const failures = new Failures();
  const load = new LoadErrors();
  const loaded = new Set<string>();
  // the file-level failures and the last error printed before each (the loader's output comes first)
  let lastError: string | null = null;
  const section = lines.findIndex((l) => /^✖ failing tests:\s*$/.test(l));
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const e = ERROR_LINE.exec(line);
    if (e) lastError = e[1]!;
    const top = /^(?:not ok \d+ - |✖ )(.+?)(?: \(\d+(?:\.\d+)?m?s\))?\s*$/.exec(line);
    if (top && TEST_FILE_NAME.test(top[1]!) && !loaded.has(top[1]!)) {
      loaded.add(top[1]!);
      load.add(top[1]!, lastError);
    }
    // an error belongs to the file failure right after it, never to a later one
    if (/^\s*(?:not ok|ok) \d+|^\s*[✔✖﹣] /.test(line)) lastError = null;
  }
  const isFile = (name: string) => loaded.has(name);
  if (section >= 0) {
    for (const line of lines.slice(section + 1)) {
      const f = /^✖ (.+?) \(\d+(?:\.\d+)?m?s\)/.exec(line);
      if (f && !isFile(f[1]!)) failures.add(f[1]!);
    }
  } else {
    const tap = new LeafTracker(failures);
    const spec = new LeafTracker(failures);
    for (const line of lines) {
      const p = /^(\s*)(not ok|ok) \d+(?: - (.*?))?\s*$/.exec(line);
      if (p) {
        const directive = /\s#\s*(TODO|SKIP)\b/i.test(p[3] ?? '');
        const name = (p[3] ?? '').replace(/\s+#\s*(TODO|SKIP)\b.*$/i, '').replace(/\\#/g, '#');
        tap.point(p[1]!.length, p[2] === 'not ok' && !directive && !isFile(name), name);
        continue;
      }
      const s = /^(\s*)([✔✖﹣]) (.+?) \(\d+(?:\.\d+)?m?s\)(?:\s+#.*)?\s*$/.exec(line);
      if (s) spec.point(s[1]!.length, s[2] === '✖' && !isFile(s[3]!), s[3]!);
    }
  }
  return {
    passed: totals.get('pass')!,
    failed: Math.max(0, totals.get('fail')! - load.count) + (totals.get('cancelled') ?? 0),
    skipped: (totals.get('skipped') ?? 0) + (totals.get('todo') ?? 0),
    loadFailures: load.count,
    errors: load.list,
    failures: failures.names,
  };
};

/**
 * mocha: "  3 passing (12ms)", "  1 pending", "  1 failing", then numbered failures whose title
 * runs over several lines ("  1) suite\n       test:"), joined with spaces as mocha's fullTitle does.
 * A test file that fails to load stops mocha before any test: " Exception during run: Error: …"
 * (no counts then: nothing ran).
 */
const mocha: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  const load = new LoadErrors();
  let inFailures = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const x = /^\s*Exception during run: (.+?)\s*$/.exec(line);
    if (x) {
      const stack = lines.slice(i + 1, i + 12).map((l) => /^- (\S+)$/.exec(l.trim())?.[1]).filter(Boolean);
      load.add(stack[stack.length - 1] ?? '(a test file)', x[1]!);
      continue;
    }
    const p = /^\s+(\d+) passing \(\d+(?:\.\d+)?\s?(?:ms|s|m|h)\)\s*$/.exec(line);
    if (p) {
      found = true;
      passed += Number(p[1]);
      inFailures = false;
      continue;
    }
    const pend = /^\s+(\d+) pending\s*$/.exec(line);
    if (pend && found) {
      skipped += Number(pend[1]);
      continue;
    }
    const f = /^\s+(\d+) failing\s*$/.exec(line);
    if (f && found) {
      failed += Number(f[1]);
      inFailures = true;
      continue;
    }
    if (!inFailures) continue;
    const n = /^ {2}\d+\) (.+?)\s*$/.exec(line);
    if (!n) continue;
    const parts = [n[1]!];
    for (let j = i + 1; !parts[parts.length - 1]!.endsWith(':') && j < lines.length && j <= i + 20; j++) {
      const next = lines[j]!.trim();
      if (!next) break;
      parts.push(next);
    }
    const last = parts[parts.length - 1]!;
    if (last.endsWith(':')) {
      parts[parts.length - 1] = last.slice(0, -1);
      failures.add(parts.join(' '));
    }
  }
  if (found) return { passed, failed, skipped, loadFailures: load.count, errors: load.list, failures: failures.names };
  if (load.count) return { passed: null, failed: null, skipped: null, loadFailures: load.count, errors: load.list, failures: [] };
  return null;
};

/**
 * go test: "--- FAIL: TestX (0.00s)" (subtests indented, "TestX/case"), package lines
 * "ok  \tpkg\t0.01s" and "FAIL\tpkg\t0.01s"; a package that does not build:
 * "# pkg [pkg.test]", its compiler errors, then "FAIL\tpkg [build failed]" (or [setup failed]) —
 * a load failure. Passes and skips are only printed with -v: without it their counts are
 * unknown (null), not zero.
 */
const goTest: Parser = (lines) => {
  const results: { status: string; name: string }[] = [];
  const load = new LoadErrors();
  const firstErrorOf = new Map<string, string>();
  let packages = 0;
  let verbose = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const h = /^# (\S+)(?: \[\S+\])?\s*$/.exec(line);
    if (h && !firstErrorOf.has(h[1]!)) {
      const e = firstLine(lines, i + 1, 3);
      if (e && !/^(FAIL|ok)\s/.test(e)) firstErrorOf.set(h[1]!, e);
    }
    if (/^=== (RUN|PAUSE|CONT|NAME)\s/.test(line)) verbose = true;
    const t = /^\s*--- (FAIL|PASS|SKIP): (\S+) \(\d+(?:\.\d+)?s\)/.exec(line);
    if (t) {
      results.push({ status: t[1]!, name: t[2]! });
      if (t[1] !== 'FAIL') verbose = true;
      continue;
    }
    const b = /^FAIL\s+(\S+)\s+\[(build failed|setup failed)\]\s*$/.exec(line);
    if (b) {
      packages++;
      load.add(`${b[1]} [${b[2]}]`, firstErrorOf.get(b[1]!) ?? (i > 0 && !/^(FAIL|ok|PASS)\b/.test(lines[i - 1]!) ? lines[i - 1]!.trim() : null));
      continue;
    }
    if (/^(ok|FAIL)\s+\S+\s+(\d+(?:\.\d+)?s|\(cached\))/.test(line) || /^\?\s+\S+\s+\[no test files\]/.test(line)) packages++;
  }
  if (!results.length && !packages) return null;
  const names = results.map((r) => r.name);
  const leaves = results.filter((r) => !names.some((n) => n.startsWith(`${r.name}/`)));
  const failures = new Failures();
  const failedLeaves = leaves.filter((r) => r.status === 'FAIL');
  for (const r of failedLeaves) failures.add(r.name);
  return {
    passed: verbose ? leaves.filter((r) => r.status === 'PASS').length : null,
    failed: failedLeaves.length,
    skipped: verbose ? leaves.filter((r) => r.status === 'SKIP').length : null,
    loadFailures: load.count,
    errors: load.list,
    failures: failures.names,
  };
};

const PARSERS: [Exclude<TestFramework, 'unknown'>, Parser][] = [
  ['vitest', vitest],
  ['jest', jest],
  ['pytest', pytest],
  ['node:test', nodeTest],
  ['mocha', mocha],
  ['go', goTest],
];

/** What a test run's output says; framework 'unknown' and null counts when no known summary is found. */
export function parseTestOutput(text: string): TestOutputSummary {
  const lines = screenLines(text);
  for (const [framework, parse] of PARSERS) {
    const r = parse(lines);
    if (r) return { framework, ...r };
  }
  return { framework: 'unknown', passed: null, failed: null, skipped: null, loadFailures: null, errors: [], failures: [] };
}

/** What failed to load, by runner: Jest's "test suites", go's "packages", the others' "test files". */
function loadUnit(framework: TestFramework, n: number): string {
  const one = framework === 'jest' ? 'test suite' : framework === 'go' ? 'package' : framework === 'pytest' ? 'test module' : 'test file';
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

/** "1 failed, 2 passed, 1 skipped; 2 test suites failed to load" (the counts the output gave). */
export function countsText(s: Pick<TestOutputSummary, 'framework' | 'passed' | 'failed' | 'skipped' | 'loadFailures'>): string {
  const parts = [
    s.failed !== null ? `${s.failed} failed` : null,
    s.passed !== null ? `${s.passed} passed` : null,
    s.skipped ? `${s.skipped} skipped` : null,
  ].filter(Boolean);
  const load = s.loadFailures ? `${loadUnit(s.framework, s.loadFailures)} failed to ${s.framework === 'go' ? 'build' : 'load'}` : '';
  return [parts.join(', '), load].filter(Boolean).join('; ') || 'no counts';
}

/** Where a load error was seen: "(2 test suites, first __tests__/a.test.js)" or "(__tests__/a.test.js)". */
export function errorWhere(e: LoadError, framework: TestFramework = 'unknown'): string {
  return `(${e.count > 1 ? `${loadUnit(framework, e.count)}, first ` : ''}${e.first})`;
}

/** One load error as a line: "Cannot find module './x' (2 test suites, first __tests__/a.test.js)". */
export function errorText(e: LoadError, framework: TestFramework = 'unknown'): string {
  return `${e.message} ${errorWhere(e, framework)}`;
}
