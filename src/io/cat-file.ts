/**
 * One long-lived `git cat-file --batch` per repository and command (./run-scope.ts): reading
 * snapshot metadata, blobs to restore and snapshot descriptions asks for objects many times a
 * run, and each `cat-file` process is a spawn (~3–5 ms of node blocked, plus git's start).
 * Requests are answered in order; the process is referenced only while a request is pending, so
 * it never keeps rb alive; it ends when the scope closes its stdin (or rb's end does). Outside a
 * scope each call has its own process, closed when it is answered.
 *
 * Objects git writes after the process started are found too (cat-file looks for loose objects
 * on every request and re-scans the packs when an object is not found).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { git, gitArgv, gitEnv } from './git.js';
import { knownGitVersion } from '../repo.js';
import { FAULTS, faultPoint } from '../engine/fault.js';
import { currentScope } from './run-scope.js';

interface Pending {
  /** the content (or for `info`, the header line), null when the object does not exist */
  resolve: (b: Buffer | null) => void;
  /** an `info` request (--batch-command): the header only, no content follows */
  info?: boolean;
  reject: (e: Error) => void;
  /** the content goes here, chunk by chunk, instead of into one Buffer (resolved with an empty one) */
  sink?: (chunk: Buffer) => void;
  /** told the object's id and type from its header, before its content is answered */
  onHeader?: (oid: string, type: string) => void;
}

/** RB_TRACE_GIT=1: the same trace line ./git.ts prints, once, when the process starts. */
const TRACE = process.env.RB_TRACE_GIT === '1';

class CatFileProcess {
  private readonly child: ChildProcess;
  private readonly queue: Pending[] = [];
  private header: Buffer = Buffer.alloc(0);
  /** the object being read: its chunks (none when it has a sink) and how many bytes (with the trailing LF) remain */
  private body: { chunks: Buffer[]; left: number; size: number; sink?: (chunk: Buffer) => void; error?: Error } | null = null;
  private failed: Error | null = null;

  /**
   * `--batch-command` (git 2.36+, the version known): one process answers both `contents` and
   * `info` (what `--batch-check` says) requests; otherwise `--batch`, contents only.
   */
  readonly commands: boolean;

  constructor(root: string, onEnd: () => void = () => undefined) {
    this.commands = hasBatchCommand();
    const mode = this.commands ? '--batch-command' : '--batch';
    if (TRACE) process.stderr.write(`[git ${performance.now().toFixed(0)}+0ms] cat-file ${mode} (long-lived)\n`);
    this.child = spawn('git', gitArgv(['cat-file', mode]), {
      cwd: root,
      env: gitEnv({ readOnly: true }),
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true, // own process group, as every git command rb starts (./git.ts)
    });
    if (FAULTS) faultPoint('git:cat-file');
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    this.child.stdin!.on('error', () => undefined);
    const fail = (e: Error) => {
      this.failed = e;
      for (const p of this.queue.splice(0)) p.reject(e);
      onEnd();
    };
    this.child.on('error', fail);
    this.child.on('close', (code) => fail(new Error(`git cat-file --batch ended (exit ${code}) with ${this.queue.length} requests unanswered`)));
    this.idle();
  }

  /** No more requests: git ends when it has answered those sent. */
  close(): void {
    this.child.stdin!.end();
  }

