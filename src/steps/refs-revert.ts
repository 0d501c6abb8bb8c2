/**
 * `refs.revert`: reverse the ref changes a run recorded (git-town style: undo from facts, limited
 * to what the run touched). A branch it created is deleted, a branch it moved is put back, a
 * branch it deleted is recreated, a stash entry it added is dropped (or re-added) — each only if
 * the ref is still where the run left it. Records its own reversals, so undoing an undo redoes.
 */
import { z } from 'zod';
import { git, identityEnv } from '../io/git.js';
import { readRun, type RunRecord } from '../journal/journal.js';
import type { Repo } from '../repo.js';
import type { StepKind } from './types.js';
import { refOid } from './git-common.js';

const schema = z.object({ run: z.string().min(1), force: z.boolean().optional(), skipRefs: z.array(z.string()).optional() }).strict();
type With = z.infer<typeof schema>;

export interface RefChange {
  type: 'created' | 'moved' | 'deleted' | 'stash-added' | 'stash-dropped';
  ref: string;
  oid?: string;
  from?: string;
  to?: string;
  message?: string;
  step: string;
}

/** The ref changes of a run, newest first (the order to reverse them in). */
export function refChanges(run: RunRecord): RefChange[] {
  const out: RefChange[] = [];
  for (const s of run.steps) {
    const r = (s.result ?? {}) as Record<string, any>;
    if (s.status !== 'succeeded' && s.status !== 'failed' && s.status !== 'running') continue;
    for (const c of r.createdRefs ?? []) out.push({ type: 'created', ref: c.ref, oid: c.oid, step: s.id });
    for (const m of r.movedRefs ?? []) out.push({ type: 'moved', ref: m.ref, from: m.from, to: m.to, step: s.id });
    for (const d of r.deletedRefs ?? []) out.push({ type: 'deleted', ref: d.ref, oid: d.oid, step: s.id });
    if (typeof r.stash === 'string') out.push({ type: 'stash-added', ref: 'refs/stash', oid: r.stash, message: r.stashMessage, step: s.id });
    for (const d of r.droppedStash ?? []) out.push({ type: 'stash-dropped', ref: 'refs/stash', oid: d.oid, message: d.message, step: s.id });
  }
  // a branch the run created and then moved (e.g. commits picked onto it) counts as created where it ended
  const merged: RefChange[] = [];
  for (const c of out) {
    const created = c.type === 'moved' ? merged.find((m) => m.type === 'created' && m.ref === c.ref && m.oid === c.from) : undefined;
    if (created) created.oid = c.to;
    else merged.push({ ...c });
  }
  return merged.reverse();
}

