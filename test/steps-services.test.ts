/**
 * services.start / services.stop with real processes in a real throwaway repository: detached
 * process groups, services.json, logs under rollbacks/logs, ready checks, SIGTERM then SIGKILL,
 * stop commands, stale records. Every wait is bounded; nothing asserts on speed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config, ServiceConfig } from '../src/types.js';
import type { StepResult } from '../src/steps/types.js';
import { fakeStepContext } from './helpers/step-context.js';
import { readServicesState, servicesStart, servicesStatePath, servicesStop } from '../src/steps/services.js';

// real processes: generous bounds so a loaded machine does not fail them (no assertion is on speed)
vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

// ---- tiny local helpers ---------------------------------------------------------------------

let root: string;
const node = process.execPath;

beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'rb-services-')));
  const r = spawnSync('git', ['init', '-q'], { cwd: root });
  if (r.status !== 0) throw new Error('git init failed');
});

afterEach(() => {
  // never leave a test's processes behind
  for (const rec of Object.values(readServicesState(repo()).services)) {
    try {
      process.kill(-rec.pgid, 'SIGKILL');
    } catch { /* gone */ }
  }
  rmSync(root, { recursive: true, force: true });
});

function repo() {
  return { root, gitDir: join(root, '.git'), commonDir: join(root, '.git'), cwd: root, linked: false };
}

function fakeCtx(services: ServiceConfig[], timeoutMs?: number) {
  return fakeStepContext(root, { services }, timeoutMs);
}

