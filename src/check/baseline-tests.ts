/**
 * Check 7: the baseline's tests pass. They run with the configured test command, where the
 * user's checkout is never switched (the shell procedure rb replaces ran `git checkout baseline`
 * and left the developer there):
 *   - in place, in the work tree itself, when HEAD is the baseline commit and the tree is clean
 *     and every configured dependency dir is there (nothing to check out, nothing to install);
 *     a test run that leaves the tree dirty turns the result into a warning naming the paths;
 *   - otherwise in the kept worktree <git-common-dir>/rb/check-worktree (kept-worktree.ts),
 *     moved to the baseline with `git checkout --detach --force` (only the files that differ are
 *     rewritten) and cleaned;
 *   - in a temporary worktree (temp-worktree.ts), removed afterwards, when another check is
 *     using the kept one.
 *
 * Dependencies, per configured install, in a worktree: a dependency dir committed in the
 * baseline is used as it is; one an earlier check installed in the kept worktree for the same
 * baseline lockfile blobs is reused; when the lockfiles are the same blobs in HEAD and in the
 * baseline (lockfilesUnchanged) and the dir exists in the main work tree, it is symlinked in;
 * otherwise the install command runs inside the worktree.
 *
 * Clean-up in every case — pass, failure, exception, Ctrl-C (SIGINT/SIGTERM handlers are
 * registered while it runs: the first signal cancels the running command and lets the clean-up
 * finish, then rb exits 130; a second one cleans up synchronously and exits 130 at once): the
 * links are unlinked (nothing can ever delete through them), a temporary worktree is removed, the
 * kept one is unlocked and left for the next check.
 */
