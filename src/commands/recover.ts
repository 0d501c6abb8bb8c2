/**
 * `rb recover <branch>`: rescue good commits from a failed branch onto `recovery/<stamp>` (from
 * the baseline or --onto). Lists the commits in onto..branch oldest first; the user picks them on
 * a terminal (a checkbox) or with --pick / --all. The work is the `recover` playbook (snapshot,
 * branch, cherry-pick with the user's hooks and signing, tests, report), so it is journaled and
 * undoable; `--continue` resumes it after a conflict, `--abort` restores the snapshot.
 */
import { execute } from '../engine/execute.js';
import { LockedError, UsageError } from '../errors.js';
import { git } from '../io/git.js';
import { effectiveStatus, listRuns, needsResolution } from '../journal/journal.js';
import { findRepo, type Repo } from '../repo.js';

export interface RecoverOptions {
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
    return opts.continue ? undo.resumeCommand(run.id, { yes: true, json: opts.json }, cmd) : undo.abortCommand(run.id, { yes: true, json: opts.json }, cmd);
  }
  if (!branch) throw new UsageError('name the failed branch to recover commits from.', { next: 'rb recover feature/login --all' });
  if (branch.startsWith('-')) throw new UsageError(`"${branch}" is not a branch name.`, { next: 'rb recover <branch>' });
  const open = listRuns(repo).find(needsResolution);
  if (open) throw new LockedError(`run ${open.id} (${open.playbook}) is ${effectiveStatus(open)} part-way: it must be resumed or aborted first.`, { next: `rb resume ${open.id}   or   rb abort ${open.id}` });
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
    command: `rb recover ${branch}`,
  });
  return r.code;
}
