/**
 * What a restore would have to write, remove or re-mode that this user cannot (issue 22), found
 * before it changes anything — by `rb undo`, `rb abort` and `rb snapshots restore` in their
 * preflight, and by restoreSnapshot itself before its safety snapshot.
 *
 * Two passes:
 *  1. Every directory the restore may touch: the parents of the paths read-tree writes or
 *     removes (`diff-index` against the snapshot's worktree/ tree), of the untracked files clean
 *     may remove, of the ignored files, raw files and empty directories it writes back, and the
 *     directories of the ignored entries there now (removed where the snapshot has none).
 *     This user's read-only ones are opened for the restore (`openUp`); the others are looked at
 *     closely in pass 2.
 *  2. For each directory this user cannot write, entry by entry: a file whose bytes and type
 *     already are what the snapshot holds needs nothing (the entry is left alone: `untouched`);
 *     anything else is a problem. Untracked and ignored problems can be left in place (`leave`,
 *     with --skip-unwritable); a tracked one cannot (read-tree writes every index entry).
 *  Also: a recorded mode the restore must set on an entry someone else owns.
 *
 * As root nothing is checked.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { git } from '../io/git.js';
import type { Repo } from '../repo.js';
import { isSuperuser, myUid, ownerName } from '../io/access.js';
import { checkChanges, mergeReports, type AccessReport, type Blocked, type Change } from '../engine/access.js';
import { catFileBatch, chunkArgs, splitNul, type SkippedEntry } from './format.js';

/** The parts of a snapshot the analysis reads. */
export interface RestoreTarget {
  /** the snapshot's worktree/ and ignored/ trees */
  worktreeTree: string;
  ignoredTree: string;
  /** meta/raw.list paths, meta/emptydirs, meta/perms (path -> mode), meta/skipped */
  rawPaths: readonly string[];
  emptyDirs: readonly string[];
  perms: ReadonlyMap<string, number>;
  skipped: readonly SkippedEntry[];
  /** snapshots.skipIgnored: ignored names never captured (never removed by a restore either) */
  skipNames: readonly string[];
}

export interface RestoreAccess extends AccessReport {
  /**
   * Paths the restore must not write, remove or re-mode: entries in directories this user cannot
   * write that already are what the snapshot holds, plus (with skipUnwritable) the blocked
   * entries that may be left as they are.
   */
  leave: Set<string>;
  /** the subset of `leave` the snapshot has in its worktree/ tree (read-tree must be given a tree without them) */
  leaveInTree: string[];
  /** one line per blocked entry left in place (with skipUnwritable), for the run's warnings */
  leftNotes: string[];
}

/** Nothing to do differently (root, or no problem found). */
export const allClear = (): RestoreAccess => ({ blocked: [], openUp: [], leave: new Set(), leaveInTree: [], leftNotes: [] });

