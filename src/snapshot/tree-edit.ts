/**
 * Edit a git tree without an index: apply a list of path edits (set a blob / symlink / gitlink,
 * or remove a path) to a base tree and write only the trees that change.
 *
 * This is how the snapshot builds its worktree/ tree from the index's tree and the few paths
 * that differ from it, instead of `git add -A` on a copy of the whole index followed by
 * `write-tree` (each of which reads and rewrites the full index file: on a 50,000-entry index
 * that is most of the snapshot's time). Cost grows with the number of edited paths and their
 * depth, not with the size of the tree:
 *  - the base trees on the edited paths are read with one `git cat-file --batch` (the command's
 *    long-lived one when the editor is given the worktree root);
 *  - the new trees are serialised (unchanged entries copied as bytes, changed ones merged in
 *    git's order, which is checked) and hashed here, and added to an ObjectBatch
 *    (io/object-batch.ts): the caller's, written with the rest of its objects by one git
 *    process, or the editor's own, written at the end of each apply(). The tests compare every
 *    result with the tree git's own index machinery builds from the same edits.
 *
 * Names are handled as bytes (latin1 strings internally), so any name in the base tree survives.
 */
import { ObjectBatch, hashObject, objectFormatOf, type ObjectFormat, type RunGit } from '../io/object-batch.js';
import { readTypedObjects } from '../io/cat-file.js';

export type { RunGit } from '../io/object-batch.js';
export { PACK_FROM, zlibStored } from '../io/object-batch.js';

/** One entry of a tree: mode as git writes it in trees (octal, no leading zero: 40000, 100644, ...). */
export interface TreeEntry {
  mode: string;
  oid: string;
}

/** Set `path` (UTF-8, '/'-separated, relative to the tree) to a blob, symlink or gitlink; or remove it. */
export type TreeEditOp = { path: string; mode: string; oid: string } | { path: string; remove: true };

/** One entry of a tree as stored: its bytes ("<mode> <name>\0<binary oid>"), name (latin1) and whether it is a tree. */
interface RawEntry {
  name: string;
  tree: boolean;
  raw: Buffer;
}

interface Node {
  children: Map<string, Node>;
  set?: TreeEntry;
  remove?: boolean;
  /** the base tree at this path, once known (null: none; undefined: not known yet) */
  base?: string | null;
}

const TREE_MODE = '40000';

/** A tree editor for one repository; base trees read once are cached across edits. */
export class TreeEditor {
  /** tree bodies read or built, parsed on first use: entries in git's order, and by name */
  private readonly bodies = new Map<string, Buffer>();
  private readonly parsed = new Map<string, { list: RawEntry[]; byName: Map<string, RawEntry> }>();
  private readonly cache = {
    has: (oid: string) => this.bodies.has(oid),
    set: (oid: string, body: Buffer) => void this.bodies.set(oid, body),
    get: (oid: string) => {
      let p = this.parsed.get(oid);
      if (!p) this.parsed.set(oid, (p = this.parse(this.bodies.get(oid)!)));
      return p;
    },
  };
  private readonly hashLen: number;

  /**
   * `algo` is the repository's object format, known from any object id's length. With `batch`,
   * apply() adds the new trees to it and the caller writes them (batch.flush()) before anything
   * points at them; without, each apply() writes its trees itself.
   */
  constructor(private readonly run: RunGit, private readonly algo: ObjectFormat, private readonly batch?: ObjectBatch, private readonly root?: string) {
    this.hashLen = algo === 'sha1' ? 20 : 32;
  }

  /**
   * With `root` (the worktree root), base trees are read through the command's long-lived
   * cat-file process (io/cat-file.ts); without, each read is one `git cat-file --batch`.
   */
  static forOid(run: RunGit, anyOid: string, batch?: ObjectBatch, root?: string): TreeEditor {
    return new TreeEditor(run, objectFormatOf(anyOid), batch, root);
  }

  /**
   * Trees git may not have yet (made elsewhere, or built here into the caller's batch, which
   * writes them later): read from the cache only, and never named in a `<tree>:<path>` question
   * (git could not answer it: the directories below such a tree are read by id, level by level).
   */
  private readonly unwritten = new Set<string>();

  /** A tree made elsewhere and not written yet (the caller's batch holds it): read from here, never asked of git. */
  know(oid: string, body: Buffer): void {
    if (!this.cache.has(oid)) this.cache.set(oid, body);
    this.unwritten.add(oid);
  }

  /**
   * Apply `edits` to `base` (null: the empty tree) and return the new tree's id, or null when
   * the result is empty (git trees never hold empty directories: a directory whose last entry
   * is removed disappears, as with `git add -A`).
   */
  async apply(base: string | null, edits: readonly TreeEditOp[]): Promise<string | null> {
    const root: Node = { children: new Map(), base };
    for (const e of edits) {
      const n = nodeAt(root, e.path);
      if (n === root) throw new Error(`tree edit of an empty path: ${JSON.stringify(e.path)}`);
      if ('remove' in e) n.remove = true;
      else n.set = { mode: canonicalMode(e.mode), oid: e.oid };
    }
    await this.loadBases(root);
    const written: { oid: string; body: Buffer }[] = [];
    const oid = this.build(root, written);
    const batch = this.batch ?? new ObjectBatch(this.run, this.algo);
    for (const t of written) batch.add('tree', t.body); // children first: build() pushes them so
    if (!this.batch) await batch.flush();
    else for (const t of written) this.unwritten.add(t.oid);
    return oid;
  }

