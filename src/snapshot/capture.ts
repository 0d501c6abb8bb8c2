/**
 * captureSnapshot: record the whole working copy as one commit under refs/rb/snapshots/<id>
 * (safety.md §1), a TypeScript port of prototype/snapshot.sh.
 *
 * It never touches the worktree, the real index or HEAD: all staging happens in temporary
 * index files (GIT_INDEX_FILE) inside `<git dir>/rb-snap.XXXXXX`, removed afterwards, also on
 * error. What it records (see format.ts for the encodings):
 *  - index/     the index as a tree; unmerged stages 1-3 re-homed under .rb-stage-N/ so every
 *               staged blob stays reachable;
 *  - worktree/  tracked and untracked content: the index's tree edited (tree-edit.ts) with every
 *               path whose worktree content differs from a copy of the index (`diff-files`, whose
 *               stat cache means only changed files are read, plus every assume-unchanged /
 *               skip-worktree entry, so edits hidden behind those bits are not missed) and every
 *               untracked file; the files git stores unconverted (and symlinks) are read and
 *               hashed here and written as one pack (file-blobs.ts), the ones git converts are
 *               hashed by `update-index --add` into a temporary index (without HEAD, when
 *               check-attr has not answered: all of them). Untracked nested repositories are excluded and reported. For
 *               what the edit does not model (a conflicted index, a moved submodule, a tracked
 *               file replaced by a directory, non-UTF-8 names) it is `add -A` on a copy of the
 *               index instead; the tests check both give the same trees;
 *  - ignored/   ignored entries, hashed raw (no filters; in the same pack), except entries named in skipIgnored,
 *               entries over maxIgnoredBytes and nested repositories: those are reported;
 *  - meta/      HEAD, the raw index, raw.list (files git would convert on checkout, stored
 *               byte-exact), empty directories, permission bits, in-progress git state, ref
 *               positions, the skipped list and info.json.
 *
 * The trees, meta blobs and commit rb makes are hashed here and written by one git process just
 * before the one `update-ref` (io/object-batch.ts). meta/index.raw is written only when the
 * repository does not hold that blob yet (an index unchanged since the last snapshot), else
 * compressed on the thread pool while git walks the worktree, and written in the pack of file
 * contents when the files make one (git indexes that pack while the trees are built: the blob
 * ids are known before git has it; it is awaited before anything naming them is checked).
 *
 * The index copies keep the real index's mtime (git's racy-clean detection depends on it: with
 * a fresh mtime, a same-size edit made in the same second as the last index write would be
 * missed).
 *
 * Cost grows with the number of changed/untracked/ignored files, not the repository size: the
 * only whole-tree work is git's own (the stat of index entries in `diff-files`, the untracked
 * walks of `ls-files -o`, hashing the raw index). rb's own directory walks only visit untracked
 * and ignored directories, plus the nearest existing parent of each deleted path (to find
 * directories left empty); only the trees on changed paths are rewritten. Independent git
 * commands run concurrently.
 */
