/**
 * Review of the tree-edit capture (capture.ts / tree-edit.ts) and the stash trees it builds:
 * working copies the round-trip suite in snapshot.test.ts does not cover, each captured both
 * ways (tree edits, and `git add -A` on a copy of the index) and compared part by part, most
 * also restored after a level-1 destroy; the stash trees are compared with what
 * `git stash push -u` records for a copy of the same working copy.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, gitRun, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { captureSnapshot, cleanExcludes, restoreSnapshot, type CaptureOptions, type SnapshotInfo } from '../src/snapshot/index.js';
import type { StashTrees } from '../src/snapshot/capture.js';

const repos = tmpRepos();

let template: TestRepo | null = null;

/** main = baseline + a small project (ignored patterns, nested dirs, an executable, a symlink). Built once, copied per test. */
function project(): TestRepo {
  if (!template) {
    const r = repos.make({ withOrigin: true });
    r.write('.gitignore', 'node_modules/\n.env\n*.log\nbuild/\n');
    r.write('src/app.ts', 'export const app = 1;\n');
    r.write('src/util.ts', 'export const util = 1;\n');
    r.write('src/lib/deep.ts', 'export const deep = 1;\n');
    r.write('lib/a/b.txt', 'b\n');
    r.write('lib/a/c.txt', 'c\n');
    r.write('bin/run.sh', '#!/bin/sh\necho run\n', 0o755);
    r.write('docs/guide.md', '# guide\n');
    r.symlink('link-to-readme', 'README.md');
    r.symlink('link-to-src', 'src');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'project');
    template = r;
  }
  return copyRepo(template);
}

const PARTS = ['index', 'worktree', 'ignored', 'meta/raw.list', 'meta/perms', 'meta/emptydirs', 'meta/skipped', 'meta/index.raw'];
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

function gitDirOf(r: TestRepo): string {
  return r.git('rev-parse', '--absolute-git-dir').trim();
}

/**
 * Capture with tree edits and with `git add -A` on a copy of the index, and check every part
 * of the two snapshots is the same tree/blob; the working copy must not change.
 */
async function sameAsAddAll(r: TestRepo, opts: CaptureOptions = {}, method: 'edit' | 'add' = 'edit') {
  const before = manifest(r.root);
  const fast = await captureSnapshot(r.repo(), opts);
  const slow = await captureSnapshot(r.repo(), { ...opts, forceAddAll: true });
  expect(fast.method).toBe(method);
  expect(slow.method).toBe('add');
  for (const part of PARTS) {
    const a = r.git('rev-parse', `${fast.commit}:${part}`).trim();
    const b = r.git('rev-parse', `${slow.commit}:${part}`).trim();
    if (a !== b && (part === 'worktree' || part === 'ignored')) {
      // name the paths in the message
      expect(r.git('diff-tree', '-r', '--name-status', b, a), `${part}: edit vs add -A`).toBe('');
    }
    expect(a, `${part} (edit vs add -A)`).toBe(b);
  }
  r.git('update-ref', '-d', slow.ref);
  expect(manifest(r.root), 'capture must not change the working copy').toBe(before);
  expect(readdirSync(gitDirOf(r)).filter((n) => n.startsWith('rb-snap.'))).toEqual([]);
  return fast;
}

/** What a level-1 rollback does (copied from snapshot.test.ts, trimmed): flags off, force checkout, reset, clean -fdx. */
function destroyLevel1(r: TestRepo, snap: SnapshotInfo): void {
  const flagged = r.git('ls-files', '-v', '-z').split('\0').filter((rec) => /^[a-zS]/.test(rec)).map((rec) => rec.slice(2));
  if (flagged.length > 0) {
    r.git('update-index', '--no-assume-unchanged', '--', ...flagged);
    r.git('update-index', '--no-skip-worktree', '--', ...flagged);
  }
  r.git('checkout', '-f', '-q', 'baseline');
  r.git('reset', '-q', '--hard');
  r.git('clean', '-f', '-d', '-x', '-q', '-e', 'node_modules', ...cleanExcludes(snap.skipped));
}

/** destroy + restore must give back the manifest taken before the capture. */
async function restoresExactly(r: TestRepo, snap: SnapshotInfo, before: string): Promise<void> {
  destroyLevel1(r, snap);
  expect(manifest(r.root)).not.toBe(before);
  const res = await restoreSnapshot(r.repo(), snap.id, { safetySnapshot: false });
  expect(res.warnings).toEqual([]);
  expect(manifest(r.root)).toBe(before);
}

