/**
 * Issue 21, points 3 and 4, with the built rb on real repositories:
 *
 * - `rb undo -i` on a real pseudo-terminal (script(1)), driven key by key: the picker lists the
 *   past states newest first with a preview of what restoring one changes (files added, removed,
 *   modified; HEAD and branches); confirming restores it byte-exact; Ctrl-C changes nothing
 *   (exit 130). Without a terminal: exit 2, pass a run id, nothing changed.
 * - `rb diff <run|snapshot> [path...]`: what a snapshot holds against the working copy.
 * - `rb snapshots restore <id> -- <path...>`: only those paths come back, after a safety
 *   snapshot; `rb undo` takes it back; bad input is exit 2 and changes nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { allRefs, emergencyRepo, expectCode, oid, rbAsync, runsOf, sprintRepo } from './helpers/scenarios.js';
import { pastStates } from '../src/commands/undo-pick.js';
import { findRepo } from '../src/repo.js';
import { KEY, rbTyping } from './helpers/terminal.js';

tmpRepos();

/** An exit code check for a run on a terminal (rbTyping): its output on failure. */
function expectExit(res: { code: number | null; out: string }, code: number, what: string): void {
  if (res.code !== code) throw new Error(`${what}: expected exit ${code}, got ${res.code}\n${res.out}`);
}

const state = (r: TestRepo) => manifest(r.root, { exclude: ['rollbacks'] }) + allRefs(r, 'refs/heads', 'refs/tags') + 'stash:\n' + r.git('stash', 'list', '--format=%H %gs');
const everything = (r: TestRepo) => manifest(r.root) + allRefs(r) + JSON.stringify(runsOf(r));

/** The emergency scenario, then rb emergency, an edit, rb files src/b.ts: the state before each run and after. */
async function twoRuns(): Promise<{ r: TestRepo; beforeEmergency: string; beforeFiles: string; after: string; emergency: string; files: string }> {
  const r = copyRepo(emergencyRepo());
  const beforeEmergency = state(r);
  expectCode(await rbAsync(r.root, ['emergency', '--yes', '--no-services', '--no-install']), 0, 'emergency');
  r.write('src/b.ts', 'export const b = 5; // after the emergency\n');
  r.write('src/new.ts', 'export const n = 1;\n');
  const beforeFiles = state(r);
  expectCode(await rbAsync(r.root, ['files', 'src/b.ts', '--yes', '--no-tests']), 0, 'files');
  const [files, emergency] = runsOf(r).map((x) => x.id);
  return { r, beforeEmergency, beforeFiles, after: state(r), emergency: emergency!, files: files! };
}