  /**
   * One object's content, or null when it does not exist. `spec` is UTF-8 text, or with
   * `latin1` a string of bytes (a path's bytes as a tree holds them).
   */
  read(spec: string, sink?: (chunk: Buffer) => void, o: { latin1?: boolean; onHeader?: Pending['onHeader'] } = {}): Promise<Buffer | null> {
    if (this.failed) return Promise.reject(this.failed);
    if (/[\n]/.test(spec)) return Promise.reject(new Error(`cat-file spec contains a newline: ${JSON.stringify(spec)}`));
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) this.busy();
      this.queue.push({ resolve, reject, sink, onHeader: o.onHeader });
      const line = `${this.commands ? 'contents ' : ''}${spec}\n`;
      (this.child.stdin as Writable).write(o.latin1 ? Buffer.from(line, 'latin1') : line);
    });
  }

  /** What `git cat-file --batch-check` says of one object (only when `commands`), or null when it does not exist. */
  info(spec: string): Promise<ObjectInfo | null> {
    if (this.failed) return Promise.reject(this.failed);
    if (!this.commands) return Promise.reject(new Error('git cat-file --batch-command is not available'));
    if (/[\n]/.test(spec)) return Promise.reject(new Error(`cat-file spec contains a newline: ${JSON.stringify(spec)}`));
    return new Promise<Buffer | null>((resolve, reject) => {
      if (this.queue.length === 0) this.busy();
      this.queue.push({ resolve, reject, info: true });
      (this.child.stdin as Writable).write(`info ${spec}\n`);
    }).then((line) => (line ? parseInfo(line.toString('utf8')) : null));
  }

  private onData(d: Buffer): void {
    let pos = 0;
    while (pos < d.length) {
      if (this.body) {
        const take = Math.min(this.body.left, d.length - pos);
        const b = this.body;
        if (b.sink) {
          // the content without the record's trailing LF, handed on as it comes
          const content = Math.max(0, Math.min(take, b.left - 1));
          if (content > 0 && !b.error) {
            try {
              b.sink(d.subarray(pos, pos + content));
            } catch (e) {
              b.error = e as Error; // the rest of the object is read and dropped; the request fails
            }
          }
        } else {
          b.chunks.push(d.subarray(pos, pos + take));
        }
        b.left -= take;
        pos += take;
        if (b.left === 0) {
          this.body = null;
          if (b.error) this.fail1(b.error);
          else this.answer(b.sink ? Buffer.alloc(0) : Buffer.concat(b.chunks).subarray(0, b.size));
        }
        continue;
      }
      const nl = d.indexOf(0x0a, pos);
      if (nl < 0) {
        this.header = Buffer.concat([this.header, d.subarray(pos)]);
        return;
      }
      const line = Buffer.concat([this.header, d.subarray(pos, nl)]).toString('utf8');
      this.header = Buffer.alloc(0);
      pos = nl + 1;
      if (line.endsWith(' missing') || line.endsWith(' ambiguous')) {
        this.answer(null);
        continue;
      }
      const m = /^([0-9a-f]+) (\S+) (\d+)$/.exec(line);
      if (!m) {
        const e = new Error(`unexpected git cat-file --batch header: ${line}`);
        this.failed = e;
        for (const p of this.queue.splice(0)) p.reject(e);
        this.child.kill();
        return;
      }
      if (this.queue[0]?.info) {
        this.answer(Buffer.from(line));
        continue;
      }
      const size = Number(m[3]);
      this.queue[0]?.onHeader?.(m[1]!, m[2]!);
      this.body = { chunks: [], left: size + 1, size, sink: this.queue[0]?.sink };
    }
  }

  private fail1(e: Error): void {
    const p = this.queue.shift();
    if (this.queue.length === 0) this.idle();
    p?.reject(e);
  }

  private answer(b: Buffer | null): void {
    const p = this.queue.shift();
    if (this.queue.length === 0) this.idle();
    p?.resolve(b);
  }

  private busy(): void {
    this.child.ref();
    (this.child.stdout as Readable & { ref?: () => void }).ref?.();
  }

  private idle(): void {
    this.child.unref();
    (this.child.stdout as Readable & { unref?: () => void }).unref?.();
    (this.child.stdin as Writable & { unref?: () => void }).unref?.();
  }
}

/** The objects `specs` name (oids, or `<oid>:<path>`), each null when missing. */
export function readObjects(root: string, specs: readonly string[]): Promise<(Buffer | null)[]> {
  if (specs.length === 0) return Promise.resolve([]);
  const proc = processFor(root);
  const all = Promise.all(specs.map((s) => proc.read(s)));
  if (!currentScope()) proc.close();
  return all;
}

/** One object read with its id and type, as a `git cat-file --batch` record gives them. */
export interface TypedObject {
  oid: string;
  type: string;
  body: Buffer;
}

/**
 * The objects `specs` name, each with its id and type (null when missing): specs as strings of
 * bytes (latin1), so a name that is not UTF-8 is asked for exactly.
 */
export function readTypedObjects(root: string, specs: readonly string[]): Promise<(TypedObject | null)[]> {
  if (specs.length === 0) return Promise.resolve([]);
  const proc = processFor(root);
  const all = Promise.all(specs.map((s) => {
    let head: { oid: string; type: string } | null = null;
    return proc.read(s, undefined, { latin1: true, onHeader: (oid, type) => void (head = { oid, type }) })
      .then((body) => (body && head ? { ...(head as { oid: string; type: string }), body } : null));
  }));
  if (!currentScope()) proc.close();
  return all;
}

/**
 * Write the content of the object `spec` names to the file descriptor `fd` as it arrives (never
 * held whole; its chunks are garbage node frees when it next collects, so the restore hands
 * blobs over 8 MiB to a `git cat-file blob` writing the file itself). Resolves true when written,
 * false when the object does not exist.
 */
export function readObjectInto(root: string, spec: string, fd: number): Promise<boolean> {
  return readObjectSink(root, spec, (chunk) => {
    for (let off = 0; off < chunk.length;) off += writeSync(fd, chunk, off, chunk.length - off);
  });
}

/** Hand the content of the object `spec` names to `sink` as it arrives; false when the object does not exist. */
export async function readObjectSink(root: string, spec: string, sink: (chunk: Buffer) => void): Promise<boolean> {
  const proc = processFor(root);
  const done = proc.read(spec, sink);
  if (!currentScope()) proc.close();
  return (await done) !== null;
}

/** `git cat-file --batch-command` (git 2.36+), when the version is known already. */
export function hasBatchCommand(): boolean {
  const v = knownGitVersion();
  return v !== null && (v[0] > 2 || (v[0] === 2 && v[1] >= 36));
}

/** One object as `git cat-file --batch-check` describes it. */
export interface ObjectInfo {
  oid: string;
  type: string;
  size: number;
}

function parseInfo(line: string): ObjectInfo | null {
  const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (\w+) (\d+)$/.exec(line);
  return m ? { oid: m[1]!, type: m[2]!, size: Number(m[3]) } : null;
}

