/**
 * The snapshot suite: for each tricky working copy,
 *   manifest(before) -> captureSnapshot -> (manifest unchanged) -> destroy the way a level-1
 *   rollback does -> restoreSnapshot -> manifest(after) == manifest(before)
 * plus ids, idempotence, crash/resume, the safety snapshot, refusals and the store.
 * Real git repositories only (test/helpers/repo.ts), no mocks.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, gitRun, tmpRepos, wrap, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import {
  RESTORE_STEPS, captureSnapshot, cleanExcludes, deleteSnapshot, excludePattern, listSnapshots, readSnapshot,
  resolveSnapshot, restoreJournalPath, restoreSnapshot, type CaptureOptions, type SnapshotInfo,
} from '../src/snapshot/index.js';
import { LockedError, PreconditionError, UsageError } from '../src/errors.js';
import { indexRawBlob } from '../src/snapshot/capture.js';
import { ObjectBatch } from '../src/io/object-batch.js';
import { git, type GitOptions } from '../src/io/git.js';
import { withRunScope } from '../src/io/run-scope.js';

const repos = tmpRepos();

// ------------------------------------------------------------------------------------------------
// fixtures

let richTemplate: TestRepo | null = null;

/**
 * main = baseline + one commit with a typical project (a .gitignore, sources, an executable
 * script, a symlink, files the merge/rebase scenarios conflict on). Built once, copied per test.
 */
function richRepo(): TestRepo {
  if (!richTemplate) {
    const r = repos.make({ withOrigin: true });
    r.write('.gitignore', 'node_modules/\n.env\n.env.*\n*.log\nbuild/\ndist/\n*.bin\n');
    r.write('src/app.ts', 'export const app = 1;\n');
    r.write('src/util.ts', 'export const util = 1;\n');
    r.write('src/lib/deep.ts', 'export const deep = 1;\n');
    r.write('docs/guide.md', '# guide\n');
    r.write('bin/run.sh', '#!/bin/sh\necho run\n', 0o755);
    r.write('data/keep.txt', 'keep\n');
    r.write('conflict.txt', 'a\nb\nc\n');
    r.write('md.txt', 'modify/delete\n');
    r.symlink('link-to-readme', 'README.md');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'project');
    richTemplate = r;
  }
  return copyRepo(richTemplate);
}

/**
 * Turn on core.autocrlf the way a Windows-minded project has it: every tracked file checked out
 * again with CRLF (files checked out before the switch keep LF bytes and a stale index size,
 * which no snapshot can reproduce: see the known limits in safety.md §1).
 */
function enableAutocrlf(r: TestRepo): void {
  r.git('config', 'core.autocrlf', 'true');
  r.git('rm', '-r', '-q', '--cached', '.');
  r.git('reset', '-q', '--hard');
}

function gitDirOf(r: TestRepo): string {
  return r.git('rev-parse', '--absolute-git-dir').trim();
}

/**
 * What a level-1 rollback does to a working copy: abort a merge/rebase, force-checkout another
 * branch, reset --hard, clean -fdx except node_modules and what the snapshot reported as
 * skipped. For an unborn repository: drop the index and clean.
 */
function destroyLevel1(r: TestRepo, snap: SnapshotInfo, to = 'baseline'): void {
  const gd = gitDirOf(r);
  // checkout -f refuses ("not uptodate. Cannot merge.") to touch a changed file behind
  // assume-unchanged / skip-worktree: drop the flags first (one flag per update-index call:
  // it applies only the first of the two)
  const flagged = r.git('ls-files', '-v', '-z').split('\0').filter((rec) => /^[a-zS]/.test(rec)).map((rec) => rec.slice(2));
  if (flagged.length > 0) {
    r.git('update-index', '--no-assume-unchanged', '--', ...flagged);
    r.git('update-index', '--no-skip-worktree', '--', ...flagged);
  }
  if (existsSync(join(gd, 'rebase-merge')) || existsSync(join(gd, 'rebase-apply'))) r.git('rebase', '--abort');
  if (existsSync(join(gd, 'MERGE_HEAD'))) r.git('merge', '--abort');
  if (gitRun(r.root, ['rev-parse', '-q', '--verify', to]).code === 0) {
    r.git('checkout', '-f', '-q', to);
    r.git('reset', '-q', '--hard');
  } else {
    rmSync(join(gd, 'index'), { force: true });
  }
  r.git('clean', '-f', '-d', '-x', '-q', '-e', 'node_modules', ...cleanExcludes(snap.skipped));
}

/** rb's temp dirs left in the git dir (must be none) */
function leftovers(r: TestRepo): string[] {
  return readdirSync(gitDirOf(r)).filter((n) => n.startsWith('rb-snap.') || n.startsWith('rb-restore.'));
}

interface RoundTrip {
  snap: SnapshotInfo;
  before: string;
  destroyed: string;
}

/**
 * The core assertion. Also restores the safety snapshot taken by the restore and checks that
 * this gives back the destroyed state (so a restore is itself undoable). Ends in the destroyed
 * state, or with end: 'before' restored again.
 */
