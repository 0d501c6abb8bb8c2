/**
 * TreeEditor (src/snapshot/tree-edit.ts) against git itself: every edit list is applied both by
 * the editor and by git's index machinery (`read-tree` of the base into a temporary index,
 * `update-index --index-info`, `write-tree`); the two tree ids must be equal. Includes names
 * git sorts unusually ("a" vs "a.b" vs "a/"), names that are not UTF-8 in the base, directory
 * names with newlines (the editor then reads level by level), file <-> directory replacements,
 * removals that empty a directory or the whole tree, and a seeded random mix.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { git } from '../src/io/git.js';
import { PACK_FROM, TreeEditor, zlibStored, type TreeEditOp } from '../src/snapshot/tree-edit.js';
import { ObjectBatch } from '../src/io/object-batch.js';
import { inflateSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { gitRun, tmpRepos, type TestRepo } from './helpers/repo.js';
import { withRunScope } from '../src/io/run-scope.js';

const repos = tmpRepos();

const run = (r: TestRepo) => (args: readonly string[], o: Record<string, unknown> = {}) => git(args, { cwd: r.root, ...o });

function blob(r: TestRepo, content: string): string {
  const res = gitRun(r.root, ['hash-object', '-w', '--stdin'], { input: content });
  return res.stdout.trim();
}

/** The same edits done by git: read-tree base, update-index --index-info, write-tree ('' = empty tree). */
function viaGit(r: TestRepo, base: string | null, edits: readonly TreeEditOp[]): string {
  const idx = join(r.dir, `idx-${Math.random().toString(16).slice(2)}`);
  const env = { GIT_INDEX_FILE: idx };
  if (base) expect(gitRun(r.root, ['read-tree', base], { env }).code).toBe(0);
  else expect(gitRun(r.root, ['read-tree', '--empty'], { env }).code).toBe(0);
  // removals first (a path can only be added once nothing of another type sits there), then sets
  const rm = edits.filter((e) => 'remove' in e);
  const set = edits.filter((e): e is { path: string; mode: string; oid: string } => !('remove' in e));
  const zero = '0'.repeat(40);
  // a set that replaces a directory, or a file that becomes a directory: remove what is in the way
  const ls = gitRun(r.root, ['ls-files', '-z'], { env }).stdoutBuf.toString('latin1').split('\0').filter(Boolean);
  const inWay = new Set<string>();
  for (const s of set) {
    const p = Buffer.from(s.path, 'utf8').toString('latin1');
    for (const f of ls) if (f.startsWith(p + '/')) inWay.add(f);
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const pre = parts.slice(0, i).join('/');
      if (ls.includes(pre)) inWay.add(pre);
    }
  }
  const removals = [...rm.map((e) => Buffer.from(e.path, 'utf8').toString('latin1')), ...inWay];
  const input = Buffer.concat([
    ...removals.flatMap((p) => {
      // removing a directory path removes every entry under it
      const under = ls.filter((f) => f === p || f.startsWith(p + '/'));
      return under.map((f) => Buffer.from(`0 ${zero}\t${f}\0`, 'latin1'));
    }),
    ...set.map((e) => Buffer.from(`${e.mode} ${e.oid}\t${e.path}\0`, 'utf8')),
  ]);
  expect(gitRun(r.root, ['update-index', '-z', '--index-info'], { env, input }).code).toBe(0);
  return gitRun(r.root, ['write-tree'], { env }).stdout.trim();
}

/** shared: base trees read through the command's long-lived cat-file (a scope, the worktree root given), as the snapshot reads them */
async function both(r: TestRepo, base: string | null, edits: TreeEditOp[], shared = false): Promise<string> {
  const editor = () => TreeEditor.forOid(run(r), base ?? blob(r, ''), undefined, shared ? r.root : undefined);
  const mine = shared ? await withRunScope(() => editor().apply(base, edits)) : await editor().apply(base, edits);
  const theirs = viaGit(r, base, edits);
  const empty = gitRun(r.root, ['hash-object', '-t', 'tree', '--stdin'], { input: '' }).stdout.trim();
  expect(mine ?? empty).toBe(theirs);
  if (mine) expect(gitRun(r.root, ['cat-file', '-t', mine]).stdout.trim()).toBe('tree'); // written
  return theirs;
}

/** A base tree made by git from files (path -> content), with an optional raw-bytes name. */
function baseTree(r: TestRepo, files: Record<string, string>, rawNames: Buffer[] = []): string {
  const idx = join(r.dir, `base-${Math.random().toString(16).slice(2)}`);
  const env = { GIT_INDEX_FILE: idx };
  const lines = Object.entries(files).map(([p, c]) => Buffer.from(`100644 ${blob(r, c)}\t${p}\0`, 'utf8'));
  const one = blob(r, 'raw\n');
  for (const n of rawNames) lines.push(Buffer.concat([Buffer.from(`100644 ${one}\t`), n, Buffer.from([0])]));
  expect(gitRun(r.root, ['update-index', '--add', '-z', '--index-info'], { env, input: Buffer.concat(lines) }).code).toBe(0);
  return gitRun(r.root, ['write-tree'], { env }).stdout.trim();
}

