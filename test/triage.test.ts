/**
 * `rb` with no command. Without a terminal: the decision matrix and exit 2. On a terminal (the
 * built binary driven through tmux, key by key, as a person would): each branch of the matrix
 * reaches the right plan; answering "no" at the one confirmation changes nothing; answering
 * "yes" in the medium branch restores the chosen file and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { copyRepo, tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { RB, rb } from './helpers/cli.js';
import { allRefs, emergencyRepo, runsOf, sprintRepo } from './helpers/scenarios.js';
import { decisionMatrix, runTriage, sprintFromBranch, triageReason, validateSprint, SITUATIONS } from '../src/commands/triage.js';
import { UsageError } from '../src/errors.js';

tmpRepos();

describe('triage without a terminal', () => {
  it('runTriage refuses with exit 2 and the decision matrix in the details', async () => {
    const r = copyRepo(emergencyRepo());
    const err = await runTriage({ cwd: r.root, interactive: false }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.details).toEqual(decisionMatrix());
    expect(err.next).toMatch(/rb plan <level>/);
  });

  it('`rb` (stdin not a TTY) prints the matrix and usage and exits 2, changing nothing', () => {
    const r = copyRepo(emergencyRepo());
    const before = manifest(r.root);
    const res = rb(r.root, []);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    for (const l of ['Decision matrix:', 'critical', 'rb emergency', 'rb sprint <n>', 'rb files <path...>', 'fix forward; nothing to roll back', 'Usage:']) {
      expect(res.stderr).toContain(l);
    }
    expect(res.stderr).toMatch(/^next: /m);
    expect(manifest(r.root)).toBe(before);
  });

  it('a misspelt command is still an unknown command with a suggestion', () => {
    const r = copyRepo(emergencyRepo());
    const res = rb(r.root, ['sprnt', '4']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown command 'sprnt'/);
    expect(res.stderr).toMatch(/Did you mean sprint\?/);
  });
});

describe('triage helpers', () => {
  it('writes every checklist answer into the reason', () => {
    const high = SITUATIONS.find((s) => s.id === 'tests')!;
    expect(triageReason(high, { fixForwardUnder30m: false, dataAtRisk: false, usersAffected: true, onlyTests: true, state: { uncommitted: 2, untracked: 1 } }))
      .toBe('triage: high — tests failing; fix-forward<30m: no; data at risk: no; users affected: yes; only tests: yes; state saved: snapshot first (2 uncommitted, 1 untracked)');
    const crit = SITUATIONS.find((s) => s.id === 'production-down')!;
    expect(triageReason(crit, { fixForwardUnder30m: true, continuedAnyway: true, dataAtRisk: true, usersAffected: true, onlyTests: false, state: { uncommitted: 0, untracked: 0 } }))
      .toMatch(/^triage: critical — production down; fix-forward<30m: yes \(rolled back anyway\); data at risk: yes;/);
  });

  it('validates the sprint number and suggests it from the branch name', () => {
    expect(validateSprint('7')).toBe(true);
    expect(validateSprint(' 12 ')).toBe(true);
    for (const bad of ['0', '-1', '1.5', 'x', '', '99999999999999999999']) expect(validateSprint(bad)).not.toBe(true);
    expect(sprintFromBranch('feature/sprint-7-auth')).toBe('7');
    expect(sprintFromBranch('sprint_12')).toBe('12');
    expect(sprintFromBranch('feature/auth')).toBeUndefined();
    expect(sprintFromBranch(null)).toBeUndefined();
  });
});

// ------------------------------------------------------------------------------------------------
// On a terminal: tmux runs the built binary; the test types as a person would.

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** One private tmux server (its own socket in a temp dir, no user config) running `rb` in `cwd`. */
class Terminal {
  readonly sock = join(tmpDir('rb-tmux-'), 'sock');
  constructor(cwd: string, args: string[] = []) {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const line = `${[process.execPath, RB, ...args].map(q).join(' ')}; echo "[rb exited $?]"; sleep 600`;
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.TMUX;
    this.tmux(['-f', '/dev/null', 'new-session', '-d', '-s', 'rb', '-x', '220', '-y', '80', '-c', cwd, line], env);
  }

