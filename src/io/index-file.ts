/**
 * git's index file read without git (gitformat-index(5)), for the two questions a restore asks of
 * an index it holds the bytes of: its `git ls-files -s -z` listing and its entries' assume-
 * unchanged / skip-worktree bits. Versions 2, 3 and 4 (path prefix compression) are read; an
 * index whose entries are not all in the file (a split index: the `link` extension) or that
 * holds sparse-directory entries (a sparse index) is not: the reader answers null and the
 * caller asks git.
 */

export interface IndexEntry {
  /** the mode as `ls-files -s` prints it (octal digits) */
  mode: string;
  oid: string;
  stage: number;
  /** the path's bytes */
  path: Buffer;
  assumeUnchanged: boolean;
  skipWorktree: boolean;
  /** `git add -N` */
  intentToAdd: boolean;
}

/** The entries of an index file, or null when it is not one rb reads (see above) or is malformed. */
export function readIndexEntries(buf: Buffer, hashBytes: 20 | 32): IndexEntry[] | null {
  return readIndex(buf, hashBytes)?.entries ?? null;
}

/** The entries of an index file and its extensions by signature (TREE, REUC…), or null as readIndexEntries. */
export function readIndex(buf: Buffer, hashBytes: 20 | 32): { entries: IndexEntry[]; extensions: Map<string, Buffer> } | null {
  const out: IndexEntry[] = [];
  const extensions = new Map<string, Buffer>();
  const ok = walkIndex(buf, hashBytes, (at, flags, extended, path) => {
    out.push({
      mode: buf.readUInt32BE(at + 24).toString(8).padStart(6, '0'),
      oid: buf.toString('hex', at + 40, at + 40 + hashBytes),
      stage: (flags >> 12) & 3,
      path,
      assumeUnchanged: (flags & 0x8000) !== 0,
      skipWorktree: (extended & 0x4000) !== 0,
      intentToAdd: (extended & 0x2000) !== 0,
    });
  }, (sig, body) => void extensions.set(sig, body));
  return ok ? { entries: out, extensions } : null;
}

/** What `git ls-files -v -z` tells of an index: its unmerged entries and the entries' assume-unchanged / skip-worktree bits. */
export interface IndexFlags {
  /** some entry has a stage 1-3 (ls-files -v tag M or m) */
  conflicted: boolean;
  /** paths (bytes, in index order) tagged lowercase by ls-files -v: the assume-unchanged bit, any stage */
  assumeUnchanged: Buffer[];
  /** paths tagged S or s: the skip-worktree bit on a stage-0 entry (an unmerged entry is tagged M whatever its bits) */
  skipWorktree: Buffer[];
  /** the paths of either list, in index order, once per entry */
  flagged: Buffer[];
  /** some entry is intent-to-add (`git add -N`) */
  intentToAdd: boolean;
}

/**
 * The tags `git ls-files -v` gives each entry, read without git (and without a string per
 * entry: only flagged paths are kept), or null when the index is not one rb reads.
 */
export function readIndexFlags(buf: Buffer, hashBytes: 20 | 32): IndexFlags | null {
  return readIndexLayout(buf, hashBytes)?.flags ?? null;
}

/** The entries with the assume-unchanged bit and those with the skip-worktree bit, any stage (paths as bytes, in index order). */
export interface IndexBits {
  assumeUnchanged: Buffer[];
  skipWorktree: Buffer[];
}

/** IndexBits of an index file, without a string or an object per entry; null as readIndexEntries. */
export function readIndexBits(buf: Buffer, hashBytes: 20 | 32): IndexBits | null {
  const bits: IndexBits = { assumeUnchanged: [], skipWorktree: [] };
  const ok = walkIndex(buf, hashBytes, (_at, flags, extended, path) => {
    if (flags & 0x8000) bits.assumeUnchanged.push(path);
    if (extended & 0x4000) bits.skipWorktree.push(path);
  });
  return ok ? bits : null;
}

