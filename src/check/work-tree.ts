/**
 * Check 1: rb runs inside a git work tree whose HEAD has a commit. Everything else needs a
 * repository, so when this fails the other checks are not run.
 */
import { git } from '../io/git.js';
import { RbError } from '../errors.js';
import { findRepo, type Repo } from '../repo.js';
import type { CheckResult } from './types.js';

const TITLE = 'Inside a work tree';

/** Where HEAD points: the branch (null when detached) and the commit (null when unborn). */
export async function headOf(repo: Repo): Promise<{ branch: string | null; oid: string | null }> {
  const [ref, oid] = await Promise.all([
    git(['symbolic-ref', '-q', '--short', 'HEAD'], { cwd: repo.root, allowFail: true, readOnly: true }),
    git(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { cwd: repo.root, allowFail: true, readOnly: true }),
  ]);
  return { branch: ref.code === 0 ? ref.stdout.trim() : null, oid: oid.code === 0 ? oid.stdout.trim() : null };
}

/**
 * Find the repository from `cwd` (default: the current directory) and say where HEAD is.
 * Never throws for "not a repository": that is the check failing, with `repo: null`.
 */
export async function checkWorkTree(cwd?: string): Promise<{ result: CheckResult; repo: Repo | null; head: { branch: string | null; oid: string | null } }> {
  let repo: Repo;
  try {
    repo = findRepo(cwd);
  } catch (e) {
    if (!(e instanceof RbError)) throw e;
    return {
      result: { id: 'worktree', title: TITLE, status: 'fail', reason: e.message, next: e.next },
      repo: null,
      head: { branch: null, oid: null },
    };
  }
  const head = await headOf(repo);
  if (!head.oid) {
    return {
      result: {
        id: 'worktree', title: TITLE, status: 'fail',
        reason: `${repo.root} has no commits yet (HEAD is the unborn branch ${head.branch ?? '?'}): there is nothing to check or tag.`,
        next: 'make a first commit, then run `rb check` again',
        data: { root: repo.root, branch: head.branch, head: null },
      },
      repo,
      head,
    };
  }
  const where = head.branch ? `on ${head.branch}` : 'detached HEAD';
  return {
    result: {
      id: 'worktree', title: TITLE, status: 'pass',
      reason: `${repo.root}, ${where} at ${head.oid.slice(0, 12)}${repo.linked ? ' (a linked worktree)' : ''}`,
      data: { root: repo.root, branch: head.branch, head: head.oid, linked: repo.linked },
    },
    repo,
    head,
  };
}
