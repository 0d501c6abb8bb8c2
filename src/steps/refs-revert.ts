/**
 * `refs.revert`: reverse the ref changes a run recorded (git-town style: undo from facts, limited
 * to what the run touched). A branch it created is deleted, a branch it moved is put back, a
 * branch it deleted is recreated, a stash entry it added is dropped (or re-added) — each only if
 * the ref is still where the run left it. Records its own reversals, so undoing an undo redoes.
 */
import { z } from '#zod';
import { git, identityEnv } from '../io/git.js';
import { readRun, type RunRecord } from '../journal/journal.js';
import type { Repo } from '../repo.js';
import type { StepKind } from './types.js';
import { refEffects } from '../journal/ref-effects.js';
import { headState } from '../io/repo-state.js';

const schema = z.object({ run: z.string().min(1), force: z.boolean().optional() }).strict();
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
    for (const d of [...(r.droppedStash ?? []), ...(r.droppingStash ?? [])]) out.push({ type: 'stash-dropped', ref: 'refs/stash', oid: d.oid, message: d.message, step: s.id });
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

/** Read-only: the refs the run touched that moved since it left them (undo must stop and name them). */
export async function conflictingRefs(repo: Repo, run: RunRecord, skip: string[] = [], headRef?: string | null): Promise<string[]> {
  const { conflicts } = await refEffects(repo, run, { headRef });
  return conflicts.filter((c) => !skip.includes(c.ref)).map((c) => c.why);
}

export const refsRevert: StepKind<With> = {
  kind: 'refs.revert',
  summary: 'reverse the branch, tag and stash changes a run made (its reflog entries and journal), where they are still as the run left them',
  with: schema,
  destructive: true,
  describe: (w) => [`git update-ref …  # put back the branches and tags run ${w.run} moved, created or deleted; drop the stash entry it added`],
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
    const head = (await headState(repo)).ref ?? '';
    const effects = await refEffects(repo, run);
    const reversals = [...effects.revert];
    for (const c of effects.conflicts) {
      if (w.force) reversals.push(c);
      else ctx.reporter.warn(`${c.why}: left as is`);
    }
    const toDelete = reversals.filter((r) => r.before === null && r.now !== null && r.ref !== head);
    const stashToDrop = refChanges(run).filter((c) => c.type === 'stash-added');
    // journaled before anything is deleted or dropped: git keeps no reflog of a deleted ref, so
    // this is how an undo of this run (or its abort after a kill) knows it deleted them
    await ctx.checkpoint({ deletingRefs: toDelete.map((r) => ({ ref: r.ref, oid: r.now! })), droppingStash: stashToDrop.map((c) => ({ oid: c.oid!, message: c.message ?? '' })) });

    for (const r of reversals) {
      const name = r.ref.replace(/^refs\/heads\//, '');
      if (r.before === null) {
        if (r.now === null) continue;
        if (r.ref === head) {
          ctx.reporter.warn(`${name} is checked out: left as is`);
          continue;
        }
        await upd(['update-ref', '-m', `undo ${run.id}`, '-d', r.ref, r.now]);
        deletedRefs.push({ ref: r.ref, oid: r.now });
        ctx.reporter.output(`deleted ${name} (created by the run)`);
      } else if (r.now === null) {
        await upd(['update-ref', '-m', `undo ${run.id}`, r.ref, r.before, '']);
        createdRefs.push({ ref: r.ref, oid: r.before });
        ctx.reporter.output(`recreated ${name} at ${r.before.slice(0, 12)}`);
      } else {
        await upd(['update-ref', '-m', `undo ${run.id}`, r.ref, r.before, r.now]);
        movedRefs.push({ ref: r.ref, from: r.now, to: r.before });
        ctx.reporter.output(`put ${name} back at ${r.before.slice(0, 12)}`);
      }
    }
    for (const c of refChanges(run)) {
      if (c.type === 'stash-added') {
        const entries = await stashEntries(repo);
        const i = entries.indexOf(c.oid!);
        if (i >= 0) {
          await upd(['stash', 'drop', '-q', `stash@{${i}}`]);
          droppedStash.push({ oid: c.oid!, message: c.message ?? '' });
          ctx.reporter.output(`dropped the stash entry "${c.message}"`);
        }
      } else if (c.type === 'stash-dropped') {
        const entries = await stashEntries(repo);
        if (!entries.includes(c.oid!)) {
          await git(['stash', 'store', '-m', c.message ?? 'rb', c.oid!], { cwd: repo.root, env: await identityEnv(repo.root) });
          commands.push(`git stash store -m ${JSON.stringify(c.message)} ${c.oid}`);
          stashAdded = { oid: c.oid!, message: c.message ?? '' };
        }
      }
    }
    return { commands, createdRefs, movedRefs, deletedRefs, droppedStash, ...(stashAdded ? { stash: stashAdded.oid, stashMessage: stashAdded.message } : {}) };
  },
};