/** Run a git query in the repository (read-only). */
const query = (repo: Repo, args: string[], o: { input?: string; binary?: boolean } = {}) =>
  git(args, { cwd: repo.root, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' }, ...o });

/**
 * Pass 1 and 2 (see the module comment). With `skipUnwritable`, blocked entries that may stay
 * where they are go into `leave` (named in `leftNotes`) instead of `blocked`.
 */
export async function analyzeRestore(repo: Repo, t: RestoreTarget, skipUnwritable: boolean): Promise<RestoreAccess> {
  if (isSuperuser()) return allClear();
  const root = repo.root;
  const skippedPaths = t.skipped.map((s) => s.path);
  const atSkipped = (p: string) => skippedPaths.some((s) => p === s || p.startsWith(s + '/'));
  const skipNames = new Set(t.skipNames);

  // --- pass 1: every directory the restore may touch -----------------------------------------
  const [diffR, untrackedR, ignoredLsR, ignoredNowR] = await Promise.all([
    query(repo, ['diff-index', '-z', '--name-only', '--no-renames', t.worktreeTree]),
    query(repo, ['ls-files', '-z', '-o', '--exclude-standard']),
    query(repo, ['ls-tree', '-r', '-z', '--name-only', t.ignoredTree]),
    query(repo, ['ls-files', '-z', '-o', '-i', '--directory', '--exclude-standard']),
  ]);
  const changes: Change[] = [];
  // the files written back (a file there now is replaced: it must be readable, to be in the safety snapshot)
  const written = new Set([...splitNul(diffR.stdout), ...splitNul(ignoredLsR.stdout), ...t.rawPaths]);
  for (const p of written) changes.push({ op: 'write', path: p, skippable: true, mustRead: true });
  for (const p of splitNul(untrackedR.stdout)) if (!p.endsWith('/') && !atSkipped(p) && !written.has(p)) changes.push({ op: 'write', path: p, skippable: true });
  for (const d of t.emptyDirs) changes.push({ op: 'write', path: `${d}/.`, skippable: true });
  for (const e of splitNul(ignoredNowR.stdout)) {
    const p = e.replace(/\/$/, '');
    if (p && !atSkipped(p) && !skipNames.has(posix.basename(p))) changes.push({ op: 'remove', path: p, skippable: true });
  }
  const pass1 = await checkChanges(root, changes, { keep: (p) => atSkipped(p) || skipNames.has(posix.basename(p)) });

  // --- pass 2: a close look at each directory this user cannot write --------------------------
  const leave = new Set<string>();
  const leaveInTree: string[] = [];
  const leftNotes: string[] = [];
  const blocked: Blocked[] = [];
  for (const b of pass1.blocked) {
    if (!b.path.endsWith('/')) {
      // a file it cannot read (the safety snapshot cannot keep it), or an entry in someone else's
      // sticky directory: an untracked or ignored one may stay as it is, a tracked one may not
      const [tracked, inTree] = await Promise.all([
        query(repo, ['ls-files', '-z', '--', b.path]).then((r) => r.stdout !== ''),
        query(repo, ['ls-tree', '-z', '--name-only', t.worktreeTree, '--', b.path]).then((r) => r.stdout !== ''),
      ]);
      if (skipUnwritable && !tracked) {
        leave.add(b.path);
        if (inTree) leaveInTree.push(b.path);
        leftNotes.push(`${b.path}: ${b.why}, left as it is (--skip-unwritable)`);
      } else blocked.push({ ...b, skippable: !tracked });
      continue;
    }
    const dir = b.path === './' ? '' : b.path.slice(0, -1);
    const look = await lookInto(repo, t, dir, atSkipped);
    for (const u of look.untouched) {
      leave.add(u.path);
      if (u.inTree) leaveInTree.push(u.path);
    }
    if (look.problems.length === 0) continue;
    const skippable = look.problems.every((p) => p.skippable);
    if (skipUnwritable && skippable) {
      for (const p of look.problems) {
        leave.add(p.path);
        if (p.inTree) leaveInTree.push(p.path);
        leftNotes.push(`${p.path}: ${p.what}, left as it is (${b.path} is ${b.why}; --skip-unwritable)`);
      }
    } else {
      blocked.push({ ...b, skippable });
    }
  }

  // --- modes the restore must set on someone else's entries -------------------------------------
  for (const [p, mode] of t.perms) {
    if (leave.has(p) || written.has(p) || atSkipped(p)) continue;
    let st;
    try {
      st = await lstat(join(root, p));
    } catch {
      continue;
    }
    if (st.isSymbolicLink() || st.uid === myUid() || (st.mode & 0o7777) === mode) continue;
    const path = st.isDirectory() ? `${p}/` : p;
    if (skipUnwritable) {
      leave.add(p);
      leftNotes.push(`${path}: mode ${(st.mode & 0o7777).toString(8)} left as it is, the snapshot has ${mode.toString(8)} (owned by ${ownerName(st.uid)}; --skip-unwritable)`);
    } else blocked.push({ path, why: `owned by ${ownerName(st.uid)}: its mode cannot be set back to ${mode.toString(8)}`, skippable: true });
  }
  const report = mergeReports({ blocked, openUp: pass1.openUp });
  return { ...report, leave, leaveInTree, leftNotes };
}

/** An entry of a directory this user cannot write. */
interface Looked {
  path: string;
  /** the snapshot has it in worktree/ (rather than in ignored/, or not at all) */
  inTree: boolean;
}
interface Problem extends Looked {
  /** what the restore would do there, in words */
  what: string;
  /** it is untracked or ignored now and in the snapshot: leaving it loses nothing */
  skippable: boolean;
}

/** One entry of a tree listing (`ls-tree -z`): mode, type, oid. */
interface TreeItem {
  mode: string;
  type: string;
  oid: string;
}

async function treeItems(repo: Repo, tree: string, dir: string): Promise<Map<string, TreeItem>> {
  const r = await query(repo, ['ls-tree', '-z', tree, ...(dir ? ['--', `${dir}/`] : [])]);
  const out = new Map<string, TreeItem>();
  for (const rec of splitNul(r.stdout)) {
    const tab = rec.indexOf('\t');
    const [mode, type, oid] = rec.slice(0, tab).split(' ');
    out.set(posix.basename(rec.slice(tab + 1)), { mode: mode!, type: type!, oid: oid! });
  }
  return out;
}

/**
 * The entries directly in `dir` (a directory this user cannot write): which already are what
 * the snapshot holds, and what the restore would have to change.
 */
async function lookInto(repo: Repo, t: RestoreTarget, dir: string, atSkipped: (p: string) => boolean): Promise<{ untouched: Looked[]; problems: Problem[] }> {
  const root = repo.root;
  const prefix = dir ? `${dir}/` : '';
  const [inTree, inIgnored, idxR] = await Promise.all([
    treeItems(repo, t.worktreeTree, dir),
    treeItems(repo, t.ignoredTree, dir),
    query(repo, ['ls-files', '-z', '--', ...(dir ? [`${dir}/`] : ['.'])]),
  ]);
  // the current index: entries directly in dir, and subdirectories holding entries
  const indexed = new Set<string>();
  const indexedUnder = new Set<string>();
  for (const p of splitNul(idxR.stdout)) {
    const rest = p.slice(prefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) indexed.add(rest);
    else indexedUnder.add(rest.slice(0, slash));
  }
  let onDisk: Map<string, 'dir' | 'file' | 'link' | 'other'>;
  try {
    onDisk = new Map((await readdir(join(root, dir), { withFileTypes: true })).map((e) => [e.name, e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'link' : e.isFile() ? 'file' : 'other'] as const));
  } catch {
    // it cannot even be listed: everything the snapshot has in it is a problem
    onDisk = new Map();
  }
  const untouched: Looked[] = [];
  const problems: Problem[] = [];
  const sameFiles: { name: string; want: TreeItem; raw: boolean }[] = [];
  for (const name of new Set([...inTree.keys(), ...inIgnored.keys(), ...onDisk.keys()])) {
    const path = prefix + name;
    if (name === '.git' || atSkipped(path)) continue;
    const fromTree = inTree.get(name);
    const want = fromTree ?? inIgnored.get(name);
    const have = onDisk.get(name);
    const tracked = indexed.has(name) || indexedUnder.has(name);
    const problem = (what: string, skippable = !tracked) => problems.push({ path, inTree: Boolean(fromTree), what, skippable });
    if (want?.type === 'tree' || have === 'dir') {
      if (want?.type === 'tree' && have === 'dir') continue; // looked at on its own when it is blocked too
      if (have === 'dir') {
        if (await isNestedRepo(join(root, path))) continue; // never removed
        problem('a directory the snapshot does not have would be removed');
      } else problem(have ? 'would be replaced by a directory' : 'a directory would be created');
      continue;
    }
    if (want?.type === 'commit') continue; // a gitlink: read-tree leaves the directory alone
    if (!want) {
      problem(tracked ? 'tracked now, not in the snapshot: would be removed' : 'not in the snapshot: would be removed', !tracked);
      continue;
    }
    if (!have) {
      problem('would be written back');
      continue;
    }
    sameFiles.push({ name, want, raw: !fromTree || t.rawPaths.includes(path) });
  }
  // the files on disk against the snapshot's blobs: hashed as the snapshot stored them (ignored
  // and raw files without filters, others as git add would)
  const equal = await sameAsSnapshot(repo, dir, sameFiles);
  for (const f of sameFiles) {
    const path = prefix + f.name;
    const fromTree = inTree.has(f.name);
    const tracked = indexed.has(f.name);
    if (!equal.has(f.name)) {
      problems.push({ path, inTree: fromTree, what: 'differs from the snapshot: would be written back', skippable: !tracked });
      continue;
    }
    // already right: read-tree keeps a tracked one (its index entry matches); an untracked one is
    // taken out of the tree read-tree writes, and an ignored one is not written again
    if (fromTree && tracked) continue;
    untouched.push({ path, inTree: fromTree });
  }
  return { untouched, problems };
}

async function isNestedRepo(abs: string): Promise<boolean> {
  try {
    await lstat(join(abs, '.git'));
    return true;
  } catch {
    return false;
  }
}

/** Which of the files (names in `dir`) already have the snapshot's type, executable bit and bytes. */
async function sameAsSnapshot(repo: Repo, dir: string, files: readonly { name: string; want: TreeItem; raw: boolean }[]): Promise<Set<string>> {
  const root = repo.root;
  const prefix = dir ? `${dir}/` : '';
  const out = new Set<string>();
  const toHash: { name: string; want: TreeItem; raw: boolean }[] = [];
  const links: { name: string; want: TreeItem }[] = [];
  for (const f of files) {
    let st;
    try {
      st = await lstat(join(root, prefix + f.name));
    } catch {
      continue;
    }
    if (f.want.mode === '120000') {
      if (st.isSymbolicLink()) links.push(f);
    } else if (st.isFile() && (f.want.mode === '100755') === ((st.mode & 0o100) !== 0)) toHash.push(f);
  }
  if (links.length) {
    const blobs = await catFileBatch(repo, links.map((l) => l.want.oid));
    await Promise.all(links.map(async (l, i) => {
      const target = await readlink(join(root, prefix + l.name), { encoding: 'buffer' }).catch(() => null);
      if (target && blobs[i] && target.equals(blobs[i]!)) out.add(l.name);
    }));
  }
  for (const raw of [true, false]) {
    const group = toHash.filter((f) => f.raw === raw);
    for (const chunk of chunkArgs(group.map((f) => prefix + f.name))) {
      const r = await git(['hash-object', ...(raw ? ['--no-filters'] : []), '--', ...chunk], { cwd: root, readOnly: true, allowFail: true });
      const oids = r.stdout.split('\n').filter(Boolean);
      if (r.code !== 0 || oids.length !== chunk.length) continue; // unreadable: not the same, as far as rb can tell
      chunk.forEach((p, i) => {
        const f = group.find((g) => prefix + g.name === p)!;
        if (f.want.oid === oids[i]) out.add(f.name);
      });
    }
  }
  return out;
}
