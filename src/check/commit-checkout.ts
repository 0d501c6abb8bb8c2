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
 * Dependencies, per install with every dependency dir it makes (checkoutInstalls: the configured
 * installs, the node_modules of each workspace package, venvs found without configuration —
 * steps/dependency-dirs.ts), in a worktree: a dependency dir committed at the commit is used as
 * it is; one an earlier check installed in the kept worktree for the same lockfile blobs is
 * reused; when the lockfiles are the same blobs in HEAD and at the commit (lockfilesUnchanged)
 * and the dir exists in the main work tree, every dir of that install is symlinked in; otherwise
 * the install command runs inside the worktree (never with a link in place). A dir the work tree
 * has that the worktree still lacks afterwards (missingDependencyDirs) is named by the caller.
 *
 * The caller releases the checkout in every case (release / releaseSync): the links are
 * unlinked first (nothing can ever delete through them), a temporary worktree is removed, the
 * kept one is unlocked and left for the next check.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, symlinkSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import { runCommand, tail } from '../io/exec.js';
import { stripAnsi } from '../records/test-output.js';
import { lockfileBlobs, lockfilesUnchanged } from '../steps/deps-install.js';
import { comparedFiles, dependencyDirs, lockWords, withComparedFiles } from '../steps/dependency-dirs.js';
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
  /** the worktree-relative dependency dirs this concerns (all of a workspace's node_modules) */
  dirs?: string[];
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

/**
 * One install the worktree may need, with every dependency dir it makes: a configured install
 * (its dir, plus the workspace packages' node_modules found in the work tree), or one found
 * without configuration (a .venv of a uv project). `key` names it in the kept worktree's state.
 */
export interface CheckoutInstall {
  install: InstallConfig;
  /** worktree-relative dependency dirs: the install's own first, then the others it makes */
  dirs: string[];
  configured: boolean;
  key: string;
}

/** The installs of the work tree with their dependency dirs (steps/dependency-dirs.ts), configured ones first. */
export async function checkoutInstalls(root: string, installs: readonly InstallConfig[]): Promise<CheckoutInstall[]> {
  const units: CheckoutInstall[] = installs.map((i) => ({ install: i, dirs: i.dir ? [installDirPath(i)] : [], configured: true, key: posix.normalize(i.cwd || '.') }));
  const sameInstall = (a: InstallConfig, b: InstallConfig) => posix.normalize(a.cwd || '.') === posix.normalize(b.cwd || '.') && commandText(a.command) === commandText(b.command);
  for (const dep of await dependencyDirs(root, installs)) {
    if (units.some((u) => u.dirs.includes(dep.path))) continue;
    const unit = units.find((u) => sameInstall(u.install, dep.install));
    if (unit) unit.dirs.push(dep.path);
    else units.push({ install: dep.install, dirs: [dep.path], configured: false, key: `dir:${dep.path}` });
  }
  return units;
}

/** The kept worktree's record of what its dependency dirs were installed for, and the commit's lockfile blobs. */
interface KeptDeps {
  state: KeptState;
  /** unit key -> the commit's lockfile blobs */
  blobs: Record<string, Record<string, string | null>>;
}