/** The trees `git stash push -u` records in a copy of the working copy: index, tracked (worktree), untracked. */
function gitStashTrees(r: TestRepo, prepare?: (twin: TestRepo) => void): { index: string; tracked: string; untracked: string } {
  const twin = copyRepo(r);
  prepare?.(twin);
  twin.git('stash', 'push', '-q', '-u', '-m', 'twin');
  const t = (rev: string) => twin.git('rev-parse', rev).trim();
  const third = gitRun(twin.root, ['rev-parse', '-q', '--verify', 'stash^3^{tree}']);
  return { index: t('stash^2^{tree}'), tracked: t('stash^{tree}'), untracked: third.code === 0 ? third.stdout.trim() : EMPTY_TREE };
}

/** A capture's stash trees in gitStashTrees' shape (no untracked files: the empty tree). */
const stashOf = (s: SnapshotInfo & { stash?: StashTrees }) => ({ index: s.stash!.index, tracked: s.stash!.tracked, untracked: s.stash!.untracked ?? EMPTY_TREE });

const indexFacts = (r: TestRepo) => {
  const p = join(gitDirOf(r), 'index');
  const st = lstatSync(p, { bigint: true });
  return { sha: createHash('sha256').update(readFileSync(p)).digest('hex'), mtimeNs: st.mtimeNs, ino: st.ino, nlink: st.nlink };
};

// ------------------------------------------------------------------------------------------------