describe.concurrent('rb undo -i', { timeout: 240_000 }, () => {
  it('without a terminal: exit 2, says to pass a run id, changes nothing', async () => {
    const { r } = await twoRuns();
    const before = everything(r);
    const res = await rbAsync(r.root, ['undo', '-i']);
    expectCode(res, 2, 'undo -i');
    expect(res.stderr).toContain('rb undo -i picks a past state on a terminal');
    expect(res.stderr).toMatch(/next: pass a run id: `rb undo <run> --yes`/);
    expect(everything(r)).toBe(before);
  });

  it('on a terminal: newest first with a preview; picking the state before the emergency and confirming restores it exactly', async () => {
    const { r, beforeEmergency, emergency, files } = await twoRuns();
    const feature = oid(r, 'feature');
    const res = await rbTyping(r.root, ['undo', '-i'], [
      { after: /Restore which past state\?[\s\S]*files: /, keys: KEY.down },
      { after: new RegExp(`HEAD: baseline at \\w+ -> feature at ${feature.slice(0, 12)}`), keys: KEY.enter },
      { after: new RegExp(`Undo run ${emergency}\\?`), keys: 'y' + KEY.enter },
    ]);
    expectExit(res, 0, 'undo -i');
    expect(res.typed).toBe(3);
    // the list: newest first, the state before the files run on top, its preview shown first
    const list = res.out.slice(res.out.indexOf('Restore which past state?'));
    expect(list.indexOf(`before run ${files}`)).toBeLessThan(list.indexOf(`before run ${emergency}`));
    expect(list).toMatch(/files: 1 modified \(tracked and untracked[^\n]*\n\s+modified src\/b\.ts\n/);
    // the emergency's preview: what restoring the state before it does to files and branches
    expect(res.out).toMatch(/added\s+notes\/todo\.md/);
    expect(res.out).toMatch(/removed\s+src\/new\.ts/);
    expect(res.out).toMatch(/modified\s+src\/a\.ts/);
    expect(state(r)).toBe(beforeEmergency);
    expect(runsOf(r)[0]).toMatchObject({ playbook: 'undo', undoOf: emergency, status: 'succeeded' });
  });

  it('the preview names the branches restoring a state moves (a sprint: its backup and retry branches deleted, the branch the WIP commit moved put back)', async () => {
    const r = copyRepo(sprintRepo());
    expectCode(await rbAsync(r.root, ['sprint', '4', '--yes', '--no-tests']), 0, 'sprint');
    const before = everything(r);
    const [sprint] = runsOf(r);
    const states = await pastStates(findRepo(r.root), 'rollbacks');
    const state = states.find((s) => s.run?.id === sprint!.id)!;
    expect(state.undoes).toBe(true);
    expect(state.preview).toContain(`HEAD: refactor/sprint-4-retry at ${oid(r, 'HEAD').slice(0, 12)} -> feature/auth at ${oid(r, 'feature/auth~1').slice(0, 12)}`);
    // the WIP commit moved feature/auth: the undo puts it back
    expect(state.preview).toContain(`branch feature/auth: moved back from ${oid(r, 'feature/auth').slice(0, 12)} to ${oid(r, 'feature/auth~1').slice(0, 12)}`);
    expect(state.preview).toContain(`branch refactor/sprint-4-retry: deleted (run ${sprint!.id} created it)`);
    expect(state.preview.some((l) => /^branch backup\/sprint-4-\S+: deleted/.test(l))).toBe(true);
    expect(state.preview.some((l) => /^  added {4}notes\.md$/.test(l))).toBe(true);
    expect(everything(r)).toBe(before); // the preview is read-only
  });

  it('Ctrl-C at the picker changes nothing (exit 130); answering no at the confirmation changes nothing', async () => {
    const { r } = await twoRuns();
    const before = everything(r);
    const res = await rbTyping(r.root, ['undo', '-i'], [{ after: /Restore which past state\?/, keys: KEY.ctrlC }]);
    expectExit(res, 130, 'Ctrl-C');
    expect(res.out).toContain('cancelled at the prompt; nothing was changed');
    expect(everything(r)).toBe(before);

    const no = await rbTyping(r.root, ['undo', '-i'], [
      { after: /Restore which past state\?[\s\S]*files: /, keys: KEY.enter },
      { after: /\(y\/N\)/, keys: 'n' + KEY.enter },
    ]);
    expectExit(no, 3, 'no');
    expect(no.out).toContain('not confirmed; nothing was changed');
    expect(everything(r)).toBe(before);
  });
});

describe.concurrent('taking one file back', { timeout: 240_000 }, () => {
  it('rb diff shows what the snapshot holds against the working copy; rb snapshots restore -- <path> brings back only that path; rb undo takes it back', async () => {
    const { r, emergency, after } = await twoRuns();
    const emergencyRun = runsOf(r).find((x) => x.id === emergency)!;

    const names = await rbAsync(r.root, ['diff', emergency, '--name-only']);
    expectCode(names, 0, 'diff --name-only');
    expect(names.stdout).toMatch(/^added\s+notes\/todo\.md$/m);
    expect(names.stdout).toMatch(/^removed\s+src\/new\.ts$/m);
    const one = await rbAsync(r.root, ['diff', emergency, 'src/a.ts']);
    expectCode(one, 0, 'diff one path');
    expect(one.stdout).toContain('-export const a = 1;');
    expect(one.stdout).toContain('+export const a = 3; // unstaged');
    expect(one.stdout).not.toContain('notes/todo.md');
    const json = JSON.parse((await rbAsync(r.root, ['diff', emergencyRun.snapshot!, '--json'])).stdout);
    expect(json).toMatchObject({ snapshot: emergencyRun.snapshot, run: null });
    expect(json.files).toEqual(expect.arrayContaining([{ change: 'added', path: 'notes/todo.md' }, { change: 'modified', path: 'src/a.ts' }]));
    expect(state(r)).toBe(after); // read-only

    // restore two paths from the state before the emergency: a modified file and an untracked folder
    const res = await rbAsync(r.root, ['snapshots', 'restore', emergencyRun.snapshot!, '--yes', '--', 'src/a.ts', 'notes']);
    expectCode(res, 0, 'restore paths');
    expect(readFileSync(join(r.root, 'src/a.ts'), 'utf8')).toBe('export const a = 3; // unstaged\n');
    expect(readFileSync(join(r.root, 'notes/todo.md'), 'utf8')).toBe('- fix the login page\n');
    // nothing else moved: the rest is as it was
    const afterRestore = manifest(r.root, { exclude: ['rollbacks', 'src/a.ts', 'notes'] });
    expect(afterRestore).not.toBe('');
    expect(r.git('diff', '--cached', '--name-only', 'HEAD').trim()).toBe('src/a.ts');
    const restoreRun = runsOf(r)[0]!;
    expect(restoreRun).toMatchObject({ playbook: 'restore', status: 'succeeded' });
    expect(restoreRun.snapshot).toBeTruthy();
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0, 'undo the path restore');
    expect(state(r)).toBe(after);
  });

  it('bad input: an unknown run, a path in neither state, a path the snapshot lacks, paths for another action — exit 2, nothing changed', async () => {
    const { r, emergency } = await twoRuns();
    const snap = runsOf(r).find((x) => x.id === emergency)!.snapshot!;
    const before = everything(r);
    const cases: [string[], RegExp][] = [
      [['diff', 'no-such-run'], /no run or snapshot "no-such-run" in this repository/],
      [['diff', emergency, 'nowhere.txt'], /nowhere\.txt is neither in snapshot \S+ nor in the working copy/],
      [['diff', emergency, '../outside'], /is not a path inside the repository/],
      [['snapshots', 'restore', snap, '--yes', '--', 'src/new.ts'], /does not hold src\/new\.ts; nothing was changed/],
      [['snapshots', 'show', snap, 'src/a.ts'], /only `rb snapshots restore <id> -- <path...>` takes paths/],
      [['undo', '-i', emergency], /takes no run id/],
    ];
    for (const [args, msg] of cases) {
      const res = await rbAsync(r.root, args);
      expectCode(res, 2, args.join(' '));
      expect(res.stderr, args.join(' ')).toMatch(msg);
      expect(res.stderr).toMatch(/^next: /m);
    }
    expect(everything(r)).toBe(before);
  });
});
