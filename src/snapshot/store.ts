/**
 * The snapshot store: list, read, resolve and delete snapshots under refs/rb/snapshots/.
 *
 * What a snapshot is about comes from its meta/info.json; snapshots without one (made by the
 * bash prototype) are described from their commit trailers and meta/skipped instead. Reads are
 * batched: one for-each-ref and one cat-file --batch for any number of snapshots.
 */
import { git, revParse } from '../io/git.js';
import { memoized } from '../io/repo-state.js';
import type { Repo } from '../repo.js';
import { UsageError } from '../errors.js';
import {
  FSYNC_FLAGS, SNAPSHOT_REF_PREFIX, catFileBatch, decodeSkipped, isValidSnapshotId, parseTrailers, snapshotRef,
  type SnapshotInfo, type SnapshotInfoFile,
} from './format.js';

interface RefRow {
  ref: string;
  commit: string;
  date: string;
  message: string;
}

/** All snapshots, newest first (by createdAt, then id). */
export async function listSnapshots(repo: Repo): Promise<SnapshotInfo[]> {
  const rows = await refRows(repo, SNAPSHOT_REF_PREFIX);
  const infos = await describe(repo, rows);
  return infos.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** The snapshot with exactly this id, or null when there is none. */
export async function readSnapshot(repo: Repo, id: string): Promise<SnapshotInfo | null> {
  if (!isValidSnapshotId(id)) return null;
  const rows = (await refRows(repo, snapshotRef(id))).filter((r) => r.ref === snapshotRef(id));
  if (rows.length === 0) return null;
  const [info] = await describe(repo, rows);
  return info ?? null;
}

/**
 * Find a snapshot from what a user typed: an exact id, `refs/rb/snapshots/<id>`, a unique
 * prefix of an id, or a revision naming an rb snapshot commit (e.g. its oid, also when its ref
 * was deleted). Throws UsageError when nothing or more than one snapshot matches.
 */
export function resolveSnapshot(repo: Repo, idOrPrefix: string): Promise<SnapshotInfo> {
  // asked several times by one undo (eligibility, plan, restore): once per generation of the refs
  // and HEAD (a revision may name it) and of rb's own refs (the snapshots)
  return memoized(`snapshot ${repo.root} ${idOrPrefix}`, () => resolveNow(repo, idOrPrefix), ['refs', 'head', 'private-refs']);
}

async function resolveNow(repo: Repo, idOrPrefix: string): Promise<SnapshotInfo> {
  const q = idOrPrefix.trim();
  if (q === '' || q.startsWith('-') || /[\0\n]/.test(q)) {
    throw new UsageError(`not a snapshot id: ${JSON.stringify(idOrPrefix)}`, { next: 'list snapshots with `rb snapshots list`' });
  }
  const id = q.startsWith(SNAPSHOT_REF_PREFIX) ? q.slice(SNAPSHOT_REF_PREFIX.length) : q;
  const direct = await readSnapshot(repo, id);
  if (direct) return direct;
  const all = await listSnapshots(repo);
  const exact = all.find((s) => s.id === id);
  if (exact) return exact;
  const byPrefix = all.filter((s) => s.id.startsWith(id));
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) {
    throw new UsageError(`snapshot id ${JSON.stringify(q)} is ambiguous: it matches ${byPrefix.length} snapshots`, {
      details: byPrefix.slice(0, 10).map((s) => s.id),
      next: 'pass more characters of the id',
    });
  }
  // a revision: an rb snapshot commit is recognised by its meta/HEAD
  const commit = await revParse(repo.root, `${q}^{commit}`);
  if (commit) {
    const byCommit = all.find((s) => s.commit === commit);
    if (byCommit) return byCommit;
    const isSnap = await git(['cat-file', '-e', `${commit}:meta/HEAD`], { cwd: repo.root, allowFail: true, readOnly: true });
    if (isSnap.code === 0) {
      const rows = await commitRows(repo, commit);
      const [info] = await describe(repo, rows);
      if (info) return info;
    }
    throw new UsageError(`${q} is not an rb snapshot`, { next: 'list snapshots with `rb snapshots list`' });
  }
  throw new UsageError(`no such snapshot: ${q}`, { next: 'list snapshots with `rb snapshots list`' });
}

/**
 * Delete a snapshot ref with compare-and-swap (only if it still points where we read it).
 * Returns false when there was no such snapshot. The objects stay until git's gc prunes them.
 */
