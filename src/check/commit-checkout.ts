/**
 * A checkout of one commit, with its dependencies ready, where the user's commands (the test
 * command of `rb check`, the collectors of `rb analyze`) run without touching the user's branch,
 * index or files:
 *   - in place, in the work tree itself, when the caller says nothing needs to change there;
 *   - otherwise in the kept worktree (kept-worktree.ts), outside the repository, moved to the
 *     commit with `git checkout --detach --force` (only the files that differ are rewritten);
 *   - in a temporary worktree (temp-worktree.ts), removed afterwards, when another check is
 *     using the kept one.
 *
 * Dependencies, per configured install, in a worktree: a dependency dir committed at the commit
 * is used as it is; one an earlier check installed in the kept worktree for the same lockfile
 * blobs is reused; when the lockfiles are the same blobs in HEAD and at the commit
 * (lockfilesUnchanged) and the dir exists in the main work tree, it is symlinked in; otherwise
 * the install command runs inside the worktree.
 *
 * The caller releases the checkout in every case (release / releaseSync): the links are
 * unlinked first (nothing can ever delete through them), a temporary worktree is removed, the
 * kept one is unlocked and left for the next check.
 */
import { existsSync, lstatSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { runCommand, tail } from '../io/exec.js';
import { stripAnsi } from '../records/test-output.js';
import { lockfileBlobs, lockfilesUnchanged } from '../steps/deps-install.js';
import type { Repo } from '../repo.js';
import type { Config, InstallConfig } from '../types.js';
import { commandText, installHint } from './dependencies.js';
import { addTempWorktree, type BaselineCheckout } from './temp-worktree.js';
import { installDirPath, keptWorktreePath, keptWorktreeProblem, openKeptWorktree, readKeptState, writeKeptState, type KeptState } from './kept-worktree.js';
import type { Progress } from './types.js';

/** Environment for commands run in the worktree: never inherit a GIT_DIR pointing elsewhere (rb run from a hook). */
export const CLEAN_ENV = { GIT_DIR: undefined, GIT_WORK_TREE: undefined, GIT_INDEX_FILE: undefined, GIT_COMMON_DIR: undefined, GIT_PREFIX: undefined };

export interface PreparedInstall {
  cwd: string;
  /**
   * linked: the main work tree's dependency dir symlinked; installed: the install command ran;
   * reused: installed in the kept worktree by an earlier check for the same lockfiles;
   * committed: the dir is in the commit; absent: the install's cwd is not in the commit;
   * present: in place, the work tree's own dir
   */
  action: 'linked' | 'installed' | 'reused' | 'committed' | 'absent' | 'present';
  reason: string;
}

/** An install that failed in the worktree: what to say, and its output's tail. */
export interface InstallFailure {
  reason: string;
  next: string;
  details: string[];
}

export function minutes(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

/** Every install with a dependency dir has it in the work tree (an install without one cannot be known to be installed). */
export function dependenciesInPlace(repo: Repo, installs: readonly InstallConfig[]): boolean {
  return installs.every((i) => !existsSync(join(repo.root, i.cwd || '.')) || (i.dir !== null && i.dir !== undefined && i.dir !== '' && existsSync(join(repo.root, installDirPath(i)))));
}

/** The kept worktree's record of what its dependency dirs were installed for, and the commit's lockfile blobs. */
interface KeptDeps {
  state: KeptState;
  /** install cwd -> the commit's lockfile blobs */
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

function isRealDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

export interface CommitCheckout {
  wt: BaselineCheckout;
  /** what was done for each install */
  prepared: PreparedInstall[];
}

export interface OpenCheckoutOptions {
  /** run in the work tree itself (nothing to check out, nothing to install) */
  inPlace: boolean;
  /** "the baseline" / "the analysed state": how messages name the commit */
  label: string;
  signal: AbortSignal;
  installTimeoutMs: number;
  progress: Progress;
  /** called as soon as a worktree exists (so a signal handler can release it) */
  onOpen?: (wt: BaselineCheckout) => void;
}

/**
 * Bring the worktree's dependencies in place: reuse, link or install, per install entry. For the
 * kept worktree, what is installed there now is recorded.
 * @returns what went wrong when an install failed, else null
 */
async function prepareDependencies(
  repo: Repo, installs: InstallConfig[], wt: BaselineCheckout, oid: string, opts: OpenCheckoutOptions, prepared: PreparedInstall[], kept: KeptDeps | null,
): Promise<InstallFailure | null> {
  const reusable = new Set(kept ? reusableDirs(installs, kept) : []);
  const nowInstalled: KeptState['installs'] = {};
  const record = () => { if (kept) writeKeptState(repo, { version: 1, path: wt.path, installs: nowInstalled }); };
  for (const install of installs) {
    if (opts.signal.aborted) break;
    const cwd = posix.normalize(install.cwd || '.');
    const wtCwd = join(wt.path, cwd);
    if (!existsSync(wtCwd)) {
      prepared.push({ cwd, action: 'absent', reason: `${cwd} does not exist in ${opts.label}` });
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
        prepared.push({ cwd, action: 'committed', reason: `${rel} is committed in ${opts.label}` });
        continue;
      }
      if (existsSync(inMain) && (await lockfilesUnchanged(repo.root, install, 'HEAD', oid))) {
        mkdirSync(dirname(inWt), { recursive: true });
        wt.links.push(inWt);
        symlinkSync(inMain, inWt, process.platform === 'win32' ? 'junction' : 'dir');
        prepared.push({ cwd, action: 'linked', reason: `${install.lockfiles.join(', ')} identical in HEAD and ${opts.label}: ${rel} linked` });
        continue;
      }
    }
    const why = !install.dir ? 'no dependency dir configured' : !existsSync(join(repo.root, installDirPath(install))) ? `${installDirPath(install)} is not installed in the work tree` : `${install.lockfiles.join(', ') || 'the lockfiles'} differ between HEAD and ${opts.label}`;
    opts.progress(`installing ${opts.label}'s dependencies: ${installHint(install)} (${why})`);
    const r = await runCommand(install.command, { cwd: wtCwd, timeoutMs: opts.installTimeoutMs, signal: opts.signal, env: CLEAN_ENV });
    if (r.cancelled || opts.signal.aborted) break;
    prepared.push({ cwd, action: 'installed', reason: why });
    if (r.exitCode !== 0) {
      // a half-done install is never reused: the next check's clean removes it
      record();
      const what = r.failedToStart ?? (r.timedOut ? `timed out after ${minutes(opts.installTimeoutMs)}` : `exited ${r.exitCode}`);
      return {
        reason: `installing ${opts.label}'s dependencies failed: ${installHint(install)} ${what} (in ${wt.path} at ${oid.slice(0, 12)})`,
        next: `check that ${opts.label} installs: git worktree add --detach /tmp/rb-baseline ${oid.slice(0, 12)} && cd /tmp/rb-baseline && ${commandText(install.command)}`,
        details: tail(stripAnsi(r.all), 15).split('\n'),
      };
    }
    if (kept && install.dir && kept.blobs[cwd] && isRealDir(join(wt.path, installDirPath(install)))) nowInstalled[cwd] = { dir: install.dir, lockfiles: kept.blobs[cwd]! };
  }
  record();
  return null;
}

/** The checkout itself: in place, the kept worktree, or (when it is busy) a temporary one. */
async function openWorktree(repo: Repo, config: Pick<Config, 'install' | 'check'>, oid: string, inPlace: boolean): Promise<{ wt: BaselineCheckout; kept: KeptDeps | null }> {
  if (inPlace) {
    return { wt: { path: repo.root, kind: 'in-place', created: false, links: [], release: async () => null, releaseSync: () => undefined }, kept: null };
  }
  const path = keptWorktreePath(repo, config.check.worktree);
  const problem = config.check.worktree ? keptWorktreeProblem(repo, path) : null;
  if (problem) throw new Error(problem);
  const withDir = config.install.filter((i) => i.dir);
  const blobs: KeptDeps['blobs'] = {};
  await Promise.all(withDir.map(async (i) => { blobs[posix.normalize(i.cwd || '.')] = await lockfileBlobs(repo.root, i, oid); }));
  const kept: KeptDeps = { state: readKeptState(repo, path), blobs };
  const wt = await openKeptWorktree(repo, path, oid, withDir.map(installDirPath), reusableDirs(config.install, kept));
  if (wt) return { wt, kept };
  return { wt: await addTempWorktree(repo, oid), kept: null };
}

/**
 * Open a checkout of `oid` and get its dependencies ready (see the module comment). On an install
 * failure the checkout is returned too (the caller releases it) along with the failure.
 * @throws Error when git cannot add or move a worktree (nothing is left to release then)
 */
export async function openCommitCheckout(
  repo: Repo, config: Pick<Config, 'install' | 'check'>, oid: string, opts: OpenCheckoutOptions,
): Promise<CommitCheckout & { failure: InstallFailure | null }> {
  const { wt, kept } = await openWorktree(repo, config, oid, opts.inPlace);
  opts.onOpen?.(wt);
  const prepared: PreparedInstall[] = [];
  if (opts.inPlace) {
    for (const i of config.install) if (i.dir) prepared.push({ cwd: posix.normalize(i.cwd || '.'), action: 'present', reason: `${installDirPath(i)} of the work tree` });
    return { wt, prepared, failure: null };
  }
  const failure = await prepareDependencies(repo, config.install, wt, oid, opts, prepared, kept);
  return { wt, prepared, failure };
}
