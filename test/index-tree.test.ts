/**
 * The index's tree made by rb from the index's bytes (src/snapshot/index-tree.ts, issue 18: the
 * snapshot's `git write-tree` process saved): the same tree id as `git write-tree` of a copy of
 * the same index, with a fully valid cache-tree (just committed), a partly invalid one (staged
 * edits, new and removed directories), none at all, index versions 2-4, names git sorts unusually
 * ("a", "a.b", "a/", "a-b"), names that are not UTF-8, symlinks, executables, gitlinks and
 * skip-worktree entries; and null (git writes it) for an index with conflicts or intent-to-add
 * entries.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRun, makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { indexTree } from '../src/snapshot/index-tree.js';
import { hashObject } from '../src/io/object-batch.js';

tmpRepos();

/** git write-tree of a copy of the repository's index (the original keeps its cache-tree as it is) */
function gitsTree(r: TestRepo): string {
  const copy = join(r.dir, `idx-${Math.random().toString(16).slice(2)}`);
  copyFileSync(join(r.root, '.git', 'index'), copy);
  const w = gitRun(r.root, ['write-tree'], { env: { GIT_INDEX_FILE: copy } });
  rmSync(copy, { force: true });
  expect(w.code, w.stderr).toBe(0);
  return w.stdout.trim();
}

function ours(r: TestRepo) {
  return indexTree(readFileSync(join(r.root, '.git', 'index')), 'sha1');
}

/** ours equals git's, and every tree rb made hashes to its id and is the tree git wrote (`cat-file`) */
function expectSame(r: TestRepo, label: string): { made: number; reused: number; serialised: number } {
  const mine = ours(r);
  expect(mine, label).not.toBeNull();
  expect(mine!.tree, label).toBe(gitsTree(r));
  for (const t of mine!.made) {
    expect(hashObject('sha1', 'tree', t.body)).toBe(t.oid);
    expect(gitRun(r.root, ['cat-file', 'tree', t.oid]).stdoutBuf.equals(t.body), `${label}: ${t.oid}`).toBe(true);
  }
  return { made: mine!.made.length, reused: mine!.reused.length, serialised: mine!.serialised };
}

function busy(r: TestRepo): void {
  for (const p of ['a0', 'a.b', 'a-b', 'a/x', 'a/y/z', 'b/c/d/e.txt', 'b/c/f.txt', 'q.txt', 'q/in', 'q0', 'z']) r.write(p, `${p}\n`);
  r.write('bin/run.sh', '#!/bin/sh\n', 0o755);
  r.symlink('link', 'a.b');
  writeFileSync(Buffer.from(`${r.root}/caf\xe9`, 'latin1'), 'latin1 name\n');
  writeFileSync(Buffer.from(`${r.root}/b/n\xe4me`, 'latin1'), 'latin1 name below\n');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'busy');
}

describe('the index tree without write-tree', () => {
  it('just committed (the cache-tree valid): its root, reused; after staged edits: the invalid directories made, the rest reused', () => {
    const r = makeRepo();
    busy(r);
    expect(expectSame(r, 'committed')).toEqual({ made: 0, reused: 1, serialised: 0 });
    r.write('b/c/d/e.txt', 'edited\n');
    r.write('new/dir/file', 'new\n');
    r.git('add', '-A');
    r.git('rm', '-q', 'a/y/z');
    r.sh('chmod +x q.txt');
    r.git('add', 'q.txt');
    // (git 2.39's add -A leaves no directory valid: every tree made)
    expect(expectSame(r, 'staged edits').made).toBeGreaterThan(2);
    r.git('commit', '-q', '-m', 'edits');
    // update-index of one path invalidates its directories only: those made, the rest reused
    r.write('b/c/d/e.txt', 'edited again\n');
    r.git('update-index', 'b/c/d/e.txt');
    const partly = expectSame(r, 'one path updated');
    expect(partly.made).toBe(4); // b/c/d, b/c, b and the root
    expect(partly.reused).toBeGreaterThan(2);
    // only the entries directly in those four directories are read (b/c/d/e.txt, b/c/f.txt,
    // b/näme and the root's files), the valid directories skipped by their entry counts
    expect(ours(r)!.serialised).toBe(3 + 9);
    // a gitlink and a skip-worktree entry
    const head = r.git('rev-parse', 'HEAD').trim();
    r.git('update-index', '--add', '--cacheinfo', `160000,${head},sub/module`);
    r.git('update-index', '--skip-worktree', 'a/x');
    expectSame(r, 'gitlink, skip-worktree');
  });

  for (const version of [2, 3, 4]) {
    it(`index version ${version}, without a cache-tree: every tree made, the same ids`, () => {
      const r = makeRepo();
      busy(r);
      r.write('b/c/f.txt', 'staged\n');
      r.git('add', '-A');
      r.git('update-index', '--index-version', String(version));
      expectSame(r, `v${version} partly valid`);
      // a fresh index from the tree without a cache-tree: `read-tree` keeps one; rebuild from ls-files
      const listing = gitRun(r.root, ['ls-files', '-s', '-z']).stdoutBuf;
      rmSync(join(r.root, '.git', 'index'));
      expect(gitRun(r.root, ['update-index', '-z', '--index-info'], { input: listing }).code).toBe(0);
      r.git('update-index', '--index-version', String(version));
      const none = expectSame(r, `v${version} no cache-tree`);
      expect(none.reused).toBe(0);
      expect(none.made).toBeGreaterThan(5);
    });
  }

  it('conflicts or intent-to-add entries: null (git writes the tree)', () => {
    const r = makeRepo();
    r.write('c.txt', 'base\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'base');
    r.write('new.txt', 'intent\n');
    r.git('add', '-N', 'new.txt');
    expect(ours(r)).toBeNull();
    r.git('rm', '-q', '--cached', 'new.txt');
    expect(ours(r)).not.toBeNull();
    r.git('switch', '-q', '-c', 'other');
    r.write('c.txt', 'other\n');
    r.git('commit', '-q', '-am', 'other');
    r.git('switch', '-q', 'main');
    r.write('c.txt', 'main\n');
    r.git('commit', '-q', '-am', 'main');
    gitRun(r.root, ['merge', '-q', 'other']);
    expect(ours(r)).toBeNull();
  });

  it('an empty index: the empty tree', () => {
    const r = makeRepo();
    r.git('rm', '-q', '--cached', 'README.md');
    const mine = ours(r)!;
    expect(mine.tree).toBe(gitsTree(r));
    expect(mine.tree).toBe('4b825dc642cb6eb9a060e54bf8d69288fbee4904');
  });
});
