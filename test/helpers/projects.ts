/**
 * Repositories shaped like the real projects rb is used on (issue 17), built once per worker and
 * copied per test (copyRepo). Every install in them is real and runs offline: npm, pnpm and yarn
 * 1 (pm-fixtures.ts, from the npm registry) install `file:` dependencies, pip installs a local
 * wheel into a copy of pm-fixtures' virtualenv.
 *
 *   fullStackRepo()   python backend (requirements.txt, .venv) + npm frontend, a tracked .env
 *                     (the FastAPI template's shape), rb.config.yaml written by `rb init`
 *   workspacesRepo()  npm workspaces: one root lockfile, packages/* members
 *   pmRepo('pnpm' | 'yarn')  a pnpm or yarn classic project (tools from the npm registry)
 *
 * Each has a `feature` branch past `baseline`; see each builder for what differs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyRepo, sh, type TestRepo } from './repo.js';
import { rb } from './cli.js';
import { baseRepo, moveBaselineHere } from './scenarios.js';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { storeOf, toolsBin, venv, writeWheel } from './pm-fixtures.js';

/** Is there a python3 that can make virtualenvs (the python shapes need one)? */
export const hasPython = spawnSync('python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0;

/** Environment for pip runs in tests: no version check, no index (everything is local). */
const PIP_ENV = { PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INDEX: '1', PIP_NO_INPUT: '1' };

const cache = new Map<string, TestRepo>();
function once(key: string, build: () => TestRepo): TestRepo {
  let r = cache.get(key);
  if (!r) {
    r = build();
    cache.set(key, r);
  }
  return r;
}

/** PATH and caches for runs of rb that install with npm, pnpm, yarn or pip. */
export function installEnv(): Record<string, string> {
  return {
    ...PIP_ENV,
    npm_config_store_dir: storeOf('pnpm'), YARN_CACHE_FOLDER: storeOf('yarn1'),
    npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false',
    PATH: `${toolsBin()}:${process.env.PATH}`,
  };
}

/** A local package `dir` (package.json only) a project depends on with `file:`. */
function localPackage(r: TestRepo, dir: string, version: string): void {
  r.write(`${dir}/package.json`, JSON.stringify({ name: dir.split('/').pop(), version }) + '\n');
}

function run(r: TestRepo, cmd: string): void {
  sh(r.root, cmd, installEnv());
}

/**
 * baseline: backend/ (requirements.txt naming a local wheel, app.py) with an installed
 * backend/.venv, frontend/ (package.json depending on file:./dep-a, package-lock.json) with its
 * node_modules, a tracked `.env` (SECRET_KEY=changethis) and the rb.config.yaml `rb init`
 * wrote, committed. Branch `feature`: dep-a 1.1.0 in frontend's package-lock.json (reinstalled),
 * a backend change; uncommitted: a secret line added to the tracked .env.
 */
export function fullStackRepo(): TestRepo {
  return once('fullstack', () => {
    const r = copyRepo(baseRepo());
    r.write('.gitignore', 'node_modules/\n.venv/\n__pycache__/\n');
    r.write('.env', 'SECRET_KEY=changethis\n');
    r.mkdir('backend/wheels');
    const wheel = writeWheel(join(r.root, 'backend', 'wheels'), 'hello_rb', '1.0').split('/').pop();
    r.write('backend/requirements.txt', `./wheels/${wheel}\n`);
    r.write('backend/app.py', 'import hello_rb\n');
    cpSync(join(venv(), 'venv'), join(r.root, 'backend', '.venv'), { recursive: true, verbatimSymlinks: true });
    run(r, 'cd backend && .venv/bin/python -m pip install -q -r requirements.txt');
    localPackage(r, 'frontend/dep-a', '1.0.0');
    r.write('frontend/package.json', JSON.stringify({ name: 'frontend', version: '1.0.0', private: true, dependencies: { 'dep-a': 'file:./dep-a' } }, null, 2) + '\n');
    run(r, 'cd frontend && npm install -q');
    const init = rb(r.root, ['init'], installEnv());
    if (init.code !== 0) throw new Error(`rb init failed: ${init.stderr}${init.stdout}`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'full stack: backend, frontend, .env, rb.config.yaml');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    localPackage(r, 'frontend/dep-a', '1.1.0');
    run(r, 'cd frontend && npm install -q');
    r.write('backend/app.py', 'import hello_rb\nprint(hello_rb)\n');
    r.git('commit', '-q', '-am', 'feature: dep-a 1.1.0, backend tweak');
    writeFileSync(join(r.root, '.env'), 'SECRET_KEY=changethis\nSTRIPE_KEY=sk_live_only_on_my_machine\n');
    return r;
  });
}

/**
 * npm workspaces: a root package.json with workspaces [packages/*] and the one package-lock.json,
 * packages/a and packages/b (b depends on a), node_modules installed, rb.config.yaml from
 * `rb init`, committed as the baseline. Branch `feature`: a change in packages/a's code only.
 */
export function workspacesRepo(): TestRepo {
  return once('workspaces', () => {
    const r = copyRepo(baseRepo());
    r.write('.gitignore', 'node_modules/\n');
    r.write('package.json', JSON.stringify({ name: 'mono', private: true, workspaces: ['packages/*'] }, null, 2) + '\n');
    r.write('packages/a/package.json', JSON.stringify({ name: 'a', version: '1.0.0' }) + '\n');
    r.write('packages/a/index.js', 'module.exports = 1;\n');
    r.write('packages/b/package.json', JSON.stringify({ name: 'b', version: '1.0.0', dependencies: { a: '1.0.0' } }) + '\n');
    run(r, 'npm install -q');
    const init = rb(r.root, ['init'], installEnv());
    if (init.code !== 0) throw new Error(`rb init failed: ${init.stderr}${init.stdout}`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'workspaces');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    r.write('packages/a/index.js', 'module.exports = 2;\n');
    r.git('commit', '-q', '-am', 'feature: a = 2');
    return r;
  });
}

/**
 * A pnpm or yarn classic project: package.json depending on file:./dep-a, its lockfile made by
 * the real tool, node_modules installed, rb.config.yaml from `rb init` (with the tool on PATH),
 * committed as the baseline. Branch `feature`: a second dependency (file:./dep-b) and the
 * lockfile the tool wrote.
 */
export function pmRepo(pm: 'pnpm' | 'yarn'): TestRepo {
  return once(`pm-${pm}`, () => {
    const r = copyRepo(baseRepo());
    r.write('.gitignore', 'node_modules/\n');
    localPackage(r, 'dep-a', '1.0.0');
    r.write('package.json', JSON.stringify({ name: `${pm}-app`, version: '1.0.0', private: true, dependencies: { 'dep-a': 'file:./dep-a' } }, null, 2) + '\n');
    run(r, `${pm} install`);
    const init = rb(r.root, ['init'], installEnv());
    if (init.code !== 0) throw new Error(`rb init failed: ${init.stderr}${init.stdout}`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', `${pm} project`);
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    localPackage(r, 'dep-b', '1.0.0');
    r.write('package.json', JSON.stringify({ name: `${pm}-app`, version: '1.0.0', private: true, dependencies: { 'dep-a': 'file:./dep-a', 'dep-b': 'file:./dep-b' } }, null, 2) + '\n');
    // the feature changes the lockfile: pnpm freezes it when CI is set unless told not to
    run(r, pm === 'pnpm' ? 'pnpm install --no-frozen-lockfile' : 'yarn install');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'feature: dep-b');
    return r;
  });
}
