/**
 * How a user's command (the test command above all) ended, told apart from "it ran and its
 * tests failed": a command that could not run says nothing about the code under test, so
 * `rb check` must not call the baseline bad, a sprint report must not say "Failing tests: none"
 * and `rb analyze` must not advise reproducing a failing test.
 *
 * | kind | seen as |
 * |---|---|
 * | ok | exit 0 |
 * | failed | any other exit: the command ran (its tests failed, or it reported an error) |
 * | not-found | the program does not exist: exit 127 (`sh: 1: yarn: not found`), or ENOENT for an argv |
 * | not-executable | the program cannot be executed: exit 126, or EACCES for an argv |
 * | timed-out | rb stopped it at its time limit |
 * | killed | killed by a signal (SIGKILL from the out-of-memory killer, SIGSEGV…): the signal itself, a shell's exit 128+n, or npm's "signal SIGxxx" line |
 * | cancelled | rb was interrupted (Ctrl-C) and stopped it |
 *
 * Pure: reads an ExecResult, returns words (one home for these messages).
 */
import { constants } from 'node:os';
import type { ExecResult } from '../io/exec.js';

export type CommandOutcomeKind = 'ok' | 'failed' | 'not-found' | 'not-executable' | 'timed-out' | 'killed' | 'cancelled';

export interface CommandOutcome {
  kind: CommandOutcomeKind;
  /** the command ran to its end (ok or failed): its output can be read as a test run */
  ran: boolean;
  /** one line: what happened ("yarn: not found (exit 127)") */
  message: string;
  /** what to do, for the kinds where the command did not run; null for ok / failed / cancelled */
  next: string | null;
  /** the signal that ended it, when known */
  signal: string | null;
}

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n as number, name]));

/** "sh: 1: yarn: not found", "bash: line 1: yarn: command not found", "/bin/sh: yarn: not found" → yarn */
function missingProgram(text: string): string | null {
  for (const line of text.split('\n')) {
    const m = /(?:^|:\s)([^\s:]+): (?:command )?not found\s*$/.exec(line.trim());
    if (m) return m[1]!;
  }
  return null;
}

/** "sh: 1: ./run-tests.sh: Permission denied" → ./run-tests.sh */
function deniedProgram(text: string): string | null {
  for (const line of text.split('\n')) {
    const m = /(?:^|:\s)([^\s:]+): Permission denied\s*$/i.exec(line.trim());
    if (m) return m[1]!;
  }
  return null;
}

function minutesText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

export interface OutcomeOptions {
  /** the rb.config.yaml key the command comes from (for the advice), default "test" */
  key?: string;
  /** the time limit it ran under */
  timeoutMs?: number;
  /** what else can be done about a timeout (e.g. "run `rb check --no-tests`") */
  timeoutNext?: string;
}

/** How the command ended (see the module comment). */
export function commandOutcome(r: ExecResult, opts: OutcomeOptions = {}): CommandOutcome {
  const key = opts.key ?? 'test';
  const setIt = `set \`${key}:\` in rb.config.yaml to the command that runs ${key === 'test' ? 'your tests' : `your ${key}`}`;
  const out = r.all;
  if (r.cancelled) return { kind: 'cancelled', ran: false, message: 'stopped: rb was interrupted', next: null, signal: null };
  if (r.timedOut) {
    return {
      kind: 'timed-out', ran: false, signal: null,
      message: `timed out after ${opts.timeoutMs ? minutesText(opts.timeoutMs) : 'its time limit'} and was stopped`,
      next: `run it by hand to see where it hangs${opts.timeoutNext ? `, or ${opts.timeoutNext}` : ''}`,
    };
  }
  if (r.failedToStart) {
    const denied = /permission denied/i.test(r.failedToStart);
    return {
      kind: denied ? 'not-executable' : 'not-found', ran: false, signal: null, message: r.failedToStart,
      next: denied ? `make it executable (chmod +x), or ${setIt}` : `install it, or ${setIt}`,
    };
  }
  if (r.exitCode === 127) {
    const prog = missingProgram(out);
    return {
      kind: 'not-found', ran: false, signal: null,
      message: `${prog ? `${prog}: command not found` : 'a program it runs was not found'} (exit 127)`,
      next: `install ${prog ?? 'it'}${prog ? ' (or run your install command first)' : ''}, or ${setIt}`,
    };
  }
  if (r.exitCode === 126) {
    const prog = deniedProgram(out);
    return {
      kind: 'not-executable', ran: false, signal: null,
      message: `${prog ? `${prog}: ` : ''}permission denied: not executable (exit 126)`,
      next: `make it executable (chmod +x ${prog ?? '<file>'}), or ${setIt}`,
    };
  }
  const npmSignal = /^npm (?:error|ERR!) signal (SIG[A-Z0-9]+)\s*$/m.exec(out)?.[1];
  const signal = r.signal ?? (r.exitCode > 128 && SIGNAL_NAMES.has(r.exitCode - 128) ? SIGNAL_NAMES.get(r.exitCode - 128)! : npmSignal ?? null);
  if (signal) {
    const why = signal === 'SIGKILL' ? ' (often the out-of-memory killer)' : signal === 'SIGSEGV' || signal === 'SIGABRT' || signal === 'SIGBUS' ? ' (a crash)' : '';
    return {
      kind: 'killed', ran: false, signal,
      message: `killed by ${signal}${why}${r.signal ? '' : ` (exit ${r.exitCode})`}`,
      next: 'run it by hand to see why it was killed (memory: `ulimit -v`, `dmesg`), then run rb again',
    };
  }
  if (r.exitCode === 0) return { kind: 'ok', ran: true, message: 'exit 0', next: null, signal: null };
  return { kind: 'failed', ran: true, message: `exit ${r.exitCode}`, next: null, signal: null };
}
