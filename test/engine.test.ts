/**
 * The engine run by the built `rb` against real throwaway repositories (safety.md §3): the
 * confirmation rule without a TTY, the lock (two runs at once), SIGINT, and kill -9 followed by
 * `rb status`, `rb abort` and `rb resume`. Processes are killed at exact points with RB_FAULT
 * (src/engine/fault.ts). Every wait is bounded; nothing asserts on speed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rb, rbSpawn, waitFor } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';
import { tmpRepos, type TestRepo } from './helpers/repo.js';
import { addPlaybook, commonDir, journal, journalFiles, lockFile, onlyJournal } from './helpers/runs.js';

const repos = tmpRepos();
const NODE = JSON.stringify(process.execPath);

/**
 * A non-destructive playbook whose first step waits until the file `gate` exists or `ms` have
 * passed (default 3 s), so a test can hold a run in the middle for as long as it needs.
 */
const WAITER = "const fs = require('fs'); const [gate, ms] = process.argv.slice(1); const end = Date.now() + Number(ms); " +
  "const t = setInterval(() => { if ((gate && fs.existsSync(gate)) || Date.now() >= end) clearInterval(t); }, 20);";
const SLOW = `name: slow
title: Slow procedure
params:
  ms: { type: integer, default: 3000 }
  gate: { type: string, default: "" }
steps:
  - { id: wait, run: [${NODE}, -e, ${JSON.stringify(WAITER)}, "{{params.gate}}", "{{params.ms}}"] }
  - { id: after, run: [echo, done] }
`;

/** Snapshot, then two destructive steps that change tracked, untracked and new files. */
const WRECK = `name: wreck
title: Wreck the working copy
steps:
  - { id: snapshot, uses: snapshot }
  - { id: wipe, run: [sh, -c, "echo wrecked > README.md && rm -f notes.txt && echo new > added.txt"], destructive: true }
  - { id: more, run: [sh, -c, "echo more >> README.md && rm -f src/keep.ts"], destructive: true }
  - { id: done, run: [echo, done] }
`;

/** A repository with both playbooks and work in progress: a modified, a staged, an untracked file. */
function repo(): TestRepo {
  const r = repos.make();
  addPlaybook(r.root, 'slow', SLOW);
  addPlaybook(r.root, 'wreck', WRECK);
  r.write('src/keep.ts', 'export const keep = 1;\n');
  r.git('add', 'src/keep.ts');
  r.write('README.md', '# test repository\nwork in progress\n');
  r.write('notes.txt', 'untracked notes\n');
  return r;
}

