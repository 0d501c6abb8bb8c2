/**
 * What rb asks once per command, and when it asks again (issue 18; io/git.ts partsChangedBy,
 * io/repo-state.ts). Inside a command's scope an answer (the ref listing, HEAD, the
 * configuration) is kept until rb starts a command that may change the part of the repository it
 * depends on. Each case changes the repository *behind rb's back* (a git rb did not start), then
 * lets rb run a command of one class, then asks again: a class that keeps the answer shows the
 * old one (nothing was asked), a class that may change the part shows the new one. Wrong either
 * way is a failure: a class too wide costs processes, a class too narrow would hide a change.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gitIn, makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { emergencyRepo, expectCode, rbAsync } from './helpers/scenarios.js';
import { copyRepo } from './helpers/repo.js';
import { git, partsChangedBy } from '../src/io/git.js';
import { runCommand } from '../src/io/exec.js';
import { withRunScope } from '../src/io/run-scope.js';
import { configValues, headState, refPositions } from '../src/io/repo-state.js';

tmpRepos();

interface Seen {
  refs: Record<string, string>;
  head: { ref: string | null; oid: string | null };
  name: string | null | undefined;
}

/**
 * Inside one scope: ask, change the repository behind rb's back (a new branch `behind`, HEAD
 * detached by hand, user.name changed), let rb run `step`, ask again.
 */
async function around(r: TestRepo, step: () => Promise<unknown>): Promise<{ before: Seen; after: Seen; head0: string }> {
  const repo = r.repo();
  const head0 = r.git('rev-parse', 'HEAD').trim();
  const ask = async (): Promise<Seen> => ({
    refs: await refPositions(repo.root),
    head: await headState(repo),
    name: (await configValues(repo.root))['user.name'],
  });
  return withRunScope(async () => {
    const before = await ask();
    gitIn(r.root, 'branch', 'behind');
    gitIn(r.root, 'config', 'user.name', 'changed behind');
    gitIn(r.root, 'switch', '-q', '--detach', 'HEAD');
    await step();
    return { before, after: await ask(), head0 };
  });
}

const saw = {
  /** the branch made behind rb's back is in the listing: the refs were asked again */
  refs: (s: Seen) => 'refs/heads/behind' in s.refs,
  /** HEAD detached behind rb's back is seen: HEAD was asked again */
  head: (s: Seen) => s.head.ref === null,
  /** user.name changed behind rb's back is seen: the configuration was read again */
  config: (s: Seen) => s.name === 'changed behind',
};

function expectAskedAgain(after: Seen, parts: { refs: boolean; head: boolean; config: boolean }): void {
  expect({ refs: saw.refs(after), head: saw.head(after), config: saw.config(after) }).toEqual(parts);
}

