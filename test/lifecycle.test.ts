/**
 * The run lifecycle after a crash, point by point (issue: "After any crash, one command puts
 * everything back, and rb never says "done" when work is missing"). Each case is a failure seen
 * on the earlier rb; the crash sweep (crash-sweep.test.ts) walks every point of every command.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { RB, type RbResult } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';
import { allRefs, gitDirOf, emergencyRepo, outOf, rbAsync, runsOf, sprintRepo, waitGitIdle, expectCode } from './helpers/scenarios.js';

tmpRepos();

function state(r: TestRepo): string {
  return manifest(r.root, { exclude: ['rollbacks'] }) + allRefs(r, 'refs/heads', 'refs/tags') + 'stash:\n' + r.git('stash', 'list', '--format=%H %gs');
}


async function killed(r: TestRepo, args: string[], point: string): Promise<void> {
  const k = await rbAsync(r.root, args, { RB_FAULT: point });
  expect(k.signal, `${args.join(' ')} at ${point}\n${outOf(k)}`).toBe('SIGKILL');
  await waitGitIdle(r);
}

function addPlaybook(r: TestRepo, name: string, text: string): void {
  mkdirSync(join(r.root, '.rb', 'playbooks'), { recursive: true });
  writeFileSync(join(r.root, '.rb', 'playbooks', `${name}.yaml`), text);
}

const RESET_PLAYBOOK = `name: reset-here
steps:
  - { id: snapshot, uses: snapshot }
  - { id: reset, uses: git.reset-hard, with: { ref: "{{baseline}}" } }
  - { id: wait, run: [sleep, "0"] }
`;

describe.concurrent('after a kill, the refs the run moved itself are where it left them', { timeout: 120_000 }, () => {
  it('a playbook killed after its git.reset-hard step: rb abort puts everything back (it refused with exit 5)', async () => {
    const r = copyRepo(sprintRepo());
    addPlaybook(r, 'reset-here', RESET_PLAYBOOK);
    const before = state(r);
    await killed(r, ['run', 'reset-here', '--yes'], 'after:reset');
    const st = await rbAsync(r.root, ['status']);
    expect(st.stdout).toMatch(/between steps reset and wait/);
    expectCode(await rbAsync(r.root, ['abort', '--yes']), 0, 'abort');
    expect(state(r)).toBe(before);
  });

  it('rb sprint killed before its retry step: rb abort (it refused with exit 5), and status names the step', async () => {
    const r = copyRepo(sprintRepo());
    const before = state(r);
    await killed(r, ['sprint', '4', '--yes', '--no-tests'], 'git:update-ref@backup');
    const st = await rbAsync(r.root, ['status']);
    expect(st.stdout, 'not the group "document"').toMatch(/at step backup/);
    expectCode(await rbAsync(r.root, ['abort', '--yes']), 0, 'abort');
    expect(state(r)).toBe(before);
  });

  it('a sprint resumed after a kill just past its WIP commit leaves no sprint file on the retry branch', async () => {
    const r = copyRepo(sprintRepo());
    await killed(r, ['sprint', '4', '--yes', '--no-tests'], 'git:update-ref@wip');
    expectCode(await rbAsync(r.root, ['resume', '--yes']), 0, 'resume');
    expect(r.git('symbolic-ref', 'HEAD').trim()).toBe('refs/heads/refactor/sprint-4-retry');
    expect(existsSync(join(r.root, 'notes.md')), 'the untracked note went with the WIP commit').toBe(false);
    expect(existsSync(join(r.root, 'src', 'auth.ts'))).toBe(false);
    expect(r.git('status', '--porcelain', '--untracked-files=all').trim()).toBe('');
  });
});

describe('resume of an emergency killed as its stash entry was stored', { timeout: 120_000 }, () => {
  it('keeps the one entry (found by the crash sweep: a second entry outlived the undo)', async () => {
    const r = copyRepo(emergencyRepo());
    const before = state(r);
    await killed(r, ['emergency', '--yes'], 'git:stash@stash');
    expectCode(await rbAsync(r.root, ['resume', '--yes']), 0, 'resume');
    expect(r.git('stash', 'list').trim().split('\n')).toHaveLength(1);
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0, 'undo');
    expect(state(r)).toBe(before);
  });
});

describe.concurrent('a restore is a run like any other', { timeout: 120_000 }, () => {
  /** A snapshot, then new work: the restore must bring back the snapshot, its abort the new work. */
  function restoreRepo(): { r: TestRepo; id: string } {
    const r = copyRepo(emergencyRepo());
    const made = spawnSync(process.execPath, [RB, 'snapshots', 'create', '-m', 'x', '--json'], { cwd: r.root, encoding: 'utf8' });
    const id = JSON.parse(made.stdout).snapshot?.id ?? r.git('for-each-ref', '--format=%(refname:lstrip=3)', 'refs/rb/snapshots/').trim();
    r.write('src/a.ts', 'export const a = 77; // after the snapshot\n');
    r.write('new-work.txt', 'made after the snapshot\n');
    return { r, id };
  }

  it('rb snapshots restore killed after it replaced files: rb abort gives the state before it (it said nothing destructive ran)', async () => {
    const { r, id } = restoreRepo();
    const before = state(r);
    await killed(r, ['snapshots', 'restore', id, '--yes'], 'git:read-tree@restore');
    const abort = await rbAsync(r.root, ['abort', '--yes']);
    expectCode(abort, 0, 'abort');
    expect(abort.stdout).not.toMatch(/nothing destructive ran/);
    expect(state(r)).toBe(before);
  });

  it('killed late and resumed, its undo gives the state before the first attempt (it gave the half-restored one)', async () => {
    const { r, id } = restoreRepo();
    const before = state(r);
    await killed(r, ['snapshots', 'restore', id, '--yes'], 'git:update-index@restore');
    expectCode(await rbAsync(r.root, ['resume', '--yes']), 0, 'resume');
    const run = runsOf(r).find((x) => x.playbook === 'restore')!;
    expectCode(await rbAsync(r.root, ['undo', run.id, '--yes']), 0, 'undo');
    expect(state(r)).toBe(before);
  });
});