const spawned: ReturnType<typeof rbSpawn>[] = [];
function start(cwd: string, args: string[], env: Record<string, string> = {}) {
  const p = rbSpawn(cwd, args, env);
  spawned.push(p);
  return p;
}
afterEach(() => {
  for (const p of spawned.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

/** The status of a step in the only journal, or undefined while there is none. */
function stepStatus(root: string, step: string): string | undefined {
  try {
    return onlyJournal(root).steps.find((s: { id: string }) => s.id === step)?.status;
  } catch {
    return undefined;
  }
}

describe('confirmation without a TTY', () => {
  it('a destructive playbook without --yes stops with exit 2, says to pass --yes, and changes nothing', () => {
    const r = repo();
    const before = manifest(r.root);
    for (const extra of [[], ['--json']]) {
      const res = rb(r.root, ['run', 'wreck', ...extra]);
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toContain('stdin is not a terminal');
      expect(res.stderr).toMatch(/^next: preview it with `rb plan wreck`, then run `rb run wreck( --json)? --yes`$/m);
    }
    expect(manifest(r.root)).toBe(before);
    expect(journalFiles(r.root)).toEqual([]);
    expect(existsSync(join(commonDir(r.root), 'rb'))).toBe(false);
  });
});

describe('the journal', () => {
  it("records the git identity as `git config` reads it: the last of several values, none when unset", () => {
    const r = repo();
    r.git('config', '--add', 'user.name', 'Second Name');
    r.git('config', '--add', 'user.email', 'second@example.invalid');
    expect(rb(r.root, ['run', 'slow', '--set', 'ms=0', '--yes']).code).toBe(0);
    expect(onlyJournal(r.root).user).toMatchObject({ name: 'Second Name', email: 'second@example.invalid' });

    const bare = repos.make();
    addPlaybook(bare.root, 'slow', SLOW);
    bare.git('config', '--unset-all', 'user.name');
    bare.git('config', '--unset-all', 'user.email');
    const env = { HOME: bare.dir, XDG_CONFIG_HOME: join(bare.dir, 'xdg'), GIT_CONFIG_NOSYSTEM: '1' };
    expect(rb(bare.root, ['run', 'slow', '--set', 'ms=0', '--yes'], env).code).toBe(0);
    expect(onlyJournal(bare.root).user).toMatchObject({ name: null, email: null });
  });
});

describe('the lock', () => {
  it('the second of two concurrent runs exits 4 naming the first run and its pid; the first finishes', async () => {
    const r = repo();
    const gate = join(r.dir, 'gate');
    const first = start(r.root, ['run', 'slow', '--set', `gate=${gate}`, '--set', 'ms=60000']);
    await waitFor(() => existsSync(lockFile(r.root)), 20_000, 'the first run to take the lock');
    const lock = JSON.parse(readFileSync(lockFile(r.root), 'utf8'));
    expect(lock).toMatchObject({ pid: first.child.pid, command: 'rb run slow' });
    expect(lock.runId).toMatch(/^\d{8}-\d{6}-slow$/);

    const second = rb(r.root, ['run', 'slow', '--set', 'ms=0']);
    expect(second.code, second.stderr).toBe(4);
    expect(second.stderr).toContain(`another rb run holds the lock: run ${lock.runId} (rb run slow), pid ${first.child.pid}`);
    expect(second.stderr).toMatch(/^next: /m);
    const other = rb(r.root, ['run', 'wreck', '--yes']);
    expect(other.code).toBe(4);
    expect(other.stderr).toContain(`run ${lock.runId}`);

    // rb status shows the run in progress
    await waitFor(() => stepStatus(r.root, 'wait') === 'running', 20_000, 'the first run to reach its waiting step');
    const st = rb(r.root, ['status', '--json']);
    expect(st.code).toBe(0);
    const status = JSON.parse(st.stdout);
    expect(status.lock).toMatchObject({ runId: lock.runId, pid: first.child.pid, stale: false });
    expect(status.running.map((x: { id: string }) => x.id)).toEqual([lock.runId]);
    expect(status.unresolved).toEqual([]);

    writeFileSync(gate, '');
    const done = await first.done;
    expect(done.code, done.stderr).toBe(0);
    expect(journalFiles(r.root)).toEqual([`${lock.runId}.json`]);
    expect(journal(r.root, lock.runId).status).toBe('succeeded');
    expect(existsSync(lockFile(r.root))).toBe(false);
  });

  it('two runs started at the same instant: exactly one runs, the other exits 4', async () => {
    const r = repo();
    const gate = join(r.dir, 'gate');
    const args = ['run', 'slow', '--set', `gate=${gate}`, '--set', 'ms=60000'];
    const runs = [start(r.root, args).done, start(r.root, args).done];
    // the loser finishes first, while the winner waits at the gate
    const loser = await Promise.race(runs);
    writeFileSync(gate, '');
    const [a, b] = await Promise.all(runs);
    expect(loser.code, loser.stderr).toBe(4);
    expect([a.code, b.code].sort(), a.stderr + b.stderr).toEqual([0, 4]);
    expect(loser.stderr).toMatch(/another rb run holds the lock: run \d{8}-\d{6}-slow(-2)? \(rb run slow\), pid \d+/);
    expect(journalFiles(r.root)).toHaveLength(1);
    expect(onlyJournal(r.root).status).toBe('succeeded');
    expect(existsSync(lockFile(r.root))).toBe(false);
  });
});

describe('SIGINT', () => {
  it('while a step runs: exit 130, says rb resume / rb undo, journals interrupted, releases the lock', async () => {
    const r = repo();
    const p = start(r.root, ['run', 'slow', '--set', 'ms=20000']);
    await waitFor(() => stepStatus(r.root, 'wait') === 'running', 20_000, 'the sleeping step to start');
    p.child.kill('SIGINT');
    const res = await p.done;
    expect(res.code, res.stderr).toBe(130);
    const j = onlyJournal(r.root);
    expect(res.stderr).toContain(`rb resume ${j.id}`);
    expect(res.stderr).toContain(`rb abort ${j.id}`);
    expect(j.status).toBe('interrupted');
    expect(j.steps.find((s: { id: string }) => s.id === 'after').status).toBe('pending');
    expect(j.endedAt).toBeTruthy();
    expect(existsSync(lockFile(r.root))).toBe(false);
    const h = JSON.parse(rb(r.root, ['history', '--json']).stdout);
    expect(h.runs[0]).toMatchObject({ id: j.id, status: 'interrupted' });
    // nothing was changed, so nothing blocks the next run
    expect(rb(r.root, ['run', 'slow', '--set', 'ms=0']).code).toBe(0);
  });

  it('at an exact point (RB_FAULT=before:<step>, RB_FAULT_SIGNAL=SIGINT): the same', () => {
    const r = repo();
    const res = rb(r.root, ['run', 'slow', '--set', 'ms=0'], { RB_FAULT: 'before:after', RB_FAULT_SIGNAL: 'SIGINT' });
    expect(res.code, res.stderr).toBe(130);
    const j = onlyJournal(r.root);
    expect(res.stderr).toMatch(/rb abort .*rb resume/);
    expect(j.status).toBe('interrupted');
    expect(j.steps.find((s: { id: string }) => s.id === 'wait').status).toBe('succeeded');
    expect(existsSync(lockFile(r.root))).toBe(false);
  });
});

describe('kill -9', () => {
  /** Run wreck and kill it (SIGKILL) right before its second destructive step. */
  function killed(r: TestRepo): { id: string } {
    const res = rb(r.root, ['run', 'wreck', '--yes'], { RB_FAULT: 'before:more' });
    expect(res.signal, res.stderr).toBe('SIGKILL');
    expect(res.code).toBe(null);
    const j = onlyJournal(r.root);
    expect(j.status).toBe('running'); // as the dead process left it
    expect(j.snapshot).toBeTruthy();
    expect(readFileSync(join(r.root, 'README.md'), 'utf8')).toBe('wrecked\n');
    expect(existsSync(lockFile(r.root))).toBe(true);
    return { id: j.id };
  }

  it('rb status shows the interrupted run and what to do; other runs exit 4; rb abort takes the stale lock over and puts everything back', () => {
    const r = repo();
    const before = manifest(r.root, { exclude: ['rollbacks'] });
    const { id } = killed(r);

    const st = rb(r.root, ['status']);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`^Interrupted: ${id} \\(wreck\\) at step more`, 'm'));
    expect(st.stdout).toMatch(/^Lock: held by run .* STALE: that process is gone$/m);
    expect(st.stdout).toContain(`rb resume ${id}`);
    expect(st.stdout).toContain(`rb abort ${id}`);
    const sj = JSON.parse(rb(r.root, ['status', '--json']).stdout);
    expect(sj.unresolved).toEqual([expect.objectContaining({ id, status: 'interrupted', playbook: 'wreck' })]);
    expect(sj.lock).toMatchObject({ runId: id, stale: true });
    expect(sj.next.join('\n')).toContain(`rb abort ${id}`);
    // the stale lock is taken over by what can run now, not by "the next rb run" (that exits 4)
    expect(sj.next.join('\n')).toContain(`the lock of run ${id} is stale (pid ${sj.lock.pid} is gone); rb resume or rb abort of run ${id} takes it over`);
    const show = rb(r.root, ['show', id]);
    expect(show.stdout).toContain('status:   interrupted');
    expect(show.stdout).toMatch(/… more — more \[exec\] running/);
    expect(JSON.parse(rb(r.root, ['history', '--json']).stdout).runs[0]).toMatchObject({ id, status: 'interrupted' });

    // nothing else runs until it is resolved
    for (const args of [['run', 'slow', '--set', 'ms=0'], ['run', 'wreck', '--yes']]) {
      const blocked = rb(r.root, args);
      expect(blocked.code, args.join(' ')).toBe(4);
      expect(blocked.stderr).toContain(`run ${id} (wreck) is interrupted`);
      expect(blocked.stderr).toContain(`rb abort ${id}`);
    }

    // abort is destructive: without --yes it stops, and points at a preview that exists
    const noYes = rb(r.root, ['abort', id]);
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toContain(`rb abort ${id} --yes`);
    expect(noYes.stderr).not.toContain('rb plan abort');

    const ab = rb(r.root, ['abort', id, '--yes']);
    expect(ab.code, ab.stderr + ab.stdout).toBe(0);
    expect(ab.stdout).toContain(`took over a stale lock of run ${id}`);
    expect(manifest(r.root, { exclude: ['rollbacks'] })).toBe(before);
    expect(journal(r.root, id).status).toBe('aborted');
    expect(existsSync(lockFile(r.root))).toBe(false);
    const after = JSON.parse(rb(r.root, ['status', '--json']).stdout);
    expect(after.unresolved).toEqual([]);
    expect(after.lock).toBe(null);
  });

  it('rb resume takes the stale lock over and finishes the run', () => {
    const r = repo();
    const { id } = killed(r);
    // the step it was killed in runs the user's destructive command: never repeated on its own
    const refused = rb(r.root, ['resume', id]);
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.stderr).toContain(`rb resume ${id} --retry more`);
    expect(readFileSync(join(r.root, 'README.md'), 'utf8')).toBe('wrecked\n');
    const res = rb(r.root, ['resume', id, '--retry', 'more']);
    expect(res.code, res.stderr + res.stdout).toBe(0);
    expect(res.stdout).toContain(`took over a stale lock of run ${id}`);
    const j = journal(r.root, id);
    expect(j.status).toBe('succeeded');
    expect(j.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(readFileSync(join(r.root, 'README.md'), 'utf8')).toBe('wrecked\nmore\n');
    expect(existsSync(join(r.root, 'src', 'keep.ts'))).toBe(false);
    expect(existsSync(lockFile(r.root))).toBe(false);
  });

  it('a run killed before it changed anything leaves a stale lock that the next run reports and takes over', () => {
    const r = repo();
    const k = rb(r.root, ['run', 'slow'], { RB_FAULT: 'before:wait' });
    expect(k.signal).toBe('SIGKILL');
    const dead = onlyJournal(r.root);
    const st = rb(r.root, ['status']);
    expect(st.stdout).toContain(`the lock of run ${dead.id} is stale (pid ${dead.pid} is gone)`);
    const next = rb(r.root, ['run', 'slow', '--set', 'ms=0']);
    expect(next.code, next.stderr).toBe(0);
    const said = `took over a stale lock of run ${dead.id} (pid ${dead.pid} on ${dead.host} is gone)`;
    expect(next.stderr).toContain(`rb: ${said}`); // at once, before the task list
    expect(next.stdout).toContain(`warning: ${said}`);
    expect(existsSync(lockFile(r.root))).toBe(false);
    // the dead run changed nothing: the run that took its lock over closed its journal
    expect(st.stdout).toContain(`Stopped: ${dead.id} (slow) was killed`);
    expect(journal(r.root, dead.id).status).toBe('interrupted');
  });
});
