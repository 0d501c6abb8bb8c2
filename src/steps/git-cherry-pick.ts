/**
 * `git.cherry-pick`: apply commits in order onto the current branch — with the user's own hooks
 * and signing (this is history other people will see; safety.md §2). When a pick fails it says
 * what failed, read from git's state (cherry-pick-failure.ts: a conflict, a hook, signing, a
 * commit git could not write, a pick git did not start), each with its own next step. A pick that
 * stopped half-way (in progress, or its changes staged) is recorded with how far the step got, so
 * `rb recover --continue` (resume) picks up after the user ran `git cherry-pick --continue` (or
 * `--skip`: the commit is then recorded as left out, not as picked); a pick git did not start is
 * tried again. A commit whose changes are already on the branch (its pick would be empty) is
 * skipped with a warning, as `git rebase` does.
 */
import { z } from '#zod';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../io/git.js';
import type { StepKind } from './types.js';
import { headState, unmergedPaths } from './git-common.js';
import { explainPickFailure } from './cherry-pick-failure.js';
import { gitLine } from './common.js';

const schema = z.object({ commits: z.array(z.string().regex(/^[0-9a-f]{7,64}$/i, 'a commit id (hex)')).min(1), recordOrigin: z.boolean().optional() }).strict();
type With = z.infer<typeof schema>;

const pickArgs = (w: { recordOrigin?: boolean }, c: string) => ['cherry-pick', ...(w.recordOrigin === false ? [] : ['-x']), c];
/** As the plan and the journal show a pick: the user's own hooks and signing run for it. */
const pickLine = (w: { recordOrigin?: boolean }, c: string) => `${gitLine(pickArgs(w, c))}  # your hooks and signing apply`;

export const gitCherryPick: StepKind<With> = {
  kind: 'git.cherry-pick',
  summary: 'cherry-pick commits in order with the user\'s hooks and signing; stops on a conflict with the cherry-pick in progress',
  with: schema,
  destructive: true,
  describe: (w) => w.commits.map((c) => pickLine(w, c)),
  async run(w, ctx) {
    const repo = ctx.repo;
    const prev = (ctx.previous ?? {}) as { picked?: string[]; conflict?: string; conflictBase?: string | null; failure?: { kind: string; next: string }; created?: string[]; dropped?: string[]; start?: { ref: string | null; oid: string | null } };
    const start = prev.start ?? (await headState(repo));
    const moved = async () => {
      const h = await headState(repo);
      return start.ref && start.oid && h.oid && h.oid !== start.oid && h.ref === start.ref ? [{ ref: start.ref, from: start.oid, to: h.oid }] : [];
    };
    const picked = [...(prev.picked ?? [])];
    const created = [...(prev.created ?? [])];
    /** commits left out: already on the branch (an empty pick), or skipped by hand after a conflict */
    const dropped = [...(prev.dropped ?? [])];
    if (prev.conflict) {
      const head = await headState(repo);
      // where HEAD was when the pick stopped (journals from before conflictBase: the last pick, or the start)
      const base = prev.conflictBase !== undefined ? prev.conflictBase : (created[created.length - 1] ?? start.oid);
      // still stopped: the pick in progress, conflicts left, or (a hook refused to move the
      // branch) its changes still staged and uncommitted
      const unfinished = existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD')) || (await unmergedPaths(repo)).length > 0 ||
        (head.oid === base && (await git(['diff', '--cached', '--quiet'], { cwd: repo.root, allowFail: true, readOnly: true })).code === 1);
      if (unfinished) {
        // what stopped it was journaled with its own next step (journals from before: a conflict)
        const next = prev.failure?.next ?? 'Resolve the conflicts, `git add` them and run `git cherry-pick --continue` (or `git cherry-pick --skip`), then `rb recover --continue`.';
        throw new Error(`the cherry-pick of ${prev.conflict.slice(0, 12)} is still in progress. ${next}`);
      }
      if (head.oid && head.oid !== base) {
        picked.push(prev.conflict);
        created.push(head.oid);
        ctx.reporter.output(`${prev.conflict.slice(0, 12)} was finished by hand`);
      } else {
        // `git cherry-pick --skip` (or --abort): no commit was made for it
        dropped.push(prev.conflict);
        ctx.reporter.warn(`${prev.conflict.slice(0, 12)} was skipped by hand (no commit was made for it): left out`);
      }
    }
    const commands: string[] = [];
    for (const c of w.commits) {
      if (picked.includes(c) || dropped.includes(c)) continue;
      const base = (await headState(repo)).oid;
      const args = pickArgs(w, c);
      const r = await git(args, { cwd: repo.root, hardened: false, allowFail: true });
      commands.push(pickLine(w, c));
      if (r.code !== 0) {
        const subject = (await git(['log', '-1', '--format=%s', c], { cwd: repo.root, readOnly: true })).stdout.trim();
        let failure = await explainPickFailure(repo, c, r.stdout + r.stderr);
        if (failure.kind === 'empty') {
          // the pick is empty (its changes are already on the branch, or the commit was empty):
          // leave it out, as `git rebase` does
          const skip = ['cherry-pick', '--skip'];
          const sk = await git(skip, { cwd: repo.root, allowFail: true });
          commands.push(gitLine(skip));
          if (sk.code === 0 && !existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD')) && (await headState(repo)).oid === base) {
            dropped.push(c);
            await ctx.checkpoint({ picked, created, dropped, conflict: undefined, start, movedRefs: await moved() });
            ctx.reporter.warn(`${c.slice(0, 12)} "${subject}" is already on the branch (its pick is empty): left out`);
            continue;
          }
          failure = await explainPickFailure(repo, c, r.stdout + r.stderr + sk.stdout + sk.stderr);
        }
        // stopped: the pick is in progress or its changes are staged, so `rb recover --continue`
        // takes what the user finished by hand; not started: --continue tries this commit again
        const state = failure.stopped
          ? { conflict: c, conflictBase: base, conflictFiles: failure.files, failure: { kind: failure.kind, next: failure.next } }
          : { conflict: undefined };
        await ctx.checkpoint({ picked, created, dropped, ...state, start, movedRefs: await moved() });
        throw Object.assign(new Error(`cherry-pick of ${c.slice(0, 12)} "${subject}" ${failure.what}. ${failure.next}`), {
          result: { picked, created, dropped, ...state, failureKind: failure.kind, start, movedRefs: await moved(), commands, outputTail: (r.stdout + r.stderr).trim().split('\n').slice(-10).join('\n') },
        });
      }
      picked.push(c);
      const head = await headState(repo);
      if (head.oid) created.push(head.oid);
      await ctx.checkpoint({ picked, created, dropped, conflict: undefined, start, movedRefs: await moved() });
      ctx.reporter.output(`picked ${c.slice(0, 12)} (${picked.length}/${w.commits.length})`);
    }
    return { commands, picked, created, dropped, conflict: undefined, count: picked.length, start, movedRefs: await moved() };
  },
};
