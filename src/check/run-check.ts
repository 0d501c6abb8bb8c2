/**
 * `rb check`: the safety gate run before a sprint starts, locally and in CI. Runs the checks in
 * order, each reporting pass / warn / fail with a one-line reason:
 *   worktree → in-progress → baseline → clean → disk → dependencies → baseline-tests
 * then, when nothing failed (and check.tag is on and --no-tag was not given), records a
 * checkpoint: a local annotated tag at HEAD plus metrics and audit records.
 *
 * Read-only apart from that checkpoint and the worktree the baseline's tests run in (kept under
 * the git dir between runs; none when HEAD is the clean baseline and they run in place): the
 * user's branch, index and files are never changed by rb. A failing check is not an exception:
 * the report says `ok: false` and the command exits 3.
 */
import { UsageError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import type { CheckReport, CheckResult, Progress } from './types.js';
import { checkWorkTree } from './work-tree.js';
import { checkNothingInProgress } from './in-progress.js';
import { checkBaseline } from './baseline.js';
import { checkClean } from './clean.js';
import { checkDisk } from './disk.js';
import { checkDependencies } from './dependencies.js';
import { checkBaselineTests } from './baseline-tests.js';
import { recordCheckpoint } from './checkpoint.js';

export interface CheckOptions {
  /** the directory to check (default: the current directory) */
  cwd?: string;
  /** false: skip the baseline tests (--no-tests) */
  tests?: boolean;
  /** false: no checkpoint tag (--no-tag) */
  tag?: boolean;
  /** --max-disk: overrides check.maxDiskPercent (a number, or a string like "85" or "85%") */
  maxDisk?: number | string;
  /** fetch the baseline branch from the remote before comparing (--fetch); default: never fetch */
  fetch?: boolean;
  /** progress lines for a human (long steps); not called for the results themselves */
  onProgress?: Progress;
  /** per-command time limits for the baseline worktree (defaults: tests 10 min, each install 15 min) */
  testTimeoutMs?: number;
  installTimeoutMs?: number;
  /** the clock, for the checkpoint stamp (tests) */
  now?: () => Date;
}

/** Parse --max-disk: a percentage above 0 and at most 100. */
export function parseMaxDisk(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(String(v).trim().replace(/%$/, ''));
  if (!Number.isFinite(n) || n <= 0 || n > 100 || (typeof v === 'string' && String(v).trim() === '')) {
    throw new UsageError(`--max-disk takes a percentage above 0 and at most 100, got "${v}".`, { next: 'rb check --max-disk 90' });
  }
  return n;
}

/** Run every check and, when none failed, record the checkpoint. Throws only for usage errors (exit 2) and interrupts (exit 130). */
export async function runCheck(opts: CheckOptions = {}): Promise<CheckReport> {
  const started = Date.now();
  const maxDisk = parseMaxDisk(opts.maxDisk);
  const finish = (root: string | null, checks: CheckResult[], extra: Partial<CheckReport> = {}): CheckReport => {
    const ok = !checks.some((c) => c.status === 'fail');
    for (const c of checks) if (c.details && !c.details.length) delete c.details;
    const tests = checks.find((c) => c.id === 'baseline-tests')?.data;
    const kind = tests?.where;
    return {
      ok,
      root,
      checks,
      tag: null,
      checkpoint: null,
      checkpointSkipped: ok ? null : 'a check failed',
      worktree: kind === 'kept' || kind === 'temporary' || kind === 'in-place' ? { kind, path: String(tests!.path), created: Boolean(tests!.created) } : null,
      next: checks.filter((c) => c.status === 'fail' && c.next).map((c) => `${c.id}: ${c.next}`),
      durationMs: Date.now() - started,
      ...extra,
    };
  };

  const wt = await checkWorkTree(opts.cwd);
  if (!wt.repo) return finish(null, [wt.result]);
  const repo = wt.repo;
  const { config } = await loadConfig(repo.root);

  const checks: CheckResult[] = [wt.result];
  checks.push(checkNothingInProgress(repo));
  const b = await checkBaseline(repo, config, { fetch: opts.fetch, currentBranch: wt.head.branch });
  checks.push(b.result);
  const clean = await checkClean(repo, config.rollbacksDir);
  checks.push(clean);
  checks.push(maxDisk !== undefined ? checkDisk(repo, maxDisk, '--max-disk') : checkDisk(repo, config.check.maxDiskPercent));
  checks.push(await checkDependencies(repo, config.install));
  const skip = opts.tests === false ? '--no-tests' : !config.check.baselineTests ? 'check.baselineTests: false in rb.config.yaml' : undefined;
  checks.push(await checkBaselineTests(repo, config, b.baseline, {
    skip, onProgress: opts.onProgress, testTimeoutMs: opts.testTimeoutMs, installTimeoutMs: opts.installTimeoutMs,
    headIsCleanBaseline: Boolean(b.baseline?.oid) && wt.head.oid === b.baseline?.oid && clean.status === 'pass', rollbacksDir: config.rollbacksDir,
  }));

  const report = finish(repo.root, checks);
  if (!report.ok) return report;
  if (opts.tag === false) return { ...report, checkpointSkipped: '--no-tag' };
  if (!config.check.tag) return { ...report, checkpointSkipped: 'check.tag: false in rb.config.yaml' };
  const tests = checks.find((c) => c.id === 'baseline-tests');
  const passed = tests?.status === 'pass' ? (tests.data?.passed as number | null | undefined) : undefined;
  const checkpoint = await recordCheckpoint(repo, config, {
    commit: wt.head.oid!,
    branch: wt.head.branch,
    baseline: b.baseline?.oid ? { name: b.baseline.name, oid: b.baseline.oid } : null,
    testsLine: typeof passed === 'number' ? `${passed} baseline tests passed` : undefined,
    testsPassed: typeof passed === 'number' ? passed : undefined,
    durationMs: Date.now() - started,
    now: opts.now?.(),
  });
  return { ...report, tag: checkpoint.tag, checkpoint, durationMs: Date.now() - started };
}
