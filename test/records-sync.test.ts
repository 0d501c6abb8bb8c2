/**
 * Issue 20: run records as git objects under refs/rb/records/, shared through a real remote —
 * a bare repository served by `git daemon` on 127.0.0.1 (started and stopped here) and a
 * file:// remote — between two clones that run rb at the same time; snapshots stay local unless
 * pushed one by one; an unreachable remote never fails a rollback nor delays it past the timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyRepo, gitIn, gitRun, sh, tmpDir, wrap, type TestRepo } from './helpers/repo.js';
import { baseRepo, outOf, rbAsync } from './helpers/scenarios.js';
import { rb } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** `git daemon` serving every repository under `base`, push enabled; stopped by stop(). */
async function gitDaemon(base: string): Promise<{ url: (repo: string) => string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('git', ['daemon', '--reuseaddr', '--listen=127.0.0.1', `--port=${port}`, `--base-path=${base}`, '--export-all', '--enable=receive-pack', '--informative-errors', base], { stdio: 'ignore', detached: true });
  const url = (repo: string) => `git://127.0.0.1:${port}/${repo}`;
  const start = Date.now();
  while (gitRun(base, ['ls-remote', url('origin.git')]).code !== 0) {
    if (Date.now() - start > 15_000) throw new Error('git daemon did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

/** A TCP port that accepts connections and never answers (a remote that hangs). */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const s: Server = createServer((sock) => sockets.push(sock));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return {
    port: (s.address() as { port: number }).port,
    close: async () => {
      for (const k of sockets) k.destroy();
      await new Promise((r) => s.close(r));
    },
  };
}

const CONFIG = 'test: "true"\nrecords: { share: true, timeoutSeconds: 20 }\n';

/** Two clones of one origin: A (the fixture's work tree) and B (a fresh clone), each with rb.config.yaml. */
function team(): { a: TestRepo; b: TestRepo; origin: string } {
  const a = copyRepo(baseRepo());
  const bRoot = join(a.dir, 'b');
  gitIn(a.dir, 'clone', '-q', a.origin!, bRoot);
  const b = wrap(bRoot, a.origin, a.dir);
  b.git('config', 'user.name', 'Bea');
  b.git('config', 'user.email', 'bea@example.com');
  b.git('branch', '-f', 'baseline', 'origin/baseline');
  for (const r of [a, b]) {
    r.write('rb.config.yaml', CONFIG);
    r.write('.git/info/exclude', 'rb.config.yaml\n');
  }
  return { a, b, origin: a.origin! };
}

function recordRefs(cwd: string, remote?: string): string[] {
  const out = remote ? gitIn(cwd, 'ls-remote', remote, 'refs/rb/*') : gitIn(cwd, 'for-each-ref', '--format=%(objectname)\t%(refname)', 'refs/rb/');
  return out.split('\n').filter(Boolean).map((l) => l.split('\t')[1]!).filter((r) => r.startsWith('refs/rb/')).sort();
}

const runIdOf = (out: string) => /run (\d{8}-\d{6}-[a-z0-9-]+?) (succeeded|failed)/.exec(out)?.[1] ?? null;

describe('records as git objects (point 1)', () => {
  it('a run writes one ref per writer and run: record, audit and metrics, redacted; the index and the work tree are untouched', async () => {
    const { a } = team();
    a.write('src/a.ts', 'export const a = 42; // a change rb files puts back\n');
    a.write('notes.txt', 'untracked\n');
    a.write('.git/info/exclude', 'rb.config.yaml\n');
    a.write('rb.config.yaml', 'test: "true"\n');
    const r = rb(a.root, ['files', 'src/a.ts', '--yes', '--no-tests', '--reason', 'deploy token s3cr3t-t0ken-value leaked'], { DEPLOY_TOKEN: 's3cr3t-t0ken-value' });
    expect(r.code, outOf(r)).toBe(0);
    const id = runIdOf(r.stdout)!;
    const refs = recordRefs(a.root).filter((x) => x.startsWith('refs/rb/records/'));
    expect(refs).toHaveLength(1);
    expect(refs[0]).toMatch(new RegExp(`^refs/rb/records/[0-9a-f]{12}/runs/${id}$`));
    expect(gitIn(a.root, 'ls-tree', '--name-only', refs[0]!).split('\n').filter(Boolean)).toEqual(['audit.json', 'metrics.json', 'record.json']);
    const record = JSON.parse(gitIn(a.root, 'show', `${refs[0]}:record.json`));
    expect(record).toMatchObject({ id, playbook: 'files', status: 'succeeded', level: 3 });
    expect(record.reason).toBe('deploy token [REDACTED:DEPLOY_TOKEN] leaked');
    expect(record.root).toBeUndefined();
    const audit = JSON.parse(gitIn(a.root, 'show', `${refs[0]}:audit.json`));
    expect(audit).toMatchObject({ run_id: id, action: 'run', result: 'succeeded' });
    const metrics = JSON.parse(gitIn(a.root, 'show', `${refs[0]}:metrics.json`));
    expect(metrics).toMatchObject({ run_id: id, level: 3 });
    // no file of the record holds the secret
    for (const f of ['record.json', 'audit.json', 'metrics.json']) expect(gitIn(a.root, 'show', `${refs[0]}:${f}`)).not.toContain('s3cr3t-t0ken-value');
    // the record is a root commit made by plumbing: no branch moved to it, not in the index
    expect(gitIn(a.root, 'rev-list', '--count', refs[0]!).trim()).toBe('1');
  });

  it('writing a record never touches the index or the work tree, and appends to the chain when written again', async () => {
    const { a } = team();
    a.write('src/a.ts', 'staged\n');
    a.git('add', 'src/a.ts');
    a.write('src/a.ts', 'unstaged on top\n');
    a.write('notes.txt', 'untracked\n');
    const before = manifest(a.root);
    const indexBefore = sh(a.root, 'stat -c %Y.%s .git/index; sha256sum .git/index');
    const { writeRecord } = await import('../src/records/git-records.js');
    const repo = a.repo();
    const one = await writeRecord(repo, { kind: 'runs', id: '20261207-120000-files', audit: { result: 'succeeded' } as never, secrets: [] });
    const two = await writeRecord(repo, { kind: 'runs', id: '20261207-120000-files', metrics: { timestamp: 'x', sprint: null, severity: 'low', cause: 'c', recovery_time_minutes: 1 }, secrets: [] });
    expect(manifest(a.root)).toBe(before);
    expect(sh(a.root, 'stat -c %Y.%s .git/index; sha256sum .git/index')).toBe(indexBefore);
    expect(two.ref).toBe(one.ref);
    expect(gitIn(a.root, 'rev-parse', `${two.commit}^`).trim()).toBe(one.commit);
    // the audit file written the first time is carried into the second commit
    expect(JSON.parse(gitIn(a.root, 'show', `${two.ref}:audit.json`))).toEqual({ result: 'succeeded' });
  });
});

describe('the record\'s ref: guessed from its loose file, checked by the compare-and-swap (issue 18)', () => {
  it('a packed record ref (no loose file: the guess "new record" is wrong): update-ref refuses, rb asks git and appends', async () => {
    const { a } = team();
    const { writeRecord } = await import('../src/records/git-records.js');
    const repo = a.repo();
    const id = '20261207-130000-files';
    const one = await writeRecord(repo, { kind: 'runs', id, audit: { result: 'succeeded' } as never, secrets: [] });
    gitIn(a.root, 'pack-refs', '--all');
    expect(existsSync(join(a.root, '.git', one.ref))).toBe(false);
    const two = await writeRecord(repo, { kind: 'runs', id, metrics: { timestamp: 'x', sprint: null, severity: 'low', cause: 'c', recovery_time_minutes: 1 }, secrets: [] });
    expect(gitIn(a.root, 'rev-parse', `${two.commit}^`).trim()).toBe(one.commit);
    expect(gitIn(a.root, 'rev-parse', two.ref).trim()).toBe(two.commit);
    expect(JSON.parse(gitIn(a.root, 'show', `${two.ref}:audit.json`))).toEqual({ result: 'succeeded' });
  });
});

describe('the writer id', () => {
  it('rb processes starting at once in a fresh clone agree on one writer', async () => {
    const { a } = team();
    const commonDir = join(a.root, '.git');
    const mod = new URL('../dist/records/git-records.js', import.meta.url).href;
    const code = `import(${JSON.stringify(mod)}).then((m) => console.log(m.writerId({ commonDir: ${JSON.stringify(commonDir)} })))`;
    const ids = await Promise.all(Array.from({ length: 6 }, () => new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout!.on('data', (d) => (out += d));
      c.on('close', (n) => (n === 0 ? resolve(out.trim()) : reject(new Error(`exit ${n}`))));
    })));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^[0-9a-f]{12}$/);
    expect(sh(a.root, 'cat .git/rb/writer').trim()).toBe(ids[0]);
  });
});

