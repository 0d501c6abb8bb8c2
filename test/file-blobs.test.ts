/**
 * Many new file contents as one pack (issue 18, snapshot/file-blobs.ts): the snapshot reads,
 * hashes and writes the changed and untracked files git stores as they are in one pack, and
 * leaves the files git converts (a clean filter, CRLF with text attributes) to git. The trees it
 * records must be exactly the ones git builds: compared with the `git add -A` capture
 * (forceAddAll) and with `git add -A` + `write-tree` on a copy of the index, on repositories
 * with binary files, CRLF, a clean filter, symlinks, executable bits, empty files, duplicates,
 * a non-UTF-8 name, files over 1 MiB and over STREAM_FROM, in SHA-1 and SHA-256.
 */
import { copyFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { gitRun, tmpDir, tmpRepos, wrap, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { captureSnapshot } from '../src/snapshot/capture.js';
import { STREAM_FROM, startFileBlobs, writeFileBlobs } from '../src/snapshot/file-blobs.js';
import type { GitOptions, GitResult } from '../src/io/git.js';
import { git } from '../src/io/git.js';

tmpRepos();

function repoOf(format: 'sha1' | 'sha256'): TestRepo {
  const dir = tmpDir('rb-fileblobs-');
  const root = join(dir, 'work');
  expect(gitRun(dir, ['init', '-q', `--object-format=${format}`, '-b', 'main', root]).code).toBe(0);
  const r = wrap(root, null, dir);
  for (const [k, v] of [['user.name', 'rb test'], ['user.email', 'rb-test@example.invalid'], ['core.autocrlf', 'false'], ['gc.auto', '0']]) r.git('config', k!, v!);
  r.git('config', 'filter.upper.clean', 'tr a-z A-Z');
  r.git('config', 'filter.upper.smudge', 'cat');
  r.write('.gitattributes', '*.up filter=upper\n*.txt text\n*.bin binary\n');
  r.write('.gitignore', 'build/\n*.log\n');
  r.write('README.md', 'hello\n');
  r.write('crlf.txt', 'a\r\nb\r\n');
  r.write('keep.bin', randomBytes(2000));
  r.write('x.up', 'lower\n');
  r.write('run.sh', '#!/bin/sh\n', 0o755);
  r.symlink('link-to-readme', 'README.md');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'one');
  // the changes: tracked edits of every kind, untracked files of every kind
  r.write('README.md', 'hello again\n');
  r.write('crlf.txt', 'a\r\nchanged\r\n');
  r.write('keep.bin', randomBytes(3000));
  r.write('x.up', 'still lower\n');
  r.write('run.sh', '#!/bin/sh\necho hi\n', 0o644);
  r.write('new.sh', '#!/bin/sh\n', 0o755);
  r.write('new-crlf.txt', 'n\r\n');
  r.write('new.up', 'goes through the filter\n');
  r.write('new.bin', Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]));
  r.write('empty-1', '');
  r.write('dir/empty-2', '');
  r.write('mixed-eol', 'lf\ncrlf\r\n');
  r.write('big/one-mib-plus', randomBytes(1024 * 1024 + 17));
  r.write('big/streamed', Buffer.concat([Buffer.alloc(STREAM_FROM, 'a'), randomBytes(1000)]));
  r.symlink('new-link', 'dir/empty-2');
  r.symlink('dangling', 'no/such/target');
  // enough files for a kept pack, many with the same content (the pack holds duplicates)
  for (let i = 0; i < 130; i++) r.write(`many/f${String(i).padStart(3, '0')}.js`, i % 3 === 0 ? 'same\n' : `file ${i}\n`);
  r.write('build/out.o', 'ignored\n');
  r.write('debug.log', 'ignored too\n');
  r.write('build/crlf.txt', 'raw\r\nbytes\r\n'); // text attribute: stored raw all the same
  r.write('build/x.up', 'no filter for ignored files\n');
  r.write('build/tool', '#!/bin/sh\n', 0o755);
  r.write('build/big.bin', randomBytes(STREAM_FROM + 5));
  r.symlink('build/link', '../README.md');
  return r;
}

/** `git add -A` + `write-tree` on a copy of the index: the worktree tree git itself builds. */
function viaAddAll(r: TestRepo): string {
  const idx = join(r.dir, 'copy.idx');
  copyFileSync(join(r.root, '.git', 'index'), idx);
  const env = { GIT_INDEX_FILE: idx };
  expect(gitRun(r.root, ['add', '-A'], { env }).code).toBe(0);
  return gitRun(r.root, ['write-tree'], { env }).stdout.trim();
}

