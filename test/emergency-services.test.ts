/**
 * Issue 23, point 1, as a user meets it: `rb emergency` with a service `node server.js` whose
 * `ready` URL's port is held by an old server rb did not start (a real node http server on
 * 127.0.0.1). rb must not start into the occupied port nor call the service ready: the run stops
 * at the start step (exit 1, journaled, the old server named by pid and command), and `rb resume`
 * after the user stopped the old server starts the new one, whose own process then answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import type { RbResult } from './helpers/cli.js';
import { baseRepo, gitDirOf, moveBaselineHere, outOf, rbAsync, runsOf, expectCode } from './helpers/scenarios.js';

tmpRepos();

const node = process.execPath;
const spawned: ChildProcess[] = [];
const repos: TestRepo[] = [];

afterEach(() => {
  for (const c of spawned.splice(0)) c.kill('SIGKILL');
  // the services rb started run detached: end their groups
  for (const r of repos.splice(0)) {
    try {
      const state = JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'services.json'), 'utf8'));
      for (const rec of Object.values(state.services) as { pgid: number }[]) process.kill(-rec.pgid, 'SIGKILL');
    } catch { /* none */ }
  }
});


async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

describe('rb emergency with a service whose port another process holds', { timeout: 120_000 }, () => {
  it('stops at the start step naming the old server (exit 1, journaled); rb resume after it is stopped starts rb\'s own server', async () => {
    const port = await freePort();
    const r = copyRepo(baseRepo());
    repos.push(r);
    r.write('server.js', `require('http').createServer((q, s) => s.end('new server')).listen(${port}, '127.0.0.1');\n`);
    r.write('rb.config.yaml', [
      'services:',
      '  - name: web',
      `    start: [${JSON.stringify(node)}, server.js]`,
      `    ready: http://127.0.0.1:${port}/health`,
      '',
    ].join('\n'));
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'a web server');
    moveBaselineHere(r);
    r.git('switch', '-q', '-c', 'feature');
    r.write('server.js', `require('http').createServer((q, s) => { s.statusCode = 200; s.end('broken server'); }).listen(${port}, '127.0.0.1');\n`);
    r.git('commit', '-q', '-am', 'feature: break the server');

    // the broken server, started by hand (not by rb), holds the port
    const old = spawn(node, ['server.js'], { cwd: r.root, stdio: 'ignore' });
    spawned.push(old);
    await waitAnswer(port, 'broken server');

    const res = await rbAsync(r.root, ['emergency', '--yes']);
    expectCode(res, 1);
    const out = outOf(res);
    expect(out).toContain(`web was not started: port ${port} of its ready URL http://127.0.0.1:${port}/health is already in use by pid ${old.pid} (${node} server.js), which rb did not start as web`);
    expect(out).not.toMatch(/web: ready/);
    expect(out).toMatch(/rb resume \d{8}-\d{6}-emergency/);
    const run = runsOf(r)[0]!;
    expect(run).toMatchObject({ playbook: 'emergency', status: 'failed' });
    expect((run as unknown as { steps: { id: string; status: string }[] }).steps.find((s) => s.id === 'start')!.status).toBe('failed');
    // the rollback itself happened; the old server is left alone
    expect(readFileSync(join(r.root, 'server.js'), 'utf8')).toContain('new server');
    expect(await answer(port)).toBe('broken server');

    // the user stops the old server and resumes
    old.kill('SIGTERM');
    await new Promise((res) => old.once('exit', res));
    const resumed = await rbAsync(r.root, ['resume', run.id]);
    expectCode(resumed, 0);
    expect(outOf(resumed)).toContain('web: ready');
    expect(await answer(port)).toBe('new server');
    const state = JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'services.json'), 'utf8'));
    expect(state.services.web.command).toContain('server.js');
    expect(runsOf(r)[0]).toMatchObject({ id: run.id, status: 'succeeded' });
  });
});

async function answer(port: number): Promise<string | null> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) })).text();
  } catch {
    return null;
  }
}

async function waitAnswer(port: number, text: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await answer(port)) === text) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing answered "${text}" on port ${port}`);
}