describe('TreeEditor gives the trees git gives', () => {
  it('sets, changes and removes files at every depth, in git name order', async () => {
    const r = repos.make();
    // (a directory "q" sorts after "q-r" and "q.txt": as if it were named "q/")
    const base = baseTree(r, { 'a': '1', 'a.b': '2', 'a-c/x': '3', 'd/e/f.txt': '4', 'd/e/g.txt': '5', 'd/h': '6', 'z': '7', 'q/in': '8', 'q.txt': '9', 'q-r': '10', 'q0': '11' });
    await both(r, base, [
      { path: 'q/in', mode: '100644', oid: blob(r, 'changed inside q') },
      { path: 'q.u', mode: '100644', oid: blob(r, 'a new sibling of q') },
      { path: 'a.b', mode: '100755', oid: blob(r, 'exec') },
      { path: 'a-c/y', mode: '100644', oid: blob(r, 'new') },
      { path: 'd/e/f.txt', remove: true },
      { path: 'd/new/deep/file', mode: '120000', oid: blob(r, '../target') },
      { path: 'aa', mode: '100644', oid: blob(r, 'aa') },
      { path: 'a0', mode: '100644', oid: blob(r, 'a0') },
    ]);
  });

  it('file <-> directory replacements, and removals that empty a directory or the whole tree', async () => {
    const r = repos.make();
    const base = baseTree(r, { 'x': 'file', 'dir/a': '1', 'dir/b': '2', 'only/one': '3' });
    await both(r, base, [
      { path: 'x', remove: true },
      { path: 'x/inside', mode: '100644', oid: blob(r, 'now a dir') },
      { path: 'dir/a', remove: true },
      { path: 'dir/b', remove: true },
      { path: 'dir', mode: '100644', oid: blob(r, 'now a file') },
      { path: 'only/one', remove: true },
    ]);
    const small = baseTree(r, { 'p/q': '1' });
    expect(await TreeEditor.forOid(run(r), small).apply(small, [{ path: 'p/q', remove: true }])).toBeNull();
    await both(r, small, [{ path: 'p/q', remove: true }]);
    await both(r, null, [{ path: 'n/e/w', mode: '100644', oid: blob(r, 'from nothing') }]);
  });

  it('keeps base names that are not UTF-8, and reads directories named with a newline level by level', async () => {
    const r = repos.make();
    const base = baseTree(r, { 'nl\ndir/f': 'in a newline dir', 'ok/f': 'x' }, [Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9])]);
    await both(r, base, [
      { path: 'nl\ndir/g', mode: '100644', oid: blob(r, 'next to it') },
      { path: 'ok/f', mode: '100644', oid: blob(r, 'changed') },
    ]);
  });

  it("through the command's cat-file process (issue 18): the same trees, under non-ASCII names (asked for as bytes) and beside names that are not UTF-8", async () => {
    const r = repos.make();
    const latin = Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0xe9]);
    const base = baseTree(r, { 'a/b/c': '1', 'd/e': '2', 'caf\u00e9/x': '3', 'nl\ndir/f': '4' }, [Buffer.concat([latin, Buffer.from('/inside')])]);
    await both(r, base, [
      { path: 'a/b/c', mode: '100644', oid: blob(r, 'c2') },
      { path: 'caf\u00e9/y', mode: '100755', oid: blob(r, 'y') },
      { path: 'd/e', remove: true },
      { path: 'nl\ndir/g', mode: '100644', oid: blob(r, 'g') },
    ], true);
  });

  it('edits on top of a tree the same editor built or read (from its cache, partly from git)', async () => {
    const r = repos.make();
    const base = baseTree(r, { 'a/b/c': '1', 'a/d': '2', 'e/f': '3', 'g/h/i': '4' });
    const ed = TreeEditor.forOid(run(r), base);
    const first: TreeEditOp[] = [{ path: 'a/b/c', mode: '100644', oid: blob(r, 'c2') }, { path: 'new/x', mode: '100644', oid: blob(r, 'x') }];
    const t1 = (await ed.apply(base, first))!;
    expect(t1).toBe(viaGit(r, base, first));
    // a/ and new/ were built (cached); g/h was never read: it comes from git by path
    const second: TreeEditOp[] = [
      { path: 'a/b/z', mode: '100755', oid: blob(r, 'z') }, { path: 'new/x', remove: true },
      { path: 'g/h/j', mode: '100644', oid: blob(r, 'j') }, { path: 'a/d', remove: true },
    ];
    const t2 = await ed.apply(t1, second);
    expect(t2).toBe(viaGit(r, t1, second));
  });

  it('edits on top of a tree not written yet (in the caller\'s batch, or made elsewhere): the directories below it read by id, the same trees', async () => {
    const r = repos.make();
    const base = baseTree(r, { 'a/b/c': '1', 'a/d': '2', 'e/f': '3', 'g/h/i': '4', 'g/j': '5' });
    const batch = ObjectBatch.forOid(run(r), base);
    const ed = TreeEditor.forOid(run(r), base, batch, r.root);
    const first: TreeEditOp[] = [{ path: 'e/f', mode: '100644', oid: blob(r, 'f2') }];
    const t1 = (await withRunScope(() => ed.apply(base, first)))!;
    expect(gitRun(r.root, ['cat-file', '-e', t1]).code).not.toBe(0); // not written yet
    // g/h and a/b are below t1 but were never read: git cannot answer `<t1>:g/h`
    const second: TreeEditOp[] = [{ path: 'g/h/k', mode: '100644', oid: blob(r, 'k') }, { path: 'a/b/c', remove: true }];
    const t2 = (await withRunScope(() => ed.apply(t1, second)))!;
    await batch.flush();
    expect(t1).toBe(viaGit(r, base, first));
    expect(t2).toBe(viaGit(r, t1, second));
    // a tree made elsewhere, told to a new editor
    const body = gitRun(r.root, ['cat-file', 'tree', t2]).stdoutBuf;
    const ed2 = TreeEditor.forOid(run(r), t2, ObjectBatch.forOid(run(r), t2), r.root);
    ed2.know(t2, body);
    const third: TreeEditOp[] = [{ path: 'g/h/i', mode: '100755', oid: blob(r, 'i2') }];
    expect(await withRunScope(() => ed2.apply(t2, third))).toBe(viaGit(r, t2, third));
  });

  it('a seeded random mix of edits over a few hundred files', async () => {
    const r = repos.make();
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const names = ['a', 'b', 'a.b', 'a-b', 'c d', 'ü', 'x_y', '[g]'];
    const path = (depth: number) => Array.from({ length: depth }, () => names[rnd(names.length)]).join('/');
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) {
      const p = path(1 + rnd(4));
      if (Object.keys(files).some((f) => f.startsWith(p + '/') || p.startsWith(f + '/'))) continue;
      files[p] = `f${i}`;
    }
    const base = baseTree(r, files);
    const existing = Object.keys(files);
    const edits: TreeEditOp[] = [];
    const touched = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const p = existing[rnd(existing.length)]!;
      if (touched.has(p)) continue;
      touched.add(p);
      edits.push(rnd(3) === 0 ? { path: p, remove: true } : { path: p, mode: rnd(2) ? '100644' : '100755', oid: blob(r, `e${i}`) });
    }
    await both(r, base, edits);
  });
});