/**
 * Where each entry of an index file lies (its offset, for the mode and id at fixed places) and
 * its path, plus the extensions; no per-entry strings (a 50,000-entry index is read in a few
 * ms), and the tags `ls-files -v` would print. Null as readIndexEntries.
 */
export function readIndexLayout(buf: Buffer, hashBytes: 20 | 32): IndexLayout | null {
  const offsets: number[] = [];
  const paths: Buffer[] = [];
  const extensions = new Map<string, Buffer>();
  const f: IndexFlags = { conflicted: false, assumeUnchanged: [], skipWorktree: [], flagged: [], intentToAdd: false };
  const ok = walkIndex(buf, hashBytes, (at, flags, extended, path) => {
    const stage = (flags >> 12) & 3;
    if (stage !== 0) f.conflicted = true;
    if (extended & 0x2000) f.intentToAdd = true;
    const assume = (flags & 0x8000) !== 0;
    const skip = stage === 0 && (extended & 0x4000) !== 0;
    if (assume) f.assumeUnchanged.push(path);
    if (skip) f.skipWorktree.push(path);
    if (assume || skip) f.flagged.push(path);
    offsets.push(at);
    paths.push(path);
  }, (sig, body) => void extensions.set(sig, body));
  return ok ? { offsets, paths, extensions, unusual: f.conflicted || f.intentToAdd, flags: f } : null;
}

/** readIndexLayout's answer. */
export interface IndexLayout {
  /** each entry's offset in the file */
  offsets: number[];
  /** each entry's path (a view into the file's bytes for versions 2-3) */
  paths: Buffer[];
  extensions: Map<string, Buffer>;
  /** some entry is unmerged or intent-to-add */
  unusual: boolean;
  /** what `git ls-files -v` would tag (readIndexFlags) */
  flags: IndexFlags;
}

/**
 * Visit each entry of an index file: its offset, flags, extended flags and path (a view into
 * `buf` for versions 2-3, a copy for version 4). False when the index is not one rb reads.
 */
function walkIndex(
  buf: Buffer, hashBytes: 20 | 32, visit: (at: number, flags: number, extended: number, path: Buffer) => void,
  extension: (sig: string, body: Buffer) => void = () => undefined,
): boolean {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'DIRC') return false;
  const version = buf.readUInt32BE(4);
  if (version < 2 || version > 4) return false;
  const count = buf.readUInt32BE(8);
  let pos = 12;
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 0; i < count; i++) {
    const fixed = 40 + hashBytes + 2;
    if (pos + fixed > buf.length) return false;
    const entryAt = pos;
    const mode = buf.readUInt32BE(pos + 24);
    const flags = buf.readUInt16BE(pos + 40 + hashBytes);
    let at = pos + fixed;
    let extended = 0;
    if (flags & 0x4000) {
      if (version < 3 || at + 2 > buf.length) return false;
      extended = buf.readUInt16BE(at);
      at += 2;
    }
    // a sparse-directory entry (mode 040000) stands for a whole directory: ls-files expands it
    if ((mode & 0o170000) === 0o040000) return false;
    let path: Buffer;
    if (version === 4) {
      // bytes to drop from the end of the previous path (git's varint), then the rest, NUL-ended
      let c = buf[at++];
      if (c === undefined) return false;
      let drop = c & 127;
      while (c & 128) {
        c = buf[at++];
        if (c === undefined) return false;
        drop = ((drop + 1) << 7) | (c & 127);
      }
      const nul = buf.indexOf(0, at);
      if (nul < 0 || drop > previous.length) return false;
      path = Buffer.concat([previous.subarray(0, previous.length - drop), buf.subarray(at, nul)]);
      pos = nul + 1;
    } else {
      // the name's length is in the flags' low 12 bits (0xfff: that long or longer, then its NUL says)
      const short = flags & 0xfff;
      const nul = short < 0xfff ? at + short : buf.indexOf(0, at);
      if (nul < 0 || nul >= buf.length || buf[nul] !== 0) return false;
      path = buf.subarray(at, nul);
      // the entry is padded with 1-8 NULs to a multiple of 8 bytes
      pos += (at - pos + path.length + 8) & ~7;
    }
    previous = path;
    visit(entryAt, flags, extended, path);
  }
  // extensions: a split index keeps its entries in another file; a sparse index is marked
  while (pos + 8 <= buf.length - hashBytes) {
    const sig = buf.toString('latin1', pos, pos + 4);
    if (sig === 'link' || sig === 'sdir') return false;
    const size = buf.readUInt32BE(pos + 4);
    extension(sig, buf.subarray(pos + 8, Math.min(pos + 8 + size, buf.length)));
    pos += 8 + size;
  }
  // then the checksum, nothing more (a wrong hash length would not end here)
  return pos === buf.length - hashBytes;
}

