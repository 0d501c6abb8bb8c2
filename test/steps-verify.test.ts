/** The verify step: HEAD, a clean tree apart from kept paths, a command; problems reported in that order. */
import { describe, expect, it } from 'vitest';
import { verify } from '../src/steps/verify.js';
import { fakeStepContext } from './helpers/step-context.js';
import { makeRepo, tmpRepos } from './helpers/repo.js';

tmpRepos();

function repo() {
  const r = makeRepo();
  r.write('a.txt', 'a\n');
  r.git('add', 'a.txt');
  r.git('commit', '-q', '-m', 'a');
  return r;
}

const failure = (p: Promise<unknown>) => p.then(() => null, (e: Error & { result?: { problems: string[] } }) => e);

describe('verify', () => {
  it('passes on the expected HEAD and a tree that is clean apart from rollbacks/, rb\'s own config (which git.clean keeps) and keep paths', async () => {
    const r = repo();
    r.write('rollbacks/report.md', 'r\n');
    r.write('.env', 'K=1\n');
    r.write('rb.config.yaml', 'baseline: main\n');
    r.write('.rb/playbooks/mine.yaml', 'name: mine\n');
    const { ctx, lines } = fakeStepContext(r.root, { keep: ['.env'] });
    const res = await verify.run({ headIs: 'HEAD', clean: true }, ctx);
    // the journal's words are the plan's (describe)
    expect(res).toMatchObject({ problems: [], commands: verify.describe({ headIs: 'HEAD', clean: true }, ctx) });
    expect((res as { commands: string[] }).commands).toEqual([
      'git rev-parse HEAD  # must equal HEAD',
      "git status --porcelain=v1 -z --untracked-files=all --ignored=no  # must list nothing but rb's records, its configuration and the keep paths",
    ]);
    expect(lines).toEqual([expect.stringMatching(/^HEAD is HEAD \([0-9a-f]{12}\)$/), 'the tree is clean (kept paths aside)']);
  });

  it('reports a wrong HEAD first, then the dirty paths, in one failure', async () => {
    const r = repo();
    const first = r.git('rev-parse', 'HEAD').trim();
    r.write('b.txt', 'b\n');
    r.git('add', 'b.txt');
    r.git('commit', '-q', '-m', 'b');
    r.write('a.txt', 'changed\n');
    r.write('new.txt', 'new\n');
    const { ctx } = fakeStepContext(r.root);
    const e = await failure(verify.run({ headIs: first, clean: true }, ctx));
    expect(e?.message).toMatch(/^verification failed: HEAD is [0-9a-f]{12}, expected [0-9a-f]+ at [0-9a-f]{12}; the tree is not clean: a\.txt, new\.txt$/);
    expect(e?.result?.problems).toHaveLength(2);
  });

  it('says when the expected commit does not resolve', async () => {
    const r = repo();
    const { ctx } = fakeStepContext(r.root);
    const e = await failure(verify.run({ headIs: 'no-such-ref' }, ctx));
    expect(e?.message).toBe('verification failed: no-such-ref does not resolve');
  });

  it('checks only what it is asked to', async () => {
    const r = repo();
    r.write('dirty.txt', 'd\n');
    const { ctx } = fakeStepContext(r.root);
    expect(await verify.run({ headIs: 'HEAD' }, ctx)).toMatchObject({ problems: [], commands: ['git rev-parse HEAD  # must equal HEAD'] });
    await expect(verify.run({ clean: true }, ctx)).rejects.toThrow(/the tree is not clean: dirty\.txt$/);
  });
});
