/**
 * `rb undo [run]`, `rb redo`, `rb abort [run]`, `rb resume [run]`.
 *
 * Undo restores the run's snapshot and reverses the ref changes the run recorded — only where
 * refs are still where the run left them (else it stops before changing anything and names
 * them; --force overrides). A bare `rb undo` takes back the newest run still in effect, so
 * repeating it goes one run further back each time; `rb redo` reverses the newest undo (its
 * safety snapshot is the state that undo started from) until a new run ends the chain
 * (journal/chain.ts). Each is itself a run (journaled, with its own safety snapshot). Abort is
 * the same for a run that stopped part-way.
 */
import { findRepo, type Repo } from '../repo.js';
import { effectiveStatus, findRun, listRuns, needsResolution, writeRun, readRun, type RunRecord } from '../journal/journal.js';
import { damagedJournals, stepsThatRanCommands, stoppedAt, stopLeftoverProcesses, stuckUndoOf } from '../journal/lifecycle.js';
import { refEffects } from '../journal/ref-effects.js';
import { chainPosition, chainRole, markReversed, nextRedo, nextUndo } from '../journal/chain.js';
import { LockedError, UndoNotEligibleError, UsageError } from '../errors.js';
import type { Playbook } from '../types.js';

export interface UndoOptions {
  /** print nothing on stdout (used by rb guard) */
  quiet?: boolean;
  force?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  reason?: string;
  /** leave untracked and ignored entries this user cannot change where they are (--skip-unwritable) */
  skipUnwritable?: boolean;
  /** rb undo -i: pick a past state on a terminal */
  interactive?: boolean;
}

function hoursSince(iso: string): number {
  return (Date.now() - Date.parse(iso)) / 3600_000;
}

/** An interrupted or failed run that never started a step changing the repository. */
function stoppedBeforeChanging(run: RunRecord): boolean {
  return ['interrupted', 'failed'].includes(effectiveStatus(run)) && !run.changed && !run.dryRun && !run.undoneBy;
}

/** What a bare `rb undo` takes back: the newest run still in effect (not an undo or redo itself). */
export function latestUndoable(repo: Repo): RunRecord | null {
  return nextUndo(listRuns(repo));
}

/** What reversing `run` is: an undo, or — for an undo — a redo of the run that undo took back. */
type Reversal = 'undo' | 'redo' | 'abort';

async function eligibility(repo: Repo, run: RunRecord, windowHours: number, mode: Reversal): Promise<void> {
  if (run.undoneBy) {
    const redo = nextRedo(listRuns(repo)).undo;
    const what = chainRole(run) === 'undo' ? 'reversed (redone)' : 'undone';
    throw new UndoNotEligibleError(`run ${run.id} was already ${what} by run ${run.undoneBy}${run.undoneAt ? ` at ${run.undoneAt}` : ''}.`, {
      next: redo?.id === run.undoneBy ? 'to bring it back, run `rb redo`' : `to bring it back, undo that run: \`rb undo ${run.undoneBy}\``,
    });
  }
  const st = effectiveStatus(run);
  if (st === 'aborted') throw new UndoNotEligibleError(`run ${run.id} was aborted (its snapshot was restored) at ${run.abortedAt ?? '?'}.`, { next: 'run `rb history` to pick another run' });
  if (st === 'running') throw new LockedError(`run ${run.id} is still running (pid ${run.pid} on ${run.host}).`, { next: 'wait for it, then run `rb undo` again (rb status shows it)' });
  if (!run.snapshot) {
    throw new UndoNotEligibleError(`run ${run.id} took no snapshot${run.changed ? '' : ' and changed nothing in the repository'}: there is nothing to restore.`, {
      next: run.changed ? 'inspect it with `rb show ' + run.id + '` and repair by hand' : 'nothing to do',
    });
  }
  const hours = hoursSince(run.endedAt ?? run.startedAt);
  if (mode !== 'abort' && hours > windowHours) {
    throw new UndoNotEligibleError(`run ${run.id} ended ${hours.toFixed(1)} hours ago, outside the undo window of ${windowHours} hours (undo.windowHours).`, {
      next: `its snapshot may still exist: \`rb snapshots show ${run.snapshot}\`, then \`rb snapshots restore ${run.snapshot}\``,
    });
  }
  const { resolveSnapshot } = await import('../snapshot/index.js');
  if (!(await resolveSnapshot(repo, run.snapshot).catch(() => null))) {
    throw new UndoNotEligibleError(`the snapshot ${run.snapshot} of run ${run.id} no longer exists (pruned?).`, { next: 'run `rb snapshots list` to see what is left' });
  }
}

