/**
 * The dependency dirs of a working copy: every folder a package manager fills from lockfiles,
 * configured or not (issue 24) — node_modules at the root and in each workspace package, a
 * Python virtualenv (.venv/, venv/: a folder with pyvenv.cfg), pdm's __pypackages__/.
 *
 * Each comes with the install that makes it: the configured install entry whose folder holds it
 * (its command and lockfiles; a workspace's node_modules belong to the install at the workspace
 * root), or else the one `rb init` proposes for its folder (config/installs.ts: uv sync, npm ci,
 * python3 -m venv … && pip install …). A clean keeps each one while those lockfiles are unchanged
 * and names the command that recreates one it removes; `rb check` links or installs each in its
 * worktree. Without any lockfile the manifest stands in for it (package.json, pyproject.toml):
 * see {@link comparedFiles}.
 *
 * Found from git's own list of ignored directories (`ls-files -o -i --directory`, which stops at
 * each ignored folder, so a large node_modules costs nothing), plus the configured dirs.
 */
import { lstatSync } from 'node:fs';
import { join, posix } from 'node:path';
import { git, shellQuote } from '../io/git.js';
import { hasNodeLockfile, nodeInstall, pythonInstall } from '../config/installs.js';
import { DEPENDENCY_DIR_NAMES } from '../config/defaults.js';
import type { InstallConfig } from '../types.js';

export interface DependencyDir {
  /** repository-relative, e.g. "packages/a/node_modules" */
  path: string;
  /** the install that makes it; its `dir` is `path` relative to its `cwd` */
  install: InstallConfig;
  /** the install is an entry of rb.config.yaml (or the one detected from package.json's lockfile) */
  configured: boolean;
}

const isFile = (p: string) => {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
};

const norm = (p: string) => posix.normalize(p || '.').replace(/\/+$/, '') || '.';
const joinRel = (a: string, b: string) => norm(a === '.' ? b : `${a}/${b}`);

/** An install's dependency dir relative to the repository root ("frontend/node_modules"), or null. */
export function installDir(inst: Pick<InstallConfig, 'cwd' | 'dir'>): string | null {
  return inst.dir ? joinRel(norm(inst.cwd), inst.dir) : null;
}

/** The folders from `dir` up to the root: "packages/a", "packages", ".". */
function upFrom(dir: string): string[] {
  const out: string[] = [];
  for (let d = norm(dir); ; d = posix.dirname(d)) {
    out.push(d);
    if (d === '.' || d === '/') return out;
  }
}

/** The install a node_modules at `path` belongs to: the configured one at its workspace root, or the lockfile's own. */
function nodeInstallOf(root: string, path: string, installs: readonly InstallConfig[]): { install: InstallConfig; configured: boolean } {
  const parent = posix.dirname(path);
  for (const d of upFrom(parent)) {
    const conf = installs.find((i) => norm(i.cwd) === d && i.dir && posix.basename(i.dir) === 'node_modules');
    if (conf) return { install: { ...conf, dir: posix.relative(d, path) || 'node_modules' }, configured: true };
    if (hasNodeLockfile(join(root, d))) {
      const p = nodeInstall(root, join(root, d));
      return { install: { command: p.command, cwd: d, lockfiles: p.lockfiles, dir: posix.relative(d, path) }, configured: false };
    }
  }
  // no lockfile anywhere above: the install package.json next to it names (npm install by default)
  const p = nodeInstall(root, join(root, parent));
  return { install: { command: p.command, cwd: parent, lockfiles: [], dir: 'node_modules' }, configured: false };
}

/** The install a Python environment at `path` (a venv, or __pypackages__) belongs to. */
function pythonInstallOf(root: string, path: string, installs: readonly InstallConfig[]): { install: InstallConfig; configured: boolean } {
  const conf = installs.find((i) => installDir(i) === path);
  if (conf) return { install: conf, configured: true };
  const parent = posix.dirname(path);
  const name = posix.basename(path);
  // (never null: an environment folder is given)
  const p = pythonInstall(join(root, parent), name)!;
  return { install: { command: p.command, cwd: parent, lockfiles: p.lockfiles, dir: p.dir ?? name }, configured: false };
}

