/**
 * The crash sweep (issue: "After any crash, one command puts everything back").
 *
 * For every command that changes the repository — emergency, sprint, files, recover, guard,
 * undo, abort, resume, snapshots restore, run <playbook> — rb is killed (SIGKILL through
 * RB_FAULT) at every step boundary and at every git command the run makes (`git#<n>` walks a
 * whole run); then the test does exactly what `rb status` says (its `nextCommand`, with --yes)
 * and compares byte-level manifests (files, modes, HEAD, index, git state) plus every branch,
 * tag and the stash list. Three outcomes only:
 *   - equal to the state before the command (abort, undo), or, where status's command finishes
 *     an interrupted undo/abort/restore, equal to what the completed command gives;
 *   - a refusal that changes nothing and names the next command;
 *   - never a success message while the state says otherwise.
 * A second path resumes instead (`rb resume`): the run completes (then `rb undo` of it gives the
 * state before), or, for a deterministic command, gives exactly what the completed command gives.
 *
 * `npx vitest run --project crash` samples a few points of each command; `npm run test:crash` (RB_CRASH_SWEEP=full)
 * walks them all; .ci/run runs RB_CRASH_SWEEP=ci (every step boundary, every third git command).
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { rb, type RbResult } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';
import { allRefs, emergencyRepo, gitDirOf, outOf, rbAsync, rbTempEntries, runsOf, sprintRepo, waitGitIdle, expectCode } from './helpers/scenarios.js';

tmpRepos();

/** full: every point; ci: every step boundary and every third git command; else a sample */
const MODE = process.env.RB_CRASH_SWEEP === 'full' ? 'full' : process.env.RB_CRASH_SWEEP === 'ci' ? 'ci' : 'sample';
const FULL = MODE !== 'sample';

/** Everything that must come back: the manifest, every branch and tag, the stash list. */
function state(r: TestRepo): string {
  return manifest(r.root, { exclude: ['rollbacks'] }) + allRefs(r, 'refs/heads', 'refs/tags') + 'stash:\n' + r.git('stash', 'list', '--format=%H %gs');
}


/** A subject of the sweep: a prepared repository and the command run on it. */
interface Subject {
  name: string;
  template: () => TestRepo;
  argv: string[];
  /** the completed command's state is the same every time (no stamps, new commits or stash entries in it) */
  deterministic?: boolean;
  /** the repository before the run the command acts on (resume: before the interrupted run), which `rb abort` gives back */
  beforeRun?: () => TestRepo;
}

const cache = new Map<string, TestRepo>();
function once(key: string, build: () => TestRepo): () => TestRepo {
  return () => {
    let r = cache.get(key);
    if (!r) {
      r = build();
      cache.set(key, r);
    }
    return r;
  };
}

/** emergencyRepo with a local commit on `baseline` that origin lacks (the reset moves a branch HEAD is not on). */
const emergencyTpl = once('emergency', () => {
  const r = copyRepo(emergencyRepo());
  const local = r.git('commit-tree', 'baseline^{tree}', '-p', 'baseline', '-m', 'local commit on baseline').trim();
  r.git('update-ref', 'refs/heads/baseline', local);
  return r;
});

function setupRb(r: TestRepo, args: string[], env: Record<string, string> = {}): RbResult {
  return rb(r.root, args, env);
}

/** After a finished emergency: the subject is its undo. */
const afterEmergencyTpl = once('after-emergency', () => {
  const r = copyRepo(emergencyTpl());
  expectCode(setupRb(r, ['emergency', '--yes']), 0, 'setup: emergency');
  return r;
});

/** An emergency killed after its clean: the subjects are its abort and its resume. */
const killedEmergencyTpl = once('killed-emergency', () => {
  const r = copyRepo(emergencyTpl());
  const k = setupRb(r, ['emergency', '--yes'], { RB_FAULT: 'after:clean' });
  if (k.signal !== 'SIGKILL') throw new Error(`setup: emergency was not killed\n${outOf(k)}`);
  return r;
});