/** The bytes `git ls-files -s -z` prints for these entries, handed to `sink` a piece at a time. */
export function lsFilesStaged(entries: readonly IndexEntry[], sink: (chunk: Buffer) => void): void {
  const parts: Buffer[] = [];
  let size = 0;
  for (const e of entries) {
    const head = Buffer.from(`${e.mode} ${e.oid} ${e.stage}\t`, 'latin1');
    parts.push(head, e.path, NUL);
    size += head.length + e.path.length + 1;
    if (size > 1 << 20) {
      sink(Buffer.concat(parts));
      parts.length = 0;
      size = 0;
    }
  }
  if (parts.length) sink(Buffer.concat(parts));
}

/**
 * The bytes `git ls-files -s -z` prints for the index file `buf`, written straight from its
 * bytes into chunks of about 1 MiB handed to `sink` (no strings or objects per entry: the
 * listing of a 50,000-entry index in a few ms). False, and nothing handed over, when the index
 * is not one rb reads (see readIndexEntries).
 */
export function lsFilesStagedOf(buf: Buffer, hashBytes: 20 | 32, sink: (chunk: Buffer) => void): boolean {
  const index = readIndexLayout(buf, hashBytes);
  if (!index) return false;
  const { offsets, paths } = index;
  // (a mode of more than 6 octal digits, which git would print whole: git lists that index)
  for (const at of offsets) if (buf.readUInt32BE(at + 24) > 0o777777) return false;
  const CHUNK = 1 << 20;
  let out = Buffer.allocUnsafe(CHUNK);
  let o = 0;
  for (let i = 0; i < offsets.length; i++) {
    const at = offsets[i]!;
    const path = paths[i]!;
    // "<mode> <oid> <stage>\t<path>\0"; a mode has at most 6 octal digits (git pads to 6)
    const need = 6 + 1 + hashBytes * 2 + 3 + path.length + 1;
    if (o + need > out.length) {
      if (o > 0) sink(out.subarray(0, o));
      out = Buffer.allocUnsafe(Math.max(CHUNK, need));
      o = 0;
    }
    const mode = buf.readUInt32BE(at + 24);
    for (let d = 5; d >= 0; d--) out[o + 5 - d] = 0x30 + ((mode >>> (3 * d)) & 7);
    out[o + 6] = 0x20;
    o += 7;
    for (let k = at + 40, end = at + 40 + hashBytes; k < end; k++) {
      const b = buf[k]!;
      out[o++] = HEX[b >> 4]!;
      out[o++] = HEX[b & 15]!;
    }
    out[o] = 0x20;
    out[o + 1] = 0x30 + ((buf.readUInt16BE(at + 40 + hashBytes) >> 12) & 3);
    out[o + 2] = 0x09;
    o += 3;
    o += path.copy(out, o);
    out[o++] = 0;
  }
  if (o > 0) sink(out.subarray(0, o));
  return true;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

const NUL = Buffer.from([0]);
