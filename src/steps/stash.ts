/**
 * `stash`: make the run's snapshot visible to people who know git — an entry in `git stash list`
 * with the run's message that `git stash apply --index` restores (tracked changes, the index
 * and untracked files), created without touching the worktree or index. Nothing to stash:
 * skipped (and no one else's stash is touched).
 *
 * The entry is the three commits `git stash push -u` would make — index, worktree (tracked
 * files), untracked files — stored with `git stash store`. Their trees come from the snapshot
 * taken just before (the snapshot step asks the capture for them), so the working copy is not
 * read a second time: on a large repository `git stash create` re-reads and re-hashes it, which
 * took longer than the whole snapshot. Without those trees (a resumed run, a snapshot that fell
 * back to `git add -A`, HEAD moved since), it is built with `git stash create` as before.
 */
import { z } from '#zod';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, identityFromConfig, type GitOptions } from '../io/git.js';
import { configValues, memoized } from '../io/repo-state.js';
import { ObjectBatch, addCommit, commitIdentity, messageFromParagraphs, type CommitIdentity } from '../io/object-batch.js';
import type { Repo } from '../repo.js';
import type { StashTrees } from '../snapshot/capture.js';
import type { StepContext, StepResult } from './types.js';
import type { StepKind } from './types.js';
import { headState, unmergedPaths } from './git-common.js';
import { gitLine } from './common.js';
import { tempDirPrefix } from '../journal/leftovers.js';
import { nulPaths, splitNulPaths } from '../io/path-bytes.js';

const schema = z.object({ message: z.string().min(1) }).strict();
type With = z.infer<typeof schema>;

/** The snapshot step's trees for this run's snapshot, when they describe the current HEAD. */
function snapshotTrees(ctx: StepContext, headOid: string): StashTrees | null {
  for (const r of Object.values(ctx.results)) {
    const t = r?.transient?.stashTrees as StashTrees | undefined;
    if (t && r.snapshotId === ctx.snapshotId && r.headOid === headOid) return t;
  }
  return null;
}

/**
 * The tree of a commit and the `<abbreviated id> <subject>` git stash writes in its messages
 * (`git log -1 --format=%T%n%h %s`), asked once per commit: read ahead when the run starts
 * (the snapshot before this step moves no HEAD; the abbreviation is the one git gives then).
 */
function commitLine(root: string, oid: string): Promise<string[]> {
  return memoized(`commit line ${root} ${oid}`, async () => (await git(['log', '-1', '--format=%T%n%h %s', oid], { cwd: root, readOnly: true })).stdout.split('\n'), []);
}

