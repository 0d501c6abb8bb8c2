/**
 * `git.cherry-pick`: apply commits in order onto the current branch — with the user's own hooks
 * and signing (this is history other people will see; safety.md §2). On a conflict it stops with
 * the cherry-pick in progress, names the commit and the files, and records how far it got, so
 * `rb recover --continue` (resume) picks up after the user ran `git cherry-pick --continue` (or
 * `--skip`: the commit is then recorded as left out, not as picked). A commit whose changes are
 * already on the branch (its pick would be empty) is skipped with a warning, as `git rebase` does.
 */
import { z } from 'zod';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../io/git.js';
import type { StepKind } from './types.js';
import { headState, unmergedPaths } from './git-common.js';

const schema = z.object({ commits: z.array(z.string().regex(/^[0-9a-f]{7,64}$/i, 'a commit id (hex)')).min(1), recordOrigin: z.boolean().optional() }).strict();
type With = z.infer<typeof schema>;

export const gitCherryPick: StepKind<With> = {
  kind: 'git.cherry-pick',
  summary: 'cherry-pick commits in order with the user\'s hooks and signing; stops on a conflict with the cherry-pick in progress',
  with: schema,
  destructive: true,
  describe: (w) => w.commits.map((c) => `git cherry-pick${w.recordOrigin === false ? '' : ' -x'} ${c}  # your hooks and signing apply`),
  async run(w, ctx) {
    const repo = ctx.repo;
    const prev = (ctx.previous ?? {}) as { picked?: string[]; conflict?: string; conflictBase?: string | null; created?: string[]; dropped?: string[]; start?: { ref: string | null; oid: string | null } };
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
      if (existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD')) || (await unmergedPaths(repo)).length) {
        throw new Error(`the cherry-pick of ${prev.conflict.slice(0, 12)} is still in progress: resolve the conflicts, \`git add\` them and run \`git cherry-pick --continue\` (or \`git cherry-pick --skip\`), then \`rb recover --continue\``);
      }
      const head = await headState(repo);
      // where HEAD was when the pick stopped (journals from before conflictBase: the last pick, or the start)
      const base = prev.conflictBase !== undefined ? prev.conflictBase : (created[created.length - 1] ?? start.oid);
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
      const args = ['cherry-pick', ...(w.recordOrigin === false ? [] : ['-x']), c];
      const r = await git(args, { cwd: repo.root, hardened: false, allowFail: true });
      commands.push(`git ${args.join(' ')}`);
      if (r.code !== 0) {
        const files = await unmergedPaths(repo);
        const subject = (await git(['log', '-1', '--format=%s', c], { cwd: repo.root, readOnly: true })).stdout.trim();
        if (!files.length && existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD'))) {
          // stopped without a conflict: when nothing is staged, the pick is empty (its changes are
          // already on the branch, or the commit was empty): leave it out, as `git rebase` does
          const staged = await git(['diff', '--cached', '--quiet'], { cwd: repo.root, allowFail: true, readOnly: true });
          if (staged.code === 0) {
            const skip = ['cherry-pick', '--skip'];
            const sk = await git(skip, { cwd: repo.root, allowFail: true });
            commands.push(`git ${skip.join(' ')}`);
            if (sk.code === 0 && !existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD')) && (await headState(repo)).oid === base) {
              dropped.push(c);
              await ctx.checkpoint({ picked, created, dropped, conflict: undefined, start, movedRefs: await moved() });
              ctx.reporter.warn(`${c.slice(0, 12)} "${subject}" is already on the branch (its pick is empty): left out`);
              continue;
            }
          }
        }
        if (files.length || existsSync(join(repo.gitDir, 'CHERRY_PICK_HEAD'))) {
          await ctx.checkpoint({ picked, created, dropped, conflict: c, conflictBase: base, conflictFiles: files, start, movedRefs: await moved() });
          throw Object.assign(
            new Error(
              `cherry-pick of ${c.slice(0, 12)} "${subject}" stopped${files.length ? ` with conflicts in: ${files.join(', ')}` : ''}. ` +
                'Resolve them, `git add` the files and run `git cherry-pick --continue`, then `rb recover --continue`; or `rb recover --abort` to put everything back.',
            ),
            { result: { picked, created, dropped, conflict: c, conflictBase: base, conflictFiles: files, start, movedRefs: await moved(), commands, outputTail: (r.stdout + r.stderr).trim().split('\n').slice(-10).join('\n') } },
          );
        }
        // no cherry-pick in progress: it did not start (e.g. an untracked file in the way) or a hook
        // refused it; nothing was committed, so `rb recover --continue` tries this commit again
        await ctx.checkpoint({ picked, created, dropped, conflict: undefined, start, movedRefs: await moved() });
        throw Object.assign(new Error(`cherry-pick of ${c.slice(0, 12)} "${subject}" failed (a hook or commit signing refused it?): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`), {
          result: { picked, created, dropped, start, movedRefs: await moved(), commands, outputTail: (r.stdout + r.stderr).trim() },
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
