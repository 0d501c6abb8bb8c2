/**
 * `rb guard [--verify <cmd>] [--keep-on-failure] -- <command...>` as a user runs it (issue 6,
 * "rb guard" and its "Done when"): the built `rb` in throwaway repositories.
 *
 * Every case starts from a working copy after a scripted edit (an unstaged change, a staged
 * change, a deleted file, an untracked note, an ignored .env) and guards a `node -e` script that
 * changes more (edits a tracked file, deletes one, adds an untracked file, rewrites .env) and
 * then exits with a given code.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, gitRun, makeRepo, type TestRepo, tmpRepos } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { allRefs, rbAsync, runsOf, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };
const NODE = process.execPath;


let tpl: TestRepo | null = null;
/** baseline = main = src/{a,b,c}.ts + .gitignore (.env); then the user's own uncommitted edits. */
function guardRepo(): TestRepo {
  if (!tpl) {
    const r = makeRepo({ withOrigin: true });
    r.write('.gitignore', '.env\n');
    for (const f of ['a', 'b', 'c']) r.write(`src/${f}.ts`, `export const ${f} = 1;\n`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'project');
    r.git('branch', '-f', 'baseline', 'HEAD');
    r.git('push', '-q', '-f', 'origin', 'HEAD:refs/heads/main', 'baseline');
    // the scripted edit before the guard: these must survive every guard below
    r.write('src/a.ts', 'export const a = 2; // unstaged\n');
    r.write('src/b.ts', 'export const b = 2; // staged\n');
    r.git('add', 'src/b.ts');
    r.git('rm', '-q', 'src/c.ts');
    r.write('notes.md', 'my notes\n');
    r.write('.env', 'API_KEY=hunter2\n', 0o600);
    tpl = r;
  }
  return copyRepo(tpl);
}

/** A node script that changes the working copy the way a codemod would, then exits with `code`. */
function editsThenExits(code: number): string[] {
  const js = [
    "const fs = require('fs');",
    "fs.writeFileSync('src/a.ts', 'export const a = 99; // codemod\\n');",
    "fs.writeFileSync('src/b.ts', 'export const b = 99; // codemod\\n');",
    "fs.unlinkSync('notes.md');",
    "fs.mkdirSync('src/gen', { recursive: true });",
    "fs.writeFileSync('src/gen/out.ts', 'generated\\n');",
    "fs.writeFileSync('.env', 'API_KEY=changed\\n');",
    `process.exit(${code});`,
  ].join(' ');
  return [NODE, '-e', js];
}

function expectCodemodResult(r: TestRepo): void {
  expect(readFileSync(join(r.root, 'src/a.ts'), 'utf8')).toBe('export const a = 99; // codemod\n');
  expect(readFileSync(join(r.root, 'src/gen/out.ts'), 'utf8')).toBe('generated\n');
  expect(existsSync(join(r.root, 'notes.md'))).toBe(false);
  expect(readFileSync(join(r.root, '.env'), 'utf8')).toBe('API_KEY=changed\n');
}

function guardDirs(r: TestRepo): string[] {
  const d = join(r.root, 'rollbacks');
  return existsSync(d) ? readdirSync(d).filter((n) => n.startsWith('guard-')) : [];
}

function metrics(r: TestRepo): any[] {
  return JSON.parse(readFileSync(join(r.root, 'rollbacks', 'metrics.json'), 'utf8')).rollbacks;
}

const guardRun = (r: TestRepo) => runsOf(r).find((x) => x.playbook === 'guard')!;

