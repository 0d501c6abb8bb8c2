/**
 * How a restore reads the target into the working copy (issue 18): when the safety snapshot just
 * found the working copy equal to its index's tree (a clean checkout, as after `rb emergency`),
 * `read-tree --reset -u <that tree> <target>` (two trees, as `git checkout` does: git states and
 * writes only the paths that differ); else `read-tree --reset -u <target>` from the index alone
 * (git states every file and rewrites each that differs from it). Either way the undo gives back
 * the working copy byte for byte, and an undo of that undo gives back what the first one replaced.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { emergencyRepo, expectCode, rbAsync } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };

/** The read-tree lines of an RB_TRACE_GIT=1 stderr, as the trees they name. */
function readTrees(stderr: string): string[][] {
  return stderr.split('\n')
    .map((l) => /^\[git \d+\+\d+ms\] read-tree --reset -u ((?:[0-9a-f]{40,64} ?)+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => m[1]!.trim().split(' '));
}

describe('restore: the read-tree of the target (issue 18)', () => {
  it('after an emergency (a clean checkout) git reads the target from the index\'s tree: two trees; the undo is exact', async () => {
    const r = copyRepo(emergencyRepo());
    const before = manifest(r.root, EXCL);
    expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']), 0, 'emergency');
    const undo = await rbAsync(r.root, ['undo', '--yes'], { RB_TRACE_GIT: '1' });
    expectCode(undo, 0, 'undo');
    expect(readTrees(undo.stderr).map((t) => t.length)).toEqual([2]);
    // no untracked file to remove: no `git clean` (its walk of the whole working copy)
    expect(undo.stderr).not.toMatch(/^\[git \d+\+\d+ms\] clean /m);
    expect(manifest(r.root, EXCL)).toBe(before);
  });

  it('an empty directory made since the emergency that the snapshot does not have: two trees, and clean removes it', async () => {
    const r = copyRepo(emergencyRepo());
    const before = manifest(r.root, EXCL);
    expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']), 0, 'emergency');
    mkdirSync(join(r.root, 'junk', 'empty'), { recursive: true });
    const undo = await rbAsync(r.root, ['undo', '--yes'], { RB_TRACE_GIT: '1' });
    expectCode(undo, 0, 'undo');
    expect(readTrees(undo.stderr).map((t) => t.length)).toEqual([2]);
    expect(undo.stderr).toMatch(/^\[git \d+\+\d+ms\] clean /m);
    expect(existsSync(join(r.root, 'junk'))).toBe(false);
    expect(manifest(r.root, EXCL)).toBe(before);
  });

  it('a tracked file changed since the emergency: read from the index alone (one tree), the undo is exact, and undoing the undo gives the change back', async () => {
    const r = copyRepo(emergencyRepo());
    const before = manifest(r.root, EXCL);
    expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']), 0, 'emergency');
    // .gitignore is the same in the baseline and the snapshot: a two-tree read-tree would leave it
    const gi = join(r.root, '.gitignore');
    const edited = readFileSync(gi, 'utf8') + '# a comment added after the emergency\n';
    writeFileSync(gi, edited);
    const undo = await rbAsync(r.root, ['undo', '--yes'], { RB_TRACE_GIT: '1' });
    expectCode(undo, 0, 'undo');
    expect(readTrees(undo.stderr).map((t) => t.length)).toEqual([1]);
    expect(manifest(r.root, EXCL)).toBe(before);
    expectCode(await rbAsync(r.root, ['redo', '--yes']), 0, 'rb redo (the undo of the undo)');
    expect(readFileSync(gi, 'utf8')).toBe(edited);
  });

  it('an untracked file since the emergency where the snapshot has another: one tree, the undo is exact', async () => {
    const r = copyRepo(emergencyRepo());
    const before = manifest(r.root, EXCL);
    expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']), 0, 'emergency');
    writeFileSync(join(r.root, 'src', 'd.ts'), 'export const d = "written after the emergency";\n');
    const undo = await rbAsync(r.root, ['undo', '--yes'], { RB_TRACE_GIT: '1' });
    expectCode(undo, 0, 'undo');
    expect(readTrees(undo.stderr).map((t) => t.length)).toEqual([1]);
    expect(manifest(r.root, EXCL)).toBe(before);
  });
});