function internalPlaybook(name: Reversal, title: string, snapshotId: string, runId: string, force: boolean, file: string): Playbook {
  return {
    name,
    title,
    params: {},
    file,
    source: 'built-in',
    steps: [
      { id: 'restore', title: `Restore snapshot ${snapshotId} (after a safety snapshot of the current state)`, uses: 'snapshot.restore', with: { id: snapshotId, resetBranch: true } },
      { id: 'refs', title: `Reverse the branch and stash changes of run ${runId}`, uses: 'refs.revert', with: { run: runId, force } },
    ],
  };
}

/** The run a bare `rb undo` / `rb abort` acts on, or a usage error naming what to do. */
function pickRun(repo: Repo, mode: 'undo' | 'abort', idArg: string | undefined): RunRecord {
  if (idArg) {
    const run = findRun(repo, idArg);
    if (!run) throw new UsageError(`no run "${idArg}" in this repository.`, { next: 'run `rb history` to list runs' });
    return run;
  }
  if (mode === 'undo') {
    const run = latestUndoable(repo);
    if (run) return run;
    const damaged = damagedJournals(repo);
    const redo = nextRedo(listRuns(repo)).undo;
    throw new UndoNotEligibleError(`there is no run to undo (none with a snapshot that is not already undone)${redo ? `: every run is undone, back to the state before run ${redo.undoOf}` : ''}.`, {
      details: damaged.map((d) => `the journal of run ${d.id} cannot be read (${d.problem}): ${d.path}`),
      next: damaged.length ? 'run `rb status`: it names the snapshots of those runs and how to restore them' : redo ? `\`rb redo\` brings run ${redo.undoOf} back; \`rb history\` lists the runs` : 'run `rb history` to see past runs',
    });
  }
  const runs = listRuns(repo);
  const run = runs.find(needsResolution) ?? runs.find(stoppedBeforeChanging) ?? null;
  if (!run) throw new UsageError('there is no interrupted or failed run to abort.', { next: 'run `rb status`' });
  return run;
}

/**
 * Did a destructive step of the run start? A restore step starts by taking its safety snapshot
 * and journals it before it changes anything: without one it changed nothing.
 */
function destructiveStepStarted(run: RunRecord): boolean {
  return run.steps.some((s) => s.destructive && s.status !== 'pending' && s.status !== 'skipped' && !(s.kind === 'snapshot.restore' && !s.result?.safetySnapshot));
}

