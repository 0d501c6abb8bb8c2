/**
 * Undo as people expect it (issue 21, points 1 and 2), with the built `rb` on real repositories
 * and a byte-level manifest plus every branch, tag and the stash list compared at every state:
 *
 * - a bare `rb undo` repeated goes one run further back each time (sprint, files, emergency);
 *   `rb redo` walks forward, each redo returning to the state its undo started from;
 * - a new run after some undos ends the redo chain (exit 5, nothing changed);
 * - `rb undo <run>` still targets one run; undoing an undo is a redo;
 * - rb status after an undo recommends `rb undo` (further back) and `rb redo`, never undoing the undo;
 * - rb history marks what each undo undid and each redo redid, and where the working copy stands
 *   (`@`), in text and in --json;
 * - a redo killed part-way (kill -9) is finished by `rb redo` or put back by `rb abort`.
 */
import { describe, expect, it } from 'vitest';
import { copyRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { allRefs, expectCode, outOf, rbAsync, runsOf, sprintRepo, waitGitIdle } from './helpers/scenarios.js';

tmpRepos();

/** Everything a user could lose: the working copy byte for byte (rb's records aside), every branch and tag, the stash. */
function state(r: TestRepo): string {
  return manifest(r.root, { exclude: ['rollbacks'] }) + allRefs(r, 'refs/heads', 'refs/tags') + 'stash:\n' + r.git('stash', 'list', '--format=%H %gs');
}

/** Everything, rb's own records and journals included: for "nothing changed". */
function everything(r: TestRepo): string {
  return manifest(r.root) + allRefs(r) + JSON.stringify(runsOf(r));
}

const yes = ['--yes'];
const LEVEL = ['--no-tests'];

/**
 * sprint 4, then files src/a.ts, then emergency, with the user's edits between them: the state
 * before each run (s0, s1, s2) and after the last (s3).
 */
async function threeRuns(): Promise<{ r: TestRepo; s: string[]; ids: string[] }> {
  const r = copyRepo(sprintRepo());
  const s: string[] = [];
  s.push(state(r));
  expectCode(await rbAsync(r.root, ['sprint', '4', ...yes, ...LEVEL]), 0, 'sprint');
  r.write('src/a.ts', 'export const a = 7; // retry work\n');
  r.write('notes/retry.md', 'second try\n');
  s.push(state(r));
  expectCode(await rbAsync(r.root, ['files', 'src/a.ts', ...yes, ...LEVEL]), 0, 'files');
  r.write('src/b.ts', 'export const b = 9; // more work\n');
  r.write('.env', 'API_KEY=changed\n', 0o600);
  s.push(state(r));
  expectCode(await rbAsync(r.root, ['emergency', ...yes, '--no-services', '--no-install']), 0, 'emergency');
  s.push(state(r));
  const ids = runsOf(r).map((x) => x.id).reverse(); // sprint, files, emergency
  return { r, s, ids };
}

describe.concurrent('the undo chain', { timeout: 240_000 }, () => {
  it('undo, undo, undo steps back one run at a time; redo, redo, redo walks forward; every state byte-exact', async () => {
    const { r, s, ids } = await threeRuns();
    const [sprint, files, emergency] = ids;

    // back: each bare undo takes back the newest run still in effect
    const u1 = await rbAsync(r.root, ['undo', ...yes]);
    expectCode(u1, 0, 'undo 1');
    expect(state(r), 'after undo 1: the state before the emergency').toBe(s[2]);
    expect(outOf(u1)).toContain(`Undo of run ${emergency}`);
    // the next steps name rb redo and a further rb undo, never an undo of the undo
    expect(u1.stdout).toContain(`\`rb redo\` brings back run ${emergency}`);
    expect(u1.stdout).toContain(`\`rb undo\` takes back run ${files} (one run further back)`);
    expect(u1.stdout).not.toMatch(/rb undo \S+-undo/);

    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo 2');
    expect(state(r), 'after undo 2: the state before files').toBe(s[1]);
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo 3');
    expect(state(r), 'after undo 3: the state before the sprint').toBe(s[0]);

    // nothing further back: exit 5, nothing changed, and it says redo is what is left
    const before = everything(r);
    const u4 = await rbAsync(r.root, ['undo', ...yes]);
    expectCode(u4, 5, 'undo 4');
    expect(u4.stderr).toContain(`every run is undone, back to the state before run ${sprint}`);
    expect(u4.stderr).toMatch(/next: `rb redo` brings run \S+-sprint-4 back/);
    expect(everything(r)).toBe(before);

    // forward: each redo returns to the state the matching undo started from
    const d1 = await rbAsync(r.root, ['redo', ...yes]);
    expectCode(d1, 0, 'redo 1');
    expect(outOf(d1)).toContain(`Redo of run ${sprint}`);
    expect(state(r), 'after redo 1: the state after the sprint (with the edits made before files)').toBe(s[1]);
    expectCode(await rbAsync(r.root, ['redo', ...yes]), 0, 'redo 2');
    expect(state(r), 'after redo 2').toBe(s[2]);
    expectCode(await rbAsync(r.root, ['redo', ...yes]), 0, 'redo 3');
    expect(state(r), 'after redo 3: the state after the emergency').toBe(s[3]);

    const before2 = everything(r);
    const d4 = await rbAsync(r.root, ['redo', ...yes]);
    expectCode(d4, 5, 'redo 4');
    expect(d4.stderr).toContain('there is nothing to redo: no undo since the last run.');
    expect(everything(r)).toBe(before2);
    expect((await rbAsync(r.root, ['history'])).stdout).toMatch(new RegExp(`^  \`rb undo\` takes back run ${emergency}; nothing to redo$`, 'm'));

    // every original run is in effect again; the undos are reversed
    const runs = runsOf(r);
    for (const id of ids) expect(runs.find((x) => x.id === id)!.status, id).toBe('succeeded');
    expect(runs.filter((x) => x.playbook === 'undo').map((x) => x.status)).toEqual(['undone', 'undone', 'undone']);
    expect(runs.filter((x) => x.playbook === 'redo').map((x) => x.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);

    // and back again after redos: undo takes back the emergency once more
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo after redo');
    expect(state(r)).toBe(s[2]);
  });

  it('a new run after undos ends the redo chain: rb redo exits 5 naming it and changes nothing; rb undo <run> still reverses that undo', async () => {
    const { r, s, ids } = await threeRuns();
    const [, files, emergency] = ids;
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo 1');
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo 2');
    expect(state(r)).toBe(s[1]);
    const [undo2, undo1] = runsOf(r).filter((x) => x.playbook === 'undo').map((x) => x.id);

    // a new run: files src/b.ts
    expectCode(await rbAsync(r.root, ['files', 'src/b.ts', ...yes, ...LEVEL]), 0, 'new files run');
    const newRun = runsOf(r)[0]!;
    const afterNew = state(r);
    const before = everything(r);
    const redo = await rbAsync(r.root, ['redo', ...yes]);
    expectCode(redo, 5, 'redo after a new run');
    expect(redo.stderr).toContain(`run ${newRun.id} (files) came after the last undo (${undo2}) and ended the redo chain`);
    expect(redo.stderr).toContain(`next: \`rb undo ${undo2}\` still reverses that undo on its own`);
    expect(everything(r)).toBe(before);

    // history says so too
    const h = await rbAsync(r.root, ['history']);
    expect(h.stdout).toContain(`nothing to redo (run ${newRun.id} came after the last undo)`);

    // a bare undo takes back the new run first
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo of the new run');
    expect(state(r)).toBe(s[1]);
    expectCode(await rbAsync(r.root, ['redo', ...yes]), 0, 'redo of the new run');
    expect(state(r)).toBe(afterNew);

    // rb undo <run> targets one run: undoing an undo by id is a redo of what it undid
    const byId = await rbAsync(r.root, ['undo', undo1!, ...yes]);
    expectCode(byId, 0, 'undo <undo id>');
    expect(outOf(byId)).toContain(`Redo of run ${emergency} (reverses undo ${undo1})`);
    expect(runsOf(r)[0]).toMatchObject({ playbook: 'redo', undoOf: undo1 });
    // an already undone run: exit 5, named, nothing changed
    const before3 = everything(r);
    const again = await rbAsync(r.root, ['undo', files!, ...yes]);
    expectCode(again, 5, 'undo of an undone run');
    expect(again.stderr).toContain(`run ${files} was already undone by run ${undo2}`);
    expect(everything(r)).toBe(before3);
  });

  it('rb status and rb history after undos: next steps are rb undo / rb redo, the chain and the position are marked (text and --json)', async () => {
    const { r, ids } = await threeRuns();
    const [sprint, files, emergency] = ids;
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo 1');
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo 2');
    expectCode(await rbAsync(r.root, ['redo', ...yes]), 0, 'redo');
    const [redo, undo2, undo1] = runsOf(r).map((x) => x.id);

    const st = await rbAsync(r.root, ['status']);
    expectCode(st, 0, 'status');
    expect(st.stdout).toContain(`rb undo   (take back run ${files}: the state before it; one run further back)`);
    expect(st.stdout).toContain(`rb redo   (bring back run ${emergency}, undone by run ${undo1})`);
    expect(st.stdout).not.toMatch(/rb undo \S+-(undo|redo)\b/);
    const sj = JSON.parse((await rbAsync(r.root, ['status', '--json'])).stdout);
    expect(sj.undoable.map((x: { id: string }) => x.id)).toEqual([files, sprint]);
    expect(sj.chain).toMatchObject({ nextUndo: files, nextRedo: { undo: undo1, brings: emergency }, after: files, before: emergency });

    const h = await rbAsync(r.root, ['history']);
    expectCode(h, 0, 'history');
    const line = (id: string) => h.stdout.split('\n').find((l) => l.slice(3).startsWith(`${id} `))!;
    expect(line(redo!)).toMatch(/^@ /);
    expect(line(redo!)).toContain(`redid ${files} (reversed ${undo2})`);
    expect(line(undo2!)).toContain(`undid ${files}; reversed by ${redo}`);
    expect(line(undo1!)).toContain(`undid ${emergency}`);
    expect(line(emergency!)).toMatch(/undone \(by \S+\)\s+emergency\s+undone/);
    expect(h.stdout).toContain(`@ the working copy (as of run ${redo}): after run ${files}, before run ${emergency} (undone)`);
    expect(h.stdout).toContain(`\`rb undo\` takes back run ${files}; \`rb redo\` brings back run ${emergency} (undone by ${undo1})`);

    const hj = JSON.parse((await rbAsync(r.root, ['history', '--json'])).stdout);
    const byId = (id: string) => hj.runs.find((x: { id: string }) => x.id === id);
    expect(byId(redo).chain).toEqual({ role: 'redo', of: files, reverses: undo2, undoneBy: null, current: true });
    expect(byId(undo2).chain).toMatchObject({ role: 'undo', of: files, undoneBy: redo, current: false });
    expect(byId(undo1).chain).toMatchObject({ role: 'undo', of: emergency, undoneBy: null });
    expect(byId(emergency).chain).toMatchObject({ role: 'forward', undoneBy: undo1 });
    expect(hj.position).toEqual({ at: redo, after: files, before: emergency, nextUndo: files, nextRedo: { undo: undo1, brings: emergency }, redoEndedBy: null });
  });

  it('a redo killed part-way (kill -9 in its restore): rb redo finishes it, or rb abort puts back the state before it', async () => {
    const { r, s } = await threeRuns();
    expectCode(await rbAsync(r.root, ['undo', ...yes]), 0, 'undo');
    expect(state(r)).toBe(s[2]);
    const twin = copyRepo(r);

    // finish it: rb redo again
    const killed = await rbAsync(r.root, ['redo', ...yes], { RB_FAULT: 'before:refs' });
    expect(killed.signal, outOf(killed)).toBe('SIGKILL');
    await waitGitIdle(r);
    expect(runsOf(r)[0]).toMatchObject({ playbook: 'redo', status: 'running' });
    const blocked = await rbAsync(r.root, ['undo', ...yes]);
    expectCode(blocked, 4, 'undo while the redo is stuck');
    const fin = await rbAsync(r.root, ['redo', ...yes]);
    expectCode(fin, 0, 'redo again');
    expect(fin.stderr).toMatch(/stopped part-way; finishing it/);
    expect(state(r)).toBe(s[3]);
    expect(runsOf(r).filter((x) => x.playbook === 'redo')).toHaveLength(1);

    // or abort it
    const killed2 = await rbAsync(twin.root, ['redo', ...yes], { RB_FAULT: 'before:refs' });
    expect(killed2.signal).toBe('SIGKILL');
    await waitGitIdle(twin);
    expectCode(await rbAsync(twin.root, ['abort', ...yes]), 0, 'abort the redo');
    expect(state(twin)).toBe(s[2]);
    // the chain is as before the redo: redo still brings the emergency back
    expectCode(await rbAsync(twin.root, ['redo', ...yes]), 0, 'redo after the abort');
    expect(state(twin)).toBe(s[3]);
  });
});