describe('what rb asks again after each class of command', () => {
  it('nothing before the first question; the same question twice in a row is asked once', async () => {
    const r = makeRepo();
    const { before, after } = await around(r, async () => undefined);
    expect(saw.refs(before) || saw.head(before) || saw.config(before)).toBe(false);
    expectAskedAgain(after, { refs: false, head: false, config: false });
  });

  it('writing objects (hash-object -w, mktree, commit-tree) changes nothing memoized', async () => {
    const r = makeRepo();
    const { after } = await around(r, async () => {
      const blob = (await git(['hash-object', '-w', '--stdin'], { cwd: r.root, input: 'x\n' })).stdout.trim();
      const tree = (await git(['mktree'], { cwd: r.root, input: `100644 blob ${blob}\tx\n` })).stdout.trim();
      await git(['commit-tree', tree, '-m', 'loose'], { cwd: r.root });
    });
    expectAskedAgain(after, { refs: false, head: false, config: false });
  });

  it('files only (clean, restore, read-tree, update-index, checkout -- <path>): refs, HEAD and configuration are kept', async () => {
    const r = makeRepo();
    r.write('scratch.txt', 'x\n');
    r.write('README.md', 'edited\n');
    const { after } = await around(r, async () => {
      await git(['clean', '-f', '--', 'scratch.txt'], { cwd: r.root });
      await git(['restore', '--', 'README.md'], { cwd: r.root });
      await git(['update-index', '-q', '--refresh'], { cwd: r.root });
      await git(['read-tree', 'HEAD'], { cwd: r.root });
      await git(['checkout', 'HEAD', '--', 'README.md'], { cwd: r.root });
    });
    expectAskedAgain(after, { refs: false, head: false, config: false });
  });

  it("rb's own refs (update-ref refs/rb/…, stash store): refs, HEAD and configuration are kept", async () => {
    const r = makeRepo();
    const { after, head0 } = await around(r, async () => {
      await git(['update-ref', '-m', 'test', 'refs/rb/test/one', r.git('rev-parse', 'HEAD').trim()], { cwd: r.root });
      await git(['update-ref', '--stdin'], { cwd: r.root, input: `update refs/rb/test/two ${r.git('rev-parse', 'HEAD').trim()}\n` });
      const stash = (await git(['commit-tree', `${r.git('rev-parse', 'HEAD^{tree}').trim()}`, '-p', r.git('rev-parse', 'HEAD').trim(), '-m', 'stash'], { cwd: r.root })).stdout.trim();
      await git(['stash', 'store', '-m', 'test', stash], { cwd: r.root });
    });
    expectAskedAgain(after, { refs: false, head: false, config: false });
    expect(after.head.oid).toBe(head0);
  });

  it('update-ref of a branch (by argument or on stdin) asks the refs and HEAD again', async () => {
    for (const how of ['argument', 'stdin'] as const) {
      const r = makeRepo();
      const { after } = await around(r, async () => {
        const oid = r.git('rev-parse', 'HEAD').trim();
        if (how === 'argument') await git(['update-ref', 'refs/heads/other', oid], { cwd: r.root });
        else await git(['update-ref', '--stdin'], { cwd: r.root, input: `update refs/rb/test ${oid}\nupdate refs/heads/other ${oid}\n` });
      });
      expect(after.refs['refs/heads/other'], how).toBeDefined();
      expectAskedAgain(after, { refs: true, head: true, config: true });
    }
  });

  it('symbolic-ref HEAD: HEAD is asked again, the ref listing is kept', async () => {
    const r = makeRepo();
    const { after } = await around(r, async () => {
      await git(['symbolic-ref', '-m', 'test', 'HEAD', 'refs/heads/behind'], { cwd: r.root });
    });
    expect(after.head.ref).toBe('refs/heads/behind');
    // HEAD depends on the ref listing for its commit: the listing is still the one asked before
    expect(saw.refs(after)).toBe(false);
    expect(saw.config(after)).toBe(false);
  });

  it('git config: the configuration is read again, the refs and HEAD are kept', async () => {
    const r = makeRepo();
    const { after } = await around(r, async () => {
      await git(['config', 'rb.test', 'yes'], { cwd: r.root });
    });
    expectAskedAgain(after, { refs: false, head: false, config: true });
  });

  it('a git command not named in a class (tag) asks everything again', async () => {
    const r = makeRepo();
    const { after } = await around(r, () => git(['tag', 'v1'], { cwd: r.root }));
    expectAskedAgain(after, { refs: true, head: true, config: true });
  });

  it('reset, switch, checkout <branch>, stash push, fetch, commit (hooks off): refs and HEAD asked again, the configuration kept', async () => {
    const cases: string[][] = [['reset', '-q', '--hard', 'HEAD'], ['switch', '-q', 'main'], ['checkout', '-q', 'main'], ['stash', 'push', '-q'], ['fetch', '-q', '.', 'main'], ['commit', '-q', '--allow-empty', '-m', 'x']];
    for (const args of cases) {
      const r = makeRepo();
      r.write('README.md', 'edited\n');
      const { after } = await around(r, () => git(args, { cwd: r.root, allowFail: true }));
      const movesHead = args[0] === 'switch' || args[0] === 'checkout';
      expect({ args, refs: saw.refs(after), head: saw.head(after), config: saw.config(after) })
        .toEqual({ args, refs: true, head: !movesHead, config: false });
    }
  });

  it('a switch that creates no branch (--no-guess, --detach) keeps the ref listing; a fetch keeps what depends on the files (issue 18)', async () => {
    for (const args of [['switch', '-q', '--discard-changes', '--no-guess', 'main'], ['switch', '-q', '--detach', 'main']]) {
      const r = makeRepo();
      const { after } = await around(r, () => git(args, { cwd: r.root }));
      // the branch made behind rb's back stays unseen: no branch moved, the listing was kept
      expect({ args, refs: saw.refs(after), config: saw.config(after) }).toEqual({ args, refs: false, config: false });
    }
    for (const args of [['switch', '-q', '-c', 'made'], ['switch', '-q', '--no-guess', '-qc', 'made'], ['switch', '-q', 'main']]) {
      const r = makeRepo();
      const { after } = await around(r, () => git(args, { cwd: r.root }));
      expect({ args, refs: saw.refs(after) }).toEqual({ args, refs: true });
    }
    // the working copy compared with a commit (steps/in-the-way.ts) depends on the files only
    const r = makeRepo();
    const head = r.git('rev-parse', 'HEAD').trim();
    const { targetDiff } = await import('../src/steps/in-the-way.js');
    const seen = await withRunScope(async () => {
      const before = await targetDiff(r.root, head);
      r.write('README.md', 'changed behind rb\'s back\n');
      await git(['fetch', '-q', '.', 'main:refs/remotes/here/main'], { cwd: r.root });
      const afterFetch = await targetDiff(r.root, head);
      await git(['clean', '-fdq', '--', 'nothing-here'], { cwd: r.root });
      return { before, afterFetch, afterClean: await targetDiff(r.root, head) };
    });
    expect(seen.before).toEqual([]);
    expect(seen.afterFetch).toEqual([]); // kept: a fetch writes no file
    expect(seen.afterClean.map((d) => d.path)).toEqual(['README.md']); // asked again after a files-only command
    expect(partsChangedBy(['fetch', 'origin'])).toEqual(['refs', 'private-refs']);
    expect(partsChangedBy(['fetch', 'origin'], { hardened: false })).toContain('files');
    expect(partsChangedBy(['switch', '--discard-changes', '--no-guess', 'main'])).toEqual(['head', 'private-refs', 'files']);
    expect(partsChangedBy(['switch', '--no-guess', '--orphan', 'x'])).toContain('refs');
    expect(partsChangedBy(['switch', '--no-guess', '-C', 'x'])).toContain('refs');
  });

  it("the same commands with the user's hooks (not hardened) ask the configuration again: a hook may run git config", async () => {
    for (const args of [['commit', '-q', '--allow-empty', '-m', 'x'], ['switch', '-q', 'main']]) {
      const r = makeRepo();
      const { after } = await around(r, () => git(args, { cwd: r.root, allowFail: true, hardened: false }));
      expect({ args, config: saw.config(after) }).toEqual({ args, config: true });
    }
    expect(partsChangedBy(['reset', '--hard'])).toEqual(['refs', 'head', 'private-refs', 'files']);
    expect(partsChangedBy(['reset', '--hard'], { hardened: false })).toContain('config');
    expect(partsChangedBy(['tag', 'v1'])).toContain('config');
  });

  it("any command that is not git (a user's command) asks everything again", async () => {
    const r = makeRepo();
    const { after } = await around(r, () => runCommand(['true'], { cwd: r.root }));
    expectAskedAgain(after, { refs: true, head: true, config: true });
  });

  it('the classes, by argv', () => {
    expect(partsChangedBy(['ls-files', '-z'], { readOnly: true })).toEqual([]);
    expect(partsChangedBy(['hash-object', '-w', '--stdin'])).toEqual([]);
    expect(partsChangedBy(['clean', '-fd'])).toEqual(['files']);
    expect(partsChangedBy(['--literal-pathspecs', 'restore', '--staged', '--', 'a'])).toEqual(['files']);
    expect(partsChangedBy(['checkout', 'HEAD', '--', 'a'])).toEqual(['files']);
    expect(partsChangedBy(['checkout', '-b', 'x', '--', 'a'])).toContain('refs');
    expect(partsChangedBy(['checkout', 'main'])).toContain('head');
    expect(partsChangedBy(['update-ref', '-m', 'refs/heads/x', 'refs/rb/s', 'abc'])).toEqual(['private-refs']);
    expect(partsChangedBy(['update-ref', '-d', 'refs/stash'])).toEqual(['private-refs']);
    expect(partsChangedBy(['update-ref', 'HEAD', 'abc'])).toContain('head');
    expect(partsChangedBy(['update-ref', '--no-deref', 'HEAD', 'abc'])).toContain('head');
    expect(partsChangedBy(['update-ref', 'refs/tags/v1', 'abc'])).toContain('refs');
    expect(partsChangedBy(['update-ref', '--stdin'])).toContain('refs'); // no input: unknown
    expect(partsChangedBy(['update-ref', '--stdin', '-z'], { input: 'update refs/rb/a\0abc\0\0' })).toEqual(['private-refs']);
    expect(partsChangedBy(['update-ref', '--stdin', '-z'], { input: 'update refs/rb/a\0abc\0\0update refs/heads/b\0abc\0\0' })).toContain('refs');
    expect(partsChangedBy(['stash', 'store', '-m', 'x', 'abc'])).toEqual(['private-refs']);
    expect(partsChangedBy(['stash', 'drop', '-q', 'stash@{0}'])).toEqual(['private-refs']);
    expect(partsChangedBy(['stash', 'pop'])).toContain('files');
    expect(partsChangedBy(['symbolic-ref', '-m', 'x', 'HEAD', 'refs/heads/a'])).toEqual(['head']);
    expect(partsChangedBy(['symbolic-ref', '-q', 'HEAD'])).toEqual([]);
    expect(partsChangedBy(['config', 'user.name', 'x'])).toEqual(['config']);
    expect(partsChangedBy(['reset', '--hard', 'abc'])).toEqual(['refs', 'head', 'private-refs', 'files']); // hooks off: not the configuration
    expect(partsChangedBy(['fetch', 'origin'])).toContain('refs');
  });
});

