/**
 * Git helpers shared by the git.* step kinds: the state checks every mutating command is
 * followed by (safety.md §2: check HEAD and refs, not only the exit code).
 */
import { git, identityEnv, isValidBranchName, revParse } from '../io/git.js';
import type { Repo } from '../repo.js';

export async function headState(repo: Repo): Promise<{ ref: string | null; oid: string | null }> {
  const [ref, oid] = await Promise.all([
    git(['symbolic-ref', '-q', 'HEAD'], { cwd: repo.root, allowFail: true, readOnly: true }),
    git(['rev-parse', '-q', '--verify', 'HEAD'], { cwd: repo.root, allowFail: true, readOnly: true }),
  ]);
  return { ref: ref.code === 0 ? ref.stdout.trim() : null, oid: oid.code === 0 ? oid.stdout.trim() : null };
}

/** The commit a revision names, or null. */
export function oidOf(repo: Repo, rev: string): Promise<string | null> {
  return revParse(repo.root, `${rev}^{commit}`);
}

/** Where a ref points, or null when it does not exist. */
export function refOid(repo: Repo, ref: string): Promise<string | null> {
  return revParse(repo.root, ref);
}

export async function unmergedPaths(repo: Repo): Promise<string[]> {
  const r = await git(['ls-files', '-u', '-z'], { cwd: repo.root, readOnly: true });
  return [...new Set(r.stdout.split('\0').filter(Boolean).map((l) => l.slice(l.indexOf('\t') + 1)))];
}

/** Validate a branch name given by a user or a playbook (fault 10: `-x`, `a..b`, `--upload-pack=…`). */
export async function assertBranchName(repo: Repo, name: string): Promise<void> {
  if (!(await isValidBranchName(repo.root, name))) throw new Error(`"${name}" is not a valid branch name (git check-ref-format --branch)`);
}

/** First free branch name: name, name-2, name-3, … */
export async function freeBranchName(repo: Repo, name: string): Promise<string> {
  for (let i = 1; ; i++) {
    const candidate = i === 1 ? name : `${name}-${i}`;
    if (!(await refOid(repo, `refs/heads/${candidate}`))) return candidate;
  }
}

/** Branches checked out in other worktrees (fault 13). */
export async function branchesInOtherWorktrees(repo: Repo): Promise<Map<string, string>> {
  const r = await git(['worktree', 'list', '--porcelain', '-z'], { cwd: repo.root, allowFail: true, readOnly: true });
  const out = new Map<string, string>();
  let path = '';
  for (const line of r.stdout.split('\0')) {
    if (line.startsWith('worktree ')) path = line.slice(9);
    else if (line.startsWith('branch ') && path !== repo.root) out.set(line.slice(7), path);
  }
  return out;
}

export { identityEnv };