const sameBlobs = (a: Record<string, string | null>, b: Record<string, string | null>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** The worktree-relative dependency dirs an earlier check installed in the kept worktree for these very lockfiles. */
function reusableDirs(units: readonly CheckoutInstall[], kept: KeptDeps): string[] {
  return units.filter((u) => {
    const rec = kept.state.installs[u.key];
    // (a record without `dirs`, from an older rb, is trusted only for an install of one dir)
    return u.install.dir && rec && rec.dir === u.install.dir && (rec.dirs !== undefined || u.dirs.length <= 1) && kept.blobs[u.key] && sameBlobs(rec.lockfiles, kept.blobs[u.key]!);
  }).flatMap((u) => [...new Set([...u.dirs, ...(kept.state.installs[u.key]!.dirs ?? [])])]);
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

/** The entries of a folder (none when it cannot be read). */
function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Where a link in the work tree's node_modules should lead in the worktree: a workspace package
 * (a link into the repository, outside every node_modules) to the same package in the worktree,
 * so the commit's tests load the commit's sibling packages, not the work tree's; anything else
 * to the work tree's entry itself. Null when the entry is not such a workspace link.
 */
function workspaceTarget(repo: Repo, wt: BaselineCheckout, entry: string): string | null {
  try {
    if (!lstatSync(entry).isSymbolicLink()) return null;
    const rel = relative(realpathSync(repo.root), realpathSync(entry));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('node_modules')) return null;
    return join(wt.path, rel);
  } catch {
    return null; // a dangling link: linked as it is
  }
}

/** The entries of a node_modules folder, one level into @scope folders. */
function moduleEntries(dir: string): string[] {
  return entriesOf(dir).flatMap((e) => (e.startsWith('@') && isRealDir(join(dir, e)) ? entriesOf(join(dir, e)).map((s) => `${e}/${s}`) : [e]));
}

/**
 * Link one dependency dir of the work tree into the worktree: the folder itself as a symlink, or
 * — when it holds workspace links (a monorepo's packages linked into node_modules) — a real
 * folder of links, one per entry, whose workspace links lead into the worktree. Every link (and
 * each folder made) is recorded in wt.links, so the release removes them all.
 */
function linkDir(repo: Repo, wt: BaselineCheckout, inMain: string, inWt: string): void {
  const entries = posix.basename(inMain) === 'node_modules' ? moduleEntries(inMain) : [];
  const remapped = new Map(entries.map((e) => [e, workspaceTarget(repo, wt, join(inMain, e))] as const).filter(([, t]) => t !== null));
  if (!remapped.size) {
    wt.links.push(inWt);
    symlinkSync(inMain, inWt, process.platform === 'win32' ? 'junction' : 'dir');
    return;
  }
  const made: string[] = [];
  mkdirSync(inWt);
  for (const e of entries) {
    const dest = join(inWt, e);
    if (e.includes('/') && !existsSync(dirname(dest))) {
      mkdirSync(dirname(dest));
      made.push(dirname(dest));
    }
    symlinkSync(remapped.get(e) ?? join(inMain, e), dest);
    wt.links.push(dest);
  }
  // folders after their links: the release empties them first
  wt.links.push(...made, inWt);
}

/** Link each of the work tree's dependency dirs of this install into the worktree (where its folder is in the commit). */
function linkDirs(repo: Repo, wt: BaselineCheckout, dirs: readonly string[]): string[] {
  const linked: string[] = [];
  for (const rel of dirs) {
    const inWt = join(wt.path, rel);
    const inMain = join(repo.root, rel);
    if (!existsSync(inMain) || !existsSync(dirname(inWt)) || existsSync(inWt)) continue;
    linkDir(repo, wt, inMain, inWt);
    linked.push(rel);
  }
  return linked;
}

/**
 * Bring the worktree's dependencies in place: reuse, link or install, per install with all the
 * dependency dirs it makes (a workspace's node_modules in every package, a venv). For the kept
 * worktree, what is installed there now is recorded.
 * @returns what went wrong when an install failed, else null
 */
async function prepareDependencies(
  repo: Repo, units: CheckoutInstall[], wt: BaselineCheckout, oid: string, opts: OpenCheckoutOptions, prepared: PreparedInstall[], kept: KeptDeps | null,
): Promise<InstallFailure | null> {
  const reusable = new Set(kept ? reusableDirs(units, kept) : []);
  const nowInstalled: KeptState['installs'] = {};
  const record = () => { if (kept) writeKeptState(repo, { version: 1, path: wt.path, installs: nowInstalled }); };
  for (const unit of units) {
    if (opts.signal.aborted) break;
    const { install } = unit;
    const cwd = posix.normalize(install.cwd || '.');
    const wtCwd = join(wt.path, cwd);
    if (!existsSync(wtCwd)) {
      prepared.push({ cwd, action: 'absent', reason: `${cwd} does not exist in ${opts.label}` });
      continue;
    }
    const rel = unit.dirs[0];
    if (rel) {
      const inWt = join(wt.path, rel);
      if (reusable.has(rel) && isRealDir(inWt)) {
        nowInstalled[unit.key] = kept!.state.installs[unit.key]!;
        prepared.push({ cwd, dirs: unit.dirs, action: 'reused', reason: `${rel} installed in the kept worktree by an earlier rb check for the same ${lockWords(install)}` });
        continue;
      }
      if (existsSync(inWt)) {
        prepared.push({ cwd, dirs: [rel], action: 'committed', reason: `${rel} is committed in ${opts.label}` });
        continue;
      }
      // every dir of this install is linked, or none is: an install in the worktree must never write through a link
      if (existsSync(join(repo.root, rel)) && (await lockfilesUnchanged(repo.root, install, 'HEAD', oid))) {
        const linked = linkDirs(repo, wt, unit.dirs);
        prepared.push({ cwd, dirs: linked, action: 'linked', reason: `${lockWords(install, { fromRoot: true })} identical in HEAD and ${opts.label}: ${linked.join(', ')} linked` });
        continue;
      }
    }
    const why = !rel ? 'no dependency dir configured' : !existsSync(join(repo.root, rel)) ? `${rel} is not installed in the work tree` : comparedFiles(install).noLockfile ? `there is no lockfile, and ${lockWords(install, { fromRoot: true })} differs between HEAD and ${opts.label}` : `${lockWords(install, { fromRoot: true })} differ${install.lockfiles.length === 1 ? 's' : ''} between HEAD and ${opts.label}`;
    opts.progress(`installing ${opts.label}'s dependencies: ${installHint(install)} (${why})`);
    const r = await runCommand(install.command, { cwd: wtCwd, timeoutMs: opts.installTimeoutMs, signal: opts.signal, env: CLEAN_ENV });
    if (r.cancelled || opts.signal.aborted) break;
    prepared.push({ cwd, dirs: unit.dirs, action: 'installed', reason: why });
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
    if (kept && install.dir && kept.blobs[unit.key] && rel && isRealDir(join(wt.path, rel))) {
      // every dependency dir the install made there (a workspace's packages too), kept through the next check's clean
      const made = (await dependencyDirs(wt.path, [install])).map((d) => d.path).filter((d) => d === rel || d.startsWith(cwd === '.' ? '' : `${cwd}/`));
      nowInstalled[unit.key] = { dir: install.dir, lockfiles: kept.blobs[unit.key]!, dirs: made };
    }
  }
  record();
  return null;
}

/**
 * The dependency dirs the commit's tests need that the worktree lacks: each dir of the work tree
 * whose folder (a workspace package, the venv's project) is in the commit, and is not in the
 * worktree after preparing it. The gate says so instead of running tests that cannot load.
 */
export function missingDependencyDirs(wt: BaselineCheckout, units: readonly CheckoutInstall[], prepared: readonly PreparedInstall[]): string[] {
  if (wt.kind === 'in-place') return [];
  // an install that ran in the worktree (now or for the same lockfiles before) made what the commit needs (a package without dependencies gets no node_modules)
  const installedHere = new Set(prepared.filter((p) => p.action === 'installed' || p.action === 'reused').flatMap((p) => p.dirs ?? []));
  const absentCwds = new Set(prepared.filter((p) => p.action === 'absent').map((p) => p.cwd));
  return units.filter((u) => !absentCwds.has(posix.normalize(u.install.cwd || '.'))).flatMap((u) => u.dirs)
    .filter((rel) => !installedHere.has(rel) && existsSync(join(wt.path, posix.dirname(rel))) && !existsSync(join(wt.path, rel)));
}

/** The checkout itself: in place, the kept worktree, or (when it is busy) a temporary one. */
async function openWorktree(repo: Repo, config: Pick<Config, 'install' | 'check'>, units: CheckoutInstall[], oid: string, inPlace: boolean): Promise<{ wt: BaselineCheckout; kept: KeptDeps | null }> {
  if (inPlace) {
    return { wt: { path: repo.root, kind: 'in-place', created: false, links: [], release: async () => null, releaseSync: () => undefined }, kept: null };
  }
  const path = keptWorktreePath(repo, config.check.worktree);
  const problem = config.check.worktree ? keptWorktreeProblem(repo, path) : null;
  if (problem) throw new Error(problem);
  const withDir = units.filter((u) => u.dirs.length);
  const blobs: KeptDeps['blobs'] = {};
  await Promise.all(withDir.map(async (u) => { blobs[u.key] = await lockfileBlobs(repo.root, withComparedFiles(u.install), oid); }));
  const kept: KeptDeps = { state: readKeptState(repo, path), blobs };
  const wt = await openKeptWorktree(repo, path, oid, withDir.flatMap((u) => u.dirs), reusableDirs(units, kept));
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
): Promise<CommitCheckout & { failure: InstallFailure | null; missing: string[] }> {
  const units = opts.inPlace ? [] : await checkoutInstalls(repo.root, config.install);
  const { wt, kept } = await openWorktree(repo, config, units, oid, opts.inPlace);
  opts.onOpen?.(wt);
  const prepared: PreparedInstall[] = [];
  if (opts.inPlace) {
    for (const i of config.install) if (i.dir) prepared.push({ cwd: posix.normalize(i.cwd || '.'), action: 'present', reason: `${installDirPath(i)} of the work tree` });
    return { wt, prepared, failure: null, missing: [] };
  }
  const failure = await prepareDependencies(repo, units, wt, oid, opts, prepared, kept);
  return { wt, prepared, failure, missing: failure ? [] : missingDependencyDirs(wt, units, prepared) };
}