/** A snapshot taken, then the work changed: the subject restores the snapshot. */
const snapshotTpl = once('snapshot', () => {
  const r = copyRepo(emergencyTpl());
  expectCode(setupRb(r, ['snapshots', 'create', '-m', 'sweep']), 0, 'setup: snapshot');
  r.write('src/a.ts', 'export const a = 99; // after the snapshot\n');
  r.write('later.txt', 'made after the snapshot\n');
  r.git('add', 'later.txt');
  return r;
});

/** A repository playbook that resets the current branch hard to the baseline and cleans. */
const playbookTpl = once('playbook', () => {
  const r = copyRepo(sprintRepo());
  mkdirSync(join(r.root, '.rb', 'playbooks'), { recursive: true });
  writeFileSync(
    join(r.root, '.rb', 'playbooks', 'wreck.yaml'),
    [
      'name: wreck',
      'steps:',
      '  - { id: snapshot, uses: snapshot }',
      '  - { id: reset, uses: git.reset-hard, with: { ref: "{{baseline}}" } }',
      '  - { id: clean, uses: git.clean, with: { ignored: false } }',
      '',
    ].join('\n'),
  );
  r.git('add', '.rb');
  r.git('commit', '-q', '-m', 'team playbook');
  return r;
});

function snapshotIdOf(r: TestRepo): string {
  return r.git('for-each-ref', '--format=%(refname:lstrip=3)', 'refs/rb/snapshots/').trim().split('\n')[0]!;
}

const SUBJECTS: Subject[] = [
  { name: 'emergency', template: emergencyTpl, argv: ['emergency', '--yes'] },
  { name: 'sprint', template: once('sprint', () => copyRepo(sprintRepo())), argv: ['sprint', '4', '--yes', '--no-tests'] },
  { name: 'files', template: once('files', () => copyRepo(sprintRepo())), argv: ['files', 'src/a.ts', 'src/staged.ts', '--yes', '--no-tests'] },
  { name: 'recover', template: once('recover', () => copyRepo(sprintRepo())), argv: ['recover', 'feature/auth', '--all', '--yes', '--no-tests', '--force'] },
  { name: 'guard', template: once('guard', () => copyRepo(sprintRepo())), argv: ['guard', '--verify', 'false', '--', 'sh', '-c', 'echo guarded > src/a.ts && rm -f src/b.ts'], deterministic: true },
  { name: 'undo', template: afterEmergencyTpl, argv: ['undo', '--yes'], deterministic: true },
  { name: 'abort', template: killedEmergencyTpl, argv: ['abort', '--yes'], deterministic: true },
  { name: 'resume', template: killedEmergencyTpl, argv: ['resume', '--yes'], beforeRun: emergencyTpl },
  { name: 'snapshots restore', template: snapshotTpl, argv: ['snapshots', 'restore', '@SNAPSHOT', '--yes'], deterministic: true },
  { name: 'run playbook', template: playbookTpl, argv: ['run', 'wreck', '--yes'] },
];

const argvFor = (s: Subject, r: TestRepo): string[] => s.argv.map((a) => (a === '@SNAPSHOT' ? snapshotIdOf(r) : a));

/** One unfaulted run of the subject: its git command count, its steps, and the state it leaves. */
interface Reference {
  gitCommands: number;
  steps: string[];
  after: string;
  code: number | null;
}
const references = new Map<string, Promise<Reference>>();
function reference(s: Subject): Promise<Reference> {
  let p = references.get(s.name);
  if (!p) {
    p = (async () => {
      const r = copyRepo(s.template());
      const known = new Set(runsOf(r).map((x) => x.id));
      const res = await rbAsync(r.root, argvFor(s, r), { RB_TRACE_GIT: '1' });
      const fresh = runsOf(r).filter((x) => !known.has(x.id));
      const steps = new Set<string>();
      for (const run of fresh) {
        const j = JSON.parse(readFileSync(join(gitDirOf(r), 'rb', 'runs', `${run.id}.json`), 'utf8'));
        for (const st of j.steps) if (!j.steps.some((c: { group?: string }) => c.group === st.id)) steps.add(st.id);
      }
      return { gitCommands: res.stderr.split('\n').filter((l) => l.startsWith('[git ')).length, steps: [...steps], after: state(r), code: res.code };
    })();
    references.set(s.name, p);
  }
  return p;
}

