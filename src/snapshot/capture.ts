/**
 * captureSnapshot: record the whole working copy as one commit under refs/rb/snapshots/<id>
 * (safety.md §1), a TypeScript port of prototype/snapshot.sh.
 *
 * It never touches the worktree, the real index or HEAD: all staging happens in temporary
 * index files (GIT_INDEX_FILE) inside `<git dir>/rb-snap.XXXXXX`, removed afterwards, also on
 * error. What it records (see format.ts for the encodings):
 *  - index/     the index as a tree; unmerged stages 1-3 re-homed under .rb-stage-N/ so every
 *               staged blob stays reachable;
 *  - worktree/  a copy of the real index (its stat cache means only changed files are
 *               re-hashed) with assume-unchanged / skip-worktree bits cleared (so edits hidden
 *               behind them are not missed), then `add -A`: tracked and untracked content.
 *               Untracked nested repositories are excluded and reported;
 *  - ignored/   ignored entries, hashed raw (no filters), except entries named in skipIgnored,
 *               entries over maxIgnoredBytes and nested repositories: those are reported;
 *  - meta/      HEAD, the raw index, raw.list (files git would convert on checkout, stored
 *               byte-exact), empty directories, permission bits, in-progress git state, ref
 *               positions, the skipped list and info.json.
 *
 * The index copies keep the real index's mtime (git's racy-clean detection depends on it: with
 * a fresh mtime, a same-size edit made in the same second as the last index write would be
 * missed). `add -A` starts at once on its own copy, before the listings say whether nested
 * repositories or assume-unchanged/skip-worktree bits require a second, adjusted run.
 *
 * Cost grows with the number of changed/untracked/ignored files, not the repository size: the
 * only whole-tree work is git's own (the untracked walk of `ls-files -o` and `add -A`, the
 * stat of index entries, which the index's stat cache keeps cheap). rb's own directory walks
 * only visit untracked and ignored directories, plus the nearest existing parent of each
 * deleted path (to find directories left empty). Independent git commands run concurrently.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, open, readdir, readFile, readlink, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { git, identityEnv, type GitOptions, type GitResult } from '../io/git.js';
import type { Repo } from '../repo.js';
import { GitError } from '../errors.js';
import {
  FSYNC_FLAGS, GITSTATE_NAMES, SNAPSHOT_FORMAT_VERSION, STAGE_DIR_PREFIX, chunkArgs, encodeSkipped,
  sanitizeIdPart, snapshotRef, splitNul, splitNulBuf, type SkippedEntry, type SnapshotInfo, type SnapshotInfoFile,
} from './format.js';
import { stampOf } from '../ui/format.js';

export interface CaptureOptions {
  /** free text, stored in the commit subject and info.json */
  message?: string;
  /** per ignored entry (a file or a whole ignored directory); larger entries are skipped. Default 50 MiB. */
  maxIgnoredBytes?: number;
  /** names of ignored directories never captured (matched against the last path component). Default ['node_modules']. */
  skipIgnored?: string[];
  /** the rb run this snapshot belongs to (recorded in info.json and a trailer) */
  runId?: string;
  /**
   * repository-relative directories that are never part of a snapshot and are not reported as
   * skipped: rb's own records (rollbacks/), which must outlive any restore. Only ignored entries
   * are left out (a tracked records folder stays the team's business).
   */
  exclude?: string[];
  /** clock, for tests that need two snapshots in the same second */
  now?: () => Date;
}

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
export async function captureSnapshot(repo: Repo, opts: CaptureOptions = {}): Promise<SnapshotInfo> {
  const started = (opts.now ?? (() => new Date()))();
  const cap = opts.maxIgnoredBytes ?? DEFAULT_MAX_IGNORED_BYTES;
  const skipNames = new Set(opts.skipIgnored ?? DEFAULT_SKIP_IGNORED);
  const tmp = await mkdtemp(join(repo.gitDir, 'rb-snap.'));
  const pending: Promise<unknown>[] = [];
  try {
    return await capture(repo, tmp, started, cap, skipNames, opts, pending);
  } finally {
    await Promise.allSettled(pending); // no git command may still be using the temp dir
    await rm(tmp, { recursive: true, force: true });
  }
}

