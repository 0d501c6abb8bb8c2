/**
 * Faults and undo eligibility, with the built `rb` (dist/cli.js) on real repositories.
 *
 * F. `rb emergency` is killed (SIGKILL, through RB_FAULT) at every step boundary of
 *    playbooks/emergency.yaml and in the middle of the snapshot, the reset and the clean; then
 *    `rb status` must name the run and `rb abort` must bring back the identical manifest (and
 *    branches, and stash list). Same for SIGINT at a few points (exit 130).
 * G. undo eligibility: a run already undone, outside the undo window, a branch the run created
 *    that moved since (refused, nothing changed; --force proceeds).
 *
 * One prepared repository is copied per case; cases run concurrently.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { allRefs, gitDirOf, emergencyRepo, oid, outOf, rbAsync, rbTempEntries, runsOf, sprintRepo, waitGitIdle, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };


let faultTpl: TestRepo | null = null;
/**
 * The emergency scenario (feature branch with staged/unstaged/deleted/untracked/ignored work,
 * .env 0600, a build dir, an empty dir) plus a local commit on `baseline` that origin does not
 * have, so the reset moves a branch other than the one HEAD started on.
 */
function faultRepo(): TestRepo {
  if (!faultTpl) {
    const r = copyRepo(emergencyRepo());
    const local = r.git('commit-tree', 'baseline^{tree}', '-p', 'baseline', '-m', 'local commit on baseline').trim();
    r.git('update-ref', 'refs/heads/baseline', local);
    faultTpl = r;
  }
  return copyRepo(faultTpl);
}

/** Everything that must come back: the manifest, every branch and tag, the stash list. */
function state(r: TestRepo): string {
  return manifest(r.root, EXCL) + allRefs(r, 'refs/heads', 'refs/tags') + 'stash:\n' + r.git('stash', 'list');
}

function emergencyStepIds(): string[] {
  const pb = parseYaml(readFileSync(new URL('../playbooks/emergency.yaml', import.meta.url), 'utf8'));
  return pb.steps.map((s: { id: string }) => s.id);
}

/**
 * Run `rb emergency` with a fault, wait for the git it left running, then check what
 * `rb status` says and that `rb abort` (or `rb undo` for a run that finished) restores all.
 */
async function faultCase(point: string, signal: 'SIGKILL' | 'SIGINT'): Promise<void> {
  const r = faultRepo();
  const before = state(r);
  // services on (none configured): the stop and start steps really run, so their boundaries fire
  const res = await rbAsync(r.root, ['emergency', '--yes'], { RB_FAULT: point, RB_FAULT_SIGNAL: signal });
  if (signal === 'SIGKILL') expect(res.signal, `${point}: rb should have been killed\n${outOf(res)}`).toBe('SIGKILL');
  else {
    expectCode(res, 130, point);
    expect(res.stderr).toMatch(/interrupted/);
  }
  await waitGitIdle(r);

  const runs = runsOf(r);
  expect(runs, point).toHaveLength(1);
  const run = runs[0]!;
  const status = await rbAsync(r.root, ['status']);
  expectCode(status, 0, `${point}: rb status`);
  expect(status.stdout, `${point}: rb status names the run`).toContain(run.id);

  const finished = run.status === 'succeeded';
  const fix = await rbAsync(r.root, finished ? ['undo', '--yes'] : ['abort', '--yes']);
  expectCode(fix, 0, `${point}: rb ${finished ? 'undo' : 'abort'}`);
  expect(state(r), `${point}: state after rb ${finished ? 'undo' : 'abort'}`).toBe(before);

  // resolved: the run is closed, the lock is free, the next command may run
  const closed = runsOf(r).find((x) => x.id === run.id)!;
  expect(closed.status, point).toBe(finished ? 'undone' : 'aborted');
  expect(existsSync(join(gitDirOf(r), 'rb', 'lock')), `${point}: lock released`).toBe(false);
}