/** The kill points of a subject: before every step, and every git command (sampled unless FULL). */
async function pointsOf(s: Subject): Promise<string[]> {
  const ref = await reference(s);
  const git = Array.from({ length: ref.gitCommands }, (_, i) => `git#${i + 1}`);
  const steps = ref.steps.map((id) => `before:${id}`);
  if (MODE === 'full') return ['lock', ...steps, ...git];
  if (MODE === 'ci') return ['lock', ...steps, ...git.filter((_, i) => i % 3 === 0)];
  // sampled: one step boundary and two git commands spread over the run
  const pick = (xs: string[], n: number) => (xs.length <= n ? xs : Array.from({ length: n }, (_, i) => xs[Math.floor(((i + 0.5) * xs.length) / n)]!));
  return [...pick(steps, 1), ...pick(git, 2)];
}

async function statusJson(r: TestRepo, what: string): Promise<{ nextCommand: string[] | null; text: string }> {
  const [j, t] = await Promise.all([rbAsync(r.root, ['status', '--json']), rbAsync(r.root, ['status'])]);
  expectCode(j, 0, `${what}: rb status --json`);
  expectCode(t, 0, `${what}: rb status`);
  return { nextCommand: JSON.parse(j.stdout).nextCommand, text: t.stdout };
}

type Outcome = 'not reached' | 'restored' | 'completed' | 'unchanged';

/** Kill the subject at `point`, then do what rb status says; the state must be one of the allowed ones. */
async function killThenFollowStatus(s: Subject, point: string): Promise<Outcome> {
  const ref = await reference(s);
  const r = copyRepo(s.template());
  const before = state(r);
  const known = new Map(runsOf(r).map((x) => [x.id, x.status]));
  const killed = await rbAsync(r.root, argvFor(s, r), { RB_FAULT: point });
  if (killed.signal !== 'SIGKILL') {
    expect(killed.code, `${s.name} ${point}: not killed, so it must end as the unfaulted run did\n${outOf(killed)}`).toBe(ref.code);
    return 'not reached';
  }
  await waitGitIdle(r);
  const what = `${s.name} killed at ${point}`;
  const touched = runsOf(r).filter((x) => known.get(x.id) !== x.status || !known.has(x.id));
  const st = await statusJson(r, what);
  if (touched[0]) expect(st.text, `${what}: rb status names the run`).toContain(touched[0].id);

  let outcome: Outcome;
  if (st.nextCommand) {
    const [bin, ...args] = st.nextCommand;
    expect(bin).toBe('rb');
    const fix = await rbAsync(r.root, [...args, '--yes']);
    expectCode(fix, 0, `${what}: \`${st.nextCommand.join(' ')} --yes\` as rb status said`);
    const now = state(r);
    if (now === before || (s.beforeRun && now === state(s.beforeRun()))) outcome = 'restored';
    else {
      // status's command finished an interrupted undo / abort / restore of the subject itself
      expect(s.deterministic, `${what}: after \`${st.nextCommand.join(' ')}\`, the state is neither the one before nor the completed command's`).toBe(true);
      expect(now, `${what}: after \`${st.nextCommand.join(' ')}\``).toBe(ref.after);
      outcome = 'completed';
    }
  } else {
    const newest = runsOf(r).find((x) => !known.has(x.id) || known.get(x.id) !== x.status);
    if (newest && newest.status === 'succeeded' && !newest.undoOf) {
      // killed after the run finished: it is done; its undo gives everything back
      expectCode(await rbAsync(r.root, ['undo', newest.id, '--yes']), 0, `${what}: rb undo of the finished run`);
      // (for rb resume: the undo of the resumed run gives the state before the run it resumed)
      const after = state(r);
      expect(s.beforeRun && after === state(s.beforeRun()) ? before : after, `${what}: state after rb undo`).toBe(before);
      outcome = 'restored';
    } else if (state(r) === before) {
      outcome = 'unchanged';
    } else {
      expect(s.deterministic, `${what}: rb status suggests nothing, but the state changed`).toBe(true);
      expect(state(r), `${what}: nothing suggested, so the command must be complete`).toBe(ref.after);
      outcome = 'completed';
    }
  }
  if (outcome === 'unchanged') {
    // killed before it changed anything: a lock left behind is called stale, and the next run takes it over
    if (existsSync(join(gitDirOf(r), 'rb', 'lock'))) expect(st.text, `${what}: rb status calls the lock stale`).toMatch(/STALE: that process is gone/);
  } else {
    expect(existsSync(join(gitDirOf(r), 'rb', 'lock')), `${what}: lock released`).toBe(false);
    expect(rbTempEntries(r), `${what}: temporary entries`).toEqual([]);
  }
  const settled = await statusJson(r, `${what}, after following rb status`);
  // a chain (an abort of an abort) may need one more command; it must still be only one at a time
  if (settled.nextCommand) expect(settled.nextCommand[1], `${what}: what is left is another abort`).toBe('abort');
  return outcome;
}