describe('a real remote (points 2, 3, 6)', () => {
  let daemon: Awaited<ReturnType<typeof gitDaemon>>;
  let t: ReturnType<typeof team>;
  beforeAll(async () => {
    t = team();
    daemon = await gitDaemon(t.a.dir);
    for (const r of [t.a, t.b]) r.git('remote', 'set-url', 'origin', daemon.url('origin.git'));
  }, 60_000);
  afterAll(async () => {
    await daemon?.stop();
  });

  it('concurrent runs in two clones, synced through git daemon both ways: nothing lost, nothing counted twice', async () => {
    const { a, b } = t;
    a.write('src/a.ts', 'broken in A\n');
    b.write('src/b.ts', 'broken in B\n');
    // both at once: each run records, then syncs (records.share) with the daemon
    const [ra, rbb] = await Promise.all([
      rbAsync(a.root, ['files', 'src/a.ts', '--yes', '--no-tests']),
      rbAsync(b.root, ['files', 'src/b.ts', '--yes', '--no-tests']),
    ]);
    expect(ra.code, outOf(ra)).toBe(0);
    expect(rbb.code, outOf(rbb)).toBe(0);
    expect(outOf(ra) + outOf(rbb)).not.toMatch(/records not shared/);
    // the second to sync got the first one's record; one more sync each way settles both
    for (const r of [a, b]) {
      const s = rb(r.root, ['sync', '--json']);
      expect(s.code, outOf(s)).toBe(0);
    }
    const onRemote = recordRefs(a.root, 'origin').filter((x) => x.startsWith('refs/rb/records/'));
    expect(onRemote).toHaveLength(2);
    expect(recordRefs(a.root).filter((x) => x.startsWith('refs/rb/records/'))).toEqual(onRemote);
    expect(recordRefs(b.root).filter((x) => x.startsWith('refs/rb/records/'))).toEqual(onRemote);
    // syncing again changes nothing and counts nothing twice
    const again = JSON.parse(rb(b.root, ['sync', '--json']).stdout).sync;
    expect(again).toMatchObject({ fetched: { added: 0, updated: 0 }, pushed: 0, errors: [] });
    for (const r of [a, b]) {
      const m = JSON.parse(rb(r.root, ['metrics', '--team', '--json']).stdout);
      expect(m.total).toBe(2);
      expect(m.clones).toBe(2);
      const h = JSON.parse(rb(r.root, ['history', '--team', '--json']).stdout);
      expect(h.runs.filter((x: { playbook: string }) => x.playbook === 'files')).toHaveLength(2);
      expect(h.runs.filter((x: { mine: boolean }) => x.mine)).toHaveLength(1);
      // alone, each clone still counts only its own
      expect(JSON.parse(rb(r.root, ['metrics', '--json']).stdout).total).toBe(1);
    }
  }, 120_000);

  it('rb sync never pushes snapshots; rb snapshots push sends one, without its ignored part unless --include-ignored', async () => {
    const { a } = t;
    a.write('.env', 'API_KEY=very-secret-value\n');
    const c1 = JSON.parse(rb(a.root, ['snapshots', 'create', '-m', 'one', '--json']).stdout).snapshot;
    expect(gitIn(a.root, 'ls-tree', '-r', '--name-only', c1.commit, '--', 'ignored')).toContain('ignored/.env');
    expect(rb(a.root, ['sync']).code).toBe(0);
    expect(recordRefs(a.root).some((x) => x.startsWith('refs/rb/snapshots/'))).toBe(true);
    expect(recordRefs(a.root, 'origin').filter((x) => x.startsWith('refs/rb/snapshots/'))).toEqual([]);

    const p = rb(a.root, ['snapshots', 'push', c1.id]);
    expect(p.code, outOf(p)).toBe(0);
    expect(p.stdout).toContain(`pushed snapshot ${c1.id} to origin`);
    expect(p.stdout).toMatch(/without its 2 ignored file\(s\), which stay in this clone: \.env, rb\.config\.yaml/);
    const pushed = gitIn(t.origin, 'rev-parse', `refs/rb/snapshots/${c1.id}`).trim();
    expect(gitIn(t.origin, 'ls-tree', '--name-only', pushed)).not.toMatch(/^ignored$/m);
    expect(gitIn(t.origin, 'ls-tree', '--name-only', pushed)).toMatch(/^worktree$/m);
    expect(gitIn(t.origin, 'log', '-1', '--format=%B', pushed)).toContain('rb-ignored-omitted: 2');
    // the local snapshot keeps everything
    expect(gitIn(a.root, 'rev-parse', `refs/rb/snapshots/${c1.id}`).trim()).toBe(c1.commit);

    const c2 = JSON.parse(rb(a.root, ['snapshots', 'create', '-m', 'two', '--json']).stdout).snapshot;
    const p2 = rb(a.root, ['snapshots', 'push', c2.id, '--include-ignored']);
    expect(p2.code, outOf(p2)).toBe(0);
    expect(p2.stdout).toContain('with its 2 ignored file(s) (--include-ignored)');
    expect(gitIn(t.origin, 'rev-parse', `refs/rb/snapshots/${c2.id}`).trim()).toBe(c2.commit);
  }, 120_000);

  it('a file:// remote works the same way', async () => {
    const { a, b, origin } = t;
    for (const r of [a, b]) r.git('remote', 'add', 'shared', `file://${origin}`);
    b.write('src/c.ts', 'broken again in B\n');
    const r1 = rb(b.root, ['files', 'src/c.ts', '--yes', '--no-tests']);
    expect(r1.code, outOf(r1)).toBe(0);
    const s1 = rb(b.root, ['sync', '--remote', 'shared', '--json']);
    expect(s1.code, outOf(s1)).toBe(0);
    const s2 = JSON.parse(rb(a.root, ['sync', '--remote', 'shared', '--json']).stdout).sync;
    expect(s2.fetched.added).toBe(1);
    expect(JSON.parse(rb(a.root, ['metrics', '--team', '--json']).stdout).total).toBe(3);
    // a teammate's run, shown read-only (point 4)
    const id = runIdOf(r1.stdout)!;
    const show = rb(a.root, ['show', id]);
    expect(show.code, outOf(show)).toBe(0);
    expect(show.stdout).toContain(`Run ${id}: Restore selected files from the baseline`);
    expect(show.stdout).toMatch(/a teammate's run \(writer [0-9a-f]{12}\), from refs\/rb\/records\/ — read-only here/);
    expect(show.stdout).toContain('by Bea on');
    // rb check in CI is a record too: its checkpoint counts as a sprint start of the team (point 4)
    const c = rb(b.root, ['check', '--no-tests', '--json'], { CI: 'true' });
    expect(c.code, outOf(c)).toBe(0);
    expect(rb(b.root, ['sync', '--remote', 'shared']).code).toBe(0);
    expect(rb(a.root, ['sync', '--remote', 'shared']).code).toBe(0);
    const checks = recordRefs(a.root).filter((x) => /^refs\/rb\/records\/[0-9a-f]{12}\/checks\//.test(x));
    expect(checks).toHaveLength(1);
    const shared = JSON.parse(gitIn(a.root, 'show', `${checks[0]}:record.json`));
    expect(shared).toMatchObject({ kind: 'check', ok: true, ci: true, user: { name: 'Bea' } });
    const team = JSON.parse(rb(a.root, ['metrics', '--team', '--json']).stdout);
    expect(team.sprints).toBe(1);
    expect(JSON.parse(rb(a.root, ['metrics', '--json']).stdout).sprints).toBe(0);
    // B undoes its run: the undo is a record of its own, and the team stops counting that rollback
    const u = rb(b.root, ['undo', id, '--yes']);
    expect(u.code, outOf(u)).toBe(0);
    expect(rb(a.root, ['sync', '--remote', 'shared']).code).toBe(0);
    const after = JSON.parse(rb(a.root, ['metrics', '--team', '--json']).stdout);
    expect(after).toMatchObject({ total: 2, undone: 1 });
    const h = JSON.parse(rb(a.root, ['history', '--team', '--json']).stdout);
    const teamStatus = () => JSON.parse(rb(a.root, ['history', '--team', '--json']).stdout).runs.find((x: { id: string; mine: boolean }) => x.id === id && !x.mine).status;
    expect(h.runs.find((x: { id: string; mine: boolean }) => x.id === id && !x.mine).status).toBe('undone');
    // B redoes it (issue 21): the team counts the rollback again; an undo of the redo takes it back again
    const rd = rb(b.root, ['redo', '--yes']);
    expect(rd.code, outOf(rd)).toBe(0);
    expect(rb(a.root, ['sync', '--remote', 'shared']).code).toBe(0);
    expect(JSON.parse(rb(a.root, ['metrics', '--team', '--json']).stdout)).toMatchObject({ total: 3, undone: 0 });
    expect(teamStatus()).toBe('succeeded');
    const redoId = runIdOf(rd.stdout)!;
    const u2 = rb(b.root, ['undo', redoId, '--yes']);
    expect(u2.code, outOf(u2)).toBe(0);
    expect(rb(a.root, ['sync', '--remote', 'shared']).code).toBe(0);
    expect(JSON.parse(rb(a.root, ['metrics', '--team', '--json']).stdout)).toMatchObject({ total: 2, undone: 1 });
    expect(teamStatus()).toBe('undone');
  }, 180_000);
});

describe('rb --help', () => {
  it('lists rb sync, and rb sync --help shows the one-line team setup', () => {
    const h = rb(tmpDir(), ['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^ {2}sync \[options\] +share run records through the git remote/m);
    const s = rb(tmpDir(), ['sync', '--help']);
    expect(s.stdout).toContain('records: { share: true }');
  });
});

describe('an unreachable remote (points 2, 6)', () => {
  it('never fails a rollback and never delays it past records.timeoutSeconds; the next sync pushes what was left', async () => {
    const { a } = team();
    const hang = await silentServer();
    try {
      a.git('remote', 'set-url', 'origin', `git://127.0.0.1:${hang.port}/origin.git`);
      // how long the run takes without sharing, on this machine now
      a.write('rb.config.yaml', 'test: "true"\n');
      a.write('src/a.ts', 'x\n');
      let t0 = Date.now();
      expect(rb(a.root, ['files', 'src/a.ts', '--yes', '--no-tests']).code).toBe(0);
      const plain = Date.now() - t0;
      // with sharing, against a remote that accepts the connection and never answers
      a.write('rb.config.yaml', 'test: "true"\nrecords: { share: true, timeoutSeconds: 2 }\n');
      a.write('src/a.ts', 'y\n');
      t0 = Date.now();
      const r = rb(a.root, ['files', 'src/a.ts', '--yes', '--no-tests']);
      const shared = Date.now() - t0;
      expect(r.code, outOf(r)).toBe(0);
      expect(outOf(r)).toMatch(/warning: records not shared: fetch from origin failed: .*timed out after/);
      expect(shared).toBeLessThan(plain + 2000 + 3000);
      expect(a.git('show', 'HEAD:src/a.ts')).toBe(sh(a.root, 'cat src/a.ts'));
      // a refused connection: a warning at once
      a.git('remote', 'set-url', 'origin', `git://127.0.0.1:${await freePort()}/origin.git`);
      a.write('src/a.ts', 'z\n');
      const refused = rb(a.root, ['files', 'src/a.ts', '--yes', '--no-tests']);
      expect(refused.code, outOf(refused)).toBe(0);
      expect(outOf(refused)).toMatch(/records not shared/);
      // the remote comes back: the next sync pushes every record left behind
      a.git('remote', 'set-url', 'origin', a.origin!);
      const s = JSON.parse(rb(a.root, ['sync', '--json']).stdout).sync;
      expect(s.pushed).toBe(3);
      expect(recordRefs(a.root, 'origin').filter((x) => x.startsWith('refs/rb/records/'))).toHaveLength(3);
    } finally {
      await hang.close();
    }
  }, 120_000);

  it('rb sync says what failed and exits 1; no remote named: exit 3, nothing changed', async () => {
    const { a } = team();
    a.git('remote', 'set-url', 'origin', `git://127.0.0.1:${await freePort()}/origin.git`);
    const r = rb(a.root, ['sync']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rb sync with origin did not finish: fetch from origin failed/);
    expect(r.stderr).toContain('next: check the remote');
    const n = rb(a.root, ['sync', '--remote', 'nope']);
    expect(n.code).toBe(3);
    expect(n.stderr).toContain('this repository has no remote named "nope"');
  }, 60_000);
});
