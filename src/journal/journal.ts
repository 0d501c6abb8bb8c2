/**
 * The run journal: one JSON file per run in <git-common-dir>/rb/runs/<run-id>.json, written
 * atomically (temp + rename) when a run starts, before and after every step, and at the end
 * (safety.md §3); each write says what a power cut must leave of it (io/fs.ts WriteKind). Lives in the common git dir so reset and clean never touch it.
 * Read by `rb history`, `rb show`, `rb status`, `rb undo`, `rb resume` — so this module stays
 * light: node built-ins only.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic, type WriteKind } from '../io/fs.js';
import type { Repo } from '../repo.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'undone' | 'aborted';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface StepRecord {
  id: string;
  title: string;
  kind: string;
  /** id of the enclosing group, if any */
  group?: string;
  destructive: boolean;
  status: StepStatus;
  startedAt?: string;
  endedAt?: string;
  durationMs?: number;
  /** the commands as planned (display form) */
  planned: string[];
  /** the commands actually run */
  commands?: string[];
  exitCode?: number;
  outputTail?: string;
  warnings?: string[];
  error?: string;
  /** the step's result (readable as {{steps.<id>.*}}, and the facts undo needs) */
  result?: Record<string, unknown>;
  /** how many times the step was started (resume adds one) */
  attempts?: number;
  /** can `rb resume` run it again after it started? (the step kind says; journaled for rb status) */
  rerunnable?: boolean;
  /** skipped by `rb resume --skip <step>` */
  skippedByUser?: boolean;
}

export interface RunRecord {
  version: 1;
  id: string;
  playbook: string;
  playbookFile: string;
  playbookSource: 'built-in' | 'repository' | 'internal';
  title: string;
  level?: number;
  severity?: string;
  target?: string;
  params: Record<string, unknown>;
  reason?: string;
  cause?: string;
  status: RunStatus;
  dryRun: boolean;
  pid: number;
  host: string;
  user: { name: string | null; email: string | null; os: string };
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  root: string;
  gitDir: string;
  stamp: string;
  runDir: string;
  baseline: { name: string; ref: string; oid: string | null; remoteRef: string | null };
  head: { before: { ref: string | null; oid: string | null }; after?: { ref: string | null; oid: string | null } };
  refs: { before: Record<string, string>; after?: Record<string, string> };
  snapshot: string | null;
  steps: StepRecord[];
  warnings: string[];
  error?: { message: string; step?: string };
  /** this run is an undo of that run */
  undoOf?: string;
  /** that run undid this one */
  undoneBy?: string;
  undoneAt?: string;
  /** set by rb abort */
  abortedAt?: string;
  /** argv that started the run, for resume */
  argv?: string[];
  /** a failed run whose result the user chose to keep (rb guard --keep-on-failure): undoable, not blocking */
  kept?: boolean;
  /** true once a step that changes the repository has started */
  changed: boolean;
  /** the run goes around entries this user cannot change (--skip-unwritable): a resume does too */
  skipUnwritable?: boolean;
  /** the playbook itself, for internal runs (undo, abort) that have no file: resume re-plans from it */
  inline?: unknown;
  /** report written by the run (relative to the repo root) */
  report?: string;
  /** the process groups the run's steps started (journal/lifecycle.ts stops those a dead run left) */
  processes?: { pgid: number; startTicks: string | null; command: string; step?: string; startedAt: string }[];
}

export function runsDir(repo: Pick<Repo, 'commonDir'>): string {
  return join(repo.commonDir, 'rb', 'runs');
}

export function journalPath(repo: Pick<Repo, 'commonDir'>, id: string): string {
  return join(runsDir(repo), `${id}.json`);
}

/**
 * Write a run's journal. `write-ahead` where what rb does next needs this version to survive a
 * power cut (a step that changes the repository starts, a run ends); `whole` for progress that
 * the last write-ahead version covers (io/fs.ts says how each is flushed).
 */
export function writeRun(repo: Pick<Repo, 'commonDir'>, run: RunRecord, kind: Exclude<WriteKind, 'lock'>): void {
  mkdirSync(runsDir(repo), { recursive: true });
  writeJsonAtomic(journalPath(repo, run.id), run, kind);
}

export function readRun(repo: Pick<Repo, 'commonDir'>, id: string): RunRecord | null {
  const p = journalPath(repo, id);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as RunRecord;
  } catch {
    return null;
  }
}

/**
 * All runs, newest first. Unreadable files are skipped. With `skip`, a file whose text it
 * returns true for is left out without being parsed.
 */
export function listRuns(repo: Pick<Repo, 'commonDir'>, skip?: (text: string) => boolean): RunRecord[] {
  const dir = runsDir(repo);
  if (!existsSync(dir)) return [];
  const runs: RunRecord[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json') || f.startsWith('.')) continue;
    try {
      const text = readFileSync(join(dir, f), 'utf8');
      if (skip?.(text)) continue;
      const run = JSON.parse(text) as RunRecord;
      if (run && typeof run.id === 'string' && Array.isArray(run.steps)) runs.push(run); // else: lifecycle.damagedJournals
    } catch {
      /* truncated or foreign: listed by lifecycle.damagedJournals */
    }
  }
  runs.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.id < b.id ? 1 : -1));
  return runs;
}

/** Find a run by full id or unique prefix. */
export function findRun(repo: Pick<Repo, 'commonDir'>, idOrPrefix: string): RunRecord | null {
  const exact = readRun(repo, idOrPrefix);
  if (exact) return exact;
  const matches = listRuns(repo).filter((r) => r.id.startsWith(idOrPrefix));
  return matches.length === 1 ? matches[0]! : null;
}

export function deleteRun(repo: Pick<Repo, 'commonDir'>, id: string): void {
  rmSync(journalPath(repo, id), { force: true });
}

/** Is this process alive? (only meaningful for pids on this host) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // a killed process whose parent has not reaped it yet (a zombie) is gone all the same
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * The status a run really has: a journal still saying `running` whose process is dead on this
 * host was killed (kill -9, power loss) and is reported as `interrupted`.
 */
export function effectiveStatus(run: RunRecord): RunStatus {
  if (run.status === 'running' && run.host === hostname() && !pidAlive(run.pid)) return 'interrupted';
  return run.status;
}

/**
 * A run that stopped part-way after changing something must be resumed or aborted before
 * anything else runs (architecture §2, exit 4).
 */
export function needsResolution(run: RunRecord): boolean {
  const s = effectiveStatus(run);
  return (s === 'interrupted' || s === 'failed') && run.changed && !run.dryRun && !run.kept;
}

/**
 * The top-level status line of a journal as writeRun writes it (two-space JSON: a top-level key is
 * the only thing on a line indented by exactly two spaces; strings cannot hold a raw newline),
 * for the statuses that never need resolution.
 */
const SETTLED = /\n {2}"status": "(?:succeeded|undone|aborted)",?\n/;

export function unresolvedRuns(repo: Pick<Repo, 'commonDir'>): RunRecord[] {
  // every start checks this: most journals are settled, and are not parsed (one that is written
  // some other way is parsed and judged as before)
  return listRuns(repo, (text) => SETTLED.test(text)).filter(needsResolution);
}