describe('tree-edit capture == add -A on a copy of the index (cases snapshot.test.ts does not cover)', () => {
  it('type changes: tracked dir -> file, file -> symlink, symlink -> file, symlink -> dir symlink; exec-bit-only changes', async () => {
    const r = project();
    rmSync(join(r.root, 'lib'), { recursive: true });
    r.write('lib', 'a tracked directory is now a file\n');
    rmSync(join(r.root, 'docs/guide.md'));
    r.symlink('docs/guide.md', '../README.md'); // file -> symlink
    unlinkSync(join(r.root, 'link-to-readme'));
    r.write('link-to-readme', 'symlink -> regular file\n'); // symlink -> file
    unlinkSync(join(r.root, 'link-to-src'));
    symlinkSync('bin', join(r.root, 'link-to-src')); // symlink retargeted at another dir
    r.sh('chmod 755 src/util.ts && chmod 644 bin/run.sh'); // mode-only changes
    const before = manifest(r.root);
    const snap = await sameAsAddAll(r);
    expect(r.git('ls-tree', `${snap.commit}:worktree`, 'lib').split(/\s/)[1]).toBe('blob');
    await restoresExactly(r, snap, before);
  });

  it('core.filemode=false with type changes and exec bits: modes follow the index as git add derives them', async () => {
    const r = project();
    r.git('config', 'core.filemode', 'false');
    unlinkSync(join(r.root, 'link-to-readme'));
    r.write('link-to-readme', 'symlink -> executable regular file\n', 0o755);
    r.write('bin/run.sh', '#!/bin/sh\necho changed, exec bit dropped\n', 0o644);
    r.write('src/app.ts', 'changed, exec bit added\n', 0o755);
    r.write('new.sh', '#!/bin/sh\n', 0o755);
    r.write('ita-exec.sh', '#!/bin/sh\n', 0o755);
    r.git('add', '-N', 'ita-exec.sh');
    await sameAsAddAll(r);
  });

  it('a tracked directory replaced by an untracked symlink to a directory holding the same names', async () => {
    const r = project();
    r.write('elsewhere/b.txt', 'b seen through the symlink\n');
    r.write('elsewhere/other.txt', 'o\n');
    rmSync(join(r.root, 'lib/a'), { recursive: true });
    r.symlink('lib/a', '../elsewhere');
    const before = manifest(r.root);
    const snap = await sameAsAddAll(r);
    expect(r.git('ls-tree', `${snap.commit}:worktree/lib`, 'a').split(/\s/)[0]).toBe('120000');
    await restoresExactly(r, snap, before);
  });

  it('intent-to-add entries: with content, deleted from disk, the only file of a directory; and the stash trees with them', async () => {
    const r = project();
    r.write('ita/one.txt', 'intent to add\n');
    r.write('ita2/gone.txt', 'deleted after add -N\n');
    r.write('src/ita.ts', 'next to tracked files\n');
    r.git('add', '-N', 'ita/one.txt', 'ita2/gone.txt', 'src/ita.ts');
    rmSync(join(r.root, 'ita2/gone.txt'));
    rmSync(join(r.root, 'ita2'), { recursive: true });
    r.write('src/app.ts', 'modified\n');
    const before = manifest(r.root);
    const snap = await sameAsAddAll(r);
    await restoresExactly(r, snap, before);

    // stash trees: the index tree has no i-t-a entries (as write-tree), the tracked tree has their content
    const r2 = project();
    r2.write('ita.txt', 'ita\n');
    r2.git('add', '-N', 'ita.txt');
    const s = await captureSnapshot(r2.repo(), { stashTrees: true });
    expect(s.stash!.index).toBe(r2.git('write-tree').trim());
    expect(r2.git('show', `${s.stash!.tracked}:ita.txt`)).toBe('ita\n');
    expect(s.stash!.untracked).toBeNull();
  });

  it('untracked dirs with nested .gitignore files (negations, ignored subdirs), empty dirs, dirs holding only an empty dir or only ignored files', async () => {
    const r = project();
    r.write('u/.gitignore', '*\n!keep*\n!.gitignore\n!sub/\n');
    r.write('u/keep.txt', 'kept\n');
    r.write('u/drop.txt', 'ignored by u/.gitignore\n');
    r.write('u/sub/keep-too.txt', 'kept too\n');
    r.write('u/sub/drop.bin', 'ignored\n');
    r.write('v/w/.gitignore', 'local-only/\n');
    r.write('v/w/local-only/secret.txt', 'ignored dir inside an untracked dir\n');
    r.write('v/w/x.txt', 'x\n');
    r.write('v/y.log', 'ignored by the top .gitignore\n');
    r.mkdir('only-empty/inner');
    r.write('only-ignored/a.log', 'a\n');
    r.mkdir('src/lib/empty-in-tracked');
    const before = manifest(r.root);
    const snap = await sameAsAddAll(r);
    const wt = r.git('ls-tree', '-r', '--name-only', `${snap.commit}:worktree`).split('\n');
    expect(wt).toContain('u/keep.txt');
    expect(wt).not.toContain('u/drop.txt');
    expect(wt).not.toContain('v/w/local-only/secret.txt');
    await restoresExactly(r, snap, before);
  });

  it('names that look like pathspec magic, globs and attributes, tracked (modified) and untracked', async () => {
    const r = project();
    const names = [':(exclude)x', ':!bang', ':/top', ':(glob)**', '*', '[ab]', 'a?c', '\\star', '-n', '--all', 'dir :(icase)/F'];
    names.forEach((n, i) => r.write(n, `v1 ${i}\n`));
    r.git('--literal-pathspecs', 'add', '--', ...names.filter((_, i) => i % 2 === 0));
    r.git('commit', '-q', '-m', 'magic names');
    names.forEach((n, i) => r.write(n, `v2 ${i}\n`));
    const before = manifest(r.root);
    const snap = await sameAsAddAll(r);
    await restoresExactly(r, snap, before);
  });

  it('names whose tree entries sort unusually (a, a.b, a-, a0, a/ and a file named like a directory prefix)', async () => {
    const r = project();
    for (const n of ['t/a/x', 't/a.b', 't/a-', 't/a0', 't/a!', 't/b/a/x', 't/ab']) r.write(n, `${n}\n`);
    r.git('add', 't');
    r.git('commit', '-q', '-m', 'sorting');
    r.write('t/a/x', 'changed\n');
    r.write('t/a/y', 'new inside a\n');
    r.write('t/a.c', 'new between a.b and a/\n');
    rmSync(join(r.root, 't/a0'));
    r.write('t/a0/inside', 'a0 was a file, now a dir: add -A territory');
    await sameAsAddAll(r, {}, 'add'); // tracked file -> directory: the fallback
    rmSync(join(r.root, 't/a0'), { recursive: true });
    await sameAsAddAll(r, {}, 'edit');
  });

  it('a submodule whose commit did not move (dirty and with untracked files inside) stays on the edit path', async () => {
    const r = project();
    const sub = join(r.root, 'sub');
    r.write('sub/f.txt', '1\n');
    const g = (...a: string[]) => r.git('-C', sub, '-c', 'user.name=n', '-c', 'user.email=n@example.invalid', ...a);
    g('init', '-q');
    g('add', 'f.txt');
    g('commit', '-q', '-m', 'one');
    r.git('update-index', '--add', '--cacheinfo', `160000,${g('rev-parse', 'HEAD').trim()},sub`);
    r.git('commit', '-q', '-m', 'gitlink');
    r.write('sub/f.txt', 'dirty inside the submodule\n');
    r.write('sub/untracked.txt', 'untracked inside the submodule\n');
    r.write('src/app.ts', 'changed next to it\n');
    const snap = await sameAsAddAll(r, {}, 'edit');
    expect(r.git('ls-tree', `${snap.commit}:worktree`, 'sub').split(/\s/)[0]).toBe('160000');
  });

  it('staged changes undone in the worktree, staged new files, staged deletions recreated: the same raw.list and perms as add -A', async () => {
    const r = project();
    r.git('config', 'core.autocrlf', 'input'); // every text file is a raw.list candidate
    r.write('src/app.ts', 'staged, then put back in the worktree\n');
    r.git('add', 'src/app.ts');
    r.write('src/app.ts', 'export const app = 1;\n'); // = HEAD again
    r.sh('chmod 755 src/util.ts');
    r.git('add', 'src/util.ts');
    r.sh('chmod 644 src/util.ts'); // mode staged, undone on disk
    r.write('staged-new.txt', 'staged new\n');
    r.git('add', 'staged-new.txt');
    r.git('rm', '-q', '--cached', 'docs/guide.md'); // staged deletion, still on disk (untracked now)
    r.git('rm', '-q', 'lib/a/c.txt');
    r.write('lib/a/c.txt', 'recreated after a staged deletion\n');
    r.write('src/lib/deep.ts', 'plain unstaged edit\n');
    const s = await sameAsAddAll(r);
    const perms = r.git('cat-file', 'blob', `${s.commit}:meta/perms`).split('\0');
    expect(perms).not.toContain('644 src/app.ts');
    expect(perms).not.toContain('644 src/util.ts');
    expect(perms).toEqual(expect.arrayContaining(['644 staged-new.txt', '644 lib/a/c.txt', '644 src/lib/deep.ts']));
  });

  it('skip-worktree entries deleted from disk without a sparse-checkout, assume-unchanged deleted', async () => {
    const r = project();
    r.git('update-index', '--skip-worktree', 'src/util.ts', 'lib/a/b.txt');
    rmSync(join(r.root, 'src/util.ts'));
    rmSync(join(r.root, 'lib/a/b.txt'));
    r.git('update-index', '--assume-unchanged', 'docs/guide.md');
    rmSync(join(r.root, 'docs/guide.md'));
    const snap = await sameAsAddAll(r);
    const wt = r.git('ls-tree', '-r', '--name-only', `${snap.commit}:worktree`).split('\n');
    expect(wt).not.toContain('src/util.ts');
    expect(wt).not.toContain('docs/guide.md');
  });
});

