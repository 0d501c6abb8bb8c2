/**
 * Fixtures that cost seconds to make, made once per machine by the suite itself and kept under
 * node_modules/.cache/rb-test-fixtures/ (a fresh clone builds them on its first `npm test`; a
 * second run only checks they exist):
 *
 *   packageManagers()  pnpm and yarn (classic) installed from the npm registry, pinned
 *   pythonVenv()       a virtualenv (python3 -m venv, with pip) to copy into a project
 *   localWheel(dir)    a tiny wheel pip can install with no network (written, not cached)
 *
 * Each cache entry is built in a temporary directory and renamed into place, so test workers
 * building it at the same time never see half of one.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CACHE = fileURLToPath(new URL('../../node_modules/.cache/rb-test-fixtures/', import.meta.url));

/** Versions of the package managers the suite runs (changing one builds a new cache entry). */
export const PNPM_VERSION = '9.15.9';
export const YARN_VERSION = '1.22.22';

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}:\n${r.stderr}${r.stdout}`);
}

/** The cache entry `name`, built by `build(tmp)` when missing. */
function cached(name: string, build: (dir: string) => void): string {
  const dir = join(CACHE, name);
  if (existsSync(join(dir, '.complete'))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, `.${name}.`));
  try {
    build(tmp);
    writeFileSync(join(tmp, '.complete'), new Date().toISOString() + '\n');
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // another worker finished first: use its copy
      if (!existsSync(join(dir, '.complete'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/**
 * pnpm and yarn classic from the npm registry. Returns the folder holding their executables
 * (put it first on PATH) and an environment keeping their stores and caches in the cache dir.
 */
export function packageManagers(): { bin: string; env: Record<string, string> } {
  const dir = cached(`pm-pnpm${PNPM_VERSION}-yarn${YARN_VERSION}`, (tmp) => {
    writeFileSync(join(tmp, 'package.json'), '{ "private": true }\n');
    run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', `pnpm@${PNPM_VERSION}`, `yarn@${YARN_VERSION}`], tmp);
  });
  const stores = join(CACHE, 'pm-stores');
  return {
    bin: join(dir, 'node_modules', '.bin'),
    env: { npm_config_store_dir: join(stores, 'pnpm'), YARN_CACHE_FOLDER: join(stores, 'yarn'), COREPACK_ENABLE_STRICT: '0', npm_config_update_notifier: 'false' },
  };
}

/** python3's version, or null when there is no python3 with venv on this machine. */
export function python3(): string | null {
  const r = spawnSync('python3', ['-c', 'import venv, ensurepip, sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Copy a fresh virtualenv (with pip) to `dest` (e.g. backend/.venv). Venvs made by `python3 -m venv` work from a copy. */
export function copyVenv(dest: string): void {
  const version = python3();
  if (!version) throw new Error('python3 with the venv module is needed (Debian: python3-venv)');
  const dir = cached(`venv-py${version}`, (tmp) => run('python3', ['-m', 'venv', join(tmp, 'venv')], tmp));
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(join(dir, 'venv'), dest, { recursive: true, verbatimSymlinks: true });
}

/** Environment for pip runs in tests: no version check, no index (everything is local). */
export const PIP_ENV = { PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INDEX: '1', PIP_NO_INPUT: '1' };

/**
 * Write a minimal wheel `hello_rb-<version>-py3-none-any.whl` into `dir` (a module hello_rb with
 * VERSION); pip installs it from its path with no network. Returns the file name.
 */
export function localWheel(dir: string, version = '1.0'): string {
  const name = `hello_rb-${version}-py3-none-any.whl`;
  mkdirSync(dir, { recursive: true });
  const script = `
import base64, hashlib, sys, zipfile
version, out = sys.argv[1], sys.argv[2]
info = f"hello_rb-{version}.dist-info"
files = {
  "hello_rb/__init__.py": f'VERSION = "{version}"\\n'.encode(),
  f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: hello-rb\\nVersion: {version}\\n".encode(),
  f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: rb-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
def rec(n, d):
  h = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
  return f"{n},sha256={h},{len(d)}"
files[f"{info}/RECORD"] = ("\\n".join([rec(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]) + "\\n").encode()
with zipfile.ZipFile(out, "w") as z:
  for n, d in files.items():
    z.writestr(zipfile.ZipInfo(n, (2020, 1, 1, 0, 0, 0)), d)
`;
  run('python3', ['-c', script, version, join(dir, name)], dir);
  return name;
}
