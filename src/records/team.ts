/**
 * The team's view (issue 20): this clone's journal and metrics.json merged with the records
 * every other clone shared (refs/rb/records/, fetched by rb sync). Read-only.
 *
 * Merging is by identity, never by position: a record is (writer, id), so two clones whose runs
 * have the same id (the same second, the same playbook) stay two runs, and fetching the same
 * records twice changes nothing. This clone's own records are only used for what its local
 * files no longer hold (a journal pruned, a metrics.json moved aside). An undo is a record of its
 * own (undo_of); it marks its run undone on read.
 */
import type { Repo } from '../repo.js';
import { effectiveStatus, listRuns, type RunRecord } from '../journal/journal.js';
import type { Checkpoint, MetricsEntry, MetricsFile } from './metrics.js';
import { readRecords, writerId, type SharedRecord, type SharedRun } from './git-records.js';

export interface TeamRun {
  /** the writer (clone) that ran it */
  writer: string;
  /** true for this clone's runs (undoable here); a teammate's run is read-only */
  mine: boolean;
  run: RunRecord | SharedRun;
  status: string;
}

/**
 * Which runs of each writer are undone now, from the undo and redo records: writer -> run id ->
 * the run that undid it. Every succeeded record with `undoOf` undid that run (a redo is the undo
 * of an undo, journal/chain.ts); the latest such record of a run counts, and it counts only while
 * it is itself in effect: after `rb undo`, `rb redo` brings the run back, and an undo of that
 * redo takes it back again.
 */
function undoneBy(records: readonly SharedRecord[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  const byWriter = new Map<string, SharedRecord[]>();
  for (const r of records) byWriter.set(r.writer, [...(byWriter.get(r.writer) ?? []), r]);
  for (const [writer, recs] of byWriter) {
    const latest = new Map<string, string>();
    const oldestFirst = [...recs].sort((a, b) => startOf(a).localeCompare(startOf(b)));
    for (const r of oldestFirst) {
      const of = r.record?.undoOf ?? (r.audit?.undo_of as string | undefined);
      const ok = (r.record?.status ?? r.audit?.result) === 'succeeded';
      if (of && ok) latest.set(of, r.id);
    }
    const inEffect = (id: string, seen = new Set<string>()): boolean => {
      const by = latest.get(id);
      if (!by || seen.has(id)) return true;
      seen.add(id);
      return !inEffect(by, seen);
    };
    const undone = new Map<string, string>();
    for (const [id, by] of latest) if (!inEffect(id)) undone.set(id, by);
    out.set(writer, undone);
  }
  return out;
}

function startOf(r: SharedRecord): string {
  return r.record?.startedAt ?? r.audit?.at ?? '';
}

/** Every run this clone knows of, its own and its teammates', newest first. */
export async function teamRuns(repo: Repo): Promise<TeamRun[]> {
  const me = writerId(repo);
  const local = listRuns(repo);
  const localIds = new Set(local.map((r) => r.id));
  const records = await readRecords(repo, { kind: 'runs' });
  const undone = undoneBy(records);
  const out: TeamRun[] = local.map((run) => ({ writer: me, mine: true, run, status: effectiveStatus(run) }));
  for (const rec of records) {
    if (!rec.record) continue;
    if (rec.writer === me && localIds.has(rec.id)) continue;
    const by = undone.get(rec.writer)?.get(rec.id);
    const status = by && rec.record.status === 'succeeded' ? 'undone' : rec.record.status;
    out.push({ writer: rec.writer, mine: rec.writer === me, run: by ? { ...rec.record, undoneBy: by } : rec.record, status });
  }
  return out.sort((a, b) => (b.run.startedAt ?? '').localeCompare(a.run.startedAt ?? '') || a.writer.localeCompare(b.writer));
}

/** Find one run for `rb show`: an id, or writer/id when several clones have a run of that id. */
export async function findTeamRun(repo: Repo, query: string): Promise<TeamRun[]> {
  const all = await teamRuns(repo);
  const slash = query.indexOf('/');
  if (slash > 0) {
    const w = query.slice(0, slash);
    const id = query.slice(slash + 1);
    return all.filter((r) => r.writer.startsWith(w) && r.run.id === id);
  }
  return all.filter((r) => r.run.id === query);
}

/**
 * metrics.json as the team sees it: this clone's file, plus every other writer's rollbacks and
 * checkpoints (rb check in CI included). Each entry added from a record carries `writer`.
 */
export async function teamMetricsFile(repo: Repo, local: MetricsFile | null): Promise<MetricsFile & { writers: number }> {
  const me = writerId(repo);
  const records = await readRecords(repo);
  const undone = undoneBy(records);
  const rollbacks: MetricsEntry[] = [...(local?.rollbacks ?? [])];
  const checkpoints: Checkpoint[] = [...(local?.checkpoints ?? [])];
  const localRuns = new Set(rollbacks.map((e) => e.run_id).filter(Boolean));
  const localCheckpoints = new Set(checkpoints.map((c) => `${c.timestamp} ${c.tag}`));
  const writers = new Set<string>([me]);
  for (const rec of records) {
    const m = rec.metrics;
    if (!m) continue;
    writers.add(rec.writer);
    if (rec.kind === 'runs' && 'recovery_time_minutes' in m) {
      if (rec.writer === me && localRuns.has((m as MetricsEntry).run_id)) continue;
      const by = undone.get(rec.writer)?.get(rec.id);
      rollbacks.push({ ...(m as MetricsEntry), ...(by ? { undone: true, undone_by: by } : {}), writer: rec.writer });
    } else if (rec.kind === 'checks') {
      const cp = m as Checkpoint;
      if (rec.writer === me && localCheckpoints.has(`${cp.timestamp} ${cp.tag}`)) continue;
      checkpoints.push({ ...cp, writer: rec.writer });
    }
  }
  return {
    ...(local ?? {}),
    rollbacks,
    checkpoints,
    statistics: local?.statistics ?? { total_rollbacks: 0, by_cause: {}, average_recovery_time: 0 },
    writers: writers.size,
  };
}
