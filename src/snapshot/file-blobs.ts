/**
 * Many new file contents as ONE pack (issue 18): the snapshot's changed and untracked files that
 * git stores as they are (no clean filter, no end-of-line or encoding conversion: the capture
 * knows which from check-attr and core.autocrlf) and symlinks are read once each, hashed here as
 * blobs and streamed, entry by entry, into one `git unpack-objects` (fewer than PACK_FROM files)
 * or `git index-pack --stdin` (from there on: one pack file and one index file, one flush,
 * instead of one loose object per file). No file is held in memory whole beyond STREAM_FROM
 * bytes: larger ones go through in chunks, deflated and hashed as they pass. Small files are
 * read with synchronous calls (a thread-pool round trip per call cost more than the read: 10,000
 * files took 5 s that way on a busy machine, 0.6 s now). A few small files (IN_BATCH_UP_TO) go
 * into the snapshot's own ObjectBatch instead, with no git process of their own.
 *
 * The blob of a file is exactly the bytes read (the size in the entry's header is the number of
 * bytes read, checked for the large ones against the size the file had when opened): the id
 * computed here is the one git computes from the pack. A file that vanished since it was listed
 * gives null (the pack still holds an entry for it: an empty blob, as the pack's object count is
 * written first). Anything else unusual (a file that is now a symlink or a directory, one that
 * cannot be read, one whose size changed while read) throws FileBlobsUnsure before git
 * acknowledges the pack, and the caller hashes these files with git as before.
 *
 * The pack is indexed without --strict: a pack may hold the same blob twice (two files with the
 * same content), which --strict refuses; blobs have nothing else for it to check.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createDeflate, deflateSync } from 'node:zlib';
import { PACK_FROM, packObjectHeader, zlibStored, type ObjectBatch, type ObjectFormat, type RunGit } from '../io/object-batch.js';
import { FSYNC_FLAGS, chunkArgs } from './format.js';

/** Files larger than this are streamed through in chunks rather than read whole. */
export const STREAM_FROM = 4 * 1024 * 1024;

/**
 * Up to this many bytes in all (and fewer than PACK_FROM files), the contents are read into the
 * caller's ObjectBatch instead: written with the snapshot's trees and commit, no git process of
 * their own.
 */
export const IN_BATCH_UP_TO = 8 * 1024 * 1024;

/** In a kept pack, contents from this size on are deflated; smaller ones are stored as they are. */
const DEFLATE_FROM = 16 * 1024;

export class FileBlobsUnsure extends Error {}

/** A blob the caller hashed and compressed ahead (the snapshot's raw index), written as it is after the files' entries. */
export interface CarriedBlob {
  algo: ObjectFormat;
  oid: string;
  /** the blob's size */
  size: number;
  /** its zlib stream */
  deflated: Buffer;
}

export interface FileToStore {
  /** relative to the worktree root, '/'-separated */
  path: string;
  /** a symlink: its target is the blob */
  link: boolean;
  /** its size when it was listed (lstat): from STREAM_FROM on, git hashes it (see SharedFilePack) */
  size?: number;
}

/** A file's blob id; null: it vanished; undefined: it cannot be read (permissions). */
export type FileBlob = string | null | undefined;

/** Write the blobs of `files` with one git process; returns each one's id (see FileBlob). */
export async function writeFileBlobs(run: RunGit, root: string, files: readonly FileToStore[], algo: ObjectFormat): Promise<FileBlob[]> {
  const w = startFileBlobs(run, root, files, algo);
  await w.written;
  return w.ids;
}

/**
 * Start writing the blobs of `files` with one git process. `ids`: each file's id (see FileBlob),
 * known once the last entry is made, while git still indexes the pack; `written`: git has the
 * pack (it rejects when git refused it, or when a file made the contents unsure:
 * FileBlobsUnsure, then `ids` rejects with it too). Nothing may name these blobs in an object
 * git checks, or in a ref, before `written`.
 */
