/**
 * The undo chain (issue 21), read from the journals: where the working copy stands among the
 * runs, what a bare `rb undo` takes back next, and what `rb redo` brings back.
 *
 * The model is an editor's:
 * - a **forward run** is any run that changes the repository on its own account (emergency,
 *   sprint, files, guard, recover, a playbook, `rb snapshots restore`);
 * - an **undo** (`rb undo`) puts back the state before one forward run; repeated, it goes one
 *   forward run further back each time (the newest forward run still in effect);
 * - a **redo** (`rb redo`) reverses the newest undo not yet reversed: it returns to the state that
 *   undo started from (the undo's own safety snapshot) and puts back the refs the undo moved;
 * - a new forward run after some undos ends the redo chain: there is nothing to redo once the
 *   history has gone another way (the undos stay undoable one by one with `rb undo <run>`).
 *
 * An abort settles a run that stopped part-way; it does not end the redo chain (the run it aborted
 * did), but a bare `rb undo` can take it back like a forward run. Every step is itself a run with a snapshot, so the states in between
 * stay restorable. Node built-ins only (rb status and rb history import it).
 */
import { effectiveStatus, type RunRecord } from './journal.js';

export type ChainRole = 'forward' | 'undo' | 'redo' | 'abort';

/** What part a run plays in the chain. */
export function chainRole(run: Pick<RunRecord, 'playbook' | 'playbookSource' | 'undoOf'>): ChainRole {
  if (run.undoOf && run.playbookSource === 'internal') {
    if (run.playbook === 'redo') return 'redo';
    if (run.playbook === 'abort') return 'abort';
    if (run.playbook === 'undo') return 'undo';
  }
  return 'forward';
}

/** Can this run be put back from its snapshot (it ran, took one, and is not undone or aborted)? */
function inEffectWithSnapshot(r: RunRecord): boolean {
  return Boolean(r.snapshot) && !r.undoneBy && ['succeeded', 'failed', 'interrupted'].includes(effectiveStatus(r));
}

/** Did the run change the repository (so that it is a state of its own in the history)? */
function changedSomething(r: RunRecord): boolean {
  return !r.dryRun && r.changed && effectiveStatus(r) !== 'aborted';
}

/**
 * The newest run still in effect that has a snapshot, other than an undo or redo: what a bare
 * `rb undo` takes back. An abort counts (undoing it returns to where the aborted run stopped).
 */
export function nextUndo(runs: readonly RunRecord[]): RunRecord | null {
  return runs.find((r) => (chainRole(r) === 'forward' || chainRole(r) === 'abort') && inEffectWithSnapshot(r)) ?? null;
}

export interface RedoTarget {
  /** the undo `rb redo` reverses (null: nothing to redo) */
  undo: RunRecord | null;
  /** the forward run that ended the redo chain, when that is why there is nothing to redo */
  endedBy: RunRecord | null;
}

/**
 * The undo a bare `rb redo` reverses: the newest undo not yet reversed, as long as no forward run
 * that changed the repository came after it. `runs` newest first.
 */
export function nextRedo(runs: readonly RunRecord[]): RedoTarget {
  for (const r of runs) {
    const role = chainRole(r);
    if (role === 'redo' || role === 'abort') continue;
    if (role === 'undo') {
      if (r.undoneBy || effectiveStatus(r) === 'aborted') continue; // reversed already, or rolled back
      if (effectiveStatus(r) === 'succeeded') return { undo: r, endedBy: null };
      return { undo: null, endedBy: null }; // a stuck undo: rb status says how to settle it
    }
    if (changedSomething(r)) {
      // it ended a redo chain only if an undo before it was still there to redo
      const older = runs.slice(runs.indexOf(r) + 1);
      const pending = older.some((u) => chainRole(u) === 'undo' && !u.undoneBy && effectiveStatus(u) === 'succeeded');
      return { undo: null, endedBy: pending ? r : null };
    }
  }
  return { undo: null, endedBy: null };
}

/** One run's place in the chain, for rb history. */
export interface ChainMark {
  role: ChainRole;
  /** for an undo: the run it undid; for a redo: the run it brought back; for an abort: the run it aborted */
  of: string | null;
  /** for a redo: the undo it reversed */
  reverses: string | null;
  /** for a forward run: the undo that took it back (while it is undone) */
  undoneBy: string | null;
  /** the working copy stands at the state this run left (as of the last run) */
  current: boolean;
}

