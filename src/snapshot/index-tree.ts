/**
 * The tree `git write-tree` writes for an index, made by rb from the index's bytes (issue 18:
 * one git process less per snapshot): the directories the index's cache-tree extension (TREE)
 * holds as valid are taken by their tree id, as git takes them; every other directory is
 * serialised from its entries and hashed here. Only for an index git would write as it is —
 * versions 2-4, no split or sparse index, no unmerged or intent-to-add entry, every mode one git
 * writes today (100644, 100755, 120000, 160000), a cache-tree that agrees with the entries —
 * otherwise null, and the caller runs `git write-tree`. The trees made here are returned children
 * first, for the caller's object batch (io/object-batch.ts: written before anything names them;
 * `--strict` then checks that every blob they name exists, as write-tree does).
 */
import { hashObject, type ObjectFormat } from '../io/object-batch.js';
import { readIndex } from '../io/index-file.js';

/** One directory of the cache-tree: its name, how many index entries it covers (-1: invalid), its tree id when valid. */
interface CacheTreeNode {
  name: Buffer;
  count: number;
  oid: string | null;
  children: Map<string, CacheTreeNode>;
}

const MODES = new Set(['100644', '100755', '120000', '160000']);

/**
 * The index's tree, the trees rb made for it (children first) and the valid cache-tree ids it
 * took as they are (the caller checks they exist, as git does: one missing, git writes the tree);
 * or null when git must write it.
 */
export function indexTree(buf: Buffer, algo: ObjectFormat): { tree: string; made: { oid: string; body: Buffer }[]; reused: string[] } | null {
  const hashBytes = algo === 'sha1' ? 20 : 32;
  const index = readIndex(buf, hashBytes);
  if (!index) return null;
  const entries = index.entries;
  for (const e of entries) {
    if (e.stage !== 0 || !MODES.has(e.mode) || e.intentToAdd) return null;
  }
  const treeExt = index.extensions.get('TREE');
  const cache = treeExt ? cacheTree(treeExt, hashBytes) : null;
  if (cache === undefined) return null;
  const made: { oid: string; body: Buffer }[] = [];
  const reused: string[] = [];
  const build = (from: number, to: number, prefixLen: number, node: CacheTreeNode | null): string | null => {
    if (node && node.count >= 0 && node.oid) {
      if (node.count !== to - from) return null; // a cache-tree that does not match the entries: git's business
      reused.push(node.oid);
      return node.oid;
    }
    const items: { name: Buffer; tree: boolean; mode: string; oid: string }[] = [];
    for (let i = from; i < to;) {
      const e = entries[i]!;
      const rest = e.path.subarray(prefixLen);
      const slash = rest.indexOf(0x2f);
      if (slash < 0) {
        items.push({ name: rest, tree: false, mode: e.mode, oid: e.oid });
        i++;
        continue;
      }
      // the entries of one directory are contiguous in the index (sorted by path bytes)
      const dir = rest.subarray(0, slash + 1);
      let j = i + 1;
      while (j < to && entries[j]!.path.length > prefixLen + slash && entries[j]!.path.subarray(prefixLen, prefixLen + slash + 1).equals(dir)) j++;
      const name = rest.subarray(0, slash);
      const sub = build(i, j, prefixLen + slash + 1, node?.children.get(name.toString('latin1')) ?? null);
      if (sub === null) return null;
      items.push({ name, tree: true, mode: '40000', oid: sub });
      i = j;
    }
    // git's tree order: a directory sorts as if its name ended with '/'
    const key = (x: { name: Buffer; tree: boolean }) => (x.tree ? Buffer.concat([x.name, SLASH]) : x.name);
    items.sort((a, b) => Buffer.compare(key(a), key(b)));
    const body = Buffer.concat(items.flatMap((x) => [Buffer.from(`${x.mode} `), x.name, NUL, Buffer.from(x.oid, 'hex')]));
    const oid = hashObject(algo, 'tree', body);
    made.push({ oid, body });
    return oid;
  };
  const tree = build(0, entries.length, 0, cache);
  return tree === null ? null : { tree, made, reused };
}

const SLASH = Buffer.from('/');
const NUL = Buffer.from([0]);

/** The cache-tree extension's root node; undefined when it cannot be read (then git writes the tree). */
function cacheTree(ext: Buffer, hashBytes: number): CacheTreeNode | undefined {
  let pos = 0;
  const read = (): CacheTreeNode | undefined => {
    const nul = ext.indexOf(0, pos);
    if (nul < 0) return undefined;
    const name = ext.subarray(pos, nul);
    const lf = ext.indexOf(0x0a, nul + 1);
    if (lf < 0) return undefined;
    const m = /^(-?\d+) (\d+)$/.exec(ext.toString('latin1', nul + 1, lf));
    if (!m) return undefined;
    pos = lf + 1;
    const count = Number(m[1]);
    let oid: string | null = null;
    if (count >= 0) {
      if (pos + hashBytes > ext.length) return undefined;
      oid = ext.toString('hex', pos, pos + hashBytes);
      pos += hashBytes;
    }
    const node: CacheTreeNode = { name, count, oid, children: new Map() };
    for (let i = 0; i < Number(m[2]); i++) {
      const c = read();
      if (!c) return undefined;
      node.children.set(c.name.toString('latin1'), c);
    }
    return node;
  };
  const root = read();
  return root && pos === ext.length ? root : undefined;
}
