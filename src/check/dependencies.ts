/**
 * Check 6: the installed dependencies match the lockfiles, for every configured install
 * (config `install`; by default detected from package-lock.json, pnpm-lock.yaml or yarn.lock).
 *
 * How it decides, per install:
 * - no dependency dir configured (`dir: null`) or no lockfiles: warn, nothing to compare;
 * - the dependency dir is missing: fail, "run <install command>" — except for an npm lockfile
 *   that locks no packages at all (npm creates no node_modules then): pass;
 * - by content, comparing what the lockfile says with what the manager recorded as installed;
 *   any difference fails:
 *   - npm (package-lock.json / npm-shrinkwrap.json, lockfileVersion 2 or 3): npm 7+ writes
 *     `node_modules/.package-lock.json` (the "hidden lockfile") describing what it installed.
 *     Every package under node_modules/ in the lockfile must be there with the same version (or,
 *     for links and non-registry packages, the same `resolved`); optional packages may be absent
 *     (other platforms); a package installed but not in the lockfile is a mismatch too. The
 *     installed version is read from each package's own package.json (the hidden lockfile only
 *     for links and folders without one): npm rewrites the hidden lockfile on
 *     `npm install --package-lock-only` without installing anything (compareNpmInstalled). No
 *     hidden lockfile (npm 6, or installed by another tool): warn;
 *   - pnpm, yarn 1, yarn 2+ (node-modules linker) and pip in a virtual environment against
 *     requirements*.txt: installed.ts, each with what that manager records;
 * - where the manager records nothing rb can read (yarn's Plug'n'Play, a custom install, a
 *   lockfile rb has no reader for): by modification time, a heuristic and so at most a warning,
 *   and the reason line says so and why: the install's marker file (`node_modules/.modules.yaml`
 *   for pnpm, `.yarn-integrity` / `.yarn-state.yml` for yarn, `.pnp.cjs`, else the directory
 *   itself) must be at least as new as each lockfile. Timestamps are never used where content
 *   can be compared: a checkout sets them arbitrarily.
 */
import { existsSync, statSync } from 'node:fs';
import fse from 'fs-extra';
import { join, posix } from 'node:path';
import { displayArgv } from '../io/git.js';
import type { Repo } from '../repo.js';
import type { Command, InstallConfig } from '../types.js';
import type { CheckResult, CheckStatus } from './types.js';
import { comparedFiles } from '../steps/dependency-dirs.js';
import { compareInstalled, isBerryLock, managerOf, type InstalledComparison } from './installed.js';

const TITLE = 'Dependencies match lockfiles';
const NPM_LOCKFILES = new Set(['package-lock.json', 'npm-shrinkwrap.json']);
const MARKERS = ['.modules.yaml', '.yarn-integrity', '.yarn-state.yml', '.package-lock.json'];

export function commandText(c: Command): string {
  return typeof c === 'string' ? c : displayArgv(c);
}

/** How to run an install, for a "next:" line: `npm ci`, or `(cd web && npm ci)`. */
export function installHint(install: Pick<InstallConfig, 'command' | 'cwd'>): string {
  const cmd = commandText(install.command);
  return install.cwd && posix.normalize(install.cwd) !== '.' ? `(cd ${install.cwd} && ${cmd})` : cmd;
}

interface LockPackage { version?: string; resolved?: string; link?: boolean; optional?: boolean; devOptional?: boolean; inBundle?: boolean }
interface NpmLock { lockfileVersion?: number; packages?: Record<string, LockPackage> }

export interface NpmComparison {
  /** packages under node_modules/ in the lockfile */
  locked: number;
  /** "name (installed X, locked Y)" */
  differ: string[];
  /** in the lockfile, not installed (optional packages excepted) */
  missing: string[];
  /** installed, not in the lockfile */
  extra: string[];
}

