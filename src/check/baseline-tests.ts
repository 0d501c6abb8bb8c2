/**
 * Check 7: the baseline's tests pass. They run with the configured test command, where the
 * user's checkout is never switched (the shell procedure rb replaces ran `git checkout baseline`
 * and left the developer there):
 *   - in place, in the work tree itself, when HEAD is the baseline commit and the tree is clean
 *     and every configured dependency dir is there (nothing to check out, nothing to install);
 *     a test run that leaves the tree dirty turns the result into a warning naming the paths;
 *   - otherwise in the kept worktree, a per-repository folder of the user's cache dir
 *     (kept-worktree.ts; never under .git, where Jest finds no tests), moved to the baseline with
 *     `git checkout --detach --force` (only the files that differ are rewritten) and cleaned;
 *   - in a temporary worktree (temp-worktree.ts), removed afterwards, when another check is
 *     using the kept one.
 *
 * The checkout and its dependencies: commit-checkout.ts. A test command that could not run (not
 * found, not executable, timed out, killed by a signal) is an outcome of its own, never "the
 * baseline fails its tests" (command-outcome.ts).
 *
 * Clean-up in every case — pass, failure, exception, Ctrl-C (SIGINT/SIGTERM handlers are
 * registered while it runs: the first signal cancels the running command and lets the clean-up
 * finish, then rb exits 130; a second one cleans up synchronously and exits 130 at once): the
 * links are unlinked (nothing can ever delete through them), a temporary worktree is removed, the
 * kept one is unlocked and left for the next check.
 */
import { runCommand, tail } from '../io/exec.js';
import { InterruptedError } from '../errors.js';
import { countsText, errorText, parseTestOutput, stripAnsi } from '../records/test-output.js';
import { commandOutcome } from '../records/command-outcome.js';
import { DEFAULT_INSTALL_TIMEOUT_MS } from '../steps/deps-install.js';
import { DEFAULT_TEST_TIMEOUT_MS } from '../steps/tests-run.js';
import type { Baseline } from '../engine/baseline.js';
import type { Repo } from '../repo.js';
import type { Config } from '../types.js';
import { commandText } from './dependencies.js';
import type { BaselineCheckout } from './temp-worktree.js';
import { CLEAN_ENV, dependenciesInPlace, minutes, openCommitCheckout, type PreparedInstall } from './commit-checkout.js';
import { dirtyPaths, DIRTY_LISTED } from './clean.js';
import { dieBySignal } from '../engine/signals.js';
import type { CheckResult, Progress } from './types.js';

export type { PreparedInstall } from './commit-checkout.js';

const TITLE = 'Baseline tests pass';

export interface BaselineTestsOptions {
  /** why the check is skipped (--no-tests, check.baselineTests: false), or undefined to run it */
  skip?: string;
  /** HEAD is the baseline commit and the work tree is clean (the clean check passed): the tests may run in place */
  headIsCleanBaseline?: boolean;
  /** rb's records folder, left out when telling whether an in-place run left the tree dirty (default rollbacks) */
  rollbacksDir?: string;
  onProgress?: Progress;
  /** per command, default 10 min for the tests and 15 min per install */
  testTimeoutMs?: number;
  installTimeoutMs?: number;
}

const WHERE: Record<BaselineCheckout['kind'], string> = {
  'in-place': 'in the work tree (HEAD is the baseline and clean)',
  kept: 'in the kept worktree',
  temporary: 'in a temporary worktree (the kept one is in use by another rb check)',
};