/**
 * What `git cat-file --batch-check` says of each object `specs` name (oids, `<rev>:<path>`,
 * `<rev>^{commit}`), null when missing: asked of the command's long-lived process when git has
 * --batch-command (2.36+), else of one `cat-file --batch-check`.
 */
export async function objectInfo(root: string, specs: readonly string[]): Promise<(ObjectInfo | null)[]> {
  if (specs.length === 0) return [];
  if (specs.some((s) => /[\n]/.test(s))) throw new Error(`cat-file spec contains a newline: ${JSON.stringify(specs.find((s) => /[\n]/.test(s)))}`);
  if (hasBatchCommand()) {
    const proc = processFor(root);
    const all = Promise.all(specs.map((s) => proc.info(s)));
    if (!currentScope()) proc.close();
    return all;
  }
  const r = await git(['cat-file', '--batch-check'], { cwd: root, readOnly: true, input: specs.map((s) => s + '\n').join('') });
  const lines = r.stdout.split('\n');
  return specs.map((_, i) => parseInfo(lines[i] ?? ''));
}

function processFor(root: string): CatFileProcess {
  const scope = currentScope();
  if (!scope) return new CatFileProcess(root);
  const key = `cat-file ${root}`;
  let p = scope.closers.get(key) as CatFileProcess | undefined;
  if (!p) {
    p = new CatFileProcess(root, () => scope.closers.delete(key));
    scope.closers.set(key, p);
  }
  return p;
}

/** One entry of a tree listed recursively, as `git ls-tree -r` prints it (size not read: 0). */
export interface TreeEntry {
  /** six octal digits, as ls-tree prints them (040000 is never listed: -r descends) */
  mode: string;
  type: 'blob' | 'commit';
  oid: string;
  path: string;
}

/**
 * Every blob and gitlink under the tree `tree` (its oid: 40 or 64 hex digits), in the order
 * `git ls-tree -r` lists them, read through the command's cat-file process (one request per
 * directory, asked together); null when there is no such object.
 */
export async function listTree(root: string, tree: string): Promise<TreeEntry[] | null> {
  if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(tree)) throw new Error(`listTree: not a tree id: ${tree}`);
  const hashBytes = tree.length / 2;
  const proc = processFor(root);
  try {
    const top = await proc.read(tree);
    if (!top) return null;
    const out: TreeEntry[] = [];
    const walk = async (buf: Buffer, prefix: string, sink: TreeEntry[]): Promise<boolean> => {
      const subtrees: Promise<TreeEntry[] | null>[] = [];
      const order: (TreeEntry | number)[] = [];
      for (let pos = 0; pos < buf.length;) {
        const sp = buf.indexOf(0x20, pos);
        const nul = buf.indexOf(0, sp + 1);
        if (sp < 0 || nul < 0 || nul + 1 + hashBytes > buf.length) return false;
        const mode = buf.toString('latin1', pos, sp);
        const name = buf.toString('utf8', sp + 1, nul);
        const oid = buf.toString('hex', nul + 1, nul + 1 + hashBytes);
        pos = nul + 1 + hashBytes;
        const path = prefix + name;
        if (mode === '40000') {
          order.push(subtrees.length);
          subtrees.push(proc.read(oid).then(async (b) => {
            if (!b) return null;
            const inner: TreeEntry[] = [];
            return (await walk(b, `${path}/`, inner)) ? inner : null;
          }));
        } else {
          order.push({ mode: mode.padStart(6, '0'), type: mode === '160000' ? 'commit' : 'blob', oid, path });
        }
      }
      const lists = await Promise.all(subtrees);
      for (const o of order) {
        if (typeof o === 'number') {
          const l = lists[o];
          if (!l) return false;
          sink.push(...l);
        } else sink.push(o);
      }
      return true;
    };
    if (!(await walk(top, '', out))) throw new Error(`${tree}: not a tree rb can read`);
    return out;
  } finally {
    if (!currentScope()) proc.close();
  }
}

/**
 * Objects bigger than this are written by a `git cat-file blob` of their own, whose stdout is the
 * file: streamed through rb, their chunks are garbage node frees only when it next collects, and
 * rb's peak grew by the object's size (a 40 MB ignored file, a 28 MB index at 200,000 files).
 */
export const DIRECT_OVER = 8 * 1024 * 1024;

/**
 * Write the blob `spec` names (an oid, or `<commit>:<path>`) to the file descriptor `fd`: through
 * this command's cat-file process, or, over DIRECT_OVER bytes (`size` when known, else asked of
 * that process), by git straight into the file. False when the object does not exist.
 */
export async function writeBlobInto(root: string, spec: string, fd: number, size?: number): Promise<boolean> {
  const bytes = size ?? (await objectInfo(root, [spec]))[0]?.size;
  if (bytes === undefined) return false;
  if (bytes <= DIRECT_OVER) return readObjectInto(root, spec, fd);
  return (await git(['cat-file', 'blob', spec], { cwd: root, readOnly: true, allowFail: true, stdoutFd: fd })).code === 0;
}
