/**
 * Issue 15, points 6 and 9: what the crash sweep found besides crashes, each as a user meets it,
 * with the built `rb` in throwaway repositories and byte-level manifests before the run and
 * after `rb undo`.
 *
 *   6  output cut short (`rb emergency --yes | head -1`) is not success
 *   9b `rb emergency --force` with a merge, rebase or cherry-pick in progress
 *   9c a submodule added after the baseline, with local changes
 *   9d an untracked file whose name is not UTF-8 (the stash step)
 *   9e `rb files` on a tracked path whose name is not UTF-8
 *   9f control characters in paths are escaped in messages
 *   9g an untracked directory with mode 0555 keeps it through emergency + undo
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RB, type RbResult } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';
import { copyRepo, gitIn, gitRun, testEnv, tmpRepos, type TestRepo } from './helpers/repo.js';
import { baseRepo, gitDirOf, emergencyRepo, moveBaselineHere, outOf, rbAsync, runsOf, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };


/**
 * `rb <args> 2>&1 | head -1` as a shell runs it: the real `head` closes the pipe after the first
 * line while rb is still working. Returns rb's own exit code (PIPESTATUS), not head's.
 */
function rbIntoHead(cwd: string, args: string[]): Promise<RbResult & { firstLine: string }> {
  const quoted = [process.execPath, RB, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('bash', ['-c', `${quoted} 2>&1 | head -1; exit "\${PIPESTATUS[0]}"`], {
    cwd, env: { ...testEnv(), NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, firstLine: stdout })));
}

/**
 * rb with its stdout and stderr pipes closed by the reader as soon as each has printed
 * something (the reader goes away; rb's next write to it fails with EPIPE).
 */
