/**
 * A temporary, detached `git worktree` of one commit in the temp dir, for running the baseline's
 * tests without ever switching the user's checkout, when the kept worktree (kept-worktree.ts) is
 * in use by another check. The user's branch, index and files are not
 * touched: git only adds an entry under <git-common-dir>/worktrees/, which release() takes away.
 *
 * release() first unlinks the symbolic links rb placed inside (the linked dependency dirs, so
 * nothing can delete through them), then runs `git worktree remove --force`. Only when that
 * fails does it delete the directory itself and run `git worktree prune` (an unconditional prune
 * would also drop the records of the user's own worktrees whose directories are momentarily
 * missing, e.g. on an unmounted disk).
 */
import { existsSync, lstatSync, mkdtempSync, realpathSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git, gitSync } from '../io/git.js';
import type { Repo } from '../repo.js';

/**
 * Where the baseline's tests run: in the user's own checkout (HEAD is the baseline and clean),
 * in the kept worktree (kept-worktree.ts), or in a temporary worktree (this module; when the kept
 * one is busy with another check).
 */
export interface BaselineCheckout {
  /** absolute path of the checkout */
  path: string;
  kind: 'in-place' | 'kept' | 'temporary';
  /** the worktree was created by this check (a kept one that was reused: false) */
  created: boolean;
  /** symbolic links created inside it; release() unlinks them before anything else */
  links: string[];
  /** done with it: unlink the links, then remove a temporary worktree or unlock a kept one; returns what could not be cleaned up, or null */
  release(): Promise<string | null>;
  /** the same, synchronously (for a second Ctrl-C, when there is no time left to wait) */
  releaseSync(): void;
}

export function unlinkLinks(links: readonly string[]): void {
  for (const l of links) {
    try {
      const st = lstatSync(l);
      if (st.isSymbolicLink()) unlinkSync(l);
      else if (st.isDirectory()) rmdirSync(l); // a folder rb made for links (emptied above); never one with anything else in it
    } catch { /* already gone */ }
  }
}

/** Is `path` still registered as a worktree of the repository? */
export async function isRegisteredWorktree(repo: Repo, path: string): Promise<boolean> {
  const r = await git(['worktree', 'list', '--porcelain'], { cwd: repo.root, readOnly: true, allowFail: true });
  return r.stdout.split('\n').some((l) => l === `worktree ${path}`);
}

/**
 * `git worktree add --detach <tmp>/baseline <oid>` (rb's hardened git: the user's hooks do not
 * run). Throws when git refuses; nothing is left behind then.
 */
export async function addTempWorktree(repo: Repo, oid: string): Promise<BaselineCheckout> {
  const parent = realpathSync(mkdtempSync(join(tmpdir(), 'rb-check-')));
  const path = join(parent, 'baseline');
  const links: string[] = [];
  let removed = false;
  const wt: BaselineCheckout = {
    path,
    kind: 'temporary',
    created: true,
    links,
    async release() {
      if (removed) return null;
      removed = true;
      unlinkLinks(links);
      let problem: string | null = null;
      const r = await git(['worktree', 'remove', '--force', path], { cwd: repo.root, allowFail: true });
      if (r.code !== 0 || existsSync(path) || (await isRegisteredWorktree(repo, path))) {
        try {
          rmSync(path, { recursive: true, force: true });
        } catch (e) {
          problem = `could not delete ${path}: ${(e as Error).message}`;
        }
        await git(['worktree', 'prune'], { cwd: repo.root, allowFail: true });
        if (await isRegisteredWorktree(repo, path)) problem = `the temporary worktree ${path} is still registered; run \`git worktree prune\``;
      }
      try {
        rmSync(parent, { recursive: true, force: true });
      } catch (e) {
        problem = problem ?? `could not delete ${parent}: ${(e as Error).message}`;
      }
      return problem;
    },
    releaseSync() {
      if (removed) return;
      removed = true;
      unlinkLinks(links);
      const r = gitSync(['worktree', 'remove', '--force', path], { cwd: repo.root, allowFail: true });
      if (r.code !== 0 || existsSync(path)) {
        try { rmSync(path, { recursive: true, force: true }); } catch { /* best effort */ }
        gitSync(['worktree', 'prune'], { cwd: repo.root, allowFail: true });
      }
      try { rmSync(parent, { recursive: true, force: true }); } catch { /* best effort */ }
    },
  };
  const r = await git(['worktree', 'add', '--detach', '--quiet', '--', path, oid], { cwd: repo.root, allowFail: true });
  if (r.code !== 0) {
    // git cleaned up after itself: only the temp dir is left
    removed = true;
    rmSync(parent, { recursive: true, force: true });
    throw new Error(`git worktree add failed: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`);
  }
  return wt;
}
