/**
 * `git.switch`: switch to an existing branch (`to`) or create one (`create` + `from`). Local
 * changes are discarded (a snapshot step runs before any destructive step). A branch checked
 * out in another worktree cannot be switched to: HEAD is detached at it instead, with a warning.
 * A merge, rebase, cherry-pick, revert or am in progress (a run given --force) is set aside
 * first: the snapshot holds it, and undo puts it back (git-operation.ts).
 * With `carryLeftOutOf: <step id>`, the files that step (a `git.commit-all`) left out of its
 * commit — .env, rb's own files, secrets — stay on disk as they were across the switch.
 */
import { z } from '#zod';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { git } from '../io/git.js';
import type { PlanContext, StepContext, StepKind, StepResult } from './types.js';
import { showPath } from '../ui/format.js';
import { describeSetAside, setAsideOperations } from './git-operation.js';
import { checkingTrackedChanges, inTheWayOf, known, type TrackedMove } from './step-access.js';
import { REMOVE_PLANNED, removeInTheWay, verifyHeldBySnapshot } from './in-the-way.js';
import { gitLine } from './common.js';
import { assertBranchName, branchesInOtherWorktrees, freeBranchName, headState, oidOf, refOid } from './git-common.js';
import { repoPath } from './common.js';

const schema = z
  .object({
    to: z.string().min(1).optional(),
    create: z.string().min(1).optional(),
    from: z.string().min(1).optional(),
    /** with create: when the name exists, use name-2, name-3, … */
    unique: z.boolean().optional(),
    /** the id of a git.commit-all step: the files it left out of its commit stay on disk across the switch */
    carryLeftOutOf: z.string().min(1).optional(),
  })
  .strict()
  .refine((w) => Boolean(w.to) !== Boolean(w.create), { message: 'give exactly one of to or create' });
type With = z.infer<typeof schema>;

