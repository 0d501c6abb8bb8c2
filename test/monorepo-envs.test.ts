/**
 * Monorepos and Python environments (issue 24), built with the real tools: a pnpm workspace
 * installed by pnpm from the npm registry (pm-fixtures.ts, cached), a virtualenv made by
 * `python3 -m venv`, an npm project without a lockfile, mocha. Run as a user runs rb (the built
 * CLI), with byte-level manifests before an emergency and after its undo.
 *
 *   1 rb check links every workspace package's node_modules into its worktree (the baseline's
 *     tests load their dependencies), or installs them all when the lockfile differs
 *   2 every dependency dir, configured or not (packages' node_modules, a uv project's .venv), is
 *     kept through clean while its lockfiles are unchanged, never captured; removed and named
 *     with the command that recreates it when they changed
 *   3 rb init proposes a Python project's test command: pytest or unittest, through uv
 *   4 no lockfile: node_modules kept while package.json is unchanged; plan and check say so
 *   5 rb files finds mocha's test/<name>.js; "No tests found" lists the patterns
 *   6 rb analyze takes the latest run still in effect, and says which it passed over
 */
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, sh, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { baseRepo, expectCode, gitDirOf, moveBaselineHere, outOf, rbAsync, runsOf } from './helpers/scenarios.js';
import { hasPython, installEnv } from './helpers/projects.js';
import { makeProject } from './helpers/runners.js';
import { detectProject } from '../src/commands/init.js';

tmpRepos();

