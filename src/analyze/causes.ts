/**
 * Likely causes of a failed sprint, each with the data that points to it, and what to do.
 * Pure: takes facts already collected (and redacted), returns findings. A cause is only named
 * when the data shows it; nothing here guesses.
 *
 * | cause | shown by |
 * |---|---|
 * | dependency conflict | a lockfile differs between the baseline and the failed state; a dependency listing (npm ls) reports missing / invalid / conflicting packages |
 * | import error | "Cannot find module", "ERR_MODULE_NOT_FOUND", "ImportError", "ModuleNotFoundError", "Cannot find package", "Failed to resolve import" in test or build output |
 * | build errors | the configured build command fails |
 * | test command could not run | it was not found (exit 127), not executable (126), timed out or was killed by a signal |
 * | failing tests | the run's tests or the tests run now report failures or test files that failed to load (or exit non-zero) |
 * | scope | the failed state differs from the baseline in more than {@link SCOPE_FILES} files or {@link SCOPE_LINES} lines |
 */
import { errorWhere, type TestOutputSummary } from '../records/test-output.js';
import type { DiffSize, LockfileChange } from './facts.js';

/** A change this large is itself a likely cause: too much at once to review or bisect. */
export const SCOPE_FILES = 50;
export const SCOPE_LINES = 2000;

export const IMPORT_ERROR = /Cannot find module|ERR_MODULE_NOT_FOUND|ImportError|ModuleNotFoundError|Cannot find package|Failed to resolve import/;

export type CauseId = 'dependencies' | 'imports' | 'build' | 'test-command' | 'tests' | 'scope';

export interface Cause {
  id: CauseId;
  title: string;
  /** what the data shows, one line each */
  evidence: string[];
  /** what to do about it */
  actions: string[];
}

export interface TestsSeen {
  /** where these results come from, e.g. "now (test_results.txt)" or "at the rollback (run …)" */
  label: string;
  summary: Pick<TestOutputSummary, 'framework' | 'passed' | 'failed' | 'failures'> & Partial<Pick<TestOutputSummary, 'loadFailures' | 'errors'>>;
  exitCode: number | null;
  /** the test command could not run (not found, not executable, timed out, killed): its counts mean nothing */
  notRun?: { message: string; next: string | null } | null;
  /** the test command, when known */
  command?: string | null;
}

export interface CauseFacts {
  /** display names of the two sides, e.g. "baseline (abc1234)" and "backup/sprint-4-… (def5678)" */
  baselineName: string;
  failedName: string;
  /** revisions for suggested commands */
  baselineRev: string | null;
  failedRev: string | null;
  lockfileChanges: LockfileChange[] | null;
  dependencyProblems: { lockfile: string; command: string; exitCode: number | null; problems: string[] }[];
  /** test and build output to search (already redacted), with where it came from */
  outputs: { source: string; text: string }[];
  tests: TestsSeen[];
  /** the configured build when it failed or timed out; null when it passed or none is configured */
  build: { exitCode: number | null; reason: string | null; errors: string[] } | null;
  diff: DiffSize | null;
  /** the failed branch, for `rb recover` */
  failedBranch: string | null;
}

const MAX_EVIDENCE_LINES = 5;

function clip(line: string, n = 200): string {
  const t = line.trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}

/** Lines matching a pattern across outputs, distinct, at most n, each with its source. */
export function matchingLines(outputs: CauseFacts['outputs'], re: RegExp, n = MAX_EVIDENCE_LINES): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const o of outputs) {
    for (const line of o.text.split('\n')) {
      if (!re.test(line)) continue;
      const c = clip(line);
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(`${o.source}: \`${c.replace(/`/g, "'")}\``);
      if (out.length >= n) return out;
    }
  }
  return out;
}

