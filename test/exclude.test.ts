/** rollbacks/ in .git/info/exclude (src/records/exclude.ts): added once, never when tracked. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureExcluded } from '../src/records/exclude.js';
import { findRepo } from '../src/repo.js';
import { makeRepo, tmpRepos } from './helpers/repo.js';

tmpRepos();

const excludeOf = (root: string) => readFileSync(join(root, '.git', 'info', 'exclude'), 'utf8');

describe('ensureExcluded', () => {
  it('adds /rollbacks/ once; a later call finds it and changes nothing', () => {
    const r = makeRepo();
    const repo = findRepo(r.root);
    expect(ensureExcluded(repo, 'rollbacks')).toBe(true);
    const text = excludeOf(r.root);
    expect(text.split('\n')).toContain('/rollbacks/');
    expect(ensureExcluded(repo, 'rollbacks/')).toBe(false);
    expect(excludeOf(r.root)).toBe(text);
  });

  it('leaves a tracked rollbacks/ alone, and an existing line as it is (indented, no final newline)', () => {
    const r = makeRepo();
    r.write('rollbacks/keep.md', 'tracked\n');
    r.git('add', 'rollbacks/keep.md');
    r.git('commit', '-q', '-m', 'track rollbacks');
    const repo = findRepo(r.root);
    const before = excludeOf(r.root);
    expect(ensureExcluded(repo, 'rollbacks')).toBe(false);
    expect(excludeOf(r.root)).toBe(before);
    writeFileSync(join(r.root, '.git', 'info', 'exclude'), '# mine\n  /records/  ');
    expect(ensureExcluded(repo, 'records')).toBe(false);
    expect(excludeOf(r.root)).toBe('# mine\n  /records/  ');
    expect(ensureExcluded(repo, 'other')).toBe(true);
    expect(excludeOf(r.root)).toBe('# mine\n  /records/  \n# rb: rollback records (reports, metrics, audit)\n/other/\n');
  });

  it('in a linked worktree, writes the common info/exclude', () => {
    const r = makeRepo();
    r.write('a.txt', 'a\n');
    r.git('add', 'a.txt');
    r.git('commit', '-q', '-m', 'a');
    const wt = join(r.dir, 'wt');
    r.git('worktree', 'add', '-q', wt);
    const repo = findRepo(wt);
    expect(repo.linked).toBe(true);
    expect(ensureExcluded(repo, 'rollbacks')).toBe(true);
    expect(excludeOf(r.root).split('\n')).toContain('/rollbacks/');
    expect(ensureExcluded(repo, 'rollbacks')).toBe(false);
  });
});