describe('stash trees and the TreeEditor cache', () => {
  it('with stashTrees the worktree tree is the same as without, and as add -A, also with raw (autocrlf) edits on cached trees', async () => {
    const r = project();
    r.git('config', 'core.autocrlf', 'true');
    r.git('rm', '-r', '-q', '--cached', '.');
    r.git('reset', '-q', '--hard');
    r.write('src/app.ts', 'crlf\r\nchanged\r\n');
    r.write('src/lib/deep.ts', 'lf only\n');
    r.write('src/lib/new/n.ts', 'new in a new dir\r\n');
    r.write('src/new.ts', 'new\r\n');
    rmSync(join(r.root, 'lib/a/c.txt'));
    const plain = await sameAsAddAll(r);
    const withStash = await sameAsAddAll(r, { stashTrees: true });
    expect(r.git('rev-parse', `${withStash.commit}:worktree`)).toBe(r.git('rev-parse', `${plain.commit}:worktree`));
    expect(withStash.stash!.untrackedCount).toBe(2);
  });

  it('stash trees equal git stash push -u (staged, unstaged, deleted, mode change, symlink, untracked in new and tracked dirs)', async () => {
    const r = project();
    r.write('src/app.ts', 'staged\n');
    r.git('add', 'src/app.ts');
    r.write('src/app.ts', 'staged then changed\n');
    r.git('rm', '-q', 'docs/guide.md');
    rmSync(join(r.root, 'lib/a/b.txt'));
    r.sh('chmod 755 src/util.ts');
    unlinkSync(join(r.root, 'link-to-readme'));
    r.symlink('link-to-readme', 'src/app.ts');
    r.write('notes.txt', 'untracked\n');
    r.write('src/lib/new.ts', 'untracked in a tracked dir\n');
    r.write('newdir/deep/f.txt', 'untracked deep\n');
    r.write('app.log', 'ignored: in neither\n');
    const want = gitStashTrees(r);
    const s = await captureSnapshot(r.repo(), { stashTrees: true });
    expect(s.method).toBe('edit');
    expect(stashOf(s)).toEqual(want);
    expect(s.stash!.untrackedCount).toBe(3);
  });

  it('rollbacks/ untracked but not ignored: in worktree/ (as add -A), left out of the stash untracked tree', async () => {
    const r = project();
    r.write('rollbacks/run-1/report.md', 'rb records\n');
    r.write('scratch.txt', 'user work\n');
    // git stash push -u in a copy where rollbacks/ is ignored gives the trees rb must build
    const want = gitStashTrees(r, (t) => t.sh('echo /rollbacks/ >> .git/info/exclude'));
    const s = await captureSnapshot(r.repo(), { stashTrees: true, exclude: ['rollbacks'] });
    expect(stashOf(s)).toEqual(want);
    expect(s.stash!.untrackedCount).toBe(1);
    expect(r.git('ls-tree', '-r', '--name-only', `${s.commit}:worktree`)).toContain('rollbacks/run-1/report.md');
    await sameAsAddAll(r, { stashTrees: true, exclude: ['rollbacks'] });
  });

  it('only rollbacks/ untracked and nothing else changed: no untracked stash tree, tracked == index == HEAD', async () => {
    const r = project();
    r.write('rollbacks/run-1/report.md', 'rb records\n');
    const s = await captureSnapshot(r.repo(), { stashTrees: true, exclude: ['rollbacks'] });
    const head = r.git('rev-parse', 'HEAD^{tree}').trim();
    expect(s.stash).toEqual({ index: head, tracked: head, untracked: null, untrackedCount: 0 });
  });
});

