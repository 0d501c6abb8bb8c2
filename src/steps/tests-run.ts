/**
 * `tests.run`: run the project's tests (config `test`, or a command of the step's own), record
 * what they said, and fail the step when they fail (unless `allowFail`).
 *
 * With `files`, only those test files run: they are appended to the command as arguments (after
 * `--` for `npm test` / `npm run …`, which would otherwise take them as its own). The level-3
 * playbook finds the files with findTestsFor(): testMap entries first, then the usual naming
 * conventions of JavaScript, Python and Go projects.
 *
 * The output is saved under rollbacks/ when `to` is given (without colour codes) while the task
 * shows only a live last line, then the totals; it is summarised by parseTestOutput (framework,
 * counts, files that failed to load and why, failing test names). A command that could not run
 * (not found, not executable, timed out, killed by a signal: command-outcome.ts) fails the step
 * with its own message even under allowFail: it is not a test failure. testsReportLines() says
 * all of it in a report.
 */
import { z } from '#zod';
import { readdirSync, statSync } from 'node:fs';
import { posix, relative, resolve, isAbsolute, sep } from 'node:path';
import { writeFileAtomic } from '../io/fs.js';
import { runCommand, tail } from '../io/exec.js';
import { countsText, errorText, errorWhere, parseTestOutput, stripAnsi, type LoadError, type TestOutputSummary } from '../records/test-output.js';
import { commandOutcome, type CommandOutcomeKind } from '../records/command-outcome.js';
import type { Command, TestMapEntry } from '../types.js';
import type { StepKind, StepResult } from './types.js';
import { commandSchema, displayCommand, liveOutput, recordPath, repoPath, repoRelative, stepTitle } from './common.js';

const schema = z
  .object({
    /** test files to run (relative to the repository root); omitted: the whole suite */
    files: z.array(z.string().min(1)).optional(),
    /** save the output to this file under rollbacks/ */
    to: z.string().min(1).optional(),
    /** default: config.test */
    command: commandSchema.optional(),
    cwd: z.string().optional(),
    /** failing tests do not fail the step (they are still recorded) */
    allowFail: z.boolean().optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

export const DEFAULT_TEST_TIMEOUT_MS = 10 * 60_000;
export const NO_TEST_COMMAND = 'no test command configured (set test in rb.config.yaml)';

/** A safe shell word: left bare when it has no special characters, single-quoted otherwise. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A file argument never starts with "-" (the runner would read it as an option). */
function fileArg(f: string): string {
  return f.startsWith('-') ? `./${f}` : f;
}

const NPM_SCRIPT = new Set(['test', 't', 'tst', 'run', 'run-script', 'rum', 'urn']);

/** Does this argv run an npm script, which needs `--` before arguments meant for the script? */
function isNpmScript(argv: readonly string[]): boolean {
  if (!/(^|\/)npm(\.cmd)?$/.test(argv[0] ?? '')) return false;
  const sub = argv.slice(1).find((a) => !a.startsWith('-'));
  return sub !== undefined && NPM_SCRIPT.has(sub) && !argv.includes('--');
}

/**
 * The test command with these test files appended: as argv elements to an argv, as quoted
 * words to a shell string; `--` first when the command is `npm test` / `npm run <script>`.
 */
export function withTestFiles(command: Command, files: readonly string[]): Command {
  if (!files.length) return command;
  const args = files.map(fileArg);
  if (Array.isArray(command)) return [...command, ...(isNpmScript(command) ? ['--'] : []), ...args];
  const npm = /^\s*npm(?:\s+-\S+)*\s+(\S+)/.exec(command);
  const dashes = npm && NPM_SCRIPT.has(npm[1]!) && !/(^|\s)--(\s|$)/.test(command);
  return `${command.replace(/\s+$/, '')}${dashes ? ' --' : ''} ${args.map(shellWord).join(' ')}`;
}

function countsLine(r: TestOutputSummary): string {
  if (r.framework === 'unknown') return 'test output not recognised: no counts';
  return `${r.framework}: ${countsText(r)}`;
}

/** "a, b, c and 25 more" */
function someNames(names: readonly string[], n: number): string {
  return `${names.slice(0, n).join(', ')}${names.length > n ? ` and ${names.length - n} more` : ''}`;
}

/** A tests.run result as the journal keeps it (and a report reads it). */
interface TestsResult {
  commands?: string[];
  outcome?: CommandOutcomeKind;
  outcomeMessage?: string;
  next?: string | null;
  framework?: string;
  passed?: number | null;
  failed?: number | null;
  skippedTests?: number | null;
  loadFailures?: number | null;
  errors?: LoadError[];
  failures?: string[];
  file?: string | null;
  exitCode?: number;
  skipped?: string;
}

/**
 * The Tests lines of a report (markdown list items) for a tests.run step, whatever became of it:
 * ran (counts, what failed to load and why, the failing tests), could not run (the command's
 * outcome and what to do), or not run (the reason) — naming the output file only when it was
 * written.
 */
export function testsReportLines(r: TestsResult | undefined, status: string | undefined, why?: string): string {
  const file = r?.file ? ` (full output: ${r.file})` : '';
  if (!r || status === 'skipped' || r.skipped) return `- Tests: not run (${r?.skipped ?? why ?? status ?? 'skipped'})`;
  const cmd = r.commands?.[0] ? `\`${r.commands[0]}\`` : 'the test command';
  if (r.outcome && r.outcome !== 'ok' && r.outcome !== 'failed') {
    return `- Tests: could not run ${cmd}: ${r.outcomeMessage ?? r.outcome}${file}${r.next ? `\n- Next: ${r.next}` : ''}`;
  }
  const framework = (r.framework ?? 'unknown') as TestOutputSummary['framework'];
  const summary: TestOutputSummary = {
    framework, passed: r.passed ?? null, failed: r.failed ?? null, skipped: r.skippedTests ?? null,
    loadFailures: r.loadFailures ?? null, errors: r.errors ?? [], failures: r.failures ?? [],
  };
  const lines = [framework === 'unknown'
    ? `- Tests: ${cmd} exited ${r.exitCode ?? 'unknown'} (its output was not recognised: no counts)${file}`
    : `- Tests (${framework}): ${countsText(summary)}${file}`];
  for (const e of summary.errors.slice(0, 5)) lines.push(`- Failed to load: \`${e.message.replace(/`/g, "'")}\` ${errorWhere(e, framework)}`);
  if (summary.errors.length > 5) lines.push(`- … and ${summary.errors.length - 5} more causes of load failures`);
  if (summary.failures.length) lines.push(`- Failing tests: ${someNames(summary.failures, 10)}`);
  else if (summary.failed) lines.push('- Failing tests: their names were not recognised in the output');
  return lines.join('\n');
}