function whereText(wt: BaselineCheckout): string {
  return wt.kind === 'kept' ? `${WHERE.kept} ${wt.path} (${wt.created ? 'created' : 'reused'})` : WHERE[wt.kind];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Run the baseline's tests in place, in the kept worktree or in a temporary one (see the module comment).
 * @throws InterruptedError (exit 130) after clean-up, when SIGINT or SIGTERM arrived
 */
export async function checkBaselineTests(
  repo: Repo, config: Pick<Config, 'test' | 'install' | 'check'>, baseline: Baseline | null, opts: BaselineTestsOptions = {},
): Promise<CheckResult> {
  if (opts.skip) return { id: 'baseline-tests', title: TITLE, status: 'warn', reason: `skipped (${opts.skip})`, data: { skipped: opts.skip } };
  if (!config.test) {
    return {
      id: 'baseline-tests', title: TITLE, status: 'warn',
      reason: 'no test command configured: the baseline is not known to be good',
      next: 'set test in rb.config.yaml (or a test script in package.json)',
      data: { skipped: 'no test command' },
    };
  }
  if (!baseline?.oid) {
    return { id: 'baseline-tests', title: TITLE, status: 'warn', reason: 'not run: the baseline did not resolve (see the baseline check)', data: { skipped: 'no baseline' } };
  }
  const oid = baseline.oid;
  const oid12 = oid.slice(0, 12);
  const progress: Progress = opts.onProgress ?? (() => undefined);
  const testTimeout = opts.testTimeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const installTimeout = opts.installTimeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS;

  const inPlace = Boolean(opts.headIsCleanBaseline) && dependenciesInPlace(repo, config.install);
  const abort = new AbortController();
  let wt: BaselineCheckout | null = null;
  const leftText = (w: BaselineCheckout | null) =>
    !w || w.kind === 'in-place' ? '' : w.kind === 'kept' ? 'the kept worktree stays for the next check' : 'the temporary worktree was removed';
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      abort.abort(new InterruptedError('interrupted'));
      process.stderr.write('\nrb: interrupt received: stopping the baseline tests and cleaning up (Ctrl-C again to stop now)\n');
      return;
    }
    try { wt?.releaseSync(); } catch { /* exiting anyway */ }
    process.stderr.write(`rb: interrupted${wt && wt.kind !== 'in-place' ? `; ${leftText(wt)}` : ''}.\n`);
    dieBySignal('SIGINT');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let prepared: PreparedInstall[] = [];
  const run = async (): Promise<CheckResult> => {
    if (!inPlace) progress(`checking out ${baseline.name} at ${oid12} in the kept worktree`);
    let failure;
    let missing: string[] = [];
    try {
      ({ wt, prepared, failure, missing } = await openCommitCheckout(repo, config, oid, {
        inPlace, label: 'the baseline', signal: abort.signal, installTimeoutMs: installTimeout, progress, onOpen: (w) => { wt = w; },
      }));
    } catch (e) {
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `could not check out the baseline (${oid12}) in a worktree: ${(e as Error).message}`,
        next: config.check.worktree ? 'set check.worktree in rb.config.yaml to a folder outside the repository (or remove it for the default in your cache dir), then `rb check` again' : '`git worktree list`, then `rb check --prune-worktree` and `rb check` again',
        data: { commit: oid },
      };
    }
    const where = whereText(wt);
    const base = { commit: oid, where: wt.kind, path: wt.path, created: wt.created };
    if (failure) return { id: 'baseline-tests', title: TITLE, status: 'fail', ...failure, data: { ...base, installs: prepared } };
    if (abort.signal.aborted) throw new InterruptedError('interrupted');
    if (missing.length) {
      // the tests would run without them ("Cannot find module"): not a verdict on the baseline
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `the baseline's tests were not run: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing in the worktree the tests run in (${where}) after installing or linking its dependencies`,
        next: `install them in your work tree (${[...new Set(prepared.filter((p) => p.action !== 'absent').map((p) => p.cwd))].join(', ') || '.'}), then \`rb check\` again`,
        data: { ...base, installs: prepared, missing },
      };
    }

    const cmd = commandText(config.test!);
    progress(`running the baseline's tests: ${cmd} (in ${wt.path})`);
    const r = await runCommand(config.test!, { cwd: wt.path, timeoutMs: testTimeout, signal: abort.signal, env: CLEAN_ENV });
    if (r.cancelled || abort.signal.aborted) throw new InterruptedError('interrupted');
    const text = stripAnsi(r.all);
    const parsed = parseTestOutput(text);
    const outcome = commandOutcome(r, { timeoutMs: testTimeout, timeoutNext: 'run `rb check --no-tests` to skip them' });
    const data = {
      ...base, command: cmd, exitCode: r.exitCode, outcome: outcome.kind, signal: outcome.signal, durationMs: r.durationMs, framework: parsed.framework,
      passed: parsed.passed, failed: parsed.failed, skipped: parsed.skipped, loadFailures: parsed.loadFailures, errors: parsed.errors, failures: parsed.failures, installs: prepared,
    };
    if (!outcome.ran) {
      // not a verdict on the baseline: the command never ran its tests to the end
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `the baseline's tests could not run: ${cmd}: ${outcome.message} (${where})`,
        next: outcome.next ?? 'run the test command by hand',
        details: tail(text, 15).split('\n'),
        data,
      };
    }
    if (outcome.kind === 'failed') {
      const counts = parsed.framework === 'unknown' ? `exited ${r.exitCode}` : countsText(parsed);
      const why = parsed.errors.length ? `: ${parsed.errors.slice(0, 2).map((e) => errorText(e, parsed.framework)).join('; ')}` : parsed.failures.length ? `: ${parsed.failures.slice(0, 3).join(', ')}${parsed.failures.length > 3 ? ` and ${parsed.failures.length - 3} more` : ''}` : '';
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `the baseline ${baseline.name} (${oid12}) fails its tests: ${counts}${why}`,
        next: `the baseline is not a good state: fix it, or point ${baseline.name} at the last commit whose tests pass (git branch -f ${baseline.name} <commit>)`,
        details: tail(text, 15).split('\n'),
        data,
      };
    }
    const kinds = (['linked', 'installed', 'reused'] as const).filter((a) => prepared.some((p) => p.action === a));
    const deps = kinds.length ? `; dependencies ${kinds.join(' and ')}` : '';
    const count = parsed.passed !== null
      ? `${parsed.passed} test${parsed.passed === 1 ? '' : 's'} passed${parsed.skipped ? `, ${parsed.skipped} skipped` : ''} (${parsed.framework})`
      : 'tests passed (exit 0; the output was not recognised, so no count)';
    const result: CheckResult = {
      id: 'baseline-tests', title: TITLE, status: 'pass',
      reason: `${count} at ${baseline.name} ${oid12} ${where}, ${seconds(r.durationMs)}${deps}`,
      data,
    };
    if (inPlace) {
      // the tests ran in the user's checkout: say so when they left something behind (never cleaned by rb)
      const dirty = await dirtyPaths(repo, opts.rollbacksDir ?? 'rollbacks');
      if (dirty.length) {
        result.status = 'warn';
        result.next = 'the tests write into the work tree: look at `git status`, then make them write to ignored paths (or the temp dir)';
        result.details = [`the tests left ${dirty.length} uncommitted path${dirty.length === 1 ? '' : 's'} in the work tree:`, ...dirty.slice(0, DIRTY_LISTED).map((p) => `${p.xy} ${p.path}`)];
        result.data = { ...data, dirtyAfter: dirty.length };
      }
    }
    return result;
  };

  let result: CheckResult | null = null;
  let error: unknown = null;
  try {
    result = await run();
  } catch (e) {
    error = e;
  }
  // clean up in every case: pass, fail, exception, interrupt
  let cleanupProblem: string | null = null;
  const made = wt as BaselineCheckout | null;
  if (made) {
    try {
      cleanupProblem = await made.release();
    } catch (e) {
      cleanupProblem = `could not clean up the worktree ${made.path}: ${(e as Error).message}`;
    }
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (abort.signal.aborted) {
    const left = cleanupProblem ?? leftText(made);
    throw new InterruptedError(`rb check was interrupted${left ? `; ${left}` : ''}.`, { next: 'run `rb check` again' });
  }
  if (error) throw error;
  if (cleanupProblem) {
    result!.details = [...(result!.details ?? []), `warning: ${cleanupProblem}`];
    if (result!.status === 'pass') {
      result!.status = 'warn';
      result!.next = cleanupProblem;
    }
  }
  return result!;
}
