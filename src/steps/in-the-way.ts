/**
 * Untracked and ignored entries in the way of a commit's files — the steps that move tracked
 * files (git.switch, git.reset-hard, git.restore-files) must write a file where one of these is:
 *  - a file the commit tracks that is untracked here (`git rm --cached f`, or a new file that
 *    happens to exist in the baseline), or ignored here;
 *  - an untracked file where the commit has a directory (`lib` here, `lib/x.js` there);
 *  - a directory holding untracked or ignored files where the commit has a file.
 * `git switch --discard-changes` refuses the first two ("Untracked working tree file … would be
 * overwritten") and the third ("would lose untracked files in it"), and silently writes over
 * ignored files; `git reset --hard` and `git restore` write over all of them.
 *
 * The snapshot runs first: what it holds is safe to remove, and `rb undo` gives it back byte for
 * byte. So the preflight (assertInTheWayCaptured) stops the run, nothing changed, when an entry
 * in the way is one the snapshot will not hold (unreadable, a nested repository, inside an ignored
 * directory it skips, over maxIgnoredBytes, rb's records folder); at run time each step checks,
 * before git moves anything, that the snapshot holds every entry in the way byte for byte
 * (verifyHeldBySnapshot), and git.switch removes them (removeInTheWay) before it switches.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, lstatSync, openSync, readlinkSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, shellQuote, splitZ } from '../io/git.js';
import { memoized } from '../io/repo-state.js';
import { objectInfo } from '../io/cat-file.js';
import { fsPath } from '../io/path-bytes.js';
import { showPath } from '../ui/format.js';
import type { SkippedEntry } from '../snapshot/format.js';

/** One entry in the way: a file (or symlink), or a directory and the untracked/ignored files in it. */
export interface InTheWay {
  /** repository-relative */
  path: string;
  dir: boolean;
  /** the files the entry holds (itself when it is a file); a nested repository ends with '/' */
  files: string[];
}

/** One record of `git diff --raw <target>`: the status letter, the target's mode, the path. */
export interface TargetDiffRecord {
  status: string;
  targetMode: string;
  path: string;
}

/**
 * Index and working copy against a commit (`git diff --raw <target> -- <paths>`), asked once
 * while the index and files stay as they are (the preflight's and the step's access check read
 * the same answer).
 */
