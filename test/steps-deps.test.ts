/**
 * deps.install and lockfilesUnchanged against a real throwaway git repository: an install is
 * skipped only when its dependency dir exists and its lockfiles are the same blobs in `since`
 * and HEAD (and on disk); otherwise its command really runs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Config, InstallConfig } from '../src/types.js';
import type { StepResult } from '../src/steps/types.js';
import { fakeStepContext } from './helpers/step-context.js';
import { depsInstall, lockfilesUnchanged } from '../src/steps/deps-install.js';
import { undoFollowUps } from '../src/steps/undo-follow-ups.js';

// real processes: generous bounds so a loaded machine does not fail them (no assertion is on speed)
vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

// ---- tiny local helpers ---------------------------------------------------------------------

let root: string;

function git(...args: string[]): string {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: root } });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function write(p: string, text: string): void {
  mkdirSync(dirname(join(root, p)), { recursive: true });
  writeFileSync(join(root, p), text);
}

function commit(message: string): string {
  git('add', '-A');
  git('commit', '-q', '-m', message);
  return git('rev-parse', 'HEAD');
}

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'rb-deps-')));
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'Test');
  git('config', 'user.email', 'test@example.com');
  git('config', 'commit.gpgSign', 'false');
  git('config', 'gc.auto', '0');
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** The harmless install of the brief: writes "installed" (with a counter) in its cwd. */
const INSTALL = [process.execPath, '-e', "const f=require('fs');f.writeFileSync('installed',String((+(f.existsSync('installed')&&f.readFileSync('installed','utf8'))||0)+1))"];

function npmInstall(over: Partial<InstallConfig> = {}): InstallConfig {
  return { command: INSTALL, cwd: '.', lockfiles: ['package-lock.json'], dir: 'node_modules', ...over };
}

function fakeCtx(install: InstallConfig[], timeoutMs?: number) {
  return fakeStepContext(root, { install }, timeoutMs);
}

/** A repo with a lockfile (commit A), an unrelated change (B), and an ignored, populated node_modules. */
function setup(): { a: string; b: string } {
  write('.gitignore', 'node_modules/\ninstalled\nweb/installed\n');
  write('package-lock.json', '{"lockfileVersion":3,"packages":{"left-pad":"1.3.0"}}\n');
  const a = commit('A');
  write('README.md', 'hello\n');
  const b = commit('B');
  write('node_modules/left-pad/index.js', 'module.exports = 1;\n');
  return { a, b };
}

describe('lockfilesUnchanged', () => {
  it('compares blob oids between two revisions', async () => {
    const { a, b } = setup();
    expect(await lockfilesUnchanged(root, npmInstall(), a, b)).toBe(true);
    write('package-lock.json', '{"lockfileVersion":3,"packages":{"left-pad":"1.3.1"}}\n');
    const c = commit('C');
    expect(await lockfilesUnchanged(root, npmInstall(), a, c)).toBe(false);
    expect(await lockfilesUnchanged(root, npmInstall(), b, 'HEAD')).toBe(false);
  });

  it('missing on both sides is identical; missing on one side is changed', async () => {
    const { a, b } = setup();
    expect(await lockfilesUnchanged(root, npmInstall({ lockfiles: ['package-lock.json', 'yarn.lock'] }), a, b)).toBe(true);
    write('yarn.lock', '# yarn\n');
    const c = commit('C');
    expect(await lockfilesUnchanged(root, npmInstall({ lockfiles: ['package-lock.json', 'yarn.lock'] }), a, c)).toBe(false);
  });

  it('an unresolvable revision or no lockfiles configured: not provably unchanged', async () => {
    const { a } = setup();
    expect(await lockfilesUnchanged(root, npmInstall(), a, 'no-such-ref')).toBe(false);
    expect(await lockfilesUnchanged(root, { command: 'make deps', cwd: '.', lockfiles: [], dir: null }, a, 'HEAD')).toBe(false);
  });

  it('no lockfile (package-lock=false): package.json stands in for it (issue 24)', async () => {
    const { a } = setup();
    write('package.json', '{"name":"x","version":"1.0.0"}\n');
    const b = commit('package.json');
    write('README.md', 'changed\n');
    const c = commit('README only');
    expect(await lockfilesUnchanged(root, npmInstall({ lockfiles: [] }), b, c)).toBe(true);
    expect(await lockfilesUnchanged(root, npmInstall({ lockfiles: [] }), a, c)).toBe(false);
  });

  it('odd lockfile names and revision expressions give the same answers (one batch, or rev-parse each)', async () => {
    write('dir with space/a lock:file.json', '{"v":1}\n');
    const a = commit('A');
    write('README.md', 'x\n');
    const b = commit('B');
    write('dir with space/a lock:file.json', '{"v":2}\n');
    const c = commit('C');
    const odd = npmInstall({ cwd: 'dir with space', lockfiles: ['a lock:file.json'] });
    expect(await lockfilesUnchanged(root, odd, a, b)).toBe(true);
    expect(await lockfilesUnchanged(root, odd, b, c)).toBe(false);
    expect(await lockfilesUnchanged(root, odd, 'HEAD~2', 'HEAD~1')).toBe(true); // ~: rev-parse each
    expect(await lockfilesUnchanged(root, odd, 'HEAD~1', 'HEAD')).toBe(false);
    expect(await lockfilesUnchanged(root, odd, a, `${b}^{tree}`)).toBe(false); // not a commit
    expect(await lockfilesUnchanged(root, npmInstall({ lockfiles: ['dir with space'] }), a, b)).toBe(true); // a directory: its tree
  });

  it('lockfiles are relative to the install cwd', async () => {
    write('web/package-lock.json', '{"v":1}\n');
    const a = commit('A');
    write('package-lock.json', '{"root":1}\n');
    const b = commit('B');
    expect(await lockfilesUnchanged(root, npmInstall({ cwd: 'web' }), a, b)).toBe(true);
    expect(await lockfilesUnchanged(root, npmInstall({ cwd: '.' }), a, b)).toBe(false);
  });
});