export function startFileBlobs(run: RunGit, root: string, files: readonly FileToStore[], algo: ObjectFormat, carried: CarriedBlob | null = null): { ids: Promise<FileBlob[]>; written: Promise<void> } {
  const oids: FileBlob[] = [];
  if (files.length === 0) return { ids: Promise.resolve(oids), written: Promise.resolve() };
  const keep = files.length >= PACK_FROM || carried !== null;
  const cmd = keep ? ['index-pack', '--stdin'] : ['unpack-objects', '-q'];
  let made!: () => void;
  const allMade = new Promise<void>((resolve) => {
    made = resolve;
  });
  const written = run([...FSYNC_FLAGS, ...cmd], { inputStream: packOf(root, files, algo, keep, oids, made, carried), allowFail: true }).then((r) => {
    if (r.code !== 0) throw new Error(`git ${cmd[0]} refused the snapshot's file contents: ${r.stderr.trim()}`);
    if (oids.length !== files.length) throw new Error('the pack of file contents was cut short');
  });
  written.catch(() => undefined); // the caller awaits it; meanwhile a failure must not go unhandled
  // (when git stops before the last entry, the ids come with its answer: its failure)
  return { ids: Promise.race([allMade, written]).then(() => oids), written };
}

/** The pack, entry by entry; each file's id is pushed to `oids` as its entry is made. */
async function* packOf(root: string, files: readonly FileToStore[], algo: ObjectFormat, keep: boolean, oids: FileBlob[], made: () => void, carried: CarriedBlob | null): AsyncGenerator<Buffer> {
  const packHash = createHash(algo);
  const out = (b: Buffer) => {
    packHash.update(b);
    return b;
  };
  // small entries are gathered and handed to git ~1 MiB at a time (one pipe write each)
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const gather = (b: Buffer) => {
    pending.push(out(b));
    pendingBytes += b.length;
  };
  const take = () => {
    const all = Buffer.concat(pending);
    pending = [];
    pendingBytes = 0;
    return all;
  };
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(files.length + (carried ? 1 : 0), 8);
  gather(head);
  const whole = (data: Buffer) => {
    gather(packObjectHeader(3, data.length));
    // (below 16 KiB stored as they are: deflating 10,000 small files one call each cost ~0.6 s
    // and ~300 MB of zlib buffers awaiting the garbage collector, for a few hundred KiB saved)
    gather(keep && data.length >= DEFLATE_FROM ? deflateSmall(data) : zlibStored(data));
  };
  for (const f of files) {
    if (pendingBytes >= 1024 * 1024) yield take();
    // small files are read with synchronous calls: one thread-pool round trip per call cost
    // more than the read itself (10,000 files: seconds on a busy machine)
    const small = readSmall(root, f);
    if ('data' in small) {
      oids.push(blobId(algo, small.data));
      whole(small.data);
      continue;
    }
    if ('missing' in small) {
      oids.push(small.missing);
      whole(Buffer.alloc(0));
      continue;
    }
    if (pendingBytes > 0) yield take();
    const abs = join(root, f.path);
    const fh = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW).catch(vanishedOr);
    if (!fh) {
      oids.push(fh);
      whole(Buffer.alloc(0));
      continue;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new FileBlobsUnsure(`${f.path} is no longer a regular file`);
      // large: hashed and deflated as it is read, exactly st.size bytes
      const size = st.size;
      const h = createHash(algo).update(`blob ${size}\0`);
      yield out(packObjectHeader(3, size));
      const deflate = createDeflate({ level: keep ? 1 : 0 });
      let got = 0;
      const feed = (async () => {
        const chunk = Buffer.allocUnsafe(1024 * 1024);
        while (got < size) {
          const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - got), got);
          if (bytesRead === 0) break;
          const c = Buffer.from(chunk.subarray(0, bytesRead));
          h.update(c);
          got += bytesRead;
          if (!deflate.write(c)) await new Promise((r) => deflate.once('drain', r));
        }
        deflate.end();
      })();
      feed.catch(() => deflate.destroy());
      for await (const z of deflate) yield out(z as Buffer);
      await feed;
      if (got !== size || (await fh.stat()).size !== size) throw new FileBlobsUnsure(`${f.path} changed while it was read`);
      oids.push(h.digest('hex'));
    } catch (e) {
      if (e instanceof FileBlobsUnsure) throw e;
      throw new FileBlobsUnsure(`${f.path}: ${(e as Error).message}`);
    } finally {
      await fh.close();
    }
  }
  if (pendingBytes > 0) yield take();
  made(); // every file's entry made: every id known
  if (carried) {
    yield out(packObjectHeader(3, carried.size));
    yield out(carried.deflated);
  }
  yield packHash.digest();
}