describe('many new trees: written as a kept pack (index-pack)', () => {
  it(`${PACK_FROM}+ trees: the same ids as git, every tree readable, one more pack, fsck clean`, async () => {
    const r = repos.make();
    const files: Record<string, string> = {};
    for (let d = 0; d < 130; d++) files[`d${d}/sub/f.txt`] = `${d}\n`;
    const base = baseTree(r, files);
    const packsBefore = readdirSync(join(r.root, '.git', 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;
    // a different blob in each directory, so the 261 new trees are all different
    const edits: TreeEditOp[] = Object.keys(files).map((p, i) => ({ path: p, mode: '100644', oid: blob(r, `changed ${i}\n`) }));
    const tree = await both(r, base, edits); // 130 x 2 + 1 trees
    const packsAfter = readdirSync(join(r.root, '.git', 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;
    expect(packsAfter).toBe(packsBefore + 1);
    expect(gitRun(r.root, ['ls-tree', '-r', tree]).stdout.split('\n').filter(Boolean)).toHaveLength(130);
    expect(gitRun(r.root, ['fsck', '--no-dangling', '--strict']).code).toBe(0);
  });
});

describe('zlibStored (the pack entries TreeEditor writes)', () => {
  it('inflates back to the same bytes, Adler-32 checked by zlib, at block boundaries and with 0xff runs', () => {
    for (const n of [0, 1, 100, 65534, 65535, 65536, 131071, 200000, 1_000_001]) {
      const d = randomBytes(n);
      expect(inflateSync(zlibStored(d)).equals(d), `length ${n}`).toBe(true);
    }
    const ff = Buffer.alloc(300_000, 0xff);
    expect(inflateSync(zlibStored(ff)).equals(ff)).toBe(true);
  });
});