describe('deps.install', () => {
  it('lockfile unchanged since `since` and node_modules present: skipped, node_modules kept', async () => {
    const { a } = setup();
    const { ctx, lines } = fakeCtx([npmInstall()]);
    const r = (await depsInstall.run({ since: a }, ctx)) as StepResult;
    const reason = `node_modules kept: package-lock.json unchanged since ${a.slice(0, 12)}`;
    expect(r).toEqual({ installs: [{ cwd: '.', command: expect.stringContaining('writeFileSync'), ran: false, reason }], commands: [] });
    expect(lines).toEqual([reason]);
    expect(existsSync(join(root, 'installed'))).toBe(false);
    expect(readFileSync(join(root, 'node_modules/left-pad/index.js'), 'utf8')).toBe('module.exports = 1;\n');
  });

  it('lockfile changed since `since`: the command runs in its cwd', async () => {
    const { a } = setup();
    write('package-lock.json', '{"lockfileVersion":3,"packages":{"left-pad":"1.3.1"}}\n');
    commit('C');
    const { ctx } = fakeCtx([npmInstall()]);
    const r = (await depsInstall.run({ since: a }, ctx)) as StepResult;
    expect(r.installs).toEqual([
      // it ran against another package-lock.json than `since` had: after an undo, run it again
      { cwd: '.', command: expect.any(String), ran: true, reason: `package-lock.json changed since ${a.slice(0, 12)}`, exitCode: 0, durationMs: expect.any(Number), afterUndo: expect.stringContaining('writeFileSync') },
    ]);
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(root, 'installed'), 'utf8')).toBe('1');
  });

  it('runs when the dependency dir is missing, without `since`, with force, or when the working copy differs from HEAD', async () => {
    const { a } = setup();
    const { ctx } = fakeCtx([npmInstall()]);
    const reasonOf = async (w: Parameters<typeof depsInstall.run>[0]) => ((await depsInstall.run(w, ctx)) as { installs: { ran: boolean; reason: string }[] }).installs[0]!;

    expect(await reasonOf({})).toEqual(expect.objectContaining({ ran: true, reason: 'no earlier commit to compare lockfiles with' }));
    expect(await reasonOf({ since: '' })).toEqual(expect.objectContaining({ ran: true }));
    expect(await reasonOf({ since: a, force: true })).toEqual(expect.objectContaining({ ran: true, reason: 'forced' }));
    expect(await reasonOf({ since: 'nope' })).toEqual(expect.objectContaining({ ran: true, reason: 'nope does not resolve to a commit' }));

    write('package-lock.json', '{"edited":true}\n');
    expect(await reasonOf({ since: a })).toEqual(expect.objectContaining({ ran: true, reason: 'package-lock.json in the working copy differs from HEAD' }));
    git('checkout', '--', 'package-lock.json');

    rmSync(join(root, 'node_modules'), { recursive: true });
    expect(await reasonOf({ since: a })).toEqual(expect.objectContaining({ ran: true, reason: 'node_modules is missing' }));
    expect(readFileSync(join(root, 'installed'), 'utf8')).toBe('6');
  });

  it('selects installs by index or cwd; an install in a sub-directory runs there', async () => {
    const { a } = setup();
    write('web/package-lock.json', '{"web":1}\n');
    commit('web');
    mkdirSync(join(root, 'web/node_modules'));
    const { ctx } = fakeCtx([npmInstall(), npmInstall({ cwd: 'web' })]);
    const r = (await depsInstall.run({ names: ['web'], since: a }, ctx)) as { installs: { cwd: string; ran: boolean; reason: string }[] };
    expect(r.installs).toEqual([expect.objectContaining({ cwd: 'web', ran: true, reason: `package-lock.json changed since ${a.slice(0, 12)}` })]);
    expect(existsSync(join(root, 'web/installed'))).toBe(true);
    expect(existsSync(join(root, 'installed'))).toBe(false);

    const r0 = (await depsInstall.run({ names: ['0'], since: a }, ctx)) as { installs: { cwd: string; ran: boolean }[] };
    expect(r0.installs).toEqual([expect.objectContaining({ cwd: '.', ran: false })]);
    await expect(depsInstall.run({ names: ['api'] }, ctx)).rejects.toThrow('no install entry "api" (configured: 0 (.), 1 (web))');
  });

  it('a failing install fails the step with what ran so far', async () => {
    setup();
    const failing = npmInstall({ cwd: 'web', command: [process.execPath, '-e', 'console.log("E404 not found"); process.exit(1)'] });
    write('web/package-lock.json', '{}\n');
    const { ctx } = fakeCtx([npmInstall(), failing, npmInstall()]);
    const err = await depsInstall.run({}, ctx).then(() => null, (e: Error & { result: StepResult }) => e);
    expect(err?.message).toMatch(/^install in web failed: .*: exited 1$/);
    expect(err?.result).toMatchObject({ exitCode: 1, outputTail: 'E404 not found' });
    expect((err?.result.installs as unknown[]).length).toBe(2);
  });

  it('a string command runs through the shell', async () => {
    setup();
    const { ctx } = fakeCtx([npmInstall({ command: `"${process.execPath}" -e "require('fs').writeFileSync('installed','1')" && echo done` })]);
    const r = (await depsInstall.run({}, ctx)) as StepResult;
    expect(r.outputTail).toBe('done');
    expect(existsSync(join(root, 'installed'))).toBe(true);
  });

  it('nothing configured: skipped; describe lists the commands and when they are skipped', async () => {
    setup();
    expect(await depsInstall.run({}, fakeCtx([]).ctx)).toEqual({ skipped: 'no installs configured' });
    const { ctx } = fakeCtx([npmInstall({ command: 'npm ci' }), npmInstall({ command: ['pip', 'install', '-r', 'requirements.txt'], cwd: 'api', lockfiles: ['requirements.txt'], dir: null })]);
    expect(depsInstall.describe({ since: '{{run.head}}' }, ctx)).toEqual([
      'npm ci  # skipped when package-lock.json unchanged',
      '(cd api) pip install -r requirements.txt  # skipped when requirements.txt unchanged since its last successful run here',
    ]);
    expect(depsInstall.describe({}, fakeCtx([]).ctx)).toEqual(['(no installs configured)']);
  });

  it('an unborn HEAD: nothing to compare, the install runs', async () => {
    write('package-lock.json', '{}\n');
    mkdirSync(join(root, 'node_modules'));
    const { ctx } = fakeCtx([npmInstall()]);
    const r = (await depsInstall.run({ since: 'HEAD' }, ctx)) as { installs: { ran: boolean }[] };
    expect(r.installs[0]!.ran).toBe(true);
    unlinkSync(join(root, 'installed'));
  });
});

