/**
 * Check 4: the working tree is clean: no staged, unstaged or untracked changes (ignored files do
 * not count). rb's own records folder (rollbacksDir, default rollbacks/) is left out: rb writes
 * there itself. The first dirty paths are listed.
 */
import { posix } from 'node:path';
import type { Repo } from '../repo.js';
import type { CheckResult } from './types.js';
import { showPath } from '../ui/format.js';

const TITLE = 'Working tree clean';
/**
 * What makes this check pass. A snapshot does not: it keeps a copy and leaves the tree as it is,
 * so it is named only for what it is for.
 */
export const CLEAN_NEXT = 'commit them (`git add -A && git commit`), or set them aside with `git stash push --include-untracked` ' +
  '(`git stash pop` brings them back after the check); either makes this check pass. ' +
  '`rb snapshots create` does not: it keeps a restorable copy of everything (ignored files too) and leaves the tree as it is';
/** how many dirty paths are listed */
export const DIRTY_LISTED = 10;

export interface DirtyPath {
  /** the two status letters of `git status --porcelain` ("M ", " M", "??", "R ", …) */
  xy: string;
  path: string;
}

/**
 * The uncommitted paths of the work tree, rollbacksDir left out: simple-git's parse of
 * `git status --porcelain --null -u` (renames carry their source in `from`; names with newlines
 * or any bytes come through whole).
 */
export async function dirtyPaths(repo: Repo, rollbacksDir: string): Promise<DirtyPath[]> {
  const { porcelain } = await import('../io/porcelain.js');
  const status = await porcelain(repo.root).status();
  const records = posix.normalize(rollbacksDir.replace(/\\/g, '/')).replace(/^\.\/|\/+$/g, '');
  return status.files
    .map((f) => ({ xy: `${f.index}${f.working_dir}`, path: f.path }))
    .filter((p) => p.path !== records && !p.path.startsWith(`${records}/`));
}

export async function checkClean(repo: Repo, rollbacksDir: string): Promise<CheckResult> {
  const dirty = await dirtyPaths(repo, rollbacksDir);
  if (!dirty.length) return { id: 'clean', title: TITLE, status: 'pass', reason: `no uncommitted changes (${rollbacksDir}/ excluded)`, data: { dirty: 0 } };
  const listed = dirty.slice(0, DIRTY_LISTED).map((p) => `${p.xy} ${showPath(p.path)}`);
  if (dirty.length > DIRTY_LISTED) listed.push(`… and ${dirty.length - DIRTY_LISTED} more (git status shows them all)`);
  const first = dirty.slice(0, 3).map((p) => showPath(p.path)).join(', ');
  return {
    id: 'clean', title: TITLE, status: 'fail',
    reason: `${dirty.length} uncommitted path${dirty.length === 1 ? '' : 's'}: ${first}${dirty.length > 3 ? ', …' : ''}`,
    next: CLEAN_NEXT,
    details: listed,
    data: { dirty: dirty.length, paths: dirty.slice(0, DIRTY_LISTED) },
  };
}