export function targetDiff(root: string, target: string, paths: readonly string[] = []): Promise<TargetDiffRecord[]> {
  return memoized(`target diff ${root} ${target} ${JSON.stringify(paths)}`, async () => {
    const r = await git(['diff', '--raw', '-z', '--no-renames', '--no-ext-diff', '--no-textconv', target, '--', ...paths], { cwd: root, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' } });
    const recs = splitZ(r.stdout);
    const out: TargetDiffRecord[] = [];
    for (let i = 0; i + 1 < recs.length; i += 2) {
      // ":<target mode> <worktree mode> <oid> <oid> <status>"
      const [targetMode = '', , , , status = ''] = recs[i]!.slice(1).split(' ');
      out.push({ status: status.charAt(0), targetMode, path: recs[i + 1]! });
    }
    return out;
  }, ['files']);
}

type Kind = 'missing' | 'file' | 'dir';
/** What is at a path, not following a symlink there (a symlink is a 'file'). */
function kindOf(abs: string): Kind {
  try {
    return lstatSync(fsPath(abs)).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'missing';
  }
}

/** The untracked and ignored entries the commit `target`'s files (those under `paths`, else all) would overwrite. */
export async function entriesInTheWay(root: string, target: string, paths: readonly string[] = []): Promise<InTheWay[]> {
  const diff = await targetDiff(root, target, paths);
  const seen = new Map<string, Kind>();
  const kindAt = (rel: string): Kind => {
    let k = seen.get(rel);
    if (!k) seen.set(rel, (k = kindOf(join(root, rel))));
    return k;
  };
  const files: string[] = [];
  const dirs: string[] = [];
  const parentFiles = new Set<string>();
  for (const d of diff) {
    // A: only here (git removes it); a submodule of the target is never checked out by these steps
    if (d.status === 'A' || d.targetMode === '160000') continue;
    // the directories above it, from the top: a file (or a symlink: never followed) where the
    // target has a directory is in the way; a missing one means nothing is
    const parts = d.path.split('/');
    let above: Kind = 'dir';
    for (let i = 1; i < parts.length && above === 'dir'; i++) {
      const p = parts.slice(0, i).join('/');
      above = kindAt(p);
      if (above === 'file') parentFiles.add(p);
    }
    if (above !== 'dir') continue;
    const kind = kindAt(d.path);
    // D with a file on disk: the index does not have it (untracked or ignored); M/T: tracked
    if (kind === 'file' && d.status === 'D') files.push(d.path);
    else if (kind === 'dir') dirs.push(d.path);
  }
  const out: InTheWay[] = files.map((path) => ({ path, dir: false, files: [path] }));
  if (parentFiles.size) {
    // a file where the commit has a directory: in the way unless the index has it (git removes a tracked one itself)
    const asked = [...parentFiles];
    const tracked = new Set(splitZ((await git(['ls-files', '-z', '--', ...asked], { cwd: root, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' } })).stdout));
    for (const p of asked) if (!tracked.has(p)) out.push({ path: p, dir: false, files: [p] });
  }
  if (dirs.length) {
    // a directory where the commit has a file: its untracked and ignored files (a nested repository as `dir/`)
    const others = splitZ((await git(['ls-files', '-z', '-o', '--', ...dirs], { cwd: root, readOnly: true, env: { GIT_LITERAL_PATHSPECS: '1' } })).stdout);
    for (const d of dirs) {
      const held = others.filter((o) => o.startsWith(`${d}/`));
      if (held.length) out.push({ path: d, dir: true, files: held });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Entries in the way that a snapshot taken now would not hold, each with why (from the snapshot's own preview). */
export function notHeld(entries: readonly InTheWay[], skipped: readonly SkippedEntry[], rollbacksDir: string): { path: string; why: string }[] {
  const records = rollbacksDir.replace(/^\.?\/+|\/+$/g, '');
  const out: { path: string; why: string }[] = [];
  for (const e of entries) {
    for (const f of e.files) {
      const p = f.replace(/\/$/, '');
      const s = skipped.find((k) => p === k.path || p.startsWith(`${k.path}/`));
      // (a file of a nested repository: the repository is what to move)
      if (s?.reason === 'nested-repo' || f.endsWith('/')) {
        const repo = s?.reason === 'nested-repo' ? s.path : p;
        if (!out.some((o) => o.path === repo)) out.push({ path: repo, why: 'a nested git repository' });
        continue;
      }
      const why = s ? skippedWords(s.reason) : records && (p === records || p.startsWith(`${records}/`)) ? "rb's records folder, never part of a snapshot" : null;
      if (why) out.push({ path: p, why });
    }
  }
  return out;
}

function skippedWords(reason: string): string {
  switch (reason) {
    case 'unreadable': return 'it cannot be read';
    case 'listed': return 'inside an ignored directory snapshots skip (snapshots.skipIgnored, or a dependency directory)';
    case 'too-big': return 'ignored and larger than snapshots.maxIgnoredBytes';
    case 'non-utf8-name': return 'its name is not UTF-8';
    case 'special-file': return 'not a regular file, symlink or directory';
    default: return `not captured (${reason})`;
  }
}

/** One line naming the entries in the way (for output, the journal and the dry run). */
export function describeInTheWay(entries: readonly InTheWay[]): string {
  return entries.map((e) => (e.dir ? `${showPath(e.path)}/ (${e.files.length} file(s))` : showPath(e.path))).join(', ');
}

/**
 * At run time, before git moves anything: the run's snapshot must hold every file in the way
 * byte for byte (its worktree/ or ignored/ tree). Throws, naming the paths, when one is not.
 */
export async function verifyHeldBySnapshot(root: string, snapshotId: string | null, entries: readonly InTheWay[], runId: string): Promise<void> {
  const files = entries.flatMap((e) => e.files);
  if (!files.length) return;
  const stop = (which: string[], why: string) =>
    new Error(`${which.map(showPath).join(', ')} ${which.length === 1 ? 'is' : 'are'} in the way of the files this step writes and ${why}; nothing was removed. Move ${which.length === 1 ? 'it' : 'them'} out of the repository, then \`rb resume ${runId}\`, or \`rb abort ${runId}\` to put everything back`);
  const nested = files.filter((f) => f.endsWith('/'));
  if (nested.length) throw stop(nested.map((f) => f.slice(0, -1)), 'a nested git repository is in no snapshot');
  if (!snapshotId) throw stop(files, 'no snapshot of this run holds them');
  const ref = `refs/rb/snapshots/${snapshotId}`;
  const answers = await objectInfo(root, files.flatMap((p) => [`${ref}:worktree/${p}`, `${ref}:ignored/${p}`]));
  const unsure: { path: string; oid: string }[] = [];
  const missing: string[] = [];
  files.forEach((p, i) => {
    const held = [answers[2 * i], answers[2 * i + 1]].filter((o) => o?.type === 'blob').map((o) => o!.oid);
    if (!held.length) return void missing.push(p);
    const raw = rawBlobOid(join(root, p), held[0]!);
    if (raw === null) return void missing.push(p);
    if (held.includes(raw)) return;
    // (a file git converts on checkout is held in worktree/ as git stores it: hashed with its filters below)
    unsure.push({ path: p, oid: held[0]! });
  });
  if (unsure.length) {
    const r = await git(['hash-object', '--stdin-paths'], { cwd: root, readOnly: true, input: unsure.map((u) => u.path + '\n').join('') });
    const oids = r.stdout.split('\n');
    unsure.forEach((u, i) => {
      if (oids[i] !== u.oid) missing.push(u.path);
    });
  }
  if (missing.length) throw stop(missing.sort(), `the run's snapshot ${snapshotId} does not hold ${missing.length === 1 ? 'it' : 'them'} as ${missing.length === 1 ? 'it is' : 'they are'}`);
}

/** The blob id of a file's bytes (a symlink's target), in the object format of `like`, read in chunks; null when unreadable. */
function rawBlobOid(abs: string, like: string): string | null {
  // (io/object-batch.ts hashes the same way; not imported: planning must not load the snapshot code it uses)
  const algo = like.length === 64 ? 'sha256' : 'sha1';
  try {
    const st = lstatSync(fsPath(abs));
    if (st.isSymbolicLink()) {
      const target = readlinkSync(fsPath(abs), { encoding: 'buffer' });
      return createHash(algo).update(`blob ${target.length}\0`).update(target).digest('hex');
    }
    const fd = openSync(fsPath(abs), 'r');
    try {
      const size = fstatSync(fd).size;
      const h = createHash(algo).update(`blob ${size}\0`);
      const buf = Buffer.allocUnsafe(1 << 20);
      let total = 0;
      for (let n: number; (n = readSync(fd, buf, 0, buf.length, null)) > 0; total += n) h.update(buf.subarray(0, n));
      return total === size ? h.digest('hex') : null; // (changed while read: not the bytes the snapshot holds)
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** The command that removes the entries, as the plan shows it and the journal records it. */
export const removeLine = (paths: readonly string[]): string => `rm -rf -- ${paths.map(shellQuote).join(' ')}`;
export const REMOVE_PLANNED = 'rm -rf -- [<untracked or ignored entry in the way of the target\'s files; the snapshot holds it>]…';

/** Remove the entries (the snapshot holds them: verifyHeldBySnapshot ran first); returns the journal line, or null. */
export function removeInTheWay(root: string, entries: readonly InTheWay[]): string | null {
  if (!entries.length) return null;
  for (const e of entries) rmSync(fsPath(join(root, e.path)), { recursive: true, force: true });
  return removeLine(entries.map((e) => e.path));
}