/** Is this ignored folder a dependency dir by its name (and, for a virtualenv, its pyvenv.cfg)? */
function isDependencyDir(root: string, path: string): boolean {
  const name = posix.basename(path);
  if (!DEPENDENCY_DIR_NAMES.includes(name)) return false;
  if (name === '.venv' || name === 'venv') return isFile(join(root, path, 'pyvenv.cfg'));
  return true;
}

/**
 * Every dependency dir of the working copy at `root`: the configured installs' dirs (present or
 * not) and every ignored folder that is one, each with its install. Sorted by path.
 */
export async function dependencyDirs(root: string, installs: readonly InstallConfig[]): Promise<DependencyDir[]> {
  const out = new Map<string, DependencyDir>();
  for (const i of installs) {
    const path = installDir(i);
    if (path && !out.has(path)) out.set(path, { path, install: i, configured: true });
  }
  const r = await git(['ls-files', '-z', '-o', '-i', '--directory', '--exclude-standard'], { cwd: root, readOnly: true, allowFail: true });
  const ignoredDirs = r.code === 0 ? r.stdout.split('\0').filter((p) => p.endsWith('/')).map((p) => p.slice(0, -1)) : [];
  for (const path of ignoredDirs) {
    if (out.has(path) || !isDependencyDir(root, path)) continue;
    const found = posix.basename(path) === 'node_modules' ? nodeInstallOf(root, path, installs) : pythonInstallOf(root, path, installs);
    out.set(path, { path, ...found });
  }
  return [...out.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * The files whose change makes an install's dependency dir stale: its lockfiles, or when it has
 * none, its manifest (package.json for node_modules; pyproject.toml, setup.py or setup.cfg for a
 * Python environment), with `noLockfile` set so messages can say so.
 */
export function comparedFiles(install: Pick<InstallConfig, 'cwd' | 'lockfiles' | 'dir' | 'command'>): { files: string[]; noLockfile: boolean } {
  if (install.lockfiles.length) return { files: install.lockfiles, noLockfile: false };
  const command = typeof install.command === 'string' ? install.command : install.command.join(' ');
  const node = (install.dir && posix.basename(install.dir) === 'node_modules') || /^(npm|pnpm|yarn|bun)\b/.test(command);
  if (node) return { files: ['package.json'], noLockfile: true };
  if (install.dir) return { files: ['pyproject.toml', 'setup.py', 'setup.cfg'], noLockfile: true };
  return { files: [], noLockfile: true };
}

/** The install with its compared files as its lockfiles (what every comparison of lockfiles uses). */
export function withComparedFiles<T extends Pick<InstallConfig, 'cwd' | 'lockfiles' | 'dir' | 'command'>>(install: T): T {
  return { ...install, lockfiles: comparedFiles(install).files };
}

/**
 * How messages name what an install's dir depends on: "pnpm-lock.yaml", or "package.json (no
 * lockfile)". Paths relative to the repository root when the install is in a sub-folder.
 */
export function lockWords(install: Pick<InstallConfig, 'cwd' | 'lockfiles' | 'dir' | 'command'>, opts: { fromRoot?: boolean } = {}): string {
  const { files, noLockfile } = comparedFiles(install);
  const shown = (noLockfile ? files.slice(0, 1) : files).map((f) => (opts.fromRoot ? joinRel(norm(install.cwd), f) : f));
  if (!shown.length) return 'no lockfile';
  return noLockfile ? `${shown.join(', ')} (no lockfile)` : shown.join(', ');
}

/** The line that recreates a dependency dir: `pnpm install --frozen-lockfile`, or `(cd backend && uv sync --frozen)`. */
export function recreateCommand(install: Pick<InstallConfig, 'cwd' | 'command'>): string {
  const c = typeof install.command === 'string' ? install.command : install.command.map((a) => shellQuote(a)).join(' ');
  const cwd = norm(install.cwd);
  return cwd === '.' ? c : `(cd ${shellQuote(cwd)} && ${c})`;
}
