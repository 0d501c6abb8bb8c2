/**
 * The levels on real project shapes (issue 17), run as a user runs them (the built rb) with the
 * real tools: npm, pnpm and yarn from the npm registry (cached), pip in a real virtualenv.
 *
 *   1 secrets and keep paths never go into the WIP commit, and stay on disk
 *   2 rb's own files stay on disk through every level
 *   3 a tracked .env the emergency changed is named, with the commands that give it back
 *   4 installs for every package manager: skipped when nothing changed, or when a lockfile is
 *     not in the baseline; `rb init` detects them and checks each tool is on PATH
 *   6 what `rb undo` cannot give back is said, with the command to run after it
 *   7 a run that changed nothing is not a rollback in metrics.json
 *   8 words: no templates in messages, the plan's paths, the files clean removed, rb history
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, sh, tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { baseRepo, gitDirOf, oid, outOf, rbAsync, runsOf, sprintRepo, expectCode } from './helpers/scenarios.js';
import { fullStackRepo, hasPython, installEnv, pmRepo, workspacesRepo } from './helpers/projects.js';
import { toolsBin } from './helpers/pm-fixtures.js';
import { undoFollowUps } from '../src/steps/undo-follow-ups.js';
import { detectProject, renderConfig } from '../src/commands/init.js';
import { loadConfig } from '../src/config/load.js';

tmpRepos();



/** The newest run's journal, as rb wrote it. */
function journal(r: TestRepo): any {
  return JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${runsOf(r)[0]!.id}.json`), 'utf8'));
}
const stepOf = (j: any, id: string) => j.steps.find((s: any) => s.id === id);
const reportOf = (r: TestRepo, prefix: string) => {
  const d = readdirSync(join(r.root, 'rollbacks')).filter((n) => n.startsWith(prefix)).sort().pop()!;
  return readFileSync(join(r.root, 'rollbacks', d, 'report.md'), 'utf8');
};
const metricsOf = (r: TestRepo): any[] => {
  const f = join(r.root, 'rollbacks', 'metrics.json');
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')).rollbacks : [];
};
const bytes = (r: TestRepo, p: string) => readFileSync(join(r.root, p));

describe.concurrent('issue 17: the levels on real project shapes', { timeout: 240_000 }, () => {
  // ==============================================================================================
  it('1, 2: rb sprint leaves keep paths, secrets and rb\'s own files out of the WIP commit, names them, keeps them on disk; undo', async () => {
    const r = copyRepo(sprintRepo());
    // a project whose .gitignore does not ignore .env (commander.js)
    r.write('.gitignore', 'build/\nnode_modules/\n');
    r.git('add', '-f', '.env');
    r.write('config/.env.defaults', 'PORT=3000\n');
    r.git('add', '-f', 'config/.env.defaults');
    r.git('commit', '-q', '-m', 'track .env and config/.env.defaults');
    const committedDefaults = oid(r, 'HEAD:config/.env.defaults');
    // uncommitted: a secret line in the tracked keep paths, untracked secrets, rb's own files
    r.write('.env', 'API_KEY=hunter2\nNEW_SECRET=only-here\n');
    r.write('config/.env.defaults', 'PORT=3000\nDB_PASSWORD=p4ss\n');
    r.write('services/api/.env.local', 'LOCAL=1\n');
    r.write('certs/server.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n');
    r.write('deploy/id_rsa', 'not really a key\n', 0o600);
    r.write('ops/client.p12', Buffer.from([0x30, 0x82, 0x01, 0x00]));
    r.write('docker/compose.override.yml', 'services:\n  db:\n    url: postgres://app:s3cret@db:5432/app\n');
    r.write('notes/token.txt', 'the token is tok_live_0123456789abcdef\n');
    r.write('notes/draft.md', 'an ordinary note\n');
    r.write('rb.config.yaml', 'baseline: baseline\ninstall:\n  - { command: "true", cwd: ., lockfiles: [package.json], dir: null }\n');
    r.write('.rb/playbooks/hello.yaml', 'name: hello\ntitle: Hello\nsteps:\n  - { id: hi, run: ["true"] }\n');
    const leftOut = ['.env', 'config/.env.defaults', 'services/api/.env.local', 'certs/server.pem', 'deploy/id_rsa', 'ops/client.p12', 'docker/compose.override.yml', 'notes/token.txt', 'rb.config.yaml', '.rb/playbooks/hello.yaml'];
    const before = manifest(r.root, { exclude: ['rollbacks'] });
    const onDisk = new Map(leftOut.map((p) => [p, bytes(r, p)]));

    const res = await rbAsync(r.root, ['sprint', '4', '--yes'], { RB_TEST_API_TOKEN: 'tok_live_0123456789abcdef' });
    expectCode(res, 0);
    const backup = r.git('for-each-ref', '--format=%(refname:short)', 'refs/heads/backup/').trim();
    const wipFiles = r.git('ls-tree', '-r', '--name-only', backup).split('\n');
    // none of them in the WIP commit; the tracked keep path keeps its committed version there
    for (const p of leftOut) {
      if (p === 'config/.env.defaults' || p === '.env') continue;
      expect(wipFiles, p).not.toContain(p);
    }
    expect(oid(r, `${backup}:config/.env.defaults`)).toBe(committedDefaults);
    expect(r.git('show', `${backup}:.env`)).toBe('API_KEY=hunter2\n');
    // the ordinary work is in it
    expect(r.git('show', `${backup}:notes/draft.md`)).toBe('an ordinary note\n');
    expect(r.git('show', `${backup}:src/a.ts`)).toContain('43');
    // on the retry branch, every one of them is on disk, byte for byte
    expect(r.git('symbolic-ref', 'HEAD').trim()).toBe('refs/heads/refactor/sprint-4-retry');
    for (const [p, b] of onDisk) expect(bytes(r, p).equals(b), p).toBe(true);
    // named in the output and in report.md, with why
    const out = outOf(res);
    const report = reportOf(r, 'sprint-4');
    for (const p of leftOut) {
      expect(out, p).toContain(p);
      expect(report, p).toContain(p);
    }
    expect(report).toMatch(/Left out of the WIP commit \(still on disk, and in the snapshot\):\*\* .*certs\/server\.pem \(looks like a secret: \*\.pem\)/);
    expect(report).toContain('docker/compose.override.yml (holds a URL with a password)');
    expect(report).toContain('notes/token.txt (holds the value of RB_TEST_API_TOKEN)');
    expect(report).toContain("rb.config.yaml (rb's own file)");
    expect(report).toContain(`on ${backup}`);
    // rb on the retry branch still reads the user's own configuration
    const cfg = await rbAsync(r.root, ['config', '--json']);
    expect(JSON.parse(cfg.stdout).config.install).toHaveLength(1);
    // undo: the exact working copy
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    expect(manifest(r.root, { exclude: ['rollbacks'] })).toBe(before);
  });

  // ==============================================================================================
  it.skipIf(!hasPython)('3, 4, 6, 8: emergency on a python backend (venv) + npm frontend with a tracked .env: names the .env, keeps the venv, reinstalls the frontend and says undo will not', async () => {
    const r = copyRepo(fullStackRepo());
    const env = installEnv();
    for (let i = 1; i <= 23; i++) r.write(`note-${String(i).padStart(2, '0')}.txt`, `${i}\n`);
    const userEnv = bytes(r, '.env');
    const exclude = { exclude: ['rollbacks', 'frontend/node_modules'] };
    const before = manifest(r.root, exclude);
    const modulesBefore = readFileSync(join(r.root, 'frontend/node_modules/.package-lock.json'), 'utf8');

    // rb init detected both installs (the fixture's rb.config.yaml is its output)
    const { config } = await loadConfig(r.root);
    expect(config.install).toEqual([
      { command: 'python3 -m venv .venv && .venv/bin/python -m pip install -r requirements.txt', cwd: 'backend', lockfiles: ['requirements.txt'], dir: '.venv' },
      { command: 'npm ci', cwd: 'frontend', lockfiles: ['package-lock.json'], dir: 'node_modules' },
    ]);

    // 8: the plan names each dependency dir where it is, once
    const plan = await rbAsync(r.root, ['plan', 'emergency'], env);
    expectCode(plan, 0);
    expect(plan.stdout).toContain('-e /backend/.venv/ (if backend/requirements.txt unchanged)');
    expect(plan.stdout).toContain('-e /frontend/node_modules/ (if frontend/package-lock.json unchanged)');
    expect(plan.stdout).not.toContain('-e /node_modules/');
    expect(plan.stdout).not.toContain('{{params.');

    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], env);
    expectCode(res, 0);
    const out = outOf(res);
    const j = journal(r);
    const snapshotRef = `refs/rb/snapshots/${j.snapshot}`;
    // 3: the tracked .env now holds the baseline's version; named, with the commands
    expect(readFileSync(join(r.root, '.env'), 'utf8')).toBe('SECRET_KEY=changethis\n');
    expect(out).toContain(`.env (a keep path) now holds the version of the commit rolled back to; yours is in the snapshot: see it with \`git show ${snapshotRef}:worktree/.env\`, put it back with \`git restore --source=${snapshotRef}:worktree --worktree -- .env\``);
    const report = reportOf(r, 'emergency-');
    expect(report).toContain(`- .env (a keep path) now holds the version of the commit rolled back to. See yours with \`git show ${snapshotRef}:worktree/.env\``);
    // ... and those commands do what they say (on a copy, so undo below starts from rb's result)
    const twin = copyRepo(r);
    expect(Buffer.from(sh(twin.root, `git show ${snapshotRef}:worktree/.env`)).equals(userEnv)).toBe(true);
    sh(twin.root, `git restore --source=${snapshotRef}:worktree --worktree -- .env`);
    expect(bytes(twin, '.env').equals(userEnv)).toBe(true);
    expect(twin.git('status', '--porcelain')).toBe(' M .env\n');

    // 4: the venv was kept (requirements.txt unchanged), the frontend reinstalled from the baseline's lockfile
    const installs = stepOf(j, 'install').result.installs;
    expect(installs.map((i: any) => [i.cwd, i.ran])).toEqual([['backend', false], ['frontend', true]]);
    expect(existsSync(join(r.root, 'backend/.venv/bin/python'))).toBe(true);
    expect(readFileSync(join(r.root, 'frontend/node_modules/dep-a/package.json'), 'utf8')).toContain('"1.0.0"');
    // 6: the success message does not promise everything back: it names the command for after the undo
    expect(out).not.toContain('undo everything with');
    expect(out).toContain('puts back every file, but not the installed dependencies; after it:');
    expect(out).toContain('run `(cd frontend && npm ci)`');
    expect(undoFollowUps(j)).toEqual([expect.stringMatching(/^run `\(cd frontend && npm ci\)`: /)]);
    expect(report).toContain('restores every file, but not the installed dependencies; after it, run `(cd frontend && npm ci)`');
    // 8: the files clean removed are named (20, then a count); each kept dir once
    // (the 23 notes and frontend/node_modules, whose lockfile changed)
    expect(report).toContain('## Files removed by clean: 24\n\n- frontend/node_modules/\n- note-01.txt\n');
    expect(report).toContain('- note-19.txt\n- … and 4 more');
    expect(report).toContain('Kept besides rollbacks/ and the keep paths: backend/.venv (backend/requirements.txt unchanged)\n');

    // undo: every file back; then the command it named brings node_modules back too
    const undone = await rbAsync(r.root, ['undo', '--yes'], env);
    expectCode(undone, 0);
    // rb undo prints the step it cannot do itself
    expect(undone.stdout).toContain('next: run `(cd frontend && npm ci)`');
    expect(manifest(r.root, exclude)).toBe(before);
    sh(r.root, '(cd frontend && npm ci -q)', env);
    expect(readFileSync(join(r.root, 'frontend/node_modules/.package-lock.json'), 'utf8')).toBe(modulesBefore);
  });

  // ==============================================================================================
  it.skipIf(!hasPython)('4: an install whose folder is not in the baseline is skipped with a note; one without a dir is skipped once it succeeded with the same lockfiles; rb\'s own config stays', async () => {
    const r = copyRepo(fullStackRepo());
    const env = installEnv();
    r.write('worker/requirements.txt', './nothing-here.whl\n');
    r.write('worker/job.py', 'print(1)\n');
    r.git('add', 'worker');
    r.git('commit', '-q', '-m', 'feature: a worker');
    // the user's configuration (uncommitted): pip into the backend's venv without a dir to keep, and the worker
    const cfg = readFileSync(join(r.root, 'rb.config.yaml'), 'utf8').replace(
      'install:\n',
      'install:\n  - { command: ".venv/bin/python -m pip install -r requirements.txt", cwd: backend, lockfiles: [requirements.txt], dir: null }\n  - { command: "python3 -m pip install -r requirements.txt", cwd: worker, lockfiles: [requirements.txt], dir: null }\n',
    );
    r.write('rb.config.yaml', cfg);

    const first = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], env);
    expectCode(first, 0);
    let installs = stepOf(journal(r), 'install').result.installs;
    expect(installs[0]).toMatchObject({ cwd: 'backend', ran: true, reason: 'no successful run of it recorded in this working copy', exitCode: 0 });
    expect(installs[1]).toMatchObject({ cwd: 'worker', ran: false, missing: ['worker/'] });
    expect(outOf(first)).toMatch(/warning: install: skipped \(cd worker\) python3 -m pip install -r requirements\.txt: worker\/ is not in this commit/);
    // 2: the user's rb.config.yaml (a modified, tracked file) is still theirs after the reset
    expect(readFileSync(join(r.root, 'rb.config.yaml'), 'utf8')).toBe(cfg);

    expectCode(await rbAsync(r.root, ['undo', '--yes'], env), 0);
    const second = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], env);
    expectCode(second, 0);
    installs = stepOf(journal(r), 'install').result.installs;
    expect(installs[0]).toMatchObject({ cwd: 'backend', ran: false, reason: expect.stringMatching(/^skipped: requirements\.txt unchanged since its last successful run here/) });
  });

  // ==============================================================================================
  for (const pm of ['pnpm', 'yarn'] as const) {
    it(`4, 6: a ${pm} project (the real ${pm}): rb init writes its install, emergency reinstalls from the baseline's lockfile and names it for after the undo`, async () => {
      const r = copyRepo(pmRepo(pm));
      const env = installEnv();
      const command = pm === 'pnpm' ? 'pnpm install --frozen-lockfile' : 'yarn install --frozen-lockfile';
      const lockfile = pm === 'pnpm' ? 'pnpm-lock.yaml' : 'yarn.lock';
      expect((await loadConfig(r.root)).config.install).toEqual([{ command, cwd: '.', lockfiles: [lockfile], dir: 'node_modules' }]);
      expect(existsSync(join(r.root, 'node_modules/dep-b'))).toBe(true);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], env);
      expectCode(res, 0);
      const installs = stepOf(journal(r), 'install').result.installs;
      expect(installs).toEqual([expect.objectContaining({ command, ran: true, exitCode: 0, afterUndo: command })]);
      expect(existsSync(join(r.root, 'node_modules/dep-a'))).toBe(true);
      expect(existsSync(join(r.root, 'node_modules/dep-b'))).toBe(false);
      expect(outOf(res)).toContain(`run \`${command}\``);
    });
  }

  it('4: npm workspaces: one install at the root; an emergency that did not change the lockfile keeps node_modules and installs nothing', async () => {
    const r = copyRepo(workspacesRepo());
    expect((await loadConfig(r.root)).config.install).toEqual([{ command: 'npm ci', cwd: '.', lockfiles: ['package-lock.json'], dir: 'node_modules' }]);
    // every entry with its type, link target, size and mtime: untouched means not rewritten either
    const listing = () => sh(r.root, "find node_modules -printf '%y %p %l %s %T@\\n' | sort");
    const modules = listing();
    expect(modules).toContain('l node_modules/a ../packages/a');
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services'], installEnv());
    expectCode(res, 0);
    expect(stepOf(journal(r), 'install').result.installs).toEqual([expect.objectContaining({ ran: false })]);
    expect(listing()).toBe(modules);
    expect(outOf(res)).toContain('undo everything with');
  });

  // ==============================================================================================
  it('4: rb init detects every package manager in the root and in sub-folders, and comments out an entry whose tool is not on PATH', async () => {
    const r = copyRepo(baseRepo());
    const w = (p: string, t = '{}\n') => r.write(p, t);
    w('package.json', JSON.stringify({ name: 'root', workspaces: ['packages/*'], scripts: { test: 'node --test' } }));
    w('package-lock.json');
    w('packages/a/package.json'); // a workspace member: no install of its own
    w('web-pnpm/package.json'); w('web-pnpm/pnpm-lock.yaml', 'lockfileVersion: 9\n');
    w('web-yarn/package.json'); w('web-yarn/yarn.lock', '# yarn lockfile v1\n');
    w('web-berry/package.json', JSON.stringify({ packageManager: 'yarn@4.5.0' })); w('web-berry/yarn.lock', '__metadata:\n'); w('web-berry/.yarnrc.yml', 'nodeLinker: node-modules\n');
    w('web-bun/package.json'); w('web-bun/bun.lock', '{}\n');
    w('api-uv/pyproject.toml', '[project]\nname = "a"\n'); w('api-uv/uv.lock', 'version = 1\n');
    w('api-poetry/pyproject.toml', '[tool.poetry]\nname = "b"\n'); w('api-poetry/poetry.lock', '# poetry\n');
    w('api-req/requirements.txt', 'flask\n'); w('api-req/requirements-dev.txt', 'pytest\n');
    w('api-venv/requirements.txt', 'flask\n'); w('api-venv/venv/pyvenv.cfg', 'home = /usr/bin\n');
    w('api-pyproject/pyproject.toml', '[project]\nname = "c"\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'every manager');
    const byDir = async (path: string) => Object.fromEntries((await detectProject(r.root, { path })).projects.map((p) => [p.dir, [p.install.command, p.install.lockfiles.join(' '), p.install.dir, p.missingTool ? 'missing' : 'ok']]));
    const bin = toolsBin();
    const withTools = await byDir(`${bin}:${process.env.PATH}`);
    expect(withTools['.']).toEqual(['npm ci', 'package-lock.json', 'node_modules', 'ok']);
    expect(withTools['packages']).toBeUndefined();
    expect(withTools['web-pnpm']).toEqual(['pnpm install --frozen-lockfile', 'pnpm-lock.yaml', 'node_modules', 'ok']);
    expect(withTools['web-yarn']).toEqual(['yarn install --frozen-lockfile', 'yarn.lock', 'node_modules', 'ok']);
    expect(withTools['web-berry']!.slice(0, 3)).toEqual(['yarn install --immutable', 'yarn.lock', 'node_modules']);
    expect(withTools['web-bun']!.slice(0, 3)).toEqual(['bun install --frozen-lockfile', 'bun.lock', 'node_modules']);
    expect(withTools['api-uv']!.slice(0, 3)).toEqual(['uv sync --frozen', 'uv.lock', '.venv']);
    expect(withTools['api-poetry']!.slice(0, 3)).toEqual(['poetry install', 'poetry.lock', null]);
    expect(withTools['api-req']!.slice(0, 3)).toEqual(['python3 -m pip install -r requirements.txt -r requirements-dev.txt', 'requirements.txt requirements-dev.txt', null]);
    expect(withTools['api-venv']!.slice(0, 3)).toEqual(['python3 -m venv venv && venv/bin/python -m pip install -r requirements.txt', 'requirements.txt', 'venv']);
    expect(withTools['api-pyproject']!.slice(0, 3)).toEqual(['python3 -m pip install -e .', 'pyproject.toml', null]);

    // nothing on PATH: every entry commented out, saying why; the file still loads
    const empty = tmpDir();
    const d = await detectProject(r.root, { path: empty });
    expect(d.projects.every((p) => p.missingTool)).toBe(true);
    const text = await renderConfig(d, { baseline: 'baseline' });
    expect(text).toContain('install: []');
    expect(text).toContain('  # pnpm is not on PATH: install it (`npm install -g pnpm` or `corepack enable`), then uncomment this entry:\n  # - command: pnpm install --frozen-lockfile\n  #   cwd: web-pnpm');
    expect(text).toMatch(/# no virtualenv \(\.venv\/ or venv\/\) in api-req\/: pip installs into the python3 on PATH/);
    writeFileSync(join(r.root, 'rb.config.yaml'), text);
    expect((await loadConfig(r.root)).config.install).toEqual([]);
    // with pnpm and yarn on PATH but not bun: only bun's entry is commented out (and so on)
    const only = await detectProject(r.root, { path: bin });
    const rendered = await renderConfig(only, { baseline: 'baseline' });
    writeFileSync(join(r.root, 'rb.config.yaml'), rendered);
    expect((await loadConfig(r.root)).config.install.map((i) => i.cwd)).toEqual(['web-berry', 'web-pnpm', 'web-yarn']);
    expect(rendered).toContain('  # bun is not on PATH');
  });

  // ==============================================================================================
  it('7: rb files on a path missing from the baseline, or one that already matches it, says it changed nothing and is not counted', async () => {
    const r = copyRepo(baseRepo());
    r.write('src/new.ts', 'export const fresh = 1;\n');
    const missing = await rbAsync(r.root, ['files', 'src/new.ts', '--yes', '--no-tests']);
    expectCode(missing, 0);
    expect(outOf(missing)).toContain('nothing changed: not in refs/heads/baseline, left as is: src/new.ts');
    expect(outOf(missing)).toMatch(/the run changed nothing \(restore changed nothing\): not counted as a rollback in rollbacks\/metrics\.json/);
    const same = await rbAsync(r.root, ['files', 'src/a.ts', '--yes', '--no-tests']);
    expectCode(same, 0);
    expect(outOf(same)).toContain('nothing changed: src/a.ts already matches refs/heads/baseline');
    expect(metricsOf(r)).toEqual([]);
    // a restore that changes a file is a rollback
    r.write('src/a.ts', 'export const a = 99;\n');
    const real = await rbAsync(r.root, ['files', 'src/a.ts', '--yes', '--no-tests']);
    expectCode(real, 0);
    expect(metricsOf(r).map((m) => m.run_id)).toEqual([runsOf(r)[0]!.id]);
  });

  // ==============================================================================================
  it('8: a skipped step says why in words; rb history says when it shows only the latest runs', async () => {
    const r = copyRepo(sprintRepo());
    const res = await rbAsync(r.root, ['sprint', '7', '--no-tests', '--yes']);
    expectCode(res, 0);
    expect(outOf(res)).toContain('skipped: parameter tests is false');
    expect(outOf(res)).not.toContain('{{');
    // 22 runs in the journal: copies of the real one, a minute apart
    const dir = join(gitDirOf(r), 'rb', 'runs');
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.json'));
    const run = JSON.parse(readFileSync(join(dir, file!), 'utf8'));
    for (let i = 1; i <= 21; i++) {
      const id = `20200101-0000${String(i).padStart(2, '0')}-sprint-7`;
      writeFileSync(join(dir, `${id}.json`), JSON.stringify({ ...run, id, startedAt: new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString() }));
    }
    const h = await rbAsync(r.root, ['history']);
    expectCode(h, 0);
    expect(h.stdout).toContain('Showing the 20 most recent of 22 runs: `rb history --limit 22` lists them all.');
    const all = await rbAsync(r.root, ['history', '--limit', '22']);
    expect(all.stdout).not.toContain('Showing the');
    const json = JSON.parse((await rbAsync(r.root, ['history', '--json'])).stdout);
    expect([json.runs.length, json.total]).toEqual([20, 22]);
  });
});
