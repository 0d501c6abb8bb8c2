/**
 * The git facts analysis.md reasons about: the last good commit on the baseline, the head of
 * the failed branch, how much changed between them, and which lockfiles changed. Read-only git
 * queries through the hardened runner; every query may fail (an unborn branch, a baseline that
 * is gone) and then reads as null — analysis.md says "unknown" rather than guessing.
 *
 * Also: which run a bundle is about, and what that run's journal says about its branches and
 * tests (pure helpers over a RunRecord).
 */
import type { LoadError } from '../records/test-output.js';
import { posix } from 'node:path';
import { git, revParse } from '../io/git.js';
import type { RunRecord, StepRecord } from '../journal/journal.js';
import type { InstallConfig } from '../types.js';
import { COLLECTOR_TIMEOUT_MS, KNOWN_LOCKFILES } from './collectors.js';

export interface CommitLine {
  oid: string;
  /** "abc1234 subject (2026-11-22)" */
  line: string;
}

export interface LockfileChange {
  path: string;
  /** lines added / deleted; null for a binary diff */
  added: number | null;
  deleted: number | null;
}

export interface DiffSize {
  files: number;
  insertions: number;
  deletions: number;
  /** commits in baseline..failed (null when the failed side is the working tree) */
  commits: number | null;
}

export interface GitFacts {
  baseline: CommitLine | null;
  failed: CommitLine | null;
  /** null when the comparison could not be made (no baseline) */
  lockfileChanges: LockfileChange[] | null;
  diff: DiffSize | null;
}

const opts = (root: string) => ({ cwd: root, readOnly: true, allowFail: true, timeoutMs: COLLECTOR_TIMEOUT_MS });

/** The commit `rev` names, as "abc1234 subject (2026-11-22)": simple-git's log (./io/porcelain.ts). */
async function commitLine(root: string, rev: string | null): Promise<CommitLine | null> {
  if (!rev || rev.startsWith('-')) return null;
  const { porcelain } = await import('../io/porcelain.js');
  try {
    const log = await porcelain(root, { timeoutMs: COLLECTOR_TIMEOUT_MS }).log({ format: { oid: '%H', short: '%h', subject: '%s', day: '%cs' }, maxCount: 1, [rev]: null, '--': null });
    const c = log.latest;
    return c ? { oid: c.oid, line: `${c.short} ${c.subject} (${c.day})` } : null;
  } catch {
    return null; // a revision that does not resolve (a baseline that is gone): "unknown"
  }
}

/** "3 files changed, 10 insertions(+), 2 deletions(-)" → numbers. */
export function parseShortstat(text: string): Omit<DiffSize, 'commits'> {
  const n = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  return { files: n(/(\d+) files? changed/), insertions: n(/(\d+) insertions?\(\+\)/), deletions: n(/(\d+) deletions?\(-\)/) };
}

/** `git diff --numstat` lines → changes ("-" counts are binary). */
export function parseNumstat(text: string): LockfileChange[] {
  return text.split('\n').filter(Boolean).map((l) => {
    const [a, d, ...p] = l.split('\t');
    return { path: p.join('\t'), added: a === '-' ? null : Number(a), deleted: d === '-' ? null : Number(d) };
  });
}

