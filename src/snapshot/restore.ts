/**
 * restoreSnapshot: put a working copy back exactly as a snapshot recorded it (a TypeScript
 * port of prototype/restore.sh).
 *
 * Preflight, before anything changes: git's index.lock must not exist; a journal of another
 * restore must not exist; nothing the safety snapshot had to skip (a nested repository,
 * node_modules, an over-cap ignored file) may sit where the snapshot has a file; and this user
 * must be able to change every entry the restore changes (restore-access.ts): this user's
 * read-only directories are opened for the restore and get their mode back at the end (the
 * snapshot's recorded mode, or the one they had), entries in someone else's directories that
 * already are what the snapshot holds are left alone, and anything else there stops the
 * restore before it starts (PreconditionError) — or, with skipUnwritable, is left as it is
 * and named in a warning.
 *
 * Order, each step idempotent so that re-running after a crash finishes the job:
 *   safety   snapshot of the current state first (so the restore itself can be undone)
 *   journal  <common dir>/rb/restore-journal (atomic write): target + safety snapshot; a re-run
 *            with the same target resumes; a journal for another target is refused
 *   head     HEAD back to the branch (symbolic) or commit (detached); a branch that moved since
 *            the snapshot is only reset with resetBranch, else a warning
 *   worktree assume-unchanged / skip-worktree bits cleared in the current index (read-tree
 *            refuses to overwrite changed files behind them), then
 *            `read-tree --reset -u <worktree tree>`: tracked + untracked content, index = that tree
 *            (from the safety snapshot's index tree, two trees, when that snapshot found the
 *            working copy equal to it: only the paths that differ are stated and written)
 *   clean    `clean -fd -e <every skipped path>`: drop untracked files the snapshot did not
 *            have (they are in the safety snapshot). Never -x, never -ff. Not run after the
 *            two-tree read-tree when it could only remove empty directories the target has
 *            too (the safety snapshot saw no untracked file). Then the ignored
 *            files the safety snapshot holds and the target does not (see
 *            removeIgnoredNotInTarget): only those, so nothing it could not capture is touched
 *   raw      files git would convert on checkout, written back byte-exact
 *   ignored  ignored files written raw with their modes (symlinks too)
 *   index    the raw index installed through git's index.lock (exclusive create) + rename, with
 *            the original index's mtime (so git's racy-clean checks work as they did)
 *   refresh  `update-index -q --refresh`
 *   gitstate in-progress merge/rebase/... files: current ones removed, captured ones put back
 *   emptydirs, perms
 * Then a check (HEAD, and the index entries against meta/index.ls; differences are warnings)
 * and the journal is removed.
 *
 * Writes never follow a symlink out of the worktree: a path whose parent is not a real
 * directory is skipped with a warning.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { chmod, lstat, mkdir, mkdtemp, open, readFile, rename, rm, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { git, revParse, type GitOptions, type GitResult } from '../io/git.js';
import { headRef, refPositions } from '../io/repo-state.js';
import { listTree, objectInfo, readObjectSink, readObjects, writeBlobInto } from '../io/cat-file.js';
import { lsFilesStagedOf, readIndexBits, type IndexBits } from '../io/index-file.js';
import { writeFileAtomic } from '../io/fs.js';
import type { Repo } from '../repo.js';
import { LockedError, PreconditionError, StepFailedError, UsageError } from '../errors.js';
import { captureSnapshot, setMtimeNs, type CaptureOptions } from './capture.js';
import { readSnapshot, resolveSnapshot } from './store.js';
import {
  FSYNC_FLAGS, GITSTATE_NAMES, catFileBatch, chunkArgs, cleanExcludes, decodeSkipped, groupBySize, parseHeadMeta, splitNul,
  type SkippedEntry, type SnapshotInfo, type SnapshotInfoFile,
} from './format.js';
import { tempDirPrefix } from '../journal/leftovers.js';
import { pidAlive } from '../journal/journal.js';
import { showPath } from '../ui/format.js';
import { closeDirs, isSuperuser, openDirs, readOnlyModes, type OpenedDir } from '../io/access.js';
import { unwritableError } from '../engine/access.js';
import { allClear, analyzeRestore, type RestoreAccess, type RestoreTarget } from './restore-access.js';
import { DEFAULT_SKIP_IGNORED } from './capture.js';
import { snapshotSkipNames } from '../config/defaults.js';
import { TreeEditor } from './tree-edit.js';
import { unpackGitState } from './gitstate-tar.js';

export type RestoreStep =
  | 'safety' | 'journal' | 'head' | 'worktree' | 'clean' | 'raw' | 'ignored' | 'index' | 'refresh'
  | 'gitstate' | 'emptydirs' | 'perms';

export const RESTORE_STEPS: readonly RestoreStep[] = [
  'safety', 'journal', 'head', 'worktree', 'clean', 'raw', 'ignored', 'index', 'refresh', 'gitstate', 'emptydirs', 'perms',
];

export interface RestoreOptions {
  /** move HEAD's branch back to the snapshot's commit when it moved since (default false: warn) */
  resetBranch?: boolean;
  /** take a snapshot of the current state first (default true) */
  safetySnapshot?: boolean;
  /** options for that safety snapshot (maxIgnoredBytes, skipIgnored, runId from the config/run); its message is set here */
  capture?: Omit<CaptureOptions, 'message'>;
  /**
   * Called with the safety snapshot as soon as it exists, before anything changes: the caller
   * journals it, so a kill at any later point leaves a run that knows the state to return to.
   */
  onSafety?: (safety: SnapshotInfo) => Promise<void>;
  /**
   * Entries this user cannot change (restore-access.ts): with skipUnwritable, those that may stay
   * as they are (untracked or ignored) are left and named in a warning; otherwise the restore
   * stops before it starts, naming them and the fix, then `retry` (default `rb snapshots restore <id>`).
   */
  unwritable?: { skipUnwritable?: boolean; retry?: string };
  /** @internal tests only: throw right after this step, as a crash would stop the restore there */
  _faultAfter?: RestoreStep;
}

