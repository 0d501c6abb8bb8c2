/**
 * Issue 23, point 2: named checkpoints as a user runs them (the built rb in throwaway repositories
 * with a bare origin). `rb checkpoint <name>` tags HEAD (annotated, quoting the baseline's test
 * result that `rb check` recorded) and takes a snapshot of the same name; `--list`; `--to <name>`
 * (`--from`, `--onto`) of every level rolls back to it; `rb metrics` counts named checkpoints as
 * sprints started only when metrics.countNamedCheckpoints is true.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { allRefs, baseRepo, moveBaselineHere, oid, outOf, rbAsync, runsOf, expectCode } from './helpers/scenarios.js';

tmpRepos();


const untouched = (r: TestRepo) => manifest(r.root) + allRefs(r);

let tpl: TestRepo | null = null;
/**
 * main = baseline = a project with one passing node:test test, pushed; `rb check` has passed on
 * it (so metrics.json holds its baseline test result); then HEAD moves on with a commit, an
 * uncommitted change and an ignored .env.
 */
function checkedRepo(): TestRepo {
  if (!tpl) {
    const r = copyRepo(baseRepo());
    r.write('package.json', JSON.stringify({ name: 'app', private: true, scripts: { test: 'node --test test/' } }, null, 2) + '\n');
    r.write('test/ok.test.js', "const test = require('node:test');\ntest('adds', () => {});\ntest('subtracts', () => {});\n");
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'tests');
    moveBaselineHere(r);
    tpl = r;
  }
  return copyRepo(tpl);
}

async function checkThenWork(r: TestRepo): Promise<{ good: string }> {
  expectCode(await rbAsync(r.root, ['check']), 0);
  r.write('src/a.ts', 'export const a = 2; // day 2\n');
  r.git('commit', '-q', '-am', 'day 2: a = 2');
  const good = oid(r, 'HEAD');
  r.write('src/b.ts', 'export const b = 2; // uncommitted\n');
  r.write('.env', 'API_KEY=hunter2\n', 0o600);
  return { good };
}

/** Work past the checkpoint that a rollback should undo. */
function breakThings(r: TestRepo): void {
  r.git('checkout', '-q', '--', 'src/b.ts');
  r.write('src/a.ts', 'export const a = 3; // broken\n');
  r.write('src/c.ts', 'export const c = 3; // broken\n');
  r.git('commit', '-q', '-am', 'day 3: broke everything');
}