/** Lines of build output that read as errors (TypeScript, compilers, bundlers). */
export function buildErrorLines(text: string, n = MAX_EVIDENCE_LINES): string[] {
  const lines = text.split('\n').filter((l) => /\berror\b|ERROR|✘|failed to compile/i.test(l)).map((l) => clip(l));
  return [...new Set(lines)].slice(0, n);
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The likely causes the data shows, most specific first. */
export function likelyCauses(f: CauseFacts): Cause[] {
  const causes: Cause[] = [];
  const range = f.baselineRev && f.failedRev ? `${f.baselineRev} ${f.failedRev}` : f.baselineRev ?? '<baseline>';

  // dependency conflict
  const depEvidence: string[] = [];
  for (const c of f.lockfileChanges ?? []) {
    const size = c.added === null ? 'binary change' : `+${c.added} −${c.deleted} lines`;
    depEvidence.push(`${c.path} changed between ${f.baselineName} and ${f.failedName} (${size})`);
  }
  for (const d of f.dependencyProblems) {
    if (d.exitCode && d.exitCode !== 0) {
      depEvidence.push(`\`${d.command}\` for ${d.lockfile} exited ${d.exitCode}${d.problems.length ? `: ${d.problems.slice(0, 3).map((p) => `\`${clip(p, 120).replace(/`/g, "'")}\``).join(', ')}` : ''}`);
    }
  }
  if (depEvidence.length) {
    const changed = (f.lockfileChanges ?? []).map((c) => c.path);
    causes.push({
      id: 'dependencies',
      title: 'Dependency conflict',
      evidence: depEvidence,
      actions: [
        ...(changed.length ? [`see what changed: \`git diff ${range} -- ${changed.join(' ')}\``] : []),
        'reinstall from the baseline\'s lockfile, then add the upgrades one at a time with the tests run after each',
        'before the next sprint, `rb check` verifies that the installed dependencies match their lockfiles',
      ],
    });
  }

  // import errors
  const importLines = matchingLines(f.outputs, IMPORT_ERROR);
  if (importLines.length) {
    causes.push({
      id: 'imports',
      title: 'Import error (a module cannot be found)',
      evidence: importLines,
      actions: [
        `look for moved, renamed or deleted modules: \`git diff --name-status -M ${range}\``,
        'restore a module from the baseline without losing other work: `rb files <path>`',
        ...(f.lockfileChanges?.length ? ['a changed lockfile can remove a package: check the dependency conflict above first'] : []),
      ],
    });
  }

  // build errors
  if (f.build) {
    causes.push({
      id: 'build',
      title: 'Build errors',
      evidence: [
        `the build command failed (${f.build.reason ?? `exit ${f.build.exitCode}`}) — see build.txt`,
        ...f.build.errors.map((e) => `build.txt: \`${e.replace(/`/g, "'")}\``),
      ],
      actions: ['fix the first error in build.txt (later ones often follow from it)', 'run the build before every push (config `build`)'],
    });
  }

  // a test command that could not run: nothing is known about the tests then
  const notRun = f.tests.filter((t) => t.notRun);
  if (notRun.length) {
    causes.push({
      id: 'test-command',
      title: 'The test command could not run',
      evidence: notRun.map((t) => `${t.command ? `\`${t.command.replace(/`/g, "'")}\`` : 'the test command'} ${t.label}: ${t.notRun!.message}`),
      actions: [...new Set(notRun.map((t) => t.notRun!.next ?? 'run the test command by hand to see why it cannot run'))],
    });
  }

  // failing tests, and test files that failed to load
  const testEvidence: string[] = [];
  const loadErrors: string[] = [];
  let anyFailed = false;
  for (const t of f.tests.filter((x) => !x.notRun)) {
    const failed = t.summary.failed;
    const unit = t.summary.framework === 'go' ? 'package' : t.summary.framework === 'jest' ? 'test suite' : 'test file';
    if (t.summary.loadFailures) {
      testEvidence.push(`${plural(t.summary.loadFailures, unit)} failed to ${t.summary.framework === 'go' ? 'build' : 'load'} ${t.label}`);
      for (const e of t.summary.errors ?? []) {
        const line = `\`${clip(e.message, 160).replace(/`/g, "'")}\` ${errorWhere(e, t.summary.framework)}`;
        if (!loadErrors.includes(line)) loadErrors.push(line);
      }
    }
    if (failed !== null && failed > 0) {
      anyFailed = true;
      const names = t.summary.failures.length ? `: ${t.summary.failures.slice(0, 5).join(', ')}${t.summary.failures.length > 5 ? ` and ${t.summary.failures.length - 5} more` : ''}` : '';
      testEvidence.push(`${plural(failed, 'failing test')} ${t.label}${names}`);
    } else if (t.exitCode !== null && t.exitCode !== 0 && failed === null && !t.summary.loadFailures) {
      testEvidence.push(`the test command exited ${t.exitCode} ${t.label} (no test counts recognised in its output)`);
      anyFailed = true;
    }
  }
  if (testEvidence.length) {
    causes.push({
      id: 'tests',
      title: loadErrors.length && !anyFailed ? 'Test files that fail to load' : 'Failing tests',
      evidence: [...testEvidence, ...loadErrors.slice(0, MAX_EVIDENCE_LINES).map((l) => `first error: ${l}`)],
      actions: [
        ...(loadErrors.length ? [`fix what stops the test files from loading first — one cause can stop them all: ${loadErrors[0]}`] : []),
        ...(anyFailed ? ['reproduce one failing test at a time on the retry branch, starting with the first listed'] : []),
        f.failedBranch ? `carry the commits that were fine onto a recovery branch: \`rb recover ${f.failedBranch}\`` : 'carry the commits that were fine onto a recovery branch: `rb recover <failed branch>`',
      ],
    });
  }

  // scope
  if (f.diff && (f.diff.files > SCOPE_FILES || f.diff.insertions + f.diff.deletions > SCOPE_LINES)) {
    causes.push({
      id: 'scope',
      title: 'Scope: a very large change',
      evidence: [
        `${plural(f.diff.files, 'file')} changed, +${f.diff.insertions} −${f.diff.deletions} lines${f.diff.commits !== null ? ` in ${plural(f.diff.commits, 'commit')}` : ''} between ${f.baselineName} and ${f.failedName} (more than ${SCOPE_FILES} files or ${SCOPE_LINES} lines)`,
      ],
      actions: [
        'split the work into smaller steps, each with its tests passing, so a failure is found while it is small',
        f.failedBranch ? `pick the good commits one by one: \`rb recover ${f.failedBranch} --pick <sha>\`` : 'pick the good commits one by one: `rb recover <failed branch> --pick <sha>`',
      ],
    });
  }
  return causes;
}
