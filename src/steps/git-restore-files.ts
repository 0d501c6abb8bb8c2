/**
 * `git.restore-files`: restore only the given paths from a commit (index and worktree), taken
 * literally — every other change stays exactly where it is. A path absent from the source is
 * reported and skipped, or removed with deleteMissing.
 */
import { z } from 'zod';
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git } from '../io/git.js';
import type { StepKind } from './types.js';
import { oidOf } from './git-common.js';

const schema = z.object({ paths: z.array(z.string().min(1)).min(1), from: z.string().min(1), deleteMissing: z.boolean().optional() }).strict();
type With = z.infer<typeof schema>;

export const gitRestoreFiles: StepKind<With> = {
  kind: 'git.restore-files',
  summary: 'restore the given paths (literally) from a commit into index and worktree; nothing else is touched',
  with: schema,
  destructive: true,
  describe: (w) => [`git --literal-pathspecs restore --source=${w.from} --staged --worktree -- ${w.paths.map((p) => JSON.stringify(p)).join(' ')}`, ...(w.deleteMissing ? ['git --literal-pathspecs rm -r --cached --ignore-unmatch -- <paths absent from the source>, then remove them'] : [])],
  async run(w, ctx) {
    const repo = ctx.repo;
    const source = await oidOf(repo, w.from);
    if (!source) throw new Error(`${w.from} does not resolve to a commit`);
    const present: string[] = [];
    const missing: string[] = [];
    for (const p of w.paths) {
      const r = await git(['--literal-pathspecs', 'ls-tree', '-z', '--name-only', source, '--', p], { cwd: repo.root, readOnly: true });
      (r.stdout.length ? present : missing).push(p);
    }
    const commands: string[] = [];
    if (present.length) {
      const args = ['--literal-pathspecs', 'restore', `--source=${source}`, '--staged', '--worktree', '--', ...present];
      await git(args, { cwd: repo.root });
      commands.push(`git ${args.join(' ')}`);
    }
    const deleted: string[] = [];
    if (missing.length) {
      if (w.deleteMissing) {
        const args = ['--literal-pathspecs', 'rm', '-r', '-q', '--cached', '--ignore-unmatch', '--', ...missing];
        await git(args, { cwd: repo.root });
        commands.push(`git ${args.join(' ')}`);
        for (const p of missing) {
          const abs = join(repo.root, p);
          let exists = false;
          try { lstatSync(abs); exists = true; } catch { /* gone */ }
          if (exists) rmSync(abs, { recursive: true, force: true });
          deleted.push(p);
        }
        ctx.reporter.output(`deleted ${deleted.length} path(s) absent from ${w.from}`);
      } else {
        ctx.reporter.warn(`not in ${w.from}, left as is: ${missing.join(', ')} (pass --delete-missing to remove them)`);
      }
    }
    ctx.reporter.output(`restored ${present.length} path(s) from ${w.from}`);
    return { commands, restored: present, missing: w.deleteMissing ? [] : missing, deleted, restoredCount: present.length, existsAfter: present.filter((p) => existsSync(join(repo.root, p))).length };
  },
};