async function stashEntries(repo: Repo): Promise<string[]> {
  const r = await git(['reflog', 'show', '--format=%H', 'refs/stash', '--'], { cwd: repo.root, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Read-only: the refs that moved since the run left them (undo must stop and name them). */
export async function conflictingRefs(repo: Repo, run: RunRecord, skip: string[] = []): Promise<string[]> {
  const problems: string[] = [];
  for (const c of refChanges(run)) {
    if (skip.includes(c.ref) || c.type.startsWith('stash')) continue;
    const cur = await refOid(repo, c.ref);
    const name = c.ref.replace(/^refs\/heads\//, '');
    if (c.type === 'created' && cur && cur !== c.oid) problems.push(`${name} was created by the run at ${c.oid!.slice(0, 12)} and is now at ${cur.slice(0, 12)}`);
    if (c.type === 'moved' && cur !== c.to && cur !== c.from) problems.push(`${name} was moved by the run to ${c.to!.slice(0, 12)} and is now at ${cur ? cur.slice(0, 12) : '(deleted)'}`);
    if (c.type === 'deleted' && cur && cur !== c.oid) problems.push(`${name} was deleted by the run and now exists again at ${cur.slice(0, 12)}`);
  }
  return problems;
}

export const refsRevert: StepKind<With> = {
  kind: 'refs.revert',
  summary: 'reverse the branch, tag and stash changes a run recorded, where they are still as the run left them',
  with: schema,
  destructive: true,
  describe: (w) => [`git update-ref …  # reverse the ref changes recorded in the journal of run ${w.run}`],
  async run(w, ctx) {
    const repo = ctx.repo;
    const run = readRun(repo, w.run);
    if (!run) throw new Error(`no journal for run ${w.run}`);
    const createdRefs: { ref: string; oid: string }[] = [];
    const movedRefs: { ref: string; from: string; to: string }[] = [];
    const deletedRefs: { ref: string; oid: string }[] = [];
    const droppedStash: { oid: string; message: string }[] = [];
    let stashAdded: { oid: string; message: string } | null = null;
    const commands: string[] = [];
    const upd = async (args: string[]) => {
      await git(args, { cwd: repo.root });
      commands.push(`git ${args.join(' ')}`);
    };
    for (const c of refChanges(run)) {
      if (w.skipRefs?.includes(c.ref)) continue;
      const name = c.ref.replace(/^refs\/heads\//, '');
      if (c.type === 'stash-added') {
        const entries = await stashEntries(repo);
        const i = entries.indexOf(c.oid!);
        if (i >= 0) {
          await upd(['stash', 'drop', '-q', `stash@{${i}}`]);
          droppedStash.push({ oid: c.oid!, message: c.message ?? '' });
          ctx.reporter.output(`dropped the stash entry "${c.message}"`);
        }
        continue;
      }
      if (c.type === 'stash-dropped') {
        const entries = await stashEntries(repo);
        if (!entries.includes(c.oid!)) {
          await git(['stash', 'store', '-m', c.message ?? 'rb', c.oid!], { cwd: repo.root, env: await identityEnv(repo.root) });
          commands.push(`git stash store -m ${JSON.stringify(c.message)} ${c.oid}`);
          stashAdded = { oid: c.oid!, message: c.message ?? '' };
        }
        continue;
      }
      const cur = await refOid(repo, c.ref);
      if (c.type === 'created') {
        if (!cur) continue;
        if (cur !== c.oid && !w.force) {
          ctx.reporter.warn(`${name} moved since the run created it: left as is`);
          continue;
        }
        const head = (await git(['symbolic-ref', '-q', 'HEAD'], { cwd: repo.root, allowFail: true, readOnly: true })).stdout.trim();
        if (head === c.ref) {
          ctx.reporter.warn(`${name} is checked out: left as is`);
          continue;
        }
        await upd(['update-ref', '-m', `rb: undo ${run.id}`, '-d', c.ref, cur]);
        deletedRefs.push({ ref: c.ref, oid: cur });
        ctx.reporter.output(`deleted ${name} (created by the run)`);
      } else if (c.type === 'moved') {
        if (cur === c.from) continue;
        if (cur !== c.to && !w.force) {
          ctx.reporter.warn(`${name} moved since the run: left at ${cur?.slice(0, 12)}`);
          continue;
        }
        await upd(['update-ref', '-m', `rb: undo ${run.id}`, c.ref, c.from!, cur ?? '']);
        movedRefs.push({ ref: c.ref, from: cur ?? '', to: c.from! });
        ctx.reporter.output(`put ${name} back at ${c.from!.slice(0, 12)}`);
      } else if (c.type === 'deleted') {
        if (cur) continue;
        await upd(['update-ref', '-m', `rb: undo ${run.id}`, c.ref, c.oid!, '']);
        createdRefs.push({ ref: c.ref, oid: c.oid! });
        ctx.reporter.output(`recreated ${name} at ${c.oid!.slice(0, 12)}`);
      }
    }
    return { commands, createdRefs, movedRefs, deletedRefs, droppedStash, ...(stashAdded ? { stash: stashAdded.oid, stashMessage: stashAdded.message } : {}) };
  },
};