export interface RestoreResult {
  /** the snapshot id restored (the commit oid when no snapshot ref points at it) */
  restored: string;
  /** the snapshot commit restored */
  commit: string;
  /** the snapshot of the state before the restore (from the journal when resuming), or null */
  safetySnapshot: SnapshotInfo | null;
  warnings: string[];
  /** true when this call finished an interrupted restore */
  resumed: boolean;
}

/** The restore journal (JSON). */
interface RestoreJournal {
  version: 1;
  target: string;
  id: string;
  root: string;
  safetySnapshot: string | null;
  safetyCommit: string | null;
  startedAt: string;
  pid: number;
  host: string;
  /** this user's read-only directories opened for the restore, with the mode each had (put back at the end) */
  opened?: OpenedDir[];
}

export function restoreJournalPath(repo: Repo): string {
  return join(repo.commonDir, 'rb', 'restore-journal');
}

/** the small meta files, read up front */
const META_FILES = ['HEAD', 'raw.list', 'emptydirs', 'perms', 'gitstate.tar', 'skipped', 'info.json'] as const;
type MetaName = (typeof META_FILES)[number];

type Run = (args: readonly string[], o?: Partial<GitOptions>) => Promise<GitResult>;

/**
 * Restore snapshot `idOrCommit` (an id, a unique id prefix, or a snapshot commit) into `repo`.
 * Throws UsageError for an unknown snapshot, PreconditionError when git's index.lock is held or
 * a skipped path would be overwritten (nothing changed then), LockedError when another
 * restore's journal is in the way, StepFailedError/GitError when a step fails (run it again
 * to finish: the journal makes it resume).
 */
