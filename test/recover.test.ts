/**
 * `rb recover <branch>` as a user runs it (issue 5, "rb recover" and its "Done when"): the built
 * `rb` in throwaway repositories with a bare origin.
 *
 * Fixture (built once, copied per test): baseline = "project" (src/a.ts, src/b.ts, src/c.ts);
 * branch `feature` = baseline + three commits — A "good: add g1" (new src/g1.ts), B "bad: break b"
 * (src/b.ts), C "good: tweak c" (src/c.ts and new src/g2.ts) — and the baseline advanced
 * separately by U "upstream: fix b" (src/b.ts, docs/changelog.md), so picking B conflicts.
 * The user is on `feature` with an untracked notes.md and an ignored .env (0600), and has a
 * post-commit hook that logs each commit's subject to <git-dir>/hook-marker.log (and a
 * post-checkout hook that must not run: rb's own git calls keep hooks off).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, gitRun, makeRepo, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import type { RbResult } from './helpers/cli.js';
import { allRefs, gitDirOf, oid, outOf, rbAsync, runsOf, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };


const headRef = (r: TestRepo) => r.git('symbolic-ref', '-q', 'HEAD').trim();
const branches = (r: TestRepo, pattern: string) => r.git('for-each-ref', '--format=%(refname:short)', pattern).split('\n').filter(Boolean);
const hookLog = (r: TestRepo, name = 'hook-marker.log') => {
  const p = join(gitDirOf(r), name);
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
};

/** A state-of-everything fingerprint for "nothing changed": manifest (rollbacks included), every ref, the run count. */
function untouched(r: TestRepo): string {
  return manifest(r.root) + allRefs(r) + `runs: ${runsOf(r).length}\n`;
}

let tpl: TestRepo | null = null;
interface Fixture {
  r: TestRepo;
  /** the three feature commits, oldest first */
  A: string;
  B: string;
  C: string;
}

