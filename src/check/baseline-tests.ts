/**
 * Check 7: the baseline's tests pass. They run with the configured test command in a temporary
 * `git worktree` of the baseline commit (src/check/temp-worktree.ts), so the user's checkout is
 * never switched (the shell procedure rb replaces ran `git checkout baseline` and left the
 * developer there).
 *
 * Dependencies, per configured install: when its lockfiles are the same blobs in HEAD and in the
 * baseline (lockfilesUnchanged) and the dependency dir exists in the main work tree, that dir is
 * symlinked into the worktree; otherwise the install command runs inside the worktree. A
 * dependency dir committed in the baseline is used as it is.
 *
 * The worktree is removed afterwards: after a pass, a failure, an exception, and on Ctrl-C
 * (SIGINT/SIGTERM handlers are registered while it runs: the first signal cancels the running
 * command and lets the clean-up finish, then rb exits 130; a second one removes the worktree
 * synchronously and exits 130 at once).
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { runCommand, tail } from '../io/exec.js';
import { InterruptedError } from '../errors.js';
import { parseTestOutput, stripAnsi } from '../records/test-output.js';
import { DEFAULT_INSTALL_TIMEOUT_MS, lockfilesUnchanged } from '../steps/deps-install.js';
import { DEFAULT_TEST_TIMEOUT_MS } from '../steps/tests-run.js';
import type { Baseline } from '../engine/baseline.js';
import type { Repo } from '../repo.js';
import type { Config, InstallConfig } from '../types.js';
import { commandText, installHint } from './dependencies.js';
import { addTempWorktree, type TempWorktree } from './temp-worktree.js';
import { dieBySignal } from '../engine/signals.js';
import type { CheckResult, Progress } from './types.js';

const TITLE = 'Baseline tests pass';

/** Environment for commands run in the worktree: never inherit a GIT_DIR pointing elsewhere (rb run from a hook). */
const CLEAN_ENV = { GIT_DIR: undefined, GIT_WORK_TREE: undefined, GIT_INDEX_FILE: undefined, GIT_COMMON_DIR: undefined, GIT_PREFIX: undefined };

export interface BaselineTestsOptions {
  /** why the check is skipped (--no-tests, check.baselineTests: false), or undefined to run it */
  skip?: string;
  onProgress?: Progress;
  /** per command, default 10 min for the tests and 15 min per install */
  testTimeoutMs?: number;
  installTimeoutMs?: number;
}

export interface PreparedInstall {
  cwd: string;
  /** linked: the main work tree's dependency dir symlinked; installed: the install command ran; committed: the dir is in the baseline; absent: the install's cwd is not in the baseline */
  action: 'linked' | 'installed' | 'committed' | 'absent';
  reason: string;
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/**
 * Bring the worktree's dependencies in place: link or install, per install entry.
 * @returns a failing CheckResult when an install failed, else null
 */
async function prepareDependencies(
  repo: Repo, installs: InstallConfig[], wt: TempWorktree, oid: string, signal: AbortSignal, timeoutMs: number, progress: Progress, prepared: PreparedInstall[],
): Promise<CheckResult | null> {
  for (const install of installs) {
    if (signal.aborted) return null;
    const cwd = posix.normalize(install.cwd || '.');
    const wtCwd = join(wt.path, cwd);
    if (!existsSync(wtCwd)) {
      prepared.push({ cwd, action: 'absent', reason: `${cwd} does not exist in the baseline` });
      continue;
    }
    if (install.dir) {
      const inWt = join(wtCwd, install.dir);
      const inMain = join(repo.root, cwd, install.dir);
      if (existsSync(inWt)) {
        prepared.push({ cwd, action: 'committed', reason: `${posix.join(cwd, install.dir)} is committed in the baseline` });
        continue;
      }
      if (existsSync(inMain) && (await lockfilesUnchanged(repo.root, install, 'HEAD', oid))) {
        mkdirSync(dirname(inWt), { recursive: true });
        wt.links.push(inWt);
        symlinkSync(inMain, inWt, process.platform === 'win32' ? 'junction' : 'dir');
        prepared.push({ cwd, action: 'linked', reason: `${install.lockfiles.join(', ')} identical in HEAD and the baseline: ${posix.join(cwd, install.dir)} linked` });
        continue;
      }
    }
    const why = !install.dir ? 'no dependency dir configured' : !existsSync(join(repo.root, cwd, install.dir)) ? `${posix.join(cwd, install.dir)} is not installed in the work tree` : `${install.lockfiles.join(', ') || 'the lockfiles'} differ between HEAD and the baseline`;
    progress(`installing the baseline's dependencies: ${installHint(install)} (${why})`);
    const r = await runCommand(install.command, { cwd: wtCwd, timeoutMs, signal, env: CLEAN_ENV });
    if (r.cancelled || signal.aborted) return null;
    prepared.push({ cwd, action: 'installed', reason: why });
    if (r.exitCode !== 0) {
      const what = r.failedToStart ?? (r.timedOut ? `timed out after ${minutes(timeoutMs)}` : `exited ${r.exitCode}`);
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `installing the baseline's dependencies failed: ${installHint(install)} ${what} (in a temporary worktree of ${oid.slice(0, 12)})`,
        next: `check that the baseline installs: git worktree add --detach /tmp/rb-baseline ${oid.slice(0, 12)} && cd /tmp/rb-baseline && ${commandText(install.command)}`,
        details: tail(stripAnsi(r.all), 15).split('\n'),
        data: { commit: oid, installs: prepared },
      };
    }
  }
  return null;
}