describe.concurrent('two stuck runs never block each other', { timeout: 120_000 }, () => {
  it('an abort killed part-way: rb abort of the first run finishes it (it exited 4 naming the other)', async () => {
    const r = copyRepo(emergencyRepo());
    const original = state(r);
    await killed(r, ['emergency', '--yes'], 'after:clean');
    const emergency = runsOf(r)[0]!;
    await killed(r, ['abort', emergency.id, '--yes'], 'git:read-tree@restore');
    const res = await rbAsync(r.root, ['abort', emergency.id, '--yes']);
    expectCode(res, 0, 'abort of the emergency');
    expect(res.stderr).toMatch(/stopped part-way; finishing it/);
    expect(state(r)).toBe(original);
    const st = JSON.parse((await rbAsync(r.root, ['status', '--json'])).stdout);
    expect(st.unresolved).toEqual([]);
  });
});

describe.concurrent('resume never repeats damage', { timeout: 120_000 }, () => {
  it('a killed rb guard is finished by rb resume: its snapshot comes back, the command is not run again', async () => {
    const r = copyRepo(sprintRepo());
    const before = state(r);
    // the guarded command does its damage, then rb dies under it (kill -9 of its parent)
    const k = await rbAsync(r.root, ['guard', '--', 'sh', '-c', 'echo run >> ran.log; rm -rf src; kill -9 $PPID; sleep 1']);
    expect(k.signal, outOf(k)).toBe('SIGKILL');
    await waitGitIdle(r);
    expect(existsSync(join(r.root, 'src'))).toBe(false);
    const res = await rbAsync(r.root, ['resume', '--yes']);
    expectCode(res, 0, 'resume');
    expect(state(r)).toBe(before);
    expect(existsSync(join(r.root, 'ran.log'))).toBe(false);
  });

  it('a destructive command is not re-run without --retry; --skip records the skip in the journal and the audit', async () => {
    const r = copyRepo(sprintRepo());
    addPlaybook(r, 'twice', `name: twice
steps:
  - { id: snapshot, uses: snapshot }
  - { id: append, run: [sh, -c, "echo once >> counter.txt"], destructive: true }
  - { id: after, run: [echo, done] }
`);
    const r2 = r;
    await killed(r2, ['run', 'twice', '--yes'], 'before:append');
    const refused = await rbAsync(r2.root, ['resume', '--yes']);
    expectCode(refused, 3, 'resume of a started destructive step');
    expect(refused.stderr).toMatch(/--retry append/);
    expect(refused.stderr).toMatch(/--skip append/);
    const skipped = await rbAsync(r2.root, ['resume', '--skip', 'append', '--yes']);
    expectCode(skipped, 0, 'resume --skip');
    const j = JSON.parse(readFileSync(join(gitDirOf(r2), 'rb', 'runs', `${runsOf(r2)[0]!.id}.json`), 'utf8'));
    expect(j.steps.find((s: { id: string }) => s.id === 'append')).toMatchObject({ status: 'skipped', skippedByUser: true });
    expect(j.warnings.join('\n')).toMatch(/skipped at the user's request/);
    expect(existsSync(join(r2.root, 'counter.txt'))).toBe(false);
    const audit = readFileSync(join(r2.root, 'rollbacks', 'audit.jsonl'), 'utf8');
    expect(audit).toMatch(/"action":"resume"/);
  });
});

describe('a dead run\'s processes die with it', { timeout: 120_000 }, () => {
  it('the command a killed rb started is stopped before the abort restores anything, and rb says so', async () => {
    const r = copyRepo(sprintRepo());
    addPlaybook(r, 'late', `name: late
steps:
  - { id: snapshot, uses: snapshot }
  - { id: slow, run: [sh, -c, "touch started.flag; sleep 4; echo late > src/a.ts"] }
`);
    const before = state(r);
    const p = rbAsync(r.root, ['run', 'late', '--yes']);
    // killed once the command started and its process group is journaled
    const journaled = () => runsOf(r).some((x) => (JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${x.id}.json`), 'utf8')).processes ?? []).length > 0);
    for (let i = 0; i < 1200 && !(existsSync(join(r.root, 'started.flag')) && journaled()); i++) await new Promise((res) => setTimeout(res, 50));
    expect(existsSync(join(r.root, 'started.flag')), 'the step started').toBe(true);
    const pid = JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'lock'), 'utf8')).pid as number;
    process.kill(pid, 'SIGKILL');
    await p;
    const run = runsOf(r)[0]!;
    const j = JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${run.id}.json`), 'utf8'));
    expect(j.processes?.length, 'the process group is journaled').toBeGreaterThan(0);
    const abort = await rbAsync(r.root, ['abort', '--yes']);
    expectCode(abort, 0, 'abort');
    expect(abort.stderr).toMatch(/stopped `sh -c .*` \(process group \d+, step slow\) left running by run/);
    await new Promise((res) => setTimeout(res, 4500));
    r.git('rm', '-q', '--cached', '--ignore-unmatch', 'started.flag');
    expect(readFileSync(join(r.root, 'src', 'a.ts'), 'utf8')).not.toContain('late');
    void before;
  });
});

