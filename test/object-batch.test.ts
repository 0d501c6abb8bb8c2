/**
 * io/object-batch.ts against git itself (issue 18): a commit made in-process is byte for byte the
 * one `git commit-tree` writes for the same tree, parents, message, identity (env, author.* /
 * committer.* / user.* config, rb's fallback), date and time zone, in SHA-1 and SHA-256
 * repositories; what rb cannot be sure of is left to commit-tree; a batch is written by one git
 * process (loose below PACK_FROM objects, one pack from there on) and fsck finds nothing.
 */
import { readdirSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { git, identityFromConfig } from '../src/io/git.js';
import { ObjectBatch, PACK_FROM, addCommit, commitIdentity, hashObject, messageFromParagraphs } from '../src/io/object-batch.js';
import { gitRun, tmpDir, tmpRepos, wrap, type TestRepo } from './helpers/repo.js';

const repos = tmpRepos();
const savedTz = process.env.TZ;
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

/** A repository in the given object format, with one commit. */
function repoOf(format: 'sha1' | 'sha256'): TestRepo {
  const dir = tmpDir('rb-objbatch-');
  const root = join(dir, 'work');
  expect(gitRun(dir, ['init', '-q', `--object-format=${format}`, '-b', 'main', root]).code).toBe(0);
  const r = wrap(root, null, dir);
  r.git('config', 'user.name', 'rb test');
  r.git('config', 'user.email', 'rb-test@example.invalid');
  r.write('a.txt', 'a\n');
  r.git('add', 'a.txt');
  r.git('commit', '-q', '-m', 'one');
  return r;
}

const run = (r: TestRepo) => (args: readonly string[], o: Record<string, unknown> = {}) => git(args, { cwd: r.root, ...o });

/** Config values as rb reads them (the same query as io/repo-state.ts configValues). */
async function cfgOf(r: TestRepo): Promise<Record<string, string | null>> {
  const { configValues } = await import('../src/io/repo-state.js');
  return configValues(r.root);
}

interface Case {
  name: string;
  config?: Record<string, string>;
  unset?: string[];
  env?: Record<string, string>;
  tz: string;
  paragraphs: string[];
}

const CASES: Case[] = [
  { name: 'user.* config, local time', tz: 'Europe/Berlin', paragraphs: ['rb snapshot: fix', 'rb-snapshot-id: x\nrb-head-ref: refs/heads/main'] },
  { name: 'author.* / committer.* config beat user.*', config: { 'author.name': 'Ann Author', 'committer.email': 'cc@example.org' }, tz: 'Asia/Kolkata', paragraphs: ['one'] },
  { name: 'env beats config; a half-hour negative zone', env: { GIT_AUTHOR_NAME: 'Env Name', GIT_COMMITTER_EMAIL: 'env@example.org' }, tz: 'America/St_Johns', paragraphs: ['x\n', '', 'multi\nline\n\nbody'] },
  { name: 'fixed dates (@ and bare seconds, -0000)', env: { GIT_AUTHOR_DATE: '@1700000000 +0530', GIT_COMMITTER_DATE: '1600000000 -0000' }, tz: 'UTC', paragraphs: ['dated'] },
  { name: 'no identity configured: rb\'s fallback', unset: ['user.name', 'user.email'], tz: 'Pacific/Chatham', paragraphs: ['index on main: abc one'] },
  { name: 'non-ASCII name and message', config: { 'user.name': 'Zoë Ünïcödé 山田' }, tz: 'Australia/Eucla', paragraphs: ['été ☃', 'trailer: ü'] },
];

describe('commits made in-process are the ones git commit-tree writes', () => {
  for (const format of ['sha1', 'sha256'] as const) {
    for (const c of CASES) {
      it(`${format}: ${c.name}`, async () => {
        const r = repoOf(format);
        for (const [k, v] of Object.entries(c.config ?? {})) r.git('config', k, v);
        for (const k of c.unset ?? []) r.git('config', '--unset', k);
        process.env.TZ = c.tz;
        const cfg = await cfgOf(r);
        const fallback = identityFromConfig(cfg);
        const env = { ...c.env, ...fallback };
        const head = r.git('rev-parse', 'HEAD').trim();
        const tree = r.git('rev-parse', 'HEAD^{tree}').trim();
        const args = ['commit-tree', tree, '-p', head, ...c.paragraphs.flatMap((p) => ['-m', p])];
        // the clock ticks while git runs (more than once on a loaded machine): every second from
        // the one before git started to the one after it ended
        const before = Math.floor(Date.now() / 1000);
        const byGit = gitRun(r.root, args, { env: { ...env, TZ: c.tz } });
        const after = Math.floor(Date.now() / 1000);
        expect(byGit.code, byGit.stderr).toBe(0);
        const seconds = Array.from({ length: after - before + 1 }, (_, i) => new Date((before + i) * 1000));
        const mine = seconds.map((now) => {
          const identity = commitIdentity(cfg, { ...process.env, ...env }, now);
          expect(identity, 'an identity rb can write').not.toBeNull();
          return new ObjectBatch(run(r), format).commit({ tree, parents: [head], identity: identity!, message: messageFromParagraphs(c.paragraphs) });
        });
        expect(mine).toContain(byGit.stdout.trim());
      });
    }
  }

  it('writes it: one git process, the commit readable, and the same bytes git would have written', async () => {
    const r = repoOf('sha256');
    const cfg = await cfgOf(r);
    const env = identityFromConfig(cfg);
    const batch = ObjectBatch.forOid(run(r), r.git('rev-parse', 'HEAD').trim());
    const blob = batch.blob('hello\n');
    const tree = batch.tree([{ mode: '100644', name: 'h.txt', oid: blob }, { mode: '40000', name: 'd', oid: batch.tree([{ mode: '100644', name: 'x', oid: blob }]) }]);
    const commit = await addCommit(batch, run(r), { tree, parents: [], message: 'made here\n', identity: commitIdentity(cfg, { ...process.env, ...env, GIT_AUTHOR_DATE: '@1700000000 +0000', GIT_COMMITTER_DATE: '@1700000000 +0000' }), env });
    expect(batch.writes).toBe(0);
    await batch.flush();
    expect(batch.writes).toBe(1);
    expect(r.git('cat-file', '-p', `${commit}:d/x`)).toBe('hello\n');
    const again = gitRun(r.root, ['commit-tree', tree, '-m', 'made here'], { env: { ...env, GIT_AUTHOR_DATE: '@1700000000 +0000', GIT_COMMITTER_DATE: '@1700000000 +0000' } });
    expect(again.stdout.trim()).toBe(commit);
    expect(gitRun(r.root, ['fsck', '--strict']).code).toBe(0);
  });
});

describe('what rb cannot be sure of is left to git commit-tree', () => {
  const cfg = { 'user.name': 'A B', 'user.email': 'a@b.c' };
  const env = { GIT_AUTHOR_NAME: undefined };
  it.each([
    ['a commit encoding other than UTF-8', { ...cfg, 'i18n.commitencoding': 'ISO-8859-1' }, env],
    ['a name git would trim', { ...cfg, 'user.name': 'J. Doe Jr.' }, env],
    ['an e-mail git would trim', { ...cfg, 'user.email': '<a@b.c>' }, env],
    ['a name that was not UTF-8', { ...cfg, 'user.name': 'M\uFFFDller' }, env],
    ['an empty name from the environment', cfg, { GIT_AUTHOR_NAME: '' }],
    ['a date in another format', cfg, { GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z' }],
    ['a key without a value', { ...cfg, 'author.name': null }, env],
  ] as const)('%s', (_, c, e) => {
    expect(commitIdentity(c, e as Record<string, string | undefined>)).toBeNull();
  });
  it('UTF-8 spelled either way is fine', () => {
    expect(commitIdentity({ ...cfg, 'i18n.commitencoding': 'utf8' }, env)).not.toBeNull();
    expect(commitIdentity({ ...cfg, 'i18n.commitencoding': 'UTF-8' }, env)).not.toBeNull();
  });
  it('the fallback runs commit-tree after writing the batch', async () => {
    const r = repoOf('sha1');
    r.git('config', 'i18n.commitEncoding', 'ISO-8859-1');
    const cfgR = await cfgOf(r);
    const identity = commitIdentity(cfgR, process.env);
    expect(identity).toBeNull();
    const batch = ObjectBatch.forOid(run(r), r.git('rev-parse', 'HEAD').trim());
    const tree = batch.tree([{ mode: '100644', name: 'n', oid: batch.blob('n\n') }]);
    const c = await addCommit(batch, run(r), { tree, parents: [], message: 'latin\n', identity, env: {} });
    expect(batch.writes).toBe(1);
    expect(r.git('cat-file', '-p', c)).toMatch(/\nencoding ISO-8859-1\n/);
  });
});

describe('a batch is one git process: loose objects, or one pack from PACK_FROM on', () => {
  const packs = (r: TestRepo) => readdirSync(join(r.root, '.git', 'objects', 'pack')).filter((f) => f.endsWith('.pack')).length;
  for (const format of ['sha1', 'sha256'] as const) {
    it(`${format}: ${PACK_FROM - 1} objects loose, ${PACK_FROM} in a pack; ids as git computes them`, async () => {
      const r = repoOf(format);
      for (const n of [PACK_FROM - 1, PACK_FROM]) {
        const before = packs(r);
        const batch = new ObjectBatch(run(r), format);
        const oids = Array.from({ length: n }, (_, i) => batch.blob(`${format} ${n} ${i}\n`));
        await batch.flush();
        expect(batch.writes).toBe(1);
        expect(packs(r) - before).toBe(n >= PACK_FROM ? 1 : 0);
        for (const i of [0, n - 1]) {
          expect(gitRun(r.root, ['hash-object', '--stdin'], { input: `${format} ${n} ${i}\n` }).stdout.trim()).toBe(oids[i]);
          expect(r.git('cat-file', '-p', oids[i]!)).toBe(`${format} ${n} ${i}\n`);
        }
      }
      expect(hashObject(format, 'tree', Buffer.alloc(0))).toBe(gitRun(r.root, ['hash-object', '-t', 'tree', '--stdin'], { input: '' }).stdout.trim());
      expect(gitRun(r.root, ['fsck', '--strict']).code).toBe(0);
    });
  }

  it('an object compressed ahead (addDeflated) goes into one pack as it is, even in a small batch; the others with it', async () => {
    const r = repoOf('sha1');
    const before = packs(r);
    const batch = new ObjectBatch(run(r), 'sha1');
    const big = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join(''));
    const bigOid = batch.addDeflated('blob', big, deflateSync(big, { level: 1 }));
    const small = batch.blob('small\n');
    const tree = batch.tree([{ mode: '100644', name: 'big.txt', oid: bigOid }, { mode: '100644', name: 'small.txt', oid: small }]);
    await batch.flush();
    expect(batch.writes).toBe(1);
    expect(packs(r) - before).toBe(1);
    expect(bigOid).toBe(gitRun(r.root, ['hash-object', '--stdin'], { input: big }).stdout.trim());
    expect(gitRun(r.root, ['cat-file', 'blob', bigOid]).stdoutBuf.equals(big)).toBe(true);
    expect(r.git('ls-tree', tree)).toContain('small.txt');
    expect(gitRun(r.root, ['fsck', '--strict']).code).toBe(0);
    // the next batch, without one: loose again
    const next = new ObjectBatch(run(r), 'sha1');
    next.blob('loose\n');
    await next.flush();
    expect(packs(r) - before).toBe(1);
  });

  it('refuses a tree naming an object that does not exist (nothing points at a missing object)', async () => {
    const r = repoOf('sha1');
    const batch = new ObjectBatch(run(r), 'sha1');
    batch.tree([{ mode: '100644', name: 'ghost', oid: '1'.repeat(40) }]);
    await expect(batch.flush()).rejects.toThrow(/refused/);
  });
});

void repos;