describe('the held index (hard link)', () => {
  it('neither capture method writes through the link: the index keeps its bytes, mtime and inode; index.raw is those bytes', async () => {
    const r = project();
    // flags make the add -A fallback run update-index on its copy (a link to the same inode)
    r.git('update-index', '--assume-unchanged', 'src/app.ts');
    r.git('update-index', '--skip-worktree', 'src/util.ts');
    r.write('src/app.ts', 'hidden edit\n');
    r.write('new.txt', 'n\n');
    const before = indexFacts(r);
    const fast = await captureSnapshot(r.repo());
    const slow = await captureSnapshot(r.repo(), { forceAddAll: true });
    const after = indexFacts(r);
    expect(after).toEqual(before);
    for (const s of [fast, slow]) {
      const raw = gitRun(r.root, ['cat-file', 'blob', `${s.commit}:meta/index.raw`]).stdoutBuf;
      expect(createHash('sha256').update(raw).digest('hex')).toBe(before.sha);
    }
    expect(r.git('show', `${fast.commit}:worktree/src/app.ts`)).toBe('hidden edit\n');
  });
});

describe('review findings (each failed before its fix)', () => {
  /** A tree object written byte for byte (git mktree would canonicalise the modes). */
  const rawTree = (r: TestRepo, entries: [mode: string, name: string, oid: string][]): string =>
    gitRun(r.root, ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], {
      input: Buffer.concat(entries.map(([m, n, o]) => Buffer.concat([Buffer.from(`${m} ${n}\0`), Buffer.from(o, 'hex')]))),
    }).stdout.trim();

  it('base trees written by old tools (zero-padded 040000, legacy 100664): directories stay directories, trees git accepts', async () => {
    const r = project();
    const blob = (s: string) => gitRun(r.root, ['hash-object', '-w', '--stdin'], { input: s }).stdout.trim();
    const sub = rawTree(r, [['100644', 'c.txt', blob('c\n')]]);
    const pad = rawTree(r, [['100644', 'a.txt', blob('a\n')], ['100664', 'b.txt', blob('b\n')], ['040000', 'sub', sub]]);
    const other = rawTree(r, [['100644', 'o.txt', blob('o\n')]]);
    const head = r.git('rev-parse', 'HEAD^{tree}').trim();
    const top = r.git('ls-tree', head).trim().split('\n').map((l) => {
      const [meta, name] = l.split('\t');
      const [mode, , oid] = meta!.split(' ');
      return [mode!, name!, oid!] as [string, string, string];
    });
    const entries = [...top, ['040000', 'other', other], ['040000', 'pad', pad], ['100664', 'legacy.txt', blob('l\n')]] as [string, string, string][];
    entries.sort((a, b) => Buffer.compare(Buffer.from(a[0] === '040000' || a[0] === '40000' ? a[1] + '/' : a[1]), Buffer.from(b[0] === '040000' || b[0] === '40000' ? b[1] + '/' : b[1])));
    const commit = r.git('commit-tree', rawTree(r, entries), '-p', 'HEAD', '-m', 'old tool').trim();
    r.git('reset', '-q', '--hard', commit);
    expect(r.git('write-tree').trim()).toBe(r.git('rev-parse', 'HEAD^{tree}').trim()); // the padded tree is the base
    r.write('pad/a.txt', 'changed inside a padded directory\n');
    r.write('pad/sub/new.txt', 'new in a padded subdirectory\n');
    r.write('legacy.txt', 'changed legacy mode file\n');
    r.write('new.txt', 'untracked at the top\n');
    const before = manifest(r.root);
    const plain = await sameAsAddAll(r);
    const withStash = await sameAsAddAll(r, { stashTrees: true });
    expect(r.git('rev-parse', `${withStash.commit}:worktree`)).toBe(r.git('rev-parse', `${plain.commit}:worktree`));
    expect(r.git('ls-tree', '-r', '--name-only', `${withStash.stash!.tracked}`).split('\n')).toContain('pad/sub/c.txt');
    expect(r.git('show', `${withStash.stash!.tracked}:pad/a.txt`)).toBe('changed inside a padded directory\n');
    await restoresExactly(r, plain, before);
  });

  it('a sparse checkout: files outside the cone are not deletions in the stash (as git stash push -u); restore keeps them out', async () => {
    const r = project();
    r.git('sparse-checkout', 'set', 'src');
    expect(existsSync(join(r.root, 'lib/a/b.txt'))).toBe(false);
    r.write('src/app.ts', 'changed in the cone\n');
    r.write('src/new.ts', 'untracked in the cone\n');
    const want = gitStashTrees(r);
    const before = manifest(r.root);
    const s = await sameAsAddAll(r, { stashTrees: true });
    expect(stashOf(s)).toEqual(want);
    await restoresExactly(r, s, before);
  });

  it('an assume-unchanged entry whose name is not UTF-8: its hidden edit is captured (add -A takes it)', async () => {
    const r = project();
    const name = Buffer.concat([Buffer.from('latin1-'), Buffer.from([0xe9]), Buffer.from('.txt')]);
    writeFileSync(Buffer.concat([Buffer.from(r.root + '/'), name]), 'v1\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'latin1 name');
    gitRun(r.root, ['update-index', '-z', '--assume-unchanged', '--stdin'], { input: Buffer.concat([name, Buffer.from([0])]) });
    writeFileSync(Buffer.concat([Buffer.from(r.root + '/'), name]), 'hidden edit\n');
    const s = await captureSnapshot(r.repo());
    expect(s.method).toBe('add');
    const listing = gitRun(r.root, ['ls-tree', '-z', `${s.commit}:worktree`]).stdoutBuf;
    const rec = listing.toString('latin1').split('\0').find((x) => x.endsWith('\t' + name.toString('latin1')))!;
    expect(r.git('cat-file', 'blob', rec.split(/[ \t]/)[2]!)).toBe('hidden edit\n');
  });

  it('a tracked directory replaced by an ignored symlink: its files are deleted (not read through the symlink)', async () => {
    const r = project();
    r.write('elsewhere/b.txt', 'seen through the symlink, not lib/a/b.txt\n');
    r.write('elsewhere/c.txt', 'same\n');
    r.write('.gitignore', 'node_modules/\n.env\n*.log\nbuild/\n/lib/a\n/elsewhere/\n');
    rmSync(join(r.root, 'lib/a'), { recursive: true });
    r.symlink('lib/a', '../elsewhere');
    const before = manifest(r.root);
    const s = await sameAsAddAll(r);
    const wt = r.git('ls-tree', '-r', '--name-only', `${s.commit}:worktree`).split('\n');
    expect(wt).not.toContain('lib/a/b.txt');
    expect(r.git('ls-tree', `${s.commit}:ignored/lib`, 'a').split(/\s/)[0]).toBe('120000');
    await restoresExactly(r, s, before);
  });

  it('a records folder inside an untracked directory (rollbacksDir ops/rollbacks) is in no part of the snapshot', async () => {
    const r = project();
    r.sh('echo /ops/rollbacks/ >> .git/info/exclude');
    r.write('ops/notes.txt', 'user work next to the records\n');
    r.write('ops/rollbacks/run-1/report.md', 'rb records\n');
    const s = await sameAsAddAll(r, { exclude: ['ops/rollbacks'], stashTrees: true });
    const all = r.git('ls-tree', '-r', '--name-only', s.commit);
    expect(all).toContain('worktree/ops/notes.txt');
    expect(all).not.toContain('rollbacks/run-1');
    expect(s.skipped).toEqual([]);
    expect(s.stash!.untrackedCount).toBe(1);
  });

  it('a tracked file with CRLF in the index under core.autocrlf: git keeps the CRLF, and so do the worktree/ and stash trees', async () => {
    const r = project();
    r.write('win.txt', 'one\r\ntwo\r\n');
    r.git('add', 'win.txt');
    r.git('commit', '-q', '-m', 'crlf committed');
    r.git('config', 'core.autocrlf', 'true');
    r.write('win.txt', 'one\r\ntwo\r\nthree\r\n');
    const want = gitStashTrees(r);
    const s = await sameAsAddAll(r, { stashTrees: true });
    expect(stashOf(s)).toEqual(want);
    expect(gitRun(r.root, ['cat-file', 'blob', `${s.stash!.tracked}:win.txt`]).stdout).toBe('one\r\ntwo\r\nthree\r\n');
    expect(gitRun(r.root, ['cat-file', 'blob', `${s.commit}:worktree/win.txt`]).stdout).toBe('one\r\ntwo\r\nthree\r\n');
    // untracked CRLF files alone keep the stash trees (git stash hashes them into an empty index too)
    const r2 = project();
    r2.git('config', 'core.autocrlf', 'true');
    r2.write('new.txt', 'a\r\nb\r\n');
    const want2 = gitStashTrees(r2);
    const s2 = await captureSnapshot(r2.repo(), { stashTrees: true });
    expect(s2.stash!.untracked).toBe(want2.untracked);
  });

  it('CRLF staged while autocrlf was off, the worktree equal to the index, then autocrlf=input: the CRLF bytes come back', async () => {
    const r = project();
    r.write('f.txt', 'a\nb\n');
    r.git('add', 'f.txt');
    r.git('commit', '-q', '-m', 'lf in HEAD');
    r.write('f.txt', 'a\r\nb\r\n');
    r.git('add', 'f.txt');
    r.git('config', 'core.autocrlf', 'input');
    r.sh('touch -d "2000-01-01" f.txt'); // stat-dirty: diff-files reads it again
    const before = manifest(r.root);
    const want = gitStashTrees(r);
    const s = await sameAsAddAll(r, { stashTrees: true });
    expect(stashOf(s)).toEqual(want);
    expect(gitRun(r.root, ['cat-file', 'blob', `${s.commit}:worktree/f.txt`]).stdout).toBe('a\r\nb\r\n');
    await restoresExactly(r, s, before);
  });

  it('stash trees leave assume-unchanged and skip-worktree entries as the index has them (as git stash push -u); worktree/ has their edits', async () => {
    const r = project();
    r.git('update-index', '--assume-unchanged', 'src/app.ts', 'docs/guide.md');
    r.git('update-index', '--skip-worktree', 'src/util.ts');
    r.write('src/app.ts', 'hidden edit\n');
    rmSync(join(r.root, 'docs/guide.md'));
    r.write('src/util.ts', 'hidden behind skip-worktree\n');
    r.write('lib/a/b.txt', 'a plain edit\n');
    const want = gitStashTrees(r);
    const s = await sameAsAddAll(r, { stashTrees: true });
    expect(stashOf(s)).toEqual(want);
    expect(r.git('show', `${s.commit}:worktree/src/app.ts`)).toBe('hidden edit\n');
  });

  it('names git add accepts but fsck --strict refuses (.g\\u200cit) are captured', async () => {
    const r = project();
    r.write('.g\u200cit', 'not a git dir on Linux\n');
    r.write('src/.gi\u200dt/x.txt', 'inside\n');
    r.write('src/app.ts', 'changed\n');
    const before = manifest(r.root);
    const s = await sameAsAddAll(r);
    expect(r.git('ls-tree', '-r', '-z', '--name-only', `${s.commit}:worktree`).split('\0')).toEqual(expect.arrayContaining(['.g\u200cit', 'src/.gi\u200dt/x.txt']));
    await restoresExactly(r, s, before);
  });

});