/** The branch name `to` names (refs/heads/x and refs/remotes/<remote>/x both mean x). */
function targetOf(to: string): string {
  const t = to.replace(/^refs\/heads\//, '');
  return t.startsWith('refs/remotes/') ? t.replace(/^refs\/remotes\/[^/]+\//, '') : t;
}

const switchArgs = (name: string) => ['switch', '--discard-changes', '--no-guess', name];
/** Create the branch at `oid`, never moving an existing one (compare-and-swap with ''). */
const createArgs = (name: string, oid: string) => ['update-ref', '-m', `rb: create ${name}`, `refs/heads/${name}`, oid, ''];

export const gitSwitch: StepKind<With> = checkingTrackedChanges({
  kind: 'git.switch',
  summary: 'switch to a branch (to) or create one (create + from), discarding local changes (the snapshot has them)',
  with: schema,
  destructive: true,
  describe: (w, ctx) => [
    ...describeSetAside(ctx),
    REMOVE_PLANNED,
    // the usual paths; an absent branch made from its remote-tracking one, or a detached HEAD,
    // journal their own commands
    ...(w.create
      ? [gitLine(createArgs(`${w.create}${w.unique ? '[-N]' : ''}`, `<oid of ${w.from ?? 'HEAD'}>`)), gitLine(switchArgs(`${w.create}${w.unique ? '[-N]' : ''}`))]
      : [gitLine(switchArgs(targetOf(w.to!)))]),
    ...(w.carryLeftOutOf ? [`# the files step ${w.carryLeftOutOf} left out of its commit (.env, rb's own files, secrets) are kept on disk as they are`] : []),
  ],
  async run(w, ctx) {
    const { commands = [], ...aside } = await setAsideOperations(ctx);
    const carry = w.carryLeftOutOf ? holdFiles(ctx, leftOutPathsOf(ctx, w.carryLeftOutOf)) : null;
    const cleared = await clearTheWay(w, ctx);
    if (cleared.line) commands.push(cleared.line);
    const res = { ...(await switchTo(w, ctx, commands)), ...aside, ...(cleared.paths.length ? { removedInTheWay: cleared.paths } : {}) };
    if (!carry) return res;
    const carried = carry.putBack();
    if (carried.length) ctx.reporter.output(`kept on disk across the switch: ${carried.join(', ')}`);
    return { ...res, carried, kept: carry.paths };
  },
}, switchMove);

/** Where the switch moves the working copy. */
function switchMove(w: With, ctx: PlanContext, earlier: readonly string[]): TrackedMove {
  // (a branch known only on the remote is created from it; a WIP commit before the switch made the untracked files tracked)
  // (a branch to switch to is refs/heads/<name> — answered by the ref listing — else the commit `to` names)
  const untracked = earlier.includes('git.commit-all');
  if (w.create) {
    const from = known(w.from ?? 'HEAD');
    return { targets: from ? [from] : [ctx.baseline.oid], untracked };
  }
  const to = known(w.to);
  if (!to) return { targets: [ctx.baseline.oid], untracked };
  const name = targetOf(to);
  return { targets: [`refs/heads/${name}`, ctx.config.remote ? `refs/remotes/${ctx.config.remote}/${name}` : null, to], untracked };
}

/**
 * `git switch --discard-changes` refuses to write over an untracked file (or a directory holding
 * untracked files) where the target has a file: those the run's snapshot holds byte for byte
 * (checked again here, after any in-progress operation was set aside) are removed first; `rb undo`
 * gives them back (in-the-way.ts).
 */
async function clearTheWay(w: With, ctx: StepContext): Promise<{ line: string | null; paths: string[] }> {
  const entries = await inTheWayOf(ctx, switchMove(w, ctx, []));
  if (!entries.length) return { line: null, paths: [] };
  await verifyHeldBySnapshot(ctx.repo.root, ctx.snapshotId, entries, ctx.run.id);
  const line = removeInTheWay(ctx.repo.root, entries);
  const paths = entries.map((e) => showPath(e.path));
  ctx.reporter.output(`removed what was in the way of the target's files (the snapshot holds it; \`rb undo\` gives it back): ${paths.join(', ')}`);
  return { line, paths };
}

/** The paths a git.commit-all step left out of its commit (this process's result, or the journal's on resume). */
function leftOutPathsOf(ctx: StepContext, stepId: string): string[] {
  const fromJournal = ctx.journal?.().steps.find((s) => s.id === stepId)?.result as { leftOutPaths?: unknown } | undefined;
  const v = (ctx.results[stepId] as { leftOutPaths?: unknown } | undefined)?.leftOutPaths ?? fromJournal?.leftOutPaths;
  return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : [];
}

type Held = { path: string; abs: string; mode: number } & ({ link: string } | { bytes: Buffer });

/** Read the files now; putBack() writes back those the switch changed or removed, and names them. */
function holdFiles(ctx: StepContext, paths: string[]): { paths: string[]; putBack(): string[] } {
  const held: Held[] = [];
  for (const path of paths) {
    const abs = repoPath(ctx, path);
    try {
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) held.push({ path, abs, mode: st.mode, link: readlinkSync(abs) });
      else if (st.isFile()) held.push({ path, abs, mode: st.mode, bytes: readFileSync(abs) });
    } catch {
      /* not on disk: nothing to keep */
    }
  }
  const same = (h: Held): boolean => {
    try {
      const st = lstatSync(h.abs);
      if ('link' in h) return st.isSymbolicLink() && readlinkSync(h.abs) === h.link;
      return st.isFile() && (st.mode & 0o7777) === (h.mode & 0o7777) && readFileSync(h.abs).equals(h.bytes);
    } catch {
      return false;
    }
  };
  const isDir = (abs: string): boolean => {
    try {
      return lstatSync(abs).isDirectory();
    } catch {
      return false;
    }
  };
  /** the first directory above `path` that is a file (or symlink) now, or null */
  const underAFile = (path: string): string | null => {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      try {
        if (!lstatSync(repoPath(ctx, p)).isDirectory()) return p;
      } catch {
        return null; // missing: created below
      }
    }
    return null;
  };
  return {
    paths: held.map((h) => h.path),
    putBack() {
      const changed: string[] = [];
      for (const h of held) {
        if (same(h)) continue;
        // the target has a file where this one's directory was, or a directory where it was: the
        // target's files stay (the snapshot holds this one)
        const inTheWay = underAFile(h.path) ?? (isDir(h.abs) ? h.path : null);
        if (inTheWay) {
          ctx.reporter.warn(`${showPath(h.path)} could not stay on disk: the branch switched to has ${inTheWay === h.path ? 'a directory' : 'a file'} at ${showPath(inTheWay)}; it is in the snapshot (\`rb undo\` gives it back)`);
          continue;
        }
        rmSync(h.abs, { recursive: true, force: true });
        mkdirSync(dirname(h.abs), { recursive: true });
        if ('link' in h) symlinkSync(h.link, h.abs);
        else {
          writeFileSync(h.abs, h.bytes, { mode: h.mode & 0o7777 });
          chmodSync(h.abs, h.mode & 0o7777);
        }
        changed.push(h.path);
      }
      return changed;
    },
  };
}

