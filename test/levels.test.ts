/**
 * The three levels as a user runs them: the built `rb` (dist/cli.js) in throwaway repositories
 * with a bare origin. Each scenario checks the branches, files and records the level leaves
 * (issue 4, "Done when"), and that `rb undo` gives back a byte-identical manifest.
 *
 *   A emergency · B sprint · C files · D hooks and signing · E plan / dry-run
 *
 * Fixtures are built once (test/helpers/scenarios.ts) and copied per test.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { copyRepo, gitIn, makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { allRefs, baseRepo, emergencyRepo, gitDirOf, moveBaselineHere, oid, outOf, rbAsync, runsOf, sprintRepo, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };


function metrics(r: TestRepo): any[] {
  return JSON.parse(readFileSync(join(r.root, 'rollbacks', 'metrics.json'), 'utf8')).rollbacks;
}

function recordDirs(r: TestRepo, prefix: string): string[] {
  const d = join(r.root, 'rollbacks');
  return existsSync(d) ? readdirSync(d).filter((n) => n.startsWith(prefix)) : [];
}

const headRef = (r: TestRepo) => r.git('symbolic-ref', '-q', 'HEAD').trim();
const stashList = (r: TestRepo) => r.git('stash', 'list');
const branches = (r: TestRepo, pattern: string) => r.git('for-each-ref', '--format=%(refname:short)', pattern).split('\n').filter(Boolean);

/** A state-of-everything fingerprint for "nothing changed": manifest (rollbacks included) plus every ref. */
function untouched(r: TestRepo): string {
  return manifest(r.root) + allRefs(r) + `runs: ${runsOf(r).length}\n`;
}

