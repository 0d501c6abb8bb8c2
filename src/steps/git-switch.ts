/**
 * `git.switch`: switch to an existing branch (`to`) or create one (`create` + `from`). Local
 * changes are discarded (a snapshot step runs before any destructive step). A branch checked
 * out in another worktree cannot be switched to: HEAD is detached at it instead, with a warning.
 * A merge, rebase, cherry-pick, revert or am in progress (a run given --force) is set aside
 * first: the snapshot holds it, and undo puts it back (git-operation.ts).
 */
import { z } from 'zod';
import { git } from '../io/git.js';
import type { StepContext, StepKind, StepResult } from './types.js';
import { describeSetAside, setAsideOperations } from './git-operation.js';
import { assertBranchName, branchesInOtherWorktrees, freeBranchName, headState, oidOf, refOid } from './git-common.js';

const schema = z
  .object({
    to: z.string().min(1).optional(),
    create: z.string().min(1).optional(),
    from: z.string().min(1).optional(),
    /** with create: when the name exists, use name-2, name-3, … */
    unique: z.boolean().optional(),
  })
  .strict()
  .refine((w) => Boolean(w.to) !== Boolean(w.create), { message: 'give exactly one of to or create' });
type With = z.infer<typeof schema>;

export const gitSwitch: StepKind<With> = {
  kind: 'git.switch',
  summary: 'switch to a branch (to) or create one (create + from), discarding local changes (the snapshot has them)',
  with: schema,
  destructive: true,
  describe: (w, ctx) => [
    ...describeSetAside(ctx),
    w.create ? `git switch --discard-changes --no-track -c ${w.create}${w.unique ? '[-N]' : ''} ${w.from ?? 'HEAD'}` : `git switch --discard-changes ${w.to}`,
  ],
  async run(w, ctx) {
    const { commands = [], ...aside } = await setAsideOperations(ctx);
    return { ...(await switchTo(w, ctx, commands)), ...aside };
  },
};

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
      const args = ['update-ref', '-m', `rb: create ${name}`, `refs/heads/${name}`, oid, ''];
      await git(args, { cwd: repo.root });
      commands.push(`git ${args.join(' ')}`);
      createdRefs.push({ ref: `refs/heads/${name}`, oid });
      await ctx.checkpoint({ branch: name, createdRefs });
    }
    const args = ['switch', '--discard-changes', '--no-guess', name];
    await git(args, { cwd: repo.root });
    commands.push(`git ${args.join(' ')}`);
    const head = await headState(repo);
    if (head.ref !== `refs/heads/${name}` || head.oid !== oid) throw new Error(`after switching, HEAD is ${head.ref ?? 'detached'} at ${head.oid}, expected ${name} at ${oid}`);
    ctx.reporter.output(`on new branch ${name} at ${oid.slice(0, 12)}`);
    return { commands, branch: name, oid, createdRefs };
  }
  // switch to an existing branch (or create a local one tracking the remote-tracking branch)
  let target = w.to!.replace(/^refs\/heads\//, '');
  if (target.startsWith('refs/remotes/')) target = target.replace(/^refs\/remotes\/[^/]+\//, '');
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
      commands.push(`git ${args.join(' ')}`);
      createdRefs.push({ ref: branchRef, oid: remoteOid });
      oid = remoteOid;
    } else {
      const c = await oidOf(repo, w.to!);
      if (!c) throw new Error(`${w.to} is neither a branch nor a commit`);
      const args = ['switch', '--discard-changes', '--detach', c];
      await git(args, { cwd: repo.root });
      commands.push(`git ${args.join(' ')}`);
      return { commands, detached: true, oid: c, createdRefs };
    }
  }
  if (others.has(branchRef)) {
    ctx.reporter.warn(`${target} is checked out in the worktree ${others.get(branchRef)}: detaching HEAD at it here instead`);
    const args = ['switch', '--discard-changes', '--detach', oid];
    await git(args, { cwd: repo.root });
    commands.push(`git ${args.join(' ')}`);
    return { commands, detached: true, oid, createdRefs };
  }
  const args = ['switch', '--discard-changes', '--no-guess', target];
  await git(args, { cwd: repo.root });
  commands.push(`git ${args.join(' ')}`);
  const head = await headState(repo);
  if (head.ref !== branchRef) throw new Error(`after switching, HEAD is ${head.ref ?? 'detached'}, expected ${branchRef}`);
  ctx.reporter.output(`on ${target} at ${head.oid?.slice(0, 12)}`);
  return { commands, branch: target, oid: head.oid, createdRefs };
}
