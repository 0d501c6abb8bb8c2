/**
 * What `rb undo` cannot give back, read from a run's journal: the snapshot holds every file,
 * but not the dependencies an install put in place (node_modules is left out of snapshots,
 * pip installs outside the repository). Light on purpose (no zod, no execa): the engine's
 * success message and `rb undo` call it.
 */
import { shellQuote } from '../io/git.js';
import type { InstallOutcome } from './deps-install.js';

/**
 * What the user must do after `rb undo <run>` because the snapshot does not hold it: the
 * installs the run ran against other lockfiles (deps.install `afterUndo`), and the dependency
 * dirs its clean removed without a copy (git.clean `removedDeps`). One sentence each, with the
 * command; empty when undo gives everything back. Reads only the journal.
 */
export function undoFollowUps(run: { steps: { kind?: string; status?: string; result?: unknown }[] }): string[] {
  const out = new Map<string, string>();
  for (const s of run.steps) {
    const r = (s.result ?? {}) as { installs?: InstallOutcome[]; removedDeps?: { dir: string; cwd: string; command: string }[] };
    if (s.kind === 'deps.install') {
      for (const i of r.installs ?? []) {
        if (i.afterUndo && !out.has(i.afterUndo)) out.set(i.afterUndo, `run \`${i.afterUndo}\`: that install ran against the baseline's lockfiles, and what it installed is not in the snapshot`);
      }
    } else if (s.kind === 'git.clean') {
      for (const d of r.removedDeps ?? []) {
        const line = d.cwd && d.cwd !== '.' ? `(cd ${shellQuote(d.cwd)} && ${d.command})` : d.command;
        if (!out.has(line)) out.set(line, `run \`${line}\`: ${d.dir} was removed (its lockfiles changed) and is not in the snapshot`);
      }
    }
  }
  return [...out.values()];
}