async function roundTrip(
  r: TestRepo,
  opts: { capture?: CaptureOptions; destroy?: (r: TestRepo, s: SnapshotInfo) => void; end?: 'destroyed' | 'before' } = {},
): Promise<RoundTrip> {
  const before = manifest(r.root);
  const snap = await captureSnapshot(r.repo(), opts.capture);
  expect(manifest(r.root), 'capture must not change the working copy').toBe(before);
  expect(leftovers(r)).toEqual([]);
  // the tree-edit capture must record exactly what `git add -A` on a copy of the index records
  const viaAdd = await captureSnapshot(r.repo(), { ...opts.capture, forceAddAll: true });
  expect(viaAdd.method).toBe('add');
  for (const part of ['index', 'worktree', 'ignored', 'meta/raw.list', 'meta/perms', 'meta/emptydirs', 'meta/skipped', 'meta/index.raw']) {
    expect(r.git('rev-parse', `${snap.commit}:${part}`), `${part} (captured by ${snap.method})`).toBe(r.git('rev-parse', `${viaAdd.commit}:${part}`));
  }
  r.git('update-ref', '-d', viaAdd.ref);
  expect(manifest(r.root)).toBe(before);
  (opts.destroy ?? destroyLevel1)(r, snap);
  const destroyed = manifest(r.root);
  expect(destroyed).not.toBe(before);
  const res = await restoreSnapshot(r.repo(), snap.id);
  expect(res.warnings).toEqual([]);
  expect(res.resumed).toBe(false);
  expect(manifest(r.root)).toBe(before);
  expect(existsSync(restoreJournalPath(r.repo()))).toBe(false);
  // undo the restore: back to the destroyed state
  expect(res.safetySnapshot).not.toBeNull();
  const back = await restoreSnapshot(r.repo(), res.safetySnapshot!.id, { safetySnapshot: false });
  expect(back.warnings).toEqual([]);
  expect(manifest(r.root)).toBe(destroyed);
  if (opts.end === 'before') {
    // forward again (a restore over a restored state), for tests that go on from there
    const again = await restoreSnapshot(r.repo(), snap.id, { safetySnapshot: false });
    expect(again.warnings).toEqual([]);
    expect(manifest(r.root)).toBe(before);
  }
  expect(leftovers(r)).toEqual([]);
  return { snap, before, destroyed };
}

/** the skipped list as "reason path" strings, sorted */
const skippedOf = (s: SnapshotInfo) => s.skipped.map((x) => `${x.reason} ${x.path}`).sort();

// ------------------------------------------------------------------------------------------------
// scenarios

/** Capture both ways (tree edits, then `git add -A` on a copy of the index) and compare what they stored. */
async function expectSameAsAddAll(r: TestRepo, method: 'edit' | 'add'): Promise<void> {
  const before = manifest(r.root);
  const fast = await captureSnapshot(r.repo());
  const slow = await captureSnapshot(r.repo(), { forceAddAll: true });
  expect(fast.method).toBe(method);
  for (const part of ['index', 'worktree', 'ignored', 'meta/raw.list', 'meta/perms', 'meta/emptydirs', 'meta/skipped']) {
    expect(r.git('rev-parse', `${fast.commit}:${part}`), part).toBe(r.git('rev-parse', `${slow.commit}:${part}`));
  }
  expect(manifest(r.root)).toBe(before);
  expect(leftovers(r)).toEqual([]);
}

describe('the tree-edit capture records what `git add -A` would', () => {
  it('core.filemode=false: exec bits of changed and new files follow the index, as git add does', async () => {
    const r = richRepo();
    r.git('config', 'core.filemode', 'false');
    r.write('src/app.ts', 'changed and made executable\n', 0o755);
    r.write('bin/run.sh', '#!/bin/sh\necho changed\n', 0o644);
    r.write('new-exec.sh', '#!/bin/sh\n', 0o755);
    await expectSameAsAddAll(r, 'edit');
  });

  it('stat-dirty but unchanged files, deep new directories, ignored files inside untracked ones, a symlink to a directory', async () => {
    const r = richRepo();
    for (const f of ['src/app.ts', 'src/util.ts', 'docs/guide.md']) utimesSync(join(r.root, f), new Date(2001, 1, 1), new Date(2001, 1, 1));
    r.write('new/deep/er/x.ts', 'x\n');
    r.write('new/deep/skip.log', 'ignored inside an untracked dir\n');
    r.write('new/build/out.js', 'ignored dir inside an untracked dir\n');
    r.write('new/empty-sibling/.keep', '');
    r.symlink('new/to-src', '../src');
    rmSync(join(r.root, 'src/lib/deep.ts'));
    await expectSameAsAddAll(r, 'edit');
  });

  it('text=auto with CRLF already committed: worktree bytes stored raw, as with add', async () => {
    const r = richRepo();
    r.write('win.txt', 'a\r\nb\r\n');
    r.git('add', 'win.txt');
    r.git('commit', '-q', '-m', 'crlf committed');
    r.write('.gitattributes', '* text=auto\n');
    r.write('win.txt', 'a\r\nc\r\n');
    r.write('new-win.txt', 'n\r\n');
    await expectSameAsAddAll(r, 'edit');
  });

  it('a submodule whose commit moved falls back to git add -A', async () => {
    const r = richRepo();
    const sub = join(r.root, 'sub');
    r.write('sub/f.txt', '1\n');
    const g = (...a: string[]) => r.git('-C', sub, '-c', 'user.name=n', '-c', 'user.email=n@example.invalid', ...a);
    g('init', '-q');
    g('add', 'f.txt');
    g('commit', '-q', '-m', 'one');
    r.git('update-index', '--add', '--cacheinfo', `160000,${g('rev-parse', 'HEAD').trim()},sub`);
    r.git('commit', '-q', '-m', 'gitlink');
    r.write('sub/f.txt', '2\n');
    g('commit', '-q', '-am', 'two');
    r.write('src/app.ts', 'changed too\n');
    await expectSameAsAddAll(r, 'add');
  });
});

