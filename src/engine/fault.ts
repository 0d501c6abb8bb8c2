/**
 * Fault injection for rb's own crash tests (safety.md §4, faults 37–39). Inert unless the
 * environment variable RB_FAULT names a point; then the process sends itself RB_FAULT_SIGNAL
 * (default SIGKILL) when it reaches that point. Points:
 *   before:<step-id>   after the journal says the step started, before it does anything
 *   after:<step-id>    after the step finished and was journaled
 *   git:<subcommand>@<step-id>   right after that git command was spawned inside that step
 *                                (git runs in its own process group and carries on)
 *   git#<n>            right after the n-th git command of the process was spawned, wherever it
 *                      is (preflight, lock, snapshot, any step): walks a whole run, start to end
 *   lock               right after the run took the lock, before its journal exists
 * Not a user feature: documented in docs/safety.md for contributors.
 *
 * Free when RB_FAULT is unset: every call site reads `if (FAULTS) faultPoint(...)`, so not even
 * the point's name is built (a git command's subcommand is looked up only under test).
 */
let currentStep = '';
const target = process.env.RB_FAULT ?? '';

/** RB_FAULT names a point: guard every faultPoint call with it. */
export const FAULTS: boolean = target !== '';

export function setCurrentStep(id: string): void {
  if (FAULTS) currentStep = id;
}

let gitCount = 0;

export function faultPoint(point: string): void {
  if (!target) return;
  const isGit = point.startsWith('git:');
  const scoped = isGit ? `${point}@${currentStep}` : point;
  const numbered = isGit ? `git#${++gitCount}` : '';
  if (target !== point && target !== scoped && target !== numbered) return;
  const sig = (process.env.RB_FAULT_SIGNAL ?? 'SIGKILL') as NodeJS.Signals;
  process.kill(process.pid, sig);
}