export const testsRun: StepKind<With> = {
  kind: 'tests.run',
  summary: 'run the tests (config test, or only the given test files); `to` saves the output under rollbacks/',
  with: schema,
  destructive: false,
  describe(w, ctx) {
    const base = w.command ?? ctx.config.test;
    if (!base) return [`(${NO_TEST_COMMAND})`];
    if (w.files && !w.files.length) return ['(no test files to run)'];
    const cd = w.cwd && w.cwd !== '.' ? `(cd ${w.cwd}) ` : '';
    return [`${cd}${displayCommand(withTestFiles(base, w.files ?? []))}${w.to ? `  > ${ctx.config.rollbacksDir}/${w.to}` : ''}`];
  },
  async run(w, ctx) {
    const base = w.command ?? ctx.config.test;
    if (!base) return { skipped: NO_TEST_COMMAND };
    // an explicit empty list means "the tests of these files", and there are none: running the
    // whole suite instead would answer a different question
    if (w.files && !w.files.length) return { skipped: 'no test files to run' };
    const cwd = repoPath(ctx, w.cwd);
    // files are given relative to the repository root; the command runs in cwd
    const files = (w.files ?? []).map((f) => {
      const rel = relative(cwd, resolve(ctx.repo.root, f));
      return sep === '/' ? rel : rel.split(sep).join('/');
    });
    const command = withTestFiles(base, files);
    const timeoutMs = ctx.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
    // the whole output goes to the file; the task shows a live last line, then the totals
    const live = liveOutput(ctx.reporter);
    const r = await runCommand(command, { cwd, timeoutMs, signal: ctx.signal, onLine: live.line });
    live.stop();
    const text = stripAnsi(r.all);
    let file: string | null = null;
    if (w.to) {
      const out = recordPath(ctx, w.to);
      writeFileAtomic(out, text);
      file = repoRelative(ctx, out);
    }
    const parsed = parseTestOutput(text);
    const outcome = commandOutcome(r, { timeoutMs });
    const result: StepResult = {
      commands: [displayCommand(command)],
      exitCode: r.exitCode,
      outcome: outcome.kind,
      outcomeMessage: outcome.message,
      next: outcome.next,
      outputTail: tail(text),
      framework: parsed.framework,
      passed: parsed.passed,
      failed: parsed.failed,
      skippedTests: parsed.skipped,
      loadFailures: parsed.loadFailures,
      errors: parsed.errors,
      failures: parsed.failures,
      file,
      durationMs: r.durationMs,
    };
    // a command that could not run, hung, crashed or was interrupted is not "failing tests":
    // allowFail does not cover it
    if (!outcome.ran) {
      ctx.reporter.output(`could not run: ${outcome.message}`);
      throw Object.assign(new Error(`${displayCommand(command)} could not run: ${outcome.message}${outcome.next ? `; next: ${outcome.next}` : ''}`), { result });
    }
    const totals = countsLine(parsed);
    ctx.reporter.output(totals);
    ctx.reporter.title(`${stepTitle(ctx) ?? 'Run the tests'}: ${totals}`);
    if (outcome.kind === 'failed') {
      const why = parsed.errors.length
        ? `; failed to load: ${parsed.errors.slice(0, 2).map((e) => errorText(e, parsed.framework)).join('; ')}`
        : '';
      const names = parsed.failures.length ? `: ${someNames(parsed.failures, 5)}` : '';
      const what = parsed.framework === 'unknown' ? `exited ${r.exitCode}` : `${totals}${names}${why}`;
      if (!w.allowFail) throw Object.assign(new Error(`tests failed (${displayCommand(command)}): ${what}`), { result });
      ctx.reporter.warn(`tests failed (allowed): ${what}`);
    }
    return result;
  },
};