describe('deps.install (issue 17): missing lockfiles, remembered installs, what undo cannot give back', () => {
  const installsOf = (r: unknown) => (r as { installs: { cwd: string; ran: boolean; reason: string; missing?: string[]; afterUndo?: string }[] }).installs;

  it('a folder or lockfile that is not there: skipped with a note, the command never runs', async () => {
    setup();
    const { ctx, warnings } = fakeCtx([
      npmInstall({ cwd: 'api', lockfiles: ['requirements.txt'], dir: null }),
      npmInstall({ lockfiles: ['package-lock.json', 'requirements-dev.txt'] }),
    ]);
    const r = await depsInstall.run({ since: 'HEAD' }, ctx);
    expect(installsOf(r).map((i) => [i.ran, i.missing])).toEqual([[false, ['api/']], [false, ['requirements-dev.txt']]]);
    expect(warnings).toEqual([
      expect.stringMatching(/^skipped \(cd api\) .*: api\/ is not in this commit$/),
      expect.stringMatching(/: requirements-dev\.txt is not in this commit$/),
    ]);
    expect(existsSync(join(root, 'installed'))).toBe(false);
    // in HEAD but deleted from the working copy: said so
    rmSync(join(root, 'package-lock.json'));
    const again = fakeCtx([npmInstall()]);
    await depsInstall.run({ since: 'HEAD' }, again.ctx);
    expect(again.warnings).toEqual([expect.stringMatching(/package-lock\.json is missing from the working copy$/)]);
  });

  it('no dependency dir: runs until it succeeded once, then is skipped while the lockfiles on disk are the same; a change runs it again', async () => {
    setup();
    const pip = npmInstall({ lockfiles: ['package-lock.json'], dir: null });
    const first = await depsInstall.run({ since: 'HEAD' }, fakeCtx([pip]).ctx);
    expect(installsOf(first)[0]).toMatchObject({ ran: true, reason: 'no successful run of it recorded in this working copy' });
    const memory = JSON.parse(readFileSync(join(root, '.git', 'rb', 'installs.json'), 'utf8'));
    expect(Object.values(memory.installs)).toEqual([{ lockfiles: { 'package-lock.json': git('hash-object', 'package-lock.json') }, at: expect.any(String) }]);
    const second = await depsInstall.run({ since: 'HEAD' }, fakeCtx([pip]).ctx);
    expect(installsOf(second)[0]).toMatchObject({ ran: false, reason: expect.stringMatching(/^skipped: package-lock\.json unchanged since its last successful run here/) });
    expect(readFileSync(join(root, 'installed'), 'utf8')).toBe('1');
    write('package-lock.json', '{"lockfileVersion":3,"packages":{"left-pad":"1.3.1"}}\n'); // not committed: what is on disk counts
    const third = await depsInstall.run({}, fakeCtx([pip]).ctx);
    expect(installsOf(third)[0]).toMatchObject({ ran: true, reason: expect.stringMatching(/^package-lock\.json changed since its last successful run here/) });
    expect(readFileSync(join(root, 'installed'), 'utf8')).toBe('2');
    // a failed run is not remembered
    const failing = npmInstall({ dir: null, command: [process.execPath, '-e', 'process.exit(3)'] });
    await expect(depsInstall.run({}, fakeCtx([failing]).ctx)).rejects.toThrow(/exited 3/);
    await expect(depsInstall.run({}, fakeCtx([failing]).ctx)).rejects.toThrow(/exited 3/);
  });

  it('an install that ran against other lockfiles than `since` carries afterUndo; undoFollowUps turns the journal into next steps', async () => {
    setup();
    write('web/package-lock.json', '{"web":1}\n');
    mkdirSync(join(root, 'web/node_modules'), { recursive: true });
    mkdirSync(join(root, 'node_modules'), { recursive: true });
    const b = commit('web');
    write('web/package-lock.json', '{"web":2}\n');
    commit('web 2');
    const { ctx } = fakeCtx([npmInstall(), npmInstall({ cwd: 'web', command: ['node', '-e', '1'] })]);
    const r = await depsInstall.run({ since: b }, ctx);
    expect(installsOf(r).map((i) => [i.cwd, i.ran, i.afterUndo])).toEqual([['.', false, undefined], ['web', true, '(cd web && node -e 1)']]);
    const journal = {
      steps: [
        { kind: 'git.clean', result: { removedDeps: [{ dir: 'web/node_modules', cwd: 'web', command: 'npm ci', lockfiles: ['package-lock.json'] }] } },
        { kind: 'deps.install', result: { installs: [{ cwd: 'web', command: 'npm ci', ran: true, reason: 'x', afterUndo: '(cd web && npm ci)' }, { cwd: 'api', command: 'pip install -r requirements.txt', ran: true, reason: 'x', afterUndo: '(cd api && pip install -r requirements.txt)' }] } },
        { kind: 'report', result: { report: 'x' } },
      ],
    };
    expect(undoFollowUps(journal)).toEqual([
      'run `(cd web && npm ci)`: web/node_modules was removed (its lockfiles changed) and is not in the snapshot',
      "run `(cd api && pip install -r requirements.txt)`: that install ran against the baseline's lockfiles, and what it installed is not in the snapshot",
    ]);
    expect(undoFollowUps({ steps: [{ kind: 'deps.install', result: { installs: [{ cwd: '.', command: 'npm ci', ran: false, reason: 'kept' }] } }] })).toEqual([]);
  });
});
