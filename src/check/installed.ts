/**
 * What a package manager recorded as installed, compared with what its lockfile says — the
 * content half of check 6 (dependencies.ts decides the verdict). One reader per manager:
 *
 *   pnpm         <dir>/.pnpm/lock.yaml, the "current lockfile" pnpm writes on every install (its
 *                place: virtualStoreDir in <dir>/.modules.yaml, which also says which dependency
 *                kinds were installed and which optional packages were skipped): the importers'
 *                dependencies and the set of package instances must equal pnpm-lock.yaml's
 *   yarn 1       <dir>/.yarn-integrity: `lockfileEntries` (pattern → resolved URL) must equal
 *                yarn.lock's entries
 *   yarn 2+      <dir>/.yarn-state.yml (the node-modules linker): its packages must be the
 *                `resolution`s of yarn.lock (platform-conditional ones may be absent)
 *   pip (venv)   what pip lists as installed in the venv (`<venv>/bin/python -m pip list
 *                --format=json`: what `pip freeze --all` lists, with the version also of packages
 *                installed from a file or URL, which freeze shows as `name @ url`) against
 *                requirements*.txt (following -r): a pinned
 *                requirement (==, ===) must be installed at that version, any other must be
 *                installed; one with an environment marker that is not installed is not counted
 *                (the marker may exclude this machine); installed packages that are not listed
 *                are not compared (requirements.txt usually lists the top level only)
 *
 * Each returns the comparison, or why there is nothing to compare (the manager recorded
 * nothing readable): the caller then falls back to modification times and says so.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCommand } from '../io/exec.js';

export interface InstalledComparison {
  /** entries compared (packages, patterns, requirements) */
  locked: number;
  /** "name (installed X, locked Y)" */
  differ: string[];
  /** in the lockfile, not installed */
  missing: string[];
  /** installed, not in the lockfile */
  extra: string[];
  /** what the lockfile was compared with, relative to the install's cwd (e.g. node_modules/.pnpm/lock.yaml) */
  against: string;
  /** what the comparison left out, for the reason line */
  notes: string[];
}

export type Compared = { cmp: InstalledComparison } | { nothing: string };

export type Manager = 'npm' | 'pnpm' | 'yarn' | 'pip';

/** The manager a lockfile belongs to, by its name. */
export function managerOf(lockfile: string): Manager | null {
  const b = posix.basename(lockfile);
  if (b === 'package-lock.json' || b === 'npm-shrinkwrap.json') return 'npm';
  if (b === 'pnpm-lock.yaml') return 'pnpm';
  if (b === 'yarn.lock') return 'yarn';
  if (/^requirements.*\.txt$/.test(b)) return 'pip';
  return null;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function readYaml(path: string): Record<string, any> | null {
  const text = readText(path);
  if (text === null) return null;
  try {
    const v = parseYaml(text, { uniqueKeys: false, maxAliasCount: -1 }) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, any>) : null;
  } catch {
    return null;
  }
}

const empty = (against: string): InstalledComparison => ({ locked: 0, differ: [], missing: [], extra: [], against, notes: [] });

// ---------------------------------------------------------------------------------------------
// pnpm

const KINDS = ['dependencies', 'devDependencies', 'optionalDependencies'] as const;

/** name → resolved version of one importer, for the kinds given (lockfile v5 single projects keep them at the top). */
function importerDeps(importer: Record<string, any> | undefined, kinds: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const kind of kinds) {
    for (const [name, v] of Object.entries((importer?.[kind] ?? {}) as Record<string, any>)) {
      out.set(`${kind === 'dependencies' ? '' : `${kind}: `}${name}`, String(v && typeof v === 'object' ? v.version : v));
    }
  }
  return out;
}

function importersOf(lock: Record<string, any>): Record<string, Record<string, any>> {
  if (lock.importers && typeof lock.importers === 'object') return lock.importers;
  return { '.': lock };
}

