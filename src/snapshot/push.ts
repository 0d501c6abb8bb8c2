/**
 * `rb snapshots push <id>`: send one snapshot to the remote on request (rb sync never does:
 * snapshots hold ignored files such as .env). Without --include-ignored the commit pushed is a
 * copy of the snapshot whose tree lacks `ignored/` (a new tree and commit; nothing local changes), with a trailer `rb-ignored-omitted: <n>` saying so; the local snapshot keeps
 * everything. The remote ref is refs/rb/snapshots/<id>, pushed without force.
 */
import { git, identityFromConfig, type GitOptions } from '../io/git.js';
import { readObjects } from '../io/cat-file.js';
import { configValues } from '../io/repo-state.js';
import { ObjectBatch, addCommit, commitIdentity } from '../io/object-batch.js';
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

/**
 * A copy of the snapshot commit (same parents, same message plus a trailer) whose tree has no
 * ignored/: the commit and its root tree read through the long-lived cat-file, the new tree and
 * commit hashed here and written by one git process (io/object-batch.ts).
 */
async function withoutIgnored(repo: Repo, commit: string, omitted: number): Promise<string> {
  const cwd = repo.root;
  const [raw, rootTree] = await readObjects(cwd, [commit, `${commit}^{tree}`]);
  if (!raw || !rootTree) throw new Error(`snapshot commit ${commit} cannot be read`);
  const split = raw.indexOf('\n\n');
  const headers = raw.subarray(0, split < 0 ? raw.length : split).toString('utf8').split('\n');
  const parents = headers.filter((l) => l.startsWith('parent ')).map((l) => l.slice(7));
  const message = (split < 0 ? '' : raw.subarray(split + 2).toString('utf8')).replace(/\n+$/, '');
  const run = (args: readonly string[], o: Partial<GitOptions> = {}) => git(args, { cwd, ...o });
  const objects = ObjectBatch.forOid(run, commit);
  const tree = objects.add('tree', withoutEntry(rootTree, 'ignored', commit.length / 2));
  const cfg = await configValues(cwd);
  const env = identityFromConfig(cfg);
  const out = await addCommit(objects, run, {
    tree, parents, message: `${message}\nrb-ignored-omitted: ${omitted}\n`, identity: commitIdentity(cfg, { ...process.env, ...env }), env,
  });
  await objects.flush();
  return out;
}

/** A tree's bytes without the entry `name` (entries: "<mode> <name>\0<binary id>"). */
function withoutEntry(body: Buffer, name: string, hashLen: number): Buffer {
  const keep: Buffer[] = [];
  for (let i = 0; i < body.length;) {
    const nul = body.indexOf(0, i);
    const end = nul + 1 + hashLen;
    const sp = body.indexOf(0x20, i);
    if (body.toString('latin1', sp + 1, nul) !== name) keep.push(body.subarray(i, end));
    i = end;
  }
  return Buffer.concat(keep);
}