export interface ChainPosition {
  /** the run whose result the working copy holds (the newest run of any kind that changed the repository) */
  at: string | null;
  /** the newest forward run still in effect: the working copy is "after" it */
  after: string | null;
  /** the oldest forward run newer than `after` that is undone: the working copy is "before" it */
  before: string | null;
  /** what a bare `rb undo` takes back */
  nextUndo: string | null;
  /** the undo a bare `rb redo` reverses, and the run it brings back */
  nextRedo: { undo: string; brings: string } | null;
  /** the forward run that ended the redo chain (nothing to redo since) */
  redoEndedBy: string | null;
}

/** The run a redo brings back: the run its undo had undone. */
export function broughtBackBy(runs: readonly RunRecord[], redo: RunRecord): string | null {
  const undo = runs.find((r) => r.id === redo.undoOf);
  return undo?.undoOf ?? null;
}

/** Where the working copy stands and what undo and redo would do next. `runs` newest first. */
export function chainPosition(runs: readonly RunRecord[]): ChainPosition {
  const at = runs.find((r) => changedSomething(r) && r.status !== 'running') ?? null;
  const after = runs.find((r) => chainRole(r) === 'forward' && changedSomething(r) && !r.undoneBy) ?? null;
  const newer = after ? runs.slice(0, runs.indexOf(after)) : runs;
  // the oldest run undone since: the working copy is as it was before it
  const before = [...newer].reverse().find((r) => chainRole(r) === 'forward' && r.undoneBy) ?? null;
  const redo = nextRedo(runs);
  return {
    at: at?.id ?? null,
    after: after?.id ?? null,
    before: before?.id ?? null,
    nextUndo: nextUndo(runs)?.id ?? null,
    nextRedo: redo.undo ? { undo: redo.undo.id, brings: redo.undo.undoOf! } : null,
    redoEndedBy: redo.endedBy?.id ?? null,
  };
}

/** The chain mark of every run (by id). */
export function chainMarks(runs: readonly RunRecord[]): Map<string, ChainMark> {
  const pos = chainPosition(runs);
  const out = new Map<string, ChainMark>();
  for (const r of runs) {
    const role = chainRole(r);
    out.set(r.id, {
      role,
      of: role === 'redo' ? broughtBackBy(runs, r) : (r.undoOf ?? null),
      reverses: role === 'redo' ? (r.undoOf ?? null) : null,
      undoneBy: r.undoneBy ?? null,
      current: r.id === pos.at,
    });
  }
  return out;
}

/**
 * After run `by` undid, redid or aborted `target` (`target.undoOf` points at the run it acted
 * on): mark `target` as no longer in effect, and the run it had acted on as in effect again;
 * recursively, so that undoing a redo marks the original run as undone again. `save` writes one
 * journal. Returns the runs it changed, for metrics.
 */
export function markReversed(
  read: (id: string) => RunRecord | null,
  save: (r: RunRecord) => void,
  target: RunRecord,
  by: { id: string; endedAt?: string; playbook: string },
): { undone: string[]; back: string[] } {
  const undone: string[] = [];
  const back: string[] = [];
  const setUndone = (r: RunRecord, byId: string, at: string | undefined, aborted: boolean) => {
    r.undoneBy = byId;
    r.undoneAt = at;
    if (aborted) {
      r.status = 'aborted';
      r.abortedAt = at;
    } else r.status = 'undone';
    save(r);
    undone.push(r.id);
    if (r.undoOf) {
      const inner = read(r.undoOf);
      if (inner && inner.undoneBy === r.id) setInEffect(inner);
    }
  };
  const setInEffect = (r: RunRecord) => {
    delete r.undoneBy;
    delete r.undoneAt;
    r.status = 'succeeded';
    save(r);
    back.push(r.id);
    if (r.undoOf) {
      // the run it acted on is acted on again (an undo brought back by undoing its redo)
      const inner = read(r.undoOf);
      if (inner && !inner.undoneBy) setUndone(inner, r.id, r.endedAt, false);
    }
  };
  setUndone(target, by.id, by.endedAt, by.playbook === 'abort');
  return { undone, back };
}
