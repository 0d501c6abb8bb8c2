/**
 * The `notify` step kind: notification.md in the run's folder, the webhook POST (received by a
 * local HTTP server on 127.0.0.1), and a webhook that cannot be reached or answers an error —
 * a warning, never a failure. Driven through a minimal StepContext built here.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tmpRepos, type TestRepo } from './helpers/repo.js';
import type { Config } from '../src/types.js';
import type { StepContext, StepResult } from '../src/steps/types.js';
import { notify, sendWebhook, urlOrigin } from '../src/steps/notify.js';

const repos = tmpRepos();

function config(over: Partial<Config> = {}): Config {
  return {
    baseline: 'baseline', remote: '', rollbacksDir: 'rollbacks', test: null, coverage: null, performance: null, build: null,
    verify: null, install: [], services: [], keep: [], testMap: [], undo: { windowHours: 24 },
    snapshots: { keepDays: 30, maxIgnoredBytes: 52428800, skipIgnored: [] }, check: { maxDiskPercent: 90, baselineTests: true, tag: true },
    metrics: { healthyRate: 0.05, reviewRate: 0.1, countNamedCheckpoints: false }, notify: { webhook: null }, ...over,
  };
}

/** The context of a sprint run at its notify step: the earlier steps done, branches created. */
function sprintCtx(r: TestRepo, over: Partial<Config> = {}) {
  const warnings: string[] = [];
  const lines: string[] = [];
  const head = r.git('rev-parse', 'HEAD').trim();
  const results: Record<string, StepResult> = {
    tests: { framework: 'vitest', failed: 3, passed: 10, failures: ['a', 'b', 'c'] },
    snapshot: { snapshotId: '20261122-101502-main-a1b2' },
    wip: { oid: 'f'.repeat(40) },
    backup: { branch: 'backup/sprint-4-20261122-101502', oid: 'f'.repeat(40) },
    retry: { branch: 'refactor/sprint-4-retry', oid: head },
  };
  const steps = [
    { id: 'document', title: 'Document the failure', status: 'succeeded' },
    { id: 'tests', title: 'Run the tests (test_failures.txt)', status: 'failed', error: 'tests failed: 3 failed' },
    { id: 'snapshot', title: 'Snapshot the whole working copy', status: 'succeeded' },
    { id: 'wip', title: 'Commit the work in progress', status: 'succeeded' },
    { id: 'backup', title: 'Back it up on a branch', status: 'succeeded' },
    { id: 'retry', title: 'Start the retry branch from the baseline', status: 'succeeded' },
    { id: 'notify', title: 'Notify the team', status: 'running' },
    { id: 'metrics', title: 'Record metrics', status: 'pending' },
  ];
  const ctx = {
    repo: r.repo(),
    config: config(over),
    playbook: { name: 'sprint', level: 2, title: 'Sprint rollback', severity: 'high', params: {}, steps: [], file: '', source: 'built-in' },
    run: {
      id: '20261122-101502-sprint-4', stamp: '20261122-101502', dir: 'sprint-4', startedAt: new Date(Date.now() - 42_000).toISOString(),
      reason: 'auth refactor broke login', cause: 'tests', branch: 'feature/auth', head,
    },
    baseline: { name: 'baseline', ref: 'refs/heads/baseline', oid: head, remoteRef: null },
    params: { sprint: 4 },
    dryRun: false,
    reporter: { output: (l: string) => lines.push(l), warn: (l: string) => warnings.push(l), title: () => undefined },
    results,
    snapshotId: '20261122-101502-main-a1b2',
    signal: new AbortController().signal,
    journal: () => ({ steps, warnings: [], snapshot: '20261122-101502-main-a1b2', startedAt: new Date().toISOString() }),
    checkpoint: async () => undefined,
  } satisfies StepContext;
  return { ctx, warnings, lines };
}

