/**
 * `services.stop` and `services.start`: stop the project's running services (config
 * `services[]`) before a rollback changes the tree under them, and start them again after.
 *
 * rb only ever stops what it can name exactly: a service's own `stop` command, or the process
 * group rb itself started (recorded in <git-common-dir>/rb/services.json, which clean and reset
 * never touch). It never kills by name or port. A service that will not stop is a warning, not a
 * failure: the rollback itself matters more than a dev server.
 *
 * start spawns each service detached in its own process group (so stopping it reaches its
 * children too, and an interrupted rb does not take it down), appends its output to
 * rollbacks/logs/<name>.log, and waits for `ready` (an http(s) URL answering < 500, or a command
 * exiting 0). "ready" is said only of the process rb started: before starting, a local port named
 * by a `ready` URL that another process already holds stops the step (with that process's pid
 * and command: the new service could not listen there, and the old one would answer for it);
 * after the check passes, the process rb started must still be alive and, where the system tells
 * (Linux /proc), the port must belong to it or its children (io/ports.ts).
 */
import { z } from '#zod';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeJsonAtomic } from '../io/fs.js';
import { runCommand, startDetached, tail } from '../io/exec.js';
import type { Repo } from '../repo.js';
import type { ServiceConfig } from '../types.js';
import type { PlanContext, StepContext, StepKind, StepResult } from './types.js';
import { displayCommand, recordPath, repoPath, repoRelative } from './common.js';
import { belongsTo, localPortOf, portState, startTicks, type PortState } from '../io/ports.js';

const schema = z
  .object({
    /** which services (by name); default all */
    names: z.array(z.string().min(1)).optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

export const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** how long a process group gets between SIGTERM and SIGKILL */
export const STOP_GRACE_MS = 5_000;
const KILL_WAIT_MS = 2_000;
const POLL_MS = 100;
const READY_POLL_MS = 500;
/** where the port's owner cannot be checked: how long the service must stay alive after its ready check passed */
export const READY_SETTLE_MS = 1_000;

/** One service rb started. bootId / procStart (Linux) let a later run tell a reused pid from ours. */
export interface ServiceRecord {
  pid: number;
  pgid: number;
  startedAt: string;
  command: string;
  /** log file, relative to the repository root */
  log: string;
  bootId?: string;
  procStart?: string;
}

export interface ServicesState {
  services: Record<string, ServiceRecord>;
}

export function servicesStatePath(repo: Pick<Repo, 'commonDir'>): string {
  return join(repo.commonDir, 'rb', 'services.json');
}

/** The recorded services; an absent or unreadable file reads as none. */
export function readServicesState(repo: Pick<Repo, 'commonDir'>): ServicesState {
  try {
    const v = JSON.parse(readFileSync(servicesStatePath(repo), 'utf8')) as Partial<ServicesState>;
    return { services: v && typeof v.services === 'object' && v.services ? v.services : {} };
  } catch {
    return { services: {} };
  }
}

function writeServicesState(repo: Pick<Repo, 'commonDir'>, state: ServicesState): void {
  writeJsonAtomic(servicesStatePath(repo), state);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat after the command name: [0] state, [1] ppid, [2] pgrp, … [19] start time. */
function procStat(pid: number | string): string[] | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat ? stat.slice(stat.lastIndexOf(')') + 2).split(' ') : undefined;
}

/**
 * Does a live (non-zombie) member of this group exist, per /proc? undefined without /proc.
 * Needed because a zombie still answers kill(0): where pid 1 does not reap orphans (containers,
 * micro-VMs) a stopped service's processes would otherwise look alive forever.
 */
function liveMemberInProc(pgid: number): boolean | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  return pids.some((pid) => {
    const f = procStat(pid);
    return f !== undefined && f[2] === String(pgid) && f[0] !== 'Z';
  });
}

/** Does any process of this group still exist? (EPERM: it exists but is not ours to signal) */
function groupAlive(pgid: number): boolean | 'eperm' {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? 'eperm' : false;
  }
  return liveMemberInProc(pgid) ?? true;
}

