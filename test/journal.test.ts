/** Which runs block a new one (src/journal/journal.ts unresolvedRuns), whatever their journals hold. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listRuns, runsDir, unresolvedRuns, writeRun, type RunRecord } from '../src/journal/journal.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function repo() {
  const d = mkdtempSync(join(tmpdir(), 'rb-journal-'));
  dirs.push(d);
  return { commonDir: d };
}

let n = 0;
function run(over: Partial<RunRecord>): RunRecord {
  n++;
  return {
    version: 1, id: `20260101-0000${String(n).padStart(2, '0')}-x`, playbook: 'x', playbookFile: 'x.yaml', playbookSource: 'built-in', title: 'x',
    // a step whose own status and output look like a top-level "status" line must not confuse anything
    params: { note: 'x\n  "status": "succeeded",\n' }, status: 'succeeded', dryRun: false, pid: 1, host: hostname(), user: { name: null, email: null, os: 'u' },
    startedAt: `2026-01-01T00:00:${String(n).padStart(2, '0')}.000Z`, root: '/r', gitDir: '/r/.git', stamp: 's', runDir: 'x',
    baseline: { name: 'b', ref: 'refs/heads/b', oid: null, remoteRef: null }, head: { before: { ref: null, oid: null } }, refs: { before: {} },
    snapshot: null, steps: [{ id: 's', title: 's', kind: 'exec', destructive: true, status: 'succeeded', planned: [] }], warnings: [], changed: true,
    ...over,
  };
}

describe('unresolvedRuns', () => {
  it('finds failed and interrupted runs that changed something, newest first, and nothing else', () => {
    const r = repo();
    const deadPid = 2 ** 22 + 12345; // above any pid this host hands out
    const runs = [
      run({ status: 'succeeded' }),
      run({ status: 'failed' }), // blocks
      run({ status: 'failed', changed: false }),
      run({ status: 'failed', kept: true }),
      run({ status: 'failed', dryRun: true }),
      run({ status: 'interrupted', steps: [{ id: 's', title: 's', kind: 'exec', destructive: true, status: 'failed', planned: [] }] }), // blocks
      run({ status: 'running', pid: deadPid }), // killed: blocks
      run({ status: 'running', pid: process.pid }), // alive
      run({ status: 'undone' }),
      run({ status: 'aborted' }),
      run({ status: 'succeeded', steps: [{ id: 's', title: 's', kind: 'exec', destructive: true, status: 'failed', planned: [] }] }),
    ];
    for (const x of runs) writeRun(r, x);
    expect(unresolvedRuns(r).map((x) => x.id)).toEqual([runs[6]!.id, runs[5]!.id, runs[1]!.id]);
    expect(listRuns(r)).toHaveLength(runs.length);
  });

  it('judges a journal written some other way (compact JSON) by parsing it', () => {
    const r = repo();
    mkdirSync(runsDir(r), { recursive: true });
    const failed = run({ status: 'failed' });
    const ok = run({ status: 'succeeded' });
    writeFileSync(join(runsDir(r), `${failed.id}.json`), JSON.stringify(failed));
    writeFileSync(join(runsDir(r), `${ok.id}.json`), JSON.stringify(ok));
    writeFileSync(join(runsDir(r), 'torn.json'), '{"status": "failed", ');
    expect(unresolvedRuns(r).map((x) => x.id)).toEqual([failed.id]);
  });
});