import { existsSync, lstatSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { runCommand, tail } from '../io/exec.js';
import { InterruptedError } from '../errors.js';
import { parseTestOutput, stripAnsi } from '../records/test-output.js';
import { DEFAULT_INSTALL_TIMEOUT_MS, lockfileBlobs, lockfilesUnchanged } from '../steps/deps-install.js';
import { DEFAULT_TEST_TIMEOUT_MS } from '../steps/tests-run.js';
import type { Baseline } from '../engine/baseline.js';
import type { Repo } from '../repo.js';
import type { Config, InstallConfig } from '../types.js';
import { commandText, installHint } from './dependencies.js';
import { addTempWorktree, type BaselineCheckout } from './temp-worktree.js';
import { installDirPath, openKeptWorktree, readKeptState, writeKeptState, type KeptState } from './kept-worktree.js';
import { dirtyPaths, DIRTY_LISTED } from './clean.js';
import { dieBySignal } from '../engine/signals.js';
import type { CheckResult, Progress } from './types.js';

const TITLE = 'Baseline tests pass';

/** Environment for commands run in the worktree: never inherit a GIT_DIR pointing elsewhere (rb run from a hook). */
const CLEAN_ENV = { GIT_DIR: undefined, GIT_WORK_TREE: undefined, GIT_INDEX_FILE: undefined, GIT_COMMON_DIR: undefined, GIT_PREFIX: undefined };

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

export interface PreparedInstall {
  cwd: string;
  /**
   * linked: the main work tree's dependency dir symlinked; installed: the install command ran;
   * reused: installed in the kept worktree by an earlier check for the same lockfiles;
   * committed: the dir is in the baseline; absent: the install's cwd is not in the baseline;
   * present: in place, the work tree's own dir
   */
  action: 'linked' | 'installed' | 'reused' | 'committed' | 'absent' | 'present';
  reason: string;
}

const WHERE: Record<BaselineCheckout['kind'], string> = {
  'in-place': 'in the work tree (HEAD is the baseline and clean)',
  kept: 'in the kept worktree',
  temporary: 'in a temporary worktree (the kept one is in use by another rb check)',
};

function whereText(wt: BaselineCheckout): string {
  return wt.kind === 'kept' ? `${WHERE.kept} ${wt.path} (${wt.created ? 'created' : 'reused'})` : WHERE[wt.kind];
}

/** Every install with a dependency dir has it in the work tree (an install without one cannot be known to be installed). */
function dependenciesInPlace(repo: Repo, installs: readonly InstallConfig[]): boolean {
  return installs.every((i) => !existsSync(join(repo.root, i.cwd || '.')) || (i.dir !== null && i.dir !== undefined && i.dir !== '' && existsSync(join(repo.root, installDirPath(i)))));
}

function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** The kept worktree's record of what its dependency dirs were installed for, and the baseline's lockfile blobs. */
interface KeptDeps {
  state: KeptState;
  /** install cwd -> the baseline's lockfile blobs */
  blobs: Record<string, Record<string, string | null>>;
}

const sameBlobs = (a: Record<string, string | null>, b: Record<string, string | null>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** The worktree-relative dependency dirs an earlier check installed in the kept worktree for these very lockfiles. */
function reusableDirs(installs: readonly InstallConfig[], kept: KeptDeps): string[] {
  return installs.filter((i) => {
    const cwd = posix.normalize(i.cwd || '.');
    const rec = kept.state.installs[cwd];
    return i.dir && rec && rec.dir === i.dir && kept.blobs[cwd] && sameBlobs(rec.lockfiles, kept.blobs[cwd]!);
  }).map(installDirPath);
}

/**
 * Bring the worktree's dependencies in place: reuse, link or install, per install entry. For the
 * kept worktree, `kept` is updated with what is installed there now.
 * @returns a failing CheckResult when an install failed, else null
 */
async function prepareDependencies(
  repo: Repo, installs: InstallConfig[], wt: BaselineCheckout, oid: string, signal: AbortSignal, timeoutMs: number, progress: Progress, prepared: PreparedInstall[],
  kept: KeptDeps | null,
): Promise<CheckResult | null> {
  const reusable = new Set(kept ? reusableDirs(installs, kept) : []);
  const nowInstalled: KeptState['installs'] = {};
  const record = () => { if (kept) writeKeptState(repo, { version: 1, installs: nowInstalled }); };
  for (const install of installs) {
    if (signal.aborted) break;
    const cwd = posix.normalize(install.cwd || '.');
    const wtCwd = join(wt.path, cwd);
    if (!existsSync(wtCwd)) {
      prepared.push({ cwd, action: 'absent', reason: `${cwd} does not exist in the baseline` });
      continue;
    }
    if (install.dir) {
      const rel = installDirPath(install);
      const inWt = join(wt.path, rel);
      const inMain = join(repo.root, rel);
      if (reusable.has(rel) && isRealDir(inWt)) {
        nowInstalled[cwd] = kept!.state.installs[cwd]!;
        prepared.push({ cwd, action: 'reused', reason: `${rel} installed in the kept worktree by an earlier rb check for the same ${install.lockfiles.join(', ')}` });
        continue;
      }
      if (existsSync(inWt)) {
        prepared.push({ cwd, action: 'committed', reason: `${rel} is committed in the baseline` });
        continue;
      }
      if (existsSync(inMain) && (await lockfilesUnchanged(repo.root, install, 'HEAD', oid))) {
        mkdirSync(dirname(inWt), { recursive: true });
        wt.links.push(inWt);
        symlinkSync(inMain, inWt, process.platform === 'win32' ? 'junction' : 'dir');
        prepared.push({ cwd, action: 'linked', reason: `${install.lockfiles.join(', ')} identical in HEAD and the baseline: ${rel} linked` });
        continue;
      }
    }
    const why = !install.dir ? 'no dependency dir configured' : !existsSync(join(repo.root, installDirPath(install))) ? `${installDirPath(install)} is not installed in the work tree` : `${install.lockfiles.join(', ') || 'the lockfiles'} differ between HEAD and the baseline`;
    progress(`installing the baseline's dependencies: ${installHint(install)} (${why})`);
    const r = await runCommand(install.command, { cwd: wtCwd, timeoutMs, signal, env: CLEAN_ENV });
    if (r.cancelled || signal.aborted) break;
    prepared.push({ cwd, action: 'installed', reason: why });
    if (r.exitCode !== 0) {
      // a half-done install is never reused: the next check's clean removes it
      record();
      const what = r.failedToStart ?? (r.timedOut ? `timed out after ${minutes(timeoutMs)}` : `exited ${r.exitCode}`);
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `installing the baseline's dependencies failed: ${installHint(install)} ${what} (${whereText(wt)} at ${oid.slice(0, 12)})`,
        next: `check that the baseline installs: git worktree add --detach /tmp/rb-baseline ${oid.slice(0, 12)} && cd /tmp/rb-baseline && ${commandText(install.command)}`,
        details: tail(stripAnsi(r.all), 15).split('\n'),
        data: { commit: oid, installs: prepared, where: wt.kind, path: wt.path },
      };
    }
    if (kept && install.dir && kept.blobs[cwd] && isRealDir(join(wt.path, installDirPath(install)))) nowInstalled[cwd] = { dir: install.dir, lockfiles: kept.blobs[cwd]! };
  }
  record();
  return null;
}

function isRealDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The checkout to run in: in place, the kept worktree, or (when it is busy) a temporary one. */
async function openCheckout(repo: Repo, config: Pick<Config, 'install'>, oid: string, inPlace: boolean): Promise<{ wt: BaselineCheckout; kept: KeptDeps | null }> {
  if (inPlace) {
    return { wt: { path: repo.root, kind: 'in-place', created: false, links: [], release: async () => null, releaseSync: () => undefined }, kept: null };
  }
  const withDir = config.install.filter((i) => i.dir);
  const blobs: KeptDeps['blobs'] = {};
  await Promise.all(withDir.map(async (i) => { blobs[posix.normalize(i.cwd || '.')] = await lockfileBlobs(repo.root, i, oid); }));
  const kept: KeptDeps = { state: readKeptState(repo), blobs };
  const wt = await openKeptWorktree(repo, oid, withDir.map(installDirPath), reusableDirs(config.install, kept));
  if (wt) return { wt, kept };
  return { wt: await addTempWorktree(repo, oid), kept: null };
}

/**
 * Run the baseline's tests in place, in the kept worktree or in a temporary one (see the module comment).
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

  const prepared: PreparedInstall[] = [];
  const run = async (): Promise<CheckResult> => {
    if (!inPlace) progress(`checking out ${baseline.name} at ${oid12} in the kept worktree`);
    let kept: KeptDeps | null;
    try {
      ({ wt, kept } = await openCheckout(repo, config, oid, inPlace));
    } catch (e) {
      return {
        id: 'baseline-tests', title: TITLE, status: 'fail',
        reason: `could not check out the baseline (${oid12}) in a worktree: ${(e as Error).message}`,
        next: '`git worktree list` and `git worktree prune`, then `rb check` again',
        data: { commit: oid },
      };
    }
    const where = whereText(wt);
    const base = { commit: oid, where: wt.kind, path: wt.path, created: wt.created };
    if (inPlace) for (const i of config.install) if (i.dir) prepared.push({ cwd: posix.normalize(i.cwd || '.'), action: 'present', reason: `${installDirPath(i)} of the work tree` });
    const failed = inPlace ? null : await prepareDependencies(repo, config.install, wt, oid, abort.signal, installTimeout, progress, prepared, kept);
    if (failed) return failed;
    if (abort.signal.aborted) throw new InterruptedError('interrupted');

    const cmd = commandText(config.test!);
    progress(`running the baseline's tests: ${cmd} (in ${wt.path})`);
    const r = await runCommand(config.test!, { cwd: wt.path, timeoutMs: testTimeout, signal: abort.signal, env: CLEAN_ENV });
    if (r.cancelled || abort.signal.aborted) throw new InterruptedError('interrupted');
    const text = stripAnsi(r.all);
    const parsed = parseTestOutput(text);
    const data = {
      ...base, command: cmd, exitCode: r.exitCode, durationMs: r.durationMs, framework: parsed.framework,
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
