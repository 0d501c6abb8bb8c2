/**
 * Check 3: the baseline resolves, and the local baseline branch is not behind its
 * remote-tracking branch (`git rev-list --count local..remote`).
 *
 * Nothing is fetched unless `fetch` is set (`rb check --fetch`): the comparison is with the
 * remote as it was last fetched, which keeps the check offline and fast. With `fetch`, the
 * baseline branch alone is fetched into its remote-tracking ref
 * (`git fetch --no-tags <remote> +refs/heads/<name>:refs/remotes/<remote>/<name>`); the user's
 * branches are never touched. A failed fetch is a warning, and the comparison uses what is there.
 */
import { git } from '../io/git.js';
import { RbError } from '../errors.js';
import { missingBaselineError, resolveBaseline, type Baseline } from '../engine/baseline.js';
import type { Repo } from '../repo.js';
import type { Config } from '../types.js';
import type { CheckResult } from './types.js';

const TITLE = 'Baseline resolves and is current';
export const FETCH_TIMEOUT_MS = 60_000;

/** Fetch the baseline branch into its remote-tracking ref. Returns a problem, or null when it worked. */
export async function fetchBaseline(repo: Repo, name: string, remote: string): Promise<string | null> {
  const branch = name.replace(/^refs\/heads\//, '');
  if (branch.startsWith('refs/')) return `the baseline ${name} is not a branch: nothing to fetch`;
  const url = await git(['remote', 'get-url', '--', remote], { cwd: repo.root, allowFail: true, readOnly: true });
  if (url.code !== 0) return `there is no remote "${remote}"`;
  const r = await git(
    ['fetch', '--no-tags', '--no-recurse-submodules', '--quiet', '--', remote, `+refs/heads/${branch}:refs/remotes/${remote}/${branch}`],
    { cwd: repo.root, allowFail: true, timeoutMs: FETCH_TIMEOUT_MS },
  );
  if (r.code === 0) return null;
  if (/couldn't find remote ref/i.test(r.stderr)) return `${remote} has no branch ${branch}`;
  return `git fetch ${remote} failed: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`}`;
}

async function count(repo: Repo, range: string): Promise<number> {
  const r = await git(['rev-list', '--count', range], { cwd: repo.root, readOnly: true });
  return Number(r.stdout.trim());
}

const short = (ref: string) => ref.replace(/^refs\/(heads|remotes|tags)\//, '');
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/**
 * Resolve the configured baseline and compare the local branch with the remote-tracking one.
 * @param opts.fetch fetch the baseline branch first (default false: never touches the network)
 */
export async function checkBaseline(
  repo: Repo, config: Pick<Config, 'baseline' | 'remote'>, opts: { fetch?: boolean; currentBranch?: string | null } = {},
): Promise<{ result: CheckResult; baseline: Baseline | null }> {
  const remote = config.remote;
  const notes: string[] = [];
  let fetchProblem: string | null = null;
  if (opts.fetch) {
    if (!remote) notes.push('--fetch: no remote configured (remote: "" in rb.config.yaml)');
    else if (/^[0-9a-f]{7,64}$/i.test(config.baseline) || (config.baseline.startsWith('refs/') && !config.baseline.startsWith('refs/heads/'))) {
      notes.push(`--fetch: the baseline ${config.baseline} is not a branch, nothing fetched`);
    } else {
      fetchProblem = await fetchBaseline(repo, config.baseline, remote);
      if (fetchProblem) notes.push(`--fetch: ${fetchProblem}; compared with the last fetched state`);
    }
  }

  let b: Baseline;
  try {
    b = await resolveBaseline(repo, config.baseline, remote);
  } catch (e) {
    if (!(e instanceof RbError)) throw e;
    return { result: { id: 'baseline', title: TITLE, status: 'fail', reason: e.message, next: e.next, details: notes }, baseline: null };
  }
  if (!b.oid) {
    const err = missingBaselineError(b, remote);
    const fetched = opts.fetch && remote;
    const reason = !fetched
      ? err.message
      : `the baseline "${b.name}" was not found: looked at ${b.looked.join(', ')} (${fetchProblem ? `fetching it failed: ${fetchProblem}` : `after fetching from ${remote}`}).`;
    return { result: { id: 'baseline', title: TITLE, status: 'fail', reason, next: err.next, details: notes, data: { name: b.name, local: null, remote: null } }, baseline: b };
  }

  const oid12 = b.oid.slice(0, 12);
  const staleNote = remote && !opts.fetch ? ' (remote as last fetched; --fetch refreshes it)' : opts.fetch && !fetchProblem && remote ? ' (just fetched)' : '';
  const base = { name: b.name, ref: b.ref, oid: b.oid, type: b.type, fetched: Boolean(opts.fetch && !fetchProblem) };
  // a failed fetch matters for a branch baseline; a tag or commit baseline does not depend on it
  const status = fetchProblem && (b.type === 'branch' || b.type === 'remote-branch') ? 'warn' as const : 'pass' as const;
  const fetchNext = status === 'warn' ? `check the network and credentials for ${remote}, then \`rb check --fetch\`` : undefined;

  if (b.type === 'branch' && b.remoteRef) {
    const remoteOid = (await git(['rev-parse', '--verify', '--end-of-options', `${b.remoteRef}^{commit}`], { cwd: repo.root, readOnly: true })).stdout.trim();
    const [behind, ahead] = await Promise.all([count(repo, `${b.ref}..${b.remoteRef}`), count(repo, `${b.remoteRef}..${b.ref}`)]);
    const data = { ...base, local: b.oid, remote: remoteOid, remoteRef: b.remoteRef, behind, ahead };
    const pair = `local ${short(b.ref)} (${oid12}) and ${short(b.remoteRef)} (${remoteOid.slice(0, 12)})`;
    if (behind > 0) {
      const checkedOut = opts.currentBranch === short(b.ref);
      const next = ahead > 0
        ? `decide which one is the last good state: \`git push ${remote} ${b.name}\` (keep the local one) or \`git branch -f ${b.name} ${short(b.remoteRef)}\` (take the remote one)`
        : checkedOut ? `\`git merge --ff-only ${short(b.remoteRef)}\` (you are on ${b.name})` : `\`git branch -f ${b.name} ${short(b.remoteRef)}\` (a fast-forward: the local branch has nothing the remote lacks)`;
      const what = ahead > 0 ? `have diverged: the local branch is ${plural(behind, 'commit')} behind and ${ahead} ahead` : `the local branch is ${plural(behind, 'commit')} behind ${short(b.remoteRef)}`;
      return { result: { id: 'baseline', title: TITLE, status: 'fail', reason: `baseline ${b.name}: ${what}${staleNote}.`, next, details: notes, data }, baseline: b };
    }
    if (ahead > 0) {
      return {
        result: { id: 'baseline', title: TITLE, status: 'warn', reason: `${pair}: the local branch is ${plural(ahead, 'commit')} ahead (not pushed)${staleNote}`, next: `\`git push ${remote} ${b.name}\` so CI and the team share it`, details: notes, data },
        baseline: b,
      };
    }
    return { result: { id: 'baseline', title: TITLE, status, reason: `${pair} found, same commit${staleNote}`, next: fetchNext, details: notes, data }, baseline: b };
  }

  let reason: string;
  let data: Record<string, unknown> = { ...base, local: null, remote: null };
  switch (b.type) {
    case 'branch':
      reason = `local branch ${b.name} at ${oid12}${remote ? `; no ${remote}/${b.name} to compare with${opts.fetch ? '' : ' (never fetched? --fetch fetches it)'}` : ' (no remote configured)'}`;
      data = { ...data, local: b.oid };
      break;
    case 'remote-branch':
      reason = `only ${short(b.ref)} at ${oid12} (no local branch ${b.name})${staleNote}`;
      data = { ...data, remote: b.oid, remoteRef: b.ref };
      break;
    case 'tag':
      reason = `tag ${b.name} at ${oid12}`;
      break;
    default:
      reason = `${b.type} ${b.name} at ${oid12}`;
  }
  return { result: { id: 'baseline', title: TITLE, status, reason, next: fetchNext, details: notes, data }, baseline: b };
}