function rbWithReaderGone(cwd: string, args: string[]): Promise<RbResult> {
  const child = spawn(process.execPath, [RB, ...args], { cwd, env: { ...testEnv(), NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.once('data', (d) => {
    stdout += d;
    child.stdout.destroy();
  });
  child.stderr.once('data', (d) => {
    stderr += d;
    child.stderr.destroy();
  });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** A run's journal, parsed. */
function journalOf(r: TestRepo, id: string): any {
  return JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${id}.json`), 'utf8'));
}

/** rb with arguments typed in a bash command line (for bytes an argv from node cannot hold). */
function rbShell(cwd: string, argsLine: string): Promise<RbResult> {
  const child = spawn('bash', ['-c', `exec '${process.execPath}' '${RB}' ${argsLine}`], { cwd, env: { ...testEnv(), NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe.concurrent('issue 15: found by the crash sweep', { timeout: 120_000 }, () => {
  // =================================================================================================
  describe('6. output cut short is not success', () => {
    it('`rb emergency --yes | head -1` finishes the rollback and exits 0; `rb undo --yes | head -1` finishes the undo: the exact working copy', async () => {
      const r = copyRepo(emergencyRepo());
      const twin = copyRepo(r);
      const before = manifest(r.root, EXCL);

      const em = await rbIntoHead(r.root, ['emergency', '--yes', '--no-services']);
      expect(em.firstLine.split('\n').filter(Boolean)).toHaveLength(1);
      expectCode(em, 0);
      const [run] = runsOf(r);
      expect(run!.status).toBe('succeeded');
      // the same state as an emergency whose output was read to the end
      expectCode(await rbAsync(twin.root, ['emergency', '--yes', '--no-services']), 0);
      expect(manifest(r.root, EXCL)).toBe(manifest(twin.root, EXCL));

      const undo = await rbIntoHead(r.root, ['undo', '--yes']);
      expectCode(undo, 0);
      const [u] = runsOf(r);
      expect(u!.undoOf).toBe(run!.id);
      expect(u!.status).toBe('succeeded');
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('stdout and stderr closed separately by their reader: the run finishes and exits with its real code (1 when a step fails)', async () => {
      const ok = copyRepo(emergencyRepo());
      const before = manifest(ok.root, EXCL);
      expectCode(await rbWithReaderGone(ok.root, ['emergency', '--yes', '--no-services']), 0);
      expect(runsOf(ok)[0]!.status).toBe('succeeded');
      expectCode(await rbWithReaderGone(ok.root, ['undo', '--yes']), 0);
      expect(manifest(ok.root, EXCL)).toBe(before);

      // a health check that fails: the run's real code is 1, journaled as failed at verify
      const bad = copyRepo(emergencyRepo());
      bad.write('rb.config.yaml', 'verify: "exit 1"\n');
      const res = await rbWithReaderGone(bad.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 1);
      const [run] = runsOf(bad);
      expect(run!.status).toBe('failed');
      const j = JSON.parse(readFileSync(join(gitDirOf(bad), 'rb', 'runs', `${run!.id}.json`), 'utf8'));
      expect(j.error.step).toBe('verify');
      // every step before verify ran to its end
      expect(j.steps.filter((s: { id: string; status: string }) => ['snapshot', 'switch', 'reset', 'clean'].includes(s.id)).map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    });
  });

  // =================================================================================================
  describe('9b. rb emergency --force with a git operation in progress', () => {
    const OPS: [string, (r: TestRepo) => void][] = [
      ['a merge with a conflict', (r) => {
        r.git('switch', '-q', '-c', 'other');
        r.write('src/a.ts', 'export const a = "theirs";\n');
        r.git('commit', '-q', '-am', 'theirs');
        r.git('switch', '-q', '-c', 'feature', 'baseline');
        r.write('src/a.ts', 'export const a = "ours";\n');
        r.git('commit', '-q', '-am', 'ours');
        expect(gitRun(r.root, ['merge', 'other']).code).not.toBe(0);
      }],
      ['a cherry-pick with a conflict', (r) => {
        r.git('switch', '-q', '-c', 'other');
        r.write('src/a.ts', 'export const a = "picked";\n');
        r.git('commit', '-q', '-am', 'to pick');
        r.git('switch', '-q', '-c', 'feature', 'baseline');
        r.write('src/a.ts', 'export const a = "ours";\n');
        r.git('commit', '-q', '-am', 'ours');
        expect(gitRun(r.root, ['cherry-pick', 'other']).code).not.toBe(0);
      }],
      ['a rebase with a conflict and an autostash', (r) => {
        r.git('switch', '-q', '-c', 'other');
        r.write('src/a.ts', 'export const a = "upstream";\n');
        r.git('commit', '-q', '-am', 'upstream');
        r.git('switch', '-q', '-c', 'feature', 'baseline');
        r.write('src/a.ts', 'export const a = "ours";\n');
        r.git('commit', '-q', '-am', 'ours');
        r.write('src/b.ts', 'export const b = "uncommitted";\n');
        expect(gitRun(r.root, ['rebase', '--autostash', 'other']).code).not.toBe(0);
        expect(existsSync(join(gitDirOf(r), 'rebase-merge', 'autostash'))).toBe(true);
      }],
    ];
    for (const [what, start] of OPS) {
      it(`${what}: without --force exit 3 and nothing changed; with --force the rollback completes, and rb undo puts the operation back`, async () => {
        const r = copyRepo(baseRepo());
        start(r);
        r.write('notes.md', 'untracked notes\n');
        const before = manifest(r.root, EXCL);
        const stashBefore = r.git('stash', 'list');
        expect(before).toMatch(/^gitstate (MERGE_HEAD|CHERRY_PICK_HEAD|rebase-merge\/) /m);

        const refused = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
        expectCode(refused, 3);
        expect(refused.stderr).toContain('--force');
        expect(manifest(r.root, EXCL)).toBe(before);

        const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--force']);
        expectCode(res, 0);
        expect(outOf(res)).toMatch(/in progress was set aside \(its state is in snapshot /);
        expect(r.git('symbolic-ref', 'HEAD').trim()).toBe('refs/heads/baseline');
        expect(r.git('status', '--porcelain', '--untracked-files=all')).toBe('');
        expect(manifest(r.root, EXCL)).not.toMatch(/^gitstate (MERGE_HEAD|CHERRY_PICK_HEAD|rebase-merge)/m);
        expect(runsOf(r)[0]!.status).toBe('succeeded');

        expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
        expect(manifest(r.root, EXCL)).toBe(before);
        // the autostash was kept on the stash list while the rollback stood; undo dropped that entry
        expect(r.git('stash', 'list')).toBe(stashBefore);
      });
    }
  });

  // =================================================================================================
  describe('9c. a submodule added after the baseline, with local changes', () => {
    /** baseline = the project; HEAD adds vendor/lib as a submodule, whose checkout has a local change and an untracked file. */
    function withSubmodule(opts: { vendorTracked?: boolean } = {}): TestRepo {
      const r = copyRepo(baseRepo());
      if (opts.vendorTracked) {
        // vendor/ holds tracked files in the baseline too: the checkout is itself git clean's untracked entry
        r.write('vendor/README.md', 'third-party code\n');
        r.git('add', 'vendor');
        r.git('commit', '-q', '-m', 'vendor/');
        moveBaselineHere(r);
      }
      const lib = join(r.dir, 'lib');
      mkdirSync(lib);
      gitIn(lib, 'init', '-q', '-b', 'main');
      for (const [k, v] of [['user.name', 'lib'], ['user.email', 'lib@example.invalid'], ['commit.gpgSign', 'false']]) gitIn(lib, 'config', k!, v!);
      writeFileSync(join(lib, 'lib.txt'), 'lib 1\n');
      gitIn(lib, 'add', '.');
      gitIn(lib, 'commit', '-q', '-m', 'lib');
      r.git('switch', '-q', '-c', 'feature');
      r.git('-c', 'protocol.file.allow=always', 'submodule', 'add', '-q', lib, 'vendor/lib');
      r.git('commit', '-q', '-m', 'add vendor/lib');
      r.write('vendor/lib/lib.txt', 'lib 1\nlocal change in the submodule\n');
      r.write('vendor/lib/scratch.txt', 'untracked in the submodule\n');
      r.write('src/a.ts', 'export const a = "uncommitted";\n');
      return r;
    }

    for (const vendorTracked of [false, true]) it(`the emergency keeps the nested repository (named, never deleted), verifies, and rb undo gives back the exact working copy (vendor/ ${vendorTracked ? 'tracked' : 'untracked'} in the baseline)`, async () => {
      const r = withSubmodule({ vendorTracked });
      const before = manifest(r.root, EXCL);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      expect(outOf(res)).toContain('vendor/lib is a nested git repository');
      expect(readFileSync(join(r.root, 'vendor/lib/lib.txt'), 'utf8')).toContain('local change in the submodule');
      expect(existsSync(join(r.root, 'vendor/lib/scratch.txt'))).toBe(true);
      const j = journalOf(r, runsOf(r)[0]!.id);
      expect(j.steps.find((s: { id: string }) => s.id === 'clean').result.nested).toEqual(['vendor/lib']);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('an emergency that fails after its clean is aborted back to the exact working copy (the submodule comes back over the nested repository)', async () => {
      const r = withSubmodule();
      r.write('rb.config.yaml', 'verify: "exit 1"\n');
      const before = manifest(r.root, EXCL);
      expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services']), 1);
      const abort = await rbAsync(r.root, ['abort', '--yes']);
      expectCode(abort, 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('a restore that would overwrite a nested repository names the path and why, and changes nothing', async () => {
      const r = copyRepo(baseRepo());
      r.git('switch', '-q', '-c', 'feature');
      r.write('tools', 'a tracked file, not in the baseline\n');
      r.git('add', 'tools');
      r.git('commit', '-q', '-m', 'tools');
      expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services']), 0);
      // where the file was, the user now clones something
      mkdirSync(join(r.root, 'tools'));
      gitIn(join(r.root, 'tools'), 'init', '-q');
      writeFileSync(join(r.root, 'tools', 'mine.txt'), 'work in the nested repository\n');
      const st = manifest(r.root, EXCL);
      const undo = await rbAsync(r.root, ['undo', '--yes']);
      expect(undo.code).not.toBe(0);
      expect(outOf(undo)).toContain('restoring would overwrite a path the safety snapshot could not capture: tools: a nested git repository');
      expect(manifest(r.root, EXCL)).toBe(st);
    });
  });

  // =================================================================================================
  describe('9d/9e. names that are not UTF-8', () => {
    const CAFE = Buffer.from('caf\xe9.txt', 'latin1');
    const bytesPath = (r: TestRepo, name: Buffer) => Buffer.concat([Buffer.from(r.root + '/'), name]);

    it('9d. an untracked file whose name is not UTF-8: the emergency stashes and cleans it, rb undo gives it back byte for byte', async () => {
      const r = copyRepo(emergencyRepo());
      writeFileSync(bytesPath(r, CAFE), 'latin-1 name\n');
      writeFileSync(bytesPath(r, Buffer.from('bad\xff\x01name.txt', 'latin1')), 'and a control byte\n');
      mkdirSync(bytesPath(r, Buffer.from('d\xe8', 'latin1')));
      writeFileSync(bytesPath(r, Buffer.from('d\xe8/inner.txt', 'latin1')), 'in a directory whose name is not UTF-8\n');
      const before = manifest(r.root, EXCL);
      expect(before).toContain('"caf\\\\xe9.txt"');
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      // the stash entry holds the untracked names as they are
      const untracked = gitRun(r.root, ['ls-tree', '-r', '-z', '--name-only', 'stash@{0}^3']).stdoutBuf;
      for (const n of [CAFE, Buffer.from('bad\xff\x01name.txt', 'latin1'), Buffer.from('d\xe8/inner.txt', 'latin1')]) expect(untracked.includes(Buffer.concat([n, Buffer.from([0])])), n.toString('latin1')).toBe(true);
      expect(existsSync(bytesPath(r, CAFE))).toBe(false);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });

    it('9e. `rb files <name that is not UTF-8>` restores that tracked file from the baseline, keeps every other change; rb undo gives back the exact working copy', async () => {
      const r = copyRepo(baseRepo());
      writeFileSync(bytesPath(r, CAFE), 'baseline version\n');
      r.git('add', '-A');
      r.git('commit', '-q', '-m', 'a latin-1 name');
      moveBaselineHere(r);
      r.git('switch', '-q', '-c', 'feature');
      writeFileSync(bytesPath(r, CAFE), 'committed on the feature\n');
      r.git('commit', '-q', '-am', 'change it');
      writeFileSync(bytesPath(r, CAFE), 'uncommitted change\n');
      r.write('src/a.ts', 'export const a = "keep me";\n');
      const before = manifest(r.root, EXCL);
      // typed in a shell, as a user would: printf makes the byte
      const res = await rbShell(r.root, `files "$(printf 'caf\\351.txt')" --yes --no-tests`);
      expectCode(res, 0);
      expect(readFileSync(bytesPath(r, CAFE), 'utf8')).toBe('baseline version\n');
      expect(readFileSync(join(r.root, 'src/a.ts'), 'utf8')).toBe('export const a = "keep me";\n');
      // the index entry is the baseline's blob
      const oidOfName = (listing: Buffer, field: number) => listing.toString('latin1').split('\0').find((rec) => rec.endsWith('\tcaf\xe9.txt'))?.split(/[ \t]/)[field];
      expect(oidOfName(gitRun(r.root, ['ls-files', '-s', '-z']).stdoutBuf, 1)).toBe(oidOfName(gitRun(r.root, ['ls-tree', '-z', 'baseline']).stdoutBuf, 2));
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });

  // =================================================================================================
  describe('9f. control characters in paths are escaped in messages', () => {
    it('rb files with a path holding ESC and BEL: the message shows it quoted (\\033, \\a), never the raw bytes', async () => {
      const r = copyRepo(baseRepo());
      const before = manifest(r.root);
      const res = await rbAsync(r.root, ['files', 'x\x1b[31mred\x07', '--yes']);
      expectCode(res, 2);
      expect(res.stderr).toContain('no such path in baseline or in the working copy: "x\\033[31mred\\a"; nothing was changed.');
      expect(outOf(res)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
      expect(manifest(r.root)).toBe(before);
    });

    it('the emergency\'s warning about what it could not capture quotes a name with ESC; rb undo gives back the exact working copy', async () => {
      const r = copyRepo(emergencyRepo());
      r.write('rb.config.yaml', 'snapshots:\n  maxIgnoredBytes: 50\n');
      r.write('.env.\x1b[2J', 'x'.repeat(100)); // ignored (.env.*), over the cap: not captured, kept
      const before = manifest(r.root, EXCL);
      const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
      expectCode(res, 0);
      expect(outOf(res)).toContain('".env.\\033[2J" (too-big)');
      expect(outOf(res)).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });

  // =================================================================================================
  describe('9g. directory modes', () => {
    it('an untracked 0555 directory, an untracked 0700 one and an ignored 0700 one keep their modes through emergency + undo', async () => {
      const r = copyRepo(emergencyRepo());
      r.write('ro/sub/f.txt', 'inside a read-only directory\n');
      r.write('private/key.txt', 'mine\n');
      chmodSync(join(r.root, 'ro/sub'), 0o555);
      chmodSync(join(r.root, 'ro'), 0o555);
      chmodSync(join(r.root, 'private'), 0o700);
      chmodSync(join(r.root, 'build'), 0o700); // ignored (build/)
      const before = manifest(r.root, EXCL);
      expect(before).toContain('D 0555 "ro/sub"');
      expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services']), 0);
      expect(existsSync(join(r.root, 'ro'))).toBe(false);
      expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
      expect(statSync(join(r.root, 'ro')).mode & 0o777).toBe(0o555);
      expect(manifest(r.root, EXCL)).toBe(before);
    });
  });
});
