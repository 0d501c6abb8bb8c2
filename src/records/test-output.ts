/**
 * Reads the output of a test run and says what it found: which runner produced it, how many
 * tests passed, failed and were skipped, and the names of the failing tests. Used by `tests.run`
 * (the journal, sprint reports, metrics' tests_failed) so a report can say "2 failed: a, b"
 * instead of pasting a log.
 *
 * Only real summary formats are recognised (vitest, jest, mocha, node:test, pytest, go test).
 * When none is found the answer is framework 'unknown' with null counts: a report must never
 * show a guessed number. Pure: no I/O.
 */

export type TestFramework = 'vitest' | 'jest' | 'mocha' | 'node:test' | 'pytest' | 'go' | 'unknown';

export interface TestOutputSummary {
  framework: TestFramework;
  passed: number | null;
  failed: number | null;
  skipped: number | null;
  /** names of failing tests as the runner prints them, in order, without duplicates, at most MAX_FAILURES */
  failures: string[];
}

export const MAX_FAILURES = 50;

// The pattern of the ansi-regex package (CSI and OSC sequences), inlined to avoid a dependency.
const ANSI = /[\u001B\u009B][[\]()#;?]*(?:(?:(?:(?:;[-a-zA-Z\d/#&.:=?%@~_]+)*|[a-zA-Z\d]+(?:;[-a-zA-Z\d/#&.:=?%@~_]*)*)?\u0007)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PR-TZcf-nq-uy=><~]))/g;

/** Remove colour and cursor escape sequences. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
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

type Parser = (lines: string[]) => Omit<TestOutputSummary, 'framework'> | null;

/** vitest: " Tests  2 failed | 5 passed | 1 skipped | 1 todo (9)"; failing tests: " FAIL  file > suite > test". */
const vitest: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  for (const line of lines) {
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
    if (f) failures.add(f[1]!.replace(/\s+\[ .* \]$/, ''));
  }
  return found ? { passed, failed, skipped, failures: failures.names } : null;
};

/** jest: "Tests:       1 failed, 1 skipped, 3 passed, 5 total"; failing tests: "  ● suite › test". */
const jest: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  let suite = '';
  for (const line of lines) {
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
    const file = /^\s?FAIL\s+(\S.*?)\s*$/.exec(line);
    if (file) {
      suite = file[1]!;
      continue;
    }
    const b = /^ {2}● (.+?)\s*$/.exec(line);
    if (b) {
      if (b[1] === 'Console') continue;
      failures.add(b[1] === 'Test suite failed to run' ? `${suite || '(unknown file)'}: test suite failed to run` : b[1]!);
    }
  }
  return found ? { passed, failed, skipped, failures: failures.names } : null;
};

/**
 * pytest: "==== 2 failed, 4 passed, 1 skipped in 0.12s ====" (or without the rules with -q);
 * failing tests: "FAILED path::test - message" and "ERROR path::test - message" (short summary).
 * Errors count as failed; xfailed / xpassed are neither (pytest itself reports them apart).
 */
const pytest: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  for (const line of lines) {
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
      failed += sum(m, 'failed', 'error', 'errors');
      skipped += sum(m, 'skipped');
      continue;
    }
    const f = /^(?:FAILED|ERROR) (\S.*?)(?: - .*)?\s*$/.exec(line);
    if (f) failures.add(f[1]!);
  }
  return found ? { passed, failed, skipped, failures: failures.names } : null;
};

/**
 * node --test: the TAP reporter ("# pass 3", "# fail 1", "not ok 3 - name") and the spec
 * reporter ("ℹ pass 3", "✖ name (1.2ms)", and since Node 20 a "✖ failing tests:" section).
 * Cancelled tests count as failed (node exits 1 for them); todo tests as skipped.
 */
const nodeTest: Parser = (lines) => {
  const totals = new Map<string, number>();
  for (const line of lines) {
    const t = /^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$/.exec(line);
    if (t) totals.set(t[1]!, (totals.get(t[1]!) ?? 0) + Number(t[2]));
  }
  if (!totals.has('pass') || !totals.has('fail')) return null;

  const failures = new Failures();
  const section = lines.findIndex((l) => /^✖ failing tests:\s*$/.test(l));
  if (section >= 0) {
    for (const line of lines.slice(section + 1)) {
      const f = /^✖ (.+?) \(\d+(?:\.\d+)?m?s\)/.exec(line);
      if (f) failures.add(f[1]!);
    }
  } else {
    const tap = new LeafTracker(failures);
    const spec = new LeafTracker(failures);
    for (const line of lines) {
      const p = /^(\s*)(not ok|ok) \d+(?: - (.*?))?\s*$/.exec(line);
      if (p) {
        const directive = /\s#\s*(TODO|SKIP)\b/i.test(p[3] ?? '');
        const name = (p[3] ?? '').replace(/\s+#\s*(TODO|SKIP)\b.*$/i, '').replace(/\\#/g, '#');
        tap.point(p[1]!.length, p[2] === 'not ok' && !directive, name);
        continue;
      }
      const s = /^(\s*)([✔✖﹣]) (.+?) \(\d+(?:\.\d+)?m?s\)(?:\s+#.*)?\s*$/.exec(line);
      if (s) spec.point(s[1]!.length, s[2] === '✖', s[3]!);
    }
  }
  return {
    passed: totals.get('pass')!,
    failed: totals.get('fail')! + (totals.get('cancelled') ?? 0),
    skipped: (totals.get('skipped') ?? 0) + (totals.get('todo') ?? 0),
    failures: failures.names,
  };
};

/**
 * mocha: "  3 passing (12ms)", "  1 pending", "  1 failing", then numbered failures whose title
 * runs over several lines ("  1) suite\n       test:"), joined with spaces as mocha's fullTitle does.
 */
const mocha: Parser = (lines) => {
  let found = false;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Failures();
  let inFailures = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
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
  return found ? { passed, failed, skipped, failures: failures.names } : null;
};

/**
 * go test: "--- FAIL: TestX (0.00s)" (subtests indented, "TestX/case"), package lines
 * "ok  \tpkg\t0.01s" and "FAIL\tpkg\t0.01s" / "FAIL\tpkg [build failed]". Passes and skips are
 * only printed with -v: without it their counts are unknown (null), not zero.
 */
const goTest: Parser = (lines) => {
  const results: { status: string; name: string }[] = [];
  const broken: string[] = [];
  let packages = 0;
  let verbose = false;
  for (const line of lines) {
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
      broken.push(`${b[1]} [${b[2]}]`);
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
  for (const b of broken) failures.add(b);
  return {
    passed: verbose ? leaves.filter((r) => r.status === 'PASS').length : null,
    failed: failedLeaves.length + broken.length,
    skipped: verbose ? leaves.filter((r) => r.status === 'SKIP').length : null,
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
  return { framework: 'unknown', passed: null, failed: null, skipped: null, failures: [] };
}
