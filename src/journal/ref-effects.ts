/**
 * What a run did to the branches and tags, computed from facts (git-town's model: the begin
 * snapshot of the refs, and their positions now, whenever the run stopped — finished, failed or
 * killed by kill -9):
 *
 * - `run.refs.before`: every branch and tag when the run started (journaled before any step);
 * - the reflog: every git command a run makes writes its ref updates with the reflog tag
 *   `rb run <id>` (io/git.ts setRunTag), so a ref whose newest reflog entry carries the tag is
 *   where the run left it, even if the run was killed before its step could journal the move;
 * - the steps' journaled results and intents (createdRefs, movedRefs, deletedRefs, and
 *   `deletingRefs` written before a deletion), for deletions (git drops a deleted ref's reflog)
 *   and for journals of runs made before the reflog tag existed.
 *
 * From these, undo and abort know which refs to put back (`revert`) and which the run moved that
 * someone moved again afterwards (`conflicts`: undo stops and names them unless --force).
 * Read-only.
 */
import { git } from '../io/git.js';
import { refPositions as positionsOf } from '../io/repo-state.js';
import type { Repo } from '../repo.js';
import type { RunRecord } from './journal.js';

/** The reflog tag of a run's ref updates. */
export const runTagOf = (id: string): string => `rb run ${id}`;

/** Does this reflog subject come from run `id`? (not from a run whose id merely starts the same) */
export function isRunEntry(subject: string, id: string): boolean {
  const tag = runTagOf(id);
  if (!subject.startsWith(tag)) return false;
  const next = subject.charAt(tag.length);
  return next === '' || next === ':' || next === ' ';
}

/** Positions of every branch, tag and remote-tracking branch (asked once per repository generation: io/repo-state.ts). */
export function refPositions(repo: Repo): Promise<Record<string, string>> {
  return positionsOf(repo.root);
}

/** A ref the run changed and left as it is now: undo puts it back at `before` (null: delete it). */
export interface RefReversal {
  ref: string;
  before: string | null;
  now: string | null;
}

export interface RefConflict extends RefReversal {
  /** what happened, for the message */
  why: string;
}

export interface RefEffects {
  revert: RefReversal[];
  conflicts: RefConflict[];
}

/** The refs undo and abort manage: branches and tags (remote-tracking refs follow the remote). */
const managed = (ref: string): boolean => ref.startsWith('refs/heads/') || ref.startsWith('refs/tags/');

interface Recorded {
  /** refs a step recorded creating or moving: ref -> where it left them */
  setTo: Map<string, string>;
  /** refs a step recorded deleting (or was about to delete) */
  deleted: Set<string>;
}

/** What the run's steps journaled about refs (results and intents). */
function recordedChanges(run: RunRecord): Recorded {
  const setTo = new Map<string, string>();
  const deleted = new Set<string>();
  for (const s of run.steps) {
    if (s.status === 'pending' || s.status === 'skipped') continue;
    const r = (s.result ?? {}) as Record<string, any>;
    for (const c of r.createdRefs ?? []) setTo.set(c.ref, c.oid);
    for (const m of r.movedRefs ?? []) setTo.set(m.ref, m.to);
    for (const d of [...(r.deletedRefs ?? []), ...(r.deletingRefs ?? [])]) {
      deleted.add(d.ref);
      setTo.delete(d.ref);
    }
  }
  return { setTo, deleted };
}

/** The reflog subjects of a ref, newest first ([] when it has none). */
async function reflogSubjects(repo: Repo, ref: string): Promise<string[]> {
  const r = await git(['log', '-g', '--format=%gs', ref, '--'], { cwd: repo.root, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.split('\n').filter((l) => l !== '') : [];
}

const short = (oid: string | null): string => (oid ? oid.slice(0, 12) : '(none)');
const nameOf = (ref: string): string => ref.replace(/^refs\/heads\//, '').replace(/^refs\/tags\//, 'tag ');

/**
 * The ref effects of `run` as the repository stands now. `headRef` (the branch HEAD was on when
 * the run's snapshot was taken) is also checked: restoring the snapshot resets it, so a commit
 * made on it after the run (by anyone but the run) is a conflict.
 */
export async function refEffects(repo: Repo, run: RunRecord, opts: { headRef?: string | null; now?: Record<string, string> } = {}): Promise<RefEffects> {
  const before = run.refs.before ?? {};
  const now = opts.now ?? (await refPositions(repo));
  const recorded = recordedChanges(run);
  const candidates = new Set<string>();
  for (const ref of [...Object.keys(before), ...Object.keys(now), ...recorded.setTo.keys(), ...recorded.deleted]) {
    if (managed(ref) && (before[ref] ?? null) !== (now[ref] ?? null)) candidates.add(ref);
  }
  if (opts.headRef && managed(opts.headRef) && (before[opts.headRef] ?? null) !== (now[opts.headRef] ?? null)) candidates.add(opts.headRef);

  const revert: RefReversal[] = [];
  const conflicts: RefConflict[] = [];
  await Promise.all(
    [...candidates].sort().map(async (ref) => {
      const b = before[ref] ?? null;
      const n = now[ref] ?? null;
      if (n === null) {
        // deleted: git dropped its reflog; only the journal can say the run did it
        if (recorded.deleted.has(ref)) revert.push({ ref, before: b, now: n });
        return;
      }
      const subjects = await reflogSubjects(repo, ref);
      const tagged = subjects.some((s) => isRunEntry(s, run.id));
      // the newest reflog entry is the run's; or, for a journal of a run without reflog tags,
      // the ref is where a step recorded leaving it
      const leftByRun = tagged
        ? isRunEntry(subjects[0]!, run.id)
        : recorded.setTo.get(ref) === n || (ref === opts.headRef && run.endedAt !== undefined && run.refs.after?.[ref] === n);
      if (leftByRun) {
        revert.push({ ref, before: b, now: n });
        return;
      }
      const touched = tagged || recorded.setTo.has(ref) || recorded.deleted.has(ref);
      if (touched) {
        conflicts.push({ ref, before: b, now: n, why: `${nameOf(ref)} was ${b ? 'moved' : 'created'} by run ${run.id} and has moved since: it is at ${short(n)}` });
      } else if (ref === opts.headRef && b) {
        conflicts.push({ ref, before: b, now: n, why: `${nameOf(ref)} is at ${short(n)}: it moved after run ${run.id} started (at ${short(b)}), and restoring the snapshot would reset it` });
      }
    }),
  );
  revert.sort((a, c) => a.ref.localeCompare(c.ref));
  conflicts.sort((a, c) => a.ref.localeCompare(c.ref));
  return { revert, conflicts };
}