describe('capture -> level-1 destroy -> restore gives back the exact working copy', () => {
  it('staged != worktree, staged and unstaged deletions, exec bits, modes, rename, intent-to-add', async () => {
    const r = richRepo();
    r.write('src/app.ts', 'export const app = 2;\n');
    r.git('add', 'src/app.ts');
    r.write('src/app.ts', 'export const app = 3; // unstaged\n');
    r.git('rm', '-q', 'docs/guide.md');
    rmSync(join(r.root, 'src/util.ts'));
    r.sh('chmod 755 README.md && chmod 644 bin/run.sh');
    r.write('notes.txt', 'untracked\n');
    r.write('new/dir/file.txt', 'deep untracked\n');
    r.write('tool.sh', '#!/bin/sh\n', 0o755);
    r.write('private.key', 'k\n', 0o600);
    r.write('group.txt', 'g\n', 0o664);
    r.write('setuid-ish', 'x\n', 0o750);
    r.write('added.txt', 'staged\n');
    r.git('add', 'added.txt');
    r.write('added.txt', 'staged then changed\n');
    r.git('mv', 'data/keep.txt', 'data/moved.txt');
    r.write('ita.txt', 'intent to add\n');
    r.git('add', '-N', 'ita.txt');
    const { snap, before } = await roundTrip(r);
    expect(snap.headRef).toBe('refs/heads/main');
    expect(snap.conflicted).toBe(false);
    expect(snap.skipped).toEqual([]);
    // restore is idempotent: running it again over the restored state changes nothing
    await restoreSnapshot(r.repo(), snap.id);
    expect(manifest(r.root)).toBe(before);
    await restoreSnapshot(r.repo(), snap.id);
    expect(manifest(r.root)).toBe(before);
    await restoreSnapshot(r.repo(), snap.id, { safetySnapshot: false });
    expect(manifest(r.root)).toBe(before);
  });

  it('symlinks: retargeted tracked link, dangling, absolute and relative outside the repo, to a dir, ignored', async () => {
    const r = richRepo();
    rmSync(join(r.root, 'link-to-readme'));
    r.symlink('link-to-readme', 'src/app.ts');
    r.symlink('dangling', 'does/not/exist');
    r.symlink('outside-abs', '/etc/hostname');
    r.symlink('outside-rel', '../../../../outside-rel');
    r.symlink('srcdir-link', 'src');
    r.symlink('dangling.log', '/nonexistent/target');
    r.symlink('build/to-src', '../src');
    r.git('add', 'dangling');
    await roundTrip(r);
  });

  it('names with spaces, newlines, unicode, leading dashes, glob and gitignore metacharacters', async () => {
    const r = richRepo();
    const names = ['with space.txt', 'new\nline.txt', 'ünïcødé-文件.txt', '-rf', '--help', '*.ts', '[a]', 'dir [x]/?.md',
      'back\\slash', '#hash', '!bang', 'trail ', ' lead', 'quote\'"', 'tab\there', 'g*/inner [1].txt'];
    // half tracked (then modified), half untracked
    names.forEach((n, i) => r.write(n, `v1 ${i}\n`));
    r.git('add', '--', ...names.filter((_, i) => i % 2 === 0));
    r.git('commit', '-q', '-m', 'weird names');
    names.forEach((n, i) => r.write(n, `v2 ${i}\n`));
    r.write('-x.log', 'ignored dash\n');
    r.write('new\nline.log', 'ignored newline\n');
    r.write('weird [1] *.log', 'ignored glob\n', 0o600);
    r.mkdir('empty [x]');
    r.mkdir('*');
    r.write('big [1] *.log', 'x'.repeat(5000)); // over the cap: skipped, must survive the clean
    r.write('nest [x]/file', 'in nested repo\n');
    r.git('-C', join(r.root, 'nest [x]'), 'init', '-q');
    const { snap } = await roundTrip(r, { capture: { maxIgnoredBytes: 4096 } });
    expect(skippedOf(snap)).toEqual(['nested-repo nest [x]', 'too-big big [1] *.log']);
  });

  it('ignored files: .env 0600, ignored dirs with empty dirs and exec files, node_modules and big files skipped', async () => {
    const r = richRepo();
    r.write('.env', 'SECRET=1\n', 0o600);
    r.write('.env.local', 'LOCAL=1\n');
    r.write('build/out.js', 'built\n');
    r.mkdir('build/empty');
    r.write('build/sub/exec.sh', '#!/bin/sh\n', 0o755);
    r.write('dist/bundle.js', 'bundle\n');
    r.write('app.log', 'log\n');
    r.write('logs/a.log', 'only ignored files in here\n');
    r.write('src/gen.log', 'ignored inside a tracked dir\n');
    r.write('node_modules/pkg/index.js', 'module\n');
    r.write('packages/a/package.json', '{}\n');
    r.write('packages/a/node_modules/x/index.js', 'nested module\n');
    r.write('big.bin', Buffer.alloc(10000, 1));
    r.write('small.bin', Buffer.from([0, 1, 2, 0xff]));
    const { snap } = await roundTrip(r, { capture: { maxIgnoredBytes: 4096 } });
    expect(skippedOf(snap)).toEqual(['listed node_modules', 'listed packages/a/node_modules', 'too-big big.bin']);
  });

  it('empty directories: untracked, nested, inside tracked dirs, left by deleted tracked files, with modes', async () => {
    const r = richRepo();
    r.mkdir('e1/e2/e3');
    r.mkdir('emptytop');
    r.mkdir('src/emptyin');
    r.sh('mkdir -m 700 private-empty && mkdir -m 750 src/lib/odd');
    rmSync(join(r.root, 'docs/guide.md')); // docs/ is now an empty tracked dir
    rmSync(join(r.root, 'data'), { recursive: true });
    r.write('u/has/f.txt', 'f\n');
    r.mkdir('u/empty');
    await roundTrip(r);
  });

  it('a merge conflict in progress (content and modify/delete conflicts), which can be concluded after the restore', async () => {
    const r = richRepo();
    r.git('checkout', '-q', '-b', 'feature');
    r.write('conflict.txt', 'a\nB-feature\nc\n');
    r.write('feature-only.txt', 'feature\n');
    r.write('md.txt', 'changed on feature\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'feature');
    r.git('checkout', '-q', 'main');
    r.write('conflict.txt', 'a\nB-main\nc\n');
    r.git('rm', '-q', 'md.txt');
    r.git('commit', '-q', '-am', 'main');
    expect(gitRun(r.root, ['merge', 'feature']).code).not.toBe(0);
    r.write('wip.txt', 'untracked during the merge\n');
    r.write('src/app.ts', 'edited during the merge\n');
    const { snap } = await roundTrip(r, { end: 'before' });
    expect(snap.conflicted).toBe(true);
    // the merge can be concluded: MERGE_HEAD and the stages came back
    r.write('conflict.txt', 'a\nresolved\nc\n');
    r.git('add', 'conflict.txt', 'md.txt');
    r.git('commit', '-q', '--no-edit');
    expect(r.git('rev-parse', 'HEAD^2').trim()).toBe(r.git('rev-parse', 'feature').trim());
  });

  it('a rebase stopped on a conflict, which can be continued after the restore', async () => {
    const r = richRepo();
    r.git('checkout', '-q', '-b', 'topic');
    r.write('conflict.txt', 'a\nB-topic\nc\n');
    r.git('commit', '-q', '-am', 't1');
    r.write('topic2.txt', 't2\n');
    r.git('add', 'topic2.txt');
    r.git('commit', '-q', '-m', 't2');
    r.git('checkout', '-q', 'main');
    r.write('conflict.txt', 'a\nB-main\nc\n');
    r.git('commit', '-q', '-am', 'main moves');
    r.git('checkout', '-q', 'topic');
    expect(gitRun(r.root, ['rebase', 'main']).code).not.toBe(0);
    r.write('scratch.txt', 'untracked during the rebase\n');
    const { snap } = await roundTrip(r, { end: 'before' });
    expect(snap.headRef).toBeNull();
    expect(snap.conflicted).toBe(true);
    r.write('conflict.txt', 'a\nresolved\nc\n');
    r.git('add', 'conflict.txt');
    expect(gitRun(r.root, ['rebase', '--continue'], { env: { GIT_EDITOR: 'true' } }).code).toBe(0);
    expect(r.git('log', '--format=%s', '-3', 'topic').split('\n').slice(0, 3)).toEqual(['t2', 't1', 'main moves']);
  });

  it('an unborn branch (no commits yet)', async () => {
    const r = repos.make({ empty: true });
    r.write('.gitignore', '.env\n');
    r.write('a.txt', 'staged\n');
    r.git('add', 'a.txt', '.gitignore');
    r.write('a.txt', 'staged then changed\n');
    r.write('b.txt', 'untracked\n');
    r.write('.env', 'SECRET=2\n', 0o600);
    r.mkdir('emptyd');
    r.write('ita.txt', 'ita\n');
    r.git('add', '-N', 'ita.txt');
    const { snap } = await roundTrip(r);
    expect(snap.headOid).toBeNull();
    expect(snap.headRef).toBe('refs/heads/main');
    expect(r.git('rev-list', '--parents', '-n', '1', snap.commit).trim().split(' ')).toHaveLength(1); // no parent
  });

  it('a detached HEAD with a commit no branch holds', async () => {
    const r = richRepo();
    r.git('checkout', '-q', '--detach');
    r.write('detached.txt', 'committed while detached\n');
    r.git('add', 'detached.txt');
    r.git('commit', '-q', '-m', 'detached work');
    r.write('src/app.ts', 'changed\n');
    r.write('untracked.txt', 'u\n');
    const { snap } = await roundTrip(r, { end: 'before' });
    expect(snap.headRef).toBeNull();
    expect(snap.headOid).toBe(r.git('rev-parse', 'HEAD').trim());
  });

  it('an autocrlf repository with CRLF, LF-only, mixed, eol=lf and binary files (bytes exact)', async () => {
    const r = richRepo();
    enableAutocrlf(r);
    r.write('.gitattributes', '*.dat binary\n*.lf text eol=lf\n');
    r.write('crlf.txt', 'x\r\ny\r\n');
    r.git('add', '.gitattributes', 'crlf.txt');
    r.git('commit', '-q', '-m', 'crlf');
    enableAutocrlf(r); // worktree bytes = what checkout writes
    r.write('crlf.txt', 'x\r\nz\r\n');
    r.write('new-crlf.txt', 'p\r\nq\r\n');
    r.write('lf-only.txt', 'p\nq\n'); // checkout would write CRLF
    r.write('mixed.txt', 'a\r\nb\nc\r\n');
    r.write('s.txt', 'staged\nLF\n');
    r.git('add', 's.txt');
    r.write('file.lf', 'a\r\nb\r\n');
    r.write('data.dat', Buffer.from('\r\n\0\r\n'));
    r.write('e.log', 'l1\r\nl2\n');
    await roundTrip(r);
  });

  it('untracked nested repositories are skipped, reported, and still there after the restore', async () => {
    const r = richRepo();
    const initRepo = (rel: string, commit: boolean) => {
      r.write(`${rel}/file.txt`, `${rel}\n`);
      const dir = join(r.root, rel);
      r.git('-C', dir, 'init', '-q');
      if (commit) {
        r.git('-C', dir, 'add', 'file.txt');
        r.git('-C', dir, '-c', 'user.name=n', '-c', 'user.email=n@example.invalid', 'commit', '-q', '-m', 'nested');
      }
    };
    initRepo('vendor/lib', true);
    initRepo('tools/fresh', false);
    r.write('u/f.txt', 'next to a nested repo\n');
    initRepo('u/inner', false);
    r.write('build/out.js', 'out\n');
    initRepo('build/cache', false);
    const { snap } = await roundTrip(r);
    expect(skippedOf(snap)).toEqual([
      'nested-repo build/cache', 'nested-repo tools/fresh', 'nested-repo u/inner', 'nested-repo vendor/lib',
    ]);
  });

  it('a same-size edit in the same second as the last index write is captured (racy git)', async () => {
    const r = richRepo();
    const sec = (ms: number) => Math.floor(ms / 1000);
    const idx = join(gitDirOf(r), 'index');
    // stage v1 and overwrite it with v2 (same size) within one second, so the index entry's
    // stat data matches the edited file; only the index's own mtime tells git to look again
    for (;;) {
      r.write('src/app.ts', 'export const app = 1; // v1\n');
      r.git('add', 'src/app.ts');
      r.write('src/app.ts', 'export const app = 1; // v2\n');
      const f = statSync(join(r.root, 'src/app.ts'));
      const i = statSync(idx);
      if (sec(f.mtimeMs) === sec(i.mtimeMs) && sec(f.ctimeMs) === sec(i.mtimeMs) && sec(Date.now()) === sec(i.mtimeMs)) break;
    }
    // let the clock move on: a copy of the index written now would look newer than the edit
    const wait = 1000 - (Date.now() % 1000) + 20;
    await new Promise((res) => setTimeout(res, wait));
    const { snap } = await roundTrip(r);
    expect(r.git('show', `${snap.commit}:worktree/src/app.ts`)).toBe('export const app = 1; // v2\n');
  });

  it('assume-unchanged and skip-worktree entries: flags kept, hidden edits captured', async () => {
    const r = richRepo();
    r.git('update-index', '--assume-unchanged', 'src/app.ts');
    r.write('src/app.ts', 'hidden behind assume-unchanged\n');
    r.git('update-index', '--skip-worktree', 'src/util.ts');
    r.write('src/util.ts', 'local config hidden behind skip-worktree\n');
    const { snap } = await roundTrip(r);
    expect(r.git('show', `${snap.commit}:worktree/src/app.ts`)).toBe('hidden behind assume-unchanged\n');
    expect(r.git('show', `${snap.commit}:worktree/src/util.ts`)).toBe('local config hidden behind skip-worktree\n');
  });
});

// ------------------------------------------------------------------------------------------------

describe('snapshot ids and the store', () => {
  it('two snapshots of an identical state in the same second get different ids', async () => {
    const r = richRepo();
    r.write('x.txt', 'x\n');
    const now = () => new Date('2026-11-22T10:15:02.000Z');
    const a = await captureSnapshot(r.repo(), { now });
    const b = await captureSnapshot(r.repo(), { now });
    const par = await Promise.all([1, 2, 3].map(() => captureSnapshot(r.repo(), { now })));
    const ids = [a, b, ...par].map((s) => s.id);
    expect(new Set(ids).size).toBe(5);
    for (const id of ids) expect(id).toMatch(/^20261122-101502-main-[0-9a-f]{6}$/);
    expect(r.git('check-ref-format', `refs/rb/snapshots/${a.id}`)).toBe('');
    expect(a.commit).not.toBe(b.commit);
    expect(r.git('show', '-s', '--format=%B', a.commit)).toContain(`rb-snapshot-id: ${a.id}`);
  });

  it('meta/index.raw: an index the repository already holds (unchanged since the last snapshot) is not added to the batch again', async () => {
    const r = richRepo();
    for (let i = 0; i < 1200; i++) r.write(`many/d${i % 12}/file-${i}.txt`, `${i}\n`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'many');
    const bytes = readFileSync(join(r.root, '.git', 'index'));
    expect(bytes.length).toBeGreaterThan(64 * 1024);
    const run = (args: readonly string[], o: Partial<GitOptions> = {}) => git(args, { cwd: r.root, ...o });
    const head = r.git('rev-parse', 'HEAD').trim();
    await withRunScope(async () => {
      const before = ObjectBatch.forOid(run, head);
      const oid = await indexRawBlob(r.root, before, bytes);
      expect(before.size).toBe(1); // not in the repository yet: written with the snapshot
      r.write('many/d0/file-0.txt', 'edited, not staged\n');
      const a = await captureSnapshot(r.repo());
      expect(r.git('rev-parse', `${a.commit}:meta/index.raw`).trim()).toBe(oid);
      const after = ObjectBatch.forOid(run, head);
      expect(await indexRawBlob(r.root, after, bytes)).toBe(oid);
      expect(after.size).toBe(0);
      // the next snapshot names the same blob, byte for byte the index
      r.write('many/d1/file-1.txt', 'edited too\n');
      const b = await captureSnapshot(r.repo());
      expect(r.git('rev-parse', `${b.commit}:meta/index.raw`).trim()).toBe(oid);
      expect(gitRun(r.root, ['cat-file', 'blob', oid]).stdoutBuf.equals(bytes)).toBe(true);
      // a changed index is a new blob
      r.git('add', 'many/d1/file-1.txt');
      const changed = ObjectBatch.forOid(run, head);
      expect(await indexRawBlob(r.root, changed, readFileSync(join(r.root, '.git', 'index')))).not.toBe(oid);
      expect(changed.size).toBe(1);
    });
  });

  it('meta/index.raw: a new one goes into the pack of file contents when the files make one (not the last git process), byte for byte; with few files, into the batch', async () => {
    const r = richRepo();
    for (let i = 0; i < 1200; i++) r.write(`many/d${i % 12}/file-${i}.txt`, `${i}\n`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'many');
    const packHolding = (oid: string) => readdirSync(join(r.root, '.git', 'objects', 'pack')).filter((n) => n.endsWith('.idx'))
      .filter((n) => gitRun(r.root, ['show-index'], { input: readFileSync(join(r.root, '.git', 'objects', 'pack', n)) }).stdout.includes(oid));
    // 150 changed files: one pack of their contents, with the new index beside them
    for (let i = 0; i < 150; i++) r.write(`many/d${i % 12}/file-${i}.txt`, `edited ${i}\n`);
    r.git('add', 'many/d0/file-0.txt'); // a new index
    const a = await captureSnapshot(r.repo());
    const raw = r.git('rev-parse', `${a.commit}:meta/index.raw`).trim();
    const blob = r.git('rev-parse', `${a.commit}:worktree/many/d1/file-1.txt`).trim();
    expect(gitRun(r.root, ['cat-file', 'blob', raw]).stdoutBuf.equals(readFileSync(join(r.root, '.git', 'index')))).toBe(true);
    expect(packHolding(raw)).toHaveLength(1);
    expect(packHolding(raw)).toEqual(packHolding(blob));
    expect(packHolding(r.git('rev-parse', `${a.commit}^{tree}`).trim())).not.toEqual(packHolding(raw));
    // two changed files: their contents and the new index go with the trees (no process of their own)
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'edited');
    r.write('many/d2/file-2.txt', 'again\n');
    r.git('add', 'many/d2/file-2.txt');
    r.write('many/d3/file-3.txt', 'again\n');
    const b = await captureSnapshot(r.repo());
    const raw2 = r.git('rev-parse', `${b.commit}:meta/index.raw`).trim();
    expect(gitRun(r.root, ['cat-file', 'blob', raw2]).stdoutBuf.equals(readFileSync(join(r.root, '.git', 'index')))).toBe(true);
    expect(packHolding(raw2)).toEqual(packHolding(r.git('rev-parse', `${b.commit}^{tree}`).trim()));
    expect(gitRun(r.root, ['fsck', '--strict', '--no-dangling']).code).toBe(0);
  });

  it('lists newest first, reads, resolves by id, prefix and commit, refuses ambiguous/unknown, deletes with CAS', async () => {
    const r = richRepo();
    // what is stored (the capture also says how it built the worktree tree, which is not stored)
    const { method: _method, ...s1 } = await captureSnapshot(r.repo(), { message: 'first', runId: 'run-1', now: () => new Date('2026-01-01T00:00:00Z') });
    const s2 = await captureSnapshot(r.repo(), { message: 'second', now: () => new Date('2026-01-02T00:00:00Z') });
    const list = await listSnapshots(r.repo());
    expect(list.map((s) => s.id)).toEqual([s2.id, s1.id]);
    expect(list[1]).toEqual(s1);
    expect(await readSnapshot(r.repo(), s1.id)).toEqual(s1);
    expect(await readSnapshot(r.repo(), 'nope')).toBeNull();
    expect(await readSnapshot(r.repo(), '../../heads/main')).toBeNull();
    expect((await resolveSnapshot(r.repo(), s1.id.slice(0, 12))).id).toBe(s1.id);
    expect((await resolveSnapshot(r.repo(), `refs/rb/snapshots/${s2.id}`)).id).toBe(s2.id);
    expect((await resolveSnapshot(r.repo(), s2.commit)).id).toBe(s2.id);
    await expect(resolveSnapshot(r.repo(), '2026')).rejects.toThrow(/ambiguous/);
    await expect(resolveSnapshot(r.repo(), 'zzz')).rejects.toBeInstanceOf(UsageError);
    await expect(resolveSnapshot(r.repo(), '--upload-pack=x')).rejects.toBeInstanceOf(UsageError);
    await expect(resolveSnapshot(r.repo(), 'HEAD')).rejects.toThrow(/not an rb snapshot/);
    expect(await deleteSnapshot(r.repo(), s1.id)).toBe(true);
    expect(await deleteSnapshot(r.repo(), s1.id)).toBe(false);
    expect((await listSnapshots(r.repo())).map((s) => s.id)).toEqual([s2.id]);
    // a snapshot whose ref is gone can still be restored from its commit
    const viaCommit = await resolveSnapshot(r.repo(), s1.commit);
    expect(viaCommit).toMatchObject({ id: s1.id, ref: '', message: 'first', runId: 'run-1' });
  });

  it('describes prototype-era snapshots (no info.json) from trailers and meta/skipped', async () => {
    const r = richRepo();
    const s = await captureSnapshot(r.repo(), { message: 'legacy' });
    // rebuild the commit without meta/info.json, as snapshot.sh wrote it
    const metaLines = r.git('ls-tree', `${s.commit}:meta`).split('\n').filter((l) => l && !l.endsWith('\tinfo.json')).join('\n') + '\n';
    const meta = gitRun(r.root, ['mktree'], { input: metaLines }).stdout.trim();
    const rootLines = r.git('ls-tree', s.commit).split('\n').filter(Boolean).map((l) => (l.endsWith('\tmeta') ? `040000 tree ${meta}\tmeta` : l)).join('\n') + '\n';
    const tree = gitRun(r.root, ['mktree'], { input: rootLines }).stdout.trim();
    const msg = 'rb snapshot: legacy\n\nrb-head-ref: refs/heads/main\nrb-head-oid: ' + s.headOid + '\nrb-conflicted: no\nrb-ignored-skipped: 0\n';
    const c = gitRun(r.root, ['commit-tree', tree, '-p', s.headOid!], { input: msg }).stdout.trim();
    r.git('update-ref', 'refs/rb/snapshots/20200101T000000Z-abcdef123456', c);
    const old = await readSnapshot(r.repo(), '20200101T000000Z-abcdef123456');
    expect(old).toMatchObject({ message: 'legacy', headRef: 'refs/heads/main', headOid: s.headOid, conflicted: false, skipped: [] });
  });
});

