/**
 * Issue 22: rb as a normal user — entries it cannot delete, write or read, found before anything
 * changes. rb runs as an unprivileged user (test/helpers/unprivileged.ts: made with useradd when
 * the suite runs as root, as CI does); root adds the entries that user cannot touch (a root-owned
 * build/cache/ as a `docker run -v $PWD:/app` leaves) and takes the manifests.
 *
 *   1 found before anything changes: every destructive command stops with exit 3, nothing changed
 *   2 --skip-unwritable (and skipUnwritable in rb.config.yaml): left in place, named, never lost
 *   3 the user's own read-only directories (Go's module cache): opened, modes put back
 *   4 files it cannot read: "not captured (unreadable)", kept
 *   5 undo and abort: the same preflight; a restore never fails half-way for permissions
 *   6 all of it run as a normal user (this file)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, gitRun, tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { GITIGNORE, baseRepo, moveBaselineHere, outOf, runsOf, expectCode } from './helpers/scenarios.js';
import { chownRoot, chownUser, foreignOwned, giveTo, normalUser, rbAs, runAs, writeRootOwned, type NormalUser } from './helpers/unprivileged.js';

tmpRepos();

const u = normalUser();
const EXCL = { exclude: ['rollbacks'] };


/**
 * main = baseline: the scenario project (its .gitignore also ignores .gomod/) plus conf/app.json;
 * branch feature: one commit past it; an ignored build/out.js and an untracked notes.md.
 */
let built: TestRepo | null = null;
function fixture(): TestRepo {
  if (built) return built;
  const r = copyRepo(baseRepo());
  r.write('.gitignore', GITIGNORE + '.gomod/\n');
  r.write('conf/app.json', '{ "v": 1 }\n');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'conf');
  moveBaselineHere(r);
  r.git('switch', '-q', '-c', 'feature');
  r.write('src/a.ts', 'export const a = 2;\n');
  r.git('commit', '-q', '-am', 'feature: a = 2');
  r.write('build/out.js', 'compiled();\n');
  r.write('notes.md', 'todo\n');
  built = r;
  return r;
}

/** A copy of the fixture, handed to the normal user. */
function userRepo(user: NormalUser): TestRepo {
  return giveTo(copyRepo(fixture()), user);
}

/** rb as the normal user in r (HOME: the repository's folder, which the user owns). */
const rb = (user: NormalUser, r: TestRepo, ...args: string[]) => rbAs(user, r.root, args, r.dir);

/** Read-only git as root in the user's repository. */
const gitRo = (r: TestRepo, ...args: string[]) => gitRun(r.root, args, { env: { GIT_OPTIONAL_LOCKS: '0' } }).stdout;

const snapshotsOf = (r: TestRepo) => gitRo(r, 'for-each-ref', '--format=%(refname)', 'refs/rb/snapshots');

/** Entries only root could have made, as a container run as root leaves them: build/cache/x. */
function rootOwnedBuildCache(r: TestRepo): void {
  writeRootOwned(r, 'build/cache/x', 'cached by a container\n');
}

/** A Go module proxy on disk (GOPROXY=file://…) serving example.com/dep v1.0.0, readable by the user. */
let proxyDir: string | null = null;
function goProxy(): string {
  if (proxyDir) return proxyDir;
  const dir = tmpDir('rb-test-goproxy-');
  chmodSync(dir, 0o755);
  const v = join(dir, 'example.com', 'dep', '@v');
  mkdirSync(v, { recursive: true });
  writeFileSync(join(v, 'list'), 'v1.0.0\n');
  writeFileSync(join(v, 'v1.0.0.info'), '{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}\n');
  writeFileSync(join(v, 'v1.0.0.mod'), 'module example.com/dep\n\ngo 1.19\n');
  // the module zip: its files under example.com/dep@v1.0.0/ (written by python3's zipfile)
  const zip = spawnSync('python3', ['-c', [
    'import sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1], "w")',
    'z.writestr("example.com/dep@v1.0.0/go.mod", "module example.com/dep\\n\\ngo 1.19\\n")',
    'z.writestr("example.com/dep@v1.0.0/dep.go", "package dep\\n\\nfunc Answer() int { return 42 }\\n")',
    'z.close()',
  ].join('\n'), join(v, 'v1.0.0.zip')], { encoding: 'utf8' });
  if (zip.status !== 0) throw new Error(`could not write the module zip: ${zip.stderr}`);
  proxyDir = dir;
  return dir;
}

