/**
 * rb analyze: the bundle's files and archive on a repository whose sprint failed; secrets (an
 * environment variable of the rb process, and .env) appear in no file of the bundle and not in
 * the tar.gz; a failing collector is recorded, not fatal; collectors run concurrently (their
 * start/end times overlap) and under a timeout. The command is imported (src/cli.ts registers it).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { x as untar } from 'tar';
import { tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { analyze } from '../src/analyze/bundle.js';
import { runCollectors, runCollectorsSequentially, type Collector, type CollectorResult } from '../src/analyze/collectors.js';
import { redact, redactDeep, redactor, secretsOf } from '../src/analyze/redact.js';
import { likelyCauses } from '../src/analyze/causes.js';
import { analyzeCommand } from '../src/commands/analyze.js';
import { writeRun, type RunRecord } from '../src/journal/journal.js';
import { UsageError } from '../src/errors.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 });

const repos = tmpRepos();

const SECRET = 'sekret-value-123';
const DOTENV_ONLY = 'dotenv-only-secret-456';

beforeEach(() => {
  process.env.MY_API_TOKEN = SECRET;
});
afterEach(() => {
  delete process.env.MY_API_TOKEN;
});

const LOCK = (v: string) => JSON.stringify({ name: 'app', version: v, lockfileVersion: 3, requires: true, packages: { '': { name: 'app', version: v } } }, null, 2) + '\n';

/**
 * A repository where sprint 4 failed: the baseline, then commits on feature/auth that change the
 * lockfile, a recorded sprint run (journal, report, test output — each holding the secret),
 * .env with secrets, and an rb.config.yaml whose test command prints the secret variable.
 */
function failedSprintRepo(configExtra = ''): { r: TestRepo; baseline: string; failed: string; runId: string } {
  const r = repos.make();
  r.write('package.json', JSON.stringify({ name: 'app', version: '1.0.0', private: true }) + '\n');
  r.write('package-lock.json', LOCK('1.0.0'));
  r.write('.gitignore', '.env\n');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'baseline: app 1.0.0');
  r.git('branch', 'baseline');
  const baseline = r.git('rev-parse', 'HEAD').trim();
  r.git('switch', '-q', '-c', 'feature/auth');
  r.write('src/auth.js', 'export const login = () => {};\n');
  r.write('package-lock.json', LOCK('1.1.0'));
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'auth refactor');
  const failed = r.git('rev-parse', 'HEAD').trim();
  // an rb snapshot ref (rb's bookkeeping: left out of git_graph.txt)
  const snap = r.git('commit-tree', '-p', failed, '-m', 'rb snapshot bookkeeping', `${failed}^{tree}`).trim();
  r.git('update-ref', 'refs/rb/snapshots/20261122-101502-feature-auth-a1b2', snap);
  r.write('.env', `MY_API_TOKEN=${SECRET}\nDB_PASSWORD=${DOTENV_ONLY}\n`);
  r.write('rb.config.yaml', [
    // prints the secret variable and an import error, fails like a broken suite
    `test: ${JSON.stringify(`node -e "console.log('token=' + process.env.MY_API_TOKEN); console.log(\\"Error: Cannot find module './session'\\"); process.exit(1)"`)}`,
    'coverage: exit 7',
    'install:',
    '  - command: [node, -e, "0"]',
    '    lockfiles: [package-lock.json]',
    '    dir: node_modules',
    configExtra,
  ].join('\n') + '\n');
  // what `rb sprint 4` left: its records and journal
  r.write('rollbacks/sprint-4/report.md', `# Sprint 4 rollback\n\nThe token ${SECRET} leaked into this report.\n`);
  r.write('rollbacks/sprint-4/test_failures.txt', `Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'left-pad'\ntoken=${SECRET}\n`);
  const runId = '20261122-101502-sprint-4';
  writeRun(r.repo(), fakeSprintRun(r, runId, baseline, failed));
  return { r, baseline, failed, runId };
}

