/**
 * Repositories made on macOS or Windows, used on Linux (issue 19, point 9; docs/safety.md "File
 * systems"): core.ignorecase=true on a file system that tells `A` from `a` makes git take a
 * case-only rename for the tracked file, so rb runs git with core.ignorecase=false there
 * (src/repo.ts fileSystemFlags). core.precomposeunicode has an effect only on macOS: on Linux,
 * names in NFD and NFC are two files and both must round-trip.
 */
import { linkSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileSystemFlags } from '../src/repo.js';
import { manifest } from './helpers/manifest.js';
import { makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { expectCode, outOf, rbAsync } from './helpers/scenarios.js';

tmpRepos();

const OUTSIDE_RB = { exclude: ['rollbacks'] };

/** A repository whose baseline has Notes.md (the template's README.md too), with core.ignorecase=true as a macOS clone has it. */
function caseInsensitiveClone(): TestRepo {
  const r = makeRepo();
  r.write('Notes.md', 'one\n');
  r.write('src/App.ts', 'export const app = 1;\n');
  r.git('add', '-A');
  r.git('commit', '-q', '-m', 'baseline');
  r.git('branch', 'baseline');
  r.git('config', 'core.ignorecase', 'true');
  return r;
}

describe('core.ignorecase=true on a case-sensitive file system', () => {
  it('a case-only rename with changed content: git alone hides the new name; emergency then undo gives back every byte', async () => {
    const r = caseInsensitiveClone();
    r.sh('mv Notes.md NOTES.md && echo changed >> NOTES.md && mv src/App.ts src/app.ts');
    // what git says with the repository's own setting: the new names are neither untracked nor changed
    expect(r.git('status', '--porcelain', '--untracked-files=all')).toBe(' D Notes.md\n D src/App.ts\n');
    const before = manifest(r.root, OUTSIDE_RB);
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
    expectCode(res, 0);
    expect(r.git('status', '--porcelain', '--untracked-files=all', '--', 'Notes.md', 'NOTES.md')).toBe('');
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, OUTSIDE_RB)).toBe(before);
  });

  it('rb sprint commits the renamed file into the backup branch, and its undo gives back every byte', async () => {
    const r = caseInsensitiveClone();
    r.git('switch', '-q', '-c', 'sprint-4');
    r.write('work.txt', 'work\n');
    r.git('add', 'work.txt');
    r.git('commit', '-q', '-m', 'sprint work');
    r.sh('mv Notes.md NOTES.md && echo changed >> NOTES.md');
    const before = manifest(r.root, OUTSIDE_RB);
    const res = await rbAsync(r.root, ['sprint', '4', '--yes']);
    expectCode(res, 0);
    const backup = r.git('for-each-ref', '--format=%(refname)', 'refs/heads/backup/').trim();
    expect(backup).toMatch(/^refs\/heads\/backup\/sprint-4-/);
    expect(r.git('show', `${backup}:NOTES.md`)).toBe('one\nchanged\n');
    expect(r.git('ls-tree', '--name-only', backup)).not.toContain('Notes.md');
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, OUTSIDE_RB)).toBe(before);
  });

  it('rb files restores the baseline name without deleting the renamed copy', async () => {
    const r = caseInsensitiveClone();
    r.sh('mv Notes.md NOTES.md && echo changed >> NOTES.md');
    const before = manifest(r.root, OUTSIDE_RB);
    const res = await rbAsync(r.root, ['files', 'Notes.md', '--yes']);
    expectCode(res, 0);
    expect(r.sh('cat Notes.md NOTES.md')).toBe('one\none\nchanged\n');
    expect(outOf(res)).not.toMatch(/nothing changed/i);
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, OUTSIDE_RB)).toBe(before);
  });
});

describe('core.precomposeunicode=true on Linux', () => {
  it('a name in NFD and the same name in NFC are two files: both come back after emergency and undo', async () => {
    const r = makeRepo();
    r.git('branch', 'baseline');
    r.git('config', 'core.precomposeunicode', 'true');
    const nfc = 'caf\u00e9.txt';
    const nfd = 'cafe\u0301.txt';
    r.write(nfc, 'nfc\n');
    r.write(nfd, 'nfd\n');
    r.git('add', nfc);
    r.git('commit', '-q', '-m', 'nfc tracked');
    r.write(nfc, 'nfc changed\n');
    const before = manifest(r.root, OUTSIDE_RB);
    expect(before).toContain('caf\u00e9.txt');
    expect(before).toContain('cafe\u0301.txt');
    const res = await rbAsync(r.root, ['emergency', '--yes', '--no-services']);
    expectCode(res, 0);
    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, OUTSIDE_RB)).toBe(before);
  });
});

describe('fileSystemFlags: the probe', () => {
  it('a git dir whose CONFIG is not config is case-sensitive: core.ignorecase=false', () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'rb-test-fs-')));
    writeFileSync(join(dir, 'config'), '[core]\n\tignorecase = true\n');
    expect(fileSystemFlags(dir)).toEqual(['-c', 'core.ignorecase=false']);
    writeFileSync(join(dir, 'CONFIG'), 'another file\n');
    expect(fileSystemFlags(dir)).toEqual(['-c', 'core.ignorecase=false']);
  });

  it('a git dir where CONFIG reaches config (as on a case-insensitive file system) leaves the repository setting alone', () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'rb-test-fs-')));
    writeFileSync(join(dir, 'config'), '[core]\n\tignorecase = true\n');
    linkSync(join(dir, 'config'), join(dir, 'CONFIG'));
    expect(fileSystemFlags(dir)).toEqual([]);
  });
});