const nameOf = (key: string) => key.replace(/^.*node_modules\//, '');
const versionOf = (p: LockPackage | undefined) => p?.version ?? p?.resolved ?? '';

/**
 * Compare an npm lockfile with the hidden lockfile npm wrote into node_modules. Pure.
 * @returns null when the lockfile has no `packages` map (lockfileVersion 1): nothing to compare
 */
export function compareNpmLockfiles(lock: NpmLock, hidden: NpmLock, dir = 'node_modules'): NpmComparison | null {
  if (!lock.packages || typeof lock.packages !== 'object') return null;
  const prefix = `${posix.normalize(dir).replace(/\/+$/, '')}/`;
  const installed = hidden.packages ?? {};
  const out: NpmComparison = { locked: 0, differ: [], missing: [], extra: [] };
  for (const [key, lp] of Object.entries(lock.packages)) {
    if (!key.startsWith(prefix)) continue;
    out.locked++;
    const hp = installed[key];
    if (!hp) {
      if (!lp.optional && !lp.devOptional && !lp.inBundle) out.missing.push(nameOf(key));
    } else if (versionOf(hp) !== versionOf(lp)) {
      out.differ.push(`${nameOf(key)} (installed ${versionOf(hp) || '?'}, locked ${versionOf(lp) || '?'})`);
    }
  }
  for (const key of Object.keys(installed)) {
    if (key.startsWith(prefix) && !(key in lock.packages)) out.extra.push(nameOf(key));
  }
  return out;
}

/**
 * Compare an npm lockfile with what is installed: the files decide, the hidden lockfile fills in
 * what they cannot say. For each locked package: the version its installed package.json gives
 * (absent folder: missing, unless optional); a link, or a folder without a readable version, is
 * compared as the hidden lockfile records it. Installed but not locked: the hidden lockfile's
 * other entries whose folder exists. null for a lockfile without a `packages` map.
 */
export function compareNpmInstalled(lock: NpmLock, hidden: NpmLock, cwdAbs: string, dir = 'node_modules'): NpmComparison | null {
  const byHidden = compareNpmLockfiles(lock, hidden, dir);
  if (!byHidden) return null;
  const prefix = `${posix.normalize(dir).replace(/\/+$/, '')}/`;
  const installed = hidden.packages ?? {};
  const out: NpmComparison = { locked: byHidden.locked, differ: [], missing: [], extra: [] };
  for (const [key, lp] of Object.entries(lock.packages ?? {})) {
    if (!key.startsWith(prefix)) continue;
    const optional = lp.optional || lp.devOptional || lp.inBundle;
    if (!existsSync(join(cwdAbs, key))) {
      if (!optional) out.missing.push(nameOf(key));
      continue;
    }
    const own = lp.link ? undefined : (readJson(join(cwdAbs, key, 'package.json')) as { version?: unknown } | null)?.version;
    const have = typeof own === 'string' ? own : versionOf(installed[key]);
    if (have !== versionOf(lp)) out.differ.push(`${nameOf(key)} (installed ${have || '?'}, locked ${versionOf(lp) || '?'})`);
  }
  for (const key of Object.keys(installed)) {
    if (key.startsWith(prefix) && !(key in (lock.packages ?? {})) && existsSync(join(cwdAbs, key))) out.extra.push(nameOf(key));
  }
  return out;
}

/** A JSON file (a lockfile, a package.json); null when it is missing, unreadable or not an object. */
function readJson(path: string): NpmLock | null {
  const v = fse.readJsonSync(path, { throws: false }) as unknown;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as NpmLock) : null;
}

const list = (xs: string[], n = 5) => `${xs.slice(0, n).join(', ')}${xs.length > n ? ` and ${xs.length - n} more` : ''}`;

interface Verdict { status: CheckStatus; text: string; next?: string; data: Record<string, unknown> }

