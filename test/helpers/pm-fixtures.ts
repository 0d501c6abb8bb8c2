/**
 * Real installs by real package managers, for the dependency check's tests: npm (the one running
 * the suite), pnpm, yarn 1 and yarn 4 (installed from the npm registry, pinned), and pip in a
 * Python virtual environment. Built by the suite itself on first use and cached under
 * node_modules/.cache/rb-test-fixtures/ (a fresh clone builds them once, in about 20 s; a second
 * run reuses them). Each entry is built in a temporary folder and renamed into place, so two test
 * workers building at once cannot leave a half-built entry.
 *
 * Every project is one of two variants of the same small app: A depends on is-odd 3.0.1, B on
 * is-odd 3.0.0 (both with is-number 7.0.0 as a dev dependency). Swapping A's lockfile for B's
 * without installing is what a checkout of a branch with a changed lockfile does.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE_CACHE = join(PROJECT, 'node_modules', '.cache', 'rb-test-fixtures');

/** The pinned package-manager versions (from the npm registry). */
export const TOOL_VERSIONS = { pnpm: '9.15.9', yarn: '1.22.22', '@yarnpkg/cli-dist': '4.5.3' } as const;
const KEY = 'v1';

export type Manager = 'npm' | 'pnpm' | 'yarn1' | 'yarn4';
export type Variant = 'A' | 'B';

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }, timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Build `name` with `build(dir)` unless it is cached; returns its folder. */
function cached(name: string, build: (dir: string) => void): string {
  const dest = join(FIXTURE_CACHE, `${name}-${KEY}`);
  if (existsSync(join(dest, '.complete'))) return dest;
  mkdirSync(FIXTURE_CACHE, { recursive: true });
  const tmp = mkdtempSync(join(FIXTURE_CACHE, `.${name}-`));
  try {
    build(tmp);
    writeFileSync(join(tmp, '.complete'), '');
    try {
      renameSync(tmp, dest);
    } catch {
      // another worker finished first: use its copy
      if (!existsSync(join(dest, '.complete'))) throw new Error(`could not put ${name} in ${dest}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dest;
}

let registryUrl: string | null = null;
/** The registry npm is set up to use here (never written into the repository). */
function registry(): string {
  registryUrl ??= run('npm', ['config', 'get', 'registry'], PROJECT).trim().replace(/\/?$/, '/');
  return registryUrl;
}

/** pnpm, yarn 1 and yarn 4, installed from the npm registry. */
export function tools(): { pnpm: string; yarn1: string; yarn4: string } {
  const dir = cached('tools', (d) => {
    writeFileSync(join(d, 'package.json'), JSON.stringify({ name: 'rb-test-tools', private: true }));
    run('npm', ['install', '--no-package-lock', '--ignore-scripts', ...Object.entries(TOOL_VERSIONS).map(([n, v]) => `${n}@${v}`)], d);
  });
  const nm = join(dir, 'node_modules');
  return { pnpm: join(nm, 'pnpm', 'bin', 'pnpm.cjs'), yarn1: join(nm, 'yarn', 'bin', 'yarn.js'), yarn4: join(nm, '@yarnpkg', 'cli-dist', 'bin', 'yarn.js') };
}

/**
 * A folder to put first on PATH holding `pnpm` and `yarn` (yarn 1, classic): what a project's
 * `pnpm install` / `yarn install` runs when rb runs its install command through the shell.
 */
export function toolsBin(): string {
  const t = tools();
  return cached('tools-bin', (d) => {
    symlinkSync(t.pnpm, join(d, 'pnpm'));
    symlinkSync(t.yarn1, join(d, 'yarn'));
  });
}

function packageJson(variant: Variant): string {
  return JSON.stringify({
    name: 'app', version: '1.0.0', private: true,
    dependencies: { 'is-odd': variant === 'A' ? '3.0.1' : '3.0.0' },
    devDependencies: { 'is-number': '7.0.0' },
  }, null, 2) + '\n';
}

/** The package store (pnpm) or cache (yarn 1) the cached installs were made with: a later offline install finds every package there. */
export function storeOf(manager: 'pnpm' | 'yarn1'): string {
  return join(FIXTURE_CACHE, `${manager}-store-${KEY}`);
}

/** The lockfile each manager writes. */
export const LOCKFILE: Record<Manager, string> = { npm: 'package-lock.json', pnpm: 'pnpm-lock.yaml', yarn1: 'yarn.lock', yarn4: 'yarn.lock' };

/** A project of this variant installed by this manager (cached; copy it before changing it). */
export function installedProject(manager: Manager, variant: Variant): string {
  return cached(`${manager}-${variant}`, (d) => {
    writeFileSync(join(d, 'package.json'), packageJson(variant));
    const node = process.execPath;
    const t = manager === 'npm' ? null : tools();
    const cache = manager === 'pnpm' || manager === 'yarn1' ? storeOf(manager) : '';
    switch (manager) {
      case 'npm':
        run('npm', ['install', '--ignore-scripts'], d);
        break;
      case 'pnpm':
        run(node, [t!.pnpm, 'install', '--ignore-scripts', '--store-dir', cache, '--registry', registry()], d, { CI: 'true' });
        break;
      case 'yarn1':
        run(node, [t!.yarn1, 'install', '--ignore-scripts', '--non-interactive', '--no-progress', '--cache-folder', cache, '--registry', registry()], d);
        break;
      case 'yarn4':
        writeFileSync(join(d, '.yarnrc.yml'), `nodeLinker: node-modules\nenableTelemetry: false\nenableGlobalCache: false\nnpmRegistryServer: "${registry().replace(/\/$/, '')}"\n`);
        writeFileSync(join(d, 'yarn.lock'), '');
        run(node, [t!.yarn4, 'install', '--mode=skip-build'], d, { YARN_ENABLE_TELEMETRY: '0', YARN_ENABLE_IMMUTABLE_INSTALLS: 'false' });
        break;
    }
  });
}

/** A copy of a cached project in `dest` (a fresh, writable folder). */
export function copyProject(src: string, dest: string): string {
  cpSync(src, dest, { recursive: true, verbatimSymlinks: true });
  rmSync(join(dest, '.complete'), { force: true });
  return dest;
}

/** A hand-built wheel of a one-module package: what `pip install` really installs, without an index. */
export function writeWheel(dir: string, name: string, version: string): string {
  const file = join(dir, `${name}-${version}-py3-none-any.whl`);
  const py = [
    'import sys, zipfile',
    'name, version, path = sys.argv[1:4]',
    'info = f"{name}-{version}.dist-info"',
    'files = {f"{name}/__init__.py": "", f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",',
    '         f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: rb-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}',
    'record = "".join(f"{p},,\\n" for p in files) + f"{info}/RECORD,,\\n"',
    'with zipfile.ZipFile(path, "w") as z:',
    '    for p, text in files.items(): z.writestr(p, text)',
    '    z.writestr(f"{info}/RECORD", record)',
  ].join('\n');
  run('python3', ['-c', py, name, version, file], dir);
  return file;
}

/** A Python virtual environment with tiny_pkg 1.2.0 installed by pip (cached). */
export function venv(): string {
  return cached('venv', (d) => {
    run('python3', ['-m', 'venv', join(d, 'venv')], d);
    const wheel = writeWheel(d, 'tiny_pkg', '1.2.0');
    run(join(d, 'venv', 'bin', 'python'), ['-m', 'pip', 'install', '--no-index', '--no-deps', '--disable-pip-version-check', wheel], d, { PIP_NO_INPUT: '1' });
  });
}
