/**
 * Write the git objects rb makes itself (the snapshot's trees, meta blobs and commit; a run
 * record; the commits of a stash entry) with ONE git process per batch: each object is hashed
 * here (SHA-1, or SHA-256 in a repository using that object format, known from the length of
 * any of its object ids), collected, and the batch is fed to git as a pack:
 *  - `git unpack-objects` for fewer than PACK_FROM objects (loose objects: git compresses them;
 *    the pack's entries are stored uncompressed, ~100 deflate calls would cost ~10 ms);
 *  - `git index-pack --stdin` from PACK_FROM objects on (git's own rule for fetched objects,
 *    fetch.unpackLimit, default 100): one pack file and one index file to write and flush
 *    instead of one file per object; entries are deflated (git copies them as they are when it
 *    repacks).
 * Both check every object as fsck would (--strict: tree order and modes, commit headers, every
 * named object present in the batch or the repository) and flush with the snapshot's fsync
 * flags (snapshot/format.ts FSYNC_FLAGS): the objects are on disk before anyone points a ref at
 * them.
 *
 * A commit built here is byte for byte the one `git commit-tree` would write for the same tree,
 * parents, message and identity (commitIdentity below); where the configuration makes that
 * unsure (an i18n.commitEncoding other than UTF-8, a date in a format rb does not parse, a name
 * or e-mail git would trim or refuse), commitIdentity answers null and the caller flushes the
 * batch and runs `git commit-tree` ({@link commitWithGit}).
 */
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { FSYNC_FLAGS } from '../snapshot/format.js';
import type { GitOptions, GitResult } from './git.js';

export type RunGit = (args: readonly string[], o?: Partial<GitOptions>) => Promise<GitResult>;

export type ObjectFormat = 'sha1' | 'sha256';

/** The object format of the repository an object id comes from (SHA-256 ids are 64 hex digits). */
export function objectFormatOf(anyOid: string): ObjectFormat {
  return anyOid.length === 64 ? 'sha256' : 'sha1';
}

/** From this many objects on, a batch is kept as a pack (index-pack) instead of loose objects (git's fetch.unpackLimit default). */
export const PACK_FROM = 100;

const TYPE_CODE = { commit: 1, tree: 2, blob: 3 } as const;
export type ObjectType = keyof typeof TYPE_CODE;

/** The id of an object of this type and body, as git computes it. */
export function hashObject(algo: ObjectFormat, type: ObjectType, body: Buffer): string {
  return createHash(algo).update(`${type} ${body.length}\0`).update(body).digest('hex');
}

/** Objects hashed here and written together by one git process. */
export class ObjectBatch {
  private pending: { oid: string; type: ObjectType; body: Buffer }[] = [];
  private readonly queued = new Set<string>();
  /** zlib streams callers made ahead for some objects (by id), written into the pack as they are */
  private readonly deflated = new Map<string, Buffer>();
  /** how many git processes flush() started (tests and the cost counts read it) */
  writes = 0;

  constructor(private readonly run: RunGit, readonly algo: ObjectFormat) {}

  static forOid(run: RunGit, anyOid: string): ObjectBatch {
    return new ObjectBatch(run, objectFormatOf(anyOid));
  }

  /** Add an object; returns its id. The same object added twice is written once. */
  add(type: ObjectType, body: Buffer): string {
    const oid = hashObject(this.algo, type, body);
    if (!this.queued.has(oid)) {
      this.queued.add(oid);
      this.pending.push({ oid, type, body });
    }
    return oid;
  }

  /**
   * Add an object whose zlib stream (`deflated`, of `body`) the caller made ahead, a big blob
   * compressed on the thread pool while other work ran: the batch is then written as a pack
   * (index-pack), that entry as it is, instead of git compressing it again at the flush.
   */
  addDeflated(type: ObjectType, body: Buffer, deflated: Buffer): string {
    const oid = this.add(type, body);
    this.deflated.set(oid, deflated);
    return oid;
  }