/** Nothing was changed: the same manifest, no snapshot, no run journal, the same foreign-owned entries. */
function expectNothingChanged(r: TestRepo, before: string, foreign: string[], user: NormalUser): void {
  expect(manifest(r.root, EXCL)).toBe(before);
  expect(foreignOwned(r, user)).toEqual(foreign);
}

describe.concurrent('issue 22, rb as a normal user', () => {
  it('6: rb runs unprivileged here (the journal names the OS user)', async (ctx) => {
    if (!u.user) ctx.skip(u.reason);
    const user = u.user!;
    const r = userRepo(user);
    const res = await rb(user, r, 'snapshots', 'create', '-m', 'who am i');
    expectCode(res, 0);
    if (u.root) expect(user.uid).not.toBe(0);
    // the snapshot ref was written by the user: its loose ref file is theirs
    const refs = join(r.root, '.git', 'refs', 'rb', 'snapshots');
    const [name] = readdirSync(refs);
    expect(lstatSync(join(refs, name!)).uid).toBe(user.uid);
  });

  describe('1: found before anything changes (exit 3, nothing changed, the paths and the fix)', () => {
    it('rb emergency: a root-owned build/cache/ in the way of the clean', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      rootOwnedBuildCache(r);
      const before = manifest(r.root, EXCL);
      const foreign = foreignOwned(r, user);
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 3);
      const out = outOf(res);
      expect(out).toContain('build/cache/ (owned by root)');
      expect(out).toContain('nothing was changed');
      expect(out).toContain('sudo chown -R "$USER" build/cache/');
      expect(out).toContain('`keep`');
      expect(out).toContain('rb emergency --skip-unwritable');
      expectNothingChanged(r, before, foreign, user);
      expect(snapshotsOf(r)).toBe('');
      expect(runsOf(r)).toEqual([]);
    });

    it('names up to 20 paths and a count', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      for (let i = 0; i < 23; i++) writeRootOwned(r, `build/c${String(i).padStart(2, '0')}/x`, 'x\n');
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 3);
      expect(res.stderr).toContain('23 paths');
      expect(res.stderr).toContain('build/c19/ (owned by root)');
      expect(res.stderr).not.toContain('build/c20/');
      expect(res.stderr).toContain('… and 3 more');
    });

    it('a root-owned file in a sticky world-writable directory (like /tmp): the directory is writable, the entry is not yours to remove', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      writeRootOwned(r, 'build/shared/lock', 'held by a container\n');
      chmodSync(join(r.root, 'build', 'shared'), 0o1777);
      const before = manifest(r.root, EXCL);
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 3);
      expect(res.stderr).toContain('build/shared/lock (owned by root in a sticky directory)');
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('rb sprint: a root-owned untracked data/ the switch to the retry branch would delete (with --skip-unwritable: left, named, in the WIP commit)', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      writeRootOwned(r, 'data/dump.sql', 'select 1;\n');
      const before = manifest(r.root, EXCL);
      const foreign = foreignOwned(r, user);
      const res = await rb(user, r, 'sprint', '3', '--yes', '--no-tests');
      expectCode(res, 3);
      expect(res.stderr).toContain('data/ (owned by root)');
      expect(res.stderr).toContain('rb sprint 3 --skip-unwritable');
      expectNothingChanged(r, before, foreign, user);
      expect(gitRo(r, 'branch', '--list', 'backup/*', 'refactor/*')).toBe('');
      // going around it: git leaves a file it cannot remove; it is in the WIP commit and the snapshot
      const skip = await rb(user, r, 'sprint', '3', '--yes', '--no-tests', '--skip-unwritable');
      expectCode(skip, 0);
      expect(skip.stdout).toContain('not removed (not yours to change; left in place, --skip-unwritable): data/ (owned by root)');
      expect(gitRo(r, 'symbolic-ref', 'HEAD').trim()).toBe('refs/heads/refactor/sprint-3-retry');
      const backup = gitRo(r, 'branch', '--list', '--format=%(refname)', 'backup/*').trim();
      expect(gitRo(r, 'show', `${backup}:data/dump.sql`)).toBe('select 1;\n');
      expect(foreignOwned(r, user)).toEqual(foreign);
      expectCode(await rb(user, r, 'undo', '--yes'), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('rb files: a tracked file in a root-owned directory', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      // a container took conf/ over; the file stayed writable for everyone, and was changed
      chownRoot(r, 'conf');
      chmodSync(join(r.root, 'conf', 'app.json'), 0o666);
      writeFileSync(join(r.root, 'conf', 'app.json'), '{ "v": 2 }\n');
      const before = manifest(r.root, EXCL);
      const foreign = foreignOwned(r, user);
      const res = await rb(user, r, 'files', 'conf/app.json', '--yes', '--no-tests');
      expectCode(res, 3);
      expect(res.stderr).toContain('conf/ (owned by root)');
      expectNothingChanged(r, before, foreign, user);
    });

    it('rb run <playbook>: a repository playbook that resets and cleans', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      mkdirSync(join(r.root, '.rb', 'playbooks'), { recursive: true });
      writeFileSync(join(r.root, '.rb', 'playbooks', 'wipe.yaml'), [
        'name: wipe', 'title: Reset and clean', 'steps:',
        '  - { id: snapshot, uses: snapshot }',
        '  - { id: reset, uses: git.reset-hard, with: { ref: "{{baseline}}" } }',
        '  - { id: clean, uses: git.clean }', '',
      ].join('\n'));
      giveTo(r, user);
      rootOwnedBuildCache(r);
      const before = manifest(r.root, EXCL);
      const res = await rb(user, r, 'run', 'wipe', '--yes');
      expectCode(res, 3);
      expect(res.stderr).toContain('build/cache/ (owned by root)');
      expect(res.stderr).toContain('rb run wipe --skip-unwritable');
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });

  describe('2: --skip-unwritable goes around them: left in place, named, never lost', () => {
    it('rb emergency --skip-unwritable finishes, names build/cache/ in its output and report; rb undo gives back the manifest', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      rootOwnedBuildCache(r);
      const before = manifest(r.root, EXCL);
      const foreign = foreignOwned(r, user);
      const res = await rb(user, r, 'emergency', '--yes', '--skip-unwritable');
      expectCode(res, 0);
      expect(res.stdout).toContain('not cleaned (not yours to change; left in place, --skip-unwritable): build/cache/ (owned by root)');
      const run = runsOf(r)[0]!;
      const report = readFileSync(join(r.root, 'rollbacks', `emergency-${(run as any).stamp}`, 'report.md'), 'utf8');
      expect(report).toContain('build/cache/ (owned by root: left in place, --skip-unwritable)');
      // the rest of build/ went; the root-owned entry is exactly as it was
      expect(existsSync(join(r.root, 'build', 'out.js'))).toBe(false);
      expect(readFileSync(join(r.root, 'build', 'cache', 'x'), 'utf8')).toBe('cached by a container\n');
      expect(foreignOwned(r, user)).toEqual(foreign);
      // undo: the root-owned entry already is what the snapshot holds, so it is left alone
      const undo = await rb(user, r, 'undo', '--yes');
      expectCode(undo, 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      expect(foreignOwned(r, user)).toEqual(foreign);
    });

    it('skipUnwritable: true in rb.config.yaml does the same', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      writeFileSync(join(r.root, 'rb.config.yaml'), 'skipUnwritable: true\n');
      giveTo(r, user);
      rootOwnedBuildCache(r);
      const before = manifest(r.root, EXCL);
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 0);
      expect(res.stdout).toContain('build/cache/ (owned by root)');
      expectCode(await rb(user, r, 'undo', '--yes'), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('rb undo --skip-unwritable leaves what a container added since, and names what it could not put back', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      expectCode(await rb(user, r, 'emergency', '--yes'), 0);
      // a container rebuilt build/ as root meanwhile
      writeRootOwned(r, 'build/bundle.js', 'bundle();\n');
      const blocked = await rb(user, r, 'undo', '--yes');
      expectCode(blocked, 3);
      expect(blocked.stderr).toContain('build/ (owned by root)');
      expect(blocked.stderr).not.toContain('`keep`'); // a restore does not read keep
      const res = await rb(user, r, 'undo', '--yes', '--skip-unwritable');
      expectCode(res, 0);
      expect(res.stdout).toContain('not restored: build/bundle.js');
      expect(res.stdout).toContain('not restored: build/out.js');
      expect(readFileSync(join(r.root, 'build', 'bundle.js'), 'utf8')).toBe('bundle();\n');
      // everything else is back
      expect(readFileSync(join(r.root, 'notes.md'), 'utf8')).toBe('todo\n');
      expect(gitRo(r, 'symbolic-ref', 'HEAD').trim()).toBe('refs/heads/feature');
    });
  });

  describe('3: the user\'s own read-only directories are opened for the operation, their modes put back', () => {
    it('Go\'s module cache (ignored, 0555 dirs, 0444 files) and an untracked file in a 0555 dir: rb emergency, rb undo, rb redo', async (ctx) => {
      if (!u.user) ctx.skip(u.reason);
      const user = u.user!;
      const r = userRepo(user);
      const mod = join(r.root, '.gomod', 'pkg', 'mod', 'example.com', 'm@v1.0.0');
      mkdirSync(mod, { recursive: true });
      writeFileSync(join(mod, 'm.go'), 'package m\n');
      mkdirSync(join(r.root, 'ro'));
      writeFileSync(join(r.root, 'ro', 'new.txt'), 'new\n');
      giveTo(r, user);
      chmodSync(join(mod, 'm.go'), 0o444);
      for (const d of [mod, join(mod, '..'), join(mod, '..', '..'), join(mod, '..', '..', '..'), join(r.root, '.gomod'), join(r.root, 'ro')]) chmodSync(d, 0o555);
      const before = manifest(r.root, EXCL);
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 0);
      expect(existsSync(join(r.root, '.gomod'))).toBe(false);
      expect(existsSync(join(r.root, 'ro'))).toBe(false);
      const undo = await rb(user, r, 'undo', '--yes');
      expectCode(undo, 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      expect((lstatSync(join(r.root, '.gomod')).mode & 0o777).toString(8)).toBe('555');
      // rb redo (the undo of the undo) removes the read-only trees again (its restore opens them)
      const redo = await rb(user, r, 'redo', '--yes');
      expectCode(redo, 0);
      expect(existsSync(join(r.root, '.gomod'))).toBe(false);
      expect(existsSync(join(r.root, 'ro'))).toBe(false);
    });

    it('a real Go module cache (go mod download, read-only by design) inside the working copy: rb emergency removes it, rb undo gives it back and go builds from it', async (ctx) => {
      if (!u.user) ctx.skip(u.reason);
      if (spawnSync('sh', ['-c', 'command -v go']).status !== 0) ctx.skip('go is not installed (.ci/run installs golang-go from Debian)');
      const user = u.user!;
      const proxy = goProxy();
      const r = userRepo(user);
      writeFileSync(join(r.root, 'go.mod'), 'module example.com/app\n\ngo 1.19\n\nrequire example.com/dep v1.0.0\n');
      writeFileSync(join(r.root, 'main.go'), 'package main\n\nimport "example.com/dep"\n\nfunc main() { println(dep.Answer()) }\n');
      giveTo(r, user);
      // the module cache in the working copy (ignored: .gomod/), made by go itself as the user
      const goEnv = { GOPROXY: `file://${proxy}`, GOSUMDB: 'off', GOFLAGS: '-mod=mod', GOMODCACHE: join(r.root, '.gomod'), GOCACHE: join(r.dir, 'gocache'), GOPATH: join(r.dir, 'gopath'), GOTOOLCHAIN: 'local' };
      const dl = await runAs(user, r.root, ['go', 'mod', 'download'], r.dir, goEnv);
      expect(dl.code, dl.stderr).toBe(0);
      const modDir = join(r.root, '.gomod', 'example.com', 'dep@v1.0.0');
      expect((lstatSync(modDir).mode & 0o777).toString(8)).toBe('555'); // go made it read-only
      const before = manifest(r.root, EXCL);
      expectCode(await rb(user, r, 'emergency', '--yes'), 0);
      expect(existsSync(join(r.root, '.gomod'))).toBe(false);
      expectCode(await rb(user, r, 'undo', '--yes'), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      const build = await runAs(user, r.root, ['go', 'build', '-o', join(r.dir, 'app'), '.'], r.dir, { ...goEnv, GOPROXY: 'off' });
      expect(build.code, build.stderr).toBe(0);
    });

    it('a read-only directory holding a tracked file the reset replaces: opened for the reset, its mode put back', async (ctx) => {
      if (!u.user) ctx.skip(u.reason);
      const user = u.user!;
      const r = userRepo(user);
      chmodSync(join(r.root, 'src'), 0o555); // src/a.ts differs from the baseline
      const before = manifest(r.root, EXCL);
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 0);
      expect(readFileSync(join(r.root, 'src', 'a.ts'), 'utf8')).toBe('export const a = 1;\n');
      expect((lstatSync(join(r.root, 'src')).mode & 0o777).toString(8)).toBe('555');
      expectCode(await rb(user, r, 'undo', '--yes'), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });

  describe('4: files it cannot read are named "not captured (unreadable)" and kept', () => {
    it('a mode-000 untracked file and a root-owned 0700 directory: rb emergency names them, keeps them; rb undo gives back the manifest', async (ctx) => {
      if (!u.user) ctx.skip(u.reason);
      const user = u.user!;
      const r = userRepo(user);
      writeFileSync(join(r.root, 'secret.txt'), 'hunter2\n');
      giveTo(r, user);
      chmodSync(join(r.root, 'secret.txt'), 0o000);
      if (u.root) {
        writeRootOwned(r, 'priv/key', 'root only\n', 0o600);
        chmodSync(join(r.root, 'priv'), 0o700);
      }
      // (not as root, the manifest cannot read secret.txt either: its size and mode stand in for it)
      const excl = u.root ? EXCL : { exclude: ['rollbacks', 'secret.txt'] };
      const before = manifest(r.root, excl);
      const res = await rb(user, r, 'emergency', '--yes');
      expectCode(res, 0);
      const names = u.root ? 'priv, secret.txt' : 'secret.txt';
      expect(res.stdout).toContain(`not captured (unreadable): ${names}`);
      const run = runsOf(r)[0]!;
      const report = readFileSync(join(r.root, 'rollbacks', `emergency-${(run as any).stamp}`, 'report.md'), 'utf8');
      expect(report).toContain(`not captured (unreadable): ${names}`);
      expect(report).toContain('secret.txt (not captured: unreadable)');
      expect(lstatSync(join(r.root, 'secret.txt')).mode & 0o777).toBe(0);
      expectCode(await rb(user, r, 'undo', '--yes'), 0);
      expect(manifest(r.root, excl)).toBe(before);
      expect(lstatSync(join(r.root, 'secret.txt')).size).toBe('hunter2\n'.length);
    });
  });

  describe('5: undo and abort use the same preflight: a restore never fails half-way', () => {
    it('rb undo stops before it starts (exit 3, no undo run left to resolve); after the fix it finishes', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      const original = manifest(r.root, EXCL);
      expectCode(await rb(user, r, 'emergency', '--yes'), 0);
      writeRootOwned(r, 'build/bundle.js', 'bundle();\n');
      const mid = manifest(r.root, EXCL);
      const res = await rb(user, r, 'undo', '--yes');
      expectCode(res, 3);
      expect(res.stderr).toContain('build/ (owned by root)');
      expect(res.stderr).toContain('sudo chown -R "$USER" build/');
      expect(manifest(r.root, EXCL)).toBe(mid);
      expect(runsOf(r).map((x) => x.playbook)).toEqual(['emergency']);
      // the fix rb names, then the undo runs through (build/bundle.js goes with the rest: it is in the undo's safety snapshot)
      chownUser(r, 'build', user);
      expectCode(await rb(user, r, 'undo', '--yes'), 0);
      expect(manifest(r.root, EXCL)).toBe(original);
    });

    it('rb undo after emergency --skip-unwritable left a root-owned untracked data/: the restore leaves it, and finishes', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      writeRootOwned(r, 'data/dump.sql', 'select 1;\n');
      const before = manifest(r.root, EXCL);
      const foreign = foreignOwned(r, user);
      expectCode(await rb(user, r, 'emergency', '--yes', '--skip-unwritable'), 0);
      expect(existsSync(join(r.root, 'notes.md'))).toBe(false);
      const undo = await rb(user, r, 'undo', '--yes');
      expectCode(undo, 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      expect(foreignOwned(r, user)).toEqual(foreign);
    });

    it('rb abort of a failed run stops before it starts; after the fix it puts everything back', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      mkdirSync(join(r.root, '.rb', 'playbooks'), { recursive: true });
      writeFileSync(join(r.root, '.rb', 'playbooks', 'broken.yaml'), [
        'name: broken', 'title: Clean, then fail', 'steps:',
        '  - { id: snapshot, uses: snapshot }',
        '  - { id: clean, uses: git.clean }',
        '  - { id: fail, run: [node, -e, "process.exit(1)"] }', '',
      ].join('\n'));
      giveTo(r, user);
      const original = manifest(r.root, EXCL);
      expectCode(await rb(user, r, 'run', 'broken', '--yes'), 1);
      writeRootOwned(r, 'build/bundle.js', 'bundle();\n');
      const mid = manifest(r.root, EXCL);
      const res = await rb(user, r, 'abort', '--yes');
      expectCode(res, 3);
      expect(res.stderr).toContain('build/ (owned by root)');
      expect(manifest(r.root, EXCL)).toBe(mid);
      expect(runsOf(r).map((x) => x.playbook)).toEqual(['broken']);
      chownUser(r, 'build', user);
      expectCode(await rb(user, r, 'abort', '--yes'), 0);
      expect(manifest(r.root, EXCL)).toBe(original);
    });

    it('rb snapshots restore stops before it starts, naming the paths', async (ctx) => {
      if (!u.user || !u.root) ctx.skip(u.reason || 'needs root');
      const user = u.user!;
      const r = userRepo(user);
      expectCode(await rb(user, r, 'emergency', '--yes'), 0);
      const snap = runsOf(r)[0]!.snapshot!;
      writeRootOwned(r, 'build/bundle.js', 'bundle();\n');
      const mid = manifest(r.root, EXCL);
      const res = await rb(user, r, 'snapshots', 'restore', snap, '--yes');
      expectCode(res, 3);
      expect(res.stderr).toContain('build/ (owned by root)');
      expect(res.stderr).toContain(`rb snapshots restore ${snap} --skip-unwritable`);
      expect(manifest(r.root, EXCL)).toBe(mid);
    });
  });
});