/**
 * The snapshot's worktree/ listed (mode, blob, path) next to git add -A's tree, leaving out the
 * files git converts: the snapshot stores those byte-exact (meta/raw.list), add -A filtered.
 */
function expectWorktreeIsAddAll(r: TestRepo, commit: string): void {
  const raw = new Set(gitRun(r.root, ['cat-file', 'blob', `${commit}:meta/raw.list`]).stdout.split('\0').filter(Boolean).map((l) => l.slice(l.indexOf('\t') + 1)));
  const list = (tree: string) => gitRun(r.root, ['ls-tree', '-r', '-z', tree]).stdoutBuf.toString('latin1').split('\0').filter(Boolean)
    .filter((l) => !raw.has(Buffer.from(l.slice(l.indexOf('\t') + 1), 'latin1').toString('utf8')));
  const mine = list(`${commit}:worktree`);
  expect(mine.length).toBeGreaterThan(140);
  expect(mine).toEqual(list(viaAddAll(r)));
}

const raw = (r: TestRepo, commit: string) => gitRun(r.root, ['cat-file', 'blob', `${commit}:meta/raw.list`]).stdout.split('\0').filter(Boolean).map((l) => l.slice(l.indexOf('\t') + 1));
const looseCount = (r: TestRepo) => readdirSync(join(r.root, '.git', 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d))
  .reduce((n, d) => n + readdirSync(join(r.root, '.git', 'objects', d)).length, 0);