// every test works on its own copy: run them concurrently (rb is a child process)
describe.concurrent('levels', { timeout: 120_000 }, () => {
  // =================================================================================================
  describe('A. rb emergency', () => {
    it('resets to origin/baseline, keeps .env, stashes and snapshots everything, records; rb undo gives back the exact working copy', async () => {
      const r = copyRepo(emergencyRepo());
      const before = manifest(r.root, EXCL);
      const beforeAll = manifest(r.root, { exclude: ['rollbacks', 'build', 'tmp'] });
      const env = readFileSync(join(r.root, '.env'));
      const featureOid = oid(r, 'feature');
      const twin = copyRepo(r); // for git's own stash of the same state

      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);

      // HEAD on baseline at origin/baseline
      expect(headRef(r)).toBe('refs/heads/baseline');
      const remoteBaseline = gitIn(r.origin!, 'rev-parse', 'refs/heads/baseline').trim();
      expect(oid(r, 'HEAD')).toBe(remoteBaseline);
      expect(oid(r, 'origin/baseline')).toBe(remoteBaseline);
      expect(r.git('status', '--porcelain', '--untracked-files=all')).toBe('');
      // .env kept byte for byte with its mode; untracked and ignored work removed from the tree
      expect(readFileSync(join(r.root, '.env')).equals(env)).toBe(true);
      expect(statSync(join(r.root, '.env')).mode & 0o777).toBe(0o600);
      for (const gone of ['notes', 'scratch with space.txt', 'bin/tool.sh', 'build', 'tmp', 'src/d.ts']) expect(existsSync(join(r.root, gone)), gone).toBe(false);
      // the feature branch itself is untouched
      expect(oid(r, 'feature')).toBe(featureOid);

      // a stash entry people who know git can use
      const stash = stashList(r);
      expect(stash).toMatch(/^stash@\{0\}: EMERGENCY: State before rollback \d{8}-\d{6}\n$/);
      // built from the snapshot's trees, it holds what `git stash push -u` records: worktree, index, untracked files
      twin.git('stash', 'push', '-q', '-u', '-m', 'twin');
      for (const rev of ['stash^{tree}', 'stash^2^{tree}', 'stash^3^{tree}', 'stash^1']) expect(oid(r, rev), rev).toBe(oid(twin, rev));
      // ... without reading the working copy again (no `git stash create`)
      const journal = JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${runsOf(r)[0]!.id}.json`), 'utf8')) as { steps: { id: string; commands?: string[] }[] };
      const stashStep = journal.steps.find((x) => x.id === 'stash')!;
      expect(stashStep.commands!.join('\n')).toContain("the snapshot's trees");
      expect(stashStep.commands!.join('\n')).not.toContain('git stash create');
      const scratch = copyRepo(r);
      scratch.git('checkout', '-q', '-f', 'feature');
      scratch.git('stash', 'apply', '--index');
      // tracked changes (staged and unstaged), the staged deletion and untracked files come back
      // exactly; ignored files and empty dirs are not a stash's business (the snapshot has them)
      // (git's own ORIG_HEAD / AUTO_MERGE from the apply aside)
      const noGitState = (m: string) => m.split('\n').filter((l) => !l.startsWith('gitstate ')).join('\n');
      expect(noGitState(manifest(scratch.root, { exclude: ['rollbacks', 'build', 'tmp'] }))).toBe(noGitState(beforeAll));

      // records
      const dirs = recordDirs(r, 'emergency-');
      expect(dirs).toHaveLength(1);
      const report = readFileSync(join(r.root, 'rollbacks', dirs[0]!, 'report.md'), 'utf8');
      const [run] = runsOf(r);
      expect(run!.status).toBe('succeeded');
      expect(report).toContain(run!.id);
      expect(report).toContain(`feature at ${featureOid}`);
      expect(report).toContain(`baseline → ${remoteBaseline}`);
      expect(report).toContain('EMERGENCY: State before rollback');
      const m = metrics(r).find((e) => e.run_id === run!.id);
      expect(m).toMatchObject({ level: 1, severity: 'critical', playbook: 'emergency', undone: false });
      expect(typeof m.recovery_time_minutes).toBe('number');

      // undo: the exact working copy, and the stash entry rb added is gone
      const undo = await rbAsync(r.root, ['undo', '--yes']);
      expectCode(undo, 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      expect(stashList(r)).toBe('');
      expect(metrics(r).find((e) => e.run_id === run!.id).undone).toBe(true);
    });

    it('emergency, undo, redo: the exact working copy the emergency left, ignored files included', async () => {
      const r = copyRepo(emergencyRepo());
      r.write('build/deep/out.bin', 'binary output\n'); // ignored (build/), removed by the emergency's clean
      expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services']), 0);
      expect(existsSync(join(r.root, 'build'))).toBe(false);
      const afterEmergency = manifest(r.root, EXCL);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(readFileSync(join(r.root, 'build/deep/out.bin'), 'utf8')).toBe('binary output\n');
      // the redo (the undo's undo) removes the ignored files the first undo brought back (its safety snapshot holds them)
      expectCode(await rbAsync(r.root, ['redo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(afterEmergency);
      expect(existsSync(join(r.root, 'build'))).toBe(false);
      expect(readFileSync(join(r.root, '.env'), 'utf8')).toBe('API_KEY=hunter2\n');
    });

    it('resets to an origin/baseline another clone advanced, and lists the local baseline commits the reset drops', async () => {
      const r = copyRepo(emergencyRepo());
      const before = manifest(r.root, EXCL);
      // a local commit on baseline that origin does not have (made without touching HEAD)
      const local = r.git('commit-tree', 'baseline^{tree}', '-p', 'baseline', '-m', 'local hotfix on baseline').trim();
      r.git('update-ref', 'refs/heads/baseline', local);
      // someone else pushes to origin/baseline
      const other = join(r.dir, 'other');
      gitIn(r.dir, 'clone', '-q', '-b', 'baseline', r.origin!, other);
      writeFileSync(join(other, 'src/b.ts'), 'export const b = 100; // upstream fix\n');
      gitIn(other, '-c', 'user.name=other', '-c', 'user.email=other@example.invalid', 'commit', '-q', '-am', 'upstream fix');
      gitIn(other, 'push', '-q', 'origin', 'baseline');
      const upstream = gitIn(other, 'rev-parse', 'HEAD').trim();

      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      expect(headRef(r)).toBe('refs/heads/baseline');
      expect(oid(r, 'HEAD')).toBe(upstream);
      expect(readFileSync(join(r.root, 'src/b.ts'), 'utf8')).toContain('upstream fix');
      expect(outOf(res)).toMatch(/1 local commit\(s\) leave baseline \(kept in the snapshot\): [0-9a-f]+ local hotfix on baseline/);
      const report = readFileSync(join(r.root, 'rollbacks', recordDirs(r, 'emergency-')[0]!, 'report.md'), 'utf8');
      expect(report).toMatch(/## Commits the reset dropped[^\n]*\n\n[0-9a-f]+ local hotfix on baseline/);

      // undo puts the local baseline commit back on its branch, and the working copy
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(oid(r, 'baseline')).toBe(local);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('continues from the local baseline, with a warning, when the remote is unreachable', async () => {
      const r = copyRepo(emergencyRepo());
      r.git('remote', 'set-url', 'origin', join(r.dir, 'no-such-remote.git'));
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      expect(outOf(res)).toContain('continuing from the local baseline');
      expect(headRef(r)).toBe('refs/heads/baseline');
      expect(oid(r, 'HEAD')).toBe(oid(r, 'refs/heads/baseline'));
      expect(runsOf(r)[0]!.status).toBe('succeeded');
    });

    /** baseline and feature both carry rb.config.yaml (an install) and package-lock.json; node_modules/ holds a file. */
    function installRepo(changeLockfile: boolean): TestRepo {
      const r = copyRepo(baseRepo());
      r.write(
        'rb.config.yaml',
        'install:\n  - command: [node, -e, "require(\'fs\').writeFileSync(\'installed.txt\', String(Date.now()))"]\n    lockfiles: [package-lock.json]\n    dir: node_modules\n',
      );
      r.write('package-lock.json', '{ "lockfileVersion": 3, "packages": { "left-pad": "1.0.0" } }\n');
      r.git('add', '-A');
      r.git('commit', '-q', '-m', 'dependencies');
      moveBaselineHere(r);
      r.git('switch', '-q', '-c', 'feature');
      r.write('src/a.ts', 'export const a = 7;\n');
      if (changeLockfile) r.write('package-lock.json', '{ "lockfileVersion": 3, "packages": { "left-pad": "2.0.0" } }\n');
      r.git('commit', '-q', '-am', 'feature');
      r.write('node_modules/left-pad/index.js', 'module.exports = () => {};\n');
      return r;
    }

    it('keeps node_modules and skips the install, saying so, when the lockfile did not change', async () => {
      const r = installRepo(false);
      const before = manifest(r.root, EXCL);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      expect(readFileSync(join(r.root, 'node_modules/left-pad/index.js'), 'utf8')).toBe('module.exports = () => {};\n');
      expect(existsSync(join(r.root, 'installed.txt'))).toBe(false);
      expect(outOf(res)).toMatch(/node_modules kept: package-lock\.json unchanged since [0-9a-f]{12}/);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('removes node_modules and reinstalls when the lockfile changed', async () => {
      const r = installRepo(true);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      expect(existsSync(join(r.root, 'node_modules'))).toBe(false);
      expect(existsSync(join(r.root, 'installed.txt'))).toBe(true);
      expect(outOf(res)).toContain('node_modules removed (package-lock.json changed; the install recreates it)');
      expect(outOf(res)).toMatch(/node -e .*installed\.txt/);
    });
  });

  // =================================================================================================
  describe('B. rb sprint', () => {
    it('documents the failure, backs the work up on a WIP branch, starts the retry branch; undo and undo of the undo', async () => {
      const r = copyRepo(sprintRepo());
      const before = manifest(r.root, EXCL);
      const featureOid = oid(r, 'feature/auth');
      const baseOid = oid(r, 'baseline');
      const worktreeA = readFileSync(join(r.root, 'src/a.ts'), 'utf8');

      const res = await rbAsync(r.root, ['sprint', '4', '--yes', '--reason', 'auth refactor broke login']);
      expectCode(res, 0);

      // records, kept in rollbacks/sprint-4/
      const dir = join(r.root, 'rollbacks', 'sprint-4');
      for (const f of ['report.md', 'git_log.txt', 'changes.txt', 'test_failures.txt']) expect(existsSync(join(dir, f)), f).toBe(true);
      expect(readFileSync(join(dir, 'git_log.txt'), 'utf8')).toMatch(/auth: new login/);
      expect(readFileSync(join(dir, 'changes.txt'), 'utf8')).toMatch(/src\/auth\.ts/);
      expect(readFileSync(join(dir, 'test_failures.txt'), 'utf8')).toMatch(/not ok \d+ - login works/);
      const report = readFileSync(join(dir, 'report.md'), 'utf8');
      expect(report).toContain('auth refactor broke login');
      expect(report).toMatch(/Commits since the baseline: 2\b/);
      expect(report).toMatch(/Tests \([^)]*\): 1 failed, 2 passed/);
      expect(report).toMatch(/Failing tests: [^\n]*login works/);
      expect(report).not.toMatch(/Failing tests: [^\n]*logout works/);

      // the backup branch holds a WIP commit of the work, without rollbacks/ (or ignored files)
      const backups = branches(r, 'refs/heads/backup/');
      expect(backups).toHaveLength(1);
      expect(backups[0]).toMatch(/^backup\/sprint-4-\d{8}-\d{6}$/);
      const wip = oid(r, backups[0]!);
      expect(r.git('log', '-1', '--format=%s', wip).trim()).toBe('WIP: Sprint 4 before rollback');
      expect(oid(r, `${wip}^`)).toBe(featureOid);
      expect(r.git('show', `${wip}:src/a.ts`)).toBe(worktreeA);
      const files = r.git('ls-tree', '-r', '--name-only', wip).split('\n');
      expect(files).toEqual(expect.arrayContaining(['src/staged.ts', 'notes.md', 'src/auth.ts']));
      expect(files.filter((f) => f.startsWith('rollbacks') || f === '.env')).toEqual([]);
      expect(oid(r, 'feature/auth')).toBe(wip);

      // now on the retry branch at the baseline
      expect(headRef(r)).toBe('refs/heads/refactor/sprint-4-retry');
      expect(oid(r, 'HEAD')).toBe(baseOid);
      expect(existsSync(join(r.root, '.env'))).toBe(true);
      const [run] = runsOf(r);
      expect(metrics(r).find((e) => e.run_id === run!.id)).toMatchObject({ level: 2, sprint: 4, severity: 'high', tests_failed: 1 });
      const afterSprint = manifest(r.root, EXCL);
      const refsAfterSprint = allRefs(r, 'refs/heads');

      // undo: the exact working copy, the run's branches deleted, the feature branch put back
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      expect(branches(r, 'refs/heads/backup/')).toEqual([]);
      expect(branches(r, 'refs/heads/refactor/')).toEqual([]);
      expect(oid(r, 'feature/auth')).toBe(featureOid);
      expect(headRef(r)).toBe('refs/heads/feature/auth');

      // redo (it reverses the undo): the state after the sprint
      const redo = await rbAsync(r.root, ['redo', '--yes']);
      expectCode(redo, 0);
      expect(outOf(redo)).toMatch(/Redo of run \S+-sprint-4 \(reverses undo \S+-undo\)/);
      expect(allRefs(r, 'refs/heads')).toBe(refsAfterSprint);
      expect(headRef(r)).toBe('refs/heads/refactor/sprint-4-retry');
      expect(manifest(r.root, EXCL)).toBe(afterSprint);
    });

    it('a second rollback of the same sprint creates refactor/sprint-4-retry-2 and says so', async () => {
      const r = copyRepo(sprintRepo());
      expectCode(await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']), 0);
      r.git('switch', '-q', 'feature/auth');
      r.write('src/b.ts', 'export const b = 2; // second attempt\n');
      const res = await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']);
      expectCode(res, 0);
      expect(outOf(res)).toContain('refactor/sprint-4-retry already exists: using refactor/sprint-4-retry-2');
      expect(headRef(r)).toBe('refs/heads/refactor/sprint-4-retry-2');
      expect(oid(r, 'HEAD')).toBe(oid(r, 'baseline'));
      expect(branches(r, 'refs/heads/refactor/')).toEqual(['refactor/sprint-4-retry', 'refactor/sprint-4-retry-2']);
      const backups = branches(r, 'refs/heads/backup/');
      expect(backups).toHaveLength(2);
      const second = backups.map((b) => oid(r, b)).find((o) => r.git('show', `${o}:src/b.ts`).includes('second attempt'));
      expect(second).toBeTruthy();
      // --no-tests: no figures, recorded as unknown rather than failing the run
      expect(metrics(r).map((e) => e.tests_failed)).toEqual([null, null]);
      expect(runsOf(r).map((x) => x.status)).toEqual(['succeeded', 'succeeded']);
    });

    it('refuses a sprint number that is not a positive integer (exit 2) and an unborn HEAD (exit 3), changing nothing', async () => {
      const r = copyRepo(sprintRepo());
      const before = untouched(r);
      const bad = ['0', 'abc', '4.5', '1e3'];
      const results = await Promise.all(bad.map((n) => rbAsync(r.root, ['sprint', n, '--yes'])));
      results.forEach((res) => {
        expectCode(res, 2);
        expect(res.stderr).toContain('positive whole number');
      });
      expect(untouched(r)).toBe(before);

      const e = makeRepo({ empty: true });
      e.write('src/a.ts', 'first\n');
      e.git('add', 'src/a.ts');
      e.write('notes.md', 'untracked\n');
      const beforeEmpty = untouched(e);
      const res = await rbAsync(e.root, ['sprint', '4', '--yes']);
      expectCode(res, 3);
      expect(res.stderr).toMatch(/unborn HEAD/);
      expect(untouched(e)).toBe(beforeEmpty);
      expect(existsSync(join(e.root, 'rollbacks'))).toBe(false);
    });
  });

  // =================================================================================================
  describe('C. rb files', () => {
    let tpl: TestRepo | null = null;
    /**
     * baseline: src/{a,b,c}.ts, test/a.test.ts, `-weird.ts`, a file literally named `*.ts`, x.ts, a
     * symlink lnk -> src, and rb.config.yaml whose test command prints the files it was given.
     * feature: uncommitted changes everywhere (staged, unstaged, both, a staged deletion, an
     * untracked file, an ignored .env).
     */
    function filesRepo(): TestRepo {
      if (!tpl) {
        const r = copyRepo(baseRepo());
        r.write('rb.config.yaml', 'test: [node, -e, "console.log(\'ran tests:\', process.argv.slice(1).join(\' \'))"]\n');
        r.write('test/a.test.ts', 'import "../src/a";\n');
        r.write('-weird.ts', 'weird 1\n');
        r.write('*.ts', 'star 1\n');
        r.write('x.ts', 'x 1\n');
        r.symlink('lnk', 'src');
        r.git('add', '-A');
        r.git('commit', '-q', '-m', 'more files');
        moveBaselineHere(r);
        r.git('switch', '-q', '-c', 'feature');
        r.write('src/a.ts', 'export const a = 2; // staged\n');
        r.git('add', 'src/a.ts');
        r.write('src/a.ts', 'export const a = 3; // unstaged on top\n');
        r.write('src/b.ts', 'export const b = 2; // unstaged\n');
        r.git('rm', '-q', 'src/c.ts');
        r.write('src/new.ts', 'export const fresh = 1;\n');
        r.write('-weird.ts', 'weird 2\n');
        r.write('*.ts', 'star 2\n');
        r.write('x.ts', 'x 2\n');
        r.write('.env', 'API_KEY=hunter2\n', 0o600);
        tpl = r;
      }
      return copyRepo(tpl);
    }

    const indexOid = (r: TestRepo, p: string) => r.git('--literal-pathspecs', 'ls-files', '-s', '--', p).split(' ')[1];

    it('restores only the named file (index and worktree), runs its tests, leaves every other change; undo gives it back', async () => {
      const r = filesRepo();
      const before = manifest(r.root, EXCL);
      const others = manifest(r.root, { exclude: ['rollbacks', 'src/a.ts'] });

      const res = await rbAsync(r.root, ['files', 'src/a.ts', '--yes']);
      expectCode(res, 0);
      expect(readFileSync(join(r.root, 'src/a.ts'), 'utf8')).toBe(r.git('show', 'baseline:src/a.ts'));
      expect(indexOid(r, 'src/a.ts')).toBe(oid(r, 'baseline:src/a.ts'));
      expect(manifest(r.root, { exclude: ['rollbacks', 'src/a.ts'] })).toBe(others);
      expect(headRef(r)).toBe('refs/heads/feature');

      const [dir] = recordDirs(r, 'files-');
      expect(readFileSync(join(r.root, 'rollbacks', dir!, 'test_output.txt'), 'utf8')).toContain('ran tests: test/a.test.ts');
      const report = readFileSync(join(r.root, 'rollbacks', dir!, 'report.md'), 'utf8');
      expect(report).toContain('**Restored:** src/a.ts');
      expect(metrics(r)[0]).toMatchObject({ level: 3, severity: 'medium' });

      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('looks up the repository, configuration and baseline once, not again in the engine (RB_TRACE_GIT)', async () => {
      const r = filesRepo();
      const res = await rbAsync(r.root, ['files', 'src/b.ts', '--yes', '--no-tests'], { RB_TRACE_GIT: '1' });
      expectCode(res, 0);
      const traced = res.stderr.split('\n').filter((l) => l.startsWith('[git '));
      const count = (re: RegExp) => traced.filter((l) => re.test(l)).length;
      // resolveBaseline reads refs/heads, refs/tags and refs/remotes/origin from the ref listing
      // (with each ref's object type: no rev-parse, no cat-file); the identity is read once, for
      // the journal and the snapshot alike (with the core settings the snapshot needs: one `git
      // config` per generation of the configuration, io/repo-state.ts)
      expect(count(/\] cat-file --batch-check$/)).toBe(0);
      expect(count(/rev-parse .*baseline/)).toBe(0);
      expect(count(/\] for-each-ref --format=%\(objectname\) %\(objecttype\)/)).toBe(1);
      expect(count(/\] config -z --get-regexp /)).toBe(1);
      expect(count(/\] config -z --get-regexp .*\(user\|author\|committer\)\\\.\(name\|email\)/)).toBe(1);
      expect(count(/ls-tree -z --name-only \S+ -- src\/b\.ts$/)).toBe(1); // rb files' check; the restore step's is the same question of the same tree
      expect(readFileSync(join(r.root, 'src/b.ts'), 'utf8')).toBe(r.git('show', 'baseline:src/b.ts'));
    });

    it('refuses hostile paths with exit 2 and changes nothing', async () => {
      const r = filesRepo();
      writeFileSync(join(r.dir, 'outside.ts'), 'outside\n');
      const before = untouched(r);
      const cases: [string[], RegExp][] = [
        [['../x'], /outside the repository/],
        [[join(r.dir, 'outside.ts')], /outside the repository/],
        [['lnk/a.ts'], /symlinked directory "lnk"/],
        [['src/nope.ts'], /no such path/],
        [['src/a.ts', '../x'], /outside the repository/],
        [['.git/config'], /inside \.git/],
      ];
      const results = await Promise.all(cases.map(([paths]) => rbAsync(r.root, ['files', '--yes', '--', ...paths])));
      cases.forEach(([paths, msg], i) => {
        expectCode(results[i]!, 2);
        expect(results[i]!.stderr, paths.join(' ')).toMatch(msg);
      });
      expect(untouched(r)).toBe(before);
      // paths that only look odd are fine (dry runs): ".." that stays inside the repository, an
      // absolute path inside it, and one that reaches it through a symlink outside the repository
      mkdirSync(join(r.root, 'src', 'deep'), { recursive: true });
      symlinkSync(r.root, join(r.dir, 'repo-link'));
      for (const [cwd, p] of [[join(r.root, 'src', 'deep'), '../a.ts'], [r.root, join(r.root, 'src/a.ts')], [r.root, join(r.dir, 'repo-link', 'src', 'a.ts')]] as const) {
        const ok = await rbAsync(cwd, ['files', p, '--dry-run']);
        expectCode(ok, 0);
        expect(ok.stdout, p).toContain('restore --source=<oid of refs/heads/baseline> --staged --worktree -- src/a.ts');
      }
      // ... but not through a symlinked directory inside the repository, however it is reached
      const through = await rbAsync(r.root, ['files', join(r.dir, 'repo-link', 'lnk', 'a.ts'), '--dry-run']);
      expectCode(through, 2);
      expect(through.stderr).toMatch(/symlinked directory "lnk"/);
    });

    it('takes a name starting with "-" and a literal "*.ts" literally', async () => {
      const r = filesRepo();
      const others = manifest(r.root, { exclude: ['rollbacks', '-weird.ts', '*.ts'] });
      expectCode(await rbAsync(r.root, ['files', '--yes', '--no-tests', '--', '-weird.ts']), 0);
      expect(readFileSync(join(r.root, '-weird.ts'), 'utf8')).toBe('weird 1\n');
      expectCode(await rbAsync(r.root, ['files', '*.ts', '--yes', '--no-tests']), 0);
      expect(readFileSync(join(r.root, '*.ts'), 'utf8')).toBe('star 1\n');
      // x.ts and src/*.ts, which a glob would have matched, are untouched
      expect(manifest(r.root, { exclude: ['rollbacks', '-weird.ts', '*.ts'] })).toBe(others);
      expect(readFileSync(join(r.root, 'x.ts'), 'utf8')).toBe('x 2\n');
    });

    it('--glob expands patterns against the baseline and restores every match; a pattern matching nothing is exit 2', async () => {
      const r = filesRepo();
      const others = manifest(r.root, { exclude: ['rollbacks', 'src'] });
      const res = await rbAsync(r.root, ['files', '--glob', 'src/*.ts', '--yes', '--no-tests']);
      expectCode(res, 0);
      for (const f of ['a', 'b', 'c']) expect(readFileSync(join(r.root, `src/${f}.ts`), 'utf8')).toBe(r.git('show', `baseline:src/${f}.ts`));
      expect(readFileSync(join(r.root, 'src/new.ts'), 'utf8')).toBe('export const fresh = 1;\n'); // not in the baseline: not matched
      expect(manifest(r.root, { exclude: ['rollbacks', 'src'] })).toBe(others);
      const before = untouched(r);
      const none = await rbAsync(r.root, ['files', '--glob', 'nothing/**', '--yes']);
      expectCode(none, 2);
      expect(none.stderr).toMatch(/no file in baseline matches nothing\/\*\*/);
      expect(untouched(r)).toBe(before);
    });

    it('leaves a path absent from the baseline unless --delete-missing, which deletes it; undo brings it back', async () => {
      const r = filesRepo();
      const before = manifest(r.root, EXCL);
      const kept = await rbAsync(r.root, ['files', 'src/new.ts', '--yes']);
      expectCode(kept, 0);
      expect(outOf(kept)).toMatch(/not in \S+, left as is: src\/new\.ts/);
      expect(manifest(r.root, EXCL)).toBe(before);

      const others = manifest(r.root, { exclude: ['rollbacks', 'src/new.ts'] });
      const del = await rbAsync(r.root, ['files', 'src/new.ts', '--delete-missing', '--yes']);
      expectCode(del, 0);
      expect(existsSync(join(r.root, 'src/new.ts'))).toBe(false);
      expect(manifest(r.root, { exclude: ['rollbacks', 'src/new.ts'] })).toBe(others);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });

  // =================================================================================================
  describe('D. failing hooks and broken gpg signing block no level', () => {
    const HOOKS = ['pre-commit', 'prepare-commit-msg', 'commit-msg', 'post-commit', 'post-checkout', 'reference-transaction', 'pre-auto-gc'];

    /** Every hook fails and records that it ran; commits and tags must be signed with a gpg that fails. */
    function sabotage(r: TestRepo): string {
      const marker = join(r.dir, 'hooks-ran.log');
      for (const h of HOOKS) r.write(`.git/hooks/${h}`, `#!/bin/sh\necho ${h} >> '${marker}'\nexit 1\n`, 0o755);
      r.git('config', 'commit.gpgSign', 'true');
      r.git('config', 'tag.gpgSign', 'true');
      r.git('config', 'gpg.program', '/bin/false');
      return marker;
    }

    it('the sabotage works on plain git', () => {
      const r = copyRepo(baseRepo());
      const marker = sabotage(r);
      const commit = copyRepo(r);
      expect(() => commit.git('commit', '--allow-empty', '-q', '-m', 'probe')).toThrow();
      expect(() => commit.git('-c', 'core.hooksPath=/dev/null', 'commit', '--allow-empty', '-q', '-m', 'probe')).toThrow(/gpg/);
      expect(readFileSync(marker, 'utf8')).toContain('pre-commit');
    });

    it.each([
      ['emergency', () => copyRepo(emergencyRepo()), ['emergency', '--yes', '--no-services']],
      ['sprint', () => copyRepo(sprintRepo()), ['sprint', '4', '--yes', '--no-tests']],
      ['files', () => copyRepo(sprintRepo()), ['files', 'src/a.ts', '--yes']],
    ] as const)('%s and its undo succeed, and no hook runs', async (_name, make, args) => {
      const r = make();
      const marker = sabotage(r);
      const before = manifest(r.root, EXCL);
      const res = await rbAsync(r.root, [...args]);
      expectCode(res, 0);
      if (args[0] === 'sprint') {
        expect(r.git('log', '-1', '--format=%s', 'feature/auth').trim()).toBe('WIP: Sprint 4 before rollback');
        expect(headRef(r)).toBe('refs/heads/refactor/sprint-4-retry');
      }
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
      expect(existsSync(marker)).toBe(false);
    });
  });

  // =================================================================================================
  describe('E. rb plan and --dry-run', () => {
    function stepIds(name: string): string[] {
      const pb = parseYaml(readFileSync(new URL(`../playbooks/${name}.yaml`, import.meta.url), 'utf8'));
      const ids: string[] = [];
      const walk = (steps: any[]) => {
        for (const s of steps) {
          ids.push(s.id);
          if (s.steps) walk(s.steps);
        }
      };
      walk(pb.steps);
      return ids;
    }

    it.each([
      ['emergency', [], ['· snapshot the working copy -> refs/rb/snapshots/<id>', 'git stash store', 'git fetch --no-tags --no-recurse-submodules --quiet -- origin +refs/heads/baseline:refs/remotes/origin/baseline', 'git switch --discard-changes --no-guess baseline', 'git reset --hard', 'git clean -fd -x -e /rollbacks/', '-e .env', 'report.md', 'metrics.json']],
      ['sprint', ['--set', 'sprint=4'], ['git log --oneline --no-decorate refs/heads/baseline..HEAD', 'git diff --stat=200 refs/heads/baseline', 'npm test', '· snapshot the working copy', 'git commit-tree', "git update-ref -m 'rb: branch backup/sprint-4-<stamp>[-N]' refs/heads/backup/sprint-4-<stamp>[-N] <oid of HEAD> ''", "git update-ref -m 'rb: create refactor/sprint-4-retry[-N]' refs/heads/refactor/sprint-4-retry[-N] <oid of refs/heads/baseline> ''", 'git switch --discard-changes --no-guess refactor/sprint-4-retry[-N]', 'rollbacks/sprint-4/report.md', 'metrics.json']],
      ['files', ['--set', 'paths=src/a.ts'], ['· snapshot the working copy', "git --literal-pathspecs restore --source=<oid of refs/heads/baseline> --staged --worktree -- src/a.ts", 'report.md', 'metrics.json']],
    ] as const)('rb plan %s shows every step and its commands', async (name, extra, commands) => {
      const r = copyRepo(sprintRepo());
      const before = untouched(r);
      const res = await rbAsync(r.root, ['plan', name, ...extra]);
      expectCode(res, 0);
      for (const c of commands) expect(res.stdout, c).toContain(c);
      const json = await rbAsync(r.root, ['plan', name, ...extra, '--json']);
      expectCode(json, 0);
      const plan = JSON.parse(json.stdout).plan;
      const flat: any[] = [];
      const walk = (steps: any[]) => steps.forEach((s) => (flat.push(s), s.children && walk(s.children)));
      walk(plan.steps);
      expect(flat.map((s) => s.id)).toEqual(stepIds(name));
      for (const s of flat.filter((x) => !x.children)) expect(s.commands.length, s.id).toBeGreaterThan(0);
      expect(untouched(r)).toBe(before);
    });

    it.each([
      ['emergency', ['emergency', '--dry-run']],
      ['sprint', ['sprint', '4', '--dry-run']],
      ['files', ['files', 'src/a.ts', '--dry-run']],
    ] as const)('rb %s --dry-run changes nothing and journals nothing', async (_name, args) => {
      const r = copyRepo(sprintRepo());
      const before = untouched(r);
      const res = await rbAsync(r.root, [...args]);
      expectCode(res, 0);
      expect(res.stdout).toContain('[dry run] nothing was changed.');
      expect(untouched(r)).toBe(before);
      expect(existsSync(join(gitDirOf(r), 'rb', 'runs'))).toBe(false);
      expect(existsSync(join(r.root, 'rollbacks'))).toBe(false);
    });
  });
});