/** Kill the subject at `point`, then resume: the run completes (and its undo gives the state before). */
async function killThenResume(s: Subject, point: string): Promise<void> {
  const ref = await reference(s);
  const r = copyRepo(s.template());
  const before = state(r);
  const known = new Set(runsOf(r).map((x) => `${x.id}:${x.status}`));
  const killed = await rbAsync(r.root, argvFor(s, r), { RB_FAULT: point });
  if (killed.signal !== 'SIGKILL') return;
  await waitGitIdle(r);
  const what = `${s.name} killed at ${point}, then rb resume`;
  const stuck = runsOf(r).find((x) => !known.has(`${x.id}:${x.status}`) && (x.status === 'running' || x.status === 'interrupted') && x.changed);
  if (!stuck) return; // nothing to resume: covered by the status path
  const res = await rbAsync(r.root, ['resume', stuck.id, '--yes']);
  if (res.code === 3) {
    // a step that is not safe to repeat: refused, nothing changed, the next command named
    expect(res.stderr, what).toMatch(/--retry \S+/);
    return;
  }
  expectCode(res, 0, what);
  if (s.deterministic) {
    expect(state(r), `${what}: gives what the completed command gives`).toBe(ref.after);
    return;
  }
  const done = runsOf(r).find((x) => x.id === stuck.id)!;
  expect(done.status, what).toBe('succeeded');
  expectCode(await rbAsync(r.root, ['undo', stuck.id, '--yes']), 0, `${what}: rb undo of the resumed run`);
  expect(state(r), `${what}: undo after resume gives the state before`).toBe(before);
}

describe.concurrent.each(SUBJECTS)('crash sweep: $name', { timeout: FULL ? 600_000 : 300_000 }, (s) => {
  it('killed at each point, doing what rb status says gives the state before (or the completed command)', async () => {
    const outcomes: string[] = [];
    for (const point of await pointsOf(s)) outcomes.push(`${point}: ${await killThenFollowStatus(s, point)}`);
    expect(outcomes.length).toBeGreaterThan(0);
  });
  it('killed at each point, rb resume completes the run (and its undo gives the state before)', async () => {
    for (const point of await pointsOf(s)) await killThenResume(s, point);
  });
});