function bootId(): string | undefined {
  return readProc('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

/** Start time of a process (Linux: field 22 of /proc/<pid>/stat, in clock ticks since boot). */
function procStart(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

/**
 * Is the recorded group still the one rb started? Where Linux lets us tell, a different boot or
 * a leader pid now belonging to a later process means the pid was reused: never signal it.
 */
function stillOurs(rec: ServiceRecord): boolean {
  const boot = bootId();
  if (rec.bootId && boot && rec.bootId !== boot) return false;
  if (rec.procStart) {
    const now = procStart(rec.pid);
    if (now !== undefined && now !== rec.procStart) return false;
  }
  return true;
}

async function waitGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (groupAlive(pgid) === false) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
}

function select(services: ServiceConfig[], names: string[] | undefined, kind: string): ServiceConfig[] {
  if (!names) return services;
  return names.map((n) => {
    const s = services.find((x) => x.name === n);
    if (!s) throw new Error(`${kind}: no service "${n}" (configured: ${services.map((x) => x.name).join(', ') || 'none'})`);
    return s;
  }).filter((v, i, a) => a.indexOf(v) === i);
}

function cdPrefix(s: ServiceConfig): string {
  return s.cwd && s.cwd !== '.' ? `(cd ${s.cwd}) ` : '';
}

function logRel(name: string): string {
  return `logs/${name}.log`;
}

function logTail(path: string, n = 20): string {
  const text = readProc(path);
  return text ? tail(text, n) : '(no output)';
}

// ---------------------------------------------------------------------------------------------
// stop

export interface StopOutcome {
  name: string;
  /** stop-command: ran the service's stop command; signal: signalled rb's process group; none: nothing to stop */
  action: 'stop-command' | 'signal' | 'none';
  stopped: boolean;
  detail: string;
  pgid?: number;
}

export const servicesStop: StepKind<With> = {
  kind: 'services.stop',
  summary: 'stop services: their stop command, or the process group rb started (never by name)',
  with: schema,
  destructive: false,
  describe(w, ctx) {
    const services = select(ctx.config.services, w.names, 'services.stop');
    if (!services.length) return ['(no services configured)'];
    const state = readServicesState(ctx.repo);
    return services.map((s) => {
      if (s.stop) return `${cdPrefix(s)}${displayCommand(s.stop)}`;
      const rec = state.services[s.name];
      return rec ? `kill -TERM -${rec.pgid}  # ${s.name}, started by rb (then -KILL after ${STOP_GRACE_MS / 1000} s)` : `# ${s.name}: not started by rb, nothing to stop`;
    });
  },
  async run(w, ctx) {
    const services = select(ctx.config.services, w.names, 'services.stop');
    if (!services.length) return { skipped: 'no services configured' };
    const outcomes: StopOutcome[] = [];
    const commands: string[] = [];
    const state = readServicesState(ctx.repo);
    const save = () => writeServicesState(ctx.repo, state);
    for (const s of services) {
      const rec = state.services[s.name];
      if (s.stop) {
        const cmd = displayCommand(s.stop);
        commands.push(`${cdPrefix(s)}${cmd}`);
        ctx.reporter.output(`${s.name}: ${cmd}`);
        const r = await runCommand(s.stop, {
          cwd: repoPath(ctx, s.cwd),
          timeoutMs: ctx.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
          signal: ctx.signal,
          onLine: (l) => ctx.reporter.output(l),
        });
        let stopped = r.exitCode === 0;
        let detail = stopped ? `${cmd} exited 0` : `${cmd}: ${r.failedToStart ?? (r.timedOut ? 'timed out' : `exited ${r.exitCode}`)}`;
        // a group rb started must be gone too before the service counts as stopped
        if (rec && stillOurs(rec) && groupAlive(rec.pgid) !== false && !(await waitGone(rec.pgid, STOP_GRACE_MS))) {
          stopped = false;
          detail += `; process group ${rec.pgid} started by rb is still running`;
        } else if (rec) {
          delete state.services[s.name];
          save();
        }
        if (!stopped) ctx.reporter.warn(`${s.name} did not stop: ${detail}`);
        outcomes.push({ name: s.name, action: 'stop-command', stopped, detail, pgid: rec?.pgid });
        continue;
      }
      if (!rec) {
        let detail = 'not started by rb; nothing to stop';
        const port = readyPort(s);
        const held = port ? await portState(port.host, port.port) : null;
        if (port && held?.held) {
          // rb never stops what it did not start; services.start will stop the run on this port
          detail += `; port ${port.port} of its ready URL is in use by ${holdersText(held, state)}, which rb does not stop (services.start will not start ${s.name} while it is)`;
          ctx.reporter.warn(`${s.name}: ${detail}`);
        } else ctx.reporter.output(`${s.name}: not started by rb, nothing to stop`);
        outcomes.push({ name: s.name, action: 'none', stopped: false, detail });
        continue;
      }
      const alive = groupAlive(rec.pgid);
      if (alive === false || !stillOurs(rec)) {
        delete state.services[s.name];
        save();
        const detail = alive === false ? `was not running (pid ${rec.pid} gone)` : `pid ${rec.pid} now belongs to another process; record removed`;
        outcomes.push({ name: s.name, action: 'none', stopped: false, detail, pgid: rec.pgid });
        ctx.reporter.output(`${s.name}: ${detail}`);
        continue;
      }
      if (alive === 'eperm') {
        const detail = `process group ${rec.pgid} belongs to another user; not signalled`;
        ctx.reporter.warn(`${s.name}: ${detail}`);
        outcomes.push({ name: s.name, action: 'none', stopped: false, detail, pgid: rec.pgid });
        continue;
      }
      commands.push(`kill -TERM -${rec.pgid}  # ${s.name}, started by rb (then -KILL after ${STOP_GRACE_MS / 1000} s)`);
      ctx.reporter.output(`${s.name}: SIGTERM process group ${rec.pgid}`);
      let detail = `SIGTERM process group ${rec.pgid}`;
      let gone = false;
      try {
        process.kill(-rec.pgid, 'SIGTERM');
      } catch { /* gone meanwhile */ }
      gone = await waitGone(rec.pgid, STOP_GRACE_MS);
      if (!gone) {
        commands.push(`kill -KILL -${rec.pgid}`);
        ctx.reporter.output(`${s.name}: still running after ${STOP_GRACE_MS / 1000} s, SIGKILL process group ${rec.pgid}`);
        detail += `; SIGKILL after ${STOP_GRACE_MS / 1000} s`;
        try {
          process.kill(-rec.pgid, 'SIGKILL');
        } catch { /* gone meanwhile */ }
        gone = await waitGone(rec.pgid, KILL_WAIT_MS);
      }
      if (gone) {
        delete state.services[s.name];
        save();
      } else {
        detail += '; still running';
        ctx.reporter.warn(`${s.name} did not stop: process group ${rec.pgid} survived SIGKILL`);
      }
      outcomes.push({ name: s.name, action: 'signal', stopped: gone, detail, pgid: rec.pgid });
    }
    const n = outcomes.filter((o) => o.stopped).length;
    return { services: outcomes, stopped: outcomes.filter((o) => o.stopped).map((o) => o.name), commands, summary: `${n} of ${outcomes.length} stopped` };
  },
};

// ---------------------------------------------------------------------------------------------
// start

export interface StartOutcome {
  name: string;
  started: boolean;
  pid?: number;
  pgid?: number;
  /** log file relative to the repository root */
  log?: string;
  /** true: the ready check passed; null: no ready check configured */
  ready: boolean | null;
  detail: string;
}

function isUrl(c: ServiceConfig['ready']): c is string {
  return typeof c === 'string' && /^https?:\/\//i.test(c.trim());
}

function readyDescription(s: ServiceConfig): string | null {
  if (!s.ready) return null;
  return isUrl(s.ready) ? `wait until ${s.ready.trim()} answers with a status < 500` : `wait until \`${displayCommand(s.ready)}\` exits 0`;
}

/** A service's start, in the plan and the journal alike. */
function startLine(s: ServiceConfig, ctx: PlanContext): string {
  return `${cdPrefix(s)}${displayCommand(s.start)}  >> ${ctx.config.rollbacksDir}/${logRel(s.name)}  # detached, own process group`;
}

/** Spawn the service detached in its own process group, output appended to its log. */
function spawnService(s: ServiceConfig, cwd: string, logAbs: string): Promise<{ pid: number } | { error: string }> {
  mkdirSync(dirname(logAbs), { recursive: true });
  const fd = openSync(logAbs, 'a', 0o644);
  try {
    writeSync(fd, `\n--- rb: starting ${displayCommand(s.start)} in ${cwd} at ${new Date().toISOString()} ---\n`);
    return startDetached(s.start, { cwd, logFd: fd });
  } finally {
    // the child holds its own copy of the descriptor
    closeSync(fd);
  }
}

/** Poll the ready check until it passes, the group dies, the deadline passes or the run is interrupted. */
async function waitReady(s: ServiceConfig, ctx: StepContext, pgid: number, deadline: number): Promise<{ ok: true } | { ok: false; why: string }> {
  const ready = s.ready!;
  let lastProblem = '';
  for (;;) {
    if (ctx.signal.aborted) return { ok: false, why: 'interrupted' };
    if (groupAlive(pgid) === false) return { ok: false, why: 'exited before it was ready' };
    const left = deadline - Date.now();
    if (left <= 0) return { ok: false, why: `not ready after ${Math.round((ctx.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS) / 1000)} s${lastProblem ? ` (last: ${lastProblem})` : ''}` };
    if (isUrl(ready)) {
      try {
        const res = await fetch(ready.trim(), { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(1, Math.min(left, 5_000)))]), redirect: 'manual' });
        await res.body?.cancel().catch(() => undefined);
        if (res.status < 500) return { ok: true };
        lastProblem = `HTTP ${res.status}`;
      } catch (e) {
        lastProblem = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
      }
    } else {
      const r = await runCommand(ready, { cwd: repoPath(ctx, s.cwd), timeoutMs: Math.max(1, left), signal: ctx.signal });
      if (r.exitCode === 0) return { ok: true };
      lastProblem = r.failedToStart ?? `exited ${r.exitCode}`;
    }
    await sleep(Math.min(READY_POLL_MS, Math.max(0, deadline - Date.now())), ctx.signal);
  }
}