/**
 * Run the baseline's tests in a temporary worktree (see the module comment).
 * @throws InterruptedError (exit 130) after clean-up, when SIGINT or SIGTERM arrived
 */
export async function checkBaselineTests(
  repo: Repo, config: Pick<Config, 'test' | 'install'>, baseline: Baseline | null, opts: BaselineTestsOptions = {},
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

  const abort = new AbortController();
  let wt: TempWorktree | null = null;
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      abort.abort(new InterruptedError('interrupted'));
      process.stderr.write('\nrb: interrupt received: stopping the baseline tests and removing the temporary worktree (Ctrl-C again to stop now)\n');
      return;
    }
    try { wt?.removeSync(); } catch { /* exiting anyway */ }
    process.stderr.write('rb: interrupted; the temporary worktree was removed.\n');
    dieBySignal('SIGINT');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const prepared: PreparedInstall[] = [];
  const run = async (): Promise<CheckResult> => {
    progress(`creating a temporary worktree of ${baseline.name} at ${oid12}`);
    try {
      wt = await addTempWorktree(repo, oid);
    } catch (e) {
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `could not create a temporary worktree of the baseline (${oid12}): ${(e as Error).message}`,
        next: '`git worktree list` and `git worktree prune`, then `rb check` again',
        data: { commit: oid },
      };
    }
    const failed = await prepareDependencies(repo, config.install, wt, oid, abort.signal, installTimeout, progress, prepared);
    if (failed) return failed;
    if (abort.signal.aborted) throw new InterruptedError('interrupted');

    const cmd = commandText(config.test!);
    progress(`running the baseline's tests: ${cmd} (in ${wt.path})`);
    const r = await runCommand(config.test!, { cwd: wt.path, timeoutMs: testTimeout, signal: abort.signal, env: CLEAN_ENV });
    if (r.cancelled || abort.signal.aborted) throw new InterruptedError('interrupted');
    const text = stripAnsi(r.all);
    const parsed = parseTestOutput(text);
    const data = {
      commit: oid, command: cmd, exitCode: r.exitCode, durationMs: r.durationMs, framework: parsed.framework,
      passed: parsed.passed, failed: parsed.failed, skipped: parsed.skipped, failures: parsed.failures, installs: prepared,
    };
    if (r.failedToStart || r.timedOut) {
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `the baseline's tests did not run to the end: ${cmd}: ${r.failedToStart ?? `timed out after ${minutes(testTimeout)}`}`,
        next: r.failedToStart ? 'fix the test command (test in rb.config.yaml)' : 'make the tests finish, or run `rb check --no-tests` to skip them',
        details: tail(text, 15).split('\n'),
        data,
      };
    }
    if (r.exitCode !== 0) {
      const counts = parsed.framework === 'unknown' ? `exited ${r.exitCode}` : `${parsed.failed ?? '?'} failed, ${parsed.passed ?? '?'} passed`;
      const names = parsed.failures.length ? `: ${parsed.failures.slice(0, 3).join(', ')}${parsed.failures.length > 3 ? ` and ${parsed.failures.length - 3} more` : ''}` : '';
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `the baseline ${baseline.name} (${oid12}) fails its tests: ${counts}${names}`,
        next: `the baseline is not a good state: fix it, or point ${baseline.name} at the last commit whose tests pass (git branch -f ${baseline.name} <commit>)`,
        details: tail(text, 15).split('\n'),
        data,
      };
    }
    const linked = prepared.some((p) => p.action === 'linked');
    const installed = prepared.some((p) => p.action === 'installed');
    const deps = linked || installed ? `; dependencies ${[linked ? 'linked' : '', installed ? 'installed' : ''].filter(Boolean).join(' and ')}` : '';
    const count = parsed.passed !== null
      ? `${parsed.passed} test${parsed.passed === 1 ? '' : 's'} passed${parsed.skipped ? `, ${parsed.skipped} skipped` : ''} (${parsed.framework})`
      : 'tests passed (exit 0; the output was not recognised, so no count)';
    return {
      id: 'baseline-tests', title: TITLE, status: 'pass',
      reason: `${count} at ${baseline.name} ${oid12} in a temporary worktree, ${seconds(r.durationMs)}${deps}`,
      data,
    };
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
  const made = wt as TempWorktree | null;
  if (made) {
    try {
      cleanupProblem = await made.remove();
    } catch (e) {
      cleanupProblem = `could not remove the temporary worktree ${made.path}: ${(e as Error).message}`;
    }
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (abort.signal.aborted) {
    throw new InterruptedError(`rb check was interrupted; ${cleanupProblem ?? 'the temporary worktree was removed'}.`, { next: 'run `rb check` again' });
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
