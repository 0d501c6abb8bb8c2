/**
 * The snapshot's "where the index differs from HEAD" read through the command's cat-file process
 * (src/snapshot/tree-diff.ts, issue 18: one git process less than `diff-index --cached`): for an
 * index without conflicts or intent-to-add entries, the records are git's — `diff-index --cached
 * -z --no-renames HEAD`, compared as sets, on every kind of change: added, deleted, modified,
 * mode changes, file <-> symlink <-> gitlink (T), file <-> directory, deep paths, names that
 * sort around a directory's name, a name that is not UTF-8 (left out by both).
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gitRun, makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { diffTrees, treeOfCommit } from '../src/snapshot/tree-diff.js';
import { withRunScope } from '../src/io/run-scope.js';

tmpRepos();

/** diff-index --cached's records as "<old mode> <new mode> <old oid> <status>\t<path>", sorted; non-UTF-8 paths left out */
function gitRecords(r: TestRepo): string[] {
  const buf = gitRun(r.root, ['diff-index', '--cached', '-z', '--no-renames', 'HEAD']).stdoutBuf;
  const parts = buf.toString('latin1').split('\0');
  const out: string[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [oldMode, newMode, oldOid, , status] = parts[i]!.slice(1).split(' ');
    const bytes = Buffer.from(parts[i + 1]!, 'latin1');
    const path = bytes.toString('utf8');
    if (!Buffer.from(path, 'utf8').equals(bytes)) continue;
    out.push(`${oldMode} ${newMode} ${oldOid} ${status}\t${path}`);
  }
  return out.sort();
}

async function ours(r: TestRepo): Promise<string[]> {
  const head = gitRun(r.root, ['rev-parse', 'HEAD']).stdout.trim();
  const indexTree = gitRun(r.root, ['write-tree']).stdout.trim();
  // inside a command's scope, as rb runs it (one cat-file process)
  const records = await withRunScope(async () => diffTrees(r.root, await treeOfCommit(r.root, head), indexTree));
  expect(records).not.toBeNull();
  return records!.map((d) => `${d.oldMode} ${d.newMode} ${d.oldOid} ${d.status}\t${d.path}`).sort();
}

describe('the index against HEAD, without diff-index', () => {
  it('every kind of staged change gives the records diff-index --cached gives', async () => {
    const r = makeRepo();
    r.write('keep.txt', 'same\n');
    r.write('mod.txt', 'before\n');
    r.write('gone.txt', 'bye\n');
    r.write('exec.sh', '#!/bin/sh\n');
    r.write('to-link', 'a file\n');
    r.symlink('from-link', 'keep.txt');
    r.write('file-to-dir', 'file\n');
    r.write('dir-to-file/a', 'a\n');
    r.write('dir-to-file/sub/b', 'b\n');
    r.write('deep/er/still/x.txt', 'x\n');
    r.write('deep/er/other.txt', 'o\n');
    r.write('q/in', 'q\n');
    r.write('q.txt', 'q.txt\n');
    r.write('sub-to-file', 'becomes a gitlink\n');
    writeFileSync(Buffer.from(`${r.root}/caf\xe9-old`, 'latin1'), 'latin1 name\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'base');

    r.write('mod.txt', 'after\n');
    r.git('rm', '-q', 'gone.txt');
    r.sh('chmod +x exec.sh');
    r.sh('rm to-link && ln -s keep.txt to-link');
    r.sh('rm from-link && echo now-a-file > from-link');
    r.sh('rm file-to-dir && mkdir file-to-dir && echo in > file-to-dir/inside');
    r.sh('rm -r dir-to-file && echo now > dir-to-file');
    r.write('deep/er/still/x.txt', 'x2\n');
    r.write('deep/er/new/y.txt', 'y\n');
    r.write('q/in', 'q2\n');
    r.write('q.u', 'new sibling\n');
    r.write('added.txt', 'new\n');
    writeFileSync(Buffer.from(`${r.root}/caf\xe9-new`, 'latin1'), 'another latin1 name\n');
    r.git('add', '-A');
    // a gitlink replaces a file, and one is added
    const commit = r.git('rev-parse', 'HEAD').trim();
    r.git('rm', '-q', '--cached', 'sub-to-file');
    r.git('update-index', '--add', '--cacheinfo', `160000,${commit},sub-to-file`);
    r.git('update-index', '--add', '--cacheinfo', `160000,${commit},new-sub`);

    const theirs = gitRecords(r);
    expect(theirs.length).toBeGreaterThan(15);
    expect(theirs.some((l) => / T\t/.test(l))).toBe(true);
    expect(await ours(r)).toEqual(theirs);
  });

  it('nothing staged: no records; a whole new tree against an empty one: every file added', async () => {
    const r = makeRepo();
    r.write('a/b/c', 'c\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'c');
    expect(await ours(r)).toEqual([]);
    const tree = gitRun(r.root, ['write-tree']).stdout.trim();
    const all = await withRunScope(() => diffTrees(r.root, null, tree));
    expect(all!.map((d) => `${d.status} ${d.path}`).sort()).toEqual(['A README.md', 'A a/b/c']);
  });

  it('a tree that cannot be read: null (the caller asks git)', async () => {
    const r = makeRepo();
    const tree = gitRun(r.root, ['write-tree']).stdout.trim();
    expect(await withRunScope(() => diffTrees(r.root, tree, 'f'.repeat(40)))).toBeNull();
    expect(await withRunScope(() => treeOfCommit(r.root, tree))).toBeNull();
  });
});
