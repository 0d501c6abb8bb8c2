/**
 * `rb init`: detection of installs and tests, the commented rb.config.yaml (which loadConfig
 * accepts), .git/info/exclude, the baseline branch, and idempotence (a second run changes
 * nothing, byte for byte).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpRepos, gitIn, gitRun, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { rb } from './helpers/cli.js';
import { runInit, detectProject, type InitOptions } from '../src/commands/init.js';
import { loadConfig } from '../src/config/load.js';
import { UsageError } from '../src/errors.js';

const repos = tmpRepos();

/** runInit without a terminal, collecting what it prints. */
async function init(r: TestRepo, opts: Omit<InitOptions, 'cwd' | 'print' | 'interactive'> = {}) {
  const lines: string[] = [];
  const outcome = await runInit({ cwd: r.root, interactive: false, print: (l) => lines.push(l), ...opts });
  return { outcome, text: lines.join('\n') };
}

const excludeFile = (r: TestRepo) => join(r.git('rev-parse', '--absolute-git-dir').trim(), 'info', 'exclude');
const readExclude = (r: TestRepo) => {
  try {
    return readFileSync(excludeFile(r), 'utf8');
  } catch {
    return '';
  }
};
const refs = (r: TestRepo) => r.git('for-each-ref', '--format=%(refname) %(objectname)');

/** A fresh npm project: package.json with a test script, package-lock.json, one commit. */
function npmProject(): TestRepo {
  const r = repos.make();
  r.write('package.json', JSON.stringify({ name: 'app', private: true, scripts: { test: 'node --test', build: 'tsc' } }, null, 2) + '\n');
  r.write('package-lock.json', '{ "lockfileVersion": 3 }\n');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'app');
  return r;
}

