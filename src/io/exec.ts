/**
 * Every process that is not git (tests, installs, services, user commands) starts here; git has
 * its own layer (./git.ts). A string command is run by `sh -c` (the user's config wrote it as a
 * shell line); an array is an argv and never touches a shell.
 *
 * - runCommand: a command run to completion (tests, installs, `run:` steps, ready checks) —
 *   execa, for what it does well: interleaved output, lines as they come, timeouts and
 *   cancellation of the whole process group, a result instead of an exception. Imported lazily:
 *   it costs ~100 ms.
 * - startDetached: a service that must outlive rb — node's spawn, detached and unref'd, output
 *   to a log file. execa's job is to see a process through (it buffers output and, by default,
 *   kills its children when rb exits), which is the opposite of what a service needs.
 * docs/dependencies.md says the same for contributors.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { currentRunTag, repositoryMayChange } from './git.js';
import type { Command } from '../types.js';

export interface ExecOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** called with each output line (stdout and stderr interleaved) */
  onLine?: (line: string) => void;
  input?: string;
}

export interface ExecResult {
  exitCode: number;
  /** stdout and stderr interleaved, as a terminal would show them */
  all: string;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  /** the command could not be started (not found, not executable) */
  failedToStart?: string;
  /** the signal that ended the process (SIGKILL, SIGSEGV…), when it was killed by one */
  signal?: string;
}

export function toArgv(command: Command): string[] {
  return typeof command === 'string' ? ['sh', '-c', command] : command;
}

/**
 * Called with the pid (= process group id) of every command started here, right after it is
 * spawned: the run lifecycle journals it, so the group can be stopped if rb is killed.
 */
let spawnListener: ((pid: number, argv: readonly string[]) => void) | null = null;

export function onCommandSpawned(fn: ((pid: number, argv: readonly string[]) => void) | null): void {
  spawnListener = fn;
}

export async function runCommand(command: Command, opts: ExecOptions): Promise<ExecResult> {
  const { execa } = await import('execa');
  const argv = toArgv(command);
  const started = Date.now();
  // the run's reflog tag reaches the commands it starts too: a `git commit` made by a guarded
  // command is the run's doing (journal/ref-effects.ts)
  const tag = currentRunTag();
  const env: Record<string, string | undefined> = { ...(tag ? { GIT_REFLOG_ACTION: tag } : {}), ...opts.env };
  repositoryMayChange();
  const sub = execa(argv[0]!, argv.slice(1), {
    cwd: opts.cwd,
    env,
    extendEnv: true,
    reject: false,
    all: true,
    stripFinalNewline: false,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
    lines: false,
    // its own process group, so a timeout or an interrupt stops the whole tree it started
    // (`sh -c` and what it runs), not only the shell
    detached: true,
  });
  if (sub.pid && spawnListener) spawnListener(sub.pid, argv);
  let timedOut = false;
  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = () => {
    const pid = sub.pid;
    if (!pid) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    killTimer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 5000);
    killTimer.unref();
  };
  const timer = opts.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        killGroup();
      }, opts.timeoutMs)
    : undefined;
  const onAbort = () => {
    cancelled = true;
    killGroup();
  };
  if (opts.signal?.aborted) onAbort();
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.onLine && sub.all) {
    let buf = '';
    sub.all.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        opts.onLine!(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
  }
  const r = await sub.finally(repositoryMayChange);
  if (timer) clearTimeout(timer);
  if (killTimer) clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  const failedToStart = (r as { code?: string }).code === 'ENOENT' || (r as { code?: string }).code === 'EACCES'
    ? `${argv[0]}: ${(r as { code?: string }).code === 'ENOENT' ? 'command not found' : 'permission denied'}`
    : undefined;
  const signal = !timedOut && !cancelled && typeof (r as { signal?: unknown }).signal === 'string' ? (r as { signal: string }).signal : undefined;
  const signalNumber = signal ? (constants.signals as Record<string, number>)[signal] ?? 0 : 0;
  return {
    // killed by a signal: 128 + its number, as a shell reports it
    exitCode: timedOut ? 124 : cancelled ? 130 : typeof r.exitCode === 'number' ? r.exitCode : signal ? 128 + signalNumber : 127,
    all: String(r.all ?? ''),
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    timedOut,
    cancelled,
    durationMs: Date.now() - started,
    failedToStart,
    signal,
  };
}

/**
 * Start a long-lived command detached in its own process group (its pid is the group id), output
 * appended to `logFd`; resolves once it started, or with why it could not.
 */
export function startDetached(command: Command, opts: { cwd: string; logFd: number; env?: NodeJS.ProcessEnv }): Promise<{ pid: number } | { error: string }> {
  const argv = toArgv(command);
  repositoryMayChange(); // a service runs on while rb works: nothing read before it is kept
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, detached: true, stdio: ['ignore', opts.logFd, opts.logFd], env: opts.env ?? process.env });
  return new Promise((res) => {
    child.once('error', (e) => res({ error: e.message }));
    child.once('spawn', () => {
      child.unref();
      res({ pid: child.pid! });
    });
  });
}

/** The last n lines of a text, for journals and reports. */
export function tail(text: string, n = 20): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}