async function capture(
  repo: Repo, tmp: string, started: Date, cap: number, skipNames: Set<string>, opts: CaptureOptions,
  pending: Promise<unknown>[],
): Promise<SnapshotInfo> {
  const root = repo.root;
  /** every call: fsync flags, literal pathspecs (user paths are never globs), cwd = worktree root */
  const run: Run = (args, o = {}) =>
    git([...FSYNC_FLAGS, ...args], { cwd: root, ...o, env: { GIT_LITERAL_PATHSPECS: '1', ...o.env } });
  const iIdx = join(tmp, 'i.idx');
  const wIdx = join(tmp, 'w.idx');

  // --- 0. the raw index, and copies of it to work on ------------------------------------------
  // The copies keep the index's mtime. git trusts an entry's stat data only when the file is
  // older than the index file ("racy git"): a copy with a fresh mtime would make a file changed
  // in the same second as the last index write, at the same size, look unchanged, and add -A
  // would silently keep the old content.
  const { raw: indexRaw, mtimeNs: indexMtimeNs } = await readIndex(join(repo.gitDir, 'index'));
  const sIdx = join(tmp, 's.idx');
  if (indexRaw.length > 0) {
    await Promise.all([iIdx, wIdx, sIdx].map(async (f) => {
      await writeFile(f, indexRaw);
      await setMtimeNs(f, indexMtimeNs!);
    }));
  }

  // `add -A` is the longest step. Start it right away on its own copy of the index, betting on
  // the common case: no nested repository to exclude and no assume-unchanged / skip-worktree
  // entry to clear. When the listings below show otherwise, it is redone on a fresh copy.
  const speculativeAdd = run(['add', '-A'], { indexFile: sIdx, allowFail: true });
  pending.push(speculativeAdd);

  // --- 1. independent queries, concurrently -------------------------------------------------
  const [headRefR, autocrlfR, refsR, lsIndexR, untrackedR, ignoredR, idEnv] = await Promise.all([
    run(['symbolic-ref', '-q', 'HEAD'], { allowFail: true, readOnly: true }),
    run(['config', '--get', 'core.autocrlf'], { allowFail: true, readOnly: true }),
    run(['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/remotes', 'refs/tags'], { readOnly: true }),
    run(['ls-files', '-s', '-v', '-z'], { indexFile: iIdx, readOnly: true }),
    run(['ls-files', '-z', '-o', '--directory', '--exclude-standard'], { readOnly: true }),
    run(['ls-files', '-z', '-o', '-i', '--directory', '--exclude-standard'], { readOnly: true }),
    identityEnv(root),
  ]);
  const headRef = headRefR.code === 0 ? headRefR.stdout.trim() || null : null;
  // HEAD's commit: a branch's oid is in the ref listing (absent = unborn); else ask rev-parse
  let headOid: string | null = null;
  const listed = headRef ? refsR.stdout.split('\n').find((l) => l.slice(l.indexOf(' ') + 1) === headRef) : undefined;
  if (listed) headOid = listed.slice(0, listed.indexOf(' '));
  else if (!headRef || !headRef.startsWith('refs/heads/')) {
    const r = await run(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { allowFail: true, readOnly: true });
    headOid = r.code === 0 ? r.stdout.trim() || null : null;
  }
  const autocrlf = normalizeAutocrlf(autocrlfR.code === 0 ? autocrlfR.stdout.trim() : '');
  // the empty tree, written only when needed (unborn HEAD, no ignored files)
  let emptyTreeP: Promise<string> | null = null;
  const emptyTree = () => (emptyTreeP ??= run(['hash-object', '-t', 'tree', '-w', '--stdin'], { input: '' }).then((r) => r.stdout.trim()));

  // index listing: "<tag> <mode> <oid> <stage>\t<path>\0" (tag from -v). Scanned as bytes: a
  // 50,000-entry index must not cost 50,000 strings; only flagged or unmerged entries are decoded.
  const { indexLs, assumeUnchanged, skipWorktree, conflicted } = scanIndexListing(lsIndexR.stdoutBuf);

  const nul = (xs: readonly string[]) => Buffer.from(xs.map((x) => x + '\0').join(''), 'utf8');
  // the big meta blobs (the raw index and its listing) are hashed while the trees are built
  const earlyMeta: Record<string, Buffer> = { 'HEAD': Buffer.from(`ref ${headRef ?? ''}\noid ${headOid ?? ''}\n`), 'index.raw': indexRaw, 'index.ls': indexLs, 'refs': Buffer.from(refsR.stdout) };
  const earlyMetaP = hashBuffers(run, tmp, Object.values(earlyMeta));
  pending.push(earlyMetaP);

  const skipped: SkippedEntry[] = [];
  const ignoredList = splitNulBuf(ignoredR.stdoutBuf);
  for (const bad of ignoredList.bad) skipped.push({ reason: 'non-utf8-name', path: bad.replace(/\/$/, '') });
  const excluded = (opts.exclude ?? []).map((x) => x.replace(/^\.?\/+|\/+$/g, '')).filter(Boolean);
  const ignoredEntries = dedupeEntries(ignoredList.good).filter((e) => !excluded.some((x) => e.path === x || e.path.startsWith(x + '/')));
  const ignoredSet = new Set(ignoredEntries.map((e) => e.path));

  // --- 2. index/ tree --------------------------------------------------------------------------
  const indexTreeP = (async () => {
    if (!conflicted) return (await run(['write-tree'], { indexFile: iIdx })).stdout.trim();
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

  // --- 3. worktree/ tree -----------------------------------------------------------------------
  const worktreeP = (async () => {
    // untracked directories: find nested repositories (excluded from add, reported) and empty dirs
    const untracked = splitNulBuf(untrackedR.stdoutBuf).good;
    const nested: string[] = [];
    const emptyDirs: string[] = [];
    // (git may list a directory holding only ignored files both as untracked and as ignored:
    // the ignored walk takes it)
    await Promise.all(untracked.filter((p) => p.endsWith('/') && !ignoredSet.has(p.slice(0, -1))).map((p) =>
      walkUntrackedDir(root, p.slice(0, -1), ignoredSet, nested, emptyDirs)));
    nested.sort();
    const spec = await speculativeAdd;
    let idx = sIdx;
    if (nested.length > 0 || assumeUnchanged.length > 0 || skipWorktree.length > 0) {
      idx = wIdx;
      // one flag per call: update-index applies only the first of --no-assume-unchanged / --no-skip-worktree
      for (const [flag, paths] of [['--no-assume-unchanged', assumeUnchanged], ['--no-skip-worktree', skipWorktree]] as const) {
        if (paths.length === 0) continue;
        await run(['update-index', flag, '-z', '--stdin'], { indexFile: wIdx, input: paths.map((p) => p + '\0').join('') });
      }
      const pathspecs = ['.', ...nested.map((d) => `:(exclude,literal)${d}`)];
      // magic pathspecs (exclude,literal) need GIT_LITERAL_PATHSPECS off; each path is marked literal
      const pathspecFile = join(tmp, 'add.pathspec');
      await writeFile(pathspecFile, pathspecs.map((p) => p + '\0').join(''));
      await run(['add', '-A', `--pathspec-from-file=${pathspecFile}`, '--pathspec-file-nul'], {
        indexFile: wIdx, env: { GIT_LITERAL_PATHSPECS: undefined },
      });
    } else if (spec.code !== 0) {
      throw new GitError(['add', '-A'], spec.code, spec.stdout, spec.stderr);
    }
    const cur = (await run(['write-tree'], { indexFile: idx })).stdout.trim();
    const indexTree = await indexTreeP;
    const [changedR, deletedR] = await Promise.all([
      run(['diff-tree', '-r', '-z', '--no-renames', '--diff-filter=AMT', headOid ?? (await emptyTree()), cur], { readOnly: true }),
      run(['diff-tree', '-r', '-z', '--no-renames', '--diff-filter=D', indexTree, cur], { readOnly: true }),
    ]);
    // regular files that differ from HEAD: candidates for raw.list and perms
    const candidates = parseRawDiff(changedR.stdout).filter((d) => d.newMode === '100644' || d.newMode === '100755');
    const conv = await convertedPaths(run, candidates.map((c) => c.path), autocrlf);
    const rawList: { oid: string; path: string }[] = [];
    let worktreeTree = cur;
    if (conv.size > 0) {
      const convCands = candidates.filter((c) => conv.has(c.path));
      const oids = await hashRaw(run, convCands.map((c) => c.path));
      const info: string[] = [];
      convCands.forEach((c, i) => {
        const oid = oids[i];
        if (!oid) return; // vanished since add -A: the blob add stored stays
        info.push(`${c.newMode} ${oid} 0\t${c.path}\0`);
        rawList.push({ oid, path: c.path });
      });
      if (info.length > 0) {
        await run(['update-index', '-z', '--index-info'], { indexFile: idx, input: info.join('') });
        worktreeTree = (await run(['write-tree'], { indexFile: idx })).stdout.trim();
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
    const deleted = parseRawDiff(deletedR.stdout).map((d) => unStage(d.path));
    await Promise.all(deleted.map(async (p) => {
      const d = await emptyExistingAncestor(root, p, seen);
      if (d) emptyDirs.push(d);
    }));
    return { worktreeTree, rawList, perms, nested, emptyDirs };
  })();

  // --- 4. ignored/ tree --------------------------------------------------------------------------
  const ignoredP = (async () => {
    const files: IgnoredFile[] = [];
    const emptyDirs: string[] = [];
    const ignSkipped: SkippedEntry[] = [];
    await Promise.all(ignoredEntries.map(async (e) => {
      const r = await walkIgnoredEntry(root, e.path, cap, skipNames);
      if ('skip' in r) {
        ignSkipped.push(r.skip);
        return;
      }
      files.push(...r.files);
      emptyDirs.push(...r.emptyDirs);
      ignSkipped.push(...r.skipped);
    }));
    files.sort((a, b) => cmp(a.path, b.path));
    if (files.length === 0) return { ignoredTree: await emptyTree(), files, emptyDirs, ignSkipped };
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
    const oids = await hashRaw(run, hashPaths);
    const info: string[] = [];
    const kept: IgnoredFile[] = [];
    files.forEach((f, i) => {
      const oid = oids[i];
      if (!oid) {
        ignSkipped.push({ reason: 'unreadable', path: f.path });
        return;
      }
      const mode = f.link ? '120000' : f.perm & 0o100 ? '100755' : '100644';
      info.push(`${mode} ${oid} 0\t${f.path}\0`);
      kept.push(f);
    });
    if (info.length === 0) return { ignoredTree: await emptyTree(), files: kept, emptyDirs, ignSkipped };
    const gIdx = join(tmp, 'g.idx');
    await run(['update-index', '-z', '--index-info'], { indexFile: gIdx, input: info.join('') });
    const ignoredTree = (await run(['write-tree'], { indexFile: gIdx })).stdout.trim();
    return { ignoredTree, files: kept, emptyDirs, ignSkipped };
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
    const tar = await import('tar');
    const file = join(tmp, 'gitstate.tar');
    tar.c({ cwd: repo.gitDir, file, sync: true, portable: true }, present);
    return readFile(file);
  })();

  const [indexTree, wt, ign, gitstate] = await Promise.all([indexTreeP, worktreeP, ignoredP, gitstateP]);

  // --- 6. assemble ----------------------------------------------------------------------------
  for (const n of wt.nested) skipped.push({ reason: 'nested-repo', path: n });
  skipped.push(...ign.ignSkipped);
  skipped.sort((a, b) => cmp(a.path, b.path));
  const emptyDirs = [...new Set([...wt.emptyDirs, ...ign.emptyDirs])].sort(cmp);
  const dirPerms: string[] = [];
  await Promise.all(emptyDirs.map(async (d) => {
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
  const newId = () => `${stamp}-${worktreeName}-${randomBytes(3).toString('hex')}`;
  let id = newId();
  const metaNames = [...Object.keys(earlyMeta), ...Object.keys(lateMeta)];
  const lateOids = await hashBuffers(run, tmp, [...Object.values(lateMeta), infoJson(id)]);
  let infoOid = lateOids.pop()!;
  const metaOids = [...(await earlyMetaP), ...lateOids];

  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      // the id was taken meanwhile (same second, same random suffix): a new id, a new info.json
      id = newId();
      [infoOid] = (await hashBuffers(run, tmp, [infoJson(id)])) as [string];
    }
    const metaTree = await mktree(run, [
      ...metaNames.map((n, i) => ({ mode: '100644', type: 'blob', oid: metaOids[i]!, name: n })),
      { mode: '100644', type: 'blob', oid: infoOid, name: 'info.json' },
    ]);
    const rootTree = await mktree(run, [
      { mode: '040000', type: 'tree', oid: indexTree, name: 'index' },
      { mode: '040000', type: 'tree', oid: wt.worktreeTree, name: 'worktree' },
      { mode: '040000', type: 'tree', oid: ign.ignoredTree, name: 'ignored' },
      { mode: '040000', type: 'tree', oid: metaTree, name: 'meta' },
    ]);
    const trailers = [
      `rb-snapshot-id: ${id}`,
      `rb-head-ref: ${headRef ?? 'DETACHED'}`,
      `rb-head-oid: ${headOid ?? 'UNBORN'}`,
      `rb-conflicted: ${conflicted ? 'yes' : 'no'}`,
      `rb-ignored-skipped: ${skipped.length}`,
      `rb-created-at: ${createdAt}`,
      ...(opts.runId ? [`rb-run-id: ${opts.runId.replace(/\s+/g, ' ')}`] : []),
    ].join('\n');
    const body = message.includes('\n') ? ['-m', message] : [];
    const commit = (await run(
      ['commit-tree', rootTree, ...(headOid ? ['-p', headOid] : []), '-m', subject, ...body, '-m', trailers],
      { env: idEnv },
    )).stdout.trim();
    const ref = snapshotRef(id);
    // compare-and-swap: "" = the ref must not exist yet
    const u = await run(['update-ref', '--create-reflog', '-m', 'rb: snapshot', ref, commit, ''], { allowFail: true });
    if (u.code === 0) {
      return {
        id, ref, commit, createdAt, message, headRef, headOid, conflicted, skipped,
        ...(opts.runId ? { runId: opts.runId } : {}),
      };
    }
    // only a collision (the id was taken meanwhile) is retried with a new id
    const exists = await run(['rev-parse', '-q', '--verify', ref], { allowFail: true, readOnly: true });
    if (exists.code !== 0 || attempt >= 8) {
      throw new GitError(['update-ref', '--create-reflog', ref, commit, ''], u.code, u.stdout, u.stderr);
    }
  }
}

// ------------------------------------------------------------------------------------------------

/**
 * Scan `ls-files -s -v -z` output: the same records without the 2-byte tag (= `ls-files -s -z`,
 * stored as meta/index.ls), the paths flagged assume-unchanged (lowercase tag) or skip-worktree
 * (S/s), and whether any entry is unmerged (stage != 0).
 */
function scanIndexListing(buf: Buffer): { indexLs: Buffer; assumeUnchanged: string[]; skipWorktree: string[]; conflicted: boolean } {
  const parts: Buffer[] = [];
  const assumeUnchanged: string[] = [];
  const skipWorktree: string[] = [];
  let conflicted = false;
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0, start);
    if (end < 0) end = buf.length;
    const tag = buf[start]!;
    const tab = buf.indexOf(0x09, start);
    if (tab > start && tab < end && buf[tab - 1] !== 0x30 /* '0' */) conflicted = true;
    const lower = tag >= 0x61 && tag <= 0x7a;
    if (lower || tag === 0x53 /* S */) {
      const path = buf.subarray(tab + 1, end).toString('utf8');
      if (lower) assumeUnchanged.push(path);
      if (tag === 0x53 || tag === 0x73) skipWorktree.push(path);
    }
    parts.push(buf.subarray(start + 2, Math.min(end + 1, buf.length)));
    start = end + 1;
  }
  return { indexLs: Buffer.concat(parts), assumeUnchanged, skipWorktree, conflicted };
}

/** The index bytes and the mtime (ns) of that same file, or empty/null when there is no index. */
async function readIndex(path: string): Promise<{ raw: Buffer; mtimeNs: bigint | null }> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { raw: Buffer.alloc(0), mtimeNs: null };
    throw e;
  }
  try {
    const st = await fh.stat({ bigint: true });
    return { raw: await fh.readFile(), mtimeNs: st.mtimeNs };
  } finally {
    await fh.close();
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

interface RawDiff {
  oldMode: string;
  newMode: string;
  status: string;
  path: string;
}

/** Parse `diff-tree -r -z` raw output (no renames: one path per record). */
function parseRawDiff(out: string): RawDiff[] {
  const parts = splitNul(out);
  const res: RawDiff[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const head = parts[i]!;
    if (!head.startsWith(':')) {
      i -= 1; // commit-id line (not emitted for two trees, but be tolerant)
      continue;
    }
    const [oldMode, newMode, , , status] = head.slice(1).split(' ');
    res.push({ oldMode: oldMode!, newMode: newMode!, status: status!, path: parts[i + 1]! });
  }
  return res;
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

/**
 * `hash-object -w --no-filters` for many paths (argv chunks). Returns one oid per path, or
 * undefined for a path that could not be read (it vanished or is unreadable): a failing chunk
 * is retried file by file.
 */
async function hashRaw(run: Run, paths: readonly string[]): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  let offset = 0;
  for (const chunk of chunkArgs(paths)) {
    const base = offset;
    offset += chunk.length;
    const r = await run(['hash-object', '-w', '--no-filters', '--', ...chunk], { allowFail: true });
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    if (r.code === 0 && lines.length === chunk.length) {
      lines.forEach((l, i) => { out[base + i] = l.trim(); });
      continue;
    }
    for (let i = 0; i < chunk.length; i++) {
      const one = await run(['hash-object', '-w', '--no-filters', '--', chunk[i]!], { allowFail: true });
      out[base + i] = one.code === 0 ? one.stdout.trim() : undefined;
    }
  }
  return out;
}

/** Write buffers as blobs (through temp files, one git call). */
async function hashBuffers(run: Run, tmp: string, bufs: readonly Buffer[]): Promise<string[]> {
  const files = await Promise.all(bufs.map(async (b, i) => {
    const f = join(tmp, `blob.${i}.${randomBytes(4).toString('hex')}`);
    await writeFile(f, b);
    return f;
  }));
  const r = await run(['hash-object', '-w', '--no-filters', '--', ...files]);
  const oids = r.stdout.split('\n').filter((l) => l !== '').map((l) => l.trim());
  if (oids.length !== bufs.length) throw new Error('git hash-object returned an unexpected number of ids');
  return oids;
}

/** mktree -z from entries (names without '/' or NUL). */
async function mktree(run: Run, entries: { mode: string; type: string; oid: string; name: string }[]): Promise<string> {
  const input = entries.map((e) => `${e.mode} ${e.type} ${e.oid}\t${e.name}\0`).join('');
  return (await run(['mktree', '-z'], { input })).stdout.trim();
}

/**
 * Walk an untracked directory git listed (collapsed) with `ls-files -o --directory`, looking
 * for what `add -A` cannot take: nested repositories (a `.git` child) and empty leaf
 * directories. Ignored subtrees (listed separately by git) are not entered.
 */
async function walkUntrackedDir(root: string, rel: string, ignoredSet: Set<string>, nested: string[], empty: string[]): Promise<void> {
  let ents;
  try {
    ents = await readdir(join(root, rel), { withFileTypes: true });
  } catch {
    return; // vanished or not a directory any more
  }
  if (ents.some((e) => e.name === '.git')) {
    nested.push(rel);
    return;
  }
  if (ents.length === 0) {
    if (!rel.includes('\uFFFD')) empty.push(rel);
    return;
  }
  await Promise.all(ents.filter((e) => e.isDirectory()).map((e) => {
    const child = `${rel}/${e.name}`;
    if (ignoredSet.has(child)) return undefined;
    return walkUntrackedDir(root, child, ignoredSet, nested, empty);
  }));
}

/**
 * Walk one ignored entry (file, symlink or directory). Stops early, skipping the whole entry,
 * once it grows over `cap` bytes; skips it when its name is listed; reports nested
 * repositories, listed names and special files inside it while keeping the rest.
 */
async function walkIgnoredEntry(
  root: string, entry: string, cap: number, skipNames: Set<string>,
): Promise<{ skip: SkippedEntry } | { files: IgnoredFile[]; emptyDirs: string[]; skipped: SkippedEntry[] }> {
  if (skipNames.has(posix.basename(entry))) return { skip: { reason: 'listed', path: entry } };
  let st;
  try {
    st = await lstat(join(root, entry));
  } catch {
    return { files: [], emptyDirs: [], skipped: [] }; // vanished
  }
  if (st.isSymbolicLink() || st.isFile()) {
    if (st.size > cap) return { skip: { reason: 'too-big', path: entry } };
    return { files: [{ path: entry, link: st.isSymbolicLink(), perm: st.mode & 0o7777, size: st.size }], emptyDirs: [], skipped: [] };
  }
  if (!st.isDirectory()) return { skip: { reason: 'special-file', path: entry } };

  const files: IgnoredFile[] = [];
  const emptyDirs: string[] = [];
  const skipped: SkippedEntry[] = [];
  let total = 0;
  let over = false;
  let badName = false;
  const walk = async (rel: string, isEntry: boolean): Promise<void> => {
    if (over || badName) return;
    let ents;
    try {
      ents = await readdir(join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    if (ents.some((e) => e.name === '.git')) {
      if (isEntry) throw new NestedRepo();
      skipped.push({ reason: 'nested-repo', path: rel });
      return;
    }
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
    throw e;
  }
  if (over) return { skip: { reason: 'too-big', path: entry } };
  if (badName) return { skip: { reason: 'non-utf8-name', path: entry } };
  return { files, emptyDirs, skipped };
}

class NestedRepo extends Error {}

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