  blob(data: Buffer | string): string {
    return this.add('blob', typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** A tree of entries (names as UTF-8 strings), sorted in git's tree order here. */
  tree(entries: readonly { mode: string; name: string; oid: string }[]): string {
    const raw = entries.map((e) => ({ ...e, bytes: Buffer.from(e.name, 'utf8'), isTree: e.mode === '40000' }))
      .sort((a, b) => Buffer.compare(a.isTree ? Buffer.concat([a.bytes, SLASH]) : a.bytes, b.isTree ? Buffer.concat([b.bytes, SLASH]) : b.bytes));
    return this.add('tree', Buffer.concat(raw.flatMap((e) => [Buffer.from(`${e.mode} `), e.bytes, NUL, Buffer.from(e.oid, 'hex')])));
  }

  /** A commit of `tree` with these parents, identity and message (the exact bytes after the blank line). */
  commit(c: { tree: string; parents: readonly string[]; identity: CommitIdentity; message: string }): string {
    const head = [`tree ${c.tree}`, ...c.parents.map((p) => `parent ${p}`), `author ${c.identity.author}`, `committer ${c.identity.committer}`].join('\n');
    return this.add('commit', Buffer.from(`${head}\n\n${c.message}`, 'utf8'));
  }

  /** Objects added since the last flush. */
  get size(): number {
    return this.pending.length;
  }

  /**
   * Write every object added since the last flush with one git process (none when there is
   * nothing to write). Blobs first, then trees in the order they were added (a caller adds a
   * tree after its subtrees), then commits.
   */
  async flush(): Promise<void> {
    const order: Record<ObjectType, number> = { blob: 0, tree: 1, commit: 2 };
    const objs = this.pending.map((o, i) => ({ o, i })).sort((a, b) => order[a.o.type] - order[b.o.type] || a.i - b.i).map((x) => x.o);
    const ahead = new Map(this.deflated);
    this.pending = [];
    this.queued.clear();
    this.deflated.clear();
    if (objs.length === 0) return;
    const keep = objs.length >= PACK_FROM || ahead.size > 0;
    const head = Buffer.alloc(12);
    head.write('PACK', 0, 'latin1');
    head.writeUInt32BE(2, 4);
    head.writeUInt32BE(objs.length, 8);
    const parts: Buffer[] = [head];
    // (one after another: ~0.1 ms each; at once, on the thread pool, each stream's buffers
    // made the process ~20 MB bigger, and every later git spawn slower)
    for (const o of objs) parts.push(packObjectHeader(TYPE_CODE[o.type], o.body.length), ahead.get(o.oid) ?? (keep ? deflateSync(o.body, { level: 1 }) : zlibStored(o.body)));
    const pack = Buffer.concat(parts);
    const input = Buffer.concat([pack, createHash(this.algo).update(pack).digest()]);
    const cmd = keep ? ['index-pack', '--stdin'] : ['unpack-objects', '-q'];
    this.writes++;
    const checked = await this.run([...FSYNC_FLAGS, ...cmd, `--strict=${FSCK_IGNORE.map((id) => `${id}=ignore`).join(',')}`], { input, allowFail: true });
    if (checked.code === 0) return;
    // a git too old to know one of the check ids refuses the option before reading anything
    if (!/unhandled message id/i.test(checked.stderr)) {
      throw new Error(`git ${cmd[0]} refused rb's objects: ${checked.stderr.trim()}`);
    }
    this.writes++;
    await this.run([...FSYNC_FLAGS, ...cmd], { input });
  }
}

const SLASH = Buffer.from('/');
const NUL = Buffer.from([0]);

/**
 * fsck checks of names and special files that `git add` does not make (ids known to git 2.39):
 * a name git would take for ".git" on HFS or NTFS, a .gitmodules it cannot parse... A snapshot
 * stores the working copy as it is.
 */
const FSCK_IGNORE = [
  'hasDot', 'hasDotdot', 'hasDotgit', 'gitmodulesName', 'gitmodulesUrl', 'gitmodulesPath', 'gitmodulesParse', 'gitmodulesBlob',
  'gitmodulesLarge', 'gitmodulesMissing', 'gitmodulesSymlink', 'gitmodulesUpdate', 'gitattributesSymlink', 'gitignoreSymlink',
  'mailmapSymlink', 'gitattributesLarge', 'gitattributesLineLength',
];

/** A pack entry's header: the type and the size, 4 bits in the first byte, then 7 bits per byte. */
export function packObjectHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let c = (type << 4) | (size & 0x0f);
  size = Math.floor(size / 16);
  while (size > 0) {
    bytes.push(c | 0x80);
    c = size & 0x7f;
    size = Math.floor(size / 128);
  }
  bytes.push(c);
  return Buffer.from(bytes);
}

/**
 * `data` as a zlib stream of stored (uncompressed) deflate blocks: header 78 01, blocks of at
 * most 65,535 bytes (final flag, LEN, NLEN, bytes), then the Adler-32 of the data (RFC 1950/1951).
 */
export function zlibStored(data: Buffer): Buffer {
  const nBlocks = Math.max(1, Math.ceil(data.length / 65535));
  const out = Buffer.allocUnsafe(2 + nBlocks * 5 + data.length + 4);
  out[0] = 0x78;
  out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < nBlocks; b++) {
    const start = b * 65535;
    const len = Math.min(65535, data.length - start);
    out[o] = b === nBlocks - 1 ? 1 : 0;
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(~len & 0xffff, o + 3);
    data.copy(out, o + 5, start, start + len);
    o += 5 + len;
  }
  let a = 1;
  let c = 0;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(data.length, i + 3800); // sums stay below 2^31 between reductions
    for (; i < end; i++) {
      a += data[i]!;
      c += a;
    }
    a %= 65521;
    c %= 65521;
  }
  out.writeUInt32BE(((c << 16) | a) >>> 0, o);
  return out;
}