// ------------------------------------------------------------------------------------------------

describe('restore: HEAD, interruption, refusals', () => {
  it('a branch that moved since the snapshot is left (warning) unless resetBranch', async () => {
    const r = richRepo();
    r.write('src/app.ts', 'work in progress\n');
    const before = manifest(r.root);
    const snap = await captureSnapshot(r.repo());
    r.git('commit', '-q', '-am', 'moved the branch');
    const moved = r.git('rev-parse', 'main').trim();
    destroyLevel1(r, snap);
    const res = await restoreSnapshot(r.repo(), snap.id);
    expect(res.warnings.join('\n')).toMatch(/refs\/heads\/main moved since the snapshot/);
    expect(r.git('rev-parse', 'main').trim()).toBe(moved);
    expect(r.git('symbolic-ref', 'HEAD').trim()).toBe('refs/heads/main');
    const res2 = await restoreSnapshot(r.repo(), snap.id, { resetBranch: true });
    expect(res2.warnings).toEqual([]);
    expect(manifest(r.root)).toBe(before);
    expect(r.git('rev-parse', 'main').trim()).toBe(snap.headOid);
  });

  it('ignored files that appeared since the snapshot are removed (the safety snapshot holds them); what the snapshot never captured stays', async () => {
    const r = richRepo();
    const opts = { capture: { maxIgnoredBytes: 4096 } };
    r.write('.env', 'SECRET=1\n', 0o600);
    r.write('build/out.js', 'built\n');
    r.write('notes.txt', 'untracked, not ignored\n');
    r.write('node_modules/pkg/index.js', 'module\n');
    r.write('big.bin', Buffer.alloc(10000, 1));
    const snap = await captureSnapshot(r.repo(), opts.capture);
    expect(skippedOf(snap)).toEqual(['listed node_modules', 'too-big big.bin']);
    const kept = ['node_modules', 'big.bin', 'huge.bin'];
    const before = manifest(r.root, { exclude: kept });

    // since then: new ignored files and directories, an ignored file the snapshot has as untracked
    r.write('build/new/deep/out.js', 'new build output\n');
    r.mkdir('build/empty-since/inner');
    r.mkdir('dist/empty');
    r.write('app.log', 'log\n');
    r.write('.env', 'SECRET=2\n', 0o600);
    r.write('.gitignore', readFileSync(join(r.root, '.gitignore'), 'utf8') + 'notes.txt\n');
    r.write('notes.txt', 'edited while ignored\n');
    // in what the snapshot skipped (it never knew them): left as they are
    r.write('node_modules/new.js', 'installed since\n');
    r.write('big.bin', Buffer.alloc(10000, 2));
    r.write('huge.bin', Buffer.alloc(10000, 3)); // over the cap for the safety snapshot too
    const changed = manifest(r.root);

    const res = await restoreSnapshot(r.repo(), snap.id, opts);
    expect(manifest(r.root, { exclude: kept })).toBe(before);
    expect(existsSync(join(r.root, 'build/new'))).toBe(false);
    expect(existsSync(join(r.root, 'app.log'))).toBe(false);
    expect(readFileSync(join(r.root, 'node_modules/new.js'), 'utf8')).toBe('installed since\n');
    expect(readFileSync(join(r.root, 'big.bin')).equals(Buffer.alloc(10000, 2))).toBe(true);
    expect(readFileSync(join(r.root, 'huge.bin')).equals(Buffer.alloc(10000, 3))).toBe(true);

    // nothing was lost: the safety snapshot gives back the state before the restore
    await restoreSnapshot(r.repo(), res.safetySnapshot!.id, opts);
    expect(manifest(r.root)).toBe(changed);
  });

  it('without a safety snapshot, ignored files that appeared since are left as they are', async () => {
    const r = richRepo();
    const snap = await captureSnapshot(r.repo());
    r.write('build/out.js', 'built since\n');
    await restoreSnapshot(r.repo(), snap.id, { safetySnapshot: false });
    expect(readFileSync(join(r.root, 'build/out.js'), 'utf8')).toBe('built since\n');
  });

  it('a restore interrupted after any step finishes when run again', async () => {
    const r = richRepo();
    // a state that exercises every step: conflict stages, git state, ignored, raw (autocrlf), empty dirs, modes
    enableAutocrlf(r);
    r.git('checkout', '-q', '-b', 'feature');
    r.write('conflict.txt', 'a\nB-feature\nc\n');
    r.git('commit', '-q', '-am', 'feature');
    r.git('checkout', '-q', 'main');
    r.write('conflict.txt', 'a\nB-main\nc\n');
    r.git('commit', '-q', '-am', 'main');
    expect(gitRun(r.root, ['merge', 'feature']).code).not.toBe(0);
    r.write('lf.txt', 'lf\n');
    r.write('.env', 'S=1\n', 0o600);
    r.mkdir('empty/dir');
    r.write('exec.sh', '#!/bin/sh\n', 0o700);
    const before = manifest(r.root);
    const snap = await captureSnapshot(r.repo());
    destroyLevel1(r, snap);
    const destroyed = manifest(r.root);
    for (const step of RESTORE_STEPS) {
      // (a safety snapshot only where this round checks it, to keep the loop fast)
      const withSafety = step === 'safety' || step === 'index';
      await expect(restoreSnapshot(r.repo(), snap.id, { _faultAfter: step, safetySnapshot: withSafety }))
        .rejects.toThrow(`after restore step "${step}"`);
      const journal = existsSync(restoreJournalPath(r.repo()));
      expect(journal).toBe(step !== 'safety');
      const res = await restoreSnapshot(r.repo(), snap.id);
      expect(res.resumed).toBe(journal);
      expect(res.warnings).toEqual([]);
      expect(manifest(r.root), `after a crash after "${step}"`).toBe(before);
      expect(existsSync(restoreJournalPath(r.repo()))).toBe(false);
      // the safety snapshot (taken again on the re-run after 'safety', from the journal
      // otherwise) holds the destroyed state
      if (withSafety) {
        await restoreSnapshot(r.repo(), res.safetySnapshot!.id, { safetySnapshot: false });
        expect(manifest(r.root), `safety snapshot after a crash after "${step}"`).toBe(destroyed);
      } else {
        destroyLevel1(r, snap);
      }
    }
  });

  it('refuses, changing nothing, when another restore was interrupted', async () => {
    const r = richRepo();
    r.write('a.txt', 'a\n');
    const s1 = await captureSnapshot(r.repo());
    r.write('b.txt', 'b\n');
    const s2 = await captureSnapshot(r.repo());
    await expect(restoreSnapshot(r.repo(), s1.id, { _faultAfter: 'head' })).rejects.toThrow();
    const m = manifest(r.root);
    const refs = r.git('for-each-ref');
    const err = await restoreSnapshot(r.repo(), s2.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect(String((err as LockedError).message)).toMatch(/another restore was interrupted/);
    expect((err as LockedError).next).toContain(s1.id);
    expect(manifest(r.root)).toBe(m);
    expect(r.git('for-each-ref')).toBe(refs);
    // finishing the interrupted one clears the way
    await restoreSnapshot(r.repo(), s1.id);
    await restoreSnapshot(r.repo(), s2.id);
    expect(existsSync(join(r.root, 'b.txt'))).toBe(true);
  });

  it('refuses, changing nothing, while git holds index.lock', async () => {
    const r = richRepo();
    r.write('a.txt', 'a\n');
    const s = await captureSnapshot(r.repo());
    rmSync(join(r.root, 'a.txt'));
    writeFileSync(join(gitDirOf(r), 'index.lock'), '');
    const m = manifest(r.root);
    await expect(restoreSnapshot(r.repo(), s.id)).rejects.toBeInstanceOf(PreconditionError);
    expect(manifest(r.root)).toBe(m);
    expect(existsSync(restoreJournalPath(r.repo()))).toBe(false);
    rmSync(join(gitDirOf(r), 'index.lock'));
  });

  it('refuses, changing nothing, when the restore would overwrite a path no snapshot holds (a nested repo)', async () => {
    const r = richRepo();
    r.write('tool', 'a file at snapshot time\n');
    const s = await captureSnapshot(r.repo());
    rmSync(join(r.root, 'tool'));
    r.write('tool/file.txt', 'x\n');
    r.git('-C', join(r.root, 'tool'), 'init', '-q');
    const m = manifest(r.root);
    const err = await restoreSnapshot(r.repo(), s.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionError);
    expect((err as PreconditionError).details).toEqual(['tool: a nested git repository']);
    expect((err as PreconditionError).message).toBe('restoring would overwrite a path the safety snapshot could not capture: tool: a nested git repository.');
    expect(manifest(r.root)).toBe(m);
  });

  it('works in a linked worktree: the id names the worktree, the journal lives in the common dir', async () => {
    const r = richRepo();
    const wtRoot = join(r.dir, 'wt two');
    r.git('worktree', 'add', '-q', '-b', 'side', wtRoot);
    const w = wrap(wtRoot, null, r.dir);
    w.write('side.txt', 'side work\n');
    w.write('.env', 'W=1\n', 0o600);
    const snap = (await roundTrip(w)).snap;
    expect(snap.id).toMatch(/-wt-two-[0-9a-f]{6}$/);
    expect(restoreJournalPath(w.repo()).startsWith(join(r.root, '.git'))).toBe(true);
  });

  it('file <-> directory swaps since the snapshot are undone (both ways)', async () => {
    const r = richRepo();
    r.write('a/b.txt', 'a was a directory\n');
    r.write('c', 'c was a file\n');
    rmSync(join(r.root, 'src/app.ts'));
    r.write('src/app.ts/inside.txt', 'a tracked file replaced by a directory\n');
    rmSync(join(r.root, 'src/util.ts'));
    await roundTrip(r, {
      destroy: (rr, snap) => {
        destroyLevel1(rr, snap, 'main');
        rr.write('a', 'now a file\n');
        rr.write('c/d.txt', 'now a directory\n');
        rmSync(join(rr.root, 'src/util.ts'));
        rr.write('src/util.ts/x', 'a tracked file that is now a directory\n');
      },
    });
  });

  it('a capture that fails (a required clean filter that fails) throws and leaves no ref and no temp dir', async () => {
    const r = richRepo();
    r.git('config', 'filter.broken.clean', 'false');
    r.git('config', 'filter.broken.required', 'true');
    r.write('.gitattributes', '*.ts filter=broken\n');
    r.write('src/app.ts', 'changed, so add must run the filter\n');
    const m = manifest(r.root);
    await expect(captureSnapshot(r.repo())).rejects.toThrow(/clean filter 'broken' failed/);
    expect(r.git('for-each-ref', 'refs/rb/')).toBe('');
    expect(leftovers(r)).toEqual([]);
    expect(manifest(r.root)).toBe(m);
  });

  it('settings read while git walks (configure): called once; they override the direct options; a rejection leaves no ref, no object and no temp dir', async () => {
    const r = richRepo();
    r.write('.env', 'SECRET=1\n');
    r.write('big.log', 'x'.repeat(5000));
    r.write('node_modules/pkg/index.js', 'module\n');
    r.write('build/out.js', 'built\n');
    r.write('src/app.ts', 'changed\n');
    const calls: number[] = [];
    const snap = await captureSnapshot(r.repo(), {
      message: 'configured', skipIgnored: [], maxIgnoredBytes: 1,
      configure: async () => {
        calls.push(Date.now());
        return { skipIgnored: ['build'], maxIgnoredBytes: 4096, exclude: ['node_modules'] };
      },
    });
    expect(calls).toHaveLength(1);
    // build listed, big.log over 4096 bytes, node_modules excluded (not reported), .env captured
    expect(skippedOf(snap)).toEqual(['listed build', 'too-big big.log']);
    expect(r.git('show', `${snap.commit}:ignored/.env`)).toBe('SECRET=1\n');

    const objects = () => r.git('count-objects', '-v');
    const before = { refs: r.git('for-each-ref', 'refs/rb/'), objects: objects(), files: manifest(r.root) };
    r.write('src/app.ts', 'changed again\n');
    const files = manifest(r.root);
    await expect(captureSnapshot(r.repo(), { configure: () => Promise.reject(new UsageError('rb.config.yaml: bad')) })).rejects.toThrow(/rb.config.yaml: bad/);
    expect(r.git('for-each-ref', 'refs/rb/')).toBe(before.refs);
    expect(objects()).toBe(before.objects);
    expect(leftovers(r)).toEqual([]);
    expect(manifest(r.root)).toBe(files);
  });

  it('cleanExcludes turns skipped paths into anchored, escaped clean -e patterns', () => {
    expect(excludePattern('node_modules')).toBe('/node_modules');
    expect(excludePattern('a [1]/*.log')).toBe('/a \\[1\\]/\\*.log');
    expect(excludePattern('!x#?')).toBe('/!x#\\?');
    expect(excludePattern('trail  ')).toBe('/trail\\ \\ ');
    expect(cleanExcludes([{ reason: 'listed', path: 'a' }, { reason: 'too-big', path: 'a' }, { reason: 'listed', path: 'b\\c' }]))
      .toEqual(['-e', '/a', '-e', '/b\\\\c']);
  });
});