/** Repository-relative lockfile paths of the installs (the known lockfile names at the root when none is configured). */
export function lockfilePaths(installs: readonly InstallConfig[]): string[] {
  if (!installs.length) return [...KNOWN_LOCKFILES];
  const out = new Set<string>();
  for (const i of installs) {
    const names = i.lockfiles.length ? i.lockfiles : KNOWN_LOCKFILES;
    for (const lf of names) out.add(posix.normalize(posix.join(i.cwd || '.', lf)).replace(/^\.\//, ''));
  }
  return [...out];
}

/** The first of these revisions that resolves to a commit. */
async function firstCommit(root: string, revs: readonly (string | null | undefined)[]): Promise<string | null> {
  for (const rev of revs) {
    if (!rev) continue;
    const oid = await revParse(root, `${rev}^{commit}`);
    if (oid) return oid;
  }
  return null;
}

/**
 * Compare the baseline with the failed state.
 * @param baselineRevs the last good commit: the first of these that resolves (an oid, a ref,
 *   the configured name, its remote-tracking branch)
 * @param failedRev the failed branch's head; null = the working tree as it is now
 */
export async function gitFacts(root: string, baselineRevs: readonly (string | null | undefined)[], failedRev: string | null, lockfiles: readonly string[]): Promise<GitFacts> {
  const base = await firstCommit(root, baselineRevs);
  const failed = failedRev ? await revParse(root, `${failedRev}^{commit}`) : null;
  const sides = base ? (failed ? [base, failed] : [base]) : null;
  const [baselineLine, failedLine, stat, numstat, count] = await Promise.all([
    commitLine(root, base),
    commitLine(root, failed ?? (failedRev ? null : 'HEAD')),
    sides ? git(['diff', '--no-color', '--shortstat', ...sides, '--'], opts(root)) : null,
    sides && lockfiles.length ? git(['diff', '--no-color', '--numstat', ...sides, '--', ...lockfiles.map((p) => `:(literal)${p}`)], opts(root)) : null,
    base && failed ? git(['rev-list', '--count', `${base}..${failed}`], opts(root)) : null,
  ]);
  return {
    baseline: baselineLine,
    failed: failedLine,
    lockfileChanges: !sides ? null : numstat && numstat.code === 0 ? parseNumstat(numstat.stdout) : lockfiles.length ? null : [],
    diff: stat && stat.code === 0 ? { ...parseShortstat(stat.stdout), commits: count && count.code === 0 ? Number(count.stdout.trim()) : null } : null,
  };
}

// ---- what a run's journal says ------------------------------------------------------------------

/**
 * Is this run's effect still in place? Not when another run undid it — unless that undo was
 * itself undone (undoing an undo redoes the original), and so on.
 */
export function inEffect(run: RunRecord, runs: readonly RunRecord[], depth = 0): boolean {
  if (!run.undoneBy) return true;
  const undo = runs.find((r) => r.id === run.undoneBy);
  // the undo's record is gone: it stands, as far as anyone can tell
  return undo !== undefined && depth < 100 && !inEffect(undo, runs, depth + 1);
}

/** The run a bundle is about by default: the latest level run (emergency, sprint, files) that really ran and is still in effect (not undone). */
export function latestLevelRun(runs: readonly RunRecord[]): RunRecord | null {
  return runs.find((r) => typeof r.level === 'number' && !r.dryRun && !r.undoOf && inEffect(r, runs)) ?? null;
}

/** The level runs newer than `run` that were passed over because they were undone (what `rb analyze` says it skipped). */
export function undoneLevelRunsAfter(runs: readonly RunRecord[], run: RunRecord | null): RunRecord[] {
  const out: RunRecord[] = [];
  for (const r of runs) {
    if (r === run) break;
    if (typeof r.level === 'number' && !r.dryRun && !r.undoOf && !inEffect(r, runs)) out.push(r);
  }
  return out;
}

function stepResult(run: RunRecord, id: string, kind: string): StepRecord | undefined {
  return run.steps.find((s) => s.id === id && s.result) ?? run.steps.find((s) => s.kind === kind && s.result);
}

const strip = (ref: string | null | undefined) => (ref ? ref.replace(/^refs\/heads\//, '') : null);

export interface RunBranches {
  /** the branch the run started on (the failed one), null when detached */
  failedBranch: string | null;
  /** the commit holding the failed state: the backup/WIP commit when there is one, else HEAD before the run */
  failedOid: string | null;
  backupBranch: string | null;
  retryBranch: string | null;
  recoveryBranch: string | null;
}

export function runBranches(run: RunRecord): RunBranches {
  const backup = stepResult(run, 'backup', 'git.branch')?.result;
  const retry = run.steps.find((s) => s.id === 'retry' && s.result)?.result
    ?? run.steps.find((s) => s.kind === 'git.switch' && typeof s.result?.branch === 'string' && /retry/.test(String(s.result.branch)))?.result;
  const recovery = run.steps.map((s) => s.result?.branch).find((b): b is string => typeof b === 'string' && b.startsWith('recovery/'));
  const backupBranch = typeof backup?.branch === 'string' ? backup.branch : null;
  return {
    failedBranch: strip(run.head.before.ref),
    failedOid: (typeof backup?.oid === 'string' ? backup.oid : null) ?? run.head.before.oid,
    backupBranch,
    retryBranch: typeof retry?.branch === 'string' ? retry.branch : null,
    recoveryBranch: recovery ?? null,
  };
}

export interface RunTests {
  framework: string | null;
  passed: number | null;
  failed: number | null;
  failures: string[];
  loadFailures: number | null;
  errors: LoadError[];
  /** the test command could not run (not found, not executable, timed out, killed): what happened and what to do */
  notRun: { message: string; next: string | null } | null;
  command: string | null;
  exitCode: number | null;
  /** where the run saved the full output (repository-relative), if it did */
  file: string | null;
  outputTail: string;
}

/** What the run's tests.run step recorded, or null when it ran none. */
export function runTests(run: RunRecord): RunTests | null {
  const s = stepResult(run, 'tests', 'tests.run');
  if (!s?.result || s.kind !== 'tests.run') return null;
  const r = s.result;
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const exitCode = num(r.exitCode ?? s.exitCode);
  // runs of an older rb recorded no outcome: its exit code tells not-found and not-executable
  const outcome = typeof r.outcome === 'string' ? r.outcome : exitCode === 127 ? 'not-found' : exitCode === 126 ? 'not-executable' : null;
  const ran = outcome === null || outcome === 'ok' || outcome === 'failed';
  return {
    framework: typeof r.framework === 'string' ? r.framework : null,
    passed: num(r.passed),
    failed: num(r.failed),
    failures: Array.isArray(r.failures) ? r.failures.filter((x): x is string => typeof x === 'string') : [],
    loadFailures: num(r.loadFailures),
    errors: Array.isArray(r.errors) ? (r.errors as unknown[]).filter((e): e is LoadError => typeof (e as LoadError)?.message === 'string' && typeof (e as LoadError).count === 'number') : [],
    notRun: ran ? null : {
      message: typeof r.outcomeMessage === 'string' ? r.outcomeMessage : outcome === 'not-found' ? 'command not found (exit 127)' : outcome === 'not-executable' ? 'not executable (exit 126)' : outcome!,
      next: typeof r.next === 'string' ? r.next : 'install what it runs, or set `test:` in rb.config.yaml',
    },
    command: Array.isArray(r.commands) && typeof r.commands[0] === 'string' ? r.commands[0] : null,
    exitCode,
    file: typeof r.file === 'string' ? r.file : null,
    outputTail: typeof r.outputTail === 'string' ? r.outputTail : (s.outputTail ?? ''),
  };
}