describe('a user command that commits inside a playbook is seen (issue 18)', () => {
  it('exec `git commit` between a snapshot and a verify step: verify sees the new HEAD, not the one asked before', async () => {
    const r = copyRepo(emergencyRepo());
    const head0 = r.git('rev-parse', 'HEAD').trim();
    mkdirSync(join(r.root, '.rb', 'playbooks'), { recursive: true });
    writeFileSync(join(r.root, '.rb', 'playbooks', 'commit-inside.yaml'), `name: commit-inside
steps:
  - { id: snapshot, uses: snapshot }
  - { id: commit, run: [git, commit, -q, --allow-empty, -m, "a commit rb did not make"] }
  - { id: check, uses: verify, with: { headIs: "${head0}" } }
`);
    const res = await rbAsync(r.root, ['run', 'commit-inside', '--yes']);
    const head1 = r.git('rev-parse', 'HEAD').trim();
    expect(head1).not.toBe(head0);
    expect(res.code, `${res.stdout}\n${res.stderr}`).not.toBe(0);
    expect(`${res.stdout}\n${res.stderr}`).toContain(`HEAD is ${head1.slice(0, 12)}, expected ${head0}`);
  }, 60_000);

  it('and the same playbook whose verify expects the old HEAD passes when the command does not commit', async () => {
    const r = copyRepo(emergencyRepo());
    const head0 = r.git('rev-parse', 'HEAD').trim();
    mkdirSync(join(r.root, '.rb', 'playbooks'), { recursive: true });
    writeFileSync(join(r.root, '.rb', 'playbooks', 'no-commit.yaml'), `name: no-commit
steps:
  - { id: snapshot, uses: snapshot }
  - { id: look, run: [git, status, --short] }
  - { id: check, uses: verify, with: { headIs: "${head0}" } }
`);
    expectCode(await rbAsync(r.root, ['run', 'no-commit', '--yes']), 0);
  }, 60_000);
});
