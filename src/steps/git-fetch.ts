/** `git.fetch`: bring the baseline from the remote, with a timeout and no credential prompt; offline is a warning. */
import { z } from 'zod';
import { git } from '../io/git.js';
import type { StepKind } from './types.js';
import { refOid } from './git-common.js';

const schema = z.object({ ref: z.string().min(1).optional(), remote: z.string().optional(), timeout: z.number().int().positive().optional() }).strict();
type With = z.infer<typeof schema>;

export const gitFetch: StepKind<With> = {
  kind: 'git.fetch',
  summary: 'fetch the baseline branch from the remote (timeout, no prompts); offline continues from the local baseline',
  with: schema,
  destructive: false,
  describe: (w, ctx) => {
    const remote = w.remote ?? ctx.config.remote;
    const name = w.ref ?? ctx.baseline.name;
    return remote ? [`git fetch --no-tags ${remote} +refs/heads/${name}:refs/remotes/${remote}/${name}`] : ['(no remote configured: nothing to fetch)'];
  },
  async run(w, ctx) {
    const remote = w.remote ?? ctx.config.remote;
    const name = (w.ref ?? ctx.baseline.name).replace(/^refs\/heads\//, '');
    if (!remote) return { skipped: 'no remote configured', remoteRef: '', remoteOid: '', target: ctx.baseline.ref };
    const remoteRef = `refs/remotes/${remote}/${name}`;
    const [url, before] = await Promise.all([
      git(['remote', 'get-url', '--', remote], { cwd: ctx.repo.root, allowFail: true, readOnly: true }),
      refOid(ctx.repo, remoteRef),
    ]);
    if (url.code !== 0) {
      ctx.reporter.warn(`no remote "${remote}": continuing from the local baseline`);
      return { skipped: `no remote ${remote}`, remoteRef: '', remoteOid: '', target: ctx.baseline.ref };
    }
    const args = ['fetch', '--no-tags', '--no-recurse-submodules', '--quiet', '--', remote, `+refs/heads/${name}:${remoteRef}`];
    const r = await git(args, { cwd: ctx.repo.root, allowFail: true, timeoutMs: (w.timeout ?? 30) * 1000 });
    const commands = [`git ${args.join(' ')}`];
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