function service(over: Partial<ServiceConfig> & Pick<ServiceConfig, 'name' | 'start'>): ServiceConfig {
  return { stop: null, ready: null, cwd: '.', ...over };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

/** A process exists and is not a zombie (pid 1 may not reap orphans here). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = (() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return null;
    }
  })();
  return stat === null || stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

async function failure(p: Promise<unknown>): Promise<Error & { result: StepResult }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { result: StepResult };
  }
  throw new Error('the step was expected to fail');
}

const httpServer = (port: number) =>
  [node, '-e', `require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1', () => console.log('listening on ${port}'))`];

// ---- start and stop -----------------------------------------------------------------------------

describe('services.start / services.stop', () => {
  it('starts an http server detached, waits for its ready URL, records it; stop ends its group', async () => {
    const port = await freePort();
    const web = service({ name: 'web', start: httpServer(port), ready: `http://127.0.0.1:${port}/` });
    const { ctx, lines } = fakeCtx([web]);

    const started = (await servicesStart.run({}, ctx)) as StepResult & { services: { pid: number; ready: boolean }[] };
    expect(started.started).toEqual(['web']);
    expect(started.services[0]).toMatchObject({ name: 'web', started: true, ready: true, log: 'rollbacks/logs/web.log' });
    expect(lines).toContain('web: ready');

    const state = JSON.parse(readFileSync(servicesStatePath(repo()), 'utf8'));
    const rec = state.services.web;
    expect(rec).toMatchObject({ pid: started.services[0]!.pid, pgid: started.services[0]!.pid, log: 'rollbacks/logs/web.log' });
    expect(rec.command).toContain('createServer');
    expect(Number.isNaN(Date.parse(rec.startedAt))).toBe(false);
    expect(readFileSync(join(root, 'rollbacks/logs/web.log'), 'utf8')).toContain(`listening on ${port}`);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');

    const stopped = (await servicesStop.run({}, ctx)) as StepResult;
    expect(stopped.stopped).toEqual(['web']);
    expect(stopped.services).toEqual([{ name: 'web', action: 'signal', stopped: true, detail: `SIGTERM process group ${rec.pgid}`, pgid: rec.pgid }]);
    expect(alive(rec.pid)).toBe(false);
    expect(readServicesState(repo()).services).toEqual({});
  });

  it('a string command runs under sh in its own group: stop reaches the grandchildren; a ready command is polled', async () => {
    const child = `"${node}" -e "require('fs').writeFileSync('child.pid', String(process.pid)); setInterval(() => {}, 1000)"`;
    const svc = service({ name: 'worker', start: `${child} & wait`, ready: 'test -s child.pid' });
    const { ctx } = fakeCtx([svc]);
    await servicesStart.run({}, ctx);
    const grandchild = Number(readFileSync(join(root, 'child.pid'), 'utf8'));
    const rec = readServicesState(repo()).services.worker!;
    expect(grandchild).not.toBe(rec.pid);
    expect(alive(grandchild)).toBe(true);

    const r = (await servicesStop.run({ names: ['worker'] }, ctx)) as StepResult;
    expect(r.stopped).toEqual(['worker']);
    expect(await until(() => !alive(grandchild))).toBe(true);
  });

  it('a process that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const svc = service({
      name: 'stubborn',
      start: [node, '-e', "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000)"],
      // -x: the whole line, not the command echoed in the log's header
      ready: 'grep -qx up rollbacks/logs/stubborn.log',
    });
    const { ctx, lines, warnings } = fakeCtx([svc]);
    await servicesStart.run({}, ctx);
    const rec = readServicesState(repo()).services.stubborn!;

    const r = (await servicesStop.run({}, ctx)) as StepResult & { services: { detail: string; stopped: boolean }[] };
    expect(r.services[0]).toMatchObject({ stopped: true, detail: `SIGTERM process group ${rec.pgid}; SIGKILL after 5 s` });
    expect(r.commands).toEqual([`kill -TERM -${rec.pgid}  # stubborn, started by rb (then -KILL after 5 s)`, `kill -KILL -${rec.pgid}`]);
    expect(lines.some((l) => l.includes('SIGKILL process group'))).toBe(true);
    expect(warnings).toEqual([]);
    expect(alive(rec.pid)).toBe(false);
    expect(readFileSync(join(root, 'rollbacks/logs/stubborn.log'), 'utf8')).toContain('ignoring SIGTERM');
  }, 30_000);

  it('a configured stop command is used instead of signals', async () => {
    const port = await freePort();
    const svc = service({
      name: 'api',
      start: [node, '-e', `require('fs').writeFileSync('api.pid', String(process.pid)); require('http').createServer((q, s) => s.end()).listen(${port}, '127.0.0.1')`],
      ready: `http://127.0.0.1:${port}/health`,
      stop: [node, '-e', "process.kill(Number(require('fs').readFileSync('api.pid', 'utf8'))); console.log('asked api to stop')"],
    });
    const { ctx, lines } = fakeCtx([svc]);
    await servicesStart.run({}, ctx);
    const rec = readServicesState(repo()).services.api!;

    expect(servicesStop.describe({}, ctx)).toEqual([expect.stringContaining('api.pid')]);
    const r = (await servicesStop.run({}, ctx)) as StepResult & { services: unknown[] };
    expect(r.services).toEqual([{ name: 'api', action: 'stop-command', stopped: true, detail: expect.stringMatching(/exited 0$/), pgid: rec.pgid }]);
    expect(lines).toContain('asked api to stop');
    expect(r.commands).toHaveLength(1);
    expect(alive(rec.pid)).toBe(false);
    expect(readServicesState(repo()).services).toEqual({});
  });

  it('a failing stop command is a warning, not a failure', async () => {
    const svc = service({ name: 'db', start: ['true'], stop: [node, '-e', 'process.exit(2)'] });
    const { ctx, warnings } = fakeCtx([svc]);
    const r = (await servicesStop.run({}, ctx)) as StepResult & { services: { stopped: boolean }[] };
    expect(r.services[0]!.stopped).toBe(false);
    expect(warnings).toEqual([expect.stringMatching(/^db did not stop: .* exited 2$/)]);
  });
});

describe('stale and foreign records', () => {
  it('a pid that is no longer alive is just removed from services.json', async () => {
    const dead = spawnSync(node, ['-e', '']).pid!;
    mkdirSync(join(root, '.git/rb'), { recursive: true });
    writeFileSync(servicesStatePath(repo()), JSON.stringify({ services: { web: { pid: dead, pgid: dead, startedAt: '2026-01-01T00:00:00Z', command: 'x', log: 'rollbacks/logs/web.log' } } }));
    const { ctx } = fakeCtx([service({ name: 'web', start: 'x' })]);
    const r = (await servicesStop.run({}, ctx)) as StepResult;
    expect(r.services).toEqual([{ name: 'web', action: 'none', stopped: false, detail: `was not running (pid ${dead} gone)`, pgid: dead }]);
    expect(readServicesState(repo()).services).toEqual({});
  });

  it('a record from another boot is never signalled (the pid may belong to anything now)', async () => {
    if (!existsSync('/proc/sys/kernel/random/boot_id')) return;
    // a live process group that rb did not start in this boot
    const { ctx } = fakeCtx([service({ name: 'web', start: [node, '-e', 'setInterval(() => {}, 1000)'] })]);
    await servicesStart.run({}, ctx);
    const state = readServicesState(repo());
    const rec = state.services.web!;
    writeFileSync(servicesStatePath(repo()), JSON.stringify({ services: { web: { ...rec, bootId: 'another-boot' } } }));
    const r = (await servicesStop.run({}, ctx)) as StepResult & { services: { detail: string }[] };
    expect(r.services[0]!.detail).toBe(`pid ${rec.pid} now belongs to another process; record removed`);
    expect(alive(rec.pid)).toBe(true);
    process.kill(-rec.pgid, 'SIGKILL');
  });

  it('a service rb did not start is not stopped (nothing is killed by name)', async () => {
    const { ctx, lines } = fakeCtx([service({ name: 'web', start: 'npm run dev' })]);
    const r = (await servicesStop.run({}, ctx)) as StepResult;
    expect(r.services).toEqual([{ name: 'web', action: 'none', stopped: false, detail: 'not started by rb; nothing to stop' }]);
    expect(lines).toEqual(['web: not started by rb, nothing to stop']);
  });
});

describe('start failures', () => {
  it('a service that exits before it is ready fails the step with its log tail', async () => {
    const port = await freePort();
    const svc = service({ name: 'web', start: [node, '-e', "console.error('Error: listen EADDRINUSE'); process.exit(1)"], ready: `http://127.0.0.1:${port}/` });
    const { ctx } = fakeCtx([svc]);
    const err = await failure(servicesStart.run({}, ctx));
    expect(err.message).toMatch(/^web did not become ready: exited before it was ready\. Last lines of rollbacks\/logs\/web\.log:\n/);
    expect(err.message).toContain('Error: listen EADDRINUSE');
    expect(err.result.services).toEqual([expect.objectContaining({ name: 'web', started: false, ready: false })]);
    expect(readServicesState(repo()).services).toEqual({});
  });

  it('a service that never becomes ready fails after the timeout and stays recorded for services.stop', async () => {
    const port = await freePort();
    const svc = service({ name: 'slow', start: [node, '-e', 'setInterval(() => {}, 1000)'], ready: `http://127.0.0.1:${port}/` });
    const { ctx } = fakeCtx([svc], 1_200);
    const err = await failure(servicesStart.run({}, ctx));
    expect(err.message).toMatch(/^slow did not become ready: not ready after 1 s \(last: .*\) \(still running as pid \d+; services\.stop stops it\)/);
    expect(readServicesState(repo()).services.slow).toBeDefined();
    const r = (await servicesStop.run({}, ctx)) as StepResult;
    expect(r.stopped).toEqual(['slow']);
  });

  it('a command that cannot be started fails the step', async () => {
    const { ctx } = fakeCtx([service({ name: 'ghost', start: ['rb-no-such-command-xyz'] })]);
    const err = await failure(servicesStart.run({}, ctx));
    expect(err.message).toMatch(/^ghost did not start: spawn rb-no-such-command-xyz ENOENT/);
    expect(readServicesState(repo()).services).toEqual({});
  });

  it('an already running service is not started twice', async () => {
    const svc = service({ name: 'w', start: [node, '-e', 'setInterval(() => {}, 1000)'] });
    const { ctx, warnings } = fakeCtx([svc]);
    await servicesStart.run({}, ctx);
    const pid = readServicesState(repo()).services.w!.pid;
    const r = (await servicesStart.run({}, ctx)) as StepResult;
    expect(r.started).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^w: already running \\(pid ${pid}, started by rb`))]);
    expect(readServicesState(repo()).services.w!.pid).toBe(pid);
  });
});

describe('"ready" is said of the process rb started (issue 23)', () => {
  /** A real node http server on 127.0.0.1:port that rb did not start; it listens after `delayMs`. */
  function foreignServer(port: number, delayMs = 0): ChildProcess {
    const code = `setTimeout(() => require('http').createServer((q, s) => s.end('old server')).listen(${port}, '127.0.0.1', () => console.log('up')), ${delayMs})`;
    const child = spawn(node, ['-e', code, 'foreign-server'], { stdio: ['ignore', 'pipe', 'inherit'] });
    foreign.push(child);
    return child;
  }
  const foreign: ChildProcess[] = [];
  afterEach(() => {
    for (const c of foreign.splice(0)) c.kill('SIGKILL');
  });
  const listening = (c: ChildProcess) => new Promise<void>((res) => c.stdout!.once('data', () => res()));

  it('a port of the ready URL held by a process rb did not start: not started, that process named by pid and command', async () => {
    const port = await freePort();
    const old = foreignServer(port);
    await listening(old);
    const web = service({ name: 'web', start: httpServer(port), ready: `http://127.0.0.1:${port}/health` });
    const { ctx } = fakeCtx([web]);
    const err = await failure(servicesStart.run({}, ctx));
    expect(err.message).toContain(`web was not started: port ${port} of its ready URL http://127.0.0.1:${port}/health is already in use by pid ${old.pid} (${node} -e setTimeout(`);
    expect(err.message).toContain(`foreign-server), which rb did not start as web`);
    expect(err.message).toContain(`Stop that process (\`kill ${old.pid}\`) or free the port, then resume this run`);
    expect(err.result.services).toEqual([expect.objectContaining({ name: 'web', started: false, ready: null })]);
    expect(err.result.commands).toEqual([]); // nothing was started
    expect(readServicesState(repo()).services).toEqual({});
    expect(alive(old.pid!)).toBe(true);
    // services.stop names it too, and leaves it alone
    const { ctx: stopCtx, warnings } = fakeCtx([web]);
    await servicesStop.run({}, stopCtx);
    expect(warnings).toEqual([expect.stringContaining(`web: not started by rb; nothing to stop; port ${port} of its ready URL is in use by pid ${old.pid} (`)]);
    expect(alive(old.pid!)).toBe(true);
  });

  it('a ready URL answered by an older process that took the port after rb looked: not ready, the answering process named', async () => {
    const port = await freePort();
    const old = foreignServer(port, 1_500); // started before rb's service, listening 1.5 s later
    const svc = service({ name: 'web', start: [node, '-e', 'setInterval(() => {}, 1000)'], ready: `http://127.0.0.1:${port}/` });
    const { ctx } = fakeCtx([svc], 20_000);
    const err = await failure(servicesStart.run({}, ctx));
    expect(err.message).toMatch(new RegExp(`^web did not become ready: port ${port} answers from pid ${old.pid} \\(.*foreign-server\\), not from the process rb started \\(pid \\d+\\) \\(still running as pid \\d+; services\\.stop stops it\\)`));
    expect(err.result.services).toEqual([expect.objectContaining({ name: 'web', started: true, ready: false })]);
  });

  it('a service that exits just after its ready check passed is not ready', async () => {
    const svc = service({ name: 'flaky', start: [node, '-e', 'setTimeout(() => process.exit(1), 300)'], ready: 'true' });
    const { ctx, lines } = fakeCtx([svc]);
    const err = await failure(servicesStart.run({}, ctx));
    expect(err.message).toMatch(/^flaky did not become ready: the process rb started exited within 1 s after its ready check passed\./);
    expect(lines).not.toContain('flaky: ready');
    expect(readServicesState(repo()).services).toEqual({});
  });

  it('the server rb started holds its port: ready (its children count too)', async () => {
    const port = await freePort();
    // sh -c: the listening process is a child of the one rb started
    const svc = service({ name: 'web', start: `"${node}" -e "require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')" & wait`, ready: `http://localhost:${port}/` });
    const { ctx, lines } = fakeCtx([svc]);
    const r = (await servicesStart.run({}, ctx)) as StepResult & { services: { ready: boolean; detail: string }[] };
    expect(r.services[0]).toMatchObject({ ready: true, detail: expect.stringMatching(/^started \(pid \d+\) and ready$/) });
    expect(lines).toContain('web: ready');
  });
});