  private tmux(args: string[], env?: NodeJS.ProcessEnv): string {
    const r = spawnSync('tmux', ['-S', this.sock, ...args], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** Everything on the screen and in the scrollback, wrapped lines joined. */
  screen(): string {
    return this.tmux(['capture-pane', '-p', '-J', '-t', 'rb', '-S', '-3000']);
  }

  /** Wait until the screen shows `what`. */
  async waitFor(what: string | RegExp, timeoutMs = 20_000): Promise<string> {
    const start = Date.now();
    for (;;) {
      const s = this.screen();
      if (typeof what === 'string' ? s.includes(what) : what.test(s)) return s;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what} on the screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Press keys (tmux key names: Down, Enter, Space, BSpace, or text). */
  keys(...keys: string[]): void {
    this.tmux(['send-keys', '-t', 'rb', ...keys]);
  }

  /** Wait for a prompt, then answer it. */
  async answer(prompt: string | RegExp, ...keys: string[]): Promise<void> {
    await this.waitFor(prompt);
    this.keys(...keys);
  }

  /** rb's exit code (waits for it). */
  async exitCode(): Promise<number> {
    const s = await this.waitFor(/\[rb exited \d+\]/, 60_000);
    return Number(/\[rb exited (\d+)\]/.exec(s)![1]);
  }

  close(): void {
    spawnSync('tmux', ['-S', this.sock, 'kill-server']);
  }
}

/** The menu position of a situation ("Down" presses from the first entry). */
const downs = (id: string) => Array<string>(SITUATIONS.findIndex((s) => s.id === id)).fill('Down');

/** The state a "no" must leave untouched: files, index, HEAD, every ref, no journal. */
const stateOf = (r: TestRepo) => `${manifest(r.root)}\n${allRefs(r)}\nruns: ${runsOf(r).length}`;

/** The checklist, answered: fix forward? data at risk? users affected? only tests? */
async function checklist(t: Terminal, answers: { dataAtRisk?: boolean; usersAffected?: boolean; onlyTests?: boolean; skip?: ('data' | 'users')[] }): Promise<void> {
  const yn = (b?: boolean) => (b ? 'y' : 'n');
  await t.answer('Can it be fixed forward in under 30 minutes?', 'n', 'Enter');
  if (!answers.skip?.includes('data')) await t.answer('Is data at risk?', yn(answers.dataAtRisk), 'Enter');
  if (!answers.skip?.includes('users')) await t.answer('Are users affected?', yn(answers.usersAffected), 'Enter');
  await t.answer('Is it only test failures?', yn(answers.onlyTests), 'Enter');
}

describe.skipIf(!hasTmux)('triage on a terminal (tmux)', () => {
  it('critical: production down → the emergency plan; "no" changes nothing', async () => {
    const r = copyRepo(emergencyRepo());
    const before = stateOf(r);
    const t = new Terminal(r.root);
    try {
      await t.answer('What is happening?', ...downs('production-down'), 'Enter');
      await checklist(t, { dataAtRisk: false, skip: ['users'] });
      const s = await t.waitFor('Run it now?');
      expect(s).toContain('Are users affected? yes (production is down)');
      expect(s).toMatch(/Is the current state saved\? yes: rb takes a complete snapshot first \(\d+ uncommitted changes?, \d+ untracked files?/);
      expect(s).toContain('Plan: Emergency rollback to the baseline (playbook emergency, level 1, severity critical');
      t.keys('n', 'Enter');
      expect(await t.exitCode()).toBe(3);
      const end = t.screen();
      expect(end).toContain('cancelled; nothing was changed.');
      expect(end).toMatch(/rb emergency --reason 'triage: critical — production down; fix-forward<30m: no; data at risk: no; users affected: yes;/);
    } finally {
      t.close();
    }
    expect(stateOf(r)).toBe(before);
  });

  it('high: tests failing → asks the sprint number (validated) → the sprint 7 plan; "no" changes nothing', async () => {
    const r = copyRepo(sprintRepo());
    const before = stateOf(r);
    const t = new Terminal(r.root);
    try {
      await t.answer('What is happening?', ...downs('tests'), 'Enter');
      await t.answer('Sprint number?', '0', 'Enter');
      await t.answer('a positive whole number', 'BSpace', '7', 'Enter');
      await checklist(t, { usersAffected: true, onlyTests: true });
      const s = await t.waitFor('Run it now?');
      expect(s).toContain('Plan: Sprint rollback (playbook sprint, level 2, severity high');
      expect(s).toContain('params: sprint=7 tests=true');
      expect(s).toContain('refactor/sprint-7-retry');
      t.keys('n', 'Enter');
      expect(await t.exitCode()).toBe(3);
      expect(t.screen()).toContain("rb sprint 7 --reason 'triage: high — tests failing; fix-forward<30m: no; data at risk: no; users affected: yes; only tests: yes;");
    } finally {
      t.close();
    }
    expect(stateOf(r)).toBe(before);
  });

  it('medium: offers the files changed since the baseline; one selected → the restore plan; "no" changes nothing', async () => {
    const r = copyRepo(sprintRepo());
    const before = stateOf(r);
    const t = new Terminal(r.root);
    try {
      await t.answer('What is happening?', ...downs('perf'), 'Enter');
      const menu = await t.waitFor('Which files are to blame?');
      // tracked files that differ from the baseline (committed, staged or not); not the untracked note
      for (const f of ['src/a.ts  (modified)', 'src/auth.ts  (added since the baseline', 'src/staged.ts  (added', 'test/auth.test.js  (added']) expect(menu).toContain(f);
      expect(menu).not.toContain('notes.md');
      t.keys('Space', 'Enter'); // the first entry: src/a.ts
      await checklist(t, {});
      const s = await t.waitFor('Run it now?');
      expect(s).toContain('Plan: Restore selected files from the baseline (playbook files, level 3, severity medium');
      expect(s).toContain('params: paths=["src/a.ts"] deleteMissing=false');
      t.keys('n', 'Enter');
      expect(await t.exitCode()).toBe(3);
    } finally {
      t.close();
    }
    expect(stateOf(r)).toBe(before);
  });

  it('low: code quality → fix forward, nothing to roll back (exit 0, nothing changed)', async () => {
    const r = copyRepo(emergencyRepo());
    const before = stateOf(r);
    const t = new Terminal(r.root);
    try {
      await t.answer('What is happening?', ...downs('code-quality'), 'Enter');
      expect(await t.exitCode()).toBe(0);
      expect(t.screen()).toContain('fix forward — there is nothing to roll back. Nothing was changed.');
    } finally {
      t.close();
    }
    expect(stateOf(r)).toBe(before);
  });

  it('fixable forward in under 30 minutes: rb recommends it, and "not anyway" stops with exit 0', async () => {
    const r = copyRepo(sprintRepo());
    const before = stateOf(r);
    const t = new Terminal(r.root);
    try {
      await t.answer('What is happening?', ...downs('features-broken'), 'Enter');
      await t.answer('Sprint number?', '3', 'Enter');
      await t.answer('Can it be fixed forward in under 30 minutes?', 'y', 'Enter');
      await t.answer('Roll back anyway?', 'Enter'); // default: no
      expect(await t.exitCode()).toBe(0);
      expect(t.screen()).toContain('rb recommends fixing forward');
    } finally {
      t.close();
    }
    expect(stateOf(r)).toBe(before);
  });

  it('medium, answered "yes": restores the chosen file from the baseline and keeps every other change', async () => {
    const r = copyRepo(sprintRepo());
    const baselineA = r.git('show', 'baseline:src/a.ts');
    const t = new Terminal(r.root);
    try {
      await t.answer('What is happening?', ...downs('files'), 'Enter');
      await t.answer('Which files are to blame?', 'Space', 'Enter');
      await checklist(t, { usersAffected: true });
      await t.answer('Run it now?', 'y', 'Enter');
      expect(await t.exitCode()).toBe(0);
      expect(t.screen()).toMatch(/Restore selected files from the baseline: run \S+ succeeded/);
    } finally {
      t.close();
    }
    expect(readFileSync(join(r.root, 'src/a.ts'), 'utf8')).toBe(baselineA);
    expect(r.git('diff', '--name-only', 'baseline', '--', 'src/a.ts')).toBe('');
    // everything else stayed: the branch, the staged file, the untracked note, .env
    expect(r.git('symbolic-ref', '--short', 'HEAD').trim()).toBe('feature/auth');
    expect(r.git('diff', '--cached', '--name-only')).toContain('src/staged.ts');
    expect(existsSync(join(r.root, 'notes.md'))).toBe(true);
    expect(existsSync(join(r.root, '.env'))).toBe(true);
    const runs = runsOf(r);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ playbook: 'files', status: 'succeeded' });
    const dir = readdirSync(join(r.root, 'rollbacks')).find((d) => d.startsWith('files-'))!;
    const report = readFileSync(join(r.root, 'rollbacks', dir, 'report.md'), 'utf8');
    expect(report).toContain('triage: medium — a few files to blame; fix-forward<30m: no; data at risk: no; users affected: yes; only tests: no');
  });
});