  /**
   * Read the base trees that edits of `paths` (or of a subset of them) will need, ahead of time:
   * callers start this while they still compute what the edits are (hash the files), so the
   * later apply() finds every base tree in the cache.
   */
  async prefetch(base: string | null, paths: readonly string[]): Promise<void> {
    const root: Node = { children: new Map(), base };
    for (const path of paths) nodeAt(root, path);
    await this.loadBases(root);
  }

  /**
   * Find and read the base tree of every directory on an edited path. Trees read or built
   * earlier are in the cache; the others come from one `git cat-file --batch` asking for
   * `<base>:<dir>` of each (level by level instead when a name holds a newline, which the batch
   * protocol cannot carry).
   */
  private async loadBases(root: Node): Promise<void> {
    if (!root.base) return; // nothing below an empty base has a base either
    const need: { node: Node; path: string }[] = [];
    // n.base: an oid (cached or in `need`), null (not in the base), or undefined (asked for by path)
    const visit = (n: Node, path: string) => {
      const entries = n.base && this.cache.has(n.base) ? this.cache.get(n.base)!.byName : null;
      for (const [name, c] of n.children) {
        if (c.set || c.children.size === 0) continue;
        const p = path === '' ? name : `${path}/${name}`;
        if (n.base === null) {
          c.base = null;
        } else if (entries) {
          const be = entries.get(name);
          c.base = be?.tree ? be.raw.toString('hex', be.raw.length - this.hashLen) : null;
          if (c.base && !this.cache.has(c.base)) need.push({ node: c, path: p });
        } else {
          c.base = undefined;
          need.push({ node: c, path: p });
        }
        visit(c, p);
      }
    };
    const rootKnown = this.cache.has(root.base);
    visit(root, '');
    if (rootKnown && need.length === 0) return;
    if (need.some((d) => d.path.includes('\n')) || this.unwritten.has(root.base)) return this.loadBasesByLevel(root);
    const specs = [...(rootKnown ? [] : [root.base]), ...need.map((d) => `${root.base}:${d.path}`)];
    const objs = await this.read(specs);
    if (!rootKnown) {
      const o = objs.shift();
      if (o?.type !== 'tree') throw new Error(`git cat-file: ${root.base} is not a tree`);
      this.cache.set(root.base, o.body);
    }
    need.forEach((d, i) => {
      const o = objs[i];
      if (o && o.type === 'tree') {
        if (!this.cache.has(o.oid)) this.cache.set(o.oid, o.body);
        d.node.base = o.oid;
      } else {
        d.node.base = null; // not in the base, or not a directory there
      }
    });
  }

  private async loadBasesByLevel(root: Node): Promise<void> {
    let level: Node[] = [root];
    while (level.length > 0) {
      const want = [...new Set(level.map((n) => n.base).filter((b): b is string => !!b))].filter((o) => !this.cache.has(o));
      const objs = await this.read(want);
      want.forEach((oid, i) => {
        const o = objs[i];
        if (!o || o.type !== 'tree') throw new Error(`git cat-file: ${oid} is not a tree`);
        this.cache.set(oid, o.body);
      });
      const next: Node[] = [];
      for (const n of level) {
        const entries = n.base ? this.cache.get(n.base)!.byName : undefined;
        for (const [name, c] of n.children) {
          if (c.set || c.children.size === 0) continue;
          const be = entries?.get(name);
          c.base = be?.tree ? be.raw.subarray(be.raw.length - this.hashLen).toString('hex') : null;
          next.push(c);
        }
      }
      level = next;
    }
  }

