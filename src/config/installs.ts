/**
 * Which install fills a project folder's dependencies: one home for "this lockfile means this
 * command", shared by `rb init` (what it proposes for rb.config.yaml) and by the dependency dirs
 * nobody configured (steps/dependency-dirs.ts: the command a clean names when it removes one,
 * the install `rb check` runs in its worktree). The two must agree, or the command rb names
 * would not bring back what it removed.
 *
 * Read-only, synchronous and light (no fs-extra: the rollback paths load this).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../io/git.js';

/** A package manager's install for one folder. */
export interface ProposedInstall {
  /** npm, pnpm, yarn, bun; uv, poetry, pipenv, pdm, pip */
  manager: string;
  /** the program the command runs (looked up on PATH by rb init) */
  tool: string;
  command: string;
  /** the files whose change makes the installed folder stale ([] when there is no lockfile) */
  lockfiles: string[];
  /** the folder the install fills, relative to the project folder, or null (outside the project) */
  dir: string | null;
}

const isFile = (p: string) => {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
};

/** Node lockfiles, in the order rb prefers them when package.json names no package manager. */
export const NODE_LOCKFILES: readonly string[] = ['package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lock', 'bun.lockb'];

const nodeManagerOf = (lockfile: string) => (lockfile.startsWith('pnpm') ? 'pnpm' : lockfile === 'yarn.lock' ? 'yarn' : lockfile.startsWith('bun') ? 'bun' : 'npm');

/** package.json's "packageManager" ("pnpm@9.1.0"), or "" when absent or unreadable. */
function declaredPackageManager(folder: string): string {
  try {
    const v = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { packageManager?: unknown };
    return typeof v?.packageManager === 'string' ? v.packageManager : '';
  } catch {
    return '';
  }
}

/**
 * The install of the Node project in `folder` (absolute), whose repository root is `root`:
 * the manager package.json's "packageManager" names when its lockfile is there, else the first
 * lockfile's (NODE_LOCKFILES order), else the declared manager, else npm; frozen when there is a
 * lockfile. Yarn berry (`--immutable`) is told by a .yarnrc.yml in the folder or at the root, or
 * a declared yarn 2 or later. `packageManager` may be given when the caller read package.json.
 */
export function nodeInstall(root: string, folder: string, packageManager: string = declaredPackageManager(folder)): ProposedInstall {
  const locks = NODE_LOCKFILES.filter((f) => isFile(join(folder, f)));
  const [declName, declVersion] = packageManager.split('@') as [string, string | undefined];
  const manager = locks.some((f) => nodeManagerOf(f) === declName) ? declName
    : locks[0] ? nodeManagerOf(locks[0])
      : ['pnpm', 'yarn', 'bun'].includes(declName) ? declName : 'npm';
  const lockfiles = locks.filter((f) => nodeManagerOf(f) === manager);
  const frozen = lockfiles.length > 0;
  const berry = manager === 'yarn' && (isFile(join(folder, '.yarnrc.yml')) || isFile(join(root, '.yarnrc.yml')) || Number((declVersion ?? '').split('.')[0]) >= 2);
  const command = {
    npm: frozen ? 'npm ci' : 'npm install',
    pnpm: frozen ? 'pnpm install --frozen-lockfile' : 'pnpm install',
    yarn: frozen ? (berry ? 'yarn install --immutable' : 'yarn install --frozen-lockfile') : 'yarn install',
    bun: frozen ? 'bun install --frozen-lockfile' : 'bun install',
  }[manager as 'npm' | 'pnpm' | 'yarn' | 'bun'];
  return { manager, tool: manager, command, lockfiles, dir: 'node_modules' };
}

/** Does `folder` hold a Node lockfile? */
export function hasNodeLockfile(folder: string): boolean {
  return NODE_LOCKFILES.some((f) => isFile(join(folder, f)));
}

/** requirements*.txt in a folder, requirements.txt first. */
export function requirementFiles(abs: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(abs).filter((f) => /^requirements[\w.-]*\.txt$/.test(f) && isFile(join(abs, f)));
  } catch {
    /* unreadable */
  }
  return names.sort((a, b) => (a === 'requirements.txt' ? -1 : b === 'requirements.txt' ? 1 : a.localeCompare(b)));
}

/**
 * The install of the Python project in `abs` that fills the environment folder `env` (".venv",
 * "venv", "__pypackages__"; null: the project has none, the tool keeps its environment elsewhere
 * or pip installs into the python3 on PATH), by the first of: uv.lock, poetry.lock, Pipfile.lock,
 * pdm.lock (and an __pypackages__ folder), requirements*.txt, a pyproject.toml alone (poetry when
 * it says [tool.poetry], else pip installing the project itself). Null when none is there.
 *
 * A .venv inside the project only comes back when the tool is told to put it there
 * (POETRY_VIRTUALENVS_IN_PROJECT, PIPENV_VENV_IN_PROJECT, UV_PROJECT_ENVIRONMENT for a name other
 * than uv's own .venv).
 */
export function pythonInstall(abs: string, env: string | null): ProposedInstall | null {
  const make = (manager: string, tool: string, command: string, lockfiles: string[], dir: string | null = env): ProposedInstall => ({ manager, tool, command, lockfiles, dir });
  const pdm = () => make('pdm', 'pdm', 'pdm install', isFile(join(abs, 'pdm.lock')) ? ['pdm.lock'] : []);
  if (env === '__pypackages__') return pdm();
  if (isFile(join(abs, 'uv.lock'))) {
    const dir = env ?? '.venv';
    return make('uv', 'uv', dir === '.venv' ? 'uv sync --frozen' : `UV_PROJECT_ENVIRONMENT=${shellQuote(dir)} uv sync --frozen`, ['uv.lock'], dir);
  }
  if (isFile(join(abs, 'poetry.lock'))) {
    return make('poetry', 'poetry', env === '.venv' ? 'POETRY_VIRTUALENVS_IN_PROJECT=true poetry install' : 'poetry install', ['poetry.lock'], env === '.venv' ? '.venv' : null);
  }
  if (isFile(join(abs, 'Pipfile.lock'))) {
    return make('pipenv', 'pipenv', env === '.venv' ? 'PIPENV_VENV_IN_PROJECT=1 pipenv sync' : 'pipenv sync', ['Pipfile.lock'], env === '.venv' ? '.venv' : null);
  }
  if (isFile(join(abs, 'pdm.lock'))) return pdm();
  const requirements = requirementFiles(abs);
  const pyproject = isFile(join(abs, 'pyproject.toml'));
  if (!requirements.length && !pyproject && !env) return null;
  if (!requirements.length && pyproject && /^\[tool\.poetry\]/m.test(readText(join(abs, 'pyproject.toml')))) {
    return make('poetry', 'poetry', env === '.venv' ? 'POETRY_VIRTUALENVS_IN_PROJECT=true poetry install' : 'poetry install', ['pyproject.toml'], env === '.venv' ? '.venv' : null);
  }
  // pip: the requirements files, or the project itself; into the project's environment when it has one
  const what = requirements.length ? requirements.map((f) => `-r ${shellQuote(f)}`).join(' ') : '-e .';
  const lockfiles = requirements.length ? requirements : pyproject ? ['pyproject.toml'] : [];
  if (env) return make('pip', 'python3', `python3 -m venv ${shellQuote(env)} && ${shellQuote(env)}/bin/python -m pip install ${what}`, lockfiles);
  return make('pip', 'python3', `python3 -m pip install ${what}`, lockfiles, null);
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