describe('review findings, second pass (each failed before its fix)', () => {
  it('core.ignoreStat with core.autocrlf: an edit to a tracked file git converts is captured, not the index blob', async () => {
    const r = project();
    r.git('config', 'core.autocrlf', 'true');
    r.git('config', 'core.ignoreStat', 'true');
    r.write('src/app.ts', 'edited under ignoreStat\r\n');
    const want = gitStashTrees(r);
    const s = await sameAsAddAll(r, { stashTrees: true });
    expect(r.git('show', `${s.commit}:worktree/src/app.ts`)).toBe('edited under ignoreStat\r\n'); // raw bytes (raw.list)
    expect(gitRun(r.root, ['cat-file', 'blob', `${s.commit}:meta/raw.list`]).stdout).toContain('src/app.ts');
    expect(stashOf(s)).toEqual(want);
  });

  it.each([5, 120])('%i identical untracked directories (the same tree many times): written once, nothing left in objects/pack', async (n) => {
    const r = project();
    for (let i = 0; i < n; i++) r.write(`pkg${i}/__init__.py`, '');
    const packDir = join(gitDirOf(r), 'objects', 'pack');
    const before = readdirSync(packDir).filter((f) => f.startsWith('tmp_'));
    const s = await sameAsAddAll(r);
    expect(readdirSync(packDir).filter((f) => f.startsWith('tmp_'))).toEqual(before);
    expect(r.git('ls-tree', '-d', '--name-only', `${s.commit}:worktree`).split('\n').filter((x) => x.startsWith('pkg'))).toHaveLength(n);
  });

  it('a split index is stored whole: the snapshot restores after git deleted the shared index file', async () => {
    const r = project();
    r.git('config', 'core.splitIndex', 'true');
    r.git('update-index', '--split-index');
    r.write('src/app.ts', 'staged in a split index\n');
    r.git('add', 'src/app.ts');
    r.git('update-index', '--skip-worktree', 'src/util.ts');
    r.write('new.txt', 'untracked\n');
    const before = manifest(r.root);
    const s = await captureSnapshot(r.repo());
    // later: split index switched off and the shared index expired
    r.git('config', 'core.splitIndex', 'false');
    r.git('update-index', '--no-split-index');
    for (const f of readdirSync(gitDirOf(r)).filter((n) => n.startsWith('sharedindex.'))) rmSync(join(gitDirOf(r), f));
    await restoresExactly(r, s, before);
  });

  it('add -A fallback: an intent-to-add file deleted from disk leaves its empty directory, which comes back', async () => {
    const r = project();
    r.write('ita-dir/gone.txt', 'added with -N, then deleted\n');
    r.git('add', '-N', 'ita-dir/gone.txt');
    rmSync(join(r.root, 'ita-dir/gone.txt')); // ita-dir/ stays, empty
    r.write('src/app.ts', 'changed\n');
    const before = manifest(r.root);
    const s = await sameAsAddAll(r);
    expect(gitRun(r.root, ['cat-file', 'blob', `${s.commit}:meta/emptydirs`]).stdout).toContain('ita-dir');
    await restoresExactly(r, s, before);
  });

  it('core.splitIndex: no sharedindex files are left behind by the temporary indexes', async () => {
    const r = project();
    r.git('config', 'core.splitIndex', 'true');
    r.git('update-index', '--split-index');
    r.write('src/app.ts', 'changed\n');
    r.write('new.txt', 'new\n');
    const shared = () => readdirSync(gitDirOf(r)).filter((f) => f.startsWith('sharedindex.')).sort();
    const before = shared();
    await captureSnapshot(r.repo(), { stashTrees: true });
    await captureSnapshot(r.repo(), { forceAddAll: true });
    expect(shared()).toEqual(before);
  });
});
