/**
 * `rb diff <run|snapshot> [path...]`: what a snapshot holds against the working copy — a patch
 * from the working copy (`-`) to the snapshot (`+`), i.e. what restoring it would put back.
 * A run stands for its snapshot (the state before it). Read-only (snapshot/compare.ts).
 */
import { isAbsolute, relative, resolve } from 'node:path';
import { findRepo, type Repo } from '../repo.js';
import { findRun } from '../journal/journal.js';
import { UsageError } from '../errors.js';
import { print, printJson, showPath } from '../ui/format.js';
import type { SnapshotInfo } from '../snapshot/format.js';

/** A run id (its snapshot) or a snapshot id, as the user typed it; exit 2 naming what to run when neither. */
export async function snapshotOf(repo: Repo, arg: string): Promise<{ snap: SnapshotInfo; run: string | null }> {
  const { resolveSnapshot } = await import('../snapshot/index.js');
  const run = findRun(repo, arg);
  if (run) {
    if (!run.snapshot) throw new UsageError(`run ${run.id} took no snapshot: there is nothing to compare.`, { next: 'run `rb history` to pick a run with a snapshot' });
    const snap = await resolveSnapshot(repo, run.snapshot).catch(() => null);
    if (!snap) throw new UsageError(`the snapshot ${run.snapshot} of run ${run.id} no longer exists (pruned?).`, { next: 'run `rb snapshots list` to see what is left' });
    return { snap, run: run.id };
  }
  const snap = await resolveSnapshot(repo, arg).catch(() => null);
  if (!snap) throw new UsageError(`no run or snapshot "${arg}" in this repository.`, { next: 'run `rb history` or `rb snapshots list`' });
  return { snap, run: null };
}

/** User paths (relative to where rb was started) as paths from the repository root; exit 2 for one outside it. */
export function repoPaths(repo: Repo, paths: readonly string[]): string[] {
  return paths.map((p) => {
    const rel = relative(repo.root, resolve(repo.cwd, p)).split('\\').join('/');
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new UsageError(`${showPath(p)} is not a path inside the repository (${repo.root}).`, { next: 'name files or folders inside the repository' });
    }
    return rel;
  });
}

export async function diffCommand(target: string, paths: string[], opts: { json?: boolean; nameOnly?: boolean }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const { snap, run } = await snapshotOf(repo, target);
  const wanted = repoPaths(repo, paths);
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const compare = await import('../snapshot/compare.js');
  const [now, then] = await Promise.all([compare.workingCopyTree(repo, [config.rollbacksDir]), compare.snapshotTree(repo, snap)]);
  // a path in neither the snapshot nor the working copy is a typo: say so rather than print nothing
  for (const p of wanted) {
    if (!(await compare.treeHas(repo, then, p)) && !(await compare.treeHas(repo, now, p))) {
      throw new UsageError(`${showPath(p)} is neither in snapshot ${snap.id} nor in the working copy (ignored files are not compared).`, { next: `\`rb diff ${target}\` lists every file that differs` });
    }
  }
  const files = await compare.changedFiles(repo, now, then, wanted);
  const about = run ? `snapshot ${snap.id} (the state before run ${run})` : `snapshot ${snap.id}`;
  if (opts.json) {
    printJson({ snapshot: snap.id, run, taken: snap.createdAt, paths: wanted, files, summary: compare.countChanges(files) });
    return 0;
  }
  if (!files.length) {
    print(`The working copy holds the same files as ${about}${wanted.length ? ` under ${wanted.map(showPath).join(', ')}` : ''} (tracked and untracked; ignored files are not compared).`);
    return 0;
  }
  print(`${about} against the working copy — what restoring it changes: ${compare.countChanges(files)} (- working copy, + snapshot).`);
  if (opts.nameOnly) print(files.map((f) => `${f.change.padEnd(8)} ${showPath(f.path)}`).join('\n'));
  else process.stdout.write(await compare.patch(repo, now, then, wanted));
  const restore = run ? `rb undo ${run}` : `rb snapshots restore ${snap.id}`;
  print(`\nTake back one file: \`rb snapshots restore ${snap.id} -- <path>\`; everything: \`${restore}\``);
  return 0;
}