// ------------------------------------------------------------------------------------------------
// Commits as `git commit-tree` writes them

/** The author and committer lines of a commit, without the keyword: "Name <email> 1700000000 +0100". */
export interface CommitIdentity {
  author: string;
  committer: string;
}

/**
 * The message `git commit-tree -m p1 -m p2 ...` writes: each paragraph ends with a newline
 * (added when missing), paragraphs are separated by a blank line. (`-F -` writes the input
 * exactly as it is given.)
 */
export function messageFromParagraphs(paragraphs: readonly string[]): string {
  let buf = '';
  for (const p of paragraphs) {
    if (buf.length) buf += '\n';
    buf += p;
    if (buf.length && !buf.endsWith('\n')) buf += '\n';
  }
  return buf;
}

/**
 * The identity lines `git commit-tree` would write, or null when rb cannot be sure of them (the
 * caller then runs commit-tree). As git's ident.c: the name from GIT_<ROLE>_NAME, else
 * <role>.name, else user.name; the e-mail likewise; the date from GIT_<ROLE>_DATE (only git's
 * internal form "[@]<seconds> <+-hhmm>" is parsed here), else now with the local time zone
 * offset.
 *
 * `cfg`: configuration values, keys lowercased (io/repo-state.ts configValues); `env`: the
 * environment git would see (process.env with rb's fallback identity, io/git.ts
 * identityFromConfig, laid over it).
 */
export function commitIdentity(cfg: Readonly<Record<string, string | null>>, env: Readonly<Record<string, string | undefined>>, now: Date = new Date()): CommitIdentity | null {
  const enc = cfg['i18n.commitencoding'];
  if (enc !== undefined && (enc === null || !/^utf-?8$/i.test(enc.trim()))) return null;
  const nowLine = `${Math.floor(now.getTime() / 1000)} ${tzOffset(now)}`;
  const line = (role: 'author' | 'committer'): string | null => {
    const ROLE = role.toUpperCase();
    // a key given without a value (`[user] name`) is a configuration error git reports itself
    const pick = (...keys: string[]) => {
      for (const k of keys) if (k in cfg) return cfg[k];
      return undefined;
    };
    const name = env[`GIT_${ROLE}_NAME`] ?? pick(`${role}.name`, 'user.name');
    const email = env[`GIT_${ROLE}_EMAIL`] ?? pick(`${role}.email`, 'user.email');
    if (typeof name !== 'string' || typeof email !== 'string' || !plainIdent(name) || !plainIdent(email)) return null;
    const dateEnv = env[`GIT_${ROLE}_DATE`];
    let date = nowLine;
    if (dateEnv) {
      const m = /^@?(\d{9,11}) ([+-])([01]\d|2[0-3])([0-5]\d)$/.exec(dateEnv);
      if (!m || (!dateEnv.startsWith('@') && Number(m[1]) < 100000000)) return null;
      date = `${Number(m[1])} ${m[3] === '00' && m[4] === '00' ? '+' : m[2]}${m[3]}${m[4]}`;
    }
    return `${name} <${email}> ${date}`;
  };
  const author = line('author');
  const committer = line('committer');
  return author && committer ? { author, committer } : null;
}

/**
 * A name or e-mail git writes unchanged: not empty, no control characters, none of git's
 * delimiters (<, >), no "crud" git trims at either end (space, . , : ; " \ '), no replacement
 * character (a value that was not UTF-8 where rb read it).
 */
function plainIdent(s: string): boolean {
  if (s === '' || /[\x00-\x1f<>\uFFFD]/.test(s)) return false;
  const crud = (c: string) => c <= ' ' || '.,:;<>"\\\''.includes(c);
  return !crud(s[0]!) && !crud(s[s.length - 1]!);
}

/** The local time zone's offset at `d` as git writes it: +hhmm / -hhmm. */
export function tzOffset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
}

/**
 * A commit made in the batch when the identity is known, else by `git commit-tree` after the
 * batch (which holds its tree) is written. Returns the commit's id.
 */
export async function addCommit(
  batch: ObjectBatch, run: RunGit,
  c: { tree: string; parents: readonly string[]; message: string; identity: CommitIdentity | null; env: Record<string, string> },
): Promise<string> {
  if (c.identity) return batch.commit({ tree: c.tree, parents: c.parents, identity: c.identity, message: c.message });
  await batch.flush();
  return commitWithGit(run, c);
}

/** `git commit-tree` of a tree, parents and exact message (read from stdin, as -F - does). */
export async function commitWithGit(run: RunGit, c: { tree: string; parents: readonly string[]; message: string; env: Record<string, string> }): Promise<string> {
  const r = await run(['commit-tree', c.tree, ...c.parents.flatMap((p) => ['-p', p]), '-F', '-'], { input: c.message, env: c.env });
  return r.stdout.trim();
}
