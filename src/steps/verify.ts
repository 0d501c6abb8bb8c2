/**
 * `verify`: check the result — HEAD is a given commit, the tree is clean apart from kept paths, a
 * command passes. Kept paths: rollbacks/, rb's own files, the configured keep paths, `except`, and
 * nested git repositories (git.clean never deletes one: it is named, not counted as dirty).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from '#zod';
import { git, splitZ } from '../io/git.js';
import { commitOf, headState } from '../io/repo-state.js';
import type { Repo } from '../repo.js';
import { runCommand, tail } from '../io/exec.js';
import type { StepContext, StepKind } from './types.js';
import { commandSchema, displayCommand, gitLine, repoPath } from './common.js';
import { RB_OWN_PATHS } from '../config/defaults.js';
import { showPath } from '../ui/format.js';

const schema = z
  .object({
    headIs: z.string().min(1).optional(),
    clean: z.boolean().optional(),
    /** paths (prefixes, relative to the root) allowed to differ when clean is checked; rollbacks/, rb's own .rb/ and rb.config.yaml, and config.keep are always allowed */
    except: z.array(z.string()).optional(),
    command: z.union([commandSchema, z.null()]).optional(),
    /** also run the configured `verify` command (rb.config.yaml), when there is one */
    configured: z.boolean().optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

function globToRegExp(g: string): RegExp {
  const s = g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*');
  return new RegExp(`^${s}(/.*)?$`);
}

/**
 * Paths the run's steps could not touch, so they are no sign of an unclean tree (issue 22): what
 * its snapshot did not capture (a file this user cannot read; git.clean keeps them all) and what
 * its clean left in place with --skip-unwritable.
 */
function untouchable(ctx: StepContext): string[] {
  const out: string[] = [];
  for (const r of Object.values(ctx.results)) {
    if (r.snapshotId && Array.isArray(r.notCaptured)) for (const s of r.notCaptured as { path: string }[]) out.push(s.path.replace(/\/$/, ''));
    if (Array.isArray(r.leftInPlace)) for (const p of r.leftInPlace as string[]) out.push(p);
  }
  return out;
}

/**
 * The commit `headIs` names: a full oid that HEAD's commit already is needs no question (HEAD
 * names a commit); anything else is resolved (a plain ref from the ref listing).
 */
async function wantedHead(repo: Repo, headIs: string): Promise<string | null> {
  if (/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(headIs) && (await headState(repo)).oid === headIs) return headIs;
  return commitOf(repo.root, headIs);
}

const STATUS_ARGS = ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignored=no'];
/** The checks as the plan and the journal show them. */
const headLine = (headIs: string) => `git rev-parse HEAD  # must equal ${headIs}`;
const CLEAN_LINE = `${gitLine(STATUS_ARGS)}  # must list nothing but rb's records, its configuration and the keep paths`;

export const verify: StepKind<With> = {
  kind: 'verify',
  summary: 'check HEAD, a clean tree (apart from kept paths) and an optional command',
  with: schema,
  destructive: false,
  describe: (w, ctx) => [
    ...(w.headIs ? [headLine(w.headIs)] : []),
    ...(w.clean ? [CLEAN_LINE] : []),
    ...(w.command ? [displayCommand(w.command)] : []),
    ...(w.configured && ctx.config.verify ? [displayCommand(ctx.config.verify)] : []),
  ].concat(w.headIs || w.clean || w.command || (w.configured && ctx.config.verify) ? [] : ['(nothing to verify)']),
  async run(w, ctx) {
    const problems: string[] = [];
    const commands: string[] = [];
    // read-only and independent: asked at once, judged in order below
    const read = (args: string[], allowFail: boolean) => git(args, { cwd: ctx.repo.root, allowFail, readOnly: true });
    // HEAD from the ref listing asked after the last command that could move it (io/repo-state.ts)
    const [headR, wantR, statusR] = await Promise.allSettled([
      w.headIs ? headState(ctx.repo) : null,
      w.headIs ? wantedHead(ctx.repo, w.headIs) : null,
      w.clean ? read(STATUS_ARGS, false) : null,
    ]);
    const value = <T>(r: PromiseSettledResult<T>): T => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    };
    if (w.headIs) {
      const head = value(headR)!.oid ?? '';
      const want = value(wantR) ?? '';
      commands.push(headLine(w.headIs));
      if (!want) problems.push(`${w.headIs} does not resolve`);
      else if (head !== want) problems.push(`HEAD is ${head.slice(0, 12) || '(unborn)'}, expected ${w.headIs} at ${want.slice(0, 12)}`);
      else ctx.reporter.output(`HEAD is ${w.headIs} (${want.slice(0, 12)})`);
    }
    if (w.clean) {
      const r = value(statusR)!;
      commands.push(CLEAN_LINE);
      // what git.clean never removes is never "dirty": the records, rb's own config, kept paths
      const allowed = [ctx.config.rollbacksDir, ...RB_OWN_PATHS, ...ctx.config.keep, ...(w.except ?? [])].map(globToRegExp);
      const entries = splitZ(r.stdout);
      const dirty: string[] = [];
      const nested: string[] = [];
      const untouched = untouchable(ctx);
      const leftAlone: string[] = [];
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        const path = e.slice(3);
        if (e[0] === 'R' || e[0] === 'C') i++;
        const base = path.split('/').pop()!;
        if (allowed.some((re) => re.test(path) || re.test(base))) continue;
        if (untouched.some((u) => path === u || path.startsWith(u + '/') || path === u + '/')) {
          leftAlone.push(path);
          continue;
        }
        // (with --untracked-files=all, a directory is listed only when it is a repository of its own)
        if (e.startsWith('?? ') && path.endsWith('/') && existsSync(join(ctx.repo.root, path, '.git'))) nested.push(path);
        else dirty.push(path);
      }
      const left = (nested.length ? `; nested repositories left in place: ${nested.map(showPath).join(', ')}` : '')
        + (leftAlone.length ? `; left in place (not captured, or not yours to change): ${leftAlone.map(showPath).join(', ')}` : '');
      if (dirty.length) problems.push(`the tree is not clean: ${dirty.slice(0, 10).map(showPath).join(', ')}${dirty.length > 10 ? ` and ${dirty.length - 10} more` : ''}`);
      else ctx.reporter.output(`the tree is clean (kept paths aside${left})`);
    }
    let outputTail: string | undefined;
    const cmd = w.command ?? (w.configured ? ctx.config.verify : null);
    if (cmd) {
      const r = await runCommand(cmd, { cwd: repoPath(ctx, '.'), timeoutMs: ctx.timeoutMs, signal: ctx.signal, onLine: (l) => ctx.reporter.output(l) });
      commands.push(displayCommand(cmd));
      outputTail = tail(r.all);
      if (r.exitCode !== 0) problems.push(`${displayCommand(cmd)} exited ${r.exitCode}`);
    }
    const result = { commands, outputTail, problems };
    if (problems.length) throw Object.assign(new Error(`verification failed: ${problems.join('; ')}`), { result });
    return result;
  },
};