/** "N differ: …; N missing: …; N not in the lockfile: …" — empty when nothing differs. */
function differences(cmp: Pick<InstalledComparison, 'differ' | 'missing' | 'extra'>): string[] {
  return [
    cmp.differ.length ? `${cmp.differ.length} differ: ${list(cmp.differ)}` : '',
    cmp.missing.length ? `${cmp.missing.length} missing: ${list(cmp.missing)}` : '',
    cmp.extra.length ? `${cmp.extra.length} not in the lockfile: ${list(cmp.extra)}` : '',
  ].filter(Boolean);
}

/** The verdict for one install entry. */
export async function checkInstall(root: string, install: InstallConfig): Promise<Verdict> {
  const cwd = install.cwd || '.';
  const at = (p: string) => posix.normalize(posix.join(cwd, p));
  const hint = installHint(install);
  const data: Record<string, unknown> = { cwd, command: commandText(install.command), dir: install.dir ? at(install.dir) : null, lockfiles: install.lockfiles.map(at) };
  if (!install.dir) return { status: 'warn', text: `${hint}: no dependency dir configured (install[].dir), nothing to compare`, data };
  if (!install.lockfiles.length) {
    // a project without a lockfile (package-lock=false): nothing pins the versions
    const manifest = comparedFiles(install);
    if (manifest.files.length) return { status: 'warn', text: `${hint}: there is no lockfile (only ${at(manifest.files[0]!)}): the installed versions cannot be compared with anything`, data: { ...data, noLockfile: true } };
    return { status: 'warn', text: `${hint}: no lockfiles configured (install[].lockfiles), nothing to compare`, data };
  }
  const dirRel = at(install.dir);
  const dirAbs = join(root, dirRel);
  const present = install.lockfiles.filter((lf) => existsSync(join(root, at(lf))));
  if (!present.length) return { status: 'warn', text: `${install.lockfiles.map(at).join(', ')} not found: nothing to compare`, next: `run ${hint} to create it`, data };

  const npmLock = present.find((lf) => NPM_LOCKFILES.has(posix.basename(lf)));
  const lock = npmLock ? readJson(join(root, at(npmLock))) : null;
  const other = npmLock ? undefined : present.find((lf) => managerOf(lf) !== null);
  const pnp = other && managerOf(other) === 'yarn' && existsSync(join(root, at('.pnp.cjs'))) ? at('.pnp.cjs') : null;
  if (!existsSync(dirAbs)) {
    if (lock?.packages && !Object.keys(lock.packages).some((k) => k !== '')) {
      return { status: 'pass', text: `${at(npmLock!)} locks no packages (npm creates no ${dirRel})`, data: { ...data, method: 'npm-content', locked: 0 } };
    }
    // yarn's Plug'n'Play installs no node_modules at all: only its .pnp.cjs can be dated
    if (!pnp) return { status: 'fail', text: `${dirRel} is missing`, next: `run ${hint}`, data };
  }

  let why: string;
  if (npmLock) {
    const hidden = readJson(join(dirAbs, '.package-lock.json'));
    if (!lock) return { status: 'warn', text: `${at(npmLock)} is not valid JSON`, next: `fix it, then run ${hint}`, data };
    if (!hidden) {
      return { status: 'warn', text: `${dirRel}/.package-lock.json not found (installed by npm 6 or another tool): cannot compare with ${at(npmLock)}`, next: `run ${hint} to be sure`, data };
    }
    // the hidden lockfile is npm's belief, not the files: `npm install --package-lock-only`
    // rewrites it without installing anything, so each package's own package.json decides
    const cmp = compareNpmInstalled(lock, hidden, join(root, cwd), install.dir);
    if (cmp) {
      const d = { ...data, method: 'npm-content', ...cmp };
      const parts = differences(cmp);
      if (parts.length) return { status: 'fail', text: `${dirRel} does not match ${at(npmLock)}: ${parts.join('; ')}`, next: `run ${hint}`, data: d };
      return { status: 'pass', text: `${dirRel} matches ${at(npmLock)} (${cmp.locked} package${cmp.locked === 1 ? '' : 's'}, compared by content)`, data: d };
    }
    why = `${at(npmLock)} is lockfileVersion 1, which lists no installed tree to compare`;
  } else if (other && !pnp) {
    const manager = managerOf(other)!;
    const r = await compareInstalled(manager as Exclude<typeof manager, 'npm'>, join(root, cwd), dirAbs, dirRel, join(root, at(other)));
    if ('cmp' in r) {
      const { cmp } = r;
      const d = { ...data, method: `${manager}-content`, against: cmp.against, locked: cmp.locked, differ: cmp.differ, missing: cmp.missing, extra: cmp.extra, notes: cmp.notes };
      const parts = differences(cmp);
      const notes = cmp.notes.length ? `; ${cmp.notes.join('; ')}` : '';
      if (parts.length) return { status: 'fail', text: `${dirRel} does not match ${at(other)} (compared with ${cmp.against}): ${parts.join('; ')}${notes}`, next: `run ${hint}`, data: d };
      return { status: 'pass', text: `${dirRel} matches ${at(other)} (${cmp.locked} entr${cmp.locked === 1 ? 'y' : 'ies'} compared by content with ${cmp.against}${notes})`, data: d };
    }
    why = r.nothing;
  } else {
    why = pnp ? `yarn's Plug'n'Play records nothing rb can read (${pnp})` : `rb reads no installed record for ${present.map(at).join(', ')}`;
  }
  return byModificationTime(root, present.map(at), pnp ?? dirRel, hint, why, data);
}

