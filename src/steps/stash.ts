/**
 * `stash`: make the run's snapshot visible to people who know git — an entry in `git stash list`
 * with the run's message that `git stash apply --index` restores (tracked changes, the index
 * and untracked files), created without touching the worktree or index. Built with plumbing:
 * `git stash create` (index + worktree commits), plus an untracked-files commit as the third
 * parent, then `git stash store`. Nothing to stash: skipped (and no one else's stash is touched).
 */
import { z } from 'zod';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, identityEnv } from '../io/git.js';
import type { StepKind } from './types.js';
import { headState, unmergedPaths } from './git-common.js';

const schema = z.object({ message: z.string().min(1) }).strict();
type With = z.infer<typeof schema>;

export const stash: StepKind<With> = {
  kind: 'stash',
  summary: 'add a `git stash list` entry of the current changes (incl. untracked) without touching the worktree',
  with: schema,
  destructive: false,
  mutates: true,
  describe: (w) => [`git stash create && git stash store -m ${JSON.stringify(w.message)} <commit>  # with untracked files; the worktree is not touched`],
  async run(w, ctx) {
    const repo = ctx.repo;
    const head = await headState(repo);
    if (!head.oid) return { skipped: 'no commits yet: git stash needs one' };
    if ((await unmergedPaths(repo)).length) {
      ctx.reporter.warn('the index has conflicts, which git stash cannot hold: the snapshot has them');
      return { skipped: 'conflicts in the index' };
    }
    const env = await identityEnv(repo.root);
    const created = (await git(['stash', 'create', w.message], { cwd: repo.root, env })).stdout.trim();
    // untracked (not ignored) files, as stash push -u stores them: a parentless commit
    const untracked = (await git(['ls-files', '-z', '-o', '--exclude-standard'], { cwd: repo.root, readOnly: true })).stdout.split('\0').filter(Boolean)
      .filter((p) => !p.startsWith(`${ctx.config.rollbacksDir}/`));
    const nested = untracked.filter((p) => p.endsWith('/'));
    const files = untracked.filter((p) => !p.endsWith('/') && !nested.some((n) => p.startsWith(n)));
    if (!created && files.length === 0) {
      ctx.reporter.output('nothing to stash');
      return { skipped: 'nothing to stash' };
    }
    const branch = head.ref ? head.ref.replace(/^refs\/heads\//, '') : '(no branch)';
    const subject = (await git(['log', '-1', '--format=%h %s', head.oid], { cwd: repo.root, readOnly: true })).stdout.trim();
    let w0 = created;
    let iCommit: string;
    if (created) {
      iCommit = (await git(['rev-parse', `${created}^2`], { cwd: repo.root, readOnly: true })).stdout.trim();
    } else {
      const tree = (await git(['write-tree'], { cwd: repo.root })).stdout.trim();
      iCommit = (await git(['commit-tree', tree, '-p', head.oid, '-m', `index on ${branch}: ${subject}`], { cwd: repo.root, env })).stdout.trim();
      w0 = iCommit;
    }
    let stashCommit = created;
    if (files.length) {
      const tmp = mkdtempSync(join(repo.gitDir, 'rb-stash.'));
      try {
        const idx = join(tmp, 'index');
        await git(['--literal-pathspecs', 'update-index', '--add', '-z', '--stdin'], { cwd: repo.root, indexFile: idx, input: files.join('\0') + '\0' });
        const uTree = (await git(['write-tree'], { cwd: repo.root, indexFile: idx })).stdout.trim();
        const uCommit = (await git(['commit-tree', uTree, '-m', `untracked files on ${branch}: ${subject}`], { cwd: repo.root, env })).stdout.trim();
        const wTree = (await git(['rev-parse', `${w0}^{tree}`], { cwd: repo.root, readOnly: true })).stdout.trim();
        stashCommit = (await git(['commit-tree', wTree, '-p', head.oid, '-p', iCommit, '-p', uCommit, '-m', w.message], { cwd: repo.root, env })).stdout.trim();
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    const args = ['stash', 'store', '-m', w.message, stashCommit];
    await git(args, { cwd: repo.root, env });
    const top = (await git(['rev-parse', '-q', '--verify', 'refs/stash'], { cwd: repo.root, allowFail: true, readOnly: true })).stdout.trim();
    if (top !== stashCommit) throw new Error('git stash store did not record the entry');
    ctx.reporter.output(`stash@{0}: ${w.message}`);
    return { commands: [`git stash create`, `git ${args.join(' ')}`], stash: stashCommit, stashMessage: w.message, untracked: files.length, hasWorktree: existsSync(repo.root) };
  },
};