describe('rb init on a fresh npm project', () => {
  it('writes a commented config that loadConfig accepts, with the detected test and install', async () => {
    const r = npmProject();
    const { outcome, text } = await init(r);
    expect(outcome.configWritten).toBe(true);
    const yaml = readFileSync(join(r.root, 'rb.config.yaml'), 'utf8');
    expect(yaml).toMatch(/^# rb\.config\.yaml/);
    expect(yaml).toContain('# check:\n#   maxDiskPercent: 90');
    expect(yaml).toContain('# build: null                     # build errors go into sprint reports; detected: npm run build');
    const { config, sources, file } = await loadConfig(r.root);
    expect(file).toBe(join(r.root, 'rb.config.yaml'));
    expect(config.baseline).toBe('baseline');
    expect(config.remote).toBe(''); // no remote in this repository: never fetch
    expect(config.test).toBe('npm test');
    expect(sources.test).toBe('rb.config.yaml');
    expect(config.install).toEqual([{ command: 'npm ci', cwd: '.', lockfiles: ['package-lock.json'], dir: 'node_modules' }]);
    expect(config.keep).toEqual(['.env', '.env.*']);
    expect(config.snapshots.skipIgnored).toEqual(['node_modules']);
    // without a terminal and without --yes: no branch, but the command to make it
    expect(outcome.baselineCreated).toBeNull();
    expect(gitRun(r.root, ['rev-parse', '-q', '--verify', 'refs/heads/baseline']).code).not.toBe(0);
    expect(text).toContain('`git branch baseline HEAD`');
    expect(text).toContain('rb check');
    expect(text).toContain('rb plan emergency');
  });

  it('adds /rollbacks/ to .git/info/exclude once; a second run changes nothing and says so', async () => {
    const r = npmProject();
    await init(r, { yes: true });
    const manifestAfterFirst = manifest(r.root);
    const excludeAfterFirst = readExclude(r);
    const refsAfterFirst = refs(r);
    const configAfterFirst = readFileSync(join(r.root, 'rb.config.yaml'));
    expect(excludeAfterFirst.split('\n').filter((l) => l === '/rollbacks/')).toHaveLength(1);

    const second = await init(r, { yes: true });
    expect(second.outcome).toMatchObject({ configWritten: false, excludeAdded: false, baselineCreated: null, unchanged: true });
    expect(second.text).toContain('rb.config.yaml already exists; nothing changed');
    expect(second.text).toContain('Nothing changed');
    expect(manifest(r.root)).toBe(manifestAfterFirst);
    expect(readExclude(r)).toBe(excludeAfterFirst);
    expect(refs(r)).toBe(refsAfterFirst);
    expect(readFileSync(join(r.root, 'rb.config.yaml')).equals(configAfterFirst)).toBe(true);
  });

  it('creates the baseline branch at HEAD with --yes', async () => {
    const r = npmProject();
    const { outcome, text } = await init(r, { yes: true });
    expect(outcome.baselineCreated).toBe('baseline');
    expect(r.git('rev-parse', 'refs/heads/baseline').trim()).toBe(r.git('rev-parse', 'HEAD').trim());
    expect(text).toMatch(/created the branch baseline at HEAD/);
  });

  it('--baseline sets the name in the config (and creates that branch); a bad name changes nothing', async () => {
    const r = npmProject();
    await expect(init(r, { baseline: 'bad..name' })).rejects.toBeInstanceOf(UsageError);
    await expect(init(r, { baseline: '-x' })).rejects.toThrow(/must not start with "-"/);
    expect(gitRun(r.root, ['ls-files', '--others', '--', 'rb.config.yaml']).stdout).toBe('');
    expect(readExclude(r)).not.toContain('/rollbacks/');

    const { outcome } = await init(r, { baseline: 'last-good', yes: true });
    expect(outcome.baselineCreated).toBe('last-good');
    expect((await loadConfig(r.root)).config.baseline).toBe('last-good');
  });

  it('uses "origin" when there is one, and an existing baseline is left alone', async () => {
    const r = repos.make({ withOrigin: true });
    r.write('package.json', JSON.stringify({ name: 'app', scripts: { test: 'echo "Error: no test specified" && exit 1' } }) + '\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'app');
    const before = r.git('rev-parse', 'refs/heads/baseline');
    const { outcome, text } = await init(r, { yes: true });
    const { config } = await loadConfig(r.root);
    expect(config.remote).toBe('origin');
    expect(config.test).toBeNull(); // npm's placeholder is not a test command
    expect(config.install).toEqual([{ command: 'npm install', cwd: '.', lockfiles: [], dir: 'node_modules' }]);
    expect(outcome.baselineCreated).toBeNull();
    expect(r.git('rev-parse', 'refs/heads/baseline')).toBe(before);
    expect(text).toContain('baseline: branch refs/heads/baseline');
  });

  it('never overwrites an existing rb.config.yaml', async () => {
    const r = npmProject();
    const mine = 'baseline: release\n# my own comments\n';
    writeFileSync(join(r.root, 'rb.config.yaml'), mine);
    const { outcome, text } = await init(r, { baseline: 'other' });
    expect(outcome.configWritten).toBe(false);
    expect(readFileSync(join(r.root, 'rb.config.yaml'), 'utf8')).toBe(mine);
    expect(text).toContain('rb.config.yaml already exists; nothing changed');
    expect(text).toContain('--baseline other was not applied');
    expect(text).toContain('`git branch release HEAD`');
  });
});

describe('rb init in a repository with several projects', () => {
  it('frontend/ (npm) and backend/ (requirements.txt) give two install entries with their cwd', async () => {
    const r = repos.make();
    r.write('frontend/package.json', JSON.stringify({ name: 'web', scripts: { test: 'vitest run' } }) + '\n');
    r.write('frontend/package-lock.json', '{}\n');
    r.write('backend/requirements.txt', 'flask==3.0.0\npytest==8.0.0\n');
    r.write('backend/app.py', 'print(1)\n');
    r.write('docs/index.md', '# docs\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'two projects');
    r.write('backend/.venv/pyvenv.cfg', 'home = /usr/bin\n'); // an existing virtualenv (ignored in real life; untracked here)
    const { outcome } = await init(r);
    expect(outcome.detection!.projects.map((p) => `${p.manager}@${p.dir}`)).toEqual(['pip@backend', 'npm@frontend']);
    const { config } = await loadConfig(r.root);
    expect(config.install).toEqual([
      { command: 'python3 -m venv .venv && .venv/bin/python -m pip install -r requirements.txt', cwd: 'backend', lockfiles: ['requirements.txt'], dir: '.venv' },
      { command: 'npm ci', cwd: 'frontend', lockfiles: ['package-lock.json'], dir: 'node_modules' },
    ]);
    // no root test: every project's suite, as an argv whose appended file arguments are ignored
    expect(config.test).toEqual(['sh', '-c', '(cd backend && .venv/bin/python -m pytest) && (cd frontend && npm test)', 'rb-test']);
    expect(config.snapshots.skipIgnored).toEqual(['node_modules', '.venv']);
  });

  it('detects poetry, pipenv and go; skips workspace members, hidden and ignored folders', async () => {
    const r = repos.make();
    r.write('package.json', JSON.stringify({ name: 'mono', packageManager: 'pnpm@9.1.0', workspaces: ['web'], scripts: { test: 'pnpm -r test' } }) + '\n');
    r.write('pnpm-lock.yaml', 'lockfileVersion: 9\n');
    r.write('package-lock.json', '{}\n'); // a stray npm lockfile: packageManager decides
    r.write('web/package.json', '{ "name": "web" }\n'); // a workspace member: no install of its own
    r.write('api/poetry.lock', '# poetry\n');
    r.write('api/pyproject.toml', '[tool.pytest.ini_options]\n');
    r.write('jobs/Pipfile.lock', '{}\n');
    r.write('svc/go.mod', 'module example.com/svc\n');
    r.write('svc/go.sum', '');
    r.write('.tools/package.json', '{}\n');
    r.write('.gitignore', 'dist/\n');
    r.write('dist/package.json', '{}\n');
    r.write('dist/package-lock.json', '{}\n');
    const d = await detectProject(r.root);
    expect(d.projects.map((p) => [p.dir, p.manager, p.install.command, p.install.lockfiles, p.install.dir])).toEqual([
      ['.', 'pnpm', 'pnpm install --frozen-lockfile', ['pnpm-lock.yaml'], 'node_modules'],
      ['api', 'poetry', 'poetry install', ['poetry.lock'], null],
      ['jobs', 'pipenv', 'pipenv sync', ['Pipfile.lock'], null],
      ['svc', 'go', 'go mod download', ['go.sum'], null],
    ]);
    expect(d.test).toBe('pnpm test'); // the root's own test wins
  });
});

describe('rb init through the CLI', () => {
  it('`rb init --yes` sets the repository up; the second run says nothing changed', () => {
    const r = npmProject();
    const first = rb(r.root, ['init', '--yes']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('wrote rb.config.yaml');
    expect(gitIn(r.root, 'rev-parse', 'baseline').trim()).toBe(gitIn(r.root, 'rev-parse', 'HEAD').trim());
    const m = manifest(r.root);
    const second = rb(r.root, ['init']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('rb.config.yaml already exists; nothing changed');
    expect(manifest(r.root)).toBe(m);
    const check = rb(r.root, ['config', '--json']);
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout).config.test).toBe('npm test');
  });
});
