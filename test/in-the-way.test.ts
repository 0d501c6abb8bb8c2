/**
 * Untracked and ignored entries at paths the baseline tracks (steps/in-the-way.ts): a file
 * someone stopped tracking (`git rm --cached`), a new file that happens to be in the baseline, a
 * file where the baseline has a directory, a directory where it has a file. Before, `rb
 * emergency` stopped at its switch (git: "Untracked working tree file … would be overwritten"),
 * the sprint's retry switch stopped on a secret left out of the WIP commit, and what the snapshot
 * does not hold (a nested repository, a vendored file in a skipped node_modules) was written over
 * for good by the emergency's switch or `rb files`. Now: what the snapshot holds is written over
 * and `rb undo` gives it back byte for byte; what it cannot hold stops the run before anything
 * changes, naming the path; the dry run names both.
 *
 * The built rb (dist/cli.js) in throwaway repositories with a bare origin, manifest before and
 * after `rb undo` (rollbacks/ excluded).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, type TestRepo } from './helpers/repo.js';
import { tmpRepos } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { allRefs, baseRepo, expectCode, moveBaselineHere, oid, outOf, rbAsync, runsOf } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };

let fixture: TestRepo | null = null;
/**
 * baseline = the base project plus config.yml, a file `data`, lib/x.js, deploy.pem and a vendored
 * node_modules/vendored.js (force-added: node_modules/ is ignored); branch `feature` is checked
 * out at the same commit.
 */
function inTheWayRepo(): TestRepo {
  if (!fixture) {
    const r = copyRepo(baseRepo());
    r.write('config.yml', 'port: 80\n');
    r.write('data', 'baseline data\n');
    r.write('lib/x.js', 'module.exports = 1;\n');
    r.write('deploy.pem', 'BASELINE KEY\n');
    r.write('node_modules/vendored.js', 'vendored v1\n');
    r.git('add', '-A');
    r.git('add', '-f', 'node_modules/vendored.js');
    r.git('commit', '-q', '-m', 'config, data, lib, key, vendored');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    fixture = r;
  }
  return copyRepo(fixture);
}

/** The cases: what the feature branch did, leaving an untracked (or ignored) entry at a path the baseline tracks. */
const CASES: Record<string, (r: TestRepo) => void> = {
  'a file the branch stopped tracking (git rm --cached), then changed': (r) => {
    r.git('rm', '-q', '--cached', 'config.yml');
    r.git('commit', '-q', '-m', 'stop tracking config.yml');
    r.write('config.yml', 'port: 8080 # mine\n');
  },
  'a new untracked file that happens to exist in the baseline': (r) => {
    r.git('rm', '-q', 'config.yml');
    r.git('commit', '-q', '-m', 'drop config.yml');
    r.write('config.yml', 'a new config of mine\n');
  },
  'an untracked file where the baseline has a directory': (r) => {
    r.git('rm', '-q', '-r', 'lib');
    r.git('commit', '-q', '-m', 'drop lib/');
    r.write('lib', 'lib is a file now\n');
  },
  'a directory of untracked and ignored files where the baseline has a file': (r) => {
    r.git('rm', '-q', 'data');
    r.git('commit', '-q', '-m', 'drop data');
    r.write('data/inner.txt', 'inner\n');
    r.write('data/deep/more.txt', 'more\n');
    r.write('data/.env', 'SECRET=1\n', 0o600); // ignored
  },
};

const headRef = (r: TestRepo) => r.git('symbolic-ref', '-q', 'HEAD').trim();
/** index and files are the commit's, and nothing is untracked (rb's records are ignored) */
function expectWorkingCopyIs(r: TestRepo, rev: string): void {
  expect(r.git('diff', '--name-status', rev)).toBe('');
  expect(r.git('diff', '--cached', '--name-status', rev)).toBe('');
  expect(r.git('ls-files', '-o', '--exclude-standard')).toBe('');
}
/** manifest, refs and run records: "nothing changed" */
const untouched = (r: TestRepo) => manifest(r.root) + allRefs(r) + `runs: ${runsOf(r).length}\n`;

