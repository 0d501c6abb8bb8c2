/**
 * The plan's side of steps/in-the-way.ts: what each destructive step of a plan would write over
 * (untracked or ignored entries where the commit it moves to has files), the preflight's stop
 * when the snapshot could not hold one (exit 3, nothing changed), and the dry run's warnings.
 * Loaded only by a run and by `rb plan` / `--dry-run` of a destructive playbook.
 */
import { shellQuote } from '../io/git.js';
import { PreconditionError } from '../errors.js';
import { showPath } from '../ui/format.js';
import { flatten, mayRun, type Plan } from '../playbook/plan.js';
import type { PlanContext, StepKind } from '../steps/types.js';
import { describeInTheWay, notHeld, type InTheWay } from '../steps/in-the-way.js';

/** What each destructive step of the plan would write over (steps/in-the-way.ts), from the working copy as it is now. */
export async function inTheWayOfPlan(ctx: PlanContext, plan: Plan, kinds: Record<string, StepKind<any>>): Promise<{ step: string; kind: string; entries: InTheWay[]; afterWip: boolean }[]> {
  const out: { step: string; kind: string; entries: InTheWay[]; afterWip: boolean }[] = [];
  const earlier: string[] = [];
  for (const ps of flatten(plan.steps)) {
    if (ps.children) continue;
    const kind = kinds[ps.kind];
    if (kind?.inTheWay && ps.destructive && mayRun(ps.when, ctx)) {
      // (an entry an earlier step writes over already is named there: the emergency's switch and reset)
      const entries = (await kind.inTheWay(ps.with, { ...ctx, earlier: [...earlier], memo: new Map() })).filter((e) => !out.some((o) => o.entries.some((x) => x.path === e.path)));
      if (entries.length) out.push({ step: ps.id, kind: ps.kind, entries, afterWip: earlier.includes('git.commit-all') });
    }
    earlier.push(ps.kind);
  }
  return out;
}

/** Of those, the ones a snapshot taken now would not hold (asked only when something is in the way). */
export async function notHeldOfPlan(ctx: PlanContext, found: readonly { entries: InTheWay[] }[]): Promise<{ path: string; why: string }[]> {
  if (!found.length) return [];
  const { snapshots, rollbacksDir } = ctx.config;
  const { previewSkipped } = await import('../snapshot/capture.js');
  const skipped = await previewSkipped(ctx.repo, { maxIgnoredBytes: snapshots.maxIgnoredBytes, skipIgnored: snapshots.skipIgnored, exclude: [rollbacksDir] });
  const seen = new Map<string, string>();
  for (const f of found) for (const n of notHeld(f.entries, skipped, rollbacksDir)) seen.set(n.path, n.why);
  return [...seen].map(([path, why]) => ({ path, why }));
}

/** The words of the stop when something in the way cannot be held (the preflight's error, the dry run's warning). */
export function notHeldMessage(notHeldList: readonly { path: string; why: string }[], command: string): { message: string; next: string } {
  const one = notHeldList.length === 1;
  const it = one ? 'it' : 'them';
  return {
    message: `${notHeldList.map((n) => `${showPath(n.path)} (${n.why})`).join(', ')}: ${one ? 'this untracked or ignored entry stands' : 'these untracked or ignored entries stand'} where the commit the run moves to has files, and the snapshot cannot hold ${it}, so git would write over ${it} for good.`,
    next: `move ${it} out of the repository (for example \`mv ${shellQuote(notHeldList[0]!.path)} /tmp/\`), or commit ${it} on a branch, then run \`${command}\` again`,
  };
}

/**
 * Untracked and ignored entries in the way of the files a destructive step writes: each must be
 * one the snapshot will hold (it runs first; `rb undo` gives them back), or the run stops here,
 * exit 3 with nothing changed, naming each path and why the snapshot cannot hold it. Also as root.
 */
export async function assertInTheWayHeld(ctx: PlanContext, plan: Plan, kinds: Record<string, StepKind<any>>, command: string): Promise<void> {
  const list = await notHeldOfPlan(ctx, await inTheWayOfPlan(ctx, plan, kinds));
  if (!list.length) return;
  const { message, next } = notHeldMessage(list, command);
  throw new PreconditionError(`${message} Nothing was changed.`, { next });
}

/** Dry-run and plan warnings: what the run would write over (held by the snapshot), or why it would stop. */
export async function inTheWayWarnings(ctx: PlanContext, plan: Plan, kinds: Record<string, StepKind<any>>, command: string): Promise<string[]> {
  const found = await inTheWayOfPlan(ctx, plan, kinds);
  const list = await notHeldOfPlan(ctx, found);
  if (list.length) {
    const { message, next } = notHeldMessage(list, command);
    return [`the run would stop before changing anything: ${message} Next: ${next}.`];
  }
  return found.map((f) => `step ${f.step} (${f.kind}) writes over untracked or ignored entries in the way of the files it writes: ${describeInTheWay(f.entries)}${f.afterWip ? ' (those the WIP commit before it does not take)' : ''}; the snapshot taken first holds them, \`rb undo\` gives them back`);
}