// =================================================================================================
describe.concurrent('F. killed rb emergency: rb status names the run, rb abort restores everything', { timeout: 120_000 }, () => {
  const boundaries = emergencyStepIds().flatMap((id) => [`before:${id}`, `after:${id}`]);
  const middles = ['git:unpack-objects@snapshot', 'git:update-ref@snapshot', 'git:reset@reset', 'git:clean@clean'];

  it('every step id of playbooks/emergency.yaml is covered', () => {
    expect(emergencyStepIds()).toEqual(['stop', 'snapshot', 'stash', 'fetch', 'switch', 'reset', 'clean', 'install', 'start', 'verify', 'report', 'metrics', 'notify']);
  });

  it.each([...boundaries, ...middles])('SIGKILL at %s', (point) => faultCase(point, 'SIGKILL'));

  it.each(['before:stash', 'git:reset@reset', 'git:clean@clean', 'after:verify'])('SIGINT at %s (exit 130)', (point) => faultCase(point, 'SIGINT'));
});

// =================================================================================================
/** The git commands one `rb emergency --yes` of faultRepo() spawns (RB_TRACE_GIT prints one line each). */
async function gitCommandsOfOneRun(): Promise<number> {
  const r = faultRepo();
  const res = await rbAsync(r.root, ['emergency', '--yes'], { RB_TRACE_GIT: '1' });
  expectCode(res, 0, 'traced run');
  return res.stderr.split('\n').filter((l) => l.startsWith('[git ')).length;
}

/**
 * I. SIGKILL anywhere, the early points included (before the journal says running: the lock
 * taken and nothing else, or no lock yet), then what a user runs next: the lock of the dead
 * process is taken over and said so, the temporary directories it left are removed, and after
 * the recovery (rb abort for a run that changed something, else rb emergency again and rb undo)
 * the state is the one before, with no lock and no temporary entry left.
 */
// (the emergency starts 27 git commands since issue 18's last round: the later points are closer together)
const KILL_POINTS = ['lock', 'git#1', 'git#2', 'git#3', 'git#4', 'git#5', 'git#6', 'git#7', 'git#8', 'git#10', 'git#11', 'git#12', 'git#14', 'git#16', 'git#17', 'git#18', 'git#20', 'git#22', 'git#24', 'git#26'];

async function killCase(point: string): Promise<void> {
  const r = faultRepo();
  const before = state(r);
  const killed = await rbAsync(r.root, ['emergency', '--yes'], { RB_FAULT: point });
  expect(killed.signal, `${point}: rb should have been killed\n${outOf(killed)}`).toBe('SIGKILL');
  await waitGitIdle(r);

  const lockLeft = existsSync(join(gitDirOf(r), 'rb', 'lock'));
  const tempLeft = rbTempEntries(r);
  const status = await rbAsync(r.root, ['status']);
  expectCode(status, 0, `${point}: rb status`);
  if (lockLeft) expect(status.stdout, `${point}: rb status calls the lock stale`).toMatch(/STALE: that process is gone/);
  if (tempLeft.some((t) => t.startsWith('rb-'))) expect(status.stdout, `${point}: rb status names the leftovers`).toMatch(/left by rb processes that are gone/);

  const run = runsOf(r)[0];
  const mustResolve = run && run.changed && run.status !== 'succeeded';
  if (mustResolve) {
    expectCode(await rbAsync(r.root, ['abort', '--yes']), 0, `${point}: rb abort`);
  } else if (run?.status === 'succeeded') {
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0, `${point}: rb undo`);
  } else {
    // killed before it changed anything: the next run goes ahead, cleaning up after the dead one
    const again = await rbAsync(r.root, ['emergency', '--yes']);
    expectCode(again, 0, `${point}: rb emergency again`);
    if (lockLeft) expect(again.stderr, `${point}: says it took the lock over`).toMatch(/rb: took over a stale lock of run \S+ \(pid \d+ on \S+ is gone\)/);
    if (tempLeft.length) expect(again.stderr, `${point}: says it removed the leftovers`).toMatch(/rb: removed .* left by rb processes that are gone/);
    if (run) expect(runsOf(r).find((x) => x.id === run.id)!.status, `${point}: the dead run is closed`).toBe('interrupted');
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0, `${point}: rb undo`);
  }
  expect(state(r), `${point}: state after the recovery`).toBe(before);
  expect(existsSync(join(gitDirOf(r), 'rb', 'lock')), `${point}: lock released`).toBe(false);
  expect(rbTempEntries(r), `${point}: temporary entries`).toEqual([]);
}

