/**
 * `git.fetch`: bring the baseline from the remote, with a timeout and no credential prompt; offline
 * is a warning. Only a branch is fetched: a baseline that is a tag (a named checkpoint) or a commit
 * is used as it is here, so a remote branch of the same name can never take its place.
 */
import { z } from '#zod';
import { git } from '../io/git.js';
import type { PlanContext, StepKind } from './types.js';
import { gitLine } from './common.js';
import { DURATION_HELP, DURATION_PATTERN, parseDuration } from '../duration.js';
import { refOid } from './git-common.js';
import { remoteExists } from '../io/repo-state.js';

const duration = z.string({ error: `expected a duration: ${DURATION_HELP}` }).regex(DURATION_PATTERN, { error: `expected a duration: ${DURATION_HELP}` });
const schema = z.object({ ref: z.string().min(1).optional(), remote: z.string().optional(), timeout: duration.optional() }).strict();
type With = z.infer<typeof schema>;

const branchOf = (w: With, ctx: PlanContext) => (w.ref ?? ctx.baseline.name).replace(/^refs\/heads\//, '');

/** One branch into its remote-tracking ref: no tags, no submodules, no prompts. */
function fetchArgs(remote: string, name: string): string[] {
  return ['fetch', '--no-tags', '--no-recurse-submodules', '--quiet', '--', remote, `+refs/heads/${name}:refs/remotes/${remote}/${name}`];
}

export const gitFetch: StepKind<With> = {
  kind: 'git.fetch',
  summary: 'fetch the baseline branch from the remote (timeout, no prompts); offline continues from the local baseline',
  with: schema,
  destructive: false,
  describe: (w, ctx) => {
    const remote = w.remote ?? ctx.config.remote;
    const fixed = notABranch(w, ctx);
    if (fixed) return [`(${fixed}: nothing to fetch)`];
    return remote ? [gitLine(fetchArgs(remote, branchOf(w, ctx)))] : ['(no remote configured: nothing to fetch)'];
  },
  async run(w, ctx) {
    const remote = w.remote ?? ctx.config.remote;
    const name = branchOf(w, ctx);
    if (!remote) return { skipped: 'no remote configured', remoteRef: '', remoteOid: '', target: ctx.baseline.ref };
    const fixed = notABranch(w, ctx);
    if (fixed) return { skipped: `${fixed}: nothing to fetch`, remoteRef: '', remoteOid: '', target: ctx.baseline.ref };
    const remoteRef = `refs/remotes/${remote}/${name}`;
    const [known, before] = await Promise.all([remoteExists(ctx.repo.root, remote), refOid(ctx.repo, remoteRef)]);
    if (!known) {
      ctx.reporter.warn(`no remote "${remote}": continuing from the local baseline`);
      return { skipped: `no remote ${remote}`, remoteRef: '', remoteOid: '', target: ctx.baseline.ref };
    }
    const args = fetchArgs(remote, name);
    const r = await git(args, { cwd: ctx.repo.root, allowFail: true, timeoutMs: parseDuration(w.timeout ?? '30s')! });
    const commands = [gitLine(args)];
    const after = await refOid(ctx.repo, remoteRef);
    if (r.code !== 0) {
      const why = /couldn't find remote ref/i.test(r.stderr) ? `${remote} has no branch ${name}` : `fetch failed (${r.stderr.trim().split('\n').pop() ?? 'exit ' + r.code})`;
      ctx.reporter.warn(`${why}: continuing from the local baseline`);
      return { commands, fetched: false, remoteRef: '', remoteOid: '', target: ctx.baseline.ref };
    }
    ctx.reporter.output(before === after ? `${remoteRef} is up to date (${after?.slice(0, 12)})` : `${remoteRef}: ${before?.slice(0, 12) ?? '(new)'} -> ${after?.slice(0, 12)}`);
    return { commands, fetched: true, remoteRef, remoteOid: after ?? '', target: remoteRef };
  },
};

/** Why the baseline is not fetched: it is a tag or a commit (only when no `ref` is given), else null. */
function notABranch(w: With, ctx: { baseline: { name: string; ref: string } }): string | null {
  if (w.ref) return null;
  const ref = ctx.baseline.ref;
  if (ref.startsWith('refs/tags/')) return `the baseline ${ctx.baseline.name} is a tag (${ref})`;
  if (/^[0-9a-f]{40,64}$/.test(ref)) return `the baseline ${ctx.baseline.name} is a commit`;
  return null;
}