// ---------------------------------------------------------------------------------------------
// Finding the tests of source files (level 3: `rb files <path...>` runs the tests of the files it
// restored).

/** Parts of a glob that are special; a backslash makes the next character literal. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]{}\\]/g, '\\$&');
}

/**
 * A glob as an anchored RegExp over "/"-separated relative paths: `**` any number of
 * directories (including none), `*` and `?` within one name, `{a,b}` alternatives, `[...]`
 * character classes, `\x` a literal x.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) {
      re += glob[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '*' && glob[i + 1] === '*') {
      const atStart = i === 0 || glob[i - 1] === '/';
      const slashAfter = glob[i + 2] === '/';
      if (atStart && slashAfter) {
        re += '(?:[^/]*/)*';
        i += 2;
      } else if (atStart && i + 2 === glob.length) {
        re += '.*';
        i += 1;
      } else {
        re += '[^/]*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      braces++;
      re += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      re += ')';
    } else if (c === ',' && braces > 0) re += '|';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The path a pattern names when it has no glob syntax (escapes removed), or null. */
function literalPath(pattern: string): string | null {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) out += pattern[++i];
    else if ('*?[{'.includes(c)) return null;
    else out += c;
  }
  return out;
}

function isFile(abs: string): boolean {
  try {
    return statSync(abs).isFile();
  } catch {
    return false;
  }
}

const SKIP_DIRS = new Set(['node_modules', '.git']);
const WALK_LIMIT = 20_000;

/** Existing files (relative, "/"-separated, sorted) a pattern names; never outside root. */
function expandPattern(root: string, pattern: string): string[] {
  const norm = posix.normalize(pattern);
  if (norm.startsWith('../') || norm === '..' || posix.isAbsolute(norm)) return [];
  const lit = literalPath(norm);
  if (lit !== null) return isFile(resolve(root, lit)) ? [lit] : [];
  // walk from the deepest directory without glob syntax
  const segs = norm.split('/');
  const fixed: string[] = [];
  for (const s of segs.slice(0, -1)) {
    const l = literalPath(s);
    if (l === null) break;
    fixed.push(l);
  }
  const re = globToRegExp(norm);
  const out: string[] = [];
  let visited = 0;
  const walk = (rel: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(resolve(root, rel || '.'), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (++visited > WALK_LIMIT) return;
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name) && depth < 32) walk(p, depth + 1);
      } else if ((e.isFile() || (e.isSymbolicLink() && isFile(resolve(root, p)))) && re.test(p)) out.push(p);
    }
  };
  walk(fixed.join('/'), 0);
  return out.sort();
}

