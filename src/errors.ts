/**
 * Typed errors. Every failure that reaches the user is an RbError carrying the exit code of
 * architecture §2 and, where there is one, the next command to run. Only src/cli.ts turns an
 * RbError into process.exit.
 */
export const ExitCode = {
  ok: 0,
  stepFailed: 1,
  usage: 2,
  precondition: 3,
  locked: 4,
  undoNotEligible: 5,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class RbError extends Error {
  readonly exitCode: number;
  readonly next?: string;
  readonly details?: string[];
  constructor(message: string, exitCode: number, opts: { next?: string; details?: string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RbError';
    this.exitCode = exitCode;
    this.next = opts.next;
    this.details = opts.details;
  }
}

/** exit 2: bad argument, invalid config or playbook */
export class UsageError extends RbError {
  constructor(message: string, opts: { next?: string; details?: string[] } = {}) {
    super(message, ExitCode.usage, opts);
    this.name = 'UsageError';
  }
}

/** exit 3: a precondition failed; nothing was changed */
export class PreconditionError extends RbError {
  constructor(message: string, opts: { next?: string; details?: string[] } = {}) {
    super(message, ExitCode.precondition, opts);
    this.name = 'PreconditionError';
  }
}

/** exit 4: the lock is held, or an interrupted run must be resumed or aborted first */
export class LockedError extends RbError {
  constructor(message: string, opts: { next?: string; details?: string[] } = {}) {
    super(message, ExitCode.locked, opts);
    this.name = 'LockedError';
  }
}

/** exit 5: the run cannot be undone */
export class UndoNotEligibleError extends RbError {
  constructor(message: string, opts: { next?: string; details?: string[] } = {}) {
    super(message, ExitCode.undoNotEligible, opts);
    this.name = 'UndoNotEligibleError';
  }
}

/** exit 1: a step failed; the journal has the state */
export class StepFailedError extends RbError {
  constructor(message: string, opts: { next?: string; details?: string[]; cause?: unknown } = {}) {
    super(message, ExitCode.stepFailed, opts);
    this.name = 'StepFailedError';
  }
}

/** exit 130: interrupted by SIGINT */
export class InterruptedError extends RbError {
  constructor(message: string, opts: { next?: string } = {}) {
    super(message, ExitCode.interrupted, opts);
    this.name = 'InterruptedError';
  }
}

/** A git command that exited non-zero. */
export class GitError extends Error {
  readonly args: string[];
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;
  constructor(args: string[], code: number | null, stdout: string, stderr: string) {
    super(`git ${args.join(' ')} exited ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'GitError';
    this.args = args;
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}