/** The local port a `ready` URL names, or null (a ready command, or a URL on another machine). */
function readyPort(s: ServiceConfig): { host: string; port: number } | null {
  return isUrl(s.ready) ? localPortOf(s.ready) : null;
}

/** "pid 123 (node server.js)", naming a service rb started when the pid is one of them. */
function holdersText(held: PortState, state: ServicesState): string {
  const rbName = (pid: number) => Object.entries(state.services).find(([, r]) => r.pid === pid || r.pgid === pid)?.[0];
  const named = held.holders.map((h) => `pid ${h.pid} (${h.command}${rbName(h.pid) ? `; rb's service ${rbName(h.pid)}` : ''})`);
  if (!named.length) return held.method === 'connect' ? 'another process (this system does not tell rb which)' : 'a process rb may not inspect (another user\'s?)';
  return named.join(', ') + (held.complete ? '' : ' and a process rb may not inspect');
}

/**
 * After the ready check passed: is it the process rb started that is ready? It must be alive
 * and, for a URL on a local port where /proc tells, hold that port itself (or through a child;
 * a listener that started after the service, such as a container's port proxy, is taken as its
 * own). Where the owner cannot be seen, the service must stay alive for READY_SETTLE_MS.
 */
async function confirmReady(s: ServiceConfig, ctx: StepContext, pid: number, port: { host: string; port: number } | null): Promise<{ ok: true; note?: string } | { ok: false; why: string }> {
  const gone = { ok: false as const, why: 'its ready check passed, but the process rb started had exited (something else answered the check)' };
  if (groupAlive(pid) === false) return gone;
  let note: string | undefined;
  if (port) {
    const held = await portState(port.host, port.port);
    if (held.method === 'proc' && held.held) {
      if (held.holders.some((h) => belongsTo(h.pid, pid, pid))) return groupAlive(pid) === false ? gone : { ok: true };
      const since = startTicks(pid);
      const older = held.holders.filter((h) => since === undefined || (startTicks(h.pid) ?? 0) < since);
      if (older.length) {
        return { ok: false, why: `port ${port.port} answers from ${older.map((h) => `pid ${h.pid} (${h.command})`).join(', ')}, not from the process rb started (pid ${pid})` };
      }
      if (held.holders.length) note = `port ${port.port} is held by ${held.holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ')}, which started after it`;
      else note = `the process holding port ${port.port} is not visible to rb`;
      if (held.holders.length) return { ok: true, note };
    } else {
      note = held.method === 'proc' ? undefined : `who holds port ${port.port} cannot be checked here (${held.method})`;
    }
  }
  // the owner could not be confirmed: it must at least stay alive a moment
  await sleep(READY_SETTLE_MS, ctx.signal);
  if (groupAlive(pid) === false) return { ok: false, why: `the process rb started exited within ${READY_SETTLE_MS / 1000} s after its ready check passed` };
  return { ok: true, ...(note ? { note } : {}) };
}

export const servicesStart: StepKind<With> = {
  kind: 'services.start',
  summary: 'start services detached (own process group, output in rollbacks/logs/<name>.log) and wait until ready',
  with: schema,
  destructive: false,
  describe(w, ctx: PlanContext) {
    const services = select(ctx.config.services, w.names, 'services.start');
    if (!services.length) return ['(no services configured)'];
    return services.flatMap((s) => {
      const ready = readyDescription(s);
      return [startLine(s, ctx), ...(ready ? [`# ${ready}`] : [])];
    });
  },
  async run(w, ctx) {
    const services = select(ctx.config.services, w.names, 'services.start');
    if (!services.length) return { skipped: 'no services configured' };
    const outcomes: StartOutcome[] = [];
    const commands: string[] = [];
    const state = readServicesState(ctx.repo);
    const result = (): StepResult => ({ services: outcomes, started: outcomes.filter((o) => o.started).map((o) => o.name), commands });
    const fail = (msg: string, outputTail?: string): never => {
      throw Object.assign(new Error(msg), { result: { ...result(), ...(outputTail ? { outputTail } : {}) } });
    };
    for (const s of services) {
      const prev = state.services[s.name];
      if (prev && groupAlive(prev.pgid) !== false && stillOurs(prev)) {
        // a second copy would fight the first over its port; stop it first (services.stop)
        const detail = `already running (pid ${prev.pid}, started by rb at ${prev.startedAt}); not started again`;
        ctx.reporter.warn(`${s.name}: ${detail}`);
        outcomes.push({ name: s.name, started: false, pid: prev.pid, pgid: prev.pgid, log: prev.log, ready: null, detail });
        continue;
      }
      const cwd = repoPath(ctx, s.cwd);
      const logAbs = recordPath(ctx, logRel(s.name));
      const log = repoRelative(ctx, logAbs);
      if (!existsSync(cwd)) fail(`${s.name}: working directory ${s.cwd} does not exist`);
      const cmd = displayCommand(s.start);
      const port = readyPort(s);
      if (port) {
        // restarting into an occupied port cannot succeed, and the old process would answer the ready check
        const held = await portState(port.host, port.port);
        if (held.held) {
          const detail = `port ${port.port} of its ready URL ${s.ready} is already in use by ${holdersText(held, state)}, which rb did not start as ${s.name}: \`${cmd}\` could not listen there`;
          outcomes.push({ name: s.name, started: false, log, ready: null, detail });
          fail(`${s.name} was not started: ${detail}. Stop that process${held.holders.length ? ` (\`kill ${held.holders.map((h) => h.pid).join(' ')}\`)` : ''} or free the port, then resume this run`);
        }
      }
      commands.push(startLine(s, ctx));
      ctx.reporter.output(`${s.name}: ${cdPrefix(s)}${cmd}  (log: ${log})`);
      const spawned = await spawnService(s, cwd, logAbs);
      if ('error' in spawned) {
        outcomes.push({ name: s.name, started: false, log, ready: null, detail: spawned.error });
        fail(`${s.name} did not start: ${spawned.error}`);
      }
      const pid = (spawned as { pid: number }).pid;
      // detached: the child leads a new process group whose id is its pid
      state.services[s.name] = { pid, pgid: pid, startedAt: new Date().toISOString(), command: cmd, log, bootId: bootId(), procStart: procStart(pid) };
      writeServicesState(ctx.repo, state);
      const outcome: StartOutcome = { name: s.name, started: true, pid, pgid: pid, log, ready: null, detail: `started (pid ${pid})` };
      outcomes.push(outcome);
      if (!s.ready) {
        ctx.reporter.output(`${s.name}: started (pid ${pid}), no ready check configured`);
        continue;
      }
      ctx.reporter.output(`${s.name}: ${readyDescription(s)}`);
      const deadline = Date.now() + (ctx.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
      let r: { ok: true; note?: string } | { ok: false; why: string } = await waitReady(s, ctx, pid, deadline);
      if (r.ok) r = await confirmReady(s, ctx, pid, port);
      if (r.ok) {
        outcome.ready = true;
        outcome.detail = `started (pid ${pid}) and ready${r.note ? `; ${r.note}` : ''}`;
        ctx.reporter.output(`${s.name}: ready${r.note ? ` (${r.note})` : ''}`);
        continue;
      }
      outcome.ready = false;
      const still = groupAlive(pid) !== false;
      if (!still) {
        outcome.started = false;
        delete state.services[s.name];
        writeServicesState(ctx.repo, state);
      }
      outcome.detail = `${r.why}${still ? ` (still running as pid ${pid}; services.stop stops it)` : ''}`;
      const logText = logTail(logAbs);
      fail(`${s.name} did not become ready: ${outcome.detail}. Last lines of ${log}:\n${logText}`, logText);
    }
    return result();
  },
};