/**
 * A symlink's target, or a regular file below STREAM_FROM bytes, read whole with synchronous
 * calls; missing: null (vanished) or undefined (unreadable); neither: a large file, to stream.
 */
function readSmall(root: string, f: FileToStore): { data: Buffer } | { missing: null | undefined } | { large: true } {
  const abs = join(root, f.path);
  if (f.link) {
    try {
      return { data: readlinkSync(abs, { encoding: 'buffer' }) };
    } catch (e) {
      return missing(vanishedOr(e as NodeJS.ErrnoException));
    }
  }
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    return missing(vanishedOr(e as NodeJS.ErrnoException));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileBlobsUnsure(`${f.path} is no longer a regular file`);
    if (st.size >= STREAM_FROM) return { large: true };
    // read to the end (the file may have grown since the fstat)
    const chunks: Buffer[] = [];
    let buf = Buffer.allocUnsafe(Math.max(st.size + 1, 64));
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        chunks.push(buf);
        buf = Buffer.allocUnsafe(64 * 1024);
        len = 0;
      }
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n === 0) break;
      len += n;
    }
    chunks.push(buf.subarray(0, len));
    return { data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
  } finally {
    closeSync(fd);
  }
}

function missing(m: null | undefined): { missing: null | undefined } {
  return { missing: m };
}

/**
 * A few small files: read into `batch` (null when they are more than that: PACK_FROM files or
 * IN_BATCH_UP_TO bytes; what was read is then dropped and they are streamed into a pack).
 */
async function intoBatch(root: string, files: readonly FileToStore[], batch: ObjectBatch): Promise<FileBlob[] | null> {
  if (files.length === 0 || files.length >= PACK_FROM) return files.length === 0 ? [] : null;
  const read: (Buffer | null | undefined)[] = [];
  let total = 0;
  for (const f of files) {
    const r = readSmall(root, f);
    if ('large' in r) return null;
    if ('missing' in r) {
      read.push(r.missing);
      continue;
    }
    total += r.data.length;
    if (total > IN_BATCH_UP_TO) return null;
    read.push(r.data);
  }
  return read.map((b) => (b ? batch.blob(b) : b));
}

/**
 * deflate at level 1 with a window and hash table sized to the data (zlib's default allocates
 * ~256 KiB per call, freed only when the garbage collector runs). Any window size inflates the
 * same way.
 */
function deflateSmall(data: Buffer): Buffer {
  const windowBits = Math.min(15, Math.max(9, Math.ceil(Math.log2(data.length + 262))));
  return deflateSync(data, { level: 1, windowBits, memLevel: Math.min(8, Math.max(1, windowBits - 7)) });
}

/** `git hash-object -w --no-filters` of large files (argv chunks, so any name works); any failure: unsure. */
async function hashLarge(run: RunGit, files: readonly FileToStore[]): Promise<FileBlob[]> {
  const out: FileBlob[] = [];
  for (const chunk of chunkArgs(files.map((f) => f.path))) {
    const r = await run(['hash-object', '-w', '--no-filters', '--', ...chunk], { allowFail: true });
    const lines = r.stdout.split('\n').filter(Boolean);
    if (r.code !== 0 || lines.length !== chunk.length) throw new FileBlobsUnsure(`git hash-object: ${r.stderr.trim()}`);
    out.push(...lines.map((l) => l.trim()));
  }
  return out;
}

function blobId(algo: ObjectFormat, data: Buffer): string {
  return createHash(algo).update(`blob ${data.length}\0`).update(data).digest('hex');
}

/** null for a file that is gone, undefined for one this user cannot read; anything else (ELOOP: now a symlink) makes the caller ask git. */
function vanishedOr(e: NodeJS.ErrnoException): null | undefined {
  if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
  if (e.code === 'EACCES' || e.code === 'EPERM') return undefined;
  throw new FileBlobsUnsure(e.message);
}