/** A local webhook receiver: records each request; `respond` decides the answer. */
async function receiver(respond: (req: IncomingMessage, body: string) => { status: number } | 'hang' = () => ({ status: 200 })) {
  const received: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const r = respond(req, body);
      if (r === 'hang') return; // never answers
      res.writeHead(r.status, { 'content-type': 'text/plain' });
      res.end(r.status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  servers.push(server);
  return { url: `http://127.0.0.1:${port}/services/T000/B000/secret-path`, received, server };
}
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('notify: notification.md', () => {
  it('writes severity, time, impact, reason, actions, next steps and branch status in the run folder', async () => {
    const r = repos.make();
    r.git('branch', 'baseline');
    const { ctx, warnings } = sprintCtx(r);
    const res = (await notify.run({}, ctx)) as StepResult;
    expect(res).toMatchObject({ file: 'rollbacks/sprint-4/notification.md', webhook: 'not configured' });
    const text = readFileSync(join(r.root, 'rollbacks/sprint-4/notification.md'), 'utf8');
    expect(text).toContain('# Rollback notification — Sprint rollback');
    expect(text).toContain('- **Severity:** high (level 2)');
    expect(text).toMatch(/- \*\*Time:\*\* \d{4}-\d\d-\d\dT.*run 20261122-101502-sprint-4 started/);
    expect(text).toContain('- **Impact:** Sprint rolled back: work restarts from the baseline on a retry branch');
    expect(text).toContain('3 tests were failing.');
    expect(text).toContain('## What happened\n\nauth refactor broke login');
    // actions: the steps that ran, not this one or the ones still to come
    expect(text).toContain('- ✔ Document the failure');
    expect(text).toContain('- ✖ Run the tests (test_failures.txt) — failed: tests failed: 3 failed');
    expect(text).toContain('- ✔ Start the retry branch from the baseline');
    expect(text).not.toContain('Notify the team');
    expect(text).not.toContain('Record metrics');
    // branch status
    const head = r.git('rev-parse', 'HEAD').trim().slice(0, 12);
    expect(text).toContain(`- **Safe baseline:** \`baseline\` at ${head}`);
    expect(text).toContain(`- **Failed branch:** \`feature/auth\` at ${head}`);
    expect(text).toContain('- **Backup branch (the failed work, committed):** `backup/sprint-4-20261122-101502`');
    expect(text).toContain('- **Retry branch:** `refactor/sprint-4-retry`');
    expect(text).toContain('- **HEAD is now on:** `main`');
    // next steps
    expect(text).toContain('`rb undo 20261122-101502-sprint-4`');
    expect(text).toContain('`rb analyze --run 20261122-101502-sprint-4`');
    expect(text).toContain('`rb recover backup/sprint-4-20261122-101502`');
    expect(text).toContain('`rb check`');
    expect(warnings).toEqual([]);
  });

  it('a notification.md that cannot be written is a warning, and the webhook is still tried', async () => {
    const hook = await receiver();
    const r = repos.make();
    r.write('rollbacks/sprint-4', 'a file where the run folder should be\n');
    const { ctx, warnings } = sprintCtx(r, { notify: { webhook: hook.url } });
    const res = (await notify.run({}, ctx)) as StepResult;
    expect(res).toMatchObject({ file: null, webhook: 'sent' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('could not write rollbacks/sprint-4/notification.md');
    expect(JSON.parse(hook.received[0]!.body).run.notification).toBeNull();
  });

  it('a custom template reads {{notification.*}}', async () => {
    const r = repos.make();
    const { ctx } = sprintCtx(r);
    await notify.run({ template: 'Severity {{notification.severity}} — {{notification.reason}}\nRetry: {{notification.retryBranch}}\n{{notification.next}}' }, ctx);
    const text = readFileSync(join(r.root, 'rollbacks/sprint-4/notification.md'), 'utf8');
    expect(text).toContain('Severity high — auth refactor broke login');
    expect(text).toContain('Retry: refactor/sprint-4-retry');
    expect(text).toContain('- `rb undo 20261122-101502-sprint-4`');
  });

  it('is not destructive, and its plan shows only the webhook\'s origin', () => {
    const r = repos.make();
    const { ctx } = sprintCtx(r, { notify: { webhook: 'https://hooks.example.com/services/T1/B2/very-secret' } });
    expect(notify.destructive).toBe(false);
    const lines = notify.describe({}, ctx).join('\n');
    expect(lines).toContain('rollbacks/sprint-4/notification.md');
    expect(lines).toContain('https://hooks.example.com');
    expect(lines).not.toContain('very-secret');
    expect(notify.with.safeParse({ template: 'x' }).success).toBe(true);
    expect(notify.with.safeParse({ to: 'x' }).success).toBe(false);
    expect(urlOrigin('not a url')).toBe('(an invalid URL)');
  });
});

describe('notify: webhook', () => {
  it('POSTs { text, run } as JSON to the configured webhook', async () => {
    const hook = await receiver();
    const r = repos.make();
    const { ctx, warnings, lines } = sprintCtx(r, { notify: { webhook: hook.url } });
    const res = (await notify.run({}, ctx)) as StepResult;
    expect(res).toMatchObject({ webhook: 'sent', webhookStatus: 200 });
    expect(warnings).toEqual([]);
    expect(lines.join('\n')).toContain(`notified ${urlOrigin(hook.url)} (HTTP 200)`);
    expect(hook.received).toHaveLength(1);
    const req = hook.received[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/services/T000/B000/secret-path');
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(req.body);
    expect(Object.keys(body).sort()).toEqual(['run', 'text']);
    expect(typeof body.text).toBe('string');
    expect(body.text).toContain('*Sprint rollback*');
    expect(body.text).toContain('severity *high*');
    expect(body.text).toContain('auth refactor broke login');
    expect(body.text).toContain('retry `refactor/sprint-4-retry`');
    expect(body.run).toMatchObject({
      id: '20261122-101502-sprint-4',
      playbook: 'sprint',
      level: 2,
      severity: 'high',
      reason: 'auth refactor broke login',
      cause: 'tests',
      baseline: { name: 'baseline' },
      failedBranch: 'feature/auth',
      backupBranch: 'backup/sprint-4-20261122-101502',
      retryBranch: 'refactor/sprint-4-retry',
      recoveryBranch: null,
      snapshot: '20261122-101502-main-a1b2',
      steps: { succeeded: 5, failed: 1, skipped: 0 },
      notification: 'rollbacks/sprint-4/notification.md',
    });
  });

  it('an unreachable webhook is a warning: the step succeeds and notification.md is written', async () => {
    const port = await closedPort();
    const r = repos.make();
    const { ctx, warnings } = sprintCtx(r, { notify: { webhook: `http://127.0.0.1:${port}/hook/secret-token` } });
    const res = (await notify.run({}, ctx)) as StepResult;
    expect(res.webhook).toBe('failed');
    expect(existsSync(join(r.root, 'rollbacks/sprint-4/notification.md'))).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`not delivered to http://127.0.0.1:${port}`);
    expect(warnings[0]).toContain('could not connect');
    expect(warnings[0]).toContain('notify.webhook / RB_WEBHOOK_URL');
    expect(warnings[0]).not.toContain('secret-token');
  });

  it('an HTTP error answer is a warning too', async () => {
    const hook = await receiver(() => ({ status: 500 }));
    const r = repos.make();
    const { ctx, warnings } = sprintCtx(r, { notify: { webhook: hook.url } });
    const res = (await notify.run({}, ctx)) as StepResult;
    expect(res).toMatchObject({ webhook: 'failed', webhookStatus: 500 });
    expect(warnings[0]).toContain('answered HTTP 500');
    expect(hook.received).toHaveLength(1);
  });

  it('a webhook that never answers times out (short timeout here; 5 s in the step)', async () => {
    const hook = await receiver(() => 'hang');
    const t0 = Date.now();
    const out = await sendWebhook(hook.url, { text: 'x', run: {} }, { timeoutMs: 300 });
    expect(out).toEqual({ ok: false, error: 'no answer within 0.3 s' });
    expect(Date.now() - t0).toBeLessThan(10_000); // bounded, not a speed assertion
  });
});
