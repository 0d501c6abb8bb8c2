/** Resolving the baseline (src/engine/baseline.ts): branch, tag, remote-tracking branch, ref, commit, missing. */
import { describe, expect, it } from 'vitest';
import { resolveBaseline } from '../src/engine/baseline.js';
import { findRepo } from '../src/repo.js';
import { UsageError } from '../src/errors.js';
import { makeRepo, tmpRepos } from './helpers/repo.js';

tmpRepos();

function setup() {
  const r = makeRepo();
  r.write('a.txt', '1\n');
  r.git('add', 'a.txt');
  r.git('commit', '-q', '-m', 'one');
  const one = r.git('rev-parse', 'HEAD').trim();
  r.write('a.txt', '2\n');
  r.git('commit', '-q', '-am', 'two');
  const two = r.git('rev-parse', 'HEAD').trim();
  return { r, one, two, repo: findRepo(r.root) };
}

describe('resolveBaseline', () => {
  it('a branch, with its remote-tracking branch when there is one', async () => {
    const { r, one, two, repo } = setup();
    r.git('branch', 'base', one);
    expect(await resolveBaseline(repo, 'base', 'origin')).toEqual({
      name: 'base', ref: 'refs/heads/base', oid: one, remoteRef: null, type: 'branch',
      looked: ['refs/heads/base', 'refs/tags/base', 'refs/remotes/origin/base'],
    });
    r.git('update-ref', 'refs/remotes/origin/base', two);
    expect(await resolveBaseline(repo, 'base', 'origin')).toMatchObject({ ref: 'refs/heads/base', oid: one, remoteRef: 'refs/remotes/origin/base', type: 'branch' });
    expect(await resolveBaseline(repo, 'base', '')).toMatchObject({ oid: one, remoteRef: null, looked: ['refs/heads/base', 'refs/tags/base'] });
  });

  it('only a remote-tracking branch; an annotated tag (peeled to its commit); a branch and tag at the same commit', async () => {
    const { r, one, two, repo } = setup();
    r.git('update-ref', 'refs/remotes/origin/rem', two);
    expect(await resolveBaseline(repo, 'rem', 'origin')).toMatchObject({ ref: 'refs/remotes/origin/rem', oid: two, remoteRef: 'refs/remotes/origin/rem', type: 'remote-branch' });
    r.git('tag', '-a', '-m', 'good', 'good', one);
    expect(await resolveBaseline(repo, 'good', 'origin')).toMatchObject({ ref: 'refs/tags/good', oid: one, type: 'tag' });
    r.git('branch', 'good', one);
    expect(await resolveBaseline(repo, 'good', 'origin')).toMatchObject({ ref: 'refs/heads/good', oid: one, type: 'branch' });
  });

  it('refuses a branch and a tag of the same name at different commits', async () => {
    const { r, one, two, repo } = setup();
    r.git('branch', 'both', one);
    r.git('tag', 'both', two);
    await expect(resolveBaseline(repo, 'both', 'origin')).rejects.toThrow(UsageError);
    await expect(resolveBaseline(repo, 'both', 'origin')).rejects.toThrow(/is both a branch \(\w{12}\) and a tag \(\w{12}\)/);
  });

  it('a tag of a tree is no baseline; a full ref name; a commit id; a missing name', async () => {
    const { r, one, repo } = setup();
    r.git('tag', 'treetag', `${one}^{tree}`);
    expect(await resolveBaseline(repo, 'treetag', 'origin')).toMatchObject({ oid: null, type: 'missing' });
    expect(await resolveBaseline(repo, 'refs/heads/main', 'origin')).toMatchObject({ ref: 'refs/heads/main', type: 'ref', remoteRef: null, looked: ['refs/heads/main'] });
    expect(await resolveBaseline(repo, one.slice(0, 10), 'origin')).toMatchObject({ ref: one, oid: one, type: 'commit' });
    expect(await resolveBaseline(repo, 'nope', 'origin')).toEqual({
      name: 'nope', ref: 'refs/heads/nope', oid: null, remoteRef: null, type: 'missing',
      looked: ['refs/heads/nope', 'refs/tags/nope', 'refs/remotes/origin/nope'],
    });
  });

  it('refuses names git could read as options or ranges before asking git', async () => {
    const { repo } = setup();
    for (const bad of ['-x', 'a..b', 'a b', 'a\nb', 'x@{1}', 'x^', 'x:y']) await expect(resolveBaseline(repo, bad, 'origin')).rejects.toThrow(UsageError);
  });
});