/** Close a run that stopped before any step changed the repository: nothing to put back. */
async function closeUnchangedRun(repo: Repo, run: RunRecord, dryRun: boolean | undefined): Promise<number> {
  if (!dryRun) {
    const { acquireLock } = await import('../journal/lock.js');
    const lock = acquireLock(repo, run.id, `rb abort ${run.id}`); // takes over its stale lock; refuses while it still runs
    const { cleanUpAfterDeadRuns } = await import('../journal/leftovers.js');
    for (const w of cleanUpAfterDeadRuns(repo, lock, run.id)) process.stderr.write(`rb: ${w}\n`);
    for (const w of await stopLeftoverProcesses(run)) process.stderr.write(`rb: ${w}\n`);
    try {
      run.status = 'aborted';
      run.abortedAt = new Date().toISOString();
      writeRun(repo, run, 'write-ahead'); // the outcome rb prints
    } finally {
      lock.release();
    }
  }
  const snap = run.snapshot ? ` (its snapshot ${run.snapshot} is kept)` : '';
  const ran = stepsThatRanCommands(run);
  const what = ran.length
    ? `; rb has nothing to put back, but step${ran.length > 1 ? 's' : ''} ${ran.join(', ')} ran commands whose effects rb does not track`
    : '; nothing to put back';
  process.stdout.write(`run ${run.id} stopped before any step that changes the repository started${what}${snap}.${dryRun ? '' : ' Marked aborted.'}\n`);
  return 0;
}

async function undoLike(mode: 'undo' | 'abort', idArg: string | undefined, opts: UndoOptions, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const run = pickRun(repo, mode, idArg);
  // undoing an undo brings back what it took back: that is a redo (journal/chain.ts)
  return reverseRun(repo, run, mode === 'undo' && chainRole(run) === 'undo' ? 'redo' : mode, opts, cmd);
}

/** `rb redo`: reverse the newest undo not yet reversed, while no new run has ended the chain. */
export async function redoCommand(opts: UndoOptions, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const runs = listRuns(repo);
  const { undo, endedBy } = nextRedo(runs);
  if (!undo) {
    const last = runs.find((r) => chainRole(r) === 'undo' && !r.undoneBy && effectiveStatus(r) === 'succeeded');
    if (endedBy && last) {
      throw new UndoNotEligibleError(`there is nothing to redo: run ${endedBy.id} (${endedBy.playbook}) came after the last undo (${last.id}) and ended the redo chain, as a new edit does in an editor.`, {
        next: `\`rb undo ${last.id}\` still reverses that undo on its own; \`rb history\` shows the chain`,
      });
    }
    const stuck = runs.find((r) => chainRole(r) === 'undo' && needsResolution(r));
    if (stuck) throw new LockedError(`the undo ${stuck.id} stopped part-way: it must be finished or aborted first.`, { next: `run \`rb resume ${stuck.id}\` or \`rb abort ${stuck.id}\`` });
    throw new UndoNotEligibleError('there is nothing to redo: no undo since the last run.', { next: 'run `rb history` to see the chain; `rb undo` steps back' });
  }
  return reverseRun(repo, undo, 'redo', opts, cmd);
}

/** The title of the run that reverses `run`. */
function reversalTitle(repo: Repo, run: RunRecord, kind: Reversal): string {
  if (kind === 'abort') return `Abort of run ${run.id}`;
  if (kind === 'undo') return `Undo of run ${run.id}`;
  return run.undoOf ? `Redo of run ${run.undoOf} (reverses undo ${run.id})` : `Redo: reverse undo ${run.id}`;
}