describe.concurrent('untracked entries in the way of the baseline', { timeout: 120_000 }, () => {
  describe('rb emergency (level 1) writes over what the snapshot holds; rb undo gives it back', () => {
    for (const [name, make] of Object.entries(CASES)) {
      it(name, async () => {
        const r = inTheWayRepo();
        make(r);
        const before = manifest(r.root, EXCL);
        const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']);
        expectCode(res, 0, name);
        expect(headRef(r)).toBe('refs/heads/baseline');
        expect(oid(r, 'HEAD')).toBe(oid(r, 'origin/baseline'));
        expectWorkingCopyIs(r, 'HEAD');
        expect(outOf(res)).toContain('removed what was in the way');
        expectCode(await rbAsync(r.root, ['undo', '--yes']), 0, `${name}: undo`);
        expect(manifest(r.root, EXCL)).toBe(before);
      });
    }

    it('an ignored file at a path the baseline tracks (git writes over it silently): back after undo', async () => {
      const r = inTheWayRepo();
      r.write('.gitignore', readFileSync(join(r.root, '.gitignore'), 'utf8') + 'config.yml\n');
      r.git('rm', '-q', '--cached', 'config.yml');
      r.git('commit', '-q', '-am', 'ignore config.yml');
      r.write('config.yml', 'ignored, mine\n');
      const before = manifest(r.root, EXCL);
      expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']), 0);
      expectWorkingCopyIs(r, 'refs/heads/baseline');
      expect(readFileSync(join(r.root, 'config.yml'), 'utf8')).toBe('port: 80\n');
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('the dry run names what the run writes over, and changes nothing', async () => {
      const r = inTheWayRepo();
      CASES['a file the branch stopped tracking (git rm --cached), then changed']!(r);
      CASES['an untracked file where the baseline has a directory']!(r);
      const before = untouched(r);
      const res = await rbAsync(r.root, ['emergency', '--dry-run']);
      expectCode(res, 0);
      expect(outOf(res)).toMatch(/writes over untracked or ignored entries in the way of the files it writes: config\.yml, lib;/);
      expect(untouched(r)).toBe(before);
    });
  });

  describe('what the snapshot cannot hold stops the run before anything changes', () => {
    it('a nested repository inside a directory where the baseline has a file (emergency, files, plan)', async () => {
      const r = inTheWayRepo();
      CASES['a directory of untracked and ignored files where the baseline has a file']!(r);
      r.sh('mkdir -p data/sub && cd data/sub && git init -q && echo s > s.txt && git add s.txt && git -c user.name=t -c user.email=t@t commit -q -m sub');
      const before = untouched(r);
      for (const args of [['emergency', '--yes', '--no-services', '--no-install'], ['files', 'data', '--yes', '--no-tests']]) {
        const res = await rbAsync(r.root, args);
        expectCode(res, 3, args[0]);
        expect(res.stderr).toContain('data/sub (a nested git repository)');
        expect(res.stderr).toContain('Nothing was changed.');
        expect(res.stderr).toMatch(/next: move it out of the repository \(for example `mv data\/sub \/tmp\/`\)/);
        expect(untouched(r)).toBe(before);
      }
      const plan = await rbAsync(r.root, ['plan', 'emergency']);
      expectCode(plan, 0);
      expect(outOf(plan)).toContain('the run would stop before changing anything: data/sub (a nested git repository)');
    });

    it('a nested repository where the baseline has a directory, holding a file at a path the baseline tracks: the repository is named', async () => {
      const r = inTheWayRepo();
      r.git('rm', '-q', '-r', 'lib');
      r.git('commit', '-q', '-m', 'drop lib/');
      r.sh('mkdir lib && cd lib && git init -q && echo mine > x.js && git add x.js && git -c user.name=t -c user.email=t@t commit -q -m lib');
      const before = untouched(r);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']);
      expectCode(res, 3);
      expect(res.stderr).toContain('lib (a nested git repository): this untracked or ignored entry stands where the commit the run moves to has files');
      expect(res.stderr).toContain('`mv lib /tmp/`');
      expect(untouched(r)).toBe(before);
    });

    it('a vendored file in an ignored node_modules the snapshot skips', async () => {
      const r = inTheWayRepo();
      r.git('rm', '-q', '--cached', 'node_modules/vendored.js');
      r.git('commit', '-q', '-m', 'stop tracking the vendored file');
      r.write('node_modules/vendored.js', 'vendored, patched by me\n');
      const before = untouched(r);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']);
      expectCode(res, 3);
      expect(res.stderr).toContain('node_modules/vendored.js (inside an ignored directory snapshots skip');
      expect(untouched(r)).toBe(before);
      expect(readFileSync(join(r.root, 'node_modules/vendored.js'), 'utf8')).toBe('vendored, patched by me\n');
    });
  });

  describe('rb sprint (level 2)', () => {
    it('a key left out of the WIP commit at a path the baseline tracks stays on disk as it was; undo gives back everything', async () => {
      const r = inTheWayRepo();
      r.git('rm', '-q', '--cached', 'deploy.pem');
      r.git('commit', '-q', '-m', 'stop tracking the key');
      r.write('deploy.pem', 'MY OWN KEY\n');
      const before = manifest(r.root, EXCL);
      const res = await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']);
      expectCode(res, 0);
      expect(headRef(r)).toMatch(/^refs\/heads\/refactor\/sprint-4-retry/);
      expect(oid(r, 'HEAD')).toBe(oid(r, 'baseline'));
      expect(readFileSync(join(r.root, 'deploy.pem'), 'utf8')).toBe('MY OWN KEY\n');
      expect(outOf(res)).toContain('kept on disk across the switch: deploy.pem');
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('every case at once: the WIP commit takes them, the retry branch is the baseline; undo gives back everything', async () => {
      const r = inTheWayRepo();
      // (the first two both concern config.yml: the first stands for both)
      for (const [name, make] of Object.entries(CASES)) if (!name.startsWith('a new untracked file')) make(r);
      const before = manifest(r.root, EXCL);
      expectCode(await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']), 0);
      expect(oid(r, 'HEAD')).toBe(oid(r, 'baseline'));
      expect(r.git('diff', '--name-status', 'HEAD')).toBe('');
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });

  describe('rb files (level 3)', () => {
    for (const [name, make, path] of [
      ['a file the branch stopped tracking', CASES['a file the branch stopped tracking (git rm --cached), then changed']!, 'config.yml'],
      ['an untracked file where the baseline has a directory', CASES['an untracked file where the baseline has a directory']!, 'lib'],
      ['a directory where the baseline has a file', CASES['a directory of untracked and ignored files where the baseline has a file']!, 'data'],
    ] as const) {
      it(`${name}: restored from the baseline; undo gives back everything`, async () => {
        const r = inTheWayRepo();
        make(r);
        const before = manifest(r.root, EXCL);
        expectCode(await rbAsync(r.root, ['files', path, '--yes', '--no-tests']), 0, name);
        expect(r.git('diff', '--name-status', 'baseline', '--', path)).toBe('');
        expect(r.git('ls-files', '-o', '--', path)).toBe('');
        expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
        expect(manifest(r.root, EXCL)).toBe(before);
      });
    }
  });
});
