/**
 * `rb snapshots push <id>`: send one snapshot to the remote on request (rb sync never does:
 * snapshots hold ignored files such as .env). Without --include-ignored the commit pushed is a
 * copy of the snapshot whose tree lacks `ignored/` (built with mktree and commit-tree: nothing
 * local changes), with a trailer `rb-ignored-omitted: <n>` saying so; the local snapshot keeps
 * everything. The remote ref is refs/rb/snapshots/<id>, pushed without force.
 */
import { git, identityEnv } from '../io/git.js';
import type { Repo } from '../repo.js';
import { SNAPSHOT_REF_PREFIX } from './format.js';

export interface SnapshotPushResult {
  id: string;
  remote: string;
  ref: string;
  /** the commit pushed (the snapshot's own with --include-ignored, else a copy without ignored/) */
  commit: string;
  includeIgnored: boolean;
  /** ignored files in the snapshot: pushed with --include-ignored, left out otherwise */
  ignoredFiles: number;
  /** a few of their paths, to say what stays local */
  ignoredSample: string[];
}

export async function pushSnapshot(repo: Repo, snap: { id: string; commit: string }, opts: { remote: string; includeIgnored: boolean; timeoutMs: number }): Promise<SnapshotPushResult> {
  const cwd = repo.root;
  const ignored = await git(['ls-tree', '-r', '-z', '--name-only', `${snap.commit}^{tree}`, '--', 'ignored'], { cwd, readOnly: true });
  const ignoredPaths = ignored.stdout.split('\0').filter(Boolean).map((p) => p.replace(/^ignored\//, ''));
  let commit = snap.commit;
  if (!opts.includeIgnored && ignoredPaths.length) commit = await withoutIgnored(repo, snap.commit, ignoredPaths.length);
  const ref = `${SNAPSHOT_REF_PREFIX}${snap.id}`;
  const r = await git(['push', '--porcelain', '--no-verify', '--end-of-options', opts.remote, `${commit}:${ref}`], { cwd, allowFail: true, timeoutMs: opts.timeoutMs });
  if (r.code !== 0) {
    const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit ${r.code}`;
    const rejected = r.stdout.split('\n').find((l) => l.startsWith('!'));
    throw new Error(rejected ? `the remote refused ${ref}: ${rejected.split('\t')[2] ?? why}` : why);
  }
  return { id: snap.id, remote: opts.remote, ref, commit, includeIgnored: opts.includeIgnored, ignoredFiles: ignoredPaths.length, ignoredSample: ignoredPaths.slice(0, 5) };
}

/** A copy of the snapshot commit (same parents, same message plus a trailer) whose tree has no ignored/. */
async function withoutIgnored(repo: Repo, commit: string, omitted: number): Promise<string> {
  const cwd = repo.root;
  const top = await git(['ls-tree', '-z', `${commit}^{tree}`], { cwd, readOnly: true });
  const entries = top.stdout.split('\0').filter((e) => e && !e.endsWith('\tignored'));
  const tree = (await git(['mktree', '-z'], { cwd, input: entries.map((e) => e + '\0').join('') })).stdout.trim();
  const parents = (await git(['rev-list', '--parents', '-n', '1', commit], { cwd, readOnly: true })).stdout.trim().split(' ').slice(1);
  const message = (await git(['log', '-1', '--format=%B', commit], { cwd, readOnly: true })).stdout.replace(/\n+$/, '');
  const env = await identityEnv(cwd);
  const out = await git(['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-F', '-'], { cwd, env, input: `${message}\nrb-ignored-omitted: ${omitted}\n` });
  return out.stdout.trim();
}