describe.concurrent('what rb status and rb undo show', { timeout: 120_000 }, () => {
  it('a damaged journal is listed with its snapshot and the command that restores it', async () => {
    const r = copyRepo(emergencyRepo());
    expectCode(await rbAsync(r.root, ['emergency', '--yes']), 0, 'emergency');
    const run = runsOf(r)[0]!;
    truncateSync(join(gitDirOf(r), 'rb', 'runs', `${run.id}.json`), 100);
    const st = await rbAsync(r.root, ['status']);
    expect(st.stdout).toContain(`Damaged: the journal of run ${run.id} cannot be read`);
    expect(st.stdout).toContain(`its snapshot is ${run.snapshot}`);
    expect(st.stdout).toContain(`rb snapshots restore ${run.snapshot}`);
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 5, 'undo');
    expect(undo.stderr).toContain(`the journal of run ${run.id} cannot be read`);
    expect(undo.stderr).toContain('rb status');
  });

  it('an interrupted playbook of plain commands shows in rb status', async () => {
    const r = copyRepo(sprintRepo());
    addPlaybook(r, 'plain', `name: plain
steps:
  - { id: one, run: [echo, one] }
  - { id: two, run: [echo, two] }
`);
    const k = await rbAsync(r.root, ['run', 'plain', '--yes'], { RB_FAULT: 'before:two', RB_FAULT_SIGNAL: 'SIGINT' });
    expectCode(k, 130, 'interrupted');
    const st = await rbAsync(r.root, ['status']);
    expect(st.stdout).toMatch(/Stopped: \S+ \(plain\) was interrupted at step two, .*but steps? one(, two)? ran commands whose effects rb does not track/);
  });

  it('Ctrl-C at the confirmation: nothing changed, exit 130, no stack trace', async () => {
    const r = copyRepo(emergencyRepo());
    const before = state(r);
    // a pseudo-terminal (script); Ctrl-C typed once the prompt is on the screen
    const child = spawn('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(RB)} emergency`, '/dev/null'], {
      cwd: r.root, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const done = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    child.stdout.on('data', (d) => {
      out += d;
      if (/Run Emergency/.test(out) && !child.stdin.writableEnded) child.stdin.end('\x03');
    });
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await done;
    clearTimeout(timer);
    expect(code, out).toBe(130);
    expect(out).toMatch(/cancelled at the prompt; nothing was changed/);
    expect(out).not.toMatch(/ExitPromptError|please report this/);
    expect(state(r)).toBe(before);
    expect(runsOf(r)).toEqual([]);
  });
});
