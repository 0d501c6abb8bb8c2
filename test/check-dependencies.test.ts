/**
 * Issue 23, point 4: `rb check`'s dependency check compares what the lockfile says with what the
 * package manager recorded as installed — with real installs by npm, pnpm, yarn 1, yarn 4 and pip
 * in a virtual environment (test/helpers/pm-fixtures.ts builds and caches them) — and falls back
 * to modification times only where a manager records nothing, saying so.
 *
 * The drift case is what a `git checkout` of a branch whose lockfile changed does: the lockfile
 * is variant B's, node_modules is still variant A's install, and the install's marker file is
 * newer than the lockfile, so modification times alone would call it up to date.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tmpDir, tmpRepos } from './helpers/repo.js';
import { copyProject, installedProject, LOCKFILE, storeOf, tools, venv, type Manager } from './helpers/pm-fixtures.js';
import { checkInstall } from '../src/check/dependencies.js';
import type { InstallConfig } from '../src/types.js';

tmpRepos();

const MANAGERS: Manager[] = ['npm', 'pnpm', 'yarn1', 'yarn4'];
const AGAINST: Record<Manager, string> = {
  npm: 'compared by content',
  pnpm: 'compared by content with node_modules/.pnpm/lock.yaml',
  yarn1: 'compared by content with node_modules/.yarn-integrity',
  yarn4: 'compared by content with node_modules/.yarn-state.yml',
};

const install = (m: Manager): InstallConfig => ({ command: `${m} install`, cwd: '.', lockfiles: [LOCKFILE[m]], dir: 'node_modules' });

beforeAll(() => {
  // build (or reuse) every cached install before the cases run
  tools();
  for (const m of MANAGERS) for (const v of ['A', 'B'] as const) installedProject(m, v);
  venv();
}, 600_000);

/** A's install with B's lockfile and package.json, the marker newer than the lockfile. */
function checkedOutWithoutInstall(m: Manager): string {
  const root = copyProject(installedProject(m, 'A'), join(tmpDir(), 'app'));
  const b = installedProject(m, 'B');
  for (const f of ['package.json', LOCKFILE[m]]) cpSync(join(b, f), join(root, f));
  const old = new Date(Date.now() - 3_600_000);
  utimesSync(join(root, LOCKFILE[m]), old, old);
  return root;
}

describe.concurrent('dependencies compared by content, with real installs', { timeout: 120_000 }, () => {
  for (const m of MANAGERS) {
    it(`${m}: an install as locked passes, by content`, async () => {
      const root = copyProject(installedProject(m, 'A'), join(tmpDir(), 'app'));
      const v = await checkInstall(root, install(m));
      expect(v.status).toBe('pass');
      expect(v.text).toContain(`node_modules matches ${LOCKFILE[m]} (`);
      expect(v.text).toContain(AGAINST[m]);
      expect(v.text).not.toContain('modification time');
    });

    it(`${m}: a changed lockfile not installed yet fails naming the package, although the install's marker is newer`, async () => {
      const root = checkedOutWithoutInstall(m);
      const v = await checkInstall(root, install(m));
      expect(v.status).toBe('fail');
      expect(v.text).toMatch(/^node_modules does not match (package-lock\.json|pnpm-lock\.yaml|yarn\.lock)/);
      expect(v.text).toMatch(/is-odd/);
      expect(v.next).toBe(`run ${m} install`);
    });
  }

  it('pnpm and yarn 1: after the real install of the new lockfile, it passes again', async () => {
    const t = tools();
    for (const m of ['pnpm', 'yarn1'] as const) {
      const root = checkedOutWithoutInstall(m);
      const args = m === 'pnpm' ? [t.pnpm, 'install', '--ignore-scripts', '--offline', '--store-dir', storeOf(m)]
        : [t.yarn1, 'install', '--ignore-scripts', '--offline', '--non-interactive', '--cache-folder', storeOf(m)];
      const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(await checkInstall(root, install(m))).toMatchObject({ status: 'pass' });
    }
  });

  it('npm: `npm install --package-lock-only` rewrites the hidden lockfile without installing; the installed package.json decides', async () => {
    const root = copyProject(installedProject('npm', 'A'), join(tmpDir(), 'app'));
    const r = spawnSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', 'is-odd@3.0.0'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const hidden = JSON.parse(readFileSync(join(root, 'node_modules/.package-lock.json'), 'utf8'));
    const installed = JSON.parse(readFileSync(join(root, 'node_modules/is-odd/package.json'), 'utf8'));
    expect([hidden.packages['node_modules/is-odd'].version, installed.version]).toEqual(['3.0.0', '3.0.1']); // npm's belief, and the files
    const v = await checkInstall(root, install('npm'));
    expect(v.status).toBe('fail');
    expect(v.text).toContain('is-odd (installed 3.0.1, locked 3.0.0)');
  });

  it('pnpm with no current lockfile recorded: modification times only, and it says why', async () => {
    const root = checkedOutWithoutInstall('pnpm');
    rmSync(join(root, 'node_modules/.pnpm/lock.yaml'));
    const v = await checkInstall(root, install('pnpm'));
    expect(v.status).toBe('pass');
    expect(v.text).toBe('node_modules/.modules.yaml is at least as new as pnpm-lock.yaml (by modification time only: pnpm recorded no node_modules/.pnpm/lock.yaml (an install by another tool, or pnpm older than 7))');
  });

  it('a lockfile rb has no reader for: modification times only, saying so', async () => {
    const root = tmpDir();
    writeFileSync(join(root, 'deps.lock'), 'v1\n');
    mkdirSync(join(root, 'vendor'));
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'deps.lock'), old, old);
    const v = await checkInstall(root, { command: ['node', 'install.js'], cwd: '.', lockfiles: ['deps.lock'], dir: 'vendor' });
    expect(v).toMatchObject({ status: 'pass', text: 'vendor is at least as new as deps.lock (by modification time only: rb reads no installed record for deps.lock)' });
  });
});

describe.concurrent('a virtual environment against requirements.txt (what pip lists as installed)', { timeout: 120_000 }, () => {
  function project(requirements: string): string {
    const root = tmpDir();
    writeFileSync(join(root, 'requirements.txt'), requirements);
    symlinkSync(join(venv(), 'venv'), join(root, '.venv'));
    // the venv is newer than the requirements: modification times alone would pass every case
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(join(root, 'requirements.txt'), old, old);
    return root;
  }
  const pip: InstallConfig = { command: 'python3 -m venv .venv && .venv/bin/python -m pip install -r requirements.txt', cwd: '.', lockfiles: ['requirements.txt'], dir: '.venv' };

  it('the pinned version installed: pass, by content', async () => {
    const v = await checkInstall(project('# runtime\ntiny-pkg==1.2.0\nwin-only==1.0 ; sys_platform == "win32"\n'), pip);
    expect(v.status).toBe('pass');
    expect(v.text).toBe(`.venv matches requirements.txt (2 entries compared by content with pip's list of .venv; 1 with an environment marker, not installed here)`);
  });

  it('another version pinned, or a requirement not installed: fail naming them', async () => {
    const v = await checkInstall(project('tiny_pkg==1.3.0\nrequests>=2\n'), pip);
    expect(v.status).toBe('fail');
    expect(v.text).toBe(`.venv does not match requirements.txt (compared with pip's list of .venv): 1 differ: tiny-pkg (installed 1.2.0, locked 1.3.0); 1 missing: requests`);
  });
});
