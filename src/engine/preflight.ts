/**
 * Read-only checks before the first change (safety.md §3). Any failure is a PreconditionError
 * (exit 3) and nothing has been changed.
 */
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { git } from '../io/git.js';
import { PreconditionError } from '../errors.js';
import { gitOperations, type GitOperation, type Repo } from '../repo.js';
import { isSuperuser } from '../io/access.js';
import { mergeReports, unwritableError } from './access.js';
import { flatten, mayRun, type Plan } from '../playbook/plan.js';
import type { PlanContext, StepKind } from '../steps/types.js';

export function assertNoGitOperation(repo: Repo, force: boolean, cmd: string): GitOperation[] {
  const ops = gitOperations(repo);
  if (ops.length && !force) {
    throw new PreconditionError(`a ${ops.map((o) => o.name).join(' and a ')} is in progress in ${repo.root}.`, {
      next: `finish or abandon it first (${ops.map((o) => o.hint).join('; ')}), or run \`${cmd} --force\` to let rb snapshot it as it is`,
    });
  }
  return ops;
}

/** rollbacks/ must be writable (created if missing). */
export function assertRollbacksWritable(repo: Repo, rollbacksDir: string): void {
  const dir = resolve(repo.root, rollbacksDir);
  let probe = dir;
  while (!existsSync(probe)) probe = dirname(probe);
  try {
    if (!statSync(probe).isDirectory()) throw new Error('not a directory');
    accessSync(probe, constants.W_OK);
  } catch {
    throw new PreconditionError(`${rollbacksDir}/ is not writable (${probe}); rb writes its reports and metrics there.`, {
      next: `make it writable (chmod u+w ${probe}) or set rollbacksDir in rb.config.yaml`,
    });
  }
}

/** Is there a stale git index.lock (another git running, or one that crashed)? */
export function assertNoIndexLock(repo: Repo): void {
  const p = join(repo.gitDir, 'index.lock');
  if (existsSync(p)) {
    throw new PreconditionError(`${p} exists: another git process is running, or one crashed.`, {
      next: `make sure no git command is running, then remove it (rm ${p}) and run the command again`,
    });
  }
}

/**
 * Enough free disk for the snapshot: the snapshot stores changed, untracked and (capped) ignored
 * files; this asks for the size of those plus a margin.
 */
export async function assertDiskForSnapshot(repo: Repo, maxIgnoredBytes: number): Promise<{ needed: number; free: number }> {
  // With plenty of room, skip the estimate (a full `git status`, 100-200 ms on a large tree): a
  // snapshot that still ran out of space would fail at the snapshot step, before anything
  // destructive has run.
  const quick = statfsSync(repo.commonDir);
  const quickFree = quick.bavail * quick.bsize;
  if (quickFree > 2 * 1024 ** 3 + maxIgnoredBytes) return { needed: 0, free: quickFree };
  const r = await git(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignored=no'], { cwd: repo.root, readOnly: true, allowFail: true });
  let needed = 16 * 1024 * 1024;
  for (const rec of r.stdout.split('\0')) {
    if (rec.length < 4) continue;
    try {
      needed += statSync(join(repo.root, rec.slice(3))).size;
    } catch {
      /* deleted or renamed */
    }
  }
  needed += Math.min(maxIgnoredBytes, 64 * 1024 * 1024);
  const fs = statfsSync(repo.commonDir);
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    throw new PreconditionError(`not enough free disk for the snapshot: about ${Math.ceil(needed / 1048576)} MiB needed, ${Math.floor(free / 1048576)} MiB free on the file system of ${repo.commonDir}.`, {
      next: 'free some disk space (e.g. `rb snapshots prune`), then run the command again',
    });
  }
  return { needed, free };
}

/**
 * Entries this user cannot change (engine/access.ts): every destructive step of the plan says
 * what it would remove, replace or create that this user may not, from the working copy as it is
 * now (a later step's input known only at run time — the commit a fetch brings — is taken to be
 * the baseline). Any of them stops the run here, exit 3 with nothing changed, naming the paths and
 * the fix; except, when the run skips unwritable entries, those that may be left where they are
 * (the steps then leave and name them). Steps a `when` already rules out are not asked. As root,
 * nothing is asked.
 */
export async function assertCanChange(ctx: PlanContext, plan: Plan, kinds: Record<string, StepKind<any>>, command: string): Promise<void> {
  if (isSuperuser()) return;
  const reports = [];
  const earlier: string[] = [];
  const memo = new Map();
  for (const ps of flatten(plan.steps)) {
    if (ps.children) continue;
    const kind = kinds[ps.kind];
    if (kind?.access && ps.destructive && mayRun(ps.when, ctx)) reports.push(await kind.access(ps.with, { ...ctx, earlier: [...earlier], memo }));
    earlier.push(ps.kind);
  }
  const blocked = mergeReports(...reports).blocked.filter((b) => !(ctx.run.skipUnwritable && b.skippable));
  if (blocked.length) throw unwritableError(blocked, { retry: command, skipFlag: true, nothingChanged: true });
}
