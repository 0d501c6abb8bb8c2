/**
 * `git.commit-all`: commit every change (tracked and untracked, not ignored) on the current
 * branch, made with plumbing — a temporary index, write-tree, commit-tree and a compare-and-swap
 * update-ref — so the user's hooks (pre-commit, prepare-commit-msg) and broken gpg signing
 * cannot block it (safety.md §2). rollbacks/ and nested repositories are never part of it, nor
 * are keep paths (.env), rb's own uncommitted files and untracked files that look like secrets
 * (wip-left-out.ts): those are named in the output and in the result (`leftOut`), and stay on
 * disk.
 */
import { z } from '#zod';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { git, identityEnv, splitZ } from '../io/git.js';
import type { StepKind } from './types.js';
import type { Repo } from '../repo.js';
import { headState } from './git-common.js';
import { commandLine, gitLine } from './common.js';
import { tempDirPrefix } from '../journal/leftovers.js';
import { describeLeftOut, leftOutOfWipCommit } from './wip-left-out.js';

const schema = z.object({ message: z.string().min(1), exclude: z.array(z.string()).optional() }).strict();
type With = z.infer<typeof schema>;

const INDEX = 'GIT_INDEX_FILE=<temporary copy of the index>';
const addArgs = (excludes: string[]) => ['add', '-A', '--', '.', ...excludes];
/** A tracked path left out of the commit keeps HEAD's version in it. */
const keepBackArgs = (head: string, paths: string[]) => ['reset', '-q', head, '--', ...paths];
const commitTreeArgs = (tree: string, parent: string | null, message: string) => ['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message];
/** Compare-and-swap: the branch moves only if it is still at `old`. */
const updateRefArgs = (message: string, branch: string | null, commit: string, old: string) =>
  ['update-ref', '-m', `rb: ${message.split('\n')[0]}`, ...(branch ? [branch] : ['--no-deref', 'HEAD']), commit, old];

/** The commands, in the plan (with marks for what the run computes) and the journal alike. */
function commitLines(w: With, v: { excludes: string; keptBack: string | null; tree: string; parent: string | null; commit: string; branch: string | null }): string[] {
  return [
    `${INDEX} ${gitLine(addArgs([]))}${v.excludes ? ` ${v.excludes}` : ''}`,
    ...(v.keptBack !== null ? [`${INDEX} ${gitLine(keepBackArgs(v.parent ?? '<oid of HEAD>', []))} ${v.keptBack}  # tracked files left out keep HEAD's version`] : []),
    `${INDEX} git write-tree`,
    gitLine(commitTreeArgs(v.tree, v.parent, w.message)),
    gitLine(updateRefArgs(w.message, v.branch, v.commit, v.parent ?? '')),
  ];
}

export const gitCommitAll: StepKind<With> = {
  kind: 'git.commit-all',
  summary: 'commit all changes (not ignored files, not rollbacks/) with plumbing, so hooks and signing cannot block it',
  with: schema,
  destructive: false,
  mutates: true,
  describe: (w, ctx) => commitLines(w, {
    excludes: `[':(exclude,literal)<path: ${ctx.config.rollbacksDir}, with.exclude, nested repositories, keep paths (${ctx.config.keep.join(', ') || 'none'}), rb's own files, untracked files that look like secrets>']…`,
    keptBack: '[<tracked path left out>]…',
    tree: '<tree>',
    parent: '<oid of HEAD>',
    commit: '<commit>',
    branch: ctx.run.branch ? `refs/heads/${ctx.run.branch}` : null,
  }),
  async run(w, ctx) {
    const repo = ctx.repo;
    const before = await headState(repo);
    if (ctx.previous?.commit && before.oid === ctx.previous.commit) {
      // resumed: the commit was made by the interrupted attempt, which may have been killed
      // before it installed the index of that commit; without it, the files the commit added
      // would count as untracked and stay on disk across the switch to another branch
      await installCommitIndex(ctx.repo, before.oid);
      return { ...ctx.previous, created: true };
    }
    const tmp = mkdtempSync(tempDirPrefix(repo.gitDir, 'rb-commit'));
    try {
      const idx = join(tmp, 'index');
      const real = join(repo.gitDir, 'index');
      if (existsSync(real)) copyFileSync(real, idx);
      // nested repositories (untracked dirs with their own .git) are left alone
      const [others, untracked] = await Promise.all([
        git(['ls-files', '-z', '-o', '--directory', '--exclude-standard'], { cwd: repo.root, readOnly: true }),
        git(['ls-files', '-z', '-o', '--exclude-standard'], { cwd: repo.root, readOnly: true }),
      ]);
      const nested = others.stdout.split('\0').filter((d) => d.endsWith('/') && existsSync(join(repo.root, d, '.git')));
      const leftOut = await leftOutOfWipCommit(repo, { headOid: before.oid, keep: ctx.config.keep, untracked: splitZ(untracked.stdout) });
      // naming an ignored path in a pathspec makes `git add` fail: exclude only what is not ignored anyway
      const candidates = [ctx.config.rollbacksDir, ...(w.exclude ?? []), ...nested.map((d) => d.replace(/\/$/, ''))];
      const ignored = candidates.length
        ? new Set((await git(['check-ignore', '-z', '--stdin'], { cwd: repo.root, allowFail: true, readOnly: true, input: candidates.map((c) => `${c}/`).join('\0') + '\0' })).stdout.split('\0').filter(Boolean).map((p) => p.replace(/\/$/, '')))
        : new Set<string>();
      const excl = [...candidates.filter((p) => !ignored.has(p)), ...leftOut.map((l) => l.path)].map((p) => `:(exclude,literal)${p}`);
      await git(addArgs(excl), { cwd: repo.root, indexFile: idx });
      // a tracked path left out keeps HEAD's version in the commit (a staged change to it too)
      const trackedOut = leftOut.filter((l) => l.tracked).map((l) => `:(literal)${l.path}`);
      if (trackedOut.length) {
        if (before.oid) await git(keepBackArgs(before.oid, trackedOut), { cwd: repo.root, indexFile: idx });
        else await git(['rm', '-q', '--cached', '--ignore-unmatch', '--', ...trackedOut], { cwd: repo.root, indexFile: idx });
      }
      const leftOutResult = { leftOut, leftOutPaths: leftOut.map((l) => l.path), leftOutList: leftOut.length ? describeLeftOut(leftOut) : 'none' };
      if (leftOut.length) ctx.reporter.warn(`left out of the WIP commit (still on disk, and in the snapshot): ${describeLeftOut(leftOut)}`);
      const tree = (await git(['write-tree'], { cwd: repo.root, indexFile: idx })).stdout.trim();
      const headTree = before.oid ? (await git(['rev-parse', `${before.oid}^{tree}`], { cwd: repo.root, readOnly: true })).stdout.trim() : null;
      if (tree === headTree) {
        ctx.reporter.output('nothing to commit: the working tree matches HEAD');
        return { skipped: 'nothing to commit', commit: before.oid, created: false, summary: 'none (nothing to commit)', ...leftOutResult };
      }
      const env = await identityEnv(repo.root);
      const commit = (await git(commitTreeArgs(tree, before.oid, w.message), { cwd: repo.root, env })).stdout.trim();
      // journaled before HEAD moves: a resumed attempt knows the commit is its own
      // (with what it leaves out: a resumed run still keeps those files on disk across the switch)
      await ctx.checkpoint({ commit, movedRefs: before.ref ? [{ ref: before.ref, from: before.oid ?? '', to: commit }] : [], ...leftOutResult });
      await git(updateRefArgs(w.message, before.ref, commit, before.oid ?? ''), { cwd: repo.root });
      // the real index now matches the new commit: install the temporary one with git's lock protocol
      const lock = join(repo.gitDir, 'index.lock');
      const fd = openSync(lock, 'wx');
      try {
        writeSync(fd, readFileSync(idx));
      } finally {
        closeSync(fd);
      }
      renameSync(lock, real);
      await git(['update-index', '-q', '--refresh'], { cwd: repo.root, allowFail: true });
      const after = await headState(repo);
      if (after.oid !== commit) throw new Error(`after the WIP commit, HEAD is ${after.oid}, expected ${commit}`);
      const files = (await git(['diff-tree', '--no-commit-id', '--name-only', '-r', '-z', ...(before.oid ? [before.oid] : ['--root']), commit], { cwd: repo.root, readOnly: true })).stdout.split('\0').filter(Boolean).length;
      ctx.reporter.output(`committed ${files} file(s) as ${commit.slice(0, 12)}`);
      return {
        commands: commitLines(w, { excludes: commandLine(excl), keptBack: before.oid && trackedOut.length ? commandLine(trackedOut) : null, tree, parent: before.oid, commit, branch: before.ref }),
        commit,
        created: true,
        files,
        summary: `${commit.slice(0, 12)} (${files} file${files === 1 ? '' : 's'})`,
        ...leftOutResult,
        movedRefs: before.ref ? [{ ref: before.ref, from: before.oid ?? '', to: commit }] : [],
      };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};

/** Make the index match `commit` when it does not (read-tree keeps nothing else of it; refresh restats). */
async function installCommitIndex(repo: Repo, commit: string): Promise<void> {
  const [index, tree] = await Promise.all([
    git(['write-tree'], { cwd: repo.root, allowFail: true }),
    git(['rev-parse', `${commit}^{tree}`], { cwd: repo.root, readOnly: true }),
  ]);
  if (index.code === 0 && index.stdout.trim() === tree.stdout.trim()) return;
  await git(['read-tree', commit], { cwd: repo.root });
  await git(['update-index', '-q', '--refresh'], { cwd: repo.root, allowFail: true });
}
