/**
 * rb reads an index file without git (src/io/index-file.ts) where a restore holds its bytes: what
 * it reads must be what git says of the same file — `ls-files -s -z` byte for byte, `ls-files -v`
 * for the assume-unchanged and skip-worktree bits — for index versions 2, 3 and 4, with
 * conflicts, intent-to-add entries, names that are not UTF-8 and long names; a split or sparse
 * index is left to git (null).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitRun, makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { lsFilesStaged, lsFilesStagedOf, readIndexEntries, readIndexFlags } from '../src/io/index-file.js';

tmpRepos();

function busyRepo(): TestRepo {
  const r = makeRepo();
  r.write('a.txt', 'a\n');
  r.write('dir/b.txt', 'b\n');
  r.write('dir/sub/c.sh', '#!/bin/sh\n', 0o755);
  r.write(`long/${'n'.repeat(200)}/${'m'.repeat(200)}/${'x'.repeat(200)}.txt`, 'long\n');
  writeFileSync(Buffer.concat([Buffer.from(`${r.root}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin1 name\n');
  r.symlink('link', 'a.txt');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'files');
  // a conflict: three stages of conflict.txt
  r.write('conflict.txt', 'base\n');
  r.git('add', 'conflict.txt');
  r.git('commit', '-q', '-m', 'base');
  r.git('switch', '-q', '-c', 'other');
  r.write('conflict.txt', 'other\n');
  r.git('commit', '-q', '-am', 'other');
  r.git('switch', '-q', 'main');
  r.write('conflict.txt', 'main\n');
  r.git('commit', '-q', '-am', 'main');
  gitRun(r.root, ['merge', '-q', 'other']); // stops with a conflict
  r.write('new.txt', 'intent\n');
  r.git('add', '-N', 'new.txt');
  r.git('update-index', '--assume-unchanged', 'a.txt');
  return r;
}

const gitListing = (r: TestRepo) => gitRun(r.root, ['ls-files', '-s', '-z']).stdoutBuf;

function ours(r: TestRepo) {
  const entries = readIndexEntries(readFileSync(join(r.root, '.git', 'index')), 20);
  expect(entries).not.toBeNull();
  const chunks: Buffer[] = [];
  lsFilesStaged(entries!, (c) => chunks.push(c));
  return { entries: entries!, listing: Buffer.concat(chunks) };
}

describe('the index read without git', () => {
  for (const version of [2, 3, 4]) {
    it(`index version ${version}: the ls-files -s listing and the flags are git's`, () => {
      const r = busyRepo();
      r.git('update-index', '--index-version', String(version));
      if (version >= 3) r.git('update-index', '--skip-worktree', 'dir/b.txt');
      const { entries, listing } = ours(r);
      expect(listing.toString('latin1')).toBe(gitListing(r).toString('latin1'));
      // the same listing written straight from the index bytes (restore's check, issue 18)
      const direct: Buffer[] = [];
      expect(lsFilesStagedOf(readFileSync(join(r.root, '.git', 'index')), 20, (c) => direct.push(Buffer.from(c)))).toBe(true);
      expect(Buffer.concat(direct).toString('latin1')).toBe(gitListing(r).toString('latin1'));
      expect(entries.length).toBeGreaterThan(8);
      const v = gitRun(r.root, ['ls-files', '-v', '-z']).stdoutBuf.toString('latin1').split('\0').filter(Boolean);
      const assumed = v.filter((l) => l[0] !== l[0]!.toUpperCase()).map((l) => l.slice(2)).sort();
      const skipped = v.filter((l) => l[0] === 'S' || l[0] === 's').map((l) => l.slice(2)).sort();
      expect(entries.filter((e) => e.assumeUnchanged).map((e) => e.path.toString('latin1')).sort()).toEqual(assumed);
      expect(entries.filter((e) => e.skipWorktree).map((e) => e.path.toString('latin1')).sort()).toEqual(skipped);
      expect(assumed).toEqual(['a.txt']);
      if (version >= 3) expect(skipped).toEqual(['dir/b.txt']);
    });
  }

  for (const version of [2, 3, 4]) {
    it(`index version ${version}: the tags of ls-files -v (what a snapshot asks, issue 18) are read without git`, () => {
      const r = busyRepo();
      r.git('update-index', '--index-version', String(version));
      if (version >= 3) r.git('update-index', '--skip-worktree', 'dir/b.txt');
      if (version >= 3) r.git('update-index', '--skip-worktree', 'dir/sub/c.sh');
      r.git('update-index', '--assume-unchanged', 'dir/sub/c.sh');
      const v = gitRun(r.root, ['ls-files', '-v', '-z']).stdoutBuf.toString('latin1').split('\0').filter(Boolean);
      const f = readIndexFlags(readFileSync(join(r.root, '.git', 'index')), 20);
      expect(f).not.toBeNull();
      const names = (l: Buffer[]) => l.map((b) => b.toString('latin1'));
      // git's tags, in index order: lowercase = assume-unchanged, S/s = skip-worktree, M/m = unmerged
      expect(names(f!.assumeUnchanged)).toEqual(v.filter((l) => l[0] !== l[0]!.toUpperCase()).map((l) => l.slice(2)));
      expect(names(f!.skipWorktree)).toEqual(v.filter((l) => l[0] === 'S' || l[0] === 's').map((l) => l.slice(2)));
      expect(names(f!.flagged)).toEqual(v.filter((l) => l[0] !== l[0]!.toUpperCase() || l[0] === 'S').map((l) => l.slice(2)));
      expect(f!.conflicted).toBe(v.some((l) => l[0] === 'M' || l[0] === 'm'));
      expect(f!.conflicted).toBe(true);
      expect(f!.intentToAdd).toBe(true);
      expect(names(f!.flagged).length).toBeGreaterThanOrEqual(version >= 3 ? 3 : 2);
    });
  }

  it('no conflict, no intent-to-add: said so; a wrong hash length: null', () => {
    const r = makeRepo();
    const buf = readFileSync(join(r.root, '.git', 'index'));
    expect(readIndexFlags(buf, 20)).toEqual({ conflicted: false, assumeUnchanged: [], skipWorktree: [], flagged: [], intentToAdd: false });
    expect(readIndexFlags(buf, 32)).toBeNull();
    expect(readIndexEntries(buf, 32)).toBeNull();
  });

  it('a split index and a sparse index are left to git', () => {
    const r = busyRepo();
    gitRun(r.root, ['merge', '--abort']);
    r.git('update-index', '--split-index');
    expect(readIndexEntries(readFileSync(join(r.root, '.git', 'index')), 20)).toBeNull();
    expect(readIndexFlags(readFileSync(join(r.root, '.git', 'index')), 20)).toBeNull();
    r.git('update-index', '--no-split-index');
    expect(readIndexEntries(readFileSync(join(r.root, '.git', 'index')), 20)).not.toBeNull();
    const sparse = gitRun(r.root, ['sparse-checkout', 'set', '--cone', '--sparse-index', 'dir']);
    if (sparse.code === 0 && gitRun(r.root, ['ls-files', '--sparse', '-s']).stdout.includes('040000')) {
      expect(readIndexEntries(readFileSync(join(r.root, '.git', 'index')), 20)).toBeNull();
    }
  });

  it('a listing of more than 1 MiB, written from the bytes in pieces, is git\'s; a split index: false, nothing handed over', () => {
    const r = makeRepo();
    const blob = gitRun(r.root, ['hash-object', '-w', '--stdin'], { input: 'same\n' }).stdout.trim();
    const info = Array.from({ length: 20_000 }, (_, i) => `${i % 7 === 0 ? '100755' : '100644'} ${blob}\tdir${i % 40}/sub/${'n'.repeat(i % 50)}file-${i}.txt\0`).join('');
    expect(gitRun(r.root, ['update-index', '-z', '--index-info'], { input: info }).code).toBe(0);
    const chunks: Buffer[] = [];
    expect(lsFilesStagedOf(readFileSync(join(r.root, '.git', 'index')), 20, (c) => chunks.push(c))).toBe(true);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(gitListing(r))).toBe(true);
    r.git('update-index', '--split-index');
    const none: Buffer[] = [];
    expect(lsFilesStagedOf(readFileSync(join(r.root, '.git', 'index')), 20, (c) => none.push(c))).toBe(false);
    expect(none).toEqual([]);
  });

  it('not an index, or cut short: null', () => {
    const r = busyRepo();
    const buf = readFileSync(join(r.root, '.git', 'index'));
    expect(readIndexEntries(Buffer.from('not an index'), 20)).toBeNull();
    expect(readIndexEntries(buf.subarray(0, 100), 20)).toBeNull();
  });
});

describe('unmerged entries after a reset or a cherry-pick (steps/git-common.ts unmergedPaths, issue 18)', () => {
  it("an index without unmerged entries is read, git is not asked; one with some gives git's ls-files -u paths; a split index asks git", async () => {
    const { unmergedPaths } = await import('../src/steps/git-common.js');
    const { configValues } = await import('../src/io/repo-state.js');
    const { withRunScope } = await import('../src/io/run-scope.js');
    const r = busyRepo(); // stopped in a merge with a conflict in conflict.txt
    const repo = r.repo();
    expect(await unmergedPaths(repo)).toEqual(['conflict.txt']);
    r.git('reset', '-q', '--hard');
    // with no git on PATH (the configuration already read, as in a run): the index file answers alone
    const withoutGit = () => withRunScope(async () => {
      await configValues(repo.root);
      const path = process.env.PATH;
      process.env.PATH = '/nonexistent';
      try {
        return await unmergedPaths(repo).then((paths) => ({ paths }), (e: Error) => ({ error: e.message }));
      } finally {
        process.env.PATH = path;
      }
    });
    expect(await withoutGit()).toEqual({ paths: [] });
    // a split index is not one rb reads: git is asked
    r.git('update-index', '--split-index');
    expect(await withoutGit()).toEqual({ error: expect.stringContaining('ENOENT') });
    expect(await unmergedPaths(repo)).toEqual([]);
  });
});