function fakeSprintRun(r: TestRepo, id: string, baseline: string, failed: string): RunRecord {
  const repo = r.repo();
  return {
    version: 1, id, playbook: 'sprint', playbookFile: 'playbooks/sprint.yaml', playbookSource: 'built-in', title: 'Sprint rollback',
    level: 2, severity: 'high', target: '15m', params: { sprint: 4 }, reason: 'login broken after the auth refactor', cause: 'tests',
    status: 'succeeded', dryRun: false, pid: 1, host: 'test', user: { name: 't', email: 't@example.invalid', os: 't' },
    startedAt: '2026-11-22T10:15:02.000Z', endedAt: '2026-11-22T10:15:30.000Z', durationMs: 28_000,
    root: repo.root, gitDir: repo.gitDir, stamp: '20261122-101502', runDir: 'sprint-4',
    baseline: { name: 'baseline', ref: 'refs/heads/baseline', oid: baseline, remoteRef: null },
    head: { before: { ref: 'refs/heads/feature/auth', oid: failed }, after: { ref: 'refs/heads/refactor/sprint-4-retry', oid: baseline } },
    refs: { before: {} }, snapshot: '20261122-101502-feature-auth-a1b2',
    steps: [
      {
        id: 'tests', title: 'Run the tests', kind: 'tests.run', group: 'document', destructive: false, status: 'succeeded', planned: [],
        outputTail: `token=${SECRET}`,
        result: { framework: 'node:test', passed: 4, failed: 2, failures: ['auth > login', 'auth > logout'], exitCode: 1, file: 'rollbacks/sprint-4/test_failures.txt', outputTail: `token=${SECRET}` },
      },
      { id: 'backup', title: 'Back it up', kind: 'git.branch', destructive: false, status: 'succeeded', planned: [], result: { branch: 'backup/sprint-4-20261122-101502', oid: failed } },
      { id: 'retry', title: 'Retry branch', kind: 'git.switch', destructive: true, status: 'succeeded', planned: [], result: { branch: 'refactor/sprint-4-retry', oid: baseline } },
    ],
    warnings: [], changed: true, report: 'rollbacks/sprint-4/report.md',
  };
}

/** Every file under dir (relative paths). */
function walk(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((e) => {
    const rel = base ? `${base}/${e.name}` : e.name;
    return e.isDirectory() ? walk(dir, rel) : [rel];
  });
}

