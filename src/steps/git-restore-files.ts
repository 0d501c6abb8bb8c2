/**
 * `git.restore-files`: restore only the given paths from a commit (index and worktree), taken
 * literally — every other change stays exactly where it is. A path absent from the source is
 * reported and skipped, or removed with deleteMissing. A name that is not UTF-8 (held as in
 * io/path-bytes.ts) reaches git as bytes on stdin (--pathspec-from-file, git 2.26+). Which paths
 * really change is read before (index and working copy against the source): when none does,
 * the result says `unchanged`, the run says it changed nothing, and metrics.record does not
 * count it as a rollback.
 */
import { z } from '#zod';
import { existsSync, lstatSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { git, splitZ } from '../io/git.js';
import type { StepKind } from './types.js';
import type { Repo } from '../repo.js';
import { memoized } from '../io/repo-state.js';
import { oidOf, pathsInTree, pathspecArgs } from './git-common.js';
import { fsPath, hasRawBytes } from '../io/path-bytes.js';
import { checkingTrackedChanges, known } from './step-access.js';
import { targetDiff } from './in-the-way.js';
import { showPath } from '../ui/format.js';
import { gitLine } from './common.js';

const schema = z.object({ paths: z.array(z.string().min(1)).min(1), from: z.string().min(1), deleteMissing: z.boolean().optional() }).strict();
type With = z.infer<typeof schema>;

const RESTORE = (source: string) => ['restore', `--source=${source}`, '--staged', '--worktree'];
const REMOVE = ['rm', '-r', '-q', '--cached', '--ignore-unmatch'];
const REMOVE_NOTE = '  # and deleted from the working tree';

/**
 * The paths under `asked` whose working copy differs from `source` (`git diff --name-only <source>
 * -- <asked>`): the working copy compared with the source over all the step's paths is what its
 * checks asked already (steps/in-the-way.ts targetDiff, kept while no file changed), and is read
 * from there when every path is UTF-8 (it is given to git as arguments).
 */
async function worktreeDiffering(root: string, source: string, paths: readonly string[], asked: readonly string[]): Promise<string[]> {
  if (paths.some(hasRawBytes)) {
    const r = await git(['--literal-pathspecs', 'diff', '--name-only', '-z', '--no-renames', source, '--', ...asked], { cwd: root, readOnly: true });
    return splitZ(r.stdout);
  }
  // (a literal pathspec matches the path and everything under it)
  const under = (p: string) => asked.some((a) => { const d = a.replace(/\/+$/, ''); return p === d || p.startsWith(`${d}/`); });
  return (await targetDiff(root, source, paths)).map((d) => d.path).filter(under);
}

/** The paths under `asked` whose index entry differs from `source` (`git diff --cached --name-only`), asked once while no file changes. */
function indexDiffering(root: string, source: string, asked: readonly string[]): Promise<string[]> {
  return memoized(`index diff ${root} ${source} ${JSON.stringify(asked)}`, async () => {
    const r = await git(['--literal-pathspecs', 'diff', '--cached', '--name-only', '-z', '--no-renames', source, '--', ...asked], { cwd: root, readOnly: true });
    return splitZ(r.stdout);
  }, ['files']);
}

/** The paths the step asks about, in the source and nameable as arguments (not UTF-8: counted as changing). */
async function askedPaths(repo: Repo, source: string, paths: readonly string[]): Promise<{ present: string[]; missing: string[]; asked: string[] }> {
  const inSource = await pathsInTree(repo, source, paths);
  const present = paths.filter((p) => inSource.has(p));
  return { present, missing: paths.filter((p) => !inSource.has(p)), asked: present.filter((p) => !hasRawBytes(p)) };
}

export const gitRestoreFiles: StepKind<With> = checkingTrackedChanges({
  kind: 'git.restore-files',
  summary: 'restore the given paths (literally) from a commit into index and worktree; nothing else is touched',
  with: schema,
  destructive: true,
  // the paths the source has are restored; with deleteMissing, those it lacks are deleted
  describe: (w) => [
    gitLine(['--literal-pathspecs', ...RESTORE(`<oid of ${w.from}>`), '--', ...w.paths]),
    ...(w.deleteMissing ? [`${gitLine(['--literal-pathspecs', ...REMOVE, '--'])} [<path absent from the source>]…${REMOVE_NOTE}`] : []),
  ],
  // (the index diff: asked while the snapshot runs; the snapshot changes no file)
  readAhead: async (w, ctx) => {
    const source = known(w.from) && Array.isArray(w.paths) && w.paths.every((p) => known(p)) ? await oidOf(ctx.repo, w.from) : null;
    if (!source) return;
    const { asked } = await askedPaths(ctx.repo, source, w.paths);
    if (asked.length) await indexDiffering(ctx.repo.root, source, asked);
  },
  async run(w, ctx) {
    const repo = ctx.repo;
    const source = await oidOf(repo, w.from);
    if (!source) throw new Error(`${w.from} does not resolve to a commit`);
    const { present, missing, asked } = await askedPaths(repo, source, w.paths);
    const commands: string[] = [];
    // what the restore will change: index or working copy differing from the source, per path
    // (a name that is not UTF-8 cannot be asked about as an argument: it counts as changing)
    const differing = new Set<string>(present.filter(hasRawBytes));
    if (asked.length) {
      const [wt, idx] = await Promise.all([worktreeDiffering(repo.root, source, w.paths, asked), indexDiffering(repo.root, source, asked)]);
      for (const p of [...wt, ...idx]) differing.add(p);
    }
    const gitPaths = async (cmd: string[], paths: string[]) => {
      const spec = pathspecArgs(paths);
      const args = ['--literal-pathspecs', ...cmd, ...spec.args];
      await git(args, { cwd: repo.root, input: spec.input });
      // as the plan says it (a name that is not UTF-8 goes through stdin, shown after <)
      commands.push(spec.input ? `git ${[...args, '<', ...paths.map(showPath)].join(' ')}` : `${gitLine(args)}${cmd[0] === 'rm' ? REMOVE_NOTE : ''}`);
    };
    if (present.length) await gitPaths(RESTORE(source), present);
    const deleted: string[] = [];
    let leftAsIs: string | null = null;
    if (missing.length) {
      if (w.deleteMissing) {
        await gitPaths(REMOVE, missing);
        for (const p of missing) {
          const abs = fsPath(join(repo.root, p));
          let exists = false;
          try { lstatSync(abs); exists = true; } catch { /* gone */ }
          if (exists) rmSync(abs, { recursive: true, force: true });
          deleted.push(p);
        }
        ctx.reporter.output(`deleted ${deleted.length} path(s) absent from ${w.from}`);
      } else {
        leftAsIs = `not in ${w.from}, left as is: ${missing.map(showPath).join(', ')} (pass --delete-missing to remove them)`;
      }
    }
    const changed = [...differing].sort();
    const unchanged = changed.length === 0 && deleted.length === 0;
    const already = present.length ? `${present.map(showPath).join(', ')} already match${present.length === 1 ? 'es' : ''} ${w.from}` : null;
    if (unchanged) ctx.reporter.warn(`nothing changed: ${[already, leftAsIs].filter(Boolean).join('; ')}`);
    else {
      if (leftAsIs) ctx.reporter.warn(leftAsIs);
      ctx.reporter.output(`restored ${present.length} path(s) from ${w.from} (${changed.length} file(s) changed)`);
    }
    // (the lists are for the report: printable, as showPath writes them)
    return {
      commands, restored: present.map(showPath), missing: w.deleteMissing ? [] : missing.map(showPath), deleted: deleted.map(showPath), restoredCount: present.length,
      changed: changed.map(showPath), changedCount: changed.length, unchanged,
      existsAfter: present.filter((p) => existsSync(fsPath(join(repo.root, p)))).length,
    };
  },
}, (w, ctx) => {
  const paths = Array.isArray(w.paths) ? w.paths.map((p) => known(p) ?? '').filter(Boolean) : [];
  return {
    targets: paths.length ? [known(w.from) ?? ctx.baseline.oid] : [], // (paths known only at run time: checked then)
    paths,
    // with deleteMissing, the paths the source does not have go with everything in them (the others are written over anyway)
    removes: w.deleteMissing === true ? paths : [],
  };
});