const packCount = (r: TestRepo) => readdirSync(join(r.root, '.git', 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;

describe('the snapshot writes new file contents as one pack, with the trees git builds', () => {
  for (const format of ['sha1', 'sha256'] as const) {
    it(`${format}: worktree/, index/ and ignored/ are the trees of git add -A; the files' blobs are in one new pack, not loose`, async () => {
      const r = repoOf(format);
      const before = manifest(r.root);
      const loose0 = looseCount(r);
      const packs0 = packCount(r);
      const fast = await captureSnapshot(r.repo());
      expect(fast.method).toBe('edit');
      expect(manifest(r.root), 'the capture changes nothing').toBe(before);
      // one pack for the file contents (and one for the snapshot's own objects: more than 100 trees? no: loose)
      expect(packCount(r) - packs0).toBeGreaterThanOrEqual(1);
      // the untracked files' blobs are not loose objects: only the few converted files and the
      // snapshot's trees, meta blobs and commit are (fewer than the 140 files)
      expect(looseCount(r) - loose0).toBeLessThan(60);
      const slow = await captureSnapshot(r.repo(), { forceAddAll: true });
      expect(slow.method).toBe('add');
      for (const part of ['index', 'worktree', 'ignored', 'meta/raw.list', 'meta/perms', 'meta/emptydirs']) {
        expect(r.git('rev-parse', `${fast.commit}:${part}`), part).toBe(r.git('rev-parse', `${slow.commit}:${part}`));
      }
      expect(raw(r, fast.commit).sort()).toEqual(['crlf.txt', 'new-crlf.txt', 'new.up', 'x.up']);
      expectWorktreeIsAddAll(r, fast.commit);
      // every blob reads back as the file's bytes (the streamed one too)
      for (const p of ['big/streamed', 'big/one-mib-plus', 'new.bin', 'empty-1', 'many/f003.js']) {
        const blob = gitRun(r.root, ['cat-file', 'blob', `${fast.commit}:worktree/${p}`]).stdoutBuf;
        expect(blob.length, p).toBe(statSync(join(r.root, p)).size);
      }
      // ignored/: each file's raw bytes (no filter, no conversion), its exec bit, symlinks as links
      const ign = gitRun(r.root, ['ls-tree', '-r', '-z', `${fast.commit}:ignored`]).stdout.split('\0').filter(Boolean).sort();
      const expected = ['build/big.bin', 'build/crlf.txt', 'build/link', 'build/out.o', 'build/tool', 'build/x.up', 'debug.log'].map((p) => {
        const link = p === 'build/link';
        const oid = link ? gitRun(r.root, ['hash-object', '--stdin'], { input: '../README.md' }).stdout.trim() : gitRun(r.root, ['hash-object', '--no-filters', '--', p]).stdout.trim();
        return `${link ? '120000' : p === 'build/tool' ? '100755' : '100644'} blob ${oid}\t${p}`;
      }).sort();
      expect(ign).toEqual(expected);
      expect(gitRun(r.root, ['fsck', '--strict', '--no-dangling']).code).toBe(0);
    }, 60_000);
  }

  it('a non-UTF-8 name: the capture takes git add -A and records the same trees', async () => {
    const r = repoOf('sha1');
    writeFileSync(Buffer.concat([Buffer.from(r.root + '/'), Buffer.from([0x6e, 0xe9, 0x2e, 0x74, 0x78, 0x74])]), 'latin-1 name\n');
    const fast = await captureSnapshot(r.repo());
    expect(fast.method).toBe('add');
    expectWorktreeIsAddAll(r, fast.commit);
  }, 60_000);

  it('writeFileBlobs streams a file over STREAM_FROM (hashed and deflated as it passes), reads small ones whole; vanished files give null', async () => {
    const r = repoOf('sha256');
    const names = Array.from({ length: 120 }, (_, i) => `s/${i}.txt`);
    names.forEach((n, i) => r.write(n, i % 2 ? 'dup\n' : `small ${i}\n`));
    r.write('huge.bin', Buffer.concat([randomBytes(STREAM_FROM), Buffer.alloc(300_000, 'z')]));
    r.symlink('s/link', '../huge.bin');
    const files = [...names, 'huge.bin', 's/link', 'gone.txt'].map((p) => ({ path: p, link: p === 's/link' }));
    const oids = await writeFileBlobs((a, o = {}) => git(a, { cwd: r.root, ...o }), r.root, files, 'sha256');
    expect(oids.at(-1)).toBeNull();
    for (const [i, f] of files.slice(0, -1).entries()) {
      const want = f.link ? gitRun(r.root, ['hash-object', '--stdin'], { input: '../huge.bin' }).stdout.trim() : gitRun(r.root, ['hash-object', '--no-filters', '--', f.path]).stdout.trim();
      expect(oids[i], f.path).toBe(want);
    }
    expect(gitRun(r.root, ['cat-file', '-s', oids[names.length]!]).stdout.trim()).toBe(String(STREAM_FROM + 300_000));
    expect(gitRun(r.root, ['fsck', '--strict', '--no-dangling']).code).toBe(0);
  }, 60_000);

  it('startFileBlobs: the ids come once the last entry is made, while git still indexes the pack; a refused pack rejects `written`; a git that stops early rejects the ids', async () => {
    const r = repoOf('sha1');
    const names = Array.from({ length: 110 }, (_, i) => `p/${i}.txt`);
    names.forEach((n, i) => r.write(n, `content ${i}\n`));
    const files = names.map((path) => ({ path, link: false }));
    // a git whose answer is held back until the test lets it go (the pack is on its stdin by then)
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let answered = false;
    const slowGit = async (a: readonly string[], o: Partial<GitOptions> = {}): Promise<GitResult> => {
      const res = await git(a, { cwd: r.root, ...o });
      await held;
      answered = true;
      return res;
    };
    const w = startFileBlobs(slowGit, r.root, files, 'sha1');
    const ids = await w.ids;
    expect(answered).toBe(false);
    expect(ids).toEqual(names.map((n) => gitRun(r.root, ['hash-object', '--no-filters', '--', n]).stdout.trim()));
    release();
    await w.written;
    expect(answered).toBe(true);
    expect(gitRun(r.root, ['cat-file', '-e', ids[0]!]).code).toBe(0);

    // git reads the whole pack and refuses it: the ids were handed out, `written` says no
    const refusing = async (a: readonly string[], o: Partial<GitOptions> = {}): Promise<GitResult> => {
      for await (const _ of o.inputStream!) { /* read it all */ }
      return { code: 128, stdout: '', stderr: 'fatal: refused', stdoutBuf: Buffer.alloc(0) };
    };
    const no = startFileBlobs(refusing, r.root, files, 'sha1');
    await expect(no.written).rejects.toThrow(/refused the snapshot's file contents: fatal: refused/);
    // git stops before reading anything: no ids, the failure instead
    const quitting = async (): Promise<GitResult> => ({ code: 128, stdout: '', stderr: 'fatal: quit', stdoutBuf: Buffer.alloc(0) });
    const quit = startFileBlobs(quitting, r.root, files, 'sha1');
    await expect(quit.ids).rejects.toThrow(/fatal: quit/);
    await expect(quit.written).rejects.toThrow(/fatal: quit/);
  }, 60_000);
});