const journalOf = (r: TestRepo): any => JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${runsOf(r)[0]!.id}.json`), 'utf8'));
const stepOf = (j: any, id: string) => j.steps.find((s: any) => s.id === id);
const reportOf = (r: TestRepo) => {
  const d = readdirSync(join(r.root, 'rollbacks')).filter((n) => n.startsWith('emergency-')).sort().pop()!;
  return readFileSync(join(r.root, 'rollbacks', d, 'report.md'), 'utf8');
};
const inode = (p: string) => statSync(p).ino;
/** rb's own records (reports, metrics) are what a run adds on purpose */
const NO_RECORDS = { exclude: ['rollbacks'] };

/** Everything a snapshot commit holds under ignored/ (paths). */
const snapshotIgnored = (r: TestRepo, id: string) => r.git('ls-tree', '-r', '--name-only', `refs/rb/snapshots/${id}`, '--', 'ignored/');

const cache = new Map<string, TestRepo>();

/**
 * A pnpm workspace, installed by the real pnpm (offline, from the fixture store): packages/a
 * (no dependencies), packages/b depending on a (workspace:*) and on deps/dep-x (file:), with a
 * node:test test loading both; node_modules at the root and in packages/b. No rb.config.yaml:
 * the install is the one rb detects from pnpm-lock.yaml (root node_modules only). Committed as
 * the baseline; branch `feature` changes a's code only (same lockfile): the baseline's test of b
 * passes only with the baseline's a.
 */
function pnpmWorkspace(): TestRepo {
  let r = cache.get('pnpm');
  if (!r) {
    r = copyRepo(baseRepo());
    r.write('.gitignore', 'node_modules/\n');
    r.write('package.json', JSON.stringify({ name: 'mono', private: true, scripts: { test: 'node --test packages/' } }, null, 2) + '\n');
    r.write('pnpm-workspace.yaml', 'packages:\n  - packages/*\n');
    r.write('deps/dep-x/package.json', JSON.stringify({ name: 'dep-x', version: '1.0.0', main: 'index.js' }) + '\n');
    r.write('deps/dep-x/index.js', 'module.exports = "x";\n');
    r.write('packages/a/package.json', JSON.stringify({ name: 'a', version: '1.0.0', main: 'index.js' }) + '\n');
    r.write('packages/a/index.js', 'module.exports = 1;\n');
    r.write('packages/b/package.json', JSON.stringify({ name: 'b', version: '1.0.0', main: 'index.js', dependencies: { a: 'workspace:*', 'dep-x': 'file:../../deps/dep-x' } }, null, 2) + '\n');
    r.write('packages/b/index.js', 'module.exports = require("a") + 1;\n');
    r.write('packages/b/test/b.test.js', 'const test = require("node:test");\nconst assert = require("node:assert");\ntest("b", () => { assert.equal(require("dep-x"), "x"); assert.equal(require(".."), 2); });\n');
    sh(r.root, 'pnpm install --offline --no-frozen-lockfile', installEnv());
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'pnpm workspace');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    r.write('packages/a/index.js', 'module.exports = 5;\n');
    r.git('commit', '-q', '-am', 'feature: a is 5 (the baseline\'s test of b expects a = 1)');
    cache.set('pnpm', r);
  }
  return copyRepo(r);
}

/** On top of pnpmWorkspace's feature: a second file: dependency of packages/a, installed (pnpm-lock.yaml changed, packages/a/node_modules appears). */
function changeWorkspaceLockfile(r: TestRepo): void {
  r.write('deps/dep-y/package.json', JSON.stringify({ name: 'dep-y', version: '1.0.0' }) + '\n');
  r.write('packages/a/package.json', JSON.stringify({ name: 'a', version: '1.0.0', main: 'index.js', dependencies: { 'dep-y': 'file:../../deps/dep-y' } }) + '\n');
  sh(r.root, 'pnpm install --offline --no-frozen-lockfile', installEnv());
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'feature: dep-y in a');
}

/**
 * A uv-style Python library: pyproject.toml + uv.lock, its tests with unittest, and an ignored
 * .venv made by `python3 -m venv` (no requirements.txt, no rb.config.yaml). Branch `feature`
 * changes the code only.
 */
function uvProject(): TestRepo {
  let r = cache.get('uv');
  if (!r) {
    r = copyRepo(baseRepo());
    r.write('.gitignore', '.venv/\n__pycache__/\n');
    r.write('pyproject.toml', '[project]\nname = "lib"\nversion = "1.0.0"\nrequires-python = ">=3.8"\n');
    r.write('uv.lock', 'version = 1\nrequires-python = ">=3.8"\n\n[[package]]\nname = "lib"\nversion = "1.0.0"\nsource = { editable = "." }\n');
    r.write('lib/__init__.py', 'VALUE = 1\n');
    r.write('tests/test_lib.py', 'import unittest\nimport lib\n\nclass T(unittest.TestCase):\n    def test_value(self):\n        self.assertEqual(lib.VALUE, 1)\n');
    sh(r.root, 'python3 -m venv --without-pip .venv');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'uv library');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    r.write('lib/__init__.py', 'VALUE = 2\n');
    r.git('commit', '-q', '-am', 'feature: VALUE 2');
    cache.set('uv', r);
  }
  return copyRepo(r);
}

describe.concurrent('issue 24: monorepos and Python environments', { timeout: 240_000 }, () => {
  it('1: rb check links every workspace package\'s node_modules into its worktree, workspace links leading to the baseline\'s packages: the baseline\'s tests load their dependencies', async () => {
    const r = pnpmWorkspace();
    expect(existsSync(join(r.root, 'packages/b/node_modules/dep-x'))).toBe(true);
    const res = await rbAsync(r.root, ['check', '--json'], installEnv());
    const doc = JSON.parse(res.stdout);
    const tests = doc.checks.find((c: any) => c.id === 'baseline-tests');
    expect(tests.status, JSON.stringify(tests, null, 2)).toBe('pass');
    expect(tests.data.where).toBe('kept');
    expect(tests.data.installs).toEqual([expect.objectContaining({ action: 'linked', dirs: ['node_modules', 'packages/b/node_modules'] })]);
    expect(tests.data.passed).toBe(1);
    // nothing of the user's changed: the links were removed, the dirs are the same
    expect(r.git('status', '--porcelain')).toBe('');
  });

  it('1: when the lockfile differs, rb check installs the whole workspace in its worktree (every package\'s node_modules), never through a link', async () => {
    const r = pnpmWorkspace();
    changeWorkspaceLockfile(r);
    const before = manifest(r.root, NO_RECORDS);
    const res = await rbAsync(r.root, ['check', '--json'], installEnv());
    const tests = JSON.parse(res.stdout).checks.find((c: any) => c.id === 'baseline-tests');
    expect(tests.status, JSON.stringify(tests, null, 2)).toBe('pass');
    expect(tests.data.installs).toEqual([expect.objectContaining({ action: 'installed', reason: 'pnpm-lock.yaml differs between HEAD and the baseline' })]);
    // the next check reuses that install, every package's node_modules with it (the baseline's a has none: not missing)
    const again = JSON.parse((await rbAsync(r.root, ['check', '--json'], installEnv())).stdout).checks.find((c: any) => c.id === 'baseline-tests');
    expect(again.status, JSON.stringify(again, null, 2)).toBe('pass');
    expect(again.data.installs).toEqual([expect.objectContaining({ action: 'reused' })]);
    expect(manifest(r.root, NO_RECORDS)).toBe(before);
  });

  it('2: emergency keeps every package\'s node_modules while pnpm-lock.yaml is unchanged; undo gives the same manifest', async () => {
    const r = pnpmWorkspace();
    r.write('packages/a/index.js', 'module.exports = 3; // uncommitted\n');
    const before = manifest(r.root, NO_RECORDS);
    const ino = inode(join(r.root, 'packages/b/node_modules'));
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], installEnv());
    expectCode(res, 0);
    expect(inode(join(r.root, 'packages/b/node_modules'))).toBe(ino);
    const clean = stepOf(journalOf(r), 'clean').result;
    expect(clean.kept).toEqual(expect.arrayContaining(['node_modules (pnpm-lock.yaml unchanged)', 'packages/b/node_modules (pnpm-lock.yaml unchanged)']));
    expect(snapshotIgnored(r, runsOf(r)[0]!.snapshot!)).not.toContain('node_modules');
    expectCode(await rbAsync(r.root, ['undo', '--yes'], installEnv()), 0);
    expect(manifest(r.root, NO_RECORDS)).toBe(before);
  });

  it('2: when pnpm-lock.yaml changed, emergency removes every package\'s node_modules, names each, and the install recreates them from the baseline\'s lockfile', async () => {
    const r = pnpmWorkspace();
    changeWorkspaceLockfile(r);
    expect(existsSync(join(r.root, 'packages/a/node_modules/dep-y'))).toBe(true);
    const before = manifest(r.root, { exclude: ['rollbacks', 'node_modules', 'packages/a/node_modules', 'packages/b/node_modules'] });
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], installEnv());
    expectCode(res, 0);
    const clean = stepOf(journalOf(r), 'clean').result;
    expect(clean.removedDeps.map((d: any) => d.dir).sort()).toEqual(['node_modules', 'packages/a/node_modules', 'packages/b/node_modules']);
    expect(outOf(res)).toContain('packages/a/node_modules removed (pnpm-lock.yaml changed; the install recreates it)');
    expect(reportOf(r)).toContain('packages/a/node_modules (recreate it with `pnpm install --frozen-lockfile`)');
    // the baseline's install: b's dependencies back, a's dep-y gone
    expect(existsSync(join(r.root, 'packages/b/node_modules/dep-x'))).toBe(true);
    expect(existsSync(join(r.root, 'packages/a/node_modules/dep-y'))).toBe(false);
    const undo = await rbAsync(r.root, ['undo', '--yes'], installEnv());
    expectCode(undo, 0);
    expect(outOf(undo)).toContain('pnpm install --frozen-lockfile');
    expect(manifest(r.root, { exclude: ['rollbacks', 'node_modules', 'packages/a/node_modules', 'packages/b/node_modules'] })).toBe(before);
  });

  it.runIf(hasPython)('2: a uv project\'s .venv (no install configured) is kept through emergency and not captured; undo gives the same manifest', async () => {
    const r = uvProject();
    const before = manifest(r.root, NO_RECORDS);
    const cfg = statSync(join(r.root, '.venv/pyvenv.cfg')).ino;
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
    expectCode(res, 0);
    expect(statSync(join(r.root, '.venv/pyvenv.cfg')).ino).toBe(cfg);
    expect(stepOf(journalOf(r), 'clean').result.kept).toContain('.venv (uv.lock unchanged)');
    expect(snapshotIgnored(r, runsOf(r)[0]!.snapshot!)).not.toContain('.venv');
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    expect(manifest(r.root, NO_RECORDS)).toBe(before);
  });

  it.runIf(hasPython)('2: when uv.lock changed, the .venv is removed and the report names it with `uv sync --frozen`; undo says to run it', async () => {
    const r = uvProject();
    r.write('uv.lock', `${readFileSync(join(r.root, 'uv.lock'), 'utf8')}# changed\n`);
    r.git('commit', '-q', '-am', 'feature: uv.lock');
    const before = manifest(r.root, { exclude: ['rollbacks', '.venv'] });
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
    expectCode(res, 0);
    expect(existsSync(join(r.root, '.venv'))).toBe(false);
    expect(outOf(res)).toContain('.venv removed (uv.lock changed; recreate it with `uv sync --frozen`)');
    expect(reportOf(r)).toContain('.venv (recreate it with `uv sync --frozen`)');
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(outOf(undo)).toContain('run `uv sync --frozen`');
    expect(manifest(r.root, { exclude: ['rollbacks', '.venv'] })).toBe(before);
  });

  it('3: rb init proposes the test command of Python projects: uv run with unittest or pytest, a venv\'s python', async () => {
    const r = uvProject();
    const uv = await detectProject(r.root);
    expect(uv.projects.find((p) => p.manager === 'uv')?.test).toBe('uv run python -m unittest discover -s tests');
    writeFileSync(join(r.root, 'conftest.py'), '');
    expect((await detectProject(r.root)).projects.find((p) => p.manager === 'uv')?.test).toBe('uv run pytest');
    const plain = copyRepo(baseRepo());
    plain.write('pyproject.toml', '[project]\nname = "p"\nversion = "1"\n');
    plain.write('tests/test_p.py', 'import unittest\n');
    sh(plain.root, 'python3 -m venv --without-pip .venv');
    expect((await detectProject(plain.root)).projects[0]?.test).toBe('.venv/bin/python -m unittest discover -s tests');
  });

  it('4: no lockfile (package-lock=false): the plan and the check say so; emergency keeps node_modules while package.json is unchanged', async () => {
    const r = copyRepo(baseRepo());
    r.write('.npmrc', 'package-lock=false\n');
    r.write('dep-a/package.json', JSON.stringify({ name: 'dep-a', version: '1.0.0' }) + '\n');
    r.write('package.json', JSON.stringify({ name: 'nolock', version: '1.0.0', dependencies: { 'dep-a': 'file:./dep-a' } }, null, 2) + '\n');
    sh(r.root, 'npm install -q', installEnv());
    expect(existsSync(join(r.root, 'package-lock.json'))).toBe(false);
    expectCode(await rbAsync(r.root, ['init', '--yes'], installEnv()), 0);
    expect(readFileSync(join(r.root, 'rb.config.yaml'), 'utf8')).toContain('lockfiles: []    # no lockfile: node_modules is kept while package.json is unchanged');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'no lockfile');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    r.write('src/a.ts', 'export const a = 2;\n');
    r.git('commit', '-q', '-am', 'feature');
    const plan = await rbAsync(r.root, ['plan', 'emergency'], installEnv());
    expectCode(plan, 0);
    expect(plan.stdout).not.toContain('(if  unchanged)');
    expect(plan.stdout).toContain('[-e /node_modules/ (if package.json (no lockfile) unchanged)]');
    const check = await rbAsync(r.root, ['check', '--json', '--no-tests'], installEnv());
    const deps = JSON.parse(check.stdout).checks.find((c: any) => c.id === 'dependencies');
    expect(deps.reason).toContain('there is no lockfile (only package.json)');
    expect(deps.reason).not.toContain('lockfiles differ');
    const ino = inode(join(r.root, 'node_modules/dep-a'));
    const before = manifest(r.root, NO_RECORDS);
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], installEnv());
    expectCode(res, 0);
    const installs = stepOf(journalOf(r), 'install').result.installs;
    expect(installs).toEqual([expect.objectContaining({ ran: false, reason: expect.stringContaining('package.json (no lockfile) unchanged') })]);
    expect(inode(join(r.root, 'node_modules/dep-a'))).toBe(ino);
    expectCode(await rbAsync(r.root, ['undo', '--yes'], installEnv()), 0);
    expect(manifest(r.root, NO_RECORDS)).toBe(before);
  });

  it('5: rb files finds mocha\'s test/<name>.js and runs it; "No tests found" lists the patterns it looked for', async () => {
    const dir = makeProject('mocha');
    const r = copyRepo(baseRepo());
    sh(dir, `cp -a lib test package.json package-lock.json .gitignore ${JSON.stringify(r.root)}/ && ln -s "$(readlink node_modules)" ${JSON.stringify(join(r.root, 'node_modules'))}`);
    renameSync(join(r.root, 'test/math.spec.js'), join(r.root, 'test/math.js'));
    writeFileSync(join(r.root, 'package.json'), readFileSync(join(r.root, 'package.json'), 'utf8').replace('"test": "mocha"', '"test": "mocha test/*.js"'));
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'mocha project');
    moveBaselineHere(r);
    writeFileSync(join(r.root, 'lib/math.js'), readFileSync(join(r.root, 'lib/math.js'), 'utf8').replace(/a \* b|a \+ b/, 'NaN'));
    const res = await rbAsync(r.root, ['files', 'lib/math.js', '--yes']);
    expectCode(res, 0);
    const tests = journalOf(r).steps.find((s: any) => s.kind === 'tests.run');
    expect(tests.result.command ?? JSON.stringify(tests.result)).toContain('test/math.js');
    expect(tests.status).toBe('succeeded');
    r.write('lib/extra.js', 'module.exports = 1;\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'extra');
    moveBaselineHere(r);
    r.write('lib/extra.js', 'module.exports = 2;\n');
    const none = await rbAsync(r.root, ['files', 'lib/extra.js', '--yes']);
    expectCode(none, 0);
    expect(none.stdout).toContain('No tests found for the restored files (looked for: testMap, ');
    for (const p of ['test/<name>.spec.*', 'test/<name>.*', 'tests/test_<name>.py', '<dir>/<name>.spec.*']) expect(none.stdout).toContain(p);
  });

  it('6: after rb files and its undo, rb analyze takes the latest run still in effect and names the undone one', async () => {
    const r = copyRepo(baseRepo());
    r.write('src/a.ts', 'export const a = 2;\n');
    r.git('commit', '-q', '-am', 'feature');
    expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services']), 0);
    const emergency = runsOf(r)[0]!.id;
    r.write('src/b.ts', 'export const b = 9;\n');
    expectCode(await rbAsync(r.root, ['files', 'src/b.ts', '--yes', '--no-tests']), 0);
    const files = runsOf(r)[0]!.id;
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    const res = await rbAsync(r.root, ['analyze', '--json']);
    expectCode(res, 0);
    const doc = JSON.parse(res.stdout);
    expect(doc.run).toBe(emergency);
    expect(doc.undoneSkipped).toEqual([files]);
    const text = await rbAsync(r.root, ['analyze']);
    expect(text.stdout).toContain(`passed over as undone: ${files}`);
    // rb redo (the undo of the undo) puts the files run back in effect
    expectCode(await rbAsync(r.root, ['redo', '--yes']), 0);
    expect(JSON.parse((await rbAsync(r.root, ['analyze', '--json'])).stdout).run).toBe(files);
  });
});