/** Undo, redo or abort `run`: restore its snapshot and reverse its ref changes, as a run of its own. */
async function reverseRun(repo: Repo, run: RunRecord, kind: Reversal, opts: UndoOptions, cmd: any): Promise<number> {
  const mode: 'undo' | 'abort' = kind === 'abort' ? 'abort' : 'undo';
  // an undo or abort of this run that was itself stopped: finishing it is what was asked
  const pending = stuckUndoOf(listRuns(repo), run);
  if (pending) {
    process.stderr.write(`rb: the ${pending.playbook} of run ${run.id} (run ${pending.id}) stopped part-way; finishing it.\n`);
    return resumeCommand(pending.id, { yes: opts.yes, json: opts.json }, cmd);
  }

  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  if (mode === 'abort' && !needsResolution(run) && stoppedBeforeChanging(run)) return closeUnchangedRun(repo, run, opts.dryRun);
  if (mode === 'abort' && !needsResolution(run)) {
    throw new UsageError(`run ${run.id} is ${effectiveStatus(run)}, not interrupted or failed part-way: there is nothing to abort.`, {
      next: run.snapshot && effectiveStatus(run) === 'succeeded' ? `to put back the state before it, run \`rb undo ${run.id}\`` : 'run `rb status`',
    });
  }
  if (mode === 'abort' && !run.snapshot && !destructiveStepStarted(run)) return closeUnchangedRun(repo, run, opts.dryRun);
  if (mode === 'abort' && !run.snapshot) {
    // changed something without a snapshot: only a playbook whose destructive steps come before
    // its snapshot could (validation refuses those), or a journal from an older rb
    throw new UndoNotEligibleError(`run ${run.id} changed the repository but recorded no snapshot: rb cannot put it back.`, {
      details: [`it stopped ${stoppedAt(run).where}`],
      next: `inspect it with \`rb show ${run.id}\` and \`rb snapshots list\`; repair by hand`,
    });
  }
  await eligibility(repo, run, config.undo.windowHours, kind);

  const { resolveSnapshot } = await import('../snapshot/index.js');
  const snap = (await resolveSnapshot(repo, run.snapshot!))!;
  const { conflicts } = await refEffects(repo, run, { headRef: snap.headRef });
  const again = kind === 'redo' && cmd.name?.() === 'redo' ? 'rb redo' : `rb ${mode} ${run.id}`;
  if (conflicts.length && !opts.force) {
    throw new UndoNotEligibleError(`cannot ${kind} run ${kind === 'redo' ? (run.undoOf ?? run.id) : run.id} safely: branches changed after ${kind === 'redo' ? `its undo ${run.id}` : 'it'}.`, {
      details: conflicts.map((c) => c.why),
      next: `look at them (git log), then run \`${again} --force\` to reset them anyway (a safety snapshot is taken first)`,
    });
  }
  const { execute } = await import('../engine/execute.js');
  const outcome = await execute({
    playbook: kind,
    playbookObject: internalPlaybook(kind, reversalTitle(repo, run, kind), run.snapshot!, run.id, Boolean(opts.force), `(internal: rb ${kind})`),
    cwd: cmd.parent?.opts().cwd,
    dryRun: opts.dryRun,
    yes: opts.yes,
    json: opts.json,
    quiet: opts.quiet,
    reason: opts.reason,
    force: true,
    skipUnwritable: opts.skipUnwritable,
    command: kind === 'redo' ? again : `rb ${mode} ${run.id}`,
    record: { undoOf: run.id },
    allowUnresolved: run.id,
    runId: undefined,
  });
  if (outcome.run && outcome.run.status === 'succeeded') {
    await finishUndo(repo, outcome.run, config.rollbacksDir);
    if (!opts.json && !opts.quiet) process.stdout.write(chainNext(repo, kind, run).map((l) => `next: ${l}\n`).join(''));
    // what the snapshot does not hold (dependencies an install put in place): the next step
    const { undoFollowUps } = await import('../steps/undo-follow-ups.js');
    const followUps = undoFollowUps(run);
    if (followUps.length && !opts.json && !opts.quiet) process.stdout.write(followUps.map((l) => `next: ${l}\n`).join(''));
  }
  return outcome.code;
}

/** After an undo or redo: what `rb redo` and `rb undo` would do now (never "undo the undo"). */
function chainNext(repo: Repo, kind: Reversal, reversed: RunRecord): string[] {
  if (kind === 'abort') return [];
  const runs = listRuns(repo);
  const pos = chainPosition(runs);
  const out: string[] = [];
  const target = kind === 'undo' ? reversed.id : reversed.undoOf;
  out.push(kind === 'undo' ? `the working copy is as it was before run ${target}` : `run ${target} is back in effect`);
  if (pos.nextRedo) out.push(`\`rb redo\` brings back run ${pos.nextRedo.brings}`);
  else out.push('nothing to redo');
  if (pos.nextUndo) out.push(`\`rb undo\` takes back run ${pos.nextUndo}${kind === 'undo' ? ' (one run further back)' : ''}`);
  else out.push('nothing further back to undo');
  return [out.join('; ')];
}