describe.concurrent('rb guard', { timeout: 120_000 }, () => {
  it('a failing command (node -e "process.exit(3)") exits 3 and leaves the exact earlier working copy', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const heads = allRefs(r, 'refs/heads');
    const res = await rbAsync(r.root, ['guard', '--', NODE, '-e', 'process.exit(3)']);
    expectCode(res, 3);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(allRefs(r, 'refs/heads')).toBe(heads);
    expect(res.stderr).toContain('the guarded command failed (exit 3)');
    expect(res.stderr).toContain('the snapshot was restored');
  });

  it('a command that edits files and then fails: exit 5, its edits are gone, the earlier edits stay; report and metrics (cause guard) written; nothing blocks', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['guard', '--reason', 'try the codemod', '--', ...editsThenExits(5)]);
    expectCode(res, 5);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(readFileSync(join(r.root, '.env'), 'utf8')).toBe('API_KEY=hunter2\n');

    const run = guardRun(r);
    const dirs = guardDirs(r);
    expect(dirs).toEqual([`guard-${run.id.slice(0, 15)}`]);
    const report = readFileSync(join(r.root, 'rollbacks', dirs[0]!, 'report.md'), 'utf8');
    expect(report).toContain(run.id);
    expect(report).toMatch(/\*\*Failed step:\*\* command \(exit 5\)/);
    expect(report).toContain('the snapshot was restored');
    expect(report).toContain(run.snapshot!);
    expect(res.stderr).toContain(`rollbacks/${dirs[0]}/report.md`);
    const m = metrics(r).filter((e) => e.run_id === run.id);
    expect(m).toHaveLength(1);
    expect(m[0]).toMatchObject({ cause: 'guard', playbook: 'guard', severity: 'medium', branch: 'main' });

    // restored through rb abort: the guard run is closed, nothing must be resumed or aborted
    expect(run.status).toBe('aborted');
    const st = JSON.parse((await rbAsync(r.root, ['status', '--json'])).stdout);
    expect(st.unresolved).toEqual([]);
  });

  it('a passing command keeps its result (exit 0); rb undo --yes gives back the earlier working copy', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['guard', '--', ...editsThenExits(0)]);
    expectCode(res, 0);
    expect(res.stdout).toContain('the result is kept');
    expectCodemodResult(r);
    expect(guardDirs(r)).toEqual([]);
    expect(guardRun(r).status).toBe('succeeded');

    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(guardRun(r).status).toBe('undone');
  });

  it('--verify "exit 1" failing after a passing command: restored, exit 1, the report names the verify step', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['guard', '--verify', 'test -f src/gen/out.ts && exit 1', '--', ...editsThenExits(0)]);
    expectCode(res, 1);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(res.stderr).toContain('verification failed (exit 1)');
    const [dir] = guardDirs(r);
    const report = readFileSync(join(r.root, 'rollbacks', dir!, 'report.md'), 'utf8');
    expect(report).toMatch(/\*\*Failed step:\*\* verify \(exit 1\)/);
    expect(report).toContain('test -f src/gen/out.ts && exit 1');
    expect(metrics(r).map((e) => e.cause)).toEqual(['guard']);

    // a passing --verify keeps the result
    const ok = await rbAsync(r.root, ['guard', '--verify', 'test -f src/gen/out.ts', '--', ...editsThenExits(0)]);
    expectCode(ok, 0);
    expectCodemodResult(r);
  });

  it('--keep-on-failure leaves the result, blocks nothing (another level runs), and rb undo --yes restores', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['guard', '--keep-on-failure', '--', ...editsThenExits(4)]);
    expectCode(res, 4);
    expectCodemodResult(r);
    const run = guardRun(r);
    expect(res.stderr).toContain(`the result is kept: undo it with \`rb undo ${run.id}\``);
    const [dir] = guardDirs(r);
    expect(readFileSync(join(r.root, 'rollbacks', dir!, 'report.md'), 'utf8')).toContain('kept for inspection');
    expect(metrics(r).find((e) => e.run_id === run.id)).toMatchObject({ cause: 'guard', undone: false });

    // rb status does not ask to resume or abort it
    const status = await rbAsync(r.root, ['status']);
    expectCode(status, 0);
    expect(status.stdout).not.toMatch(/Failed:|rb abort|rb resume/);
    expect(JSON.parse((await rbAsync(r.root, ['status', '--json'])).stdout).unresolved).toEqual([]);

    // plain `rb undo --yes` (the latest undoable run is the kept guard) restores, in a copy
    const copy = copyRepo(r);
    expectCode(await rbAsync(copy.root, ['undo', '--yes']), 0);
    expect(manifest(copy.root, EXCL)).toBe(before);

    // another level runs; undo it, then undo the guard by its id
    const files = await rbAsync(r.root, ['files', 'src/a.ts', '--yes', '--no-tests']);
    expectCode(files, 0);
    expect(readFileSync(join(r.root, 'src/a.ts'), 'utf8')).toBe('export const a = 1;\n');
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    expectCodemodResult(r);
    expectCode(await rbAsync(r.root, ['undo', run.id, '--yes']), 0);
    expect(manifest(r.root, EXCL)).toBe(before);
  });

  it('verifies with the configured test command by default: failing, it restores and exits with its code', async () => {
    const r = guardRepo();
    r.write('rb.config.yaml', 'test: [node, -e, "process.exit(require(\'fs\').existsSync(\'src/gen/out.ts\') ? 7 : 0)"]\n');
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['guard', '--', ...editsThenExits(0)]);
    expectCode(res, 7);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(res.stderr).toContain('verification failed (exit 7)');
    const report = readFileSync(join(r.root, 'rollbacks', guardDirs(r)[0]!, 'report.md'), 'utf8');
    expect(report).toMatch(/\*\*Verify:\*\* `node -e /);
    expect(report).toMatch(/\*\*Failed step:\*\* verify \(exit 7\)/);
  });

  it('a failing command that committed: the branch is put back along with the working copy and the index', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const heads = allRefs(r, 'refs/heads');
    const res = await rbAsync(r.root, ['guard', '--', 'sh', '-c', 'echo "export const a = 5;" > src/a.ts && git commit -q -am "by the guarded command" && exit 9']);
    expectCode(res, 9);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(allRefs(r, 'refs/heads')).toBe(heads);
  });

  it('removes the ignored files the command created (the restore\'s safety snapshot keeps them), leaves node_modules, and says so', async () => {
    const r = guardRepo();
    const before = manifest(r.root, { exclude: ['rollbacks', '.env.local'] });
    const res = await rbAsync(r.root, ['guard', '--', NODE, '-e', "require('fs').writeFileSync('.env.local', 'x'); require('fs').writeFileSync('src/a.ts', 'y'); process.exit(2)"]);
    expectCode(res, 2);
    // .gitignore has .env only; .env.local is untracked (not ignored): it goes
    expect(existsSync(join(r.root, '.env.local'))).toBe(false);
    expect(manifest(r.root, { exclude: ['rollbacks', '.env.local'] })).toBe(before);

    r.write('.gitignore', '.env\nbuild/\nnode_modules/\n');
    const before2 = manifest(r.root, { exclude: ['rollbacks', 'node_modules'] });
    const res2 = await rbAsync(r.root, ['guard', '--', NODE, '-e', "const fs = require('fs'); fs.mkdirSync('build'); fs.writeFileSync('build/out.js', 'x'); fs.mkdirSync('node_modules/m', { recursive: true }); fs.writeFileSync('node_modules/m/index.js', 'm'); process.exit(2)"]);
    expectCode(res2, 2);
    expect(res2.stderr).toContain('new ignored files such as build output were removed too, and are kept in the restore\'s safety snapshot; what snapshots never capture, such as node_modules, is left as it is');
    expect(existsSync(join(r.root, 'build'))).toBe(false);
    expect(readFileSync(join(r.root, 'node_modules/m/index.js'), 'utf8')).toBe('m');
    expect(manifest(r.root, { exclude: ['rollbacks', 'node_modules'] })).toBe(before2);
    const holders = r.git('for-each-ref', '--format=%(refname)', 'refs/rb/snapshots/').split('\n').filter(Boolean)
      .filter((ref) => gitRun(r.root, ['cat-file', '-e', `${ref}:ignored/build/out.js`]).code === 0);
    expect(holders, 'a snapshot keeps build/out.js').toHaveLength(1);
  });

  it('--json prints exactly one JSON document on stdout on failure (and on success)', async () => {
    const r = guardRepo();
    const before = manifest(r.root, EXCL);
    const res = await rbAsync(r.root, ['guard', '--json', '--', ...editsThenExits(6)]);
    expectCode(res, 6);
    const doc = JSON.parse(res.stdout); // throws on anything but exactly one document
    // the guarded run as it ended: aborted by the restore, which it names; the error carries the command's code
    expect(doc.run).toMatchObject({ playbook: 'guard', status: 'aborted', cause: 'guard' });
    expect(doc.run.undoneBy).toMatch(/-abort$/);
    expect(doc).toMatchObject({ restored: true, report: expect.stringMatching(/^rollbacks\/guard-.*\/report\.md$/), error: { exit: 6, message: expect.stringContaining('the guarded command failed (exit 6)') } });
    expect(res.stdout.trim().startsWith('{')).toBe(true);
    expect(res.stderr).toContain('the guarded command failed (exit 6)');
    expect(manifest(r.root, EXCL)).toBe(before);

    const ok = await rbAsync(r.root, ['guard', '--json', '--', NODE, '-e', 'process.exit(0)']);
    expectCode(ok, 0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ run: { playbook: 'guard', status: 'succeeded' }, restored: false, report: null });
  });

  it('without a command: exit 2, nothing changed', async () => {
    const r = guardRepo();
    const before = manifest(r.root) + allRefs(r);
    const res = await rbAsync(r.root, ['guard']);
    expectCode(res, 2);
    expect(manifest(r.root) + allRefs(r)).toBe(before);
    expect(runsOf(r)).toEqual([]);
  });
});