/** The package instances of a pnpm lockfile (v9: `snapshots`; before: `packages`), with whether each is optional. */
function instancesOf(lock: Record<string, any>): Map<string, boolean> {
  const src = (lock.snapshots ?? lock.packages ?? {}) as Record<string, any>;
  return new Map(Object.entries(src).map(([k, v]) => [k.replace(/^\//, ''), Boolean(v?.optional)]));
}

/** Compare pnpm-lock.yaml with pnpm's current lockfile. Pure. */
export function comparePnpmLockfiles(wanted: Record<string, any>, current: Record<string, any>, modules: Record<string, any> | null, against: string): InstalledComparison {
  const out = empty(against);
  const included = (modules?.included ?? {}) as Record<string, boolean>;
  const kinds = KINDS.filter((k) => included[k] !== false);
  if (kinds.length < KINDS.length) out.notes.push(`installed without ${KINDS.filter((k) => !kinds.includes(k)).join(', ')}`);
  const wImp = importersOf(wanted);
  const cImp = importersOf(current);
  for (const id of new Set([...Object.keys(wImp), ...Object.keys(cImp)])) {
    const w = importerDeps(wImp[id], kinds);
    const c = importerDeps(cImp[id], kinds);
    const where = id === '.' ? '' : `${id}: `;
    for (const [name, version] of w) {
      out.locked++;
      const got = c.get(name);
      if (got === undefined) out.missing.push(`${where}${name}`);
      else if (got !== version) out.differ.push(`${where}${name} (installed ${got}, locked ${version})`);
    }
    for (const name of c.keys()) if (!w.has(name)) out.extra.push(`${where}${name}`);
  }
  const skipped = new Set(((modules?.skipped ?? []) as string[]).map((s) => String(s).replace(/^\//, '')));
  const wp = instancesOf(wanted);
  const cp = instancesOf(current);
  for (const [key, optional] of wp) {
    out.locked++;
    // a dev-only package is absent from a --prod install: only the importers are compared then
    if (!cp.has(key) && !optional && !skipped.has(key) && kinds.length === KINDS.length) out.missing.push(key);
  }
  for (const key of cp.keys()) if (!wp.has(key)) out.extra.push(key);
  return out;
}

function readPnpm(dirAbs: string, dirRel: string, lockAbs: string): Compared {
  const modules = readYaml(join(dirAbs, '.modules.yaml'));
  const store = typeof modules?.virtualStoreDir === 'string' ? modules.virtualStoreDir : '.pnpm';
  const currentAbs = isAbsolute(store) ? join(store, 'lock.yaml') : join(dirAbs, store, 'lock.yaml');
  const against = posix.join(dirRel, isAbsolute(store) ? currentAbs : posix.join(store, 'lock.yaml'));
  const wanted = readYaml(lockAbs);
  if (!wanted) return { nothing: `${posix.basename(lockAbs)} could not be read as YAML` };
  const current = readYaml(currentAbs);
  if (!current) return { nothing: `pnpm recorded no ${against} (an install by another tool, or pnpm older than 7)` };
  return { cmp: comparePnpmLockfiles(wanted, current, modules, against) };
}

// ---------------------------------------------------------------------------------------------
// yarn

/** Is this yarn.lock yarn 2+ (YAML with __metadata) rather than yarn 1's own format? */
export function isBerryLock(text: string): boolean {
  return /^__metadata:/m.test(text);
}

/** yarn 1's yarn.lock: pattern → resolved ('' when an entry has none). */
export function parseYarnV1Lock(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let patterns: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    if (!/^\s/.test(line)) {
      // `"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":` or `left-pad@1.3.0:`
      patterns = line.replace(/:\s*$/, '').split(/,\s*/).map((p) => p.trim().replace(/^"(.*)"$/, '$1'));
      for (const p of patterns) out.set(p, '');
      continue;
    }
    const m = /^ {2}resolved\s+"?([^"]*)"?\s*$/.exec(line);
    if (m) for (const p of patterns) out.set(p, m[1]!);
  }
  return out;
}

/** Compare yarn 1's yarn.lock entries with `.yarn-integrity`'s lockfileEntries. Pure. */
export function compareYarnIntegrity(lock: Map<string, string>, entries: Record<string, string>, against: string): InstalledComparison {
  const out = empty(against);
  for (const [pattern, resolved] of lock) {
    out.locked++;
    if (!(pattern in entries)) out.missing.push(pattern);
    else if ((entries[pattern] ?? '') !== resolved) out.differ.push(`${pattern} (installed ${entries[pattern] || '?'}, locked ${resolved || '?'})`);
  }
  for (const pattern of Object.keys(entries)) if (!lock.has(pattern)) out.extra.push(pattern);
  return out;
}

/** Compare yarn 2+'s yarn.lock resolutions with the packages of `.yarn-state.yml`. Pure. */
export function compareYarnState(lock: Record<string, any>, state: Record<string, any>, against: string): InstalledComparison {
  const out = empty(against);
  const wanted = new Map<string, boolean>();
  for (const [key, v] of Object.entries(lock)) {
    if (key === '__metadata' || !v || typeof v !== 'object' || typeof v.resolution !== 'string') continue;
    wanted.set(v.resolution, Boolean(v.conditions));
  }
  const installed = new Set(Object.keys(state).filter((k) => k !== '__metadata'));
  let conditional = 0;
  for (const [resolution, conditionalOnly] of wanted) {
    out.locked++;
    if (installed.has(resolution)) continue;
    if (conditionalOnly) conditional++;
    else out.missing.push(resolution);
  }
  for (const key of installed) if (!wanted.has(key)) out.extra.push(key);
  if (conditional) out.notes.push(`${conditional} platform-specific package${conditional === 1 ? '' : 's'} not for this machine`);
  return out;
}

function readYarn(dirAbs: string, dirRel: string, lockAbs: string): Compared {
  const text = readText(lockAbs);
  if (text === null) return { nothing: 'yarn.lock could not be read' };
  if (isBerryLock(text)) {
    const against = posix.join(dirRel, '.yarn-state.yml');
    const state = readYaml(join(dirAbs, '.yarn-state.yml'));
    if (!state) return { nothing: `yarn recorded no ${against} (yarn 2+ writes it with the node-modules linker only)` };
    const lock = readYaml(lockAbs);
    if (!lock) return { nothing: 'yarn.lock could not be read as YAML' };
    return { cmp: compareYarnState(lock, state, against) };
  }
  const against = posix.join(dirRel, '.yarn-integrity');
  const integrity = readText(join(dirAbs, '.yarn-integrity'));
  let entries: Record<string, string> | null = null;
  try {
    const v = integrity ? (JSON.parse(integrity) as { lockfileEntries?: unknown }) : null;
    if (v && v.lockfileEntries && typeof v.lockfileEntries === 'object') entries = v.lockfileEntries as Record<string, string>;
  } catch { /* not JSON */ }
  if (!entries) return { nothing: `yarn recorded no readable ${against}` };
  return { cmp: compareYarnIntegrity(parseYarnV1Lock(text), entries, against) };
}

// ---------------------------------------------------------------------------------------------
// pip in a virtual environment

/** PEP 503 name normalisation. */
export const normalizePyName = (n: string) => n.trim().toLowerCase().replace(/[-_.]+/g, '-');

export interface Requirement {
  name: string;
  /** the pinned version (== or ===), or null */
  pinned: string | null;
  /** the line as written, for messages */
  text: string;
  /** it has an environment marker (`; python_version < "3.8"`) */
  marker: boolean;
}

/** Parse requirements files (following -r / --requirement); editable and option lines are left out. */
export function parseRequirements(path: string, seen = new Set<string>()): { reqs: Requirement[]; skipped: number } {
  const out: { reqs: Requirement[]; skipped: number } = { reqs: [], skipped: 0 };
  if (seen.has(path)) return out;
  seen.add(path);
  const text = readText(path) ?? '';
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line) continue;
    const inc = /^(?:-r|--requirement)[=\s]+(\S+)/.exec(line);
    if (inc) {
      const sub = parseRequirements(join(dirname(path), inc[1]!), seen);
      out.reqs.push(...sub.reqs);
      out.skipped += sub.skipped;
      continue;
    }
    if (line.startsWith('-')) {
      if (/^(-e|--editable)\b/.test(line)) out.skipped++;
      continue;
    }
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$/.exec(line);
    if (!m) {
      out.skipped++;
      continue;
    }
    const [spec, marker] = m[3]!.split(';');
    const pin = /^(?:===?)\s*([^\s,;]+)\s*$/.exec((spec ?? '').trim());
    out.reqs.push({ name: normalizePyName(m[1]!), pinned: pin ? pin[1]! : null, text: line, marker: marker !== undefined && marker.trim() !== '' });
  }
  return out;
}

/** `pip list --format=json` (or, as a fallback, `pip freeze`) output → normalised name → version (null when freeze shows only a URL). */
export function parseFreeze(text: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  try {
    const list = JSON.parse(text) as unknown;
    if (Array.isArray(list)) {
      for (const p of list as { name?: unknown; version?: unknown }[]) {
        if (typeof p?.name === 'string') out.set(normalizePyName(p.name), typeof p.version === 'string' ? p.version : null);
      }
      return out;
    }
  } catch { /* freeze's text format */ }
  for (const line of text.split('\n').map((l) => l.trim())) {
    let m = /^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$/.exec(line);
    if (m) {
      out.set(normalizePyName(m[1]!), m[2]!);
      continue;
    }
    m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*\S+/.exec(line) ?? /#egg=([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line);
    if (m) out.set(normalizePyName(m[1]!), null);
  }
  return out;
}

/** Compare requirements with what pip froze. Pure. */
export function comparePip(reqs: Requirement[], skipped: number, frozen: Map<string, string | null>, against: string): InstalledComparison {
  const out = empty(against);
  let unpinned = 0;
  let markerOnly = 0;
  for (const r of reqs) {
    out.locked++;
    const got = frozen.get(r.name);
    if (got === undefined) {
      if (r.marker) markerOnly++;
      else out.missing.push(r.name);
      continue;
    }
    if (r.pinned === null) unpinned++;
    else if (got !== null && normalizeVersion(got) !== normalizeVersion(r.pinned) && !r.pinned.includes('*')) out.differ.push(`${r.name} (installed ${got}, locked ${r.pinned})`);
  }
  if (unpinned) out.notes.push(`${unpinned} not pinned with == (checked as installed, versions not compared)`);
  if (markerOnly) out.notes.push(`${markerOnly} with an environment marker, not installed here`);
  if (skipped) out.notes.push(`${skipped} editable or unreadable line${skipped === 1 ? '' : 's'} not compared`);
  return out;
}

/** "1.0" and "1.0.0" are the same release for pip. */
function normalizeVersion(v: string): string {
  return v.trim().toLowerCase().replace(/^v/, '').replace(/(\.0+)+$/, '');
}

/** The venv's python, or null when dirAbs is not a virtual environment. */
function venvPython(dirAbs: string): string | null {
  if (!existsSync(join(dirAbs, 'pyvenv.cfg'))) return null;
  for (const p of [join(dirAbs, 'bin', 'python'), join(dirAbs, 'Scripts', 'python.exe')]) if (existsSync(p)) return p;
  return null;
}

async function readPip(cwdAbs: string, dirAbs: string, dirRel: string, lockAbs: string): Promise<Compared> {
  const python = venvPython(dirAbs);
  if (!python) return { nothing: `${dirRel} is not a virtual environment (no pyvenv.cfg and python in it)` };
  const r = await runCommand([python, '-m', 'pip', 'list', '--format=json', '--disable-pip-version-check'], { cwd: cwdAbs, timeoutMs: 60_000, env: { PIP_NO_INPUT: '1', PYTHONDONTWRITEBYTECODE: '1' } });
  if (r.exitCode !== 0) return { nothing: `\`${dirRel}/bin/python -m pip list\` failed (${r.failedToStart ?? (r.timedOut ? 'timed out' : `exit ${r.exitCode}`)}: ${r.stderr.trim().split('\n').pop() ?? ''})` };
  const { reqs, skipped } = parseRequirements(lockAbs);
  return { cmp: comparePip(reqs, skipped, parseFreeze(r.stdout), `pip's list of ${dirRel}`) };
}

// ---------------------------------------------------------------------------------------------

/**
 * Compare the lockfile with what the manager recorded in the dependency dir (npm is
 * dependencies.ts's own). Paths: the install's cwd, its dependency dir (absolute and relative to
 * the cwd, as messages show it) and the lockfile.
 */
export async function compareInstalled(manager: Exclude<Manager, 'npm'>, cwdAbs: string, dirAbs: string, dirRel: string, lockAbs: string): Promise<Compared> {
  switch (manager) {
    case 'pnpm': return readPnpm(dirAbs, dirRel, lockAbs);
    case 'yarn': return readYarn(dirAbs, dirRel, lockAbs);
    case 'pip': return readPip(cwdAbs, dirAbs, dirRel, lockAbs);
  }
}