describe('selection and plans', () => {
  it('no services: skipped; an unknown name: an error', async () => {
    expect(await servicesStart.run({}, fakeCtx([]).ctx)).toEqual({ skipped: 'no services configured' });
    expect(await servicesStop.run({}, fakeCtx([]).ctx)).toEqual({ skipped: 'no services configured' });
    await expect(servicesStart.run({ names: ['db'] }, fakeCtx([service({ name: 'web', start: 'x' })]).ctx)).rejects.toThrow('services.start: no service "db" (configured: web)');
  });

  it('describe shows the commands, the log, the ready check, and the group rb would signal', () => {
    const svcs = [
      service({ name: 'web', start: 'npm run dev', ready: 'http://localhost:3000', cwd: 'app' }),
      service({ name: 'q', start: ['node', 'worker.js'], stop: ['node', 'worker.js', '--stop'] }),
    ];
    const { ctx } = fakeCtx(svcs);
    expect(servicesStart.describe({}, ctx)).toEqual([
      '(cd app) npm run dev  >> rollbacks/logs/web.log  # detached, own process group',
      '# wait until http://localhost:3000 answers with a status < 500',
      'node worker.js  >> rollbacks/logs/q.log  # detached, own process group',
    ]);
    mkdirSync(join(root, '.git/rb'), { recursive: true });
    writeFileSync(servicesStatePath(repo()), JSON.stringify({ services: { web: { pid: 4242, pgid: 4242, startedAt: '', command: 'npm run dev', log: '' } } }));
    expect(servicesStop.describe({}, ctx)).toEqual(['kill -TERM -4242  # web, started by rb (then -KILL after 5 s)', 'node worker.js --stop']);
    // not a real group: keep afterEach from signalling it
    writeFileSync(servicesStatePath(repo()), JSON.stringify({ services: {} }));
  });
});