import { randomBytes } from 'node:crypto';
import { deflate } from 'node:zlib';
import { promisify } from 'node:util';
import { constants } from 'node:fs';
import { access, copyFile, link, lstat, mkdtemp, open, readdir, readFile, readlink, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { git, identityFromConfig, parseConfigZ, type GitOptions, type GitResult } from '../io/git.js';
import type { Repo } from '../repo.js';
import { configValues, headState, refListing } from '../io/repo-state.js';
import { GitError } from '../errors.js';
import {
  FSYNC_FLAGS, GITSTATE_NAMES, SNAPSHOT_FORMAT_VERSION, STAGE_DIR_PREFIX, chunkArgs, encodeSkipped,
  sanitizeIdPart, snapshotRef, splitNul, splitNulBuf, utf8OrNull, type SkippedEntry, type SnapshotInfo, type SnapshotInfoFile,
} from './format.js';
import { stampOf } from '../ui/format.js';
import { TreeEditor, type TreeEditOp } from './tree-edit.js';
import { ObjectBatch, addCommit, commitIdentity, hashObject, messageFromParagraphs } from '../io/object-batch.js';
import { FileBlobsUnsure, SharedFilePack } from './file-blobs.js';
import { tempDirPrefix } from '../journal/leftovers.js';
import { snapshotSkipNames } from '../config/defaults.js';
import { packPlainGitState } from './gitstate-tar.js';
import { lsFilesStagedOf, readIndexLayout, type IndexLayout } from '../io/index-file.js';
import { diffTrees, treeOfCommit } from './tree-diff.js';
import { indexTree as ownIndexTree } from './index-tree.js';
import { hasBatchCommand, objectInfo } from '../io/cat-file.js';

export interface CaptureOptions {
  /** free text, stored in the commit subject and info.json */
  message?: string;
  /** per ignored entry (a file or a whole ignored directory); larger entries are skipped. Default 50 MiB. */
  maxIgnoredBytes?: number;
  /** names of ignored directories never captured (matched against the last path component). Default ['node_modules']; the dependency dir names (.venv, venv, __pypackages__) always. */
  skipIgnored?: string[];
  /** the rb run this snapshot belongs to (recorded in info.json and a trailer) */
  runId?: string;
  /**
   * repository-relative directories that are never part of a snapshot and are not reported as
   * skipped: rb's own records (rollbacks/), which must outlive any restore. Only ignored entries
   * are left out (a tracked records folder stays the team's business).
   */
  exclude?: string[];
  /**
   * the snapshot's id, instead of one made from the time and worktree (`rb checkpoint <name>`).
   * Must be a valid snapshot id; when a snapshot of that id exists, the capture fails (GitError)
   * and creates nothing.
   */
  id?: string;
  /** clock, for tests that need two snapshots in the same second */
  now?: () => Date;
  /**
   * also build the trees a `git stash` entry needs (index, tracked changes, untracked files), so
   * the stash step does not have to re-read the whole working copy. Only when the worktree was
   * captured by tree edits (see CaptureResult.stash).
   */
  stashTrees?: boolean;
  /** capture the worktree with `git add -A` on a copy of the index even when tree edits would do (tests compare the two) */
  forceAddAll?: boolean;
  /**
   * maxIgnoredBytes, skipIgnored and exclude read by the caller (from the configuration) while
   * git walks the working copy: called once the listings are started, awaited where they are in;
   * what it gives overrides the same options given directly. A rejection fails the capture
   * before it writes anything (no object, no ref).
   */
  configure?: () => Promise<CaptureSettings>;
}

/** The options a caller may read while the capture walks the working copy (CaptureOptions.configure). */
export type CaptureSettings = Pick<CaptureOptions, 'maxIgnoredBytes' | 'skipIgnored' | 'exclude'>;

/** Trees for a stash entry equal to what `git stash push -u` would record (untracked: null when there is none). */
export interface StashTrees {
  index: string;
  tracked: string;
  untracked: string | null;
  untrackedCount: number;
}

/** What captureSnapshot returns: the snapshot, plus how its worktree/ tree was built (not stored). */
export interface CaptureResult extends SnapshotInfo {
  /** 'edit': the index's tree edited with the changed paths; 'add': `git add -A` on a copy of the index */
  method: 'edit' | 'add';
  /** present when stashTrees was asked for and method is 'edit' */
  stash?: StashTrees;
}

/** the raw index is hashed by rb up to this size (a 4 MiB index lists ~40,000 files), by `git hash-object` above it */
const RAW_INDEX_IN_BATCH = 4 * 1024 * 1024;
/** the index's tree is made by rb when that means at most this many trees (./index-tree.ts), else by `git write-tree` */
const MADE_INDEX_TREES_MAX = 256;

const deflateLevel1 = (b: Buffer) => promisify(deflate)(b, { level: 1 });

export const DEFAULT_MAX_IGNORED_BYTES = 50 * 1024 * 1024;
export const DEFAULT_SKIP_IGNORED: readonly string[] = ['node_modules'];

/** One ignored file to capture. */
interface IgnoredFile {
  path: string;
  link: boolean;
  /** permission bits (st_mode & 07777) */
  perm: number;
  size: number;
}

type Run = (args: readonly string[], o?: Partial<GitOptions>) => Promise<GitResult>;

/**
 * Take a snapshot of the working copy of `repo` and return what was recorded.
 * Throws GitError when a git command fails; nothing is left behind then (the temp dir is
 * removed and no ref is created).
 */
export async function captureSnapshot(repo: Repo, opts: CaptureOptions = {}): Promise<CaptureResult> {
  const started = (opts.now ?? (() => new Date()))();
  const tmp = await mkdtemp(tempDirPrefix(repo.gitDir, 'rb-snap'));
  const pending: Promise<unknown>[] = [];
  try {
    return await capture(repo, tmp, started, opts, pending);
  } finally {
    await Promise.allSettled(pending); // no git command may still be using the temp dir
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * What a snapshot taken now would leave out (its `skipped` list: nested repositories, listed
 * names, over-cap entries, special files, unreadable entries), found with the same listings and
 * walks as captureSnapshot but without hashing or writing anything: the permission preflight of
 * a clean must know what the clean will keep. (Ignored files that cannot be read are found only
 * when hashed, so they are not in it; that never changes what a clean may remove.)
 */
export async function previewSkipped(repo: Repo, opts: Pick<CaptureOptions, 'maxIgnoredBytes' | 'skipIgnored' | 'exclude'> = {}): Promise<SkippedEntry[]> {
  const root = repo.root;
  const cap = opts.maxIgnoredBytes ?? DEFAULT_MAX_IGNORED_BYTES;
  const skipNames = snapshotSkipNames(opts.skipIgnored ?? DEFAULT_SKIP_IGNORED);
  const [untrackedR, ignoredR] = await Promise.all([
    git(['ls-files', '-z', '-o', '--directory', '--exclude-standard'], { cwd: root, readOnly: true, binary: true }),
    git(['ls-files', '-z', '-o', '-i', '--directory', '--exclude-standard'], { cwd: root, readOnly: true, binary: true }),
  ]);
  const ignoredList = splitNulBuf(ignoredR.stdoutBuf);
  const skipped: SkippedEntry[] = ignoredList.bad.map((bad) => ({ reason: 'non-utf8-name', path: bad.replace(/\/$/, '') }));
  const excluded = (opts.exclude ?? []).map((x) => x.replace(/^\.?\/+|\/+$/g, '')).filter(Boolean);
  const allIgnored = dedupeEntries(ignoredList.good);
  const ignoredSet = new Set(allIgnored.map((e) => e.path));
  const nested: string[] = [];
  const unreadable: string[] = [];
  const files: string[] = [];
  await Promise.all(splitNulBuf(untrackedR.stdoutBuf).good.map((p) => {
    if (!p.endsWith('/')) {
      if (!ignoredSet.has(p)) files.push(p);
      return undefined;
    }
    if (ignoredSet.has(p.slice(0, -1))) return undefined;
    return walkUntrackedDir(root, p.slice(0, -1), ignoredSet, nested, [], files, [], unreadable);
  }));
  await dropUnreadable(root, files, unreadable);
  skipped.push(...nested.map((path) => ({ reason: 'nested-repo', path })), ...unreadable.map((path) => ({ reason: 'unreadable', path })));
  await Promise.all(allIgnored.filter((e) => !excluded.some((x) => e.path === x || e.path.startsWith(x + '/'))).map(async (e) => {
    const r = await walkIgnoredEntry(root, e.path, cap, skipNames);
    if ('skip' in r) skipped.push(r.skip);
    else skipped.push(...r.skipped);
  }));
  return skipped.sort((a, b) => cmp(a.path, b.path));
}

async function capture(
  repo: Repo, tmp: string, started: Date, opts: CaptureOptions, pending: Promise<unknown>[],
): Promise<CaptureResult> {
  const root = repo.root;
  /** every call: fsync flags, literal pathspecs (user paths are never globs), cwd = worktree root */
  // the temporary indexes are written whole (core.splitIndex would leave sharedindex.* files
  // in the git dir for each of them)
  const run: Run = (args, o = {}) =>
    git([...FSYNC_FLAGS, '-c', 'core.splitIndex=false', ...args], { cwd: root, ...o, env: { GIT_LITERAL_PATHSPECS: '1', ...o.env } });
  const iIdx = join(tmp, 'i.idx');

  // --- 0. the index as it is now, and copies of it to work on ---------------------------------
  // rIdx is a hard link to the index file: git never changes an index file in place (it writes
  // index.lock and renames it over), so the link keeps exactly the bytes and the mtime of this
  // moment, without rb reading megabytes into memory (a large process makes every later spawn
  // slower). The mtime matters: git trusts an entry's stat data only when the file is older
  // than the index ("racy git"), so a copy with a fresh mtime would hide a same-size edit made
  // in the same second as the last index write. rIdx is read by the queries and hashed as
  // index.raw; iIdx (another link) is replaced by write-tree's own index (with its cache-tree).
  const rIdx = join(tmp, 'r.idx');
  const { present: hasIndex, mtimeNs: indexMtimeNs } = await holdIndex(join(repo.gitDir, 'index'), rIdx);
  const copyIndex = async (f: string) => {
    if (hasIndex) await linkOrCopy(rIdx, f, indexMtimeNs!);
  };
  await copyIndex(iIdx);
  // the raw index is the biggest meta blob (megabytes on a large repository): read from the start.
  // A split index (core.splitIndex) holds only the changes to a shared index file that git
  // deletes some weeks after it stops using it: such an index is stored whole, as git writes it
  // with --no-split-index (same entries and flags), so the snapshot restores on its own.
  // up to a few MiB (most repositories: 100 bytes a file) the index's bytes are read once: hashed
  // here as meta/index.raw (written with the snapshot's other objects) and scanned for the tags
  // `ls-files -v` prints; a larger one is hashed and listed by git, and not held in rb's memory
  const indexBytesP = hasIndex
    ? stat(rIdx).then((st) => (st.size <= RAW_INDEX_IN_BATCH ? readFile(rIdx) : null))
    : Promise.resolve(Buffer.alloc(0));
  pending.push(indexBytesP);
  indexBytesP.catch(() => undefined);
  const indexRawP = (async (): Promise<{ bytes: Buffer } | { oid: string }> => {
    if (!hasIndex) return { bytes: Buffer.alloc(0) };
    let raw = rIdx;
    if ((await readdir(repo.gitDir)).some((n) => n.startsWith('sharedindex.'))) {
      raw = join(tmp, 'whole.idx');
      await copyFile(rIdx, raw);
      await run(['update-index', '--no-split-index'], { indexFile: raw });
      if ((await stat(raw)).size <= RAW_INDEX_IN_BATCH) return { bytes: await readFile(raw) };
    } else {
      const bytes = await indexBytesP;
      if (bytes) return { bytes };
    }
    return { oid: (await run(['hash-object', '-w', '--no-filters', '--', raw])).stdout.trim() };
  })();
  pending.push(indexRawP);
  indexRawP.catch(() => undefined); // awaited at the end; a failure must not go unhandled meanwhile
  // and, for the batch at the end, whether the repository holds that blob already, else its
  // zlib stream made now on the thread pool while git walks the worktree (not in the tail)
  const indexRawAheadP = indexRawAhead(root, indexRawP, configValues(repo.root));
  pending.push(indexRawAheadP);
  indexRawAheadP.catch(() => undefined);

  // --- 1. independent queries, concurrently -------------------------------------------------
  // HEAD and the ref listing: asked once per command (io/repo-state.ts)
  const listingsP = Promise.all([
    headState(repo),
    configValues(repo.root),
    refListing(repo.root),
    // one tag per entry: conflicts and the assume-unchanged / skip-worktree bits (-s only when needed)
    indexTags(run, rIdx, indexBytesP, configValues(repo.root)),
    run(['ls-files', '-z', '-o', '--directory', '--exclude-standard'], { indexFile: rIdx, readOnly: true, binary: true }),
    run(['ls-files', '-z', '-o', '-i', '--directory', '--exclude-standard'], { indexFile: rIdx, readOnly: true, binary: true }),
    // tracked paths whose worktree content differs from the index (stat first, content when racy)
    run(['diff-files', '-z', '--ignore-submodules=dirty'], { indexFile: rIdx, readOnly: true, binary: true }),
  ]);
  // the caller's settings read while git walks (a failure of either is not unhandled meanwhile)
  listingsP.catch(() => undefined);
  const configuredP = opts.configure ? opts.configure() : Promise.resolve({});
  configuredP.catch(() => undefined);
  const [head, cfg, refsBuf, tags, untrackedR, ignoredR, diffFilesR] = await listingsP;
  const { ref: headRef, oid: headOid } = head;
  const settings: CaptureSettings = { ...opts, ...(await configuredP) };
  const cap = settings.maxIgnoredBytes ?? DEFAULT_MAX_IGNORED_BYTES;
  const skipNames = snapshotSkipNames(settings.skipIgnored ?? DEFAULT_SKIP_IGNORED);
  const core = parseCoreConfig(cfg);
  const idEnv = identityFromConfig(cfg);
  const autocrlf = core.autocrlf;
  // Every object rb makes itself (trees, meta blobs, the commit) goes into one batch, written by
  // one git process just before the ref is set (io/object-batch.ts); the object format is the
  // index tree's. The empty tree is added only when needed (unborn HEAD, no ignored files).
  // (batchP is set below, once the index tree's promise exists)
  const emptyTree = async () => (await batchP).tree([]);

  // index listing: "<tag> <path>\0". Scanned as bytes: a 50,000-entry index must not cost
  // 50,000 strings; only flagged entries are decoded.
  const { flaggedPaths, assumeUnchanged, skipWorktree, conflicted, badFlaggedName } = tags;
  // the full listing (modes, stages) only for a conflicted index or flagged entries
  const indexLs = conflicted || flaggedPaths.length > 0 ? await indexListing(run, rIdx, tags.bytes, tags.hashBytes) : Buffer.alloc(0);
  const flagged = new Map<string, IndexEntry>();
  const skipSet = new Set(skipWorktree.map((b) => b.toString('utf8')));
  if (flaggedPaths.length > 0) {
    const want = new Set(flaggedPaths);
    for (const rec of splitNul(indexLs.toString('utf8'))) {
      const tab = rec.indexOf('\t');
      const path = rec.slice(tab + 1);
      if (want.has(path)) {
        const [mode, oid] = rec.slice(0, tab).split(' ');
        flagged.set(path, { mode: mode!, oid: oid! });
      }
    }
  }

  const nul = (xs: readonly string[]) => Buffer.from(xs.map((x) => x + '\0').join(''), 'utf8');
  // HEAD and refs: hashed with the other small meta blobs at the end
  const earlyMeta: Record<string, Buffer> = { 'HEAD': Buffer.from(`ref ${headRef ?? ''}\noid ${headOid ?? ''}\n`), 'refs': Buffer.from(refsBuf.toString('utf8')) };

  const skipped: SkippedEntry[] = [];
  const ignoredList = splitNulBuf(ignoredR.stdoutBuf);
  for (const bad of ignoredList.bad) skipped.push({ reason: 'non-utf8-name', path: bad.replace(/\/$/, '') });
  const excluded = (settings.exclude ?? []).map((x) => x.replace(/^\.?\/+|\/+$/g, '')).filter(Boolean);
  const isExcluded = (p: string) => excluded.some((x) => p === x || p.startsWith(x + '/'));
  const allIgnored = dedupeEntries(ignoredList.good);
  // every ignored entry, excluded ones too: the untracked walk must not descend into them
  const ignoredSet = new Set(allIgnored.map((e) => e.path));
  const ignoredEntries = allIgnored.filter((e) => !isExcluded(e.path));

  // --- 2. index/ tree --------------------------------------------------------------------------
  // the base the worktree/ tree is edited from: made by rb from the index's bytes where it can
  // (./index-tree.ts: no conflict, no intent-to-add entry, the cache-tree's trees present), else
  // `git write-tree`; a conflicted index is re-homed below
  const madeIndexTrees = new Map<string, Buffer>();
  const newIndexTrees: Buffer[] = [];
  const indexTreeP = (async () => {
    if (!conflicted) {
      const own = tags.bytes && tags.intentToAdd === false && hasBatchCommand()
        ? ownIndexTree(tags.bytes, tags.hashBytes === 32 ? 'sha256' : 'sha1', tags.layout ?? undefined) : null;
      // (many trees to make — a large index whose cache-tree `add -A` left invalid — : git's
      // write-tree, which writes only the trees that are new)
      if (own && own.made.length <= MADE_INDEX_TREES_MAX) {
        // the cache-tree's trees must exist (as write-tree checks); of the trees made, only the
        // ones the repository does not have yet are written
        const found = await objectInfo(root, [...own.reused, ...own.made.map((t) => t.oid)]);
        if (found.slice(0, own.reused.length).every((o) => o?.type === 'tree')) {
          own.made.forEach((t, i) => {
            madeIndexTrees.set(t.oid, t.body);
            if (found[own.reused.length + i]?.type !== 'tree') newIndexTrees.push(t.body);
          });
          return own.tree;
        }
      }
      const w = await run(['write-tree'], { indexFile: iIdx, allowFail: true });
      if (w.code !== 0) throw new GitError(['write-tree'], w.code, w.stdout, w.stderr);
      return w.stdout.trim();
    }
    const rehomed = splitNul(indexLs.toString('utf8')).map((body) => {
      const tab = body.indexOf('\t');
      const [mode, oid, stage] = body.slice(0, tab).split(' ');
      const path = body.slice(tab + 1);
      return stage === '0' ? `${mode} ${oid} 0\t${path}\0` : `${mode} ${oid} 0\t${STAGE_DIR_PREFIX}${stage}/${path}\0`;
    }).join('');
    // the empty blob: re-homing turns intent-to-add entries into real empty-blob entries
    await run(['hash-object', '-w', '--stdin'], { input: '' });
    const i2 = join(tmp, 'i2.idx');
    await run(['update-index', '-z', '--index-info'], { indexFile: i2, input: rehomed });
    return (await run(['write-tree'], { indexFile: i2 })).stdout.trim();
  })();

  const batchP = indexTreeP.then((t) => {
    const b = ObjectBatch.forOid(run, t);
    for (const body of newIndexTrees) b.add('tree', body); // children first, as made
    return b;
  });
  batchP.catch(() => undefined); // awaited where needed; indexTreeP's failure surfaces there
  // the contents of the changed, untracked and ignored files git stores unconverted: one pack
  // (a few small ones: in the batch, written with the trees and the commit)
  const filePack = new SharedFilePack(run, root, batchP, ['worktree', 'ignored']);
  pending.push(filePack.written);
  // a new meta/index.raw (megabytes on a large repository) goes into that pack when it is one,
  // indexed by git while the trees are built, not in the batch's process at the end
  filePack.carry(indexRawAheadP.then((a) => (a && !a.held && a.deflated ? { algo: a.algo, oid: a.oid, size: a.size, deflated: a.deflated } : null)));

  // --- 3. worktree/ tree -----------------------------------------------------------------------
  const worktreeP = (async () => {
   try {
    // untracked entries: files, and collapsed directories walked here for their files, nested
    // repositories (excluded, reported) and empty directories
    const untrackedList = splitNulBuf(untrackedR.stdoutBuf);
    const nested: string[] = [];
    const emptyDirs: string[] = [];
    const untrackedDirs: string[] = [];
    const untrackedFiles: string[] = [];
    const unreadable: string[] = [];
    // (git may list a directory holding only ignored files both as untracked and as ignored:
    // the ignored walk takes it)
    await Promise.all(untrackedList.good.map((p) => {
      if (!p.endsWith('/')) {
        if (!ignoredSet.has(p)) untrackedFiles.push(p);
        return undefined;
      }
      if (ignoredSet.has(p.slice(0, -1))) return undefined;
      return walkUntrackedDir(root, p.slice(0, -1), ignoredSet, nested, emptyDirs, untrackedFiles, untrackedDirs, unreadable);
    }));
    nested.sort();
    // untracked files this user cannot read (another user's, or mode 000) are left out and named
    // (git add would stop at them); they are never cleaned or overwritten
    await dropUnreadable(root, untrackedFiles, unreadable);

    const indexTree = await indexTreeP;
    const diffs = parseRawDiff(diffFilesR.stdoutBuf);
    // the index entry (mode, blob) of every path diff-files reports or that is flagged
    const indexEntry = new Map<string, IndexEntry>(flagged);
    for (const d of diffs.records) if (d.oldMode !== '000000') indexEntry.set(d.path, { mode: d.oldMode, oid: d.oldOid });
    // The fast way: the index's tree edited with the paths that differ from it. git's own
    // `add -A` on a copy of the index is kept for what the edit does not model: a conflicted
    // index, submodules whose commit moved, core.symlinks=false, names that are not UTF-8.
    const canEdit = !opts.forceAddAll && !conflicted && core.symlinks && !diffs.bad && untrackedList.bad.length === 0 && !badFlaggedName
      && !diffs.records.some((d) => d.oldMode === '160000' || d.newMode === '160000')
      && !untrackedFiles.some((p) => p.includes('\uFFFD'));
    const editor = TreeEditor.forOid(run, indexTree, await batchP, root);
    for (const [oid, body] of madeIndexTrees) editor.know(oid, body);
    // Beside the hashing, for the edit: the base trees on the touched paths, what HEAD has where
    // the index differs from it (which, with the edits, says which files differ from HEAD: no
    // diff-tree afterwards), and which of those paths git would convert.
    const early = canEdit && headOid ? startEarly(run, editor, rIdx, indexTree, headOid, autocrlf, tags.intentToAdd === false ? { root, known: madeIndexTrees } : null, [
      ...diffs.records.map((d) => d.path), ...flagged.keys(), ...untrackedFiles,
    ]) : null;
    if (early) pending.push(early.done);
    const edit = canEdit
      ? await worktreeEdits(run, tmp, root, filePack, core.filemode, diffs.records, indexEntry, untrackedFiles, core.sparseCheckout ? skipSet : null, early?.converted ?? null)
      : null;
    if (early) await early.prefetched;
    let idx = '';
    let cur: string;
    let stash: StashTrees | undefined;
    if (edit) {
      const untrackedEdits = edit.untracked.filter((e) => !isExcluded(e.path));
      if (opts.stashTrees) {
        // the stash's worktree tree (tracked files only) first; the snapshot's adds the untracked
        // files to it, from the trees the editor just built (no second read)
        // git stash leaves assume-unchanged and skip-worktree entries as the index has them
        // (edited or missing on disk: a skip-worktree file missing in a sparse checkout is not a
        // deletion, and `stash apply` must not stage one). The snapshot's worktree/ records the
        // hidden edits and, with bits set by hand, the missing files (restore puts the entries
        // back through the raw index).
        const stashTracked = flagged.size > 0 ? edit.tracked.filter((e) => !flagged.has(e.path)) : edit.tracked;
        const [tracked0, untracked] = await Promise.all([
          editor.apply(indexTree, stashTracked),
          untrackedEdits.length > 0 ? editor.apply(null, untrackedEdits) : null,
        ]);
        const tracked = stashTracked === edit.tracked ? tracked0 : await editor.apply(indexTree, edit.tracked);
        cur = (edit.untracked.length > 0 ? await editor.apply(tracked, edit.untracked) : tracked) ?? (await emptyTree());
        stash = { index: indexTree, tracked: tracked0 ?? (await emptyTree()), untracked, untrackedCount: untrackedEdits.length };
      } else {
        cur = (await editor.apply(indexTree, [...edit.tracked, ...edit.untracked])) ?? (await emptyTree());
      }
    } else {
      idx = join(tmp, 'w.idx');
      await copyIndex(idx);
      // one flag per call: update-index applies only the first of --no-assume-unchanged / --no-skip-worktree
      // in a sparse checkout, entries outside the cone (missing from disk) keep their bit, so
      // add -A leaves them alone; add --sparse lets it record edits to the others
      const unskip = core.sparseCheckout ? await onDisk(root, skipWorktree) : skipWorktree;
      for (const [flag, paths] of [['--no-assume-unchanged', assumeUnchanged], ['--no-skip-worktree', unskip]] as const) {
        if (paths.length === 0) continue;
        await run(['update-index', flag, '-z', '--stdin'], { indexFile: idx, input: Buffer.concat(paths.flatMap((p) => [p, Buffer.from([0])])) });
      }
      const pathspecs = ['.', ...[...nested, ...unreadable].map((d) => `:(exclude,literal)${d}`)];
      // magic pathspecs (exclude,literal) need GIT_LITERAL_PATHSPECS off; each path is marked literal
      const pathspecFile = join(tmp, 'add.pathspec');
      await writeFile(pathspecFile, pathspecs.map((p) => p + '\0').join(''));
      await run(['add', '-A', ...(core.sparseCheckout ? ['--sparse'] : []), `--pathspec-from-file=${pathspecFile}`, '--pathspec-file-nul'], {
        indexFile: idx, env: { GIT_LITERAL_PATHSPECS: undefined },
      });
      cur = (await run(['write-tree'], { indexFile: idx })).stdout.trim();
    }
    // regular files that differ from HEAD (candidates for raw.list and perms), in git's order,
    // and which of them git would convert; tracked paths deleted from the worktree
    let candidates: { path: string; newMode: string }[];
    let conv: Set<string>;
    let deleted: string[];
    if (edit && early) {
      const [staged, convertible] = await Promise.all([early.staged, early.converted]);
      candidates = changedFromHead(edit, indexEntry, staged);
      conv = new Set(candidates.filter((c) => convertible.has(c.path)).map((c) => c.path));
      deleted = edit.tracked.filter((e) => 'remove' in e).map((e) => e.path);
    } else {
      // (the edited tree and the index's tree rb made are read by diff-tree: their objects must be written first)
      // (and the edited tree names the file pack's blobs: git must have them first)
      if (edit || newIndexTrees.length > 0) {
        if (edit) {
          filePack.leave('worktree'); // (when it had none to write: the pack waits for every party)
          await filePack.written;
        }
        await (await batchP).flush();
      }
      const [changedR, del] = await Promise.all([
        run(['diff-tree', '-r', '-z', '--no-renames', '--diff-filter=AMT', headOid ?? (await emptyTree()), cur], { readOnly: true, binary: true }),
        edit
          ? edit.tracked.filter((e) => 'remove' in e).map((e) => e.path)
          // (plus what diff-files saw deleted: an intent-to-add entry is in no tree)
          : run(['diff-tree', '-r', '-z', '--no-renames', '--diff-filter=D', indexTree, cur], { readOnly: true, binary: true })
            .then((r) => [...parseRawDiff(r.stdoutBuf).records.map((d) => unStage(d.path)), ...diffs.records.filter((d) => d.status === 'D').map((d) => d.path)]),
      ]);
      candidates = parseRawDiff(changedR.stdoutBuf).records.filter((d) => REGULAR.has(d.newMode));
      conv = await convertedPaths(run, candidates.map((c) => c.path), autocrlf);
      deleted = del;
    }
    const rawList: { oid: string; path: string }[] = [];
    let worktreeTree = cur;
    if (conv.size > 0) {
      const convCands = candidates.filter((c) => conv.has(c.path));
      const oids = await hashFiles(run, convCands.map((c) => c.path), { filters: false });
      const rawEdits: TreeEditOp[] = [];
      convCands.forEach((c, i) => {
        const oid = oids[i];
        if (!oid) return; // vanished since it was hashed: the blob stored then stays
        rawEdits.push({ path: c.path, mode: c.newMode, oid });
        rawList.push({ oid, path: c.path });
      });
      if (rawEdits.length > 0) {
        if (edit) {
          worktreeTree = (await editor.apply(cur, rawEdits))!;
        } else {
          await run(['update-index', '-z', '--index-info'], { indexFile: idx, input: rawEdits.map((e) => `${(e as { mode: string }).mode} ${(e as { oid: string }).oid} 0\t${e.path}\0`).join('') });
          worktreeTree = (await run(['write-tree'], { indexFile: idx })).stdout.trim();
        }
      }
    }
    // permission bits of changed/new files
    const perms: string[] = [];
    await Promise.all(candidates.map(async (c) => {
      try {
        const st = await lstat(join(root, c.path));
        if (st.isFile()) perms.push(`${(st.mode & 0o7777).toString(8)} ${c.path}`);
      } catch { /* vanished */ }
    }));
    // directories left empty by deleted tracked files
    const seen = new Set<string>();
    await Promise.all(deleted.map(async (p) => {
      const d = await emptyExistingAncestor(root, p, seen);
      if (d) emptyDirs.push(d);
    }));
    return { worktreeTree, rawList, perms, nested, unreadable, emptyDirs, untrackedDirs, stash, method: edit ? 'edit' as const : 'add' as const };
   } finally {
    filePack.leave('worktree');
   }
  })();

  // --- 4. ignored/ tree --------------------------------------------------------------------------
  const ignoredP = (async () => {
   try {
    const files: IgnoredFile[] = [];
    const emptyDirs: string[] = [];
    const dirs: string[] = [];
    const ignSkipped: SkippedEntry[] = [];
    await Promise.all(ignoredEntries.map(async (e) => {
      const r = await walkIgnoredEntry(root, e.path, cap, skipNames);
      if ('skip' in r) {
        ignSkipped.push(r.skip);
        return;
      }
      files.push(...r.files);
      emptyDirs.push(...r.emptyDirs);
      dirs.push(...r.dirs);
      ignSkipped.push(...r.skipped);
    }));
    files.sort((a, b) => cmp(a.path, b.path));
    if (files.length === 0) return { ignoredEdits: [] as TreeEditOp[], files, emptyDirs, dirs, ignSkipped };
    // stored raw, in the pack of file contents (with the worktree's); by git when that was unsure
    const oids = await filePack.write('ignored', files.map((f) => ({ path: f.path, link: f.link, size: f.size })))
      .catch((e: unknown) => {
        if (e instanceof FileBlobsUnsure) return hashIgnored(run, tmp, root, files);
        throw e;
      });
    const edits: TreeEditOp[] = [];
    const kept: IgnoredFile[] = [];
    files.forEach((f, i) => {
      const oid = oids[i];
      if (!oid) {
        ignSkipped.push({ reason: 'unreadable', path: f.path });
        return;
      }
      edits.push({ path: f.path, mode: f.link ? '120000' : f.perm & 0o100 ? '100755' : '100644', oid });
      kept.push(f);
    });
    // (the ignored/ tree is written with meta/ and the root)
    return { ignoredEdits: edits, files: kept, emptyDirs, dirs, ignSkipped };
   } finally {
    filePack.leave('ignored');
   }
  })();


  // --- 5. in-progress operation state --------------------------------------------------------
  const gitstateP = (async () => {
    const present: string[] = [];
    await Promise.all(GITSTATE_NAMES.map(async (n) => {
      try {
        await lstat(join(repo.gitDir, n));
        present.push(n);
      } catch { /* absent */ }
    }));
    if (present.length === 0) return Buffer.alloc(0);
    present.sort();
    // plain files (ORIG_HEAD, AUTO_MERGE…) without loading `tar` (./gitstate-tar.ts)
    const plain = await packPlainGitState(repo.gitDir, present).catch(() => null);
    if (plain) return plain;
    const tar = await import('tar');
    const file = join(tmp, 'gitstate.tar');
    tar.c({ cwd: repo.gitDir, file, sync: true, portable: true }, present);
    return readFile(file);
  })();

  const [indexTree, wt, ign, gitstate] = await Promise.all([indexTreeP, worktreeP, ignoredP, gitstateP]);

  // --- 6. assemble ----------------------------------------------------------------------------
  for (const n of wt.nested) skipped.push({ reason: 'nested-repo', path: n });
  for (const u of wt.unreadable) skipped.push({ reason: 'unreadable', path: u });
  skipped.push(...ign.ignSkipped);
  skipped.sort((a, b) => cmp(a.path, b.path));
  const emptyDirs = [...new Set([...wt.emptyDirs, ...ign.emptyDirs])].sort(cmp);
  // the modes of the directories the snapshot holds untracked or ignored content of (a restore
  // makes them with the umask's mode: 0555 would come back 0755), and of the empty ones
  const dirPerms: string[] = [];
  await Promise.all([...new Set([...emptyDirs, ...wt.untrackedDirs, ...ign.dirs])].map(async (d) => {
    try {
      const st = await lstat(join(root, d));
      dirPerms.push(`${(st.mode & 0o7777).toString(8)} ${d}`);
    } catch { /* vanished */ }
  }));
  const perms = [...wt.perms, ...ign.files.filter((f) => !f.link).map((f) => `${f.perm.toString(8)} ${f.path}`), ...dirPerms];
  perms.sort((a, b) => cmp(a.slice(a.indexOf(' ') + 1), b.slice(b.indexOf(' ') + 1)));

  const message = opts.message ?? '';
  const lateMeta: Record<string, Buffer> = {
    'raw.list': nul(wt.rawList.map((r) => `${r.oid}\t${r.path}`)),
    'emptydirs': nul(emptyDirs),
    'perms': nul(perms),
    'gitstate.tar': gitstate,
    'skipped': encodeSkipped(skipped),
  };
  const worktreeName = repo.linked ? sanitizeIdPart(basename(repo.gitDir)) : 'main';
  const stamp = formatStamp(started);
  const createdAt = started.toISOString();
  const subject = 'rb snapshot' + (message ? ': ' + message.replace(/\s+/g, ' ').trim() : '');
  const infoJson = (id: string) => {
    const f: SnapshotInfoFile = {
      version: SNAPSHOT_FORMAT_VERSION, id, message, ...(opts.runId ? { runId: opts.runId } : {}), createdAt,
      root, gitDir: repo.gitDir, headRef, headOid, conflicted, skipped,
      indexMtimeNs: indexMtimeNs === null ? null : String(indexMtimeNs),
    };
    return Buffer.from(JSON.stringify(f, null, 2) + '\n');
  };
  const newId = () => opts.id ?? `${stamp}-${worktreeName}-${randomBytes(3).toString('hex')}`;
  let id = newId();
  const objects = await batchP;
  const metaNames = ['index.raw', ...Object.keys(earlyMeta), ...Object.keys(lateMeta)];
  // the small meta blobs: hashed here, written with the trees and the commit
  const indexRaw = await indexRawP;
  // (written with the file contents: see filePack.carry above)
  const indexRawOid = 'oid' in indexRaw ? indexRaw.oid
    : (await filePack.carriedPacked) ? (await indexRawAheadP)!.oid : await indexRawBlob(root, objects, indexRaw.bytes, await indexRawAheadP);
  const metaOids = [indexRawOid, ...[...Object.values(earlyMeta), ...Object.values(lateMeta)].map((b) => objects.blob(b))];
  const identity = commitIdentity(cfg, { ...process.env, ...idEnv });

  // the file contents are in git before any object naming them is checked (the batch's --strict,
  // or commit-tree when rb cannot write the commit itself) and before the ref
  await filePack.written;
  for (let attempt = 0; ; attempt++) {
    // (a retry: the id was taken meanwhile, same second, same random suffix: a new id, a new info.json)
    if (attempt > 0) id = newId();
    const infoOid = objects.blob(infoJson(id));
    // ignored/, meta/ and the root
    const rootTree = (await TreeEditor.forOid(run, indexTree, objects, root).apply(null, [
      { path: 'index', mode: '40000', oid: indexTree },
      { path: 'worktree', mode: '40000', oid: wt.worktreeTree },
      ...(ign.ignoredEdits.length > 0
        ? ign.ignoredEdits.map((e) => ({ ...e, path: `ignored/${e.path}` }))
        : [{ path: 'ignored', mode: '40000', oid: await emptyTree() }]),
      ...metaNames.map((n, i) => ({ path: `meta/${n}`, mode: '100644', oid: metaOids[i]! })),
      { path: 'meta/info.json', mode: '100644', oid: infoOid },
    ]))!;
    const trailers = [
      `rb-snapshot-id: ${id}`,
      `rb-head-ref: ${headRef ?? 'DETACHED'}`,
      `rb-head-oid: ${headOid ?? 'UNBORN'}`,
      `rb-conflicted: ${conflicted ? 'yes' : 'no'}`,
      `rb-ignored-skipped: ${skipped.length}`,
      `rb-created-at: ${createdAt}`,
      ...(opts.runId ? [`rb-run-id: ${opts.runId.replace(/\s+/g, ' ')}`] : []),
    ].join('\n');
    // the message `commit-tree -m <subject> [-m <message>] -m <trailers>` writes
    const commitMessage = messageFromParagraphs([subject, ...(message.includes('\n') ? [message] : []), trailers]);
    const commit = await addCommit(objects, run, { tree: rootTree, parents: headOid ? [headOid] : [], message: commitMessage, identity, env: idEnv });
    // every object, then the ref: a crash in between leaves unreferenced objects, never a ref to a missing one
    await objects.flush();
    const ref = snapshotRef(id);
    // compare-and-swap: "" = the ref must not exist yet
    const u = await run(['update-ref', '--create-reflog', '-m', 'rb: snapshot', ref, commit, ''], { allowFail: true });
    if (u.code === 0) {
      return {
        id, ref, commit, createdAt, message, headRef, headOid, conflicted, skipped,
        ...(opts.runId ? { runId: opts.runId } : {}),
        method: wt.method, ...(wt.stash ? { stash: wt.stash } : {}),
      };
    }
    // only a collision (the id was taken meanwhile) is retried with a new id
    const exists = await run(['rev-parse', '-q', '--verify', ref], { allowFail: true, readOnly: true });
    if (exists.code !== 0 || attempt >= 8 || opts.id !== undefined) {
      throw new GitError(['update-ref', '--create-reflog', ref, commit, ''], u.code, u.stdout, u.stderr);
    }
  }
}

/**
 * meta/index.raw's blob id: added to the batch only when the repository does not hold it yet.
 * An index unchanged since the last snapshot (the common case: edits in the worktree, nothing
 * staged) is the same blob, megabytes in a large repository, that the batch would otherwise
 * compress and git unpack again. (As for the index's trees above: an object the repository has
 * is not written again.)
 */
export async function indexRawBlob(root: string, objects: ObjectBatch, bytes: Buffer, ahead: IndexRawAhead | null = null): Promise<string> {
  if (ahead && ahead.algo === objects.algo) {
    if (ahead.held) return ahead.oid;
    if (ahead.deflated) return objects.addDeflated('blob', bytes, ahead.deflated);
  }
  if (bytes.length >= INDEX_RAW_AHEAD_FROM && hasBatchCommand()) {
    const oid = hashObject(objects.algo, 'blob', bytes);
    const [found] = await objectInfo(root, [oid]);
    if (found?.type === 'blob') return oid;
  }
  return objects.blob(bytes);
}

/** meta/index.raw from this size on is looked up, and compressed ahead when new */
const INDEX_RAW_AHEAD_FROM = 64 * 1024;

/** What indexRawAhead found of meta/index.raw's blob: held by the repository, or its zlib stream. */
export interface IndexRawAhead {
  algo: 'sha1' | 'sha256';
  oid: string;
  /** the blob's size */
  size: number;
  held: boolean;
  deflated: Buffer | null;
}

/** indexRawBlob's questions asked early (null: a small index, or one git hashed itself). */
async function indexRawAhead(root: string, rawP: Promise<{ bytes: Buffer } | { oid: string }>, cfgP: Promise<Record<string, string | null>>): Promise<IndexRawAhead | null> {
  const [raw, cfg] = await Promise.all([rawP, cfgP]);
  if (!('bytes' in raw) || raw.bytes.length < INDEX_RAW_AHEAD_FROM || !hasBatchCommand()) return null;
  const algo = cfg['extensions.objectformat']?.toLowerCase() === 'sha256' ? 'sha256' : 'sha1';
  const oid = hashObject(algo, 'blob', raw.bytes);
  const [found] = await objectInfo(root, [oid]);
  if (found?.type === 'blob') return { algo, oid, size: raw.bytes.length, held: true, deflated: null };
  return { algo, oid, size: raw.bytes.length, held: false, deflated: await deflateLevel1(raw.bytes) };
}

// ------------------------------------------------------------------------------------------------

type IndexTags = ReturnType<typeof scanIndexTags> & {
  /** the index's bytes when rb read the tags itself (then also its listing), with the hash length */
  bytes: Buffer | null;
  hashBytes: 20 | 32;
  /** some entry is intent-to-add; null when git listed the tags (not known) */
  intentToAdd: boolean | null;
  /** where the entries lie in `bytes` (for the index tree), when rb read them */
  layout: IndexLayout | null;
};

/**
 * What `git ls-files -v -z` says of the index at `idx` (scanIndexTags): read by rb from the
 * index's bytes when it holds them and reads that index (io/index-file.ts: versions 2-4, not
 * split or sparse), else asked of git.
 */
async function indexTags(run: Run, idx: string, bytesP: Promise<Buffer | null>, cfgP: Promise<Record<string, string | null>>): Promise<IndexTags> {
  const [bytes, cfg] = await Promise.all([bytesP, cfgP]);
  const hashBytes = cfg['extensions.objectformat']?.toLowerCase() === 'sha256' ? 32 : 20;
  if (bytes && bytes.length === 0) {
    return { flaggedPaths: [], assumeUnchanged: [], skipWorktree: [], conflicted: false, badFlaggedName: false, bytes, hashBytes, intentToAdd: false, layout: null };
  }
  const layout = bytes ? readIndexLayout(bytes, hashBytes) : null;
  const f = layout?.flags;
  if (f && bytes) {
    const flaggedPaths: string[] = [];
    let badFlaggedName = false;
    for (const raw of f.flagged) {
      const path = utf8OrNull(raw);
      // a name that is not UTF-8 cannot be looked at by its decoded string: add -A takes it
      if (path === null) badFlaggedName = true;
      else flaggedPaths.push(path);
    }
    return { flaggedPaths, assumeUnchanged: f.assumeUnchanged, skipWorktree: f.skipWorktree, conflicted: f.conflicted, badFlaggedName, bytes, hashBytes, intentToAdd: f.intentToAdd, layout };
  }
  const r = await run(['ls-files', '-v', '-z'], { indexFile: idx, readOnly: true, binary: true });
  return { ...scanIndexTags(r.stdoutBuf), bytes: null, hashBytes, intentToAdd: null, layout: null };
}

/** `git ls-files -s -z` of the index at `idx`: from its bytes when rb read them, else by git. */
async function indexListing(run: Run, idx: string, bytes: Buffer | null, hashBytes: 20 | 32): Promise<Buffer> {
  const parts: Buffer[] = [];
  if (bytes && lsFilesStagedOf(bytes, hashBytes, (chunk) => parts.push(chunk))) return Buffer.concat(parts);
  return (await run(['ls-files', '-s', '-z'], { indexFile: idx, readOnly: true, binary: true })).stdoutBuf;
}

/**
 * Scan `ls-files -v -z` output ("<tag> <path>\0"): the paths flagged assume-unchanged
 * (lowercase tag) or skip-worktree (S/s), and whether any entry is unmerged (M).
 */
function scanIndexTags(buf: Buffer): {
  flaggedPaths: string[]; assumeUnchanged: Buffer[]; skipWorktree: Buffer[]; conflicted: boolean; badFlaggedName: boolean;
} {
  const flaggedPaths: string[] = [];
  const assumeUnchanged: Buffer[] = [];
  const skipWorktree: Buffer[] = [];
  let conflicted = false;
  let badFlaggedName = false;
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0, start);
    if (end < 0) end = buf.length;
    const tag = buf[start]!;
    if (tag === 0x4d /* M */ || tag === 0x6d /* m */) conflicted = true;
    const lower = tag >= 0x61 && tag <= 0x7a;
    if (lower || tag === 0x53 /* S */) {
      const raw = buf.subarray(start + 2, end);
      const path = utf8OrNull(raw);
      // a name that is not UTF-8 cannot be looked at by its decoded string: add -A takes it
      if (path === null) badFlaggedName = true;
      else flaggedPaths.push(path);
      if (lower) assumeUnchanged.push(raw);
      if (tag === 0x53 || tag === 0x73) skipWorktree.push(raw);
    }
    start = end + 1;
  }
  return { flaggedPaths, assumeUnchanged, skipWorktree, conflicted, badFlaggedName };
}

/** core.autocrlf, core.filemode, core.symlinks and core.sparseCheckout from parsed config values. */
function parseCoreConfig(v: Readonly<Record<string, string | null>>): {
  autocrlf: 'true' | 'input' | 'false'; filemode: boolean; symlinks: boolean; sparseCheckout: boolean;
} {
  const bool = (k: string, dflt: boolean): boolean => {
    if (!(k in v)) return dflt;
    const x = v[k];
    return x === null || ['true', 'yes', 'on', '1'].includes(x.toLowerCase());
  };
  // filemode and symlinks default to true on the systems rb runs on
  return {
    autocrlf: normalizeAutocrlf(v['core.autocrlf'] ?? ''), filemode: bool('core.filemode', true), symlinks: bool('core.symlinks', true),
    sparseCheckout: bool('core.sparsecheckout', false),
  };
}

/**
 * The edits that turn the index's tree into the worktree's content, as `git add -A` on a copy
 * of the index would (assume-unchanged / skip-worktree bits ignored): every tracked path that
 * diff-files reports or that carries one of those bits is looked at (gone:
 * removed; a file: hashed with the clean filters; a symlink: its target), and every untracked
 * file is added. Modes as git derives them (core.filemode=false keeps the index's mode).
 * Returns null for what the edit does not model (a directory, FIFO or socket where a tracked
 * file was), so the caller falls back to `git add -A`.
 */
async function worktreeEdits(
  run: Run, tmp: string, root: string, filePack: SharedFilePack, filemode: boolean, diffs: readonly RawDiff[], indexEntry: ReadonlyMap<string, IndexEntry>,
  untrackedFiles: readonly string[], sparseSkip: ReadonlySet<string> | null, convertible: Promise<Set<string>> | null,
): Promise<{ tracked: TreeEditOp[]; untracked: TreeEditOp[] } | null> {
  // every tracked path looked at, with the mode git add derives from (an intent-to-add entry,
  // which has no index entry: the mode diff-files saw on disk)
  const indexMode = new Map<string, string>();
  for (const d of diffs) indexMode.set(d.path, indexEntry.get(d.path)?.mode ?? d.newMode);
  for (const [p, e] of indexEntry) if (!indexMode.has(p)) indexMode.set(p, e.mode);
  const tracked: TreeEditOp[] = [];
  const untracked: TreeEditOp[] = [];
  const files: { path: string; mode: string; into: TreeEditOp[]; isTracked: boolean; size: number }[] = [];
  const links: { path: string; into: TreeEditOp[] }[] = [];
  let unsupported = false;
  const regularMode = (st: { mode: number }, idxMode: string | undefined) => {
    if (filemode) return st.mode & 0o100 ? '100755' : '100644';
    return idxMode === '100755' || idxMode === '100644' ? idxMode : '100644';
  };
  // lstat(a/b/c) follows a symlink at a/ or a/b/: a tracked path below a directory that was
  // replaced by a symlink (or a file) is gone, as git sees it, whatever the symlink points at
  const realDir = new Map<string, Promise<boolean>>();
  const isRealDir = (d: string): Promise<boolean> => {
    let p = realDir.get(d);
    if (!p) {
      const parent = posix.dirname(d);
      p = (parent === '.' ? Promise.resolve(true) : isRealDir(parent))
        .then((ok) => ok && lstat(join(root, d)).then((st) => st.isDirectory(), () => false));
      realDir.set(d, p);
    }
    return p;
  };
  const look = async (path: string, isTracked: boolean) => {
    const into = isTracked ? tracked : untracked;
    let st;
    try {
      const parent = posix.dirname(path);
      if (parent !== '.' && !(await isRealDir(parent))) throw new Error('a parent is not a directory');
      st = await lstat(join(root, path));
    } catch {
      // deleted (or a parent is no longer a directory); in a sparse checkout a skip-worktree
      // entry missing from disk is outside the cone, not deleted (git add -A leaves it alone)
      if (isTracked && !sparseSkip?.has(path)) into.push({ path, remove: true });
      return;
    }
    if (st.isFile()) files.push({ path, mode: regularMode(st, indexMode.get(path)), into, isTracked, size: st.size });
    else if (st.isSymbolicLink()) links.push({ path, into });
    // a tracked file replaced by a directory (whose files `ls-files -o --directory` does not
    // list), a FIFO or a socket: left to `git add -A`
    else if (isTracked) unsupported = true;
  };
  await Promise.all([...[...indexMode.keys()].map((p) => look(p, true)), ...untrackedFiles.map((p) => look(p, false))]);
  if (unsupported) return null;
  // The usual case: check-attr has said which files git would convert. Those are hashed by git
  // (below); the others and the symlinks are read, hashed and written here as one pack
  // (./file-blobs.ts: one read of each file, one git process, one flush).
  if (convertible && files.length + links.length > 0) {
    const conv = await convertible;
    const direct = files.filter((f) => !conv.has(f.path));
    const viaGit = files.filter((f) => conv.has(f.path));
    const stored = await filePack.write('worktree', [...direct.map((f) => ({ path: f.path, link: false, size: f.size })), ...links.map((l) => ({ path: l.path, link: true }))])
      .then((oids) => (oids.includes(undefined) ? null : oids)) // unreadable: git add would stop there, as the ways below do
      .catch((e: unknown) => {
        if (e instanceof FileBlobsUnsure) return null; // something changed under it: the ways below sort it out
        throw e;
      });
    const filtered = stored && viaGit.length > 0 ? await hashWithGit(run, join(tmp, 'c.idx'), viaGit.map((f) => f.path), seedEntries(viaGit, indexEntry, conv)) : new Map<string, { mode: string; oid: string }>();
    if (stored && filtered && viaGit.every((f) => REGULAR.has(filtered.get(f.path)?.mode ?? ''))) {
      direct.forEach((f, i) => {
        const oid = stored[i];
        if (oid) f.into.push({ path: f.path, mode: f.mode, oid });
        else if (f.isTracked) f.into.push({ path: f.path, remove: true }); // vanished meanwhile
      });
      links.forEach((l, k) => {
        const oid = stored[direct.length + k];
        if (oid) l.into.push({ path: l.path, mode: '120000', oid });
        else if (l.into === tracked) l.into.push({ path: l.path, remove: true });
      });
      for (const f of viaGit) f.into.push({ path: f.path, mode: f.mode, oid: filtered.get(f.path)!.oid });
      return { tracked, untracked };
    }
  }
  // Without check-attr's answer (no HEAD), or when the pack was unsure: one `update-index
  // --add` into an empty temporary index hashes every file
  // (clean filters applied, as `git add` would) and symlink (its target), with one disk flush
  // for all the objects (core.fsyncMethod=batch; hash-object would flush once per object).
  // If anything changed under it (a file gone), the slower per-file way below sorts it out.
  const all = [...files.map((f) => f.path), ...links.map((l) => l.path)];
  if (all.length > 0) {
    // git add keeps CRLF in a file whose index blob already has it (core.autocrlf and
    // text=auto only convert line endings that are new). An empty temporary index cannot know
    // that, so the tracked files git would convert are hashed again in one that first gets
    // their index entries (no stat data: every file is still read). Which files those are,
    // check-attr answers beside the first hashing; without its answer (no HEAD), all tracked
    // files are seeded at once.
    let oids = await hashWithGit(run, join(tmp, 'h.idx'), all, convertible ? [] : seedEntries(files, indexEntry, null));
    if (oids && convertible) {
      const seed = seedEntries(files, indexEntry, await convertible);
      if (seed.length > 0) {
        const again = await hashWithGit(run, join(tmp, 'h2.idx'), seed.map(([p]) => p), seed);
        if (again) for (const [p] of seed) oids.set(p, again.get(p)!);
        else oids = null;
      }
    }
    if (oids) {
      const got = oids;
      const ok = files.every((f) => /^100(644|755)$/.test(got.get(f.path)?.mode ?? '')) && links.every((l) => got.get(l.path)?.mode === '120000');
      if (ok) {
        for (const f of files) f.into.push({ path: f.path, mode: f.mode, oid: got.get(f.path)!.oid });
        for (const l of links) l.into.push({ path: l.path, mode: '120000', oid: got.get(l.path)!.oid });
        return { tracked, untracked };
      }
    }
  }
  const linkFiles = await Promise.all(links.map(async (l, i) => {
    try {
      const f = join(tmp, `wlink.${i}`);
      await writeFile(f, await readlink(join(root, l.path), { encoding: 'buffer' }));
      return f;
    } catch {
      return null; // vanished
    }
  }));
  const [fileOids, linkOids] = await Promise.all([
    hashFiles(run, files.map((f) => f.path), { filters: true, strict: true, cwd: root }),
    hashFiles(run, linkFiles.filter((f): f is string => f !== null), { filters: false }),
  ]);
  files.forEach((f, i) => {
    const oid = fileOids[i];
    if (oid) f.into.push({ path: f.path, mode: f.mode, oid });
    else if (f.isTracked) f.into.push({ path: f.path, remove: true }); // vanished meanwhile
  });
  let k = 0;
  links.forEach((l, i) => {
    if (linkFiles[i] === null) {
      if (l.into === tracked) l.into.push({ path: l.path, remove: true });
      return;
    }
    const oid = linkOids[k++];
    if (oid) l.into.push({ path: l.path, mode: '120000', oid });
  });
  return { tracked, untracked };
}

const REGULAR = new Set(['100644', '100755']);

/**
 * The index entries of the tracked files among `files` (only those in `conv` when given) that
 * are regular files: what a temporary index gets before {@link hashWithGit} hashes them, since
 * git add keeps CRLF in a file whose index blob already has it and cannot know that without
 * the entry.
 */
function seedEntries(
  files: readonly { path: string; isTracked: boolean }[], indexEntry: ReadonlyMap<string, IndexEntry>, conv: ReadonlySet<string> | null,
): (readonly [string, IndexEntry])[] {
  return files.filter((f) => f.isTracked && (!conv || conv.has(f.path)))
    .map((f) => [f.path, indexEntry.get(f.path)] as const)
    .filter((x): x is readonly [string, IndexEntry] => !!x[1] && REGULAR.has(x[1].mode));
}

/**
 * `paths` hashed by git as `git add` would (clean filters, line endings): `update-index --add`
 * in the temporary index `idxFile`, which first gets the `seed` entries. path -> mode and blob;
 * null when git refused (a file vanished meanwhile...).
 */
async function hashWithGit(
  run: Run, idxFile: string, paths: readonly string[], seed: readonly (readonly [string, IndexEntry])[],
): Promise<Map<string, { mode: string; oid: string }> | null> {
  // core.ignoreStat would mark the seeded entries assume-unchanged, and --add would then keep
  // their index blobs instead of reading the files
  if (seed.length > 0) {
    await run(['-c', 'core.ignoreStat=false', 'update-index', '-z', '--index-info'], { indexFile: idxFile, input: seed.map(([p, e]) => `${e.mode} ${e.oid}\t${p}\0`).join('') });
  }
  const added = await run(['-c', 'core.ignoreStat=false', 'update-index', '--add', '-z', '--stdin'], { indexFile: idxFile, input: paths.map((p) => p + '\0').join(''), allowFail: true });
  if (added.code !== 0) return null;
  const ls = await run(['ls-files', '-s', '-z'], { indexFile: idxFile, readOnly: true });
  const oids = new Map<string, { mode: string; oid: string }>();
  for (const rec of splitNul(ls.stdout)) {
    const tab = rec.indexOf('\t');
    const [mode, oid] = rec.slice(0, tab).split(' ');
    oids.set(rec.slice(tab + 1), { mode: mode!, oid: oid! });
  }
  return oids;
}

/**
 * Work the edit capture starts beside its hashing: read the base trees the edits will need;
 * list what the index changed relative to HEAD (diff-index --cached, cheap with the index's
 * cache-tree); ask check-attr which of the touched or staged paths git would convert. Each
 * promise also has a handler attached, so a failure surfaces where it is awaited.
 */
function startEarly(
  run: Run, editor: TreeEditor, rIdx: string, indexTree: string, headOid: string, autocrlf: 'true' | 'input' | 'false',
  treesDiffIn: { root: string; known: ReadonlyMap<string, Buffer> } | null, touched: readonly string[],
): { prefetched: Promise<void>; staged: Promise<RawDiff[]>; converted: Promise<Set<string>>; done: Promise<unknown> } {
  const prefetched = editor.prefetch(indexTree, touched);
  const staged = stagedChanges(run, rIdx, indexTree, headOid, treesDiffIn);
  const converted = staged.then((st) => convertedPaths(run, [...new Set([...touched, ...st.filter((d) => d.status !== 'D').map((d) => d.path)])], autocrlf));
  const done = Promise.allSettled([prefetched, staged, converted]);
  for (const p of [prefetched, staged, converted]) p.catch(() => undefined);
  return { prefetched, staged, converted, done };
}

/**
 * Where the index differs from HEAD (`diff-index --cached`). For an index without conflicts or
 * intent-to-add entries (`treesDiffIn`: the worktree root and the index trees rb made and has
 * not written yet, when rb read the index and knows it has none) its tree holds exactly its entries, so HEAD's tree and the index's tree are compared
 * through the command's cat-file process (./tree-diff.ts) instead; git is asked when that
 * cannot read a tree.
 */
async function stagedChanges(
  run: Run, rIdx: string, indexTree: string, headOid: string, treesDiffIn: { root: string; known: ReadonlyMap<string, Buffer> } | null,
): Promise<RawDiff[]> {
  if (treesDiffIn !== null) {
    const headTree = await treeOfCommit(treesDiffIn.root, headOid);
    const records = headTree ? await diffTrees(treesDiffIn.root, headTree, indexTree, treesDiffIn.known) : null;
    if (records) return records;
  }
  const r = await run(['diff-index', '--cached', '-z', '--no-renames', headOid], { indexFile: rIdx, readOnly: true, binary: true });
  return parseRawDiff(r.stdoutBuf).records;
}

/**
 * The regular files of the edited tree that differ from HEAD, sorted as `diff-tree -r` lists
 * them (byte order of the full path is git's tree order for leaves): an edited path whose mode
 * or blob differs from HEAD's entry (HEAD's entry: from diff-index --cached where the index
 * differs from HEAD, else the index's own entry), and a staged path the edit left as it is.
 */
function changedFromHead(
  edit: { tracked: readonly TreeEditOp[]; untracked: readonly TreeEditOp[] }, indexEntry: ReadonlyMap<string, IndexEntry>, staged: readonly RawDiff[],
): { path: string; newMode: string }[] {
  const head = new Map(indexEntry);
  for (const s of staged) head.set(s.path, { mode: s.oldMode, oid: s.oldOid });
  const out: { path: string; newMode: string }[] = [];
  const edited = new Set<string>();
  for (const e of [...edit.tracked, ...edit.untracked]) {
    edited.add(e.path);
    if ('remove' in e || !REGULAR.has(e.mode)) continue;
    const h = head.get(e.path);
    if (!h || h.mode !== e.mode || h.oid !== e.oid) out.push({ path: e.path, newMode: e.mode });
  }
  for (const s of staged) if (!edited.has(s.path) && s.status !== 'D' && REGULAR.has(s.newMode)) out.push({ path: s.path, newMode: s.newMode });
  return out.sort((a, b) => cmp(a.path, b.path));
}

/** The paths (raw bytes) that exist on disk, as an lstat sees them. */
async function onDisk(root: string, paths: readonly Buffer[]): Promise<Buffer[]> {
  const prefix = Buffer.from(root + '/');
  const there = await Promise.all(paths.map((p) => lstat(Buffer.concat([prefix, p])).then(() => true, () => false)));
  return paths.filter((_, i) => there[i]);
}

/**
 * Hold the index as it is now at `dst` (a hard link; a copy with the same mtime where links are
 * not possible) and return whether there is one and its mtime (ns).
 */
async function holdIndex(src: string, dst: string): Promise<{ present: boolean; mtimeNs: bigint | null }> {
  try {
    if ((await lstat(src)).isSymbolicLink()) throw new Error('a symlinked index is copied'); // link() would link the symlink
    await link(src, dst);
    return { present: true, mtimeNs: (await stat(dst, { bigint: true })).mtimeNs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { present: false, mtimeNs: null };
  }
  // no hard links here: read the bytes and the mtime from one open file, write a copy
  let fh;
  try {
    fh = await open(src, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { present: false, mtimeNs: null };
    throw e;
  }
  try {
    const st = await fh.stat({ bigint: true });
    await writeFile(dst, await fh.readFile());
    await setMtimeNs(dst, st.mtimeNs);
    return { present: true, mtimeNs: st.mtimeNs };
  } finally {
    await fh.close();
  }
}

/** Another name for the held index: a hard link, or a copy with the same mtime. */
async function linkOrCopy(src: string, dst: string, mtimeNs: bigint): Promise<void> {
  try {
    await link(src, dst);
  } catch {
    await copyFile(src, dst);
    await setMtimeNs(dst, mtimeNs);
  }
}

/**
 * Set a file's mtime to at most `ns` (rounded down to the microsecond, minus one): an index
 * that looks older than it is only makes git re-check more entries, never fewer.
 */
export async function setMtimeNs(path: string, ns: bigint): Promise<void> {
  const seconds = (Number(ns / 1000n) - 1) / 1e6;
  await utimes(path, seconds, seconds);
}

/** core.autocrlf as git reads it: 'true' | 'input' | 'false'. */
function normalizeAutocrlf(v: string): 'true' | 'input' | 'false' {
  const s = v.toLowerCase();
  if (s === 'input') return 'input';
  if (s === 'true' || s === 'yes' || s === 'on' || s === '1') return 'true';
  return 'false';
}

/** UTC stamp YYYYMMDD-HHMMSS. */
export function formatStamp(d: Date): string {
  return stampOf(d, { utc: true });
}

/** Byte-order comparison (what git sorts by), not locale order. */
function cmp(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

/** An entry of `ls-files -o --directory`: path without the trailing slash, dir flag. */
interface ListedEntry {
  path: string;
  dir: boolean;
}

/**
 * `ls-files -o -i --directory` can list a directory and then files inside it again: keep an
 * entry only when none of its ancestors is itself a listed directory.
 */
function dedupeEntries(raw: readonly string[]): ListedEntry[] {
  const entries = raw.map((p) => ({ path: p.replace(/\/$/, ''), dir: p.endsWith('/') })).filter((e) => e.path !== '');
  const dirs = new Set(entries.filter((e) => e.dir).map((e) => e.path));
  const seen = new Set<string>();
  return entries.filter((e) => {
    if (seen.has(e.path)) return false;
    seen.add(e.path);
    for (let d = posix.dirname(e.path); d !== '.' && d !== ''; d = posix.dirname(d)) if (dirs.has(d)) return false;
    return true;
  });
}

/** Map a path of the index/ tree back to the real path (strip .rb-stage-N/). */
function unStage(p: string): string {
  return p.startsWith(STAGE_DIR_PREFIX) ? p.slice(p.indexOf('/') + 1) : p;
}

/** An entry of the index: its mode and blob. */
interface IndexEntry {
  mode: string;
  oid: string;
}

/** One record of raw diff output: old and new mode, the old blob (all zeros when none), status, path. */
interface RawDiff {
  oldMode: string;
  newMode: string;
  oldOid: string;
  status: string;
  path: string;
}

/**
 * Parse raw diff output (`diff-files`, `diff-index`, `diff-tree`; -z, no renames: one path per
 * record). bad: some path is not UTF-8 (its record is left out).
 */
function parseRawDiff(buf: Buffer): { records: RawDiff[]; bad: boolean } {
  const records: RawDiff[] = [];
  let bad = false;
  let header: string | null = null;
  let start = 0;
  for (let i = 0; i <= buf.length; i++) {
    if (i < buf.length && buf[i] !== 0) continue;
    if (i === start && i === buf.length) break;
    const part = buf.subarray(start, i);
    start = i + 1;
    if (header === null) {
      if (part[0] === 0x3a /* : */) header = part.toString('latin1'); // else a commit id line (diff-tree of commits)
      continue;
    }
    const [oldMode, newMode, oldOid, , status] = header.slice(1).split(' ');
    header = null;
    const path = utf8OrNull(part);
    if (path === null) bad = true;
    else records.push({ oldMode: oldMode!, newMode: newMode!, oldOid: oldOid!, status: status!, path });
  }
  return { records, bad };
}

/**
 * The paths among `paths` whose bytes git would convert between the worktree and the object
 * store (check-attr text/eol/filter/ident/working-tree-encoding, plus core.autocrlf for
 * files without a text attribute). Their raw bytes are stored so restore writes them back
 * exactly. Same rule as the prototype's rawfix.
 */
async function convertedPaths(run: Run, paths: readonly string[], autocrlf: 'true' | 'input' | 'false'): Promise<Set<string>> {
  const out = new Set<string>();
  if (paths.length === 0) return out;
  const r = await run(['check-attr', '-z', '--stdin', 'text', 'eol', 'filter', 'ident', 'working-tree-encoding'], {
    input: paths.map((p) => p + '\0').join(''), readOnly: true,
  });
  const f = splitNul(r.stdout);
  const text = new Map<string, string>();
  for (let i = 0; i + 2 < f.length; i += 3) {
    const p = f[i]!;
    const a = f[i + 1]!;
    const v = f[i + 2]!;
    if (a === 'text') text.set(p, v);
    else if (v !== 'unspecified' && v !== 'unset') out.add(p);
  }
  for (const p of paths) {
    const t = text.get(p) ?? 'unspecified';
    if (t === 'set' || t === 'auto') out.add(p);
    else if (t === 'unspecified' && autocrlf !== 'false') out.add(p);
    else if (t !== 'unset' && t !== 'unspecified') out.add(p); // text=<other value>
  }
  return out;
}

/** The ignored files' blobs by `git hash-object --no-filters` (symlink targets through temp files): when the pack of file contents was unsure. */
async function hashIgnored(run: Run, tmp: string, root: string, files: readonly IgnoredFile[]): Promise<(string | undefined)[]> {
  // symlink targets are hashed from temp files holding the target bytes
  const hashPaths: string[] = [];
  await Promise.all(files.map(async (f, i) => {
    if (!f.link) {
      hashPaths[i] = f.path;
      return;
    }
    const target = await readlink(join(root, f.path), { encoding: 'buffer' });
    const tf = join(tmp, `link.${i}`);
    await writeFile(tf, target);
    hashPaths[i] = tf;
  }));
  return hashFiles(run, hashPaths, { filters: false });
}

/**
 * `hash-object -w` for many paths (argv chunks, so any name works), with the clean filters and
 * eol conversion `git add` would apply (filters: true) or the raw bytes (filters: false).
 * Returns one oid per path, or undefined for a path that could not be read (it vanished, or,
 * unless strict, it is unreadable): a failing chunk is retried file by file. strict: a file
 * that is there but cannot be hashed (unreadable, a required clean filter failed) throws, as
 * `git add` would.
 */
async function hashFiles(run: Run, paths: readonly string[], o: { filters: boolean; strict?: boolean; cwd?: string }): Promise<(string | undefined)[]> {
  const cmd = ['hash-object', '-w', ...(o.filters ? [] : ['--no-filters']), '--'];
  const out: (string | undefined)[] = [];
  let offset = 0;
  for (const chunk of chunkArgs(paths)) {
    const base = offset;
    offset += chunk.length;
    const r = await run([...cmd, ...chunk], { allowFail: true });
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    if (r.code === 0 && lines.length === chunk.length) {
      lines.forEach((l, i) => { out[base + i] = l.trim(); });
      continue;
    }
    for (let i = 0; i < chunk.length; i++) {
      const one = await run([...cmd, chunk[i]!], { allowFail: true });
      if (one.code === 0) {
        out[base + i] = one.stdout.trim();
        continue;
      }
      out[base + i] = undefined;
      if (o.strict && (await lstat(join(o.cwd!, chunk[i]!)).then(() => true, () => false))) {
        throw new GitError([...cmd, chunk[i]!], one.code, one.stdout, one.stderr);
      }
    }
  }
  return out;
}

/**
 * Walk an untracked directory git listed (collapsed) with `ls-files -o --directory`: its files
 * and symlinks (into `files`), nested repositories (a `.git` child: not entered, reported) and
 * empty leaf directories. Ignored entries (listed separately by git) are left to the ignored walk.
 */
async function walkUntrackedDir(
  root: string, rel: string, ignoredSet: Set<string>, nested: string[], empty: string[], files: string[], dirs: string[], unreadable: string[],
): Promise<void> {
  let ents;
  try {
    ents = await readdir(join(root, rel), { withFileTypes: true });
  } catch (e) {
    // another user's directory this user cannot list: left out, named; else vanished or not a directory any more
    if (isAccessError(e)) unreadable.push(rel);
    return;
  }
  if (ents.some((e) => e.name === '.git')) {
    nested.push(rel);
    return;
  }
  if (!rel.includes('\uFFFD')) dirs.push(rel);
  if (ents.length === 0) {
    if (!rel.includes('\uFFFD')) empty.push(rel);
    return;
  }
  await Promise.all(ents.map((e) => {
    const child = `${rel}/${e.name}`;
    if (ignoredSet.has(child)) return undefined;
    if (e.isFile() || e.isSymbolicLink()) files.push(child);
    return e.isDirectory() ? walkUntrackedDir(root, child, ignoredSet, nested, empty, files, dirs, unreadable) : undefined;
  }));
}

/**
 * Walk one ignored entry (file, symlink or directory). Stops early, skipping the whole entry,
 * once it grows over `cap` bytes; skips it when its name is listed; reports nested
 * repositories, listed names and special files inside it while keeping the rest.
 */
async function walkIgnoredEntry(
  root: string, entry: string, cap: number, skipNames: Set<string>,
): Promise<{ skip: SkippedEntry } | { files: IgnoredFile[]; emptyDirs: string[]; dirs: string[]; skipped: SkippedEntry[] }> {
  if (skipNames.has(posix.basename(entry))) return { skip: { reason: 'listed', path: entry } };
  let st;
  try {
    st = await lstat(join(root, entry));
  } catch {
    return { files: [], emptyDirs: [], dirs: [], skipped: [] }; // vanished
  }
  if (st.isSymbolicLink() || st.isFile()) {
    if (st.size > cap) return { skip: { reason: 'too-big', path: entry } };
    return { files: [{ path: entry, link: st.isSymbolicLink(), perm: st.mode & 0o7777, size: st.size }], emptyDirs: [], dirs: [], skipped: [] };
  }
  if (!st.isDirectory()) return { skip: { reason: 'special-file', path: entry } };

  const files: IgnoredFile[] = [];
  const emptyDirs: string[] = [];
  const dirs: string[] = [];
  const skipped: SkippedEntry[] = [];
  let total = 0;
  let over = false;
  let badName = false;
  const walk = async (rel: string, isEntry: boolean): Promise<void> => {
    if (over || badName) return;
    let ents;
    try {
      ents = await readdir(join(root, rel), { withFileTypes: true });
    } catch (e) {
      if (isAccessError(e)) {
        if (isEntry) throw new Unreadable();
        skipped.push({ reason: 'unreadable', path: rel });
      }
      return;
    }
    if (ents.some((e) => e.name === '.git')) {
      if (isEntry) throw new NestedRepo();
      skipped.push({ reason: 'nested-repo', path: rel });
      return;
    }
    dirs.push(rel);
    if (ents.length === 0) {
      emptyDirs.push(rel);
      return;
    }
    await Promise.all(ents.map(async (e) => {
      if (over || badName) return;
      if (e.name.includes('\uFFFD')) {
        badName = true;
        return;
      }
      const child = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (skipNames.has(e.name)) skipped.push({ reason: 'listed', path: child });
        else await walk(child, false);
        return;
      }
      if (e.isFile() || e.isSymbolicLink()) {
        let s;
        try {
          s = await lstat(join(root, child));
        } catch {
          return;
        }
        total += s.size;
        if (total > cap) {
          over = true;
          return;
        }
        files.push({ path: child, link: s.isSymbolicLink(), perm: s.mode & 0o7777, size: s.size });
        return;
      }
      skipped.push({ reason: 'special-file', path: child });
    }));
  };
  try {
    await walk(entry, true);
  } catch (e) {
    if (e instanceof NestedRepo) return { skip: { reason: 'nested-repo', path: entry } };
    if (e instanceof Unreadable) return { skip: { reason: 'unreadable', path: entry } };
    throw e;
  }
  if (over) return { skip: { reason: 'too-big', path: entry } };
  if (badName) return { skip: { reason: 'non-utf8-name', path: entry } };
  return { files, emptyDirs, dirs, skipped };
}

class NestedRepo extends Error {}
class Unreadable extends Error {}

/** EACCES / EPERM: the entry is there, this user may not read it. */
function isAccessError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM';
}

/**
 * Move the files of `files` this user cannot read into `unreadable` (in place). One access()
 * per untracked file; as root (who reads everything) none.
 */
async function dropUnreadable(root: string, files: string[], unreadable: string[]): Promise<void> {
  if (files.length === 0 || process.geteuid?.() === 0) return;
  const readable = await Promise.all(files.map((f) => access(join(root, f), constants.R_OK).then(() => true, (e) => !isAccessError(e))));
  const kept = files.filter((f, i) => {
    if (!readable[i]) unreadable.push(f);
    return readable[i];
  });
  files.splice(0, files.length, ...kept);
}

/**
 * For a deleted tracked path, the nearest existing ancestor directory if it is empty (a
 * directory git will not list: it still "holds" tracked entries). Each directory is checked once.
 */
async function emptyExistingAncestor(root: string, path: string, seen: Set<string>): Promise<string | null> {
  for (let d = posix.dirname(path); d !== '.' && d !== '' && d !== '/'; d = posix.dirname(d)) {
    if (seen.has(d)) return null;
    seen.add(d);
    let st;
    try {
      st = await lstat(join(root, d));
    } catch {
      continue; // gone: look further up
    }
    if (!st.isDirectory()) return null;
    const ents = await readdir(join(root, d));
    return ents.length === 0 ? d : null;
  }
  return null;
}
