/**
 * `rb snapshots [list|create|show|restore|prune]` as a user runs it (issue 3, item 4): the built
 * `rb` in throwaway repositories. The snapshot format itself is tested in snapshot.test.ts; this
 * file is about the command: ids and prefixes, output (text and --json), restore being undoable
 * and needing a confirmation, and prune keeping what an undo still needs.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRepo, type TestRepo, tmpRepos, copyRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { allRefs, rbAsync, runsOf, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };


/** "3s ago", "2m ago", … vary between two calls */
/** A listing without its ages, and without the column padding an age's width sets (9s ago, 10s ago). */
const noAge = (s: string) => s.replace(/\b\d+\s*[a-z]+ ago\b/g, '<ago>').replace(/ {2,}/g, '  ');

const snapRefs = (r: TestRepo) => r.git('for-each-ref', '--format=%(refname)', 'refs/rb/snapshots/').split('\n').filter(Boolean).map((x) => x.replace('refs/rb/snapshots/', '')).sort();

/** A state-of-everything fingerprint for "nothing changed": manifest (rollbacks included), every ref, the run count. */
function untouched(r: TestRepo): string {
  return manifest(r.root) + allRefs(r) + `runs: ${runsOf(r).length}\n`;
}

let tpl: TestRepo | null = null;
/** baseline = main = src/{a,b,c}.ts + .gitignore (.env), then uncommitted work of every kind. */
function snapRepo(): TestRepo {
  if (!tpl) {
    const r = makeRepo({ withOrigin: true });
    r.write('.gitignore', '.env\n');
    for (const f of ['a', 'b', 'c']) r.write(`src/${f}.ts`, `export const ${f} = 1;\n`);
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'project');
    r.git('branch', '-f', 'baseline', 'HEAD');
    r.git('push', '-q', '-f', 'origin', 'HEAD:refs/heads/main', 'baseline');
    r.write('src/a.ts', 'export const a = 2; // unstaged\n');
    r.write('src/b.ts', 'export const b = 2; // staged\n');
    r.git('add', 'src/b.ts');
    r.write('notes.md', 'my notes\n');
    r.write('bin/run.sh', '#!/bin/sh\necho run\n', 0o755);
    r.write('.env', 'API_KEY=hunter2\n', 0o600);
    tpl = r;
  }
  return copyRepo(tpl);
}

/** `rb snapshots create -m msg`; returns the new id. */
async function create(r: TestRepo, msg: string): Promise<string> {
  const res = await rbAsync(r.root, ['snapshots', 'create', '-m', msg]);
  expectCode(res, 0);
  const m = /^snapshot (\S+) \(([0-9a-f]{12})\)$/m.exec(res.stdout);
  expect(m, res.stdout).not.toBeNull();
  expect(res.stdout).toContain(`rb snapshots restore ${m![1]}`);
  return m![1]!;
}