/** After an undo, redo or abort run succeeded: mark the run it reversed (and what that had reversed), and metrics. */
async function finishUndo(repo: Repo, undoRun: RunRecord, rollbacksDir: string): Promise<void> {
  if (!undoRun.undoOf) return;
  const orig = readRun(repo, undoRun.undoOf);
  if (!orig) return;
  const changed = markReversed((id) => readRun(repo, id), (r) => writeRun(repo, r, 'write-ahead'), orig, undoRun);
  const { markRedone, markUndone } = await import('../records/metrics.js');
  const { join } = await import('node:path');
  const metricsFile = join(repo.root, rollbacksDir, 'metrics.json');
  try {
    for (const id of changed.undone) markUndone(metricsFile, id, readRun(repo, id)?.undoneBy ?? undoRun.id);
    for (const id of changed.back) markRedone(metricsFile, id);
  } catch {
    /* metrics are best-effort here; the journal has the truth */
  }
}

export async function undoCommand(id: string | undefined, opts: UndoOptions, cmd: any): Promise<number> {
  if (!opts.interactive) return undoLike('undo', id, opts, cmd);
  if (id) throw new UsageError(`rb undo -i picks the state itself: it takes no run id (got "${id}").`, { next: `\`rb undo ${id}\` undoes that run; \`rb undo -i\` lets you pick` });
  const repo = findRepo(cmd.parent?.opts().cwd);
  const { pickAndRestore } = await import('./undo-pick.js');
  return pickAndRestore(repo, opts, cmd, (run) => reverseRun(repo, run, 'undo', { ...opts, yes: true }, cmd));
}
export const abortCommand = (id: string | undefined, opts: UndoOptions, cmd: any) => undoLike('abort', id, opts, cmd);

export async function resumeCommand(idArg: string | undefined, opts: { yes?: boolean; json?: boolean; retry?: string[]; skip?: string[] }, cmd: any): Promise<number> {
  const repo = findRepo(cmd.parent?.opts().cwd);
  const run = idArg ? findRun(repo, idArg) : listRuns(repo).find((r) => ['interrupted', 'failed'].includes(effectiveStatus(r)) && !r.undoneBy);
  if (!run) throw new UsageError(idArg ? `no run "${idArg}" in this repository.` : 'there is no interrupted or failed run to resume.', { next: 'run `rb status`' });
  const st = effectiveStatus(run);
  if (st !== 'interrupted' && st !== 'failed') {
    throw new UsageError(`run ${run.id} is ${st}: only an interrupted or failed run can be resumed.`, { next: 'run `rb status`' });
  }
  if (run.playbook === 'guard' && run.playbookSource === 'internal' && run.snapshot && !run.kept) {
    // a guarded command that stopped before it was verified failed, as far as rb knows: finishing
    // the guard is its own failure path, putting the snapshot back (the command is not run again)
    process.stderr.write(`rb: the guarded command of run ${run.id} stopped before it was verified; finishing the guard puts its snapshot back.\n`);
    return abortCommand(run.id, { yes: true, json: opts.json }, cmd);
  }
  const { execute } = await import('../engine/execute.js');
  const outcome = await execute({ playbook: run.playbook, resume: run, retry: opts.retry, skip: opts.skip, cwd: cmd.parent?.opts().cwd, yes: true, json: opts.json, command: `rb resume ${run.id}` });
  if (outcome.run?.status === 'succeeded' && outcome.run.undoOf) {
    const { loadConfig } = await import('../config/load.js');
    await finishUndo(repo, outcome.run, (await loadConfig(repo.root)).config.rollbacksDir);
  }
  return outcome.code;
}
