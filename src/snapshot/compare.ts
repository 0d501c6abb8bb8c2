/**
 * A snapshot against the working copy, read-only: what `rb diff` prints and what the `rb undo -i`
 * picker previews. The working copy (tracked and untracked files, not ignored ones, without rb's
 * records folder) is written as a tree through a temporary copy of the index — blobs go to the
 * object store, nothing else changes: not the index, the working tree, HEAD or any ref. The
 * snapshot's side is its worktree/ tree (format.ts). Ignored files are not compared.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, splitZ } from '../io/git.js';
import type { Repo } from '../repo.js';
import type { SnapshotInfo } from './format.js';

/** git's empty tree. */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/** The tree of the working copy now (tracked and untracked, not ignored), leaving `exclude` out. */
export async function workingCopyTree(repo: Repo, exclude: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rb-compare-'));
  try {
    const indexFile = join(dir, 'index');
    if (existsSync(join(repo.gitDir, 'index'))) await copyFile(join(repo.gitDir, 'index'), indexFile);
    await git(['add', '-A', '--', '.'], { cwd: repo.root, indexFile });
    // (an exclude pathspec naming an ignored folder makes `git add` fail: drop it from the copy instead)
    if (exclude.length) await git(['--literal-pathspecs', 'rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', ...exclude], { cwd: repo.root, indexFile });
    return (await git(['write-tree'], { cwd: repo.root, indexFile })).stdout.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The worktree/ tree of a snapshot (the empty tree when it holds no file). */
export async function snapshotTree(repo: Repo, snap: Pick<SnapshotInfo, 'commit'>): Promise<string> {
  const r = await git(['rev-parse', '-q', '--verify', `${snap.commit}:worktree`], { cwd: repo.root, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.trim() : EMPTY_TREE;
}

export interface FileChange {
  /** what restoring the snapshot does to the path: added (only the snapshot has it), removed, modified */
  change: 'added' | 'removed' | 'modified';
  path: string;
}

/** The files that differ between the working copy tree `now` and the snapshot tree `then`. */
export async function changedFiles(repo: Repo, now: string, then: string, paths: readonly string[] = []): Promise<FileChange[]> {
  const spec = paths.map((p) => `:(literal)${p}`);
  const r = await git(['diff-tree', '-r', '-z', '--no-renames', '--name-status', now, then, '--', ...spec], { cwd: repo.root, readOnly: true });
  const parts = splitZ(r.stdout);
  const out: FileChange[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const s = parts[i]!.charAt(0);
    out.push({ change: s === 'A' ? 'added' : s === 'D' ? 'removed' : 'modified', path: parts[i + 1]! });
  }
  return out;
}

/** The patch from the working copy tree `now` to the snapshot tree `then` (what restoring puts back). */
export async function patch(repo: Repo, now: string, then: string, paths: readonly string[] = []): Promise<string> {
  const spec = paths.map((p) => `:(literal)${p}`);
  const r = await git(['diff', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames', now, then, '--', ...spec], { cwd: repo.root, readOnly: true });
  return r.stdout;
}

/** Does the tree hold this path (a file or a folder)? */
export async function treeHas(repo: Repo, tree: string, path: string): Promise<boolean> {
  const r = await git(['ls-tree', '-z', '--name-only', tree, '--', path.replace(/\/+$/, '')], { cwd: repo.root, readOnly: true, allowFail: true });
  return r.code === 0 && splitZ(r.stdout).length > 0;
}

/** One line per kind: "3 added, 1 removed, 2 modified" (or "no file differs"). */
export function countChanges(changes: readonly FileChange[]): string {
  if (!changes.length) return 'no file differs';
  const n = (k: FileChange['change']) => changes.filter((c) => c.change === k).length;
  return (['added', 'removed', 'modified'] as const).filter((k) => n(k)).map((k) => `${n(k)} ${k}`).join(', ');
}