describe.concurrent('rb snapshots', { timeout: 120_000 }, () => {
  it('create -m, then list (text and --json), show <id> and show <prefix>; create changes nothing in the working copy', async () => {
    const r = snapRepo();
    const before = manifest(r.root);
    const id = await create(r, 'before my experiment');
    expect(manifest(r.root)).toBe(before);
    expect(snapRefs(r)).toEqual([id]);

    const list = await rbAsync(r.root, ['snapshots', 'list']);
    expectCode(list, 0);
    expect(list.stdout).toMatch(/^ID\s+TAKEN\s+RUN\s+MESSAGE/m);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+\\S.*\\s-\\s+before my experiment`, 'm'));
    // list is the default action
    expect(noAge((await rbAsync(r.root, ['snapshots'])).stdout)).toBe(noAge(list.stdout));

    const json = await rbAsync(r.root, ['snapshots', 'list', '--json']);
    expectCode(json, 0);
    const doc = JSON.parse(json.stdout);
    expect(doc.snapshots).toHaveLength(1);
    expect(doc.snapshots[0]).toMatchObject({ id, ref: `refs/rb/snapshots/${id}`, message: 'before my experiment', headRef: 'refs/heads/main', conflicted: false });
    expect(doc.snapshots[0].headOid).toBe(r.git('rev-parse', 'HEAD').trim());

    const show = await rbAsync(r.root, ['snapshots', 'show', id]);
    expectCode(show, 0);
    expect(show.stdout).toContain(`snapshot ${id}`);
    expect(show.stdout).toContain(`ref:     refs/rb/snapshots/${id}`);
    expect(show.stdout).toContain('message: before my experiment');
    expect(show.stdout).toContain(`HEAD:    refs/heads/main ${r.git('rev-parse', 'HEAD').trim()}`);

    const prefix = id.slice(0, -3);
    const byPrefix = await rbAsync(r.root, ['snapshots', 'show', prefix]);
    expectCode(byPrefix, 0);
    expect(noAge(byPrefix.stdout)).toBe(noAge(show.stdout));
    const showJson = await rbAsync(r.root, ['snapshots', 'show', prefix, '--json']);
    expectCode(showJson, 0);
    expect(JSON.parse(showJson.stdout).snapshot).toMatchObject({ id, message: 'before my experiment' });
  });

  it('restore <id> --yes brings the snapshot state back and is itself undoable; without --yes (no terminal) it exits 2 changing nothing', async () => {
    const r = snapRepo();
    const atCreate = manifest(r.root, EXCL);
    const id = await create(r, 'known good');

    // more work after the snapshot: edits, a deletion, a new untracked file, staging, another branch
    r.write('src/a.ts', 'export const a = 3; // later\n');
    r.git('rm', '-q', 'src/c.ts');
    r.write('src/new.ts', 'export const n = 1;\n');
    r.git('add', 'src/new.ts');
    r.write('scratch.txt', 'later scratch\n');
    r.write('.env', 'API_KEY=rotated\n', 0o600);
    r.git('switch', '-q', '-c', 'experiment');
    const later = manifest(r.root, EXCL);
    expect(later).not.toBe(atCreate);

    const refused = untouched(r);
    const noYes = await rbAsync(r.root, ['snapshots', 'restore', id]);
    expectCode(noYes, 2);
    expect(noYes.stderr).toContain('stdin is not a terminal');
    expect(noYes.stderr).toContain(`rb snapshots restore ${id} --yes`);
    expect(untouched(r)).toBe(refused);
    // --dry-run changes nothing either
    expectCode(await rbAsync(r.root, ['snapshots', 'restore', id, '--dry-run']), 0);
    expect(untouched(r)).toBe(refused);

    const res = await rbAsync(r.root, ['snapshots', 'restore', id.slice(0, -2), '--yes']);
    expectCode(res, 0);
    expect(manifest(r.root, EXCL)).toBe(atCreate);
    const [run] = runsOf(r);
    expect(run).toMatchObject({ playbook: 'restore', status: 'succeeded' });
    expect(run!.snapshot).toBeTruthy();
    expect(run!.snapshot).not.toBe(id);

    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, EXCL)).toBe(later);
    expect(runsOf(r).find((x) => x.id === run!.id)!.status).toBe('undone');
  });

  it('prune --older-than 0d removes old snapshots but keeps one whose run is inside the undo window; --dry-run removes nothing', async () => {
    const r = snapRepo();
    const manual = await create(r, 'manual, prunable');
    const level = await rbAsync(r.root, ['files', 'src/a.ts', '--yes', '--no-tests']);
    expectCode(level, 0);
    const filesRun = runsOf(r)[0]!;
    expect(filesRun.playbook).toBe('files');
    const runSnap = filesRun.snapshot!;
    expect(snapRefs(r)).toEqual([manual, runSnap].sort());
    const afterFiles = manifest(r.root, EXCL);

    // the default age (snapshots.keepDays, 30d) removes nothing this young
    const young = await rbAsync(r.root, ['snapshots', 'prune']);
    expectCode(young, 0);
    expect(young.stdout).toContain('removed 0 snapshot(s)');
    expect(snapRefs(r)).toEqual([manual, runSnap].sort());

    const refs = allRefs(r);
    const dry = await rbAsync(r.root, ['snapshots', 'prune', '--older-than', '0d', '--dry-run']);
    expectCode(dry, 0);
    expect(dry.stdout).toContain(`would remove 1 snapshot(s): ${manual}`);
    expect(dry.stdout).toContain(`kept 1 old snapshot(s) whose run is still undoable: ${runSnap}`);
    expect(allRefs(r)).toBe(refs);
    const dryJson = JSON.parse((await rbAsync(r.root, ['snapshots', 'prune', '--older-than', '0d', '--dry-run', '--json'])).stdout);
    expect(dryJson).toEqual({ removed: [manual], keptInUndoWindow: [runSnap], dryRun: true });
    expect(allRefs(r)).toBe(refs);

    const prune = await rbAsync(r.root, ['snapshots', 'prune', '--older-than', '0d']);
    expectCode(prune, 0);
    expect(prune.stdout).toContain(`removed 1 snapshot(s): ${manual}`);
    expect(snapRefs(r)).toEqual([runSnap]);
    expect(manifest(r.root, EXCL)).toBe(afterFiles);
    const show = await rbAsync(r.root, ['snapshots', 'show', manual]);
    expectCode(show, 2);

    // the level run is still undoable
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    expect(runsOf(r).find((x) => x.id === filesRun.id)!.status).toBe('undone');
  });

  it('create reads rb.config.yaml while git walks: its snapshot settings apply; an invalid one exits 2 and creates nothing (no ref, no temp dir)', async () => {
    const r = snapRepo();
    r.write('.gitignore', '.env\nbuild/\n');
    r.write('build/out.js', 'built\n');
    r.write('rb.config.yaml', 'snapshots:\n  skipIgnored: [build]\n  maxIgnoredBytes: 4\n');
    const res = await rbAsync(r.root, ['snapshots', 'create', '-m', 'configured', '--json']);
    expectCode(res, 0);
    expect(JSON.parse(res.stdout).snapshot.skipped).toEqual([{ reason: 'too-big', path: '.env' }, { reason: 'listed', path: 'build' }]);
    r.write('rb.config.yaml', 'snapshots:\n  maxIgnoredBytes: 1.5\n');
    const before = untouched(r);
    const refs = snapRefs(r);
    const bad = await rbAsync(r.root, ['snapshots', 'create', '-m', 'bad config']);
    expectCode(bad, 2);
    expect(bad.stderr).toMatch(/snapshots\.maxIgnoredBytes: expected an integer/);
    expect(untouched(r)).toBe(before);
    expect(snapRefs(r)).toEqual(refs);
    expect(readdirSync(join(r.root, '.git')).filter((n) => n.startsWith('rb-snap.'))).toEqual([]);
  });

  it('refuses an unknown action, an unknown id and a missing id with exit 2, changing nothing', async () => {
    const r = snapRepo();
    const id = await create(r, 'one');
    const before = untouched(r);
    const cases: [string[], RegExp][] = [
      [['snapshots', 'frobnicate'], /unknown action "frobnicate"/],
      [['snapshots', 'show', 'nope'], /no such snapshot: nope/],
      [['snapshots', 'show', 'main'], /main is not an rb snapshot/],
      [['snapshots', 'show'], /which snapshot\?/],
      [['snapshots', 'restore', 'nope', '--yes'], /no such snapshot: nope/],
      [['snapshots', 'restore', '--yes'], /which snapshot\?/],
      [['snapshots', 'show', '--', '--upload-pack=x'], /not a snapshot id/],
      [['snapshots', 'prune', '--older-than', 'banana'], /--older-than takes a duration/],
    ];
    const results = await Promise.all(cases.map(([args]) => rbAsync(r.root, args)));
    cases.forEach(([args, msg], i) => {
      expectCode(results[i]!, 2);
      expect(results[i]!.stderr, args.join(' ')).toMatch(msg);
    });
    expect(untouched(r)).toBe(before);
    expect(snapRefs(r)).toEqual([id]);
  });
});