/**
 * The fallback where nothing can be compared by content: the marker file (in the dependency dir,
 * else `base` itself: the dir, or yarn's .pnp.cjs) against the lockfiles' times; at most a warning.
 */
function byModificationTime(root: string, lockfiles: string[], base: string, hint: string, why: string, data: Record<string, unknown>): Verdict {
  const markerRel = MARKERS.map((m) => posix.join(base, m)).find((p) => existsSync(join(root, p))) ?? base;
  const markerTime = statSync(join(root, markerRel)).mtimeMs;
  const newer = lockfiles.filter((lf) => statSync(join(root, lf)).mtimeMs > markerTime);
  const d = { ...data, method: 'mtime', marker: markerRel, why };
  const only = `by modification time only: ${why}`;
  if (newer.length) {
    return { status: 'warn', text: `${newer.join(', ')} ${newer.length === 1 ? 'is' : 'are'} newer than ${markerRel}: the dependencies may be out of date (${only})`, next: `run ${hint}`, data: d };
  }
  return { status: 'pass', text: `${markerRel} is at least as new as ${lockfiles.join(', ')} (${only})`, data: d };
}

export async function checkDependencies(repo: Repo, installs: InstallConfig[]): Promise<CheckResult> {
  if (!installs.length) {
    return { id: 'dependencies', title: TITLE, status: 'pass', reason: 'no installs configured (no lockfile found and no install in rb.config.yaml): nothing to compare', data: { installs: [] } };
  }
  const verdicts = await Promise.all(installs.map((i) => checkInstall(repo.root, i)));
  const status: CheckStatus = verdicts.some((v) => v.status === 'fail') ? 'fail' : verdicts.some((v) => v.status === 'warn') ? 'warn' : 'pass';
  const shown = status === 'pass' ? verdicts : verdicts.filter((v) => v.status !== 'pass');
  const next = [...new Set(verdicts.filter((v) => v.status !== 'pass' && v.next).map((v) => v.next!))].join('; ');
  return {
    id: 'dependencies', title: TITLE, status,
    reason: shown.map((v) => v.text).join('; '),
    next: next || undefined,
    details: verdicts.length > 1 ? verdicts.map((v) => `${v.status}: ${v.text}`) : undefined,
    data: { installs: verdicts.map((v) => ({ status: v.status, reason: v.text, ...v.data })) },
  };
}