const TEST_FILE = [/\.(test|spec)\.[^/]+$/, /(^|\/)__tests__\//, /(^|\/)test_[^/]*\.py$/, /_test\.(py|go)$/];

/** Is this path itself a test file by the usual naming conventions? */
export function isTestFile(rel: string): boolean {
  return TEST_FILE.some((re) => re.test(rel));
}

function fillTemplate(template: string, parts: { name: string; dir: string; path: string; ext: string }): string {
  return template.replace(/\{(name|dir|path|ext)\}/g, (_m, k: keyof typeof parts) => escapeGlob(parts[k]));
}

/** Extensions of JavaScript-like sources, whose test may share the source's name under test/ (mocha's test/<name>.js). */
const JS_EXT = new Set(['js', 'mjs', 'cjs', 'jsx', 'ts', 'mts', 'cts', 'tsx']);

/** The naming conventions tried when no testMap entry finds a test, in order. */
function conventions(ext: string): string[] {
  const js = [
    'test/{name}.test.ts',
    'test/{name}.test.{ext}',
    'test/{name}.spec.{ext}',
    'tests/{name}.test.ts',
    'tests/{name}.test.{ext}',
    'tests/{name}.spec.{ext}',
    '{dir}/{name}.test.{ext}',
    '{dir}/{name}.spec.{ext}',
    '{dir}/__tests__/{name}.*',
    '__tests__/{name}.*',
  ];
  // mocha's default layout: test/<name>.js for lib/<name>.js (tried last: the most general pattern)
  const sameName = JS_EXT.has(ext) ? ['test/{name}.{ext}'] : [];
  if (ext === 'py') return [...js, 'tests/unit/test_{name}.py', 'tests/test_{name}.py', 'test/test_{name}.py', '{dir}/test_{name}.py'];
  if (ext === 'go') return [...js, '{dir}/{name}_test.go'];
  return [...js, ...sameName];
}

/** The conventions findTestsFor tries, as `rb files` names them when it finds no test ("test/<name>.test.*, …"). */
export function testConventionsText(): string {
  const all = [...new Set([...conventions('js'), ...conventions('py'), ...conventions('go')])];
  const shown = all.filter((t) => !/\{name\}\.test\.ts$/.test(t)).map((t) => t.replace(/\{name\}/g, '<name>').replace(/\{dir\}/g, '<dir>').replace(/\{ext\}/g, '*'));
  return shown.join(', ');
}

/**
 * The existing test files of each given file (paths relative to root): a test file maps to
 * itself; otherwise the tests of the first testMap entries that match it (`match` a glob,
 * `tests` templates with {name} = base name without extension, {dir} = directory, {path} =
 * path without extension, {ext} = extension); when those find nothing, the conventions
 * test/<name>.test.ts, test/ and tests/<name>.test|spec.<ext>, <dir>/<name>.test.<ext>,
 * <dir>/<name>.spec.<ext>, <dir>/__tests__/<name>.*, __tests__/<name>.*, then for JavaScript and
 * TypeScript test/<name>.<ext> (mocha), for Python tests/unit/test_<name>.py,
 * tests/test_<name>.py, test/test_<name>.py, <dir>/test_<name>.py, for Go <dir>/<name>_test.go
 * (testConventionsText names them all).
 * Every given file is in the answer, with an empty list when no test exists for it.
 */
export function findTestsFor(root: string, files: string[], testMap: TestMapEntry[]): { file: string; tests: string[] }[] {
  return files.map((given) => {
    const abs = resolve(root, given);
    let file = relative(root, abs);
    if (sep !== '/') file = file.split(sep).join('/');
    if (file.startsWith('..') || isAbsolute(file)) return { file: given, tests: [] };
    if (isTestFile(file)) return { file, tests: isFile(abs) ? [file] : [] };
    const base = posix.basename(file);
    const dot = base.lastIndexOf('.');
    const name = dot > 0 ? base.slice(0, dot) : base;
    const ext = dot > 0 ? base.slice(dot + 1) : '';
    const dir = posix.dirname(file);
    const parts = { name, dir, ext, path: dir === '.' ? name : `${dir}/${name}` };
    const found: string[] = [];
    const add = (templates: string[]) => {
      for (const t of templates) for (const p of expandPattern(root, fillTemplate(t, parts))) if (!found.includes(p)) found.push(p);
    };
    for (const entry of testMap) if (globToRegExp(entry.match).test(file)) add(entry.tests);
    if (!found.length) add(conventions(ext));
    return { file, tests: found };
  });
}
