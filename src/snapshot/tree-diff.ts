/**
 * The differences between two trees, read through the command's long-lived cat-file process
 * (io/cat-file.ts) instead of one `git diff-tree -r` (or `git diff-index --cached`) process: what
 * the snapshot asks of an index without conflicts or intent-to-add entries, whose tree
 * (write-tree) holds exactly its entries. Only the subtrees that differ are read.
 *
 * Each record is one that `git diff-tree -r -z --no-renames <a> <b>` prints: old and new mode
 * (six octal digits, 000000 for none), the old object id, the status (A, D, M; T when the kind of
 * entry changes: a file, a symlink, a gitlink) and the path; grouped by directory, not
 * necessarily in git's order (callers sort or look records up by path). A path that is not UTF-8 is left
 * out, as the snapshot's parser of git's output does. A file replaced by a directory (or the
 * reverse) is D of the one and A of everything under the other, as git lists it.
 */
import { readTypedObjects } from '../io/cat-file.js';

export interface TreeDiffRecord {
  oldMode: string;
  newMode: string;
  oldOid: string;
  status: string;
  path: string;
}

interface Entry {
  mode: number;
  /** the name's bytes, as latin1 */
  name: string;
  oid: string;
}

const TREE = 0o040000;
const TYPE_MASK = 0o170000;

/**
 * The records of `diff-tree -r <a> <b>` (a, b: tree ids; a null side is the empty tree); null
 * when a tree cannot be read. `known`: trees not written yet, by id.
 */
export async function diffTrees(root: string, a: string | null, b: string | null, known: ReadonlyMap<string, Buffer> = new Map()): Promise<TreeDiffRecord[] | null> {
  const hashBytes = ((a ?? b)?.length ?? 40) / 2;
  const zero = '0'.repeat(hashBytes * 2);
  const read = async (oids: (string | null)[]): Promise<(Entry[] | null)[]> => {
    const want = oids.filter((o): o is string => o !== null && !known.has(o));
    const objs = await readTypedObjects(root, want);
    let i = 0;
    return oids.map((o) => {
      if (o === null) return [];
      const mine = known.get(o);
      if (mine) return parseTree(mine, hashBytes);
      const obj = objs[i++];
      return obj && obj.type === 'tree' ? parseTree(obj.body, hashBytes) : null;
    });
  };
  const record = (old: Entry | null, neu: Entry | null, path: string): TreeDiffRecord[] => {
    const bytes = Buffer.from(path, 'latin1');
    const decoded = bytes.toString('utf8');
    if (!Buffer.from(decoded, 'utf8').equals(bytes)) return []; // not UTF-8: left out
    const status = !old ? 'A' : !neu ? 'D' : (old.mode & TYPE_MASK) !== (neu.mode & TYPE_MASK) ? 'T' : 'M';
    return [{ oldMode: modeText(old), newMode: modeText(neu), oldOid: old ? old.oid : zero, status, path: decoded }];
  };
  let ok = true;
  /** the records under ta/tb (prefix: their path and a slash), subtrees read concurrently */
  const walk = async (ta: string | null, tb: string | null, prefix: string): Promise<TreeDiffRecord[]> => {
    const [ea, eb] = await read([ta, tb]);
    if (!ea || !eb) {
      ok = false;
      return [];
    }
    const byName = new Map<string, { a?: Entry; b?: Entry }>();
    for (const e of ea) byName.set(e.name, { ...byName.get(e.name), a: e });
    for (const e of eb) byName.set(e.name, { ...byName.get(e.name), b: e });
    const parts: (TreeDiffRecord[] | Promise<TreeDiffRecord[]>)[] = [];
    for (const name of [...byName.keys()].sort(compareBytes)) {
      const { a: x, b: y } = byName.get(name)!;
      if (x && y && x.mode === y.mode && x.oid === y.oid) continue;
      const path = prefix + name;
      const xTree = x !== undefined && (x.mode & TYPE_MASK) === TREE;
      const yTree = y !== undefined && (y.mode & TYPE_MASK) === TREE;
      if (!xTree && !yTree) {
        parts.push(record(x ?? null, y ?? null, path));
        continue;
      }
      // a file and a directory of one name: the file's record, then everything under the directory
      if (x && !xTree) parts.push(record(x, null, path));
      if (y && !yTree) parts.push(record(null, y, path));
      parts.push(walk(xTree ? x!.oid : null, yTree ? y!.oid : null, path + '/'));
    }
    return (await Promise.all(parts)).flat();
  };
  const out = await walk(a, b, '');
  return ok ? out : null;
}

function modeText(e: Entry | null): string {
  return e ? e.mode.toString(8).padStart(6, '0') : '000000';
}

function parseTree(body: Buffer, hashBytes: number): Entry[] | null {
  const list: Entry[] = [];
  for (let i = 0; i < body.length;) {
    const sp = body.indexOf(0x20, i);
    const nul = sp < 0 ? -1 : body.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 1 + hashBytes > body.length) return null;
    list.push({ mode: parseInt(body.toString('latin1', i, sp), 8), name: body.toString('latin1', sp + 1, nul), oid: body.toString('hex', nul + 1, nul + 1 + hashBytes) });
    i = nul + 1 + hashBytes;
  }
  return list;
}

function compareBytes(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The tree of the commit `oid`, read through the command's cat-file process; null when it is not a commit. */
export async function treeOfCommit(root: string, oid: string): Promise<string | null> {
  const [c] = await readTypedObjects(root, [oid]);
  if (!c || c.type !== 'commit') return null;
  const m = /^tree ([0-9a-f]{40}|[0-9a-f]{64})\n/.exec(c.body.toString('latin1', 0, 80));
  return m ? m[1]! : null;
}
