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
import { readIndexLayout, type IndexLayout } from '../io/index-file.js';

/** One directory of the cache-tree: its name, how many index entries it covers (-1: invalid), its tree id when valid. */
interface CacheTreeNode {
  name: Buffer;
  count: number;
  oid: string | null;
  children: Map<string, CacheTreeNode>;
}

/** the modes git writes today (100644, 100755, 120000, 160000) */
const MODES = new Set([0o100644, 0o100755, 0o120000, 0o160000]);

/**
 * The index's tree, the trees rb made for it (children first) and the valid cache-tree ids it
 * took as they are (the caller checks they exist, as git does: one missing, git writes the tree);
 * or null when git must write it. `layout`: readIndexLayout of `buf` when the caller has it.
 * `serialised` counts the entries rb read the mode and id of:
 * only those of directories the cache-tree does not hold as valid (a valid directory is skipped
 * by its entry count, as git does), so a large index with a few changed directories costs little
 * more than one walk over its paths.
 */
export function indexTree(
  buf: Buffer, algo: ObjectFormat, layout?: IndexLayout,
): { tree: string; made: { oid: string; body: Buffer }[]; reused: string[]; serialised: number } | null {
  const hashBytes = algo === 'sha1' ? 20 : 32;
  const index = layout ?? readIndexLayout(buf, hashBytes);
  if (!index || index.unusual) return null;
  const { offsets, paths } = index;
  for (const at of offsets) {
    if (!MODES.has(buf.readUInt32BE(at + 24))) return null;
  }
  const treeExt = index.extensions.get('TREE');
  const cache = treeExt ? cacheTree(treeExt, hashBytes) : null;
  if (cache === undefined) return null;
  const made: { oid: string; body: Buffer }[] = [];
  const reused: string[] = [];
  let serialised = 0;
  const valid = (node: CacheTreeNode | null | undefined): node is CacheTreeNode & { oid: string } => !!node && node.count >= 0 && !!node.oid;
  /** paths[k] starts with the directory paths[i][prefixLen, end) (end: just after its slash), the entries from..to sharing prefixLen bytes */
  const inDir = (k: number, i: number, prefixLen: number, end: number) => {
    const p = paths[k]!;
    return p.length > end && p.compare(paths[i]!, prefixLen, end, prefixLen, end) === 0;
  };
  const build = (from: number, to: number, prefixLen: number, node: CacheTreeNode | null): string | null => {
    if (valid(node)) {
      if (node.count !== to - from) return null; // a cache-tree that does not match the entries: git's business
      reused.push(node.oid);
      return node.oid;
    }
    const items: { name: Buffer; tree: boolean; mode: string; oid: string }[] = [];
    for (let i = from; i < to;) {
      const path = paths[i]!;
      const slash = path.indexOf(0x2f, prefixLen);
      if (slash < 0) {
        const at = offsets[i]!;
        items.push({ name: path.subarray(prefixLen), tree: false, mode: buf.readUInt32BE(at + 24).toString(8), oid: buf.toString('hex', at + 40, at + 40 + hashBytes) });
        serialised++;
        i++;
        continue;
      }
      // the entries of one directory are contiguous in the index (sorted by path bytes): a valid
      // directory's are its count of entries from here (checked at both ends), the others' are found
      const name = path.subarray(prefixLen, slash);
      const child = node?.children.get(name.toString('latin1')) ?? null;
      let j: number;
      if (valid(child)) {
        j = i + child.count;
        if (child.count < 1 || j > to || !inDir(j - 1, i, prefixLen, slash + 1) || (j < to && inDir(j, i, prefixLen, slash + 1))) return null;
      } else {
        j = i + 1;
        while (j < to && inDir(j, i, prefixLen, slash + 1)) j++;
      }
      const sub = build(i, j, slash + 1, child);
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
  const tree = build(0, offsets.length, 0, cache);
  return tree === null ? null : { tree, made, reused, serialised };
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
