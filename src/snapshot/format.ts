/**
 * The on-disk format of an rb snapshot (safety.md §1) and the small helpers that capture,
 * restore and store share: the ref namespace, the names of the meta files and how each is
 * encoded, the list of in-progress git-state files, the `clean -e` patterns that protect what
 * a snapshot did NOT capture, and a `git cat-file --batch` reader.
 *
 * A snapshot is one commit under `refs/rb/snapshots/<id>` whose tree is
 *
 *   index/      write-tree of a copy of the index (conflict stages 1-3 re-homed under .rb-stage-N/)
 *   worktree/   tracked + untracked content: the index's tree edited with every path whose
 *               worktree content differs from it (what `add -A` on a copy of the index gives;
 *               that is still how it is built for a conflicted index or a moved submodule)
 *   ignored/    ignored files, raw bytes (minus skipped entries)
 *   meta/       HEAD, index.raw, raw.list, emptydirs, perms, gitstate.tar, refs, skipped,
 *               info.json (and index.ls in snapshots taken before rb 0.2)
 *
 * Encodings of the meta files (all records NUL-terminated so any file name survives):
 *   HEAD        "ref <full ref or empty>\noid <oid or empty>\n"
 *   index.raw   the bytes of the index file (empty when the repository had none)
 *   index.ls    `git ls-files -s -z` of that index: no longer written (hashing a second copy
 *               of a multi-megabyte listing cost more than the rest of the meta); restore
 *               lists index.raw itself when it is absent
 *   raw.list    "<oid>\t<path>\0": worktree files git would convert (eol, filters...); the oid
 *               is the blob of the raw bytes (hash-object --no-filters), written back byte-exact
 *   emptydirs   "<path>\0": empty leaf directories
 *   perms       "<octal mode> <path>\0": full permission bits of new/changed/ignored files, of
 *               the directories holding untracked or ignored content, and of the empty ones
 *   gitstate.tar  a tar of the files in GITSTATE_NAMES present in the worktree's git dir
 *               (empty when none)
 *   refs        `for-each-ref --format='%(objectname) %(refname)'` of heads, remotes, tags
 *   skipped     "<reason>\t<path>\0": what was NOT captured (see SkippedEntry)
 *   info.json   SnapshotInfoFile
 */
import { git } from '../io/git.js';
import { readObjects } from '../io/cat-file.js';
import type { Repo } from '../repo.js';

/** Where snapshots live. */
export const SNAPSHOT_REF_PREFIX = 'refs/rb/snapshots/';

/** Version of the snapshot format written into meta/info.json. */
export const SNAPSHOT_FORMAT_VERSION = 1;

/**
 * `-c` flags for every git command that writes snapshot objects or refs: objects and the ref are
 * fsynced (batch mode: one disk flush per command), so a power cut right after a snapshot
 * cannot leave a ref pointing at missing objects. Supported since git 2.36.
 */
export const FSYNC_FLAGS: readonly string[] = [
  '-c', 'core.fsync=loose-object,pack,pack-metadata,reference',
  '-c', 'core.fsyncMethod=batch',
];

/**
 * Files and directories in a worktree's git dir that describe an operation in progress
 * (merge, cherry-pick, revert, rebase, bisect, sequencer). They are captured into
 * meta/gitstate.tar and, on restore, the current ones are removed before the captured ones
 * are put back.
 */
export const GITSTATE_NAMES: readonly string[] = [
  'MERGE_HEAD', 'MERGE_MSG', 'MERGE_MODE', 'MERGE_RR', 'MERGE_AUTOSTASH', 'AUTO_MERGE',
  'CHERRY_PICK_HEAD', 'REVERT_HEAD', 'REBASE_HEAD', 'SQUASH_MSG', 'ORIG_HEAD',
  'BISECT_LOG', 'BISECT_START', 'BISECT_TERMS', 'BISECT_NAMES', 'BISECT_EXPECTED_REV',
  'BISECT_ANCESTORS_OK', 'BISECT_HEAD', 'BISECT_RUN', 'BISECT_FIRST_PARENT',
  'rebase-merge', 'rebase-apply', 'sequencer',
];