describe.concurrent('I. rb emergency killed (SIGKILL) at 20 points from start to end: the next command cleans up', { timeout: 180_000 }, () => {
  it('the 20 points lie within one run, and the early ones before its journal', async () => {
    const n = await gitCommandsOfOneRun();
    expect(n, 'git commands of one rb emergency').toBeGreaterThan(Number(KILL_POINTS[KILL_POINTS.length - 1]!.slice(4)));
    expect(KILL_POINTS).toHaveLength(20);
  });

  it.each(KILL_POINTS)('SIGKILL at %s', (point) => killCase(point));
});

// =================================================================================================
describe.concurrent('G. undo eligibility', { timeout: 120_000 }, () => {
  it('a run already undone: exit 5 naming the undo run, nothing changed', async () => {
    const r = copyRepo(sprintRepo());
    expectCode(await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']), 0, 'sprint');
    const sprint = runsOf(r)[0]!;
    expectCode(await rbAsync(r.root, ['undo', sprint.id, '--yes']), 0, 'undo');
    const undo = runsOf(r).find((x) => x.undoOf === sprint.id)!;
    const before = state(r);
    const again = await rbAsync(r.root, ['undo', sprint.id, '--yes']);
    expectCode(again, 5, 'undo again');
    expect(again.stderr).toContain(`already undone by run ${undo.id}`);
    expect(state(r)).toBe(before);
  });

  it('outside the undo window: exit 5 with the hours, nothing changed', async () => {
    const r = copyRepo(sprintRepo());
    expectCode(await rbAsync(r.root, ['files', 'src/a.ts', '--yes', '--no-tests']), 0, 'files');
    writeFileSync(join(r.root, 'rb.config.yaml'), 'undo: { windowHours: 0.0001 }\n');
    await new Promise((res) => setTimeout(res, 1000));
    const before = state(r);
    const res = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(res, 5, 'undo');
    expect(res.stderr).toMatch(/ended \d+\.\d hours ago, outside the undo window of 0\.0001 hours/);
    expect(state(r)).toBe(before);
  });

  it('a branch the run created moved since: exit 5 naming it, nothing changed; --force proceeds', async () => {
    const r = copyRepo(sprintRepo());
    const original = state(r);
    expectCode(await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']), 0, 'sprint');
    r.write('src/retry.ts', 'export const retry = 1;\n');
    r.git('add', 'src/retry.ts');
    r.git('commit', '-q', '-m', 'first retry commit');
    const before = state(r);
    const res = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(res, 5, 'undo');
    expect(res.stderr).toMatch(/refactor\/sprint-4-retry was created by run \S+ and has moved since: it is at [0-9a-f]{12}/);
    expect(res.stderr).toContain('--force');
    expect(state(r)).toBe(before);
    expect(runsOf(r)).toHaveLength(1);

    const retryCommit = oid(r, 'refactor/sprint-4-retry');
    const forced = await rbAsync(r.root, ['undo', '--yes', '--force']);
    expectCode(forced, 0, 'undo --force');
    expect(state(r)).toBe(original);
    // the retry commit is not lost: the undo's own safety snapshot holds it
    expect(r.git('for-each-ref', '--contains', retryCommit, '--format=%(refname)', 'refs/rb/snapshots/')).not.toBe('');
  });
});

describe('H. resume after the snapshot step', { timeout: 120_000 }, () => {
  it('rb emergency killed before its stash step, files edited, rb resume: the stash entry holds the edits of now', async () => {
    const r = faultRepo();
    const killed = await rbAsync(r.root, ['emergency', '--yes'], { RB_FAULT: 'before:stash', RB_FAULT_SIGNAL: 'SIGKILL' });
    expect(killed.signal).toBe('SIGKILL');
    await waitGitIdle(r);
    const run = runsOf(r)[0]!;
    // the snapshot step's stash trees described the working copy of then: never journaled
    expect(JSON.stringify(run.steps.find((s: { id: string }) => s.id === 'snapshot'))).not.toContain('stashTrees');
    r.write('src/a.ts', 'export const a = 4; // edited while the run was interrupted\n');
    const res = await rbAsync(r.root, ['resume', run.id, '--yes']);
    expectCode(res, 0, 'resume');
    expect(r.git('show', 'stash@{0}:src/a.ts')).toBe('export const a = 4; // edited while the run was interrupted\n');
    expect(r.git('stash', 'list')).toContain('EMERGENCY');
  });
});