export async function restoreSnapshot(repo: Repo, idOrCommit: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const root = repo.root;
  const run: Run = (args, o = {}) =>
    git([...FSYNC_FLAGS, ...args], { cwd: root, ...o, env: { GIT_LITERAL_PATHSPECS: '1', ...o.env } });
  const fault = (step: RestoreStep) => {
    if (opts._faultAfter === step) throw new Error(`rb test fault after restore step "${step}"`);
  };
  const warnings: string[] = [];

  const target = await resolveSnapshot(repo, idOrCommit);
  const c = target.commit;
  const label = target.id || c;
  // the raw index and its listing are big (megabytes in a large repository): never held in
  // memory, streamed into the index at the index step and hashed at the final check
  const metaBufs = await catFileBatch(repo, META_FILES.map((n) => `${c}:meta/${n}`));
  const meta = {} as Record<MetaName, Buffer>;
  META_FILES.forEach((n, i) => { meta[n] = metaBufs[i] ?? Buffer.alloc(0); });
  if (!metaBufs[0]) throw new UsageError(`${idOrCommit} is not an rb snapshot (no meta/HEAD)`);
  // the two trees, asked of the command's cat-file process (git 2.36+) rather than a rev-parse
  const trees = await objectInfo(root, [`${c}:worktree`, `${c}:ignored`]);
  if (trees.some((t) => t?.type !== 'tree')) throw new StepFailedError(`snapshot ${label} has no worktree/ or ignored/ tree`);
  const [worktreeTree, ignoredTree] = trees.map((t) => t!.oid) as [string, string];
  // mtime for the reinstalled index (see below); without one (prototype snapshots) 1 s after
  // the epoch, which makes git re-check every entry once
  let indexMtimeNs = 1_000_000_000n;
  if (meta['info.json'].length > 0) {
    try {
      const info = JSON.parse(meta['info.json'].toString('utf8')) as SnapshotInfoFile;
      if (info.root && info.root !== root) warnings.push(`snapshot ${label} was taken in ${info.root}, restoring into ${root}`);
      if (info.indexMtimeNs && /^\d+$/.test(info.indexMtimeNs)) indexMtimeNs = BigInt(info.indexMtimeNs);
    } catch { /* described from trailers */ }
  }

  // --- preflight: git's own lock ---------------------------------------------------------------
  const indexLock = join(repo.gitDir, 'index.lock');
  if (await exists(indexLock)) {
    throw new PreconditionError(`${indexLock} exists: another git process is running, or one crashed.`, {
      next: `if no git command is running, remove ${indexLock}, then run the restore again`,
    });
  }

  // --- preflight: entries this user cannot change ------------------------------------------------
  const perms = parsePerms(meta.perms);
  const access = await analyzeRestore(repo, restoreTarget(worktreeTree, ignoredTree, meta, perms, opts.capture?.skipIgnored), opts.unwritable?.skipUnwritable ?? false);
  if (access.blocked.length > 0) throw unwritableError(access.blocked, { retry: opts.unwritable?.retry ?? `rb snapshots restore ${label}`, skipFlag: !opts.unwritable?.retry, nothingChanged: true });
  warnings.push(...access.leftNotes.map((n) => `not restored: ${n}`));
  const leave = (p: string) => {
    if (access.leave.size === 0) return false;
    for (let q = p; q !== '.' && q !== ''; q = posix.dirname(q)) if (access.leave.has(q)) return true;
    return false;
  };

  // --- safety snapshot + journal -------------------------------------------------------------
  const journalPath = restoreJournalPath(repo);
  const journal = await readJournal(journalPath);
  let safety: SnapshotInfo | null = null;
  let resumed = false;
  let opened: OpenedDir[] = [];
  // restoring the state from before an interrupted restore (its safety snapshot), after the
  // process that ran it died, is how that restore is aborted or undone: it supersedes it
  const supersedes = journal !== null && journal.safetySnapshot !== null && journal.safetySnapshot === target.id && journal.target !== c && !(journal.host === hostname() && pidAlive(journal.pid));
  if (journal && !supersedes) {
    if (journal.target !== c || journal.root !== root) {
      throw new LockedError(
        `another restore was interrupted: snapshot ${journal.id || journal.target} into ${journal.root} (started ${journal.startedAt}).`,
        {
          next: `finish it first by restoring ${journal.id || journal.target} again` +
            (journal.safetySnapshot ? ` (the state before it is snapshot ${journal.safetySnapshot})` : '') +
            `, or delete ${journalPath} if you are sure`,
        },
      );
    }
    resumed = true;
    opened = journal.opened ?? [];
    if (journal.safetySnapshot) {
      safety = await readSnapshot(repo, journal.safetySnapshot);
      if (!safety) warnings.push(`the safety snapshot ${journal.safetySnapshot} of the interrupted restore no longer exists`);
    }
  } else {
    if (opts.safetySnapshot !== false) {
      safety = await captureSnapshot(repo, { ...opts.capture, message: `before restore of ${label}` });
      await opts.onSafety?.(safety);
    }
    if (supersedes) warnings.push(`the interrupted restore of ${journal!.id || journal!.target} (pid ${journal!.pid}) was superseded: its safety snapshot ${target.id} is what is being restored`);
    fault('safety');
    await checkSkippedCollisions(run, worktreeTree, safety?.skipped ?? []);
    const j: RestoreJournal = {
      version: 1, target: c, id: target.id, root, safetySnapshot: safety?.id ?? null, safetyCommit: safety?.commit ?? null,
      startedAt: new Date().toISOString(), pid: process.pid, host: hostname(),
      // journaled before they are opened: a resumed restore still puts their modes back
      opened: await readOnlyModes(root, access.openUp),
    };
    writeFileAtomic(journalPath, JSON.stringify(j, null, 2) + '\n', 'write-ahead'); // before anything is restored
    opened = j.opened!;
  }
  fault('journal');
  // this user's read-only directories (Go's module cache), writable until the perms step
  const more = (await readOnlyModes(root, access.openUp)).filter((o) => !opened.some((x) => x.path === o.path));
  opened = [...opened, ...more];
  await openDirs(root, opened.map((o) => o.path));

  // --- HEAD ---------------------------------------------------------------------------------------
  const head = parseHeadMeta(meta.HEAD);
  if (head.ref) {
    if (!head.ref.startsWith('refs/')) throw new StepFailedError(`snapshot ${label} has an invalid HEAD ref: ${head.ref}`);
    const cur = /^refs\/(heads|tags|remotes)\//.test(head.ref) ? ((await refPositions(root))[head.ref] ?? null) : await revParse(root, head.ref);
    if (head.oid) {
      if (!cur) {
        await run(['update-ref', '-m', 'rb restore', head.ref, head.oid, '']);
      } else if (cur !== head.oid) {
        if (opts.resetBranch) await run(['update-ref', '-m', 'rb restore', head.ref, head.oid, cur]);
        else warnings.push(`${head.ref} moved since the snapshot (${head.oid.slice(0, 12)} -> ${cur.slice(0, 12)}); left where it is (reset it with resetBranch)`);
      }
    } else if (cur) {
      warnings.push(`${head.ref} had no commits when the snapshot was taken and now points at ${cur.slice(0, 12)}; left where it is`);
    }
    await run(['symbolic-ref', '-m', 'rb restore', 'HEAD', head.ref]);
  } else if (head.oid) {
    await run(['update-ref', '--no-deref', '-m', 'rb restore', 'HEAD', head.oid]);
  }
  fault('head');

  // --- worktree: tracked + untracked content, then what did not exist -------------------------
  // read-tree refuses to overwrite a changed file behind assume-unchanged / skip-worktree even
  // with --reset: clear those flags in the current index first (its original is in the safety
  // snapshot; the snapshot's own flags come back with the raw index below)
  const hadFlags = await clearIndexFlags(repo, run, c.length === 64 ? 32 : 20);
  // (untracked entries left where they are, in someone else's directory, are taken out of the
  // tree read-tree writes; clean then leaves them too)
  const newTree = await treeWithout(run, worktreeTree, access.leaveInTree);
  // when the safety snapshot just found the working copy to be its index's tree exactly, git
  // reads the target from there (a two-tree read-tree, as `git checkout` does) and writes and
  // stats only the paths that differ; else from the index alone, stating every file
  const fromTree = !resumed && !hadFlags && safety && !safety.conflicted ? await cleanIndexTree(root, safety.commit) : null;
  const readTree = run(['read-tree', '--reset', '-u', ...(fromTree ? [fromTree] : []), newTree]);
  // the final check's expectation (the snapshot's index listing, digested) is worked out while
  // git reads the tree (started once git runs: in a 50,000-entry index its ~30 ms of node would
  // otherwise hold back read-tree's start); it depends on the snapshot alone
  const expectedListingP = expectedIndexListing(repo, run, c);
  expectedListingP.catch(() => undefined); // awaited at the check; a step failing first must not leave it unhandled
  await readTree;
  fault('worktree');
  const targetSkipped = decodeSkipped(meta.skipped);
  const skippedNow: SkippedEntry[] = [...targetSkipped, ...(safety?.skipped ?? []), ...[...access.leave].map((path) => ({ reason: 'unwritable', path }))];
  // after a two-tree read-tree from a working copy without untracked files, clean could only
  // remove empty directories: not run when the target has each of the safety snapshot's too
  if (!fromTree || !(await emptyDirsKept(repo, safety!.commit, meta.emptydirs))) await run(['clean', '-f', '-d', '-q', ...cleanExcludes(skippedNow)]);
  // the target's ignored entries (written back below), listed now: ignored entries it does not
  // have are removed too, when the safety snapshot holds them (so an undo of an undo is exact)
  const ignored = await listIgnored(repo, ignoredTree);
  if (safety) {
    await removeIgnoredNotInTarget(repo, run, safety.commit, {
      ignored: new Set(ignored.map((e) => e.path)), skipped: [...targetSkipped, ...[...access.leave].map((path) => ({ reason: 'unwritable', path }))],
      emptyDirs: new Set(splitNul(meta.emptydirs.toString('utf8'))),
    }, warnings);
  }
  fault('clean');

  // --- raw files: byte-exact content for files git would convert ------------------------------------
  const rawList = splitNul(meta['raw.list'].toString('utf8')).map((rec) => {
    const tab = rec.indexOf('\t');
    return { oid: rec.slice(0, tab), path: rec.slice(tab + 1), size: 0 };
  }).filter((r) => !leave(r.path));
  await forEachBlob(repo, rawList, async (item, data) => {
    const abs = join(root, item.path);
    let mode = 0o644;
    try {
      const st = await lstat(abs);
      if (st.isDirectory()) {
        warnings.push(`not restored (a directory is in the way): ${showPath(item.path)}`);
        return;
      }
      if (st.isFile()) mode = st.mode & 0o7777;
    } catch { /* written fresh */ }
    if (!(await ensureParentDirs(root, item.path))) {
      warnings.push(`not restored (a parent is not a directory): ${showPath(item.path)}`);
      return;
    }
    await replaceFile(abs, data, mode, false);
  });
  fault('raw');

  // --- ignored files, raw, with their modes -----------------------------------------------------
  const ignoredBlobs = ignored.filter((e) => !leave(e.path)).filter((e) => {
    if (e.type === 'blob' && (e.mode === '100644' || e.mode === '100755' || e.mode === '120000')) return true;
    warnings.push(`ignored entry not restored (${e.mode} ${e.type}): ${showPath(e.path)}`);
    return false;
  });
  await forEachBlob(repo, ignoredBlobs, async (e, data) => {
    if (!(await ensureParentDirs(root, e.path))) {
      warnings.push(`not restored (a parent is not a directory): ${showPath(e.path)}`);
      return;
    }
    const abs = join(root, e.path);
    try {
      if ((await lstat(abs)).isDirectory()) {
        warnings.push(`not restored (a directory is in the way): ${showPath(e.path)}`);
        return;
      }
    } catch { /* absent */ }
    const mode = perms.get(e.path) ?? (e.mode === '100755' ? 0o755 : 0o644);
    await replaceFile(abs, data, mode, e.mode === '120000');
  });
  fault('ignored');

  // --- the raw index, through git's lock protocol ----------------------------------------------------
  const indexFile = join(repo.gitDir, 'index');
  let indexWritten = false;
  {
    let fh;
    try {
      fh = await open(indexLock, 'wx', 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new StepFailedError(`${indexLock} appeared during the restore: another git process is running.`, {
          next: `when it has finished, run the restore of ${label} again`,
        });
      }
      throw e;
    }
    try {
      await writeBlobInto(root, `${c}:meta/index.raw`, fh.fd);
      indexWritten = (await fh.stat()).size > 0;
      if (indexWritten) await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(indexLock, { force: true });
      throw e;
    }
    await fh.close();
  }
  if (indexWritten) {
    // the index's original mtime: git trusts an entry's stat data only for files older than
    // the index file, so with a fresh mtime a file changed in the same second as the original
    // index write would pass for clean ("racy git")
    await setMtimeNs(indexLock, indexMtimeNs);
    await rename(indexLock, indexFile);
  } else {
    await rm(indexLock, { force: true });
    await rm(indexFile, { force: true });
  }
  fault('index');
  // every entry: refreshing only the files the restore wrote (`add --refresh <paths>`) costs git
  // a match of each entry against each path, as much CPU at 100 paths as this lstat of every file
  await run(['update-index', '-q', '--refresh'], { allowFail: true });
  fault('refresh');

  // --- in-progress operation state ----------------------------------------------------------------
  await Promise.all(GITSTATE_NAMES.map((n) => rm(join(repo.gitDir, n), { recursive: true, force: true })));
  if (meta['gitstate.tar'].length > 0) {
    const tmp = await mkdtemp(tempDirPrefix(repo.gitDir, 'rb-restore'));
    try {
      // plain files without loading `tar`; anything else through it, from a file (./gitstate-tar.ts)
      await unpackGitState(repo.gitDir, meta['gitstate.tar'], async () => {
        const file = join(tmp, 'gitstate.tar');
        await open(file, 'wx', 0o600).then(async (fh) => {
          try { await fh.writeFile(meta['gitstate.tar']); } finally { await fh.close(); }
        });
        return file;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  fault('gitstate');

  // --- empty directories, permission bits ----------------------------------------------------------
  for (const d of splitNul(meta.emptydirs.toString('utf8'))) {
    if (!(await ensureParentDirs(root, d + '/x'))) warnings.push(`empty directory not restored (a parent is not a directory): ${showPath(d)}`);
  }
  fault('emptydirs');
  // the opened directories get their mode back: the snapshot's where it recorded one (below), else the one they had
  await closeDirs(root, opened, new Set(perms.keys()));
  // deepest first: a directory made read-only (0555) or closed (0700 for someone else) after
  // everything inside it has its mode
  const byDepth = new Map<number, [string, number][]>();
  for (const [p, mode] of perms) {
    const d = p.split('/').length;
    byDepth.set(d, [...(byDepth.get(d) ?? []), [p, mode]]);
  }
  for (const depth of [...byDepth.keys()].sort((a, b) => b - a)) {
    await Promise.all(byDepth.get(depth)!.map(async ([p, mode]) => {
      if (leave(p) || !(await parentsAreDirs(root, p))) return;
      try {
        const st = await lstat(join(root, p));
        if (st.isSymbolicLink()) return;
        if ((st.mode & 0o7777) !== mode) await chmod(join(root, p), mode);
      } catch { /* not there */ }
    }));
  }
  fault('perms');

  // --- check, then done ------------------------------------------------------------------------------
  await verify(repo, run, head, await expectedListingP, warnings);
  await rm(journalPath, { force: true });
  return { restored: label, commit: c, safetySnapshot: safety, warnings, resumed };
}

// ------------------------------------------------------------------------------------------------

/** What the access analysis reads of a snapshot. */
function restoreTarget(worktreeTree: string, ignoredTree: string, meta: Record<MetaName, Buffer>, perms: Map<string, number>, skipIgnored?: readonly string[]): RestoreTarget {
  return {
    worktreeTree, ignoredTree, perms,
    rawPaths: splitNul(meta['raw.list'].toString('utf8')).map((rec) => rec.slice(rec.indexOf('\t') + 1)),
    emptyDirs: splitNul(meta.emptydirs.toString('utf8')),
    skipped: decodeSkipped(meta.skipped),
    skipNames: [...snapshotSkipNames(skipIgnored ?? DEFAULT_SKIP_IGNORED)],
  };
}

/**
 * The preflight of a restore, for `rb undo`, `rb abort` and `rb snapshots restore` before their
 * run starts: what restoring `idOrCommit` now would have to change that this user cannot
 * (restore-access.ts). Reads only.
 */
export async function restoreAccess(repo: Repo, idOrCommit: string, o: { skipUnwritable?: boolean; skipIgnored?: readonly string[] } = {}): Promise<RestoreAccess> {
  if (isSuperuser()) return allClear();
  const target = await resolveSnapshot(repo, idOrCommit);
  const c = target.commit;
  const bufs = await catFileBatch(repo, META_FILES.map((n) => `${c}:meta/${n}`));
  const meta = {} as Record<MetaName, Buffer>;
  META_FILES.forEach((n, i) => { meta[n] = bufs[i] ?? Buffer.alloc(0); });
  const [worktreeTree, ignoredTree] = (await git(['rev-parse', `${c}:worktree`, `${c}:ignored`], { cwd: repo.root, readOnly: true })).stdout.trim().split('\n') as [string, string];
  return analyzeRestore(repo, restoreTarget(worktreeTree, ignoredTree, meta, parsePerms(meta.perms), o.skipIgnored), o.skipUnwritable ?? false);
}

/** `tree` without `paths` (entries left where they are), for read-tree. */
async function treeWithout(run: Run, tree: string, paths: readonly string[]): Promise<string> {
  if (paths.length === 0) return tree;
  const edited = await TreeEditor.forOid(run, tree).apply(tree, paths.map((path) => ({ path, remove: true as const })));
  return edited ?? (await run(['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' })).stdout.trim();
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function readJournal(path: string): Promise<RestoreJournal | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const j = JSON.parse(text) as RestoreJournal;
    if (typeof j.target !== 'string') throw new Error('no target');
    return j;
  } catch {
    throw new LockedError(`the restore journal ${path} is unreadable: an earlier restore was interrupted.`, {
      next: `look at it, restore the snapshot it names again, or delete it if you are sure`,
    });
  }
}

/** The empty tree's oid (SHA-1 and SHA-256 repositories). */
const EMPTY_TREES = new Set(['4b825dc642cb6eb9a060e54bf8d69288fbee4904', '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321']);

/** The entries of a snapshot's ignored/ tree (`ls-tree -r -l`). */
async function listIgnored(repo: Repo, tree: string): Promise<{ mode: string; type: string; oid: string; size: number; path: string }[]> {
  if (EMPTY_TREES.has(tree)) return []; // no ignored files: nothing to list
  // read through the command's cat-file process (the sizes too, when the blobs are read)
  const entries = await listTree(repo.root, tree);
  if (!entries) throw new StepFailedError(`the snapshot's ignored/ tree ${tree} is missing`);
  return entries.map((e) => ({ ...e, size: 0 }));
}

/**
 * `clean -fd` never removes ignored files, so without this a restore would leave the ignored
 * files that appeared since the target snapshot (emergency -> undo -> undo brought back the
 * build output the emergency's clean had removed). Removed: the files of the safety snapshot's
 * ignored/ tree (so each one is kept there) that the target has neither as an ignored entry nor
 * in its worktree/ tree (the index, after read-tree), and that are not at or under a path the
 * target skipped (node_modules, over the cap, nested repositories: the target never knew them).
 * Directories left empty are removed up to the first one that is not empty, and so are the
 * safety snapshot's empty directories the target did not have; the directories the target had
 * empty come back at the emptydirs step. Nothing is removed through a symlink.
 * Idempotent: on a resumed restore the same files are found gone.
 */
async function removeIgnoredNotInTarget(
  repo: Repo, run: Run, safetyCommit: string,
  target: { ignored: ReadonlySet<string>; skipped: readonly SkippedEntry[]; emptyDirs: ReadonlySet<string> }, warnings: string[],
): Promise<void> {
  const root = repo.root;
  const [tree] = await objectInfo(root, [`${safetyCommit}:ignored`]);
  if (tree?.type !== 'tree') return;
  const listed = await listTree(root, tree.oid);
  if (!listed) return;
  const skippedPaths = target.skipped.map((s) => s.path);
  const underSkipped = (p: string) => skippedPaths.some((s) => p === s || p.startsWith(s + '/'));
  const targetEmpty = target.emptyDirs;
  let candidates = listed.map((e) => e.path).filter((p) => !target.ignored.has(p) && !underSkipped(p));
  // a path the target has in worktree/ was written by read-tree (the index is that tree now)
  const tracked = new Set<string>();
  for (const chunk of candidates.length ? chunkArgs(candidates) : []) {
    const r = await run(['ls-files', '-z', '--', ...chunk], { readOnly: true });
    for (const p of splitNul(r.stdout)) tracked.add(p);
  }
  candidates = candidates.filter((p) => !tracked.has(p));
  const parents = new Set<string>();
  for (const p of candidates) {
    if (!(await parentsAreDirs(root, p))) continue;
    const abs = join(root, p);
    try {
      if ((await lstat(abs)).isDirectory()) continue;
      await unlink(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      warnings.push(`could not remove ${showPath(p)} (ignored, not in the snapshot): ${(e as Error).message}`);
      continue;
    }
    for (let d = posix.dirname(p); d !== '.' && d !== ''; d = posix.dirname(d)) parents.add(d);
  }
  // the safety snapshot's empty directories that the target did not have (an ignored build/empty/ is no clean's business)
  const [safetyEmpty] = await catFileBatch(repo, [`${safetyCommit}:meta/emptydirs`]);
  for (const d of splitNul(safetyEmpty?.toString('utf8') ?? '')) {
    if (targetEmpty.has(d) || underSkipped(d) || !(await parentsAreDirs(root, d))) continue;
    parents.add(d);
    for (let p = posix.dirname(d); p !== '.' && p !== ''; p = posix.dirname(p)) parents.add(p);
  }
  // deepest first, so a directory emptied by removing its children goes too
  for (const d of [...parents].sort((a, b) => b.split('/').length - a.split('/').length)) {
    try {
      await rmdir(join(root, d));
    } catch { /* not empty, or gone */ }
  }
}

/** "<octal> <path>\0" records -> path -> mode */
function parsePerms(buf: Buffer): Map<string, number> {
  const m = new Map<string, number>();
  for (const rec of splitNul(buf.toString('utf8'))) {
    const sp = rec.indexOf(' ');
    const mode = parseInt(rec.slice(0, sp), 8);
    if (sp > 0 && !Number.isNaN(mode)) m.set(rec.slice(sp + 1), mode);
  }
  return m;
}

/**
 * read-tree --reset -u overwrites whatever is in its way. A skipped path (a nested repository,
 * node_modules, an over-cap ignored file) is in no snapshot, so refuse before changing anything
 * when the target tree holds a file at that path or at one of its parents, naming each path.
 * A submodule (gitlink) where a nested repository now is, is no clash: read-tree never writes
 * into a submodule's directory, so the repository and its local changes stay as they are.
 */
async function checkSkippedCollisions(run: Run, tree: string, skipped: readonly SkippedEntry[]): Promise<void> {
  if (skipped.length === 0) return;
  const wanted = new Map<string, SkippedEntry>();
  for (const s of skipped) for (let p = s.path; p !== '.' && p !== ''; p = posix.dirname(p)) if (!wanted.has(p)) wanted.set(p, s);
  const r = await run(['ls-tree', '-z', tree, '--', ...wanted.keys()], { readOnly: true, allowFail: true });
  const clashes: string[] = [];
  for (const rec of splitNul(r.stdout)) {
    const tab = rec.indexOf('\t');
    const type = rec.slice(0, tab).split(' ')[1];
    const path = rec.slice(tab + 1);
    const s = wanted.get(path);
    if (!s || type === 'tree') continue;
    if (type === 'commit' && s.path === path && s.reason === 'nested-repo') continue;
    clashes.push(`${showPath(path)}${s.path === path ? '' : ` (over ${showPath(s.path)})`}: ${SKIP_REASON[s.reason] ?? s.reason}`);
  }
  if (clashes.length > 0) {
    throw new PreconditionError(`restoring would overwrite ${clashes.length === 1 ? 'a path' : 'paths'} the safety snapshot could not capture: ${clashes.join('; ')}.`, {
      details: clashes,
      next: 'move those paths out of the way, then run the restore again',
    });
  }
}

/** Why a path is not in a snapshot, in words. */
const SKIP_REASON: Record<string, string> = {
  'nested-repo': 'a nested git repository',
  'listed': 'a dependency dir, or listed in snapshots.skipIgnored',
  'too-big': 'ignored and over snapshots.maxIgnoredBytes',
  'special-file': 'a FIFO, socket or device',
  'non-utf8-name': 'an ignored entry holding a name that is not UTF-8',
};

/**
 * What a restored file holds: its bytes, or (a big blob, never held in memory) a function that
 * writes them to a file descriptor.
 */
type BlobContent = Buffer | ((fd: number) => Promise<void>);

/** Blobs bigger than this are streamed to their file; smaller ones are read a group at a time. */
const STREAM_OVER = 1024 * 1024;

/**
 * Read blobs for items (with oid and, when known, size) and hand each to fn: small ones in
 * groups of at most 8 MiB, big ones as a writer that streams them, so memory stays bounded
 * whatever the files' sizes.
 */
async function forEachBlob<T extends { oid: string; size: number }>(
  repo: Repo, items: readonly T[], fn: (item: T, data: BlobContent) => Promise<void>,
): Promise<void> {
  if (items.length === 0) return;
  if (items.some((i) => !i.size)) {
    const infos = await objectInfo(repo.root, items.map((i) => i.oid));
    items.forEach((it, k) => { it.size = infos[k]?.size ?? 0; });
  }
  for (const item of items.filter((i) => i.size > STREAM_OVER)) {
    await fn(item, async (fd) => {
      if (!(await writeBlobInto(repo.root, item.oid, fd, item.size))) throw new StepFailedError(`object ${item.oid} of the snapshot is missing`);
    });
  }
  for (const group of groupBySize(items.filter((i) => i.size <= STREAM_OVER), (i) => i.size, 8 * 1024 * 1024)) {
    const bufs = await catFileBatch(repo, group.map((g) => g.oid));
    // distinct paths: written concurrently, a few at a time
    let next = 0;
    const worker = async () => {
      while (next < group.length) {
        const k = next++;
        const b = bufs[k];
        if (!b) throw new StepFailedError(`object ${group[k]!.oid} of the snapshot is missing`);
        bufs[k] = null; // written: let it go
        await fn(group[k]!, b);
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, group.length) }, worker));
  }
}

/** Are all parents of `rel` real directories (not symlinks)? */
async function parentsAreDirs(root: string, rel: string): Promise<boolean> {
  const parts = rel.split('/');
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i]!);
    try {
      if (!(await lstat(cur)).isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Create the missing parents of `rel`; false when an existing parent is not a real directory. */
async function ensureParentDirs(root: string, rel: string): Promise<boolean> {
  const parts = rel.split('/');
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = join(cur, parts[i]!);
    try {
      if (!(await lstat(cur)).isDirectory()) return false;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      try {
        await mkdir(cur);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
      }
    }
  }
  return true;
}

/**
 * Replace the file (or symlink) at abs: write a temp sibling created exclusively with 0600
 * (a secret is never readable by others, even briefly), set the final mode, rename over.
 * The temp name is derived from the file name (`.rb-tmp-<hash>`), so a crash leaves at most one
 * per file and the resumed restore, writing the same file, replaces it.
 */
async function replaceFile(abs: string, data: BlobContent, mode: number, link: boolean): Promise<void> {
  const tmp = join(dirname(abs), `.rb-tmp-${createHash('sha256').update(basename(abs)).digest('hex').slice(0, 16)}`);
  await rm(tmp, { force: true });
  try {
    if (link) {
      if (typeof data === 'function') throw new Error(`symbolic link target over ${STREAM_OVER} bytes: ${abs}`);
      await symlink(data, tmp);
    } else {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        if (typeof data === 'function') await data(fh.fd);
        else await fh.writeFile(data);
        await fh.chmod(mode);
      } finally {
        await fh.close();
      }
    }
    await rename(tmp, abs);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/**
 * Drop assume-unchanged and skip-worktree bits from the real index (one flag per call:
 * update-index applies only the first). The bits are read from the index file itself
 * (io/index-file.ts) when rb reads its form; otherwise, and for a big index, from `ls-files -v`.
 */
async function clearIndexFlags(repo: Repo, run: Run, hashBytes: 20 | 32): Promise<boolean> {
  const assume: Buffer[] = [];
  const skip: Buffer[] = [];
  const bits = await readSmallIndexBits(join(repo.gitDir, 'index'), hashBytes);
  if (bits) {
    assume.push(...bits.assumeUnchanged);
    skip.push(...bits.skipWorktree);
  } else {
    const r = await run(['ls-files', '-v', '-z'], { readOnly: true, binary: true });
    for (const rec of splitNulBuffer(r.stdoutBuf)) {
      const tag = String.fromCharCode(rec[0] ?? 0x20);
      if (tag !== tag.toUpperCase()) assume.push(rec.subarray(2));
      if (tag === 'S' || tag === 's') skip.push(rec.subarray(2));
    }
  }
  for (const [flag, paths] of [['--no-assume-unchanged', assume], ['--no-skip-worktree', skip]] as const) {
    if (paths.length > 0) await run(['update-index', flag, '-z', '--stdin'], { input: Buffer.concat(paths.flatMap((p) => [p, NUL])) });
  }
  return assume.length + skip.length > 0;
}

/**
 * The safety snapshot's index tree when its worktree tree is that same tree: the index had no
 * conflict and no intent-to-add entry, every tracked file held what the index says, and there
 * was no untracked file (ignored ones are not in either tree). Else null.
 */
async function cleanIndexTree(root: string, safetyCommit: string): Promise<string | null> {
  const [index, worktree] = await objectInfo(root, [`${safetyCommit}:index`, `${safetyCommit}:worktree`]);
  return index?.type === 'tree' && worktree?.type === 'tree' && index.oid === worktree.oid ? index.oid : null;
}

/** Does the target (its meta/emptydirs) have every empty directory the safety snapshot recorded? */
async function emptyDirsKept(repo: Repo, safetyCommit: string, targetEmptyDirs: Buffer): Promise<boolean> {
  const [safetyEmpty] = await catFileBatch(repo, [`${safetyCommit}:meta/emptydirs`]);
  const dirs = splitNul(safetyEmpty?.toString('utf8') ?? '');
  if (dirs.length === 0) return true;
  const target = new Set(splitNul(targetEmptyDirs.toString('utf8')));
  return dirs.every((d) => target.has(d));
}

const NUL = Buffer.from([0]);

/** NUL-ended records of a buffer, as buffers (names that are not UTF-8 kept byte for byte). */
function splitNulBuffer(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < buf.length;) {
    const end = buf.indexOf(0, start);
    if (end < 0) break;
    out.push(buf.subarray(start, end));
    start = end + 1;
  }
  return out;
}

/** Index files read whole in memory up to this size (~100,000 entries); bigger ones are left to git. */
const INDEX_READ_MAX = 8 * 1024 * 1024;

/** The assume-unchanged and skip-worktree entries (any stage) of the index file at `path` (none when there is no index), or null when rb leaves it to git (too big, a form it does not read). */
async function readSmallIndexBits(path: string, hashBytes: 20 | 32): Promise<IndexBits | null> {
  let buf: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      if ((await fh.stat()).size > INDEX_READ_MAX) return null;
      buf = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? { assumeUnchanged: [], skipWorktree: [] } : null;
  }
  return readIndexBits(buf, hashBytes);
}

/** A digest of a listing too big to hold (`ls-files -s` of 200,000 entries is ~17 MB), fed chunk by chunk. */
class ListingDigest {
  private readonly hash = createHash('sha256');
  private length = 0;
  add = (chunk: Buffer): void => {
    this.hash.update(chunk);
    this.length += chunk.length;
  };
  done(): string {
    return `${this.length} ${this.hash.digest('hex')}`;
  }
}

/**
 * The digest of the `git ls-files -s -z` listing the snapshot's index must give: its
 * meta/index.ls, or (snapshots since format 1.1 do not store it) the listing of meta/index.raw:
 * read by rb (io/index-file.ts) when it is small and in a form rb reads — no git process; the
 * real index is still listed by git at the check — else by git through a temp copy, streamed.
 */
async function expectedIndexListing(repo: Repo, run: Run, c: string): Promise<string> {
  const stored = new ListingDigest();
  if (await readObjectSink(repo.root, `${c}:meta/index.ls`, stored.add)) return stored.done();
  // a small index in a form rb reads: listed without git (io/index-file.ts), as ls-files would
  const [raw] = await objectInfo(repo.root, [`${c}:meta/index.raw`]);
  if (!raw || raw.size === 0) return new ListingDigest().done();
  if (raw.size <= INDEX_READ_MAX) {
    const [bytes] = await readObjects(repo.root, [raw.oid]);
    const listing = new ListingDigest();
    if (bytes && lsFilesStagedOf(bytes, c.length === 64 ? 32 : 20, listing.add)) return listing.done();
  }
  const tmp = await mkdtemp(tempDirPrefix(repo.gitDir, 'rb-restore'));
  try {
    const f = join(tmp, 'listed.idx');
    const fh = await open(f, 'wx', 0o600);
    try {
      await writeBlobInto(repo.root, `${c}:meta/index.raw`, fh.fd, raw.size);
      if ((await fh.stat()).size === 0) return new ListingDigest().done();
    } finally {
      await fh.close();
    }
    return await digestOfListing(run, { indexFile: f }, join(tmp, 'listing'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * The digest of `git ls-files -s -z` (options: which index), written by git into `file` and read
 * back through one reused buffer: streamed through rb, a 200,000-entry listing (~14 MB) left as
 * many chunks for node to free when it next collects, and raised rb's peak by as much.
 */
async function digestOfListing(run: Run, o: Partial<GitOptions>, file: string): Promise<string> {
  const fh = await open(file, 'wx+', 0o600);
  try {
    await run(['ls-files', '-s', '-z'], { ...o, readOnly: true, stdoutFd: fh.fd });
    const listing = new ListingDigest();
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      listing.add(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return listing.done();
  } finally {
    await fh.close();
    await rm(file, { force: true });
  }
}

/** After the restore: HEAD and the index entries must be what the snapshot recorded. */
async function verify(repo: Repo, run: Run, head: { ref: string | null; oid: string | null }, expectedListing: string, warnings: string[]): Promise<void> {
  const tmp = await mkdtemp(tempDirPrefix(repo.gitDir, 'rb-restore'));
  try {
    const [curRef, listing] = await Promise.all([headRef(repo.root, repo.gitDir), digestOfListing(run, {}, join(tmp, 'listing'))]);
    if (curRef !== head.ref) warnings.push(`HEAD is ${curRef ?? 'detached'} after the restore, expected ${head.ref ?? 'detached'}`);
    if (listing !== expectedListing) warnings.push('the index differs from the snapshot after the restore');
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