async function switchTo(w: With, ctx: StepContext, commands: string[]): Promise<StepResult> {
  const repo = ctx.repo;
  const createdRefs: { ref: string; oid: string }[] = [];
  if (w.create) {
    await assertBranchName(repo, w.create);
    const from = w.from ?? 'HEAD';
    const oid = await oidOf(repo, from);
    if (!oid) throw new Error(`${from} does not resolve to a commit`);
    let name = w.create;
    if (ctx.previous?.branch && (await refOid(repo, `refs/heads/${ctx.previous.branch}`)) === oid) {
      name = String(ctx.previous.branch); // resumed: the branch was created by the interrupted attempt
    } else if (await refOid(repo, `refs/heads/${name}`)) {
      if (!w.unique) throw new Error(`branch ${name} already exists`);
      name = await freeBranchName(repo, name);
      ctx.reporter.warn(`branch ${w.create} already exists: using ${name}`);
    }
    const existed = await refOid(repo, `refs/heads/${name}`);
    if (!existed) {
      const args = createArgs(name, oid);
      await git(args, { cwd: repo.root });
      commands.push(gitLine(args));
      createdRefs.push({ ref: `refs/heads/${name}`, oid });
      await ctx.checkpoint({ branch: name, createdRefs });
    }
    const args = switchArgs(name);
    await git(args, { cwd: repo.root });
    commands.push(gitLine(args));
    const head = await headState(repo);
    if (head.ref !== `refs/heads/${name}` || head.oid !== oid) throw new Error(`after switching, HEAD is ${head.ref ?? 'detached'} at ${head.oid}, expected ${name} at ${oid}`);
    ctx.reporter.output(`on new branch ${name} at ${oid.slice(0, 12)}`);
    return { commands, branch: name, oid, createdRefs };
  }
  // switch to an existing branch (or create a local one tracking the remote-tracking branch)
  const target = targetOf(w.to!);
  const branchRef = `refs/heads/${target}`;
  const [branchOid, others] = await Promise.all([refOid(repo, branchRef), branchesInOtherWorktrees(repo)]);
  let oid = branchOid;
  if (!oid) {
    const remoteRef = ctx.config.remote ? `refs/remotes/${ctx.config.remote}/${target}` : '';
    const remoteOid = remoteRef ? await refOid(repo, remoteRef) : null;
    if (remoteOid) {
      await assertBranchName(repo, target);
      const args = ['update-ref', '-m', `rb: create ${target} from ${remoteRef}`, branchRef, remoteOid, ''];
      await git(args, { cwd: repo.root });
      commands.push(gitLine(args));
      createdRefs.push({ ref: branchRef, oid: remoteOid });
      oid = remoteOid;
    } else {
      const c = await oidOf(repo, w.to!);
      if (!c) throw new Error(`${w.to} is neither a branch nor a commit`);
      const args = ['switch', '--discard-changes', '--detach', c];
      await git(args, { cwd: repo.root });
      commands.push(gitLine(args));
      return { commands, detached: true, oid: c, createdRefs };
    }
  }
  if (others.has(branchRef)) {
    ctx.reporter.warn(`${target} is checked out in the worktree ${others.get(branchRef)}: detaching HEAD at it here instead`);
    const args = ['switch', '--discard-changes', '--detach', oid];
    await git(args, { cwd: repo.root });
    commands.push(gitLine(args));
    return { commands, detached: true, oid, createdRefs };
  }
  const args = switchArgs(target);
  await git(args, { cwd: repo.root });
  commands.push(gitLine(args));
  const head = await headState(repo);
  if (head.ref !== branchRef) throw new Error(`after switching, HEAD is ${head.ref ?? 'detached'}, expected ${branchRef}`);
  ctx.reporter.output(`on ${target} at ${head.oid?.slice(0, 12)}`);
  return { commands, branch: target, oid: head.oid, createdRefs };
}