/**
 * One pack for the file contents of several parts of the capture (the worktree's files, the
 * ignored files): each party hands its list once (write) or says it has none (leave), and the
 * pack is written when every party has. A failure reaches every party.
 */
export class SharedFilePack {
  private readonly parts = new Map<string, { files: readonly FileToStore[]; resolve: (r: FileBlob[]) => void; reject: (e: unknown) => void }>();
  private wrote!: (p: Promise<void>) => void;
  /**
   * Settles once git has every blob of the pack (a party gets its ids earlier, while git still
   * indexes it): awaited before anything that names them is checked by git or put in a ref.
   */
  readonly written: Promise<void> = new Promise<Promise<void>>((resolve) => {
    this.wrote = resolve;
  }).then((p) => p);

  private carried: Promise<CarriedBlob | null> = Promise.resolve(null);
  private carriedIn!: (packed: boolean) => void;
  /** whether the blob handed to carry() went into the pack */
  readonly carriedPacked: Promise<boolean> = new Promise((resolve) => {
    this.carriedIn = resolve;
  });

  constructor(private readonly run: RunGit, private readonly root: string, private readonly batch: Promise<ObjectBatch>, private readonly parties: readonly string[]) {
    this.written.catch(() => undefined); // awaited by the caller; a failure reaches the parties too
  }

  /**
   * Also write this blob (null: none), when the files make a pack of their own (a git process
   * anyway; the pack is then kept: index-pack): a big blob thus leaves the snapshot's last git
   * process (the batch's) for this one, which git indexes while the trees are built.
   * carriedPacked says whether it went in (else the caller writes it as before).
   */
  carry(blob: Promise<CarriedBlob | null>): void {
    this.carried = blob.catch(() => null);
  }

  write(party: string, files: readonly FileToStore[]): Promise<FileBlob[]> {
    if (this.parts.has(party)) throw new Error(`${party} wrote its file contents twice`);
    const p = new Promise<FileBlob[]>((resolve, reject) => this.parts.set(party, { files, resolve, reject }));
    if (this.parts.size === this.parties.length) void this.go();
    return p;
  }

  /** This party has nothing (more) to write: called on every way out of it. */
  leave(party: string): void {
    if (!this.parts.has(party)) this.write(party, []).catch(() => undefined);
  }

  private async go(): Promise<void> {
    const parts = [...this.parts.values()];
    const writes: Promise<void>[] = [];
    let packed = false;
    try {
      const files = parts.flatMap((p) => p.files);
      const batch = await this.batch;
      // large files (as listed) are left to `git hash-object`, which reads and compresses them in
      // its own process while this one packs the others (a 40 MB file through node's streams
      // took seconds); the rest: in the batch when few and small, else one pack, whose ids are
      // handed out while git indexes it
      const isLarge = (f: FileToStore) => !f.link && (f.size ?? 0) >= STREAM_FROM;
      const large = files.filter(isLarge);
      const rest = files.filter((f) => !isLarge(f));
      const largeP = hashLarge(this.run, large);
      writes.push(largeP.then(() => undefined));
      const [restOids, largeOids] = await Promise.all([
        (async () => {
          const inBatch = await intoBatch(this.root, rest, batch);
          if (inBatch) return inBatch;
          const c = await this.carried;
          const carried = c && c.algo === batch.algo ? c : null;
          packed = carried !== null;
          const w = startFileBlobs(this.run, this.root, rest, batch.algo, carried);
          writes.push(w.written);
          return w.ids;
        })(),
        largeP,
      ]);
      let r = 0;
      let l = 0;
      const all = files.map((f) => (isLarge(f) ? largeOids[l++] : restOids[r++]));
      let o = 0;
      for (const p of parts) p.resolve(all.slice(o, (o += p.files.length)));
    } catch (e) {
      // (FileBlobsUnsure: the parties have git hash the files instead, nothing of this pack is used)
      packed = false;
      for (const p of parts) p.reject(e);
      writes.push(Promise.reject(e));
    } finally {
      this.carriedIn(packed);
      this.wrote(Promise.all(writes.map((w) => w.catch((e: unknown) => {
        if (!(e instanceof FileBlobsUnsure)) throw e;
      }))).then(() => undefined));
    }
  }
}