export const stash: StepKind<With> = {
  kind: 'stash',
  summary: 'add a `git stash list` entry of the current changes (incl. untracked) without touching the worktree',
  with: schema,
  destructive: false,
  mutates: true,
  // the usual way: the entry is made from the snapshot's trees (withStashCreate is the fallback)
  describe: (w) => [FROM_TREES, storeLine(w.message, '<commit>')],
  readAhead: async (_w, ctx) => (ctx.run.head ? commitLine(ctx.repo.root, ctx.run.head) : null),
  async run(w, ctx) {
    const repo = ctx.repo;
    // resumed after a kill right after `git stash store`: the entry is there already (journaled
    // before it was stored); a second one would outlive the run's undo
    const prev = ctx.previous as { stash?: string; stashMessage?: string } | undefined;
    if (prev?.stash && (await stashCommits(repo)).includes(prev.stash)) {
      ctx.reporter.output(`stash entry ${prev.stash.slice(0, 12)} was stored before the interruption`);
      return { ...ctx.previous, commands: [] };
    }
    const head = await headState(repo);
    if (!head.oid) return { skipped: 'no commits yet: git stash needs one' };
    const trees = snapshotTrees(ctx, head.oid);
    if (!trees && (await unmergedPaths(repo)).length) {
      ctx.reporter.warn('the index has conflicts, which git stash cannot hold: the snapshot has them');
      return { skipped: 'conflicts in the index' };
    }
    const cfg = await configValues(repo.root);
    const env = identityFromConfig(cfg);
    const branch = head.ref ? head.ref.replace(/^refs\/heads\//, '') : '(no branch)';
    const [headTree, subject] = await commitLine(repo.root, head.oid);
    const made = trees
      ? await fromTrees(repo, trees, { headOid: head.oid, headTree: headTree!, branch, subject: subject!, message: w.message, env, identity: commitIdentity(cfg, { ...process.env, ...env }) })
      : await withStashCreate(ctx, { headOid: head.oid, branch, subject: subject!, message: w.message, env });
    if (!made) {
      ctx.reporter.output('nothing to stash');
      return { skipped: 'nothing to stash' };
    }
    const args = ['stash', 'store', '-m', w.message, made.commit];
    // journaled before the entry exists: after a kill -9 right after it, undo still knows it is the run's
    await ctx.checkpoint({ stash: made.commit, stashMessage: w.message });
    await git(args, { cwd: repo.root, env });
    const top = await stashTop(repo);
    if (top !== made.commit) throw new Error('git stash store did not record the entry');
    ctx.reporter.output(`stash@{0}: ${w.message}`);
    return { commands: [...made.commands, storeLine(w.message, made.commit)], stash: made.commit, stashMessage: w.message, untracked: made.untracked, hasWorktree: existsSync(repo.root) } satisfies StepResult;
  },
};

/** The stash entry's commits, made from the snapshot's trees: what the plan says and the journal records. */
const FROM_TREES = 'git commit-tree <index>, <untracked files>, <worktree> (the commits git stash push -u makes, from the snapshot\'s trees; the working copy is not touched)';

function storeLine(message: string, commit: string): string {
  return gitLine(['stash', 'store', '-m', message, commit]);
}

interface Made {
  commit: string;
  untracked: number;
  commands: string[];
}

interface Head {
  headOid: string;
  branch: string;
  subject: string;
  message: string;
  env: Record<string, string>;
}

/**
 * The stash commits from the snapshot's trees (written by the snapshot already); null when there
 * is nothing to stash. The three commits are made here as `git commit-tree -m` would and written
 * by one git process (io/object-batch.ts), or by commit-tree where rb cannot be sure of the
 * identity git would write.
 */
async function fromTrees(repo: Repo, t: StashTrees, h: Head & { headTree: string; identity: CommitIdentity | null }): Promise<Made | null> {
  if (t.index === h.headTree && t.tracked === h.headTree && !t.untracked) return null;
  const run = (args: readonly string[], o: Partial<GitOptions> = {}) => git(args, { cwd: repo.root, ...o });
  const objects = ObjectBatch.forOid(run, h.headOid);
  const commit = (tree: string, parents: string[], msg: string) =>
    addCommit(objects, run, { tree, parents, message: messageFromParagraphs([msg]), identity: h.identity, env: h.env });
  const i = await commit(t.index, [h.headOid], `index on ${h.branch}: ${h.subject}`);
  const u = t.untracked ? await commit(t.untracked, [], `untracked files on ${h.branch}: ${h.subject}`) : null;
  const wCommit = await commit(t.tracked, [h.headOid, i, ...(u ? [u] : [])], `On ${h.branch}: ${h.message}`);
  await objects.flush();
  return { commit: wCommit, untracked: t.untrackedCount, commands: [FROM_TREES] };
}

/** The stash commits the long way: `git stash create` reads the working copy again. */
async function withStashCreate(ctx: StepContext, h: Head): Promise<Made | null> {
  const repo = ctx.repo;
  const created = (await git(['stash', 'create', h.message], { cwd: repo.root, env: h.env })).stdout.trim();
  // untracked (not ignored) files, as stash push -u stores them: a parentless commit
  // (names as bytes: one that is not UTF-8 must reach update-index exactly as it is on disk)
  const listed = (await git(['ls-files', '-z', '-o', '--exclude-standard'], { cwd: repo.root, readOnly: true, binary: true })).stdoutBuf;
  const untracked = splitNulPaths(listed).filter((p) => !p.startsWith(`${ctx.config.rollbacksDir}/`));
  const nested = untracked.filter((p) => p.endsWith('/'));
  // what the run's snapshot could not read (another user's files, mode 000) cannot be stashed either
  const unreadable = Object.values(ctx.results).flatMap((r) => (r.snapshotId && Array.isArray(r.notCaptured) ? (r.notCaptured as { reason: string; path: string }[]) : []))
    .filter((s) => s.reason === 'unreadable').map((s) => s.path);
  const files = untracked.filter((p) => !p.endsWith('/') && !nested.some((n) => p.startsWith(n)) && !unreadable.some((u) => p === u || p.startsWith(u + '/')));
  if (!created && files.length === 0) return null;
  let w0 = created;
  let iCommit: string;
  if (created) {
    iCommit = (await git(['rev-parse', `${created}^2`], { cwd: repo.root, readOnly: true })).stdout.trim();
  } else {
    const tree = (await git(['write-tree'], { cwd: repo.root })).stdout.trim();
    iCommit = (await git(['commit-tree', tree, '-p', h.headOid, '-m', `index on ${h.branch}: ${h.subject}`], { cwd: repo.root, env: h.env })).stdout.trim();
    w0 = iCommit;
  }
  let stashCommit = created;
  if (files.length) {
    const tmp = mkdtempSync(tempDirPrefix(repo.gitDir, 'rb-stash'));
    try {
      const idx = join(tmp, 'index');
      await git(['--literal-pathspecs', 'update-index', '--add', '-z', '--stdin'], { cwd: repo.root, indexFile: idx, input: nulPaths(files) });
      const uTree = (await git(['write-tree'], { cwd: repo.root, indexFile: idx })).stdout.trim();
      const uCommit = (await git(['commit-tree', uTree, '-m', `untracked files on ${h.branch}: ${h.subject}`], { cwd: repo.root, env: h.env })).stdout.trim();
      const wTree = (await git(['rev-parse', `${w0}^{tree}`], { cwd: repo.root, readOnly: true })).stdout.trim();
      stashCommit = (await git(['commit-tree', wTree, '-p', h.headOid, '-p', iCommit, '-p', uCommit, '-m', h.message], { cwd: repo.root, env: h.env })).stdout.trim();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { commit: stashCommit, untracked: files.length, commands: ['git stash create'] };
}

/**
 * Where refs/stash points now: read from the loose ref git's files backend writes it to (`stash
 * store` always writes it loose), else asked of git (`rev-parse`: a packed or reftable ref, or a
 * file rb cannot read as one object id).
 */
async function stashTop(repo: Repo): Promise<string> {
  try {
    const t = await readFile(join(repo.commonDir, 'refs', 'stash'), 'utf8');
    if (/^([0-9a-f]{40}|[0-9a-f]{64})\n$/.test(t)) return t.trim();
  } catch { /* ask git */ }
  return (await git(['rev-parse', '-q', '--verify', 'refs/stash'], { cwd: repo.root, allowFail: true, readOnly: true })).stdout.trim();
}

/** The commits of the stash list, newest first. */
async function stashCommits(repo: Repo): Promise<string[]> {
  const r = await git(['reflog', 'show', '--format=%H', 'refs/stash', '--'], { cwd: repo.root, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}