describe.concurrent('rb checkpoint', { timeout: 120_000 }, () => {
  it('tags HEAD (annotated, quoting the baseline test result) and takes a snapshot of the same name; --list shows it', async () => {
    const r = checkedRepo();
    const { good } = await checkThenWork(r);
    const res = await rbAsync(r.root, ['checkpoint', 'day_2_complete', '-m', 'login works']);
    expectCode(res, 0);
    expect(res.stdout).toContain(`tag:       day_2_complete → ${good.slice(0, 12)} (main), annotated, local`);
    expect(res.stdout).toContain('note:      1 uncommitted path is in the snapshot only, not in the tagged commit');
    // the tag
    expect(r.git('cat-file', '-t', 'day_2_complete').trim()).toBe('tag');
    expect(oid(r, 'day_2_complete^{commit}')).toBe(good);
    const msg = r.git('tag', '-l', '--format=%(contents)', 'day_2_complete');
    expect(msg).toMatch(/^rb checkpoint: day_2_complete\n\nlogin works\n/);
    expect(msg).toContain(`baseline baseline ${oid(r, 'baseline')}`);
    expect(msg).toMatch(/baseline tests: 2 baseline tests passed \(rb check checkpoint-\d{8}-\d{6}, /);
    // the snapshot of the same name holds the uncommitted change and the ignored .env
    expect(oid(r, 'refs/rb/snapshots/day_2_complete')).not.toBe('');
    expect(r.git('show', 'refs/rb/snapshots/day_2_complete:worktree/src/b.ts')).toBe('export const b = 2; // uncommitted\n');
    expect(r.git('show', 'refs/rb/snapshots/day_2_complete:ignored/.env')).toBe('API_KEY=hunter2\n');
    // the records
    const cps = JSON.parse(readFileSync(join(r.root, 'rollbacks/metrics.json'), 'utf8')).checkpoints;
    expect(cps.at(-1)).toMatchObject({ kind: 'named', name: 'day_2_complete', tag: 'day_2_complete', commit: good, snapshot: 'day_2_complete' });
    const audit = readFileSync(join(r.root, 'rollbacks/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.at(-1)).toMatchObject({ action: 'checkpoint', tag: 'day_2_complete', commit: good });
    // nothing else changed: the files are as they were
    expect(readFileSync(join(r.root, 'src/b.ts'), 'utf8')).toBe('export const b = 2; // uncommitted\n');

    const list = await rbAsync(r.root, ['checkpoint', '--list']);
    expectCode(list, 0);
    expect(list.stdout).toMatch(new RegExp(`^day_2_complete +${good.slice(0, 12)} +\\S+ ago +yes +2 baseline tests passed`, 'm'));
    expect(list.stdout).not.toMatch(/^checkpoint-/m); // rb check's own tags are not named checkpoints
    const json = JSON.parse((await rbAsync(r.root, ['checkpoint', '--list', '--json'])).stdout);
    expect(json.checkpoints).toEqual([expect.objectContaining({ name: 'day_2_complete', commit: good, snapshot: 'day_2_complete' })]);
  });

  it('baseline tests not known: said so in the tag', async () => {
    const r = checkedRepo();
    expectCode(await rbAsync(r.root, ['checkpoint', 'start']), 0);
    expect(r.git('tag', '-l', '--format=%(contents)', 'start')).toContain('baseline tests: not known (no rb check has run them on this baseline commit)');
  });

  it('refuses a used or unusable name with exit 2 and changes nothing; an unborn HEAD with exit 3', async () => {
    const r = checkedRepo();
    expectCode(await rbAsync(r.root, ['checkpoint', 'taken']), 0);
    r.git('branch', 'feature');
    r.write('notes.md', 'x\n');
    const before = untouched(r);
    for (const [name, msg] of [
      ['taken', /a tag "taken" already exists/],
      ['feature', /a branch "feature" exists: `--to feature` could not tell the checkpoint from the branch/],
      ['bad name', /"bad name" is not a usable checkpoint name/],
      ['-x', /is not a usable checkpoint name|unknown option/],
      ['a..b', /is not a usable checkpoint name/],
    ] as const) {
      const res = await rbAsync(r.root, ['checkpoint', name]);
      expectCode(res, 2);
      expect(res.stderr).toMatch(msg);
    }
    expect(untouched(r)).toBe(before);
    const fresh = copyRepo(r);
    fresh.git('checkout', '-q', '--orphan', 'empty');
    fresh.git('rm', '-rq', '--cached', '.');
    expectCode(await rbAsync(fresh.root, ['checkpoint', 'nothing']), 3);
  });

  it('--to <name> of every level rolls back to it', async () => {
    const base = checkedRepo();
    const { good } = await checkThenWork(base);
    expectCode(await rbAsync(base.root, ['checkpoint', 'day_2_complete']), 0);
    breakThings(base);

    // emergency: HEAD at the checkpoint (a branch of that name on the remote is not fetched in
    // its place); rb undo gives the exact working copy back
    const e = copyRepo(base);
    e.git('push', '-q', 'origin', 'HEAD:refs/heads/day_2_complete');
    // … and once fetched, the name is ambiguous: refused, nothing changed
    const ambiguous = await rbAsync(e.root, ['emergency', '--to', 'day_2_complete', '--yes', '--no-services']);
    expectCode(ambiguous, 2);
    expect(ambiguous.stderr).toContain('"day_2_complete" is both a tag');
    e.git('update-ref', '-d', 'refs/remotes/origin/day_2_complete');
    const before = manifest(e.root, { exclude: ['rollbacks'] });
    expectCode(await rbAsync(e.root, ['emergency', '--to', 'day_2_complete', '--yes', '--no-services']), 0);
    expect(oid(e, 'HEAD')).toBe(good);
    expect(readFileSync(join(e.root, 'src/a.ts'), 'utf8')).toBe('export const a = 2; // day 2\n');
    expectCode(await rbAsync(e.root, ['undo', '--yes']), 0);
    expect(manifest(e.root, { exclude: ['rollbacks'] })).toBe(before);

    // sprint: the retry branch starts at the checkpoint
    const s = copyRepo(base);
    expectCode(await rbAsync(s.root, ['sprint', '3', '--to', 'day_2_complete', '--yes', '--no-tests']), 0);
    expect(s.git('symbolic-ref', '--short', 'HEAD').trim()).toBe('refactor/sprint-3-retry');
    expect(oid(s, 'HEAD')).toBe(good);

    // files: one file back from the checkpoint, the rest kept
    const f = copyRepo(base);
    expectCode(await rbAsync(f.root, ['files', 'src/a.ts', '--from', 'day_2_complete', '--yes', '--no-tests']), 0);
    expect(readFileSync(join(f.root, 'src/a.ts'), 'utf8')).toBe('export const a = 2; // day 2\n');
    expect(readFileSync(join(f.root, 'src/c.ts'), 'utf8')).toBe('export const c = 3; // broken\n');

    // recover: good commits picked onto the checkpoint
    const rc = copyRepo(base);
    const broken = oid(rc, 'HEAD');
    rc.git('branch', 'day3', broken);
    expectCode(await rbAsync(rc.root, ['recover', 'day3', '--onto', 'day_2_complete', '--all', '--yes', '--no-tests']), 0);
    expect(oid(rc, 'HEAD^')).toBe(good);

    // plan names it as the baseline
    const plan = await rbAsync(base.root, ['plan', 'emergency', '--to', 'day_2_complete']);
    expectCode(plan, 0);
    expect(outOf(plan)).toContain(`baseline: day_2_complete (refs/tags/day_2_complete at ${good.slice(0, 12)})`);
    expect(outOf(plan)).toContain('(the baseline day_2_complete is a tag (refs/tags/day_2_complete): nothing to fetch)');
    expect(runsOf(base).filter((x) => x.playbook !== 'check')).toEqual([]);
  });

  it('rb metrics counts named checkpoints as sprints started only when configured to', async () => {
    const r = checkedRepo();
    await checkThenWork(r);
    r.git('checkout', '-q', '--', 'src/b.ts');
    expectCode(await rbAsync(r.root, ['checkpoint', 'day_2_complete']), 0);
    expectCode(await rbAsync(r.root, ['checkpoint', 'day_3_complete']), 0);
    expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services']), 0);

    const plain = JSON.parse((await rbAsync(r.root, ['metrics', '--json'])).stdout);
    expect(plain).toMatchObject({ total: 1, sprints: 1, rate: 1, namedCheckpoints: { count: 2, counted: false } });
    expect((await rbAsync(r.root, ['metrics'])).stdout).toContain('2 named checkpoints (rb checkpoint) not counted as sprint starts; set metrics.countNamedCheckpoints: true to count them');

    r.write('rb.config.yaml', 'metrics: { countNamedCheckpoints: true }\n');
    const counted = JSON.parse((await rbAsync(r.root, ['metrics', '--json'])).stdout);
    expect(counted).toMatchObject({ total: 1, sprints: 3, rate: 0.3333, namedCheckpoints: { count: 2, counted: true } });
    expect((await rbAsync(r.root, ['metrics'])).stdout).toContain('Rollback rate:  1 rollback / 3 sprints started');
    expect(existsSync(join(r.root, 'rollbacks/metrics.json'))).toBe(true);
  });
});
