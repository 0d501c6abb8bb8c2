/**
 * `snapshot.restore-paths`: put back only the given paths from a snapshot — their files (tracked,
 * untracked and ignored, as the snapshot holds them) and their index entries — leaving every
 * other path, HEAD and the branches alone. For "I want that one file from before the rollback"
 * (`rb snapshots restore <id> -- <path...>`). The run takes a safety snapshot first (its
 * `snapshot` step), so `rb undo` takes the restore back. Paths are literal; a path the snapshot
 * does not hold is refused before the run starts (commands/snapshots.ts). Permission bits other
 * than git's 644/755 and empty directories are not put back (the whole-snapshot restore does).
 */
import { z } from '#zod';
import { git } from '../io/git.js';
import type { Repo } from '../repo.js';
import type { StepKind } from './types.js';
import { pathspecArgs } from './git-common.js';
import { gitLine } from './common.js';

const schema = z.object({ id: z.string().min(1), paths: z.array(z.string().min(1)).min(1) }).strict();
type With = z.infer<typeof schema>;

/** The snapshot's trees: worktree/ (tracked and untracked), index/, ignored/ (null when it holds none). */
export async function snapshotTrees(repo: Repo, commit: string): Promise<Record<'worktree' | 'index' | 'ignored', string | null>> {
  const tree = async (name: string) => {
    const r = await git(['rev-parse', '-q', '--verify', `${commit}:${name}`], { cwd: repo.root, allowFail: true, readOnly: true });
    return r.code === 0 ? r.stdout.trim() : null;
  };
  const [worktree, index, ignored] = await Promise.all([tree('worktree'), tree('index'), tree('ignored')]);
  return { worktree, index, ignored };
}

/** The paths (of `paths`) that `tree` holds, as a file or a folder. */
export async function pathsIn(repo: Repo, tree: string | null, paths: readonly string[]): Promise<string[]> {
  if (!tree) return [];
  const out: string[] = [];
  for (const p of paths) {
    const r = await git(['ls-tree', '--name-only', '-z', tree, '--', p], { cwd: repo.root, allowFail: true, readOnly: true });
    if (r.code === 0 && r.stdout.length) out.push(p);
  }
  return out;
}

export const snapshotRestorePaths: StepKind<With> = {
  kind: 'snapshot.restore-paths',
  summary: 'put back only the given paths (files and index entries) from a snapshot; nothing else is touched',
  with: schema,
  destructive: true,
  describe: (w) => [
    gitLine(['--literal-pathspecs', 'restore', `--source=<snapshot ${w.id}>:worktree`, '--worktree', '--', ...w.paths]),
    gitLine(['--literal-pathspecs', 'restore', `--source=<snapshot ${w.id}>:index`, '--staged', '--', ...w.paths]),
    gitLine(['--literal-pathspecs', 'restore', `--source=<snapshot ${w.id}>:ignored`, '--worktree', '--', '<those of the paths that were ignored>']),
  ],
  async run(w, ctx) {
    const repo = ctx.repo;
    const { resolveSnapshot } = await import('../snapshot/store.js');
    const snap = await resolveSnapshot(repo, w.id);
    const trees = await snapshotTrees(repo, snap.commit);
    const commands: string[] = [];
    const restore = async (source: string, where: '--worktree' | '--staged', paths: string[]) => {
      if (!paths.length) return;
      const spec = pathspecArgs(paths);
      const args = ['--literal-pathspecs', 'restore', `--source=${source}`, where, ...spec.args];
      await git(args, { cwd: repo.root, input: spec.input });
      commands.push(gitLine(['--literal-pathspecs', 'restore', `--source=${source}`, where, '--', ...paths]));
    };
    const [inWorktree, inIndex, inIgnored, inIndexNow] = await Promise.all([
      pathsIn(repo, trees.worktree, w.paths),
      pathsIn(repo, trees.index, w.paths),
      pathsIn(repo, trees.ignored, w.paths),
      git(['--literal-pathspecs', 'ls-files', '-z', '--', ...w.paths], { cwd: repo.root, readOnly: true }).then((r) => w.paths.filter((p) => r.stdout.split('\0').some((f) => f === p || f.startsWith(p.replace(/\/$/, '') + '/')))),
    ]);
    if (!inWorktree.length && !inIgnored.length) throw new Error(`snapshot ${snap.id} holds none of ${w.paths.join(', ')}`);
    await restore(trees.worktree!, '--worktree', inWorktree);
    await restore(trees.ignored!, '--worktree', inIgnored);
    // index entries: as the snapshot's index had them; a path it did not track leaves the index
    const staged = [...new Set([...inIndex, ...inIndexNow])];
    if (staged.length) await restore(trees.index ?? '4b825dc642cb6eb9a060e54bf8d69288fbee4904', '--staged', staged);
    ctx.reporter.output(`put back ${w.paths.join(', ')} from snapshot ${snap.id}`);
    return { commands, restored: snap.id, paths: w.paths };
  },
};
