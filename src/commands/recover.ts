/**
 * `rb recover <branch>`: rescue good commits from a failed branch onto `recovery/<stamp>` (from
 * the baseline or --onto). Lists the commits in onto..branch oldest first; the user picks them on
 * a terminal (a checkbox) or with --pick / --all. The work is the `recover` playbook (snapshot,
 * branch, cherry-pick with the user's hooks and signing, tests, report), so it is journaled and
 * undoable; `--continue` resumes it after a conflict, `--abort` restores the snapshot.
 */
import { execute } from '../engine/execute.js';
import { LockedError, PreconditionError, UsageError } from '../errors.js';
import { git } from '../io/git.js';
import { effectiveStatus, listRuns, needsResolution, type RunRecord } from '../journal/journal.js';
import { findRepo, type Repo } from '../repo.js';

export interface RecoverOptions {
  /** go on even with uncommitted changes to tracked files (they stay in the snapshot) */
  force?: boolean;
  onto?: string;
  pick?: string[];
  all?: boolean;
  continue?: boolean;
  abort?: boolean;
  tests?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  reason?: string;
}

export interface CandidateCommit {
  oid: string;
  short: string;
  subject: string;
  author: string;
  date: string;
  files: string[];
}

/** Commits in onto..branch, oldest first, with subject, author and files (merges left out). */
export async function listCandidates(repo: Repo, onto: string, branch: string): Promise<CandidateCommit[]> {
  const r = await git(['log', '--reverse', '--no-merges', '--format=%x1e%H%x1f%h%x1f%s%x1f%an <%ae>%x1f%as', '--name-only', '-z', `${onto}..${branch}`, '--'], { cwd: repo.root, readOnly: true });
  const out: CandidateCommit[] = [];
  for (const rec of r.stdout.split('\x1e').filter((x) => x.trim())) {
    const nl = rec.indexOf('\n');
    const head = nl >= 0 ? rec.slice(0, nl) : rec;
    const rest = nl >= 0 ? rec.slice(nl + 1) : '';
    const [oid, short, subject, author, date] = head.replace(/\0+$/, '').split('\x1f');
    out.push({ oid: oid!, short: short!, subject: subject ?? '', author: author ?? '', date: date ?? '', files: rest.split('\0').map((f) => f.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * For `rb recover --abort`: did only the run's own recovery branch move since the run stopped,
 * and only forward (the commit `git cherry-pick --continue` made while resolving a conflict, as
 * rb told the user to)? Then the abort resets it like the rest of the run (its safety snapshot
 * keeps that commit: `rb undo` of the abort brings it back). Anything else that moved (another
 * branch, the user's own branch, the recovery branch rewritten) is left to abort's check, which
 * stops and names it.
 */
async function ownCommitsOnly(repo: Repo, run: RunRecord): Promise<boolean> {
  const { conflictingRefs, refChanges } = await import('../steps/refs-revert.js');
  const { refOid } = await import('../steps/git-common.js');
  const ours = refChanges(run).filter((c) => c.type === 'created' && c.ref.startsWith('refs/heads/recovery/') && c.oid);
  if (!ours.length) return false;
  if ((await conflictingRefs(repo, run, ours.map((c) => c.ref))).length) return false;
  const before = run.head.before;
  if (before.ref && before.oid && before.ref !== ours[0]!.ref && (await refOid(repo, before.ref)) !== before.oid) return false;
  let moved = false;
  for (const c of ours) {
    const cur = await refOid(repo, c.ref);
    if (!cur || cur === c.oid) continue;
    const forward = await git(['merge-base', '--is-ancestor', c.oid!, cur], { cwd: repo.root, allowFail: true, readOnly: true });
    if (forward.code !== 0) return false;
    moved = true;
  }
  return moved;
}

function formatCandidates(cs: CandidateCommit[]): string[] {
  return cs.map((c, i) => `${String(i + 1).padStart(2)}. ${c.short} ${c.subject} — ${c.author}, ${c.date}; ${c.files.length} file(s): ${c.files.slice(0, 4).join(', ')}${c.files.length > 4 ? ', …' : ''}`);
}

export async function recoverCommand(branch: string | undefined, opts: RecoverOptions, cmd: any): Promise<number> {
  const cwd = cmd.parent?.opts().cwd;
  const repo = findRepo(cwd);
  if (opts.continue || opts.abort) {
    const run = listRuns(repo).find((r) => r.playbook === 'recover' && ['failed', 'interrupted'].includes(effectiveStatus(r)) && !r.undoneBy);
    if (!run) throw new UsageError('there is no stopped `rb recover` run to continue or abort.', { next: 'run `rb status`' });
    const undo = await import('./undo.js');
    if (opts.continue) return undo.resumeCommand(run.id, { yes: true, json: opts.json }, cmd);
    return undo.abortCommand(run.id, { yes: true, json: opts.json, force: await ownCommitsOnly(repo, run) }, cmd);
  }
  if (!branch) throw new UsageError('name the failed branch to recover commits from.', { next: 'rb recover feature/login --all' });
  if (branch.startsWith('-')) throw new UsageError(`"${branch}" is not a branch name.`, { next: 'rb recover <branch>' });
  const open = listRuns(repo).find(needsResolution);
  if (open) throw new LockedError(`run ${open.id} (${open.playbook}) is ${effectiveStatus(open)} part-way: it must be resumed or aborted first.`, { next: `rb resume ${open.id}   or   rb abort ${open.id}` });
  // recover switches to a new branch: uncommitted changes to tracked files would only survive in
  // the snapshot, out of sight — refuse unless the user says so
  const dirty = await git(['status', '--porcelain', '--untracked-files=no'], { cwd: repo.root, readOnly: true });
  if (dirty.stdout.trim() && !opts.force && !opts.dryRun) {
    throw new PreconditionError('there are uncommitted changes to tracked files; rb recover switches to a new branch, which would set them aside.', {
      details: dirty.stdout.trim().split('\n').slice(0, 10),
      next: `commit or stash them first (git stash), or run \`rb recover ${branch} --force …\` to continue (they are kept in the snapshot; \`rb undo\` brings them back)`,
    });
  }
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const { resolveBaseline, missingBaselineError, assertSafeRefName } = await import('../engine/baseline.js');
  assertSafeRefName(branch, 'branch');
  const from = await git(['rev-parse', '-q', '--verify', '--end-of-options', `${branch}^{commit}`], { cwd: repo.root, allowFail: true, readOnly: true });
  if (from.code !== 0) throw new UsageError(`no branch or commit "${branch}".`, { next: 'list branches with `git branch -a`' });
  const baseline = await resolveBaseline(repo, opts.onto ?? config.baseline, config.remote);
  if (!baseline.oid) throw missingBaselineError(baseline, config.remote);
  const candidates = await listCandidates(repo, baseline.oid, from.stdout.trim());
  if (!candidates.length) {
    process.stdout.write(`${branch} has no commits that ${baseline.name} lacks: nothing to recover.\n`);
    return 0;
  }
  let chosen: CandidateCommit[];
  if (opts.all) chosen = candidates;
  else if (opts.pick?.length) {
    chosen = [];
    const problems: string[] = [];
    for (const p of opts.pick) {
      const m = candidates.filter((c) => c.oid.startsWith(p.toLowerCase()));
      if (m.length === 1) chosen.push(m[0]!);
      else problems.push(m.length ? `${p} is ambiguous` : `${p} is not one of the commits in ${baseline.name}..${branch}`);
    }
    if (problems.length) throw new UsageError('cannot pick these commits:', { details: [...problems, 'the commits are:', ...formatCandidates(candidates)], next: `rb recover ${branch} --pick <sha> [--pick <sha>...] or --all` });
    chosen = candidates.filter((c) => chosen.includes(c)); // keep history order
  } else if (process.stdin.isTTY && !opts.json) {
    const { checkbox } = await import('@inquirer/prompts');
    const picked = await checkbox({
      message: `Commits in ${baseline.name}..${branch} to pick onto recovery/<stamp> (oldest first):`,
      choices: candidates.map((c) => ({ name: `${c.short} ${c.subject} (${c.author}; ${c.files.length} files)`, value: c.oid, checked: false })),
      pageSize: 20,
    });
    if (!picked.length) {
      process.stdout.write('Nothing picked; nothing was changed.\n');
      return 0;
    }
    chosen = candidates.filter((c) => picked.includes(c.oid));
  } else {
    throw new UsageError(`choose the commits to recover: stdin is not a terminal, so pass --pick <sha>... or --all.`, {
      details: formatCandidates(candidates),
      next: `rb recover ${branch} --all --yes`,
    });
  }
  const r = await execute({
    playbook: 'recover',
    params: { branch, commits: chosen.map((c) => c.oid), tests: opts.tests !== false },
    cwd,
    to: opts.onto,
    dryRun: opts.dryRun,
    yes: opts.yes,
    json: opts.json,
    reason: opts.reason,
    force: opts.force,
    command: `rb recover ${branch}`,
  });
  return r.code;
}