/** Prefix under which conflict stage N of a path is stored in the index/ tree. */
export const STAGE_DIR_PREFIX = '.rb-stage-';

/**
 * Something the snapshot did not capture. reason is one of
 *  - 'nested-repo'    an untracked (or ignored) directory holding its own repository;
 *  - 'listed'         an ignored entry whose name is in skipIgnored (node_modules by default);
 *  - 'too-big'        an ignored entry larger than maxIgnoredBytes;
 *  - 'special-file'   a FIFO, socket or device inside an ignored directory;
 *  - 'non-utf8-name'  an ignored entry holding a file name that is not valid UTF-8;
 *  - 'unreadable'     a file this user cannot read, or a directory it cannot list (another
 *                     user's, mode 000).
 * path is relative to the worktree root, '/'-separated, without a trailing slash.
 * Every such path must be protected from any clean (see cleanExcludes) and named in reports.
 */
export interface SkippedEntry {
  reason: string;
  path: string;
}

/** What callers get back about a snapshot. */
export interface SnapshotInfo {
  /** e.g. 20261122-101502-main-3f9a1c (a valid ref component) */
  id: string;
  /** refs/rb/snapshots/<id>; '' for a snapshot commit that no ref points at any more */
  ref: string;
  /** the snapshot commit */
  commit: string;
  /** ISO 8601 time the capture started */
  createdAt: string;
  message: string;
  /** the symbolic ref HEAD pointed at (refs/heads/x), or null when detached */
  headRef: string | null;
  /** the commit HEAD resolved to, or null when unborn */
  headOid: string | null;
  /** true when the index had unmerged entries (a conflict in progress) */
  conflicted: boolean;
  /** what was NOT captured; must be excluded from every clean */
  skipped: SkippedEntry[];
  runId?: string;
}

/** The content of meta/info.json. */
export interface SnapshotInfoFile {
  version: number;
  id: string;
  message: string;
  runId?: string;
  createdAt: string;
  /** the worktree root the snapshot was taken in */
  root: string;
  /** that worktree's git dir */
  gitDir: string;
  headRef: string | null;
  headOid: string | null;
  conflicted: boolean;
  skipped: SkippedEntry[];
  /**
   * mtime of the index file captured in index.raw (nanoseconds since the epoch, as a string),
   * or null when there was none. Restore gives the reinstalled index this mtime so git's
   * racy-clean checks treat its entries exactly as before.
   */
  indexMtimeNs?: string | null;
}

export function snapshotRef(id: string): string {
  return SNAPSHOT_REF_PREFIX + id;
}

/**
 * Is `id` a safe snapshot id: one ref component made of [A-Za-z0-9._-], not starting with '.'
 * or '-', without '..' and not ending in '.lock' or '.'? Everything rb generates passes; user
 * input that does not is rejected before it reaches git.
 */
export function isValidSnapshotId(id: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(id) && !id.includes('..') && !id.endsWith('.lock') && !id.endsWith('.');
}

/**
 * Turn a worktree name into something usable inside an id: keep [A-Za-z0-9_-], replace runs
 * of anything else by '-', trim dashes, cap the length; 'wt' when nothing is left.
 */
export function sanitizeIdPart(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '');
  return t === '' ? 'wt' : t;
}

/**
 * A gitignore-syntax pattern that matches exactly `path` (relative to the worktree root),
 * for `git clean -e`: anchored with a leading '/', wildcard characters and backslashes escaped
 * (so `[a]` and `*.ts` are literal), trailing spaces escaped. A leading '!' or '#' is harmless
 * after the '/'.
 */
export function excludePattern(path: string): string {
  let s = path.replace(/[\\*?[\]]/g, (c) => '\\' + c);
  s = s.replace(/ +$/, (m) => '\\ '.repeat(m.length));
  return '/' + s;
}

/**
 * The `-e <pattern>` arguments that keep every skipped path out of a `git clean`
 * (`git clean -fd[x] ...cleanExcludes(snapshot.skipped)`). Works with and without -x:
 * -e patterns are honoured even when -x drops the standard ignore rules.
 */
export function cleanExcludes(skipped: readonly SkippedEntry[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const s of skipped) {
    if (seen.has(s.path)) continue;
    seen.add(s.path);
    out.push('-e', excludePattern(s.path));
  }
  return out;
}