function recoverRepo(): Fixture {
  if (!tpl) {
    const r = makeRepo({ withOrigin: true });
    r.write('.gitignore', '.env\n');
    r.write('src/a.ts', 'export const a = 1;\n');
    r.write('src/b.ts', 'export const b = 1;\n');
    r.write('src/c.ts', 'export const c = 1;\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'project');
    r.git('branch', '-f', 'baseline', 'HEAD');
    r.git('push', '-q', '-f', 'origin', 'HEAD:refs/heads/main', 'baseline');
    r.git('switch', '-q', '-c', 'feature');
    r.write('src/g1.ts', 'export const g1 = 1;\n');
    r.git('add', 'src/g1.ts');
    r.git('commit', '-q', '--author', 'Alice Good <alice@example.invalid>', '-m', 'good: add g1');
    r.write('src/b.ts', 'export const b = 2; // bad\n');
    r.git('commit', '-q', '-a', '--author', 'Bob Bad <bob@example.invalid>', '-m', 'bad: break b');
    r.write('src/c.ts', 'export const c = 3;\n');
    r.write('src/g2.ts', 'export const g2 = 2;\n');
    r.git('add', '-A');
    r.git('commit', '-q', '--author', 'Carol Good <carol@example.invalid>', '-m', 'good: tweak c');
    // the baseline moves on without the feature
    r.git('switch', '-q', 'baseline');
    r.write('src/b.ts', 'export const b = 100; // upstream fix\n');
    r.write('docs/changelog.md', '- fixed b\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'upstream: fix b');
    r.git('push', '-q', 'origin', 'baseline');
    r.git('switch', '-q', 'feature');
    r.write('notes.md', 'what went wrong\n');
    r.write('.env', 'API_KEY=hunter2\n', 0o600);
    r.write('.git/hooks/post-commit', '#!/bin/sh\ngit log -1 --format=%s >> "$(git rev-parse --git-dir)/hook-marker.log"\n', 0o755);
    r.write('.git/hooks/post-checkout', '#!/bin/sh\necho checkout >> "$(git rev-parse --git-dir)/checkout-marker.log"\n', 0o755);
    tpl = r;
  }
  const r = copyRepo(tpl);
  const [A, B, C] = r.git('rev-list', '--reverse', 'baseline..feature').trim().split('\n');
  return { r, A: A!, B: B!, C: C! };
}

/** The commits of baseline..ref, oldest first: subject, body and parent. */
function picks(r: TestRepo, ref: string): { subject: string; body: string; oid: string }[] {
  return r
    .git('rev-list', '--reverse', `baseline..${ref}`)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((o) => ({ oid: o, subject: r.git('log', '-1', '--format=%s', o).trim(), body: r.git('log', '-1', '--format=%B', o) }));
}

const recordDirs = (r: TestRepo) => {
  const d = join(r.root, 'rollbacks');
  return existsSync(d) ? readdirSync(d).filter((n) => n.startsWith('recover-')) : [];
};

describe.concurrent('rb recover', { timeout: 120_000 }, () => {
  it('uncommitted changes to tracked files: exit 3 naming them, nothing changed; --force goes on and undo brings them back', async () => {
    const { r, A } = recoverRepo();
    r.write('src/g1.ts', 'work in progress\n');
    const before = untouched(r);
    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--yes', '--no-tests']);
    expectCode(res, 3);
    expect(res.stderr).toMatch(/uncommitted changes to tracked files/);
    expect(res.stderr).toMatch(/src\/g1\.ts/);
    expect(untouched(r)).toBe(before);
    const files = manifest(r.root, { exclude: ['rollbacks'] });
    expectCode(await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--yes', '--no-tests', '--force']), 0);
    expect(readFileSync(join(r.root, 'src/g1.ts'), 'utf8')).not.toBe('work in progress\n');
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    expect(manifest(r.root, { exclude: ['rollbacks'] })).toBe(files);
  });

  it('without a terminal and without --pick/--all: exit 2, lists the commits oldest first with subject, author and files, changes nothing', async () => {
    const { r, A, B, C } = recoverRepo();
    const before = untouched(r);
    const res = await rbAsync(r.root, ['recover', 'feature']);
    expectCode(res, 2);
    expect(res.stderr).toMatch(/--pick <sha>\.\.\. or --all/);
    const lines = res.stderr.split('\n');
    const at = (o: string) => lines.findIndex((l) => l.includes(o.slice(0, 7)));
    expect(at(A)).toBeGreaterThanOrEqual(0);
    expect(at(A)).toBeLessThan(at(B));
    expect(at(B)).toBeLessThan(at(C));
    expect(lines[at(A)]).toMatch(/good: add g1 — Alice Good <alice@example\.invalid>.*1 file\(s\): src\/g1\.ts/);
    expect(lines[at(B)]).toMatch(/bad: break b — Bob Bad <bob@example\.invalid>.*1 file\(s\): src\/b\.ts/);
    expect(lines[at(C)]).toMatch(/good: tweak c — Carol Good <carol@example\.invalid>.*2 file\(s\): src\/c\.ts, src\/g2\.ts/);
    expect(untouched(r)).toBe(before);
  });

  it('--pick A --pick C: recovery/<stamp> from the baseline with exactly those commits in order (-x), the user\'s hooks run, report written, feature and files untouched', async () => {
    const { r, A, C } = recoverRepo();
    const before = manifest(r.root, EXCL);
    const featureOid = oid(r, 'feature');
    const baseOid = oid(r, 'baseline');
    // given newest first: the history order is kept
    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', C.slice(0, 9), '--pick', A, '--yes', '--no-tests']);
    expectCode(res, 0);

    expect(headRef(r)).toMatch(/^refs\/heads\/recovery\/\d{8}-\d{6}$/);
    const rec = headRef(r).replace('refs/heads/', '');
    expect(branches(r, 'refs/heads/recovery/')).toEqual([rec]);
    const got = picks(r, rec);
    expect(got.map((p) => p.subject)).toEqual(['good: add g1', 'good: tweak c']);
    expect(oid(r, `${got[0]!.oid}^`)).toBe(baseOid);
    expect(got[0]!.body).toContain(`(cherry picked from commit ${A})`);
    expect(got[1]!.body).toContain(`(cherry picked from commit ${C})`);
    expect(r.git('status', '--porcelain')).toBe('?? notes.md\n');
    expect(readFileSync(join(r.root, 'src/b.ts'), 'utf8')).toBe('export const b = 100; // upstream fix\n');

    // the user's post-commit hook ran once per pick; rb's own checkout ran without hooks
    expect(hookLog(r)).toBe('good: add g1\ngood: tweak c\n');
    expect(hookLog(r, 'checkout-marker.log')).toBe('');

    // report and run
    const dirs = recordDirs(r);
    expect(dirs).toHaveLength(1);
    const report = readFileSync(join(r.root, 'rollbacks', dirs[0]!, 'report.md'), 'utf8');
    const [run] = runsOf(r);
    expect(run).toMatchObject({ playbook: 'recover', status: 'succeeded' });
    expect(report).toContain(`# Recovery from feature`);
    expect(report).toContain(run!.id);
    expect(report).toContain(rec);
    expect(report).toContain(A);
    expect(report).toContain(C);
    expect(report).toContain(got[1]!.oid);

    // the failed branch is where it was; the only difference in the working copy is the checkout:
    // switched back (in a copy), it is the exact working copy from before
    expect(oid(r, 'feature')).toBe(featureOid);
    expect(oid(r, 'baseline')).toBe(baseOid);
    const back = copyRepo(r);
    back.git('-c', 'core.hooksPath=/dev/null', 'switch', '-q', 'feature');
    expect(manifest(back.root, EXCL)).toBe(before);
  });

  it('rb undo of a finished recovery gives back the exact working copy and deletes the recovery branch', async () => {
    const { r } = recoverRepo();
    const before = manifest(r.root, EXCL);
    const heads = allRefs(r, 'refs/heads');
    expectCode(await rbAsync(r.root, ['recover', 'feature', '--all', '--yes', '--no-tests', '--onto', 'main']), 0);
    expect(branches(r, 'refs/heads/recovery/')).toHaveLength(1);
    // --onto main (= the baseline before it moved on): no conflict, all three picked
    expect(r.git('log', '--reverse', '--format=%s', 'main..HEAD').trim().split('\n')).toEqual(['good: add g1', 'bad: break b', 'good: tweak c']);
    expect(oid(r, 'HEAD~3')).toBe(oid(r, 'main'));

    const undo = await rbAsync(r.root, ['undo', '--yes']);
    expectCode(undo, 0);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(branches(r, 'refs/heads/recovery/')).toEqual([]);
    expect(allRefs(r, 'refs/heads')).toBe(heads);
    expect(runsOf(r).find((x) => x.playbook === 'recover')!.status).toBe('undone');
  });

  /** Start a recovery of A, B, C onto the advanced baseline: B conflicts. */
  async function stopOnConflict(f: Fixture): Promise<RbResult> {
    const res = await rbAsync(f.r.root, ['recover', 'feature', '--pick', f.A, '--pick', f.B, '--pick', f.C, '--yes', '--no-tests']);
    expectCode(res, 1);
    return res;
  }

  function expectStoppedOnConflict(f: Fixture, res: RbResult): void {
    const { r, A, B } = f;
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(true);
    expect(oid(r, 'CHERRY_PICK_HEAD')).toBe(B);
    expect(r.git('diff', '--name-only', '--diff-filter=U').trim()).toBe('src/b.ts');
    expect(headRef(r)).toMatch(/^refs\/heads\/recovery\//);
    expect(picks(r, 'HEAD').map((p) => p.body.includes(`(cherry picked from commit ${A})`))).toEqual([true]);
    // stderr names the commit and the conflicted file, and says what to run
    expect(res.stderr).toContain(B.slice(0, 12));
    expect(res.stderr).toContain('bad: break b');
    expect(res.stderr).toMatch(/conflicts in: src\/b\.ts/);
    expect(res.stderr).toMatch(/git cherry-pick --continue`, then `rb recover --continue`/);
    expect(res.stderr).toContain('rb recover --abort');
    const run = runsOf(r)[0]!;
    expect(run).toMatchObject({ playbook: 'recover', status: 'failed' });
  }

  it('a conflicting pick stops with the cherry-pick in progress and says what to run; rb status shows it; resolve + git cherry-pick --continue + rb recover --continue finishes', async () => {
    const f = recoverRepo();
    const { r, A, B, C } = f;
    const featureOid = oid(r, 'feature');
    const res = await stopOnConflict(f);
    expectStoppedOnConflict(f, res);
    const run = runsOf(r)[0]!;

    const status = await rbAsync(r.root, ['status']);
    expectCode(status, 0);
    expect(status.stdout).toContain(`Failed: ${run.id} (recover) at step pick`);
    expect(status.stdout).toContain('Git: a cherry-pick is in progress');
    const statusJson = await rbAsync(r.root, ['status', '--json']);
    expectCode(statusJson, 0);
    const sj = JSON.parse(statusJson.stdout);
    expect(sj.unresolved.map((x: { id: string }) => x.id)).toEqual([run.id]);
    expect(sj.gitOperations).toEqual(['cherry-pick']);

    // --continue before the conflict is resolved: still stopped, nothing lost
    const early = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(early, 1);
    expect(early.stderr).toMatch(/still in progress/);
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(true);

    // the user resolves it
    r.write('src/b.ts', 'export const b = 100; // upstream fix, bad change dropped\n');
    r.git('add', 'src/b.ts');
    r.git('cherry-pick', '--continue');
    const cont = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(cont, 0);
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(false);
    const got = picks(r, 'HEAD');
    expect(got.map((p) => p.subject)).toEqual(['good: add g1', 'bad: break b', 'good: tweak c']);
    got.forEach((p, i) => expect(p.body).toContain(`(cherry picked from commit ${[A, B, C][i]})`));
    expect(readFileSync(join(r.root, 'src/b.ts'), 'utf8')).toBe('export const b = 100; // upstream fix, bad change dropped\n');
    expect(existsSync(join(r.root, 'src/g2.ts'))).toBe(true);
    expect(hookLog(r)).toBe('good: add g1\nbad: break b\ngood: tweak c\n');
    const done = runsOf(r).find((x) => x.id === run.id)!;
    expect(done.status).toBe('succeeded');
    const report = readFileSync(join(r.root, 'rollbacks', recordDirs(r)[0]!, 'report.md'), 'utf8');
    for (const c of [A, B, C]) expect(report).toContain(c);
    expect(oid(r, 'feature')).toBe(featureOid);
    // nothing left to resolve
    const st = JSON.parse((await rbAsync(r.root, ['status', '--json'])).stdout);
    expect(st.unresolved).toEqual([]);
    expect(st.gitOperations).toEqual([]);
  });

  it('rb recover --abort after a conflict restores the exact earlier working copy and deletes the recovery branch', async () => {
    const f = recoverRepo();
    const { r } = f;
    const before = manifest(r.root, EXCL);
    const heads = allRefs(r, 'refs/heads');
    const res = await stopOnConflict(f);
    expectStoppedOnConflict(f, res);

    const abort = await rbAsync(r.root, ['recover', '--abort']);
    expectCode(abort, 0);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(false);
    expect(branches(r, 'refs/heads/recovery/')).toEqual([]);
    expect(allRefs(r, 'refs/heads')).toBe(heads);
    expect(runsOf(r).find((x) => x.playbook === 'recover')!.status).toBe('aborted');
    // nothing is left to continue or abort
    expectCode(await rbAsync(r.root, ['recover', '--continue']), 2);
  });

  it('rb recover --abort after the user already ran git cherry-pick --continue: restored, and undoing the abort gives the resolved commit back', async () => {
    const f = recoverRepo();
    const { r, B } = f;
    const before = manifest(r.root, EXCL);
    const heads = allRefs(r, 'refs/heads');
    expectStoppedOnConflict(f, await stopOnConflict(f));
    r.write('src/b.ts', 'export const b = 100; // resolved\n');
    r.git('add', 'src/b.ts');
    r.git('cherry-pick', '--continue');
    const rec = headRef(r);
    const resolved = oid(r, 'HEAD');

    const abort = await rbAsync(r.root, ['recover', '--abort']);
    expectCode(abort, 0);
    expect(manifest(r.root, EXCL)).toBe(before);
    expect(allRefs(r, 'refs/heads')).toBe(heads);

    // the abort is undoable like any run: the recovery branch comes back with the resolved pick
    expectCode(await rbAsync(r.root, ['undo', '--yes']), 0);
    expect(headRef(r)).toBe(rec);
    expect(oid(r, rec)).toBe(resolved);
    expect(r.git('log', '-1', '--format=%B', resolved)).toContain(`(cherry picked from commit ${B})`);
  });

  it('rb recover --abort still stops and names the branch when the user\'s own branch moved since', async () => {
    const f = recoverRepo();
    const { r } = f;
    expectStoppedOnConflict(f, await stopOnConflict(f));
    r.git('cherry-pick', '--abort');
    const moved = r.git('commit-tree', 'feature^{tree}', '-p', 'feature', '-m', 'more work on feature').trim();
    r.git('update-ref', 'refs/heads/feature', moved);
    const before = untouched(r);
    const abort = await rbAsync(r.root, ['recover', '--abort']);
    expectCode(abort, 5);
    expect(abort.stderr).toMatch(/feature is at [0-9a-f]{12}: it moved after run \S+ started/);
    expect(untouched(r)).toBe(before);
  });

  it('a conflicting pick skipped by hand (git cherry-pick --skip) is left out, not recorded as picked', async () => {
    const f = recoverRepo();
    const { r, A, B, C } = f;
    const res = await stopOnConflict(f);
    expectStoppedOnConflict(f, res);
    r.git('cherry-pick', '--skip');
    const cont = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(cont, 0);
    const got = picks(r, 'HEAD');
    expect(got.map((p) => p.subject)).toEqual(['good: add g1', 'good: tweak c']);
    expect(outOf(cont)).toContain(`${B.slice(0, 12)} was skipped by hand`);
    const report = readFileSync(join(r.root, 'rollbacks', recordDirs(r)[0]!, 'report.md'), 'utf8');
    expect(report).toContain(`**Commits picked (oldest first):** ${A}, ${C}`);
    expect(report).toContain(`**New commits:** ${got[0]!.oid}, ${got[1]!.oid}\n`);
    expect(report).toContain(`**Left out (already on the branch, or skipped by hand):** ${B}`);
  });

  it('a commit whose changes are already on the branch (an empty pick) is left out with a warning; the others are picked', async () => {
    const { r, A, C } = recoverRepo();
    // a hotfix branch from the baseline that already carries A's change
    r.git('branch', 'hotfix', 'baseline');
    const tree = r.git('rev-parse', 'baseline^{tree}').trim();
    r.git('read-tree', '--index-output=' + join(gitDirOf(r), 'tmp-index'), tree);
    const blob = r.git('rev-parse', `${A}:src/g1.ts`).trim();
    const env = { GIT_INDEX_FILE: join(gitDirOf(r), 'tmp-index') };
    expect(gitRun(r.root, ['update-index', '--add', '--cacheinfo', `100644,${blob},src/g1.ts`], { env }).code).toBe(0);
    const hotTree = gitRun(r.root, ['write-tree'], { env }).stdout.trim();
    const hot = r.git('commit-tree', hotTree, '-p', 'baseline', '-m', 'hotfix: g1 already').trim();
    r.git('update-ref', 'refs/heads/hotfix', hot);

    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--pick', C, '--onto', 'hotfix', '--yes', '--no-tests']);
    expectCode(res, 0);
    expect(outOf(res)).toMatch(new RegExp(`${A.slice(0, 12)} "good: add g1" is already on the branch \\(its pick is empty\\): left out`));
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(false);
    expect(r.git('log', '--format=%s', 'hotfix..HEAD').trim()).toBe('good: tweak c');
    expect(oid(r, 'HEAD^')).toBe(hot);
    const report = readFileSync(join(r.root, 'rollbacks', recordDirs(r)[0]!, 'report.md'), 'utf8');
    expect(report).toContain(`**Commits picked (oldest first):** ${C}\n`);
    expect(report).toContain(`**Left out (already on the branch, or skipped by hand):** ${A}`);
    expect(runsOf(r)[0]!.status).toBe('succeeded');
  });

  it('a signing failure (commit.gpgSign=true, a broken gpg) is called a signing failure, not a conflict; fixing signing and continuing finishes', async () => {
    const { r, A, C } = recoverRepo();
    r.git('config', 'commit.gpgSign', 'true');
    r.git('config', 'gpg.program', '/bin/false');
    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--pick', C, '--yes', '--no-tests']);
    expectCode(res, 1);
    expect(res.stderr).toContain(`cherry-pick of ${A.slice(0, 12)} "good: add g1" applied cleanly, but the commit could not be signed (commit.gpgSign is on): error: gpg failed to sign the data`);
    expect(res.stderr).not.toMatch(/Resolve them|conflict/i);
    expect(res.stderr).toContain('`git -c commit.gpgSign=false cherry-pick --continue`, then `rb recover --continue`');
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(true);
    expect(r.git('diff', '--cached', '--name-only').trim()).toBe('src/g1.ts');
    expect(runsOf(r)[0]!.steps.find((s) => s.id === 'pick')!.result).toMatchObject({ failureKind: 'signing', conflict: A });

    // --continue before anything is fixed: still stopped, with the same advice
    const early = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(early, 1);
    expect(early.stderr).toMatch(/still in progress\. Fix commit signing/);

    // the user fixes signing (here: a "gpg" that signs) and continues
    r.write('.git/fake-gpg', '#!/bin/sh\ncat >/dev/null\nprintf \'\\n[GNUPG:] SIG_CREATED D 1 8 00 1 X\\n\' >&2\nprintf \'%s\\n\' "-----BEGIN PGP SIGNATURE-----" fake "-----END PGP SIGNATURE-----"\n', 0o755);
    r.git('config', 'gpg.program', join(gitDirOf(r), 'fake-gpg'));
    r.git('cherry-pick', '--continue');
    const cont = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(cont, 0);
    const got = picks(r, 'HEAD');
    expect(got.map((p) => p.subject)).toEqual(['good: add g1', 'good: tweak c']);
    expect(r.git('cat-file', 'commit', got[0]!.oid)).toContain('-----BEGIN PGP SIGNATURE-----');
  });

  it('a hook that refuses the commit (prepare-commit-msg) is named with its output; fixing it and continuing finishes', async () => {
    const { r, A } = recoverRepo();
    r.write('.git/hooks/prepare-commit-msg', '#!/bin/sh\necho "commit messages need a ticket number" >&2\nexit 1\n', 0o755);
    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--yes', '--no-tests']);
    expectCode(res, 1);
    expect(res.stderr).toContain(`cherry-pick of ${A.slice(0, 12)} "good: add g1" applied cleanly, but your prepare-commit-msg hook refused the commit`);
    expect(res.stderr).toContain('commit messages need a ticket number');
    expect(res.stderr).toContain('Fix what the hook reports (the changes are staged)');
    expect(res.stderr).not.toMatch(/Resolve them|conflict|sign/i);
    r.write('.git/hooks/prepare-commit-msg', '#!/bin/sh\nexit 0\n', 0o755);
    r.git('cherry-pick', '--continue');
    expectCode(await rbAsync(r.root, ['recover', '--continue']), 0);
    expect(picks(r, 'HEAD').map((p) => p.subject)).toEqual(['good: add g1']);
  });

  it('a reference-transaction hook that refuses to move the branch: the pick is left staged, named as such; committing it by hand and continuing records it', async () => {
    const { r, A, C } = recoverRepo();
    // refuses only updates of the recovery branch made while a marker file exists
    const marker = join(gitDirOf(r), 'refuse');
    r.write('.git/hooks/reference-transaction', `#!/bin/sh\n[ "$1" = prepared ] && [ -e "${marker}" ] && grep -q refs/heads/recovery/ && { echo "branch is frozen" >&2; exit 1; }\nexit 0\n`, 0o755);
    r.write('.git/refuse', '');
    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--pick', C, '--yes', '--no-tests']);
    expectCode(res, 1);
    expect(res.stderr).toContain('branch is frozen');
    expect(res.stderr).not.toMatch(/Resolve them|conflict|sign/i);
    expect(oid(r, 'HEAD')).toBe(oid(r, 'baseline'));
    expect(r.git('diff', '--cached', '--name-only').trim()).toBe('src/g1.ts');
    // git leaves the pick in progress or (older versions) only its changes staged: rb names the case it finds
    const inProgress = existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'));
    expect(res.stderr).toContain(inProgress
      ? `cherry-pick of ${A.slice(0, 12)} "good: add g1" applied cleanly, but your reference-transaction hook refused the commit`
      : `cherry-pick of ${A.slice(0, 12)} "good: add g1" was committed, but your reference-transaction hook refused to move the branch`);
    // --continue while the changes are still staged: still stopped
    const early = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(early, 1);
    expect(early.stderr).toMatch(/still in progress/);
    r.sh(`rm ${JSON.stringify(marker)}`);
    if (inProgress) r.git('cherry-pick', '--continue');
    else r.git('commit', '-q', '-C', A);
    expectCode(await rbAsync(r.root, ['recover', '--continue']), 0);
    expect(picks(r, 'HEAD').map((p) => p.subject)).toEqual(['good: add g1', 'good: tweak c']);
  });

  it('a pick git refuses to start (an untracked file in the way) is tried again by rb recover --continue, not counted as picked', async () => {
    const { r, A, C } = recoverRepo();
    // on main (without the feature commits), an untracked file where A adds one
    r.git('-c', 'core.hooksPath=/dev/null', 'switch', '-q', 'main');
    r.write('src/g1.ts', 'my own untracked g1\n');
    const res = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--pick', C, '--yes', '--no-tests']);
    expectCode(res, 1);
    expect(res.stderr).toContain(`cherry-pick of ${A.slice(0, 12)} "good: add g1" did not start: error: The following untracked working tree files would be overwritten`);
    expect(res.stderr).toContain('then `rb recover --continue` tries this commit again');
    expect(existsSync(join(gitDirOf(r), 'CHERRY_PICK_HEAD'))).toBe(false);
    expect(oid(r, 'HEAD')).toBe(oid(r, 'baseline'));

    // the user moves the file out of the way and continues
    r.sh('mv src/g1.ts ../g1.mine.ts');
    const cont = await rbAsync(r.root, ['recover', '--continue']);
    expectCode(cont, 0);
    const got = picks(r, 'HEAD');
    expect(got.map((p) => p.subject)).toEqual(['good: add g1', 'good: tweak c']);
    const report = readFileSync(join(r.root, 'rollbacks', recordDirs(r)[0]!, 'report.md'), 'utf8');
    expect(report).toContain(`**Commits picked (oldest first):** ${A}, ${C}\n`);
    expect(report).toContain(`**New commits:** ${got[0]!.oid}, ${got[1]!.oid}\n`);
  });

  it('--pick of a commit that is not in baseline..branch exits 2 and changes nothing', async () => {
    const { r, A } = recoverRepo();
    const before = untouched(r);
    const unknown = await rbAsync(r.root, ['recover', 'feature', '--pick', 'deadbeefdeadbeef', '--yes', '--no-tests']);
    expectCode(unknown, 2);
    expect(unknown.stderr).toContain('deadbeefdeadbeef is not one of the commits in baseline..feature');
    // a commit that exists but is already on the baseline is refused the same way
    const onBaseline = await rbAsync(r.root, ['recover', 'feature', '--pick', A, '--pick', oid(r, 'baseline'), '--yes', '--no-tests']);
    expectCode(onBaseline, 2);
    expect(onBaseline.stderr).toContain(`${oid(r, 'baseline')} is not one of the commits`);
    expect(untouched(r)).toBe(before);
  });

  it('refuses hostile and unknown branch names with exit 2, changing nothing', async () => {
    const { r } = recoverRepo();
    const before = untouched(r);
    const cases = [
      ['recover', '--upload-pack=x', '--all', '--yes'],
      ['recover', '-x', '--all', '--yes'],
      ['recover', '--all', '--yes', '--', '--upload-pack=x'],
      ['recover', '--all', '--yes', '--', '-x'],
      ['recover', 'feature..main', '--all', '--yes'],
      ['recover', 'no-such-branch', '--all', '--yes'],
    ];
    const results = await Promise.all(cases.map((args) => rbAsync(r.root, args)));
    results.forEach((res, i) => {
      expectCode(res, 2);
      expect(res.stderr, cases[i]!.join(' ')).not.toBe('');
    });
    expect(results[2]!.stderr).toContain('"--upload-pack=x" is not a branch name');
    expect(results[3]!.stderr).toContain('"-x" is not a branch name');
    expect(untouched(r)).toBe(before);
  });
});