export async function deleteSnapshot(repo: Repo, id: string): Promise<boolean> {
  if (!isValidSnapshotId(id)) throw new UsageError(`not a snapshot id: ${JSON.stringify(id)}`);
  const ref = snapshotRef(id);
  const oid = await revParse(repo.root, ref);
  if (!oid) return false;
  await git([...FSYNC_FLAGS, 'update-ref', '-m', 'rb: delete snapshot', '-d', ref, oid], { cwd: repo.root });
  return true;
}

// ------------------------------------------------------------------------------------------------

const ROW_FORMAT = '--format=%(refname)%00%(objectname)%00%(creatordate:iso-strict)%00%(contents)%00%01';

function parseRows(out: string): RefRow[] {
  const rows: RefRow[] = [];
  for (const rec of out.split('\0\x01\n')) {
    if (rec === '') continue;
    const [ref, commit, date, ...rest] = rec.split('\0');
    rows.push({ ref: ref!, commit: commit!, date: date!, message: rest.join('\0') });
  }
  return rows;
}

async function refRows(repo: Repo, pattern: string): Promise<RefRow[]> {
  const r = await git(['for-each-ref', ROW_FORMAT, pattern], { cwd: repo.root, readOnly: true });
  return parseRows(r.stdout).filter((row) => row.ref.startsWith(SNAPSHOT_REF_PREFIX));
}

/** A row for a commit that no snapshot ref points at. */
async function commitRows(repo: Repo, commit: string): Promise<RefRow[]> {
  const r = await git(['log', '-1', '--format=%H%x00%cI%x00%B', commit, '--'], { cwd: repo.root, readOnly: true });
  const [c, date, ...rest] = r.stdout.split('\0');
  return [{ ref: '', commit: c!.trim(), date: date!, message: rest.join('\0') }];
}

/** Build SnapshotInfo for rows: info.json when present, else trailers + meta/skipped. */
async function describe(repo: Repo, rows: RefRow[]): Promise<SnapshotInfo[]> {
  if (rows.length === 0) return [];
  const infoBlobs = await catFileBatch(repo, rows.map((r) => `${r.commit}:meta/info.json`));
  const out: (SnapshotInfo | null)[] = rows.map((row, i) => {
    const blob = infoBlobs[i];
    if (!blob) return null;
    try {
      const f = JSON.parse(blob.toString('utf8')) as SnapshotInfoFile;
      const id = row.ref ? row.ref.slice(SNAPSHOT_REF_PREFIX.length) : f.id;
      return {
        id, ref: row.ref, commit: row.commit, createdAt: f.createdAt ?? row.date, message: f.message ?? '',
        headRef: f.headRef ?? null, headOid: f.headOid ?? null, conflicted: !!f.conflicted,
        skipped: Array.isArray(f.skipped) ? f.skipped : [], ...(f.runId ? { runId: f.runId } : {}),
      } satisfies SnapshotInfo;
    } catch {
      return null;
    }
  });
  const missing = rows.map((_, i) => i).filter((i) => out[i] === null);
  if (missing.length > 0) {
    const skippedBlobs = await catFileBatch(repo, missing.map((i) => `${rows[i]!.commit}:meta/skipped`));
    missing.forEach((i, k) => {
      const row = rows[i]!;
      const t = parseTrailers(row.message);
      const subject = row.message.split('\n')[0] ?? '';
      const id = row.ref ? row.ref.slice(SNAPSHOT_REF_PREFIX.length) : (t['rb-snapshot-id'] ?? row.commit);
      out[i] = {
        id, ref: row.ref, commit: row.commit,
        createdAt: t['rb-created-at'] ?? toIso(row.date),
        message: subject.replace(/^rb snapshot:?\s?/, ''),
        headRef: !t['rb-head-ref'] || t['rb-head-ref'] === 'DETACHED' ? null : t['rb-head-ref'],
        headOid: !t['rb-head-oid'] || t['rb-head-oid'] === 'UNBORN' ? null : t['rb-head-oid'],
        conflicted: t['rb-conflicted'] === 'yes',
        skipped: skippedBlobs[k] ? decodeSkipped(skippedBlobs[k]!) : [],
        ...(t['rb-run-id'] ? { runId: t['rb-run-id'] } : {}),
      };
    });
  }
  return out as SnapshotInfo[];
}

function toIso(date: string): string {
  const d = new Date(date);
  return Number.isNaN(d.getTime()) ? date : d.toISOString();
}