  /** Objects by name (latin1 strings = bytes), through the shared cat-file or one `git cat-file --batch`; null for a missing one. */
  private async read(specs: readonly string[]): Promise<({ oid: string; type: string; body: Buffer } | null)[]> {
    if (specs.length === 0) return [];
    if (this.root !== undefined) return readTypedObjects(this.root, specs);
    const r = await this.run(['cat-file', '--batch'], { input: Buffer.from(specs.map((o) => o + '\n').join(''), 'latin1'), readOnly: true });
    const buf = r.stdoutBuf;
    const out: ({ oid: string; type: string; body: Buffer } | null)[] = [];
    let pos = 0;
    for (let i = 0; i < specs.length; i++) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) throw new Error('truncated git cat-file --batch output');
      const header = buf.subarray(pos, nl).toString('latin1');
      pos = nl + 1;
      const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (\S+) (\d+)$/.exec(header);
      if (!m) {
        if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
          out.push(null);
          continue;
        }
        throw new Error(`unexpected git cat-file --batch header: ${header}`);
      }
      const size = Number(m[3]);
      out.push({ oid: m[1]!, type: m[2]!, body: buf.subarray(pos, pos + size) });
      pos += size + 1;
    }
    return out;
  }

  private parse(body: Buffer): { list: RawEntry[]; byName: Map<string, RawEntry> } {
    const list: RawEntry[] = [];
    const byName = new Map<string, RawEntry>();
    let i = 0;
    while (i < body.length) {
      const sp = body.indexOf(0x20, i);
      const nul = body.indexOf(0, sp);
      if (sp < 0 || nul < 0) throw new Error('malformed tree object');
      const modeText = body.toString('latin1', i, sp);
      const mode = parseInt(modeText, 8);
      const name = body.toString('latin1', sp + 1, nul);
      const tree = (mode & 0o170000) === 0o040000;
      const canon = canonicalTreeMode(mode);
      // an entry git would not write today (a zero-padded "040000" from old tools, a
      // legacy "100664"): re-encoded as git's index would write it when this tree is rebuilt
      // (the stored bytes would also be refused by unpack-objects --strict)
      const raw = canon === modeText ? body.subarray(i, nul + 1 + this.hashLen)
        : Buffer.concat([Buffer.from(`${canon} ${name}\0`, 'latin1'), body.subarray(nul + 1, nul + 1 + this.hashLen)]);
      const e = { name, tree, raw };
      list.push(e);
      byName.set(e.name, e);
      i = nul + 1 + this.hashLen;
    }
    return { list, byName };
  }

  private encode(mode: string, name: string, oid: string): RawEntry {
    return { name, tree: mode === TREE_MODE, raw: Buffer.concat([Buffer.from(`${mode} ${name}\0`, 'latin1'), Buffer.from(oid, 'hex')]) };
  }

  /**
   * Compute the new trees bottom-up (children first, in `written`); returns this node's tree id
   * or null when empty. The base's entries are already in git's order and are copied as bytes;
   * only the changed entries are sorted and merged in.
   */
  private build(n: Node, written: { oid: string; body: Buffer }[]): string | null {
    const changed = new Map<string, RawEntry | null>();
    for (const [name, c] of n.children) {
      if (c.set) {
        changed.set(name, this.encode(c.set.mode, name, c.set.oid));
      } else if (c.children.size > 0) {
        const sub = this.build(c, written);
        changed.set(name, sub ? this.encode(TREE_MODE, name, sub) : null);
      } else if (c.remove) {
        changed.set(name, null);
      }
    }
    const base = n.base ? this.cache.get(n.base)!.list : [];
    const adds = [...changed.values()].filter((e): e is RawEntry => e !== null).sort((a, b) => compareTreeNames(a.name, a.tree, b.name, b.tree));
    const out: Buffer[] = [];
    let prev: RawEntry | null = null;
    const push = (e: RawEntry) => {
      if (prev && compareTreeNames(prev.name, prev.tree, e.name, e.tree) >= 0) throw new Error(`tree entries out of order: ${prev.name} before ${e.name}`);
      out.push(e.raw);
      prev = e;
    };
    let j = 0;
    for (const e of base) {
      if (changed.has(e.name)) continue; // replaced or removed
      while (j < adds.length && compareTreeNames(adds[j]!.name, adds[j]!.tree, e.name, e.tree) < 0) push(adds[j++]!);
      push(e);
    }
    while (j < adds.length) push(adds[j++]!);
    if (out.length === 0) return null;
    const body = Buffer.concat(out);
    const oid = hashObject(this.algo, 'tree', body);
    if (oid !== n.base) {
      written.push({ oid, body }); // an unchanged tree exists already
      if (!this.cache.has(oid)) this.cache.set(oid, body); // a later edit may start from it
    }
    return oid;
  }
}

/** The node of `path` (UTF-8, '/'-separated) below `root`, made with its parents where missing; names are latin1 (bytes). */
function nodeAt(root: Node, path: string): Node {
  let n = root;
  for (const p of Buffer.from(path, 'utf8').toString('latin1').split('/')) {
    if (p === '') continue;
    let c = n.children.get(p);
    if (!c) n.children.set(p, (c = { children: new Map() }));
    n = c;
  }
  return n;
}

function canonicalMode(mode: string): string {
  return canonicalTreeMode(parseInt(mode, 8));
}

/**
 * The mode git writes in a tree for an entry of this type (canon_mode): 40000, 120000, 160000,
 * and 100755 / 100644 for regular files by the owner's exec bit (so a legacy 100664 becomes
 * 100644, a zero-padded 040000 becomes 40000).
 */
function canonicalTreeMode(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000: return '40000';
    case 0o120000: return '120000';
    case 0o160000: return '160000';
    case 0o100000: return mode & 0o100 ? '100755' : '100644';
    default: return mode.toString(8); // unknown type: left as it is (git's fsck reports it)
  }
}

/**
 * git's tree order: names compared as bytes, a tree's name as if it ended in '/'. Names are
 * latin1 strings (one char per byte), so comparing the strings compares the bytes.
 */
function compareTreeNames(a: string, aTree: boolean, b: string, bTree: boolean): number {
  const x = aTree ? a + '/' : a;
  const y = bTree ? b + '/' : b;
  return x < y ? -1 : x > y ? 1 : 0;
}
