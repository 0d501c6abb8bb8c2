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

describe('leftovers of dead rb processes (src/journal/leftovers.ts)', () => {
  it('removes the temporary entries of dead pids and old pid-less directories; keeps those of live processes and fresh pid-less ones', async () => {
    const { sweepLeftovers, findLeftovers, tempDirPrefix } = await import('../src/journal/leftovers.js');
    const { spawnSync } = await import('node:child_process');
    const { existsSync, utimesSync } = await import('node:fs');
    const gitDir = repo().commonDir;
    const r = { gitDir, commonDir: gitDir };
    // a pid that is surely dead: a process that has exited
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout.trim();
    const live = String(process.ppid);
    const mk = (p: string) => { mkdirSync(join(gitDir, p), { recursive: true }); writeFileSync(join(gitDir, p, 'index'), 'x'); return join(gitDir, p); };
    const deadSnap = mk(`rb-snap.${dead}.AbC123`);
    const deadStash = mk(`rb-stash.${dead}.zzzzzz`);
    const liveSnap = mk(`rb-snap.${live}.AbC123`);
    const mine = mkdtempSync(tempDirPrefix(gitDir, 'rb-restore'));
    const legacyOld = mk('rb-restore.Q1w2E3');
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(legacyOld, old, old);
    const legacyNew = mk('rb-commit.R4t5Y6');
    const notOurs = mk('rb-snapshots-of-mine');
    mkdirSync(join(gitDir, 'rb', 'runs'), { recursive: true });
    const files = {
      deadLockTmp: join(gitDir, 'rb', `lock.${dead}.tmp`),
      deadStale: join(gitDir, 'rb', `lock.stale-${dead}`),
      deadJournalTmp: join(gitDir, 'rb', 'runs', `.20260101-000000-x.json.${dead}.1700000000000.tmp`),
      liveJournalTmp: join(gitDir, 'rb', 'runs', `.20260101-000000-x.json.${live}.1700000000000.tmp`),
      journal: join(gitDir, 'rb', 'runs', '20260101-000000-x.json'),
    };
    for (const f of Object.values(files)) writeFileSync(f, '{}');

    const found = findLeftovers(r).map((l) => l.path).sort();
    expect(found).toEqual([deadSnap, deadStash, legacyOld, files.deadLockTmp, files.deadStale, files.deadJournalTmp].sort());
    expect(sweepLeftovers(r).map((l) => l.path).sort()).toEqual(found);
    for (const p of found) expect(existsSync(p), p).toBe(false);
    for (const p of [liveSnap, mine, legacyNew, notOurs, files.liveJournalTmp, files.journal]) expect(existsSync(p), p).toBe(true);
    expect(mine.startsWith(join(gitDir, `rb-restore.${process.pid}.`))).toBe(true);
  });
});