describe('rb analyze: the bundle', () => {
  it('writes every file and the archive; secrets appear nowhere; a failing collector is recorded', async () => {
    const { r, baseline, failed, runId } = failedSprintRepo();
    const statusBefore = r.git('status', '--porcelain', '--untracked-files=all');
    const res = await analyze({ cwd: r.root, now: new Date(2026, 10, 22, 11, 0, 0) });

    // the folder and its files
    expect(res.dir).toBe(join(r.root, 'rollbacks/analysis-20261122-110000'));
    expect(res.run).toBe(runId);
    const files = walk(res.dir).sort();
    expect(files).toEqual([
      'analysis.md', 'coverage.txt', 'dependencies.txt', 'disk_space.txt', 'environment.txt', 'git_graph.txt', 'git_reflog.txt', 'git_refs.txt', 'index.html',
      'memory.txt', 'performance.txt', 'report.md', 'run.json', 'run_test_output.txt', 'test_results.txt',
    ]);
    expect(files).toEqual([...res.files].sort());

    // collected content
    const read = (f: string) => readFileSync(join(res.dir, f), 'utf8');
    expect(read('git_graph.txt')).toContain('auth refactor');
    expect(read('git_graph.txt')).not.toContain('rb snapshot bookkeeping');
    expect(read('git_reflog.txt')).toMatch(/HEAD@\{/);
    // branches and tags through simple-git: each branch with its commit and subject, the current one marked
    const refsTxt = read('git_refs.txt');
    expect(refsTxt).toMatch(new RegExp(`^\\* feature/auth +${failed.slice(0, 12)} {2}auth refactor$`, 'm'));
    expect(refsTxt).toMatch(new RegExp(`^ {2}baseline +${baseline.slice(0, 12)} {2}baseline: app 1\\.0\\.0$`, 'm'));
    expect(refsTxt).toContain('Tags (0, newest first):');
    expect(read('test_results.txt')).toContain('token=[REDACTED:MY_API_TOKEN]');
    expect(read('dependencies.txt')).toContain('npm ls --all');
    expect(read('disk_space.txt')).toMatch(/statfs .*available/);
    expect(read('memory.txt')).toMatch(/^total: /m);
    expect(read('environment.txt')).toContain(`node: ${process.version}`);
    expect(read('environment.txt')).toMatch(/^git: {2}git version/m);
    expect(read('performance.txt')).toContain('skipped: no performance command configured');
    expect(JSON.parse(read('run.json')).id).toBe(runId);
    expect(read('report.md')).toContain('# Sprint 4 rollback');

    // the failing collector: recorded in its file, in analysis.md and in the result; the rest ran
    expect(read('coverage.txt')).toContain('# result: failed: exit 7');
    const coverage = res.collectors.find((c) => c.name === 'coverage')!;
    expect(coverage).toMatchObject({ status: 'failed', exitCode: 7, reason: 'exit 7' });
    expect(res.collectors.filter((c) => c.status === 'ok').map((c) => c.name).sort()).toEqual(['dependencies', 'disk', 'environment', 'graph', 'memory', 'reflog', 'refs']);

    // analysis.md
    const md = read('analysis.md');
    expect(md).toContain(`- **Failure detected:** 2026-11-22T10:15:02.000Z — run \`${runId}\` started; reason: login broken after the auth refactor`);
    expect(md).toContain(`- **Last good commit on the baseline** (\`baseline\`): \`${baseline.slice(0, 7)} baseline: app 1.0.0`);
    expect(md).toContain(`- **Failed branch:** \`feature/auth\`, head \`${failed.slice(0, 7)} auth refactor`);
    expect(md).toContain('the work is kept on `backup/sprint-4-20261122-101502`');
    expect(md).toContain('retry branch `refactor/sprint-4-retry`');
    expect(md).toContain('- **at the rollback (run 20261122-101502-sprint-4)** (node:test): 2 failed, 4 passed (exit 1) — failing: `auth > login`, `auth > logout`');
    expect(md).toContain('### 1. Dependency conflict');
    expect(md).toMatch(/package-lock\.json changed between baseline \([0-9a-f]{7}\) and backup\/sprint-4-20261122-101502 \([0-9a-f]{7}\) \(\+2 −2 lines\)/);
    expect(md).toContain('### 2. Import error');
    expect(md).toContain("run_test_output.txt: `Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'left-pad'`");
    expect(md).toContain("test_results.txt: `Error: Cannot find module './session'`");
    expect(md).toContain('### 3. Failing tests');
    expect(md).toContain('2 failing tests at the rollback');
    expect(md).toContain('`rb recover backup/sprint-4-20261122-101502`');
    expect(md).toContain('| coverage.txt | output of the configured coverage command | **failed**: exit 7 |');
    expect(md).toContain('## Secrets');
    expect(res.causes.map((c) => c.id)).toEqual(['dependencies', 'imports', 'tests']);

    // no secret in any file of the bundle ...
    for (const f of files) {
      const text = read(f);
      expect(text, f).not.toContain(SECRET);
      expect(text, f).not.toContain(DOTENV_ONLY);
    }
    // ... nor in the archive: the decompressed bytes, and the extracted files
    expect(res.archive).toBe(`${res.dir}.tar.gz`);
    const raw = gunzipSync(readFileSync(res.archive!));
    expect(raw.includes(SECRET)).toBe(false);
    expect(raw.includes(DOTENV_ONLY)).toBe(false);
    const out = tmpDir('rb-test-untar-');
    await untar({ file: res.archive!, cwd: out });
    const extracted = walk(join(out, 'analysis-20261122-110000')).sort();
    expect(extracted).toEqual(files);
    for (const f of extracted) expect(readFileSync(join(out, 'analysis-20261122-110000', f), 'utf8')).not.toContain(SECRET);
    // the repository itself was not changed
    // (rollbacks/ is now in .git/info/exclude, as every rb run does on first use)
    expect(r.git('status', '--porcelain', '--untracked-files=all')).toBe(statusBefore.split('\n').filter((l) => !l.startsWith('?? rollbacks/')).join('\n'));
    expect(r.git('rev-parse', 'HEAD').trim()).toBe(failed);
  });

  it('collectors run concurrently: two sleeping commands overlap; --out and --no-archive', async () => {
    const r = repos.make();
    r.write('rb.config.yaml', [
      'coverage: node -e "setTimeout(()=>{},1500)"',
      'performance: node -e "setTimeout(()=>{},1500)"',
    ].join('\n') + '\n');
    const res = await analyze({ cwd: r.root, out: 'bundle', archive: false });
    expect(res.dir).toBe(join(r.root, 'bundle'));
    expect(res.archive).toBeNull();
    expect(() => statSync(`${res.dir}.tar.gz`)).toThrow();
    const cov = res.collectors.find((c) => c.name === 'coverage')!;
    const perf = res.collectors.find((c) => c.name === 'performance')!;
    expect([cov.status, perf.status]).toEqual(['ok', 'ok']);
    expect(cov.durationMs).toBeGreaterThanOrEqual(1400);
    expect(perf.durationMs).toBeGreaterThanOrEqual(1400);
    // structural: each started before the other ended
    expect(cov.startedMs).toBeLessThan(perf.endedMs);
    expect(perf.startedMs).toBeLessThan(cov.endedMs);
    expect(res.concurrent).toBe(true);
    // no run recorded: the analysis says so and describes the current state
    const md = readFileSync(join(res.dir, 'analysis.md'), 'utf8');
    expect(md).toContain('No level run (rb emergency, rb sprint, rb files) is recorded');
    expect(md).toContain('- **Current state** (branch `main`)');
    expect(md).toContain('test_results.txt | output of the configured test command, run now | skipped: no test command configured');
    // an --out folder that is not empty is refused
    await expect(analyze({ cwd: r.root, out: 'bundle' })).rejects.toBeInstanceOf(UsageError);
  });

  it('--run names an unknown run: a usage error pointing to rb history', async () => {
    const r = repos.make();
    const e = (await analyze({ cwd: r.root, run: 'nope' }).catch((x: unknown) => x)) as UsageError;
    expect(e).toBeInstanceOf(UsageError);
    expect(e.exitCode).toBe(2);
    expect(e.next).toContain('rb history');
  });

  it('analyzeCommand --json prints one JSON document', async () => {
    const r = repos.make();
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((c: string) => ((out += c), true)) as typeof process.stdout.write);
    try {
      expect(await analyzeCommand({ json: true, archive: false }, { parent: { opts: () => ({ cwd: r.root }) } })).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const j = JSON.parse(out);
    expect(j.archive).toBeNull();
    expect(j.collectors.map((c: { file: string }) => c.file)).toContain('environment.txt');
    expect(j.collectors[0]).not.toHaveProperty('text');
  });
});

describe('runCollectors', () => {
  const sleeper = (name: string, ms: number, outcome: 'ok' | 'throw' | 'never' = 'ok'): Collector => ({
    name, file: `${name}.txt`, title: name,
    collect: () => outcome === 'never'
      ? new Promise(() => undefined)
      : new Promise((resolve, reject) => setTimeout(() => (outcome === 'throw' ? reject(new Error('boom')) : resolve({ text: name })), ms)),
  });
  const ctx = { root: process.cwd(), config: {} as never };
  const overlaps = (a: CollectorResult, b: CollectorResult) => a.startedMs < b.endedMs && b.startedMs < a.endedMs;

  it('concurrently: all start before any ends; a throwing or hanging collector is recorded, not fatal', async () => {
    const res = await runCollectors([sleeper('a', 200), sleeper('b', 200), sleeper('c', 50, 'throw'), sleeper('d', 0, 'never')], ctx, { timeoutMs: 1000 });
    expect(res.map((r) => r.status)).toEqual(['ok', 'ok', 'failed', 'timeout']);
    expect(overlaps(res[0]!, res[1]!)).toBe(true);
    expect(res[2]!.reason).toBe('could not collect: boom');
    expect(res[3]!.reason).toMatch(/^timed out after 1.0 s/);
  });

  it('sequentially: each starts after the previous ended', async () => {
    const res = await runCollectorsSequentially([sleeper('a', 100), sleeper('b', 100), sleeper('c', 100)], ctx);
    expect(res.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    expect(res[1]!.startedMs).toBeGreaterThanOrEqual(res[0]!.endedMs);
    expect(res[2]!.startedMs).toBeGreaterThanOrEqual(res[1]!.endedMs);
  });
});

describe('redaction and causes (pure)', () => {
  it('redacts values of secret-looking variables (4+ chars), extra values and URL credentials', () => {
    const secrets = secretsOf(
      { GITHUB_TOKEN: 'ghp_abcdef', db_password: 'hunter22', API_KEY: 'abc', PATH: '/usr/bin', SESSION_ID: 'sess-9999', HOME: '/home/x' },
      [{ name: 'notify.webhook', value: 'https://hooks.example.com/T/B/xyz' }],
    );
    expect(secrets.map((s) => s.name).sort()).toEqual(['GITHUB_TOKEN', 'SESSION_ID', 'db_password', 'notify.webhook']);
    const text = 'a ghp_abcdef b hunter22 c abc /usr/bin https://me:pw@example.com/x post https://hooks.example.com/T/B/xyz';
    expect(redact(text, secrets)).toBe('a [REDACTED:GITHUB_TOKEN] b [REDACTED:db_password] c abc /usr/bin https://[REDACTED]@example.com/x post [REDACTED:notify.webhook]');
  });

  it('redacts inside JSON values before they are serialised (quotes would hide a value from the text pass)', () => {
    const clean = redactor(secretsOf({ SESSION_COOKIE: 'a"b\\c' }));
    const json = JSON.stringify(redactDeep({ list: ['x a"b\\c y'], n: 1, nested: { v: 'a"b\\c' } }, clean));
    expect(json).toBe('{"list":["x [REDACTED:SESSION_COOKIE] y"],"n":1,"nested":{"v":"[REDACTED:SESSION_COOKIE]"}}');
  });

  it('scope: a very large change is named with its size', () => {
    const causes = likelyCauses({
      baselineName: 'baseline (aaaaaaa)', failedName: 'feature (bbbbbbb)', baselineRev: 'aaaaaaa', failedRev: 'bbbbbbb',
      lockfileChanges: [], dependencyProblems: [], outputs: [], tests: [], build: { exitCode: 2, reason: 'exit 2', errors: ['src/a.ts(1,1): error TS2304'] },
      diff: { files: 120, insertions: 5000, deletions: 300, commits: 40 }, failedBranch: 'feature',
    });
    expect(causes.map((c) => c.id)).toEqual(['build', 'scope']);
    expect(causes[1]!.evidence[0]).toBe('120 files changed, +5000 −300 lines in 40 commits between baseline (aaaaaaa) and feature (bbbbbbb) (more than 50 files or 2000 lines)');
    expect(causes[0]!.evidence).toContain('build.txt: `src/a.ts(1,1): error TS2304`');
  });
});