/** Encode meta/skipped. */
export function encodeSkipped(skipped: readonly SkippedEntry[]): Buffer {
  return Buffer.from(skipped.map((s) => `${s.reason}\t${s.path}\0`).join(''), 'utf8');
}

/** Decode meta/skipped (also reads the prototype's "size=N" reasons and trailing slashes). */
export function decodeSkipped(buf: Buffer): SkippedEntry[] {
  return splitNul(buf.toString('utf8')).map((rec) => {
    const tab = rec.indexOf('\t');
    const reason = tab < 0 ? 'unknown' : rec.slice(0, tab);
    const path = (tab < 0 ? rec : rec.slice(tab + 1)).replace(/\/+$/, '');
    return { reason, path };
  });
}

/** Split NUL-terminated records (drops the empty record after the last NUL). */
export function splitNul(s: string): string[] {
  if (s === '') return [];
  const parts = s.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Split -z output into records, keeping only those that are valid UTF-8 in `good` and the
 * others (decoded with replacement characters, for messages) in `bad`. rb handles file names
 * as JavaScript strings; a name that is not valid UTF-8 cannot be passed back to git or the
 * file system unchanged.
 */
export function splitNulBuf(buf: Buffer): { good: string[]; bad: string[] } {
  const good: string[] = [];
  const bad: string[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0) continue;
    const rec = buf.subarray(start, i);
    const s = utf8OrNull(rec);
    if (s === null) bad.push(rec.toString('utf8'));
    else good.push(s);
    start = i + 1;
  }
  if (start < buf.length) {
    const rec = buf.subarray(start);
    good.push(rec.toString('utf8'));
  }
  return { good, bad };
}

/** The bytes as a string when they are valid UTF-8 (they decode and encode back to themselves), else null. */
export function utf8OrNull(bytes: Buffer): string | null {
  const s = bytes.toString('utf8');
  return s.includes('\uFFFD') && !Buffer.from(s, 'utf8').equals(bytes) ? null : s;
}

/** Parse meta/HEAD. */
export function parseHeadMeta(buf: Buffer): { ref: string | null; oid: string | null } {
  let ref: string | null = null;
  let oid: string | null = null;
  for (const line of buf.toString('utf8').split('\n')) {
    if (line.startsWith('ref ')) ref = line.slice(4).trim() || null;
    if (line.startsWith('oid ')) oid = line.slice(4).trim() || null;
  }
  return { ref, oid };
}

/** Parse "key: value" trailers of an rb snapshot commit message (rb-head-ref: ... etc.). */
export function parseTrailers(message: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of message.split('\n')) {
    const m = /^(rb-[a-z-]+):\s?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Read many objects through the repository's long-lived `git cat-file --batch` (../io/cat-file.ts).
 * specs are object names without newlines (oids, or `<oid>:<path>` with a known-safe path).
 * Returns one Buffer per spec, or null when the object is missing. Each object is held whole:
 * callers group specs so the result stays small.
 */
export async function catFileBatch(repo: Repo, specs: readonly string[]): Promise<(Buffer | null)[]> {
  for (const s of specs) if (s.includes('\n')) throw new Error(`cat-file spec contains a newline: ${JSON.stringify(s)}`);
  return readObjects(repo.root, specs);
}

/** Group items so that the sum of their sizes stays under `limit` (an item larger than limit gets its own group). */
export function groupBySize<T>(items: readonly T[], size: (t: T) => number, limit: number): T[][] {
  const groups: T[][] = [];
  let cur: T[] = [];
  let total = 0;
  for (const it of items) {
    const s = size(it);
    if (cur.length > 0 && total + s > limit) {
      groups.push(cur);
      cur = [];
      total = 0;
    }
    cur.push(it);
    total += s;
  }
  if (cur.length > 0) groups.push(cur);
  return groups;
}

/** Split argv-bound path lists so no single command line gets too long. */
export function chunkArgs(paths: readonly string[], maxChars = 64 * 1024): string[][] {
  return groupBySize(paths, (p) => Buffer.byteLength(p) + 1, maxChars);
}
