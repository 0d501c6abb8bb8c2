/** `git.branch` and `git.tag`: create a branch or tag (compare-and-swap: never moves an existing one). */
import { z } from '#zod';
import { git, identityEnv } from '../io/git.js';
import type { StepKind } from './types.js';
import { assertBranchName, freeBranchName, oidOf, refOid } from './git-common.js';
import { gitLine } from './common.js';

/** Create, never move: compare-and-swap against '' (no such ref yet). */
const branchArgs = (name: string, oid: string) => ['update-ref', '-m', `rb: branch ${name}`, `refs/heads/${name}`, oid, ''];
const tagArgs = (w: { name: string; message?: string }, oid: string) => ['tag', ...(w.message ? ['-a', '-m', w.message] : []), '--', w.name, oid];

const branchSchema = z.object({ name: z.string().min(1), at: z.string().min(1).optional(), unique: z.boolean().optional() }).strict();
type BranchWith = z.infer<typeof branchSchema>;

export const gitBranch: StepKind<BranchWith> = {
  kind: 'git.branch',
  summary: 'create a branch at a commit (default HEAD); with unique, name-2, name-3 … when it exists',
  with: branchSchema,
  destructive: false,
  mutates: true,
  describe: (w) => [gitLine(branchArgs(`${w.name}${w.unique ? '[-N]' : ''}`, `<oid of ${w.at ?? 'HEAD'}>`))],
  async run(w, ctx) {
    const repo = ctx.repo;
    await assertBranchName(repo, w.name);
    const oid = await oidOf(repo, w.at ?? 'HEAD');
    if (!oid) throw new Error(`${w.at ?? 'HEAD'} does not resolve to a commit`);
    const prev = ctx.previous?.branch as string | undefined;
    if (prev && (await refOid(repo, `refs/heads/${prev}`)) === oid) return ctx.previous!;
    let name = w.name;
    if (await refOid(repo, `refs/heads/${name}`)) {
      if (!w.unique) throw new Error(`branch ${name} already exists`);
      name = await freeBranchName(repo, name);
      ctx.reporter.warn(`branch ${w.name} already exists: created ${name}`);
    }
    const args = branchArgs(name, oid);
    await git(args, { cwd: repo.root });
    if ((await refOid(repo, `refs/heads/${name}`)) !== oid) throw new Error(`branch ${name} was not created at ${oid}`);
    ctx.reporter.output(`${name} at ${oid.slice(0, 12)}`);
    return { commands: [gitLine(args)], branch: name, oid, createdRefs: [{ ref: `refs/heads/${name}`, oid }] };
  },
};

const tagSchema = z.object({ name: z.string().min(1), at: z.string().min(1).optional(), message: z.string().optional() }).strict();
type TagWith = z.infer<typeof tagSchema>;

export const gitTag: StepKind<TagWith> = {
  kind: 'git.tag',
  summary: 'create a tag (annotated when message is given) at a commit; never moves an existing tag; never pushed',
  with: tagSchema,
  destructive: false,
  mutates: true,
  describe: (w) => [gitLine(tagArgs(w, `<oid of ${w.at ?? 'HEAD'}>`))],
  async run(w, ctx) {
    const repo = ctx.repo;
    const check = await git(['check-ref-format', `refs/tags/${w.name}`], { cwd: repo.root, allowFail: true, readOnly: true });
    if (check.code !== 0 || w.name.startsWith('-')) throw new Error(`"${w.name}" is not a valid tag name`);
    const oid = await oidOf(repo, w.at ?? 'HEAD');
    if (!oid) throw new Error(`${w.at ?? 'HEAD'} does not resolve to a commit`);
    if (await refOid(repo, `refs/tags/${w.name}`)) throw new Error(`tag ${w.name} already exists`);
    const args = tagArgs(w, oid);
    await git(args, { cwd: repo.root, env: await identityEnv(repo.root) });
    const tagOid = await refOid(repo, `refs/tags/${w.name}`);
    if (!tagOid) throw new Error(`tag ${w.name} was not created`);
    return { commands: [gitLine(args)], tag: w.name, oid, createdRefs: [{ ref: `refs/tags/${w.name}`, oid: tagOid }] };
  },
};
