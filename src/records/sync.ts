/**
 * `rb sync`'s work: fetch every writer's records from the remote and push this clone's own.
 *
 *   fetch  +refs/rb/records/*:refs/rb/records/*  ^refs/rb/records/<me>/*
 *   push   refs/rb/records/<me>/*:refs/rb/records/<me>/*
 *
 * Only refs/rb/records/ is named: snapshots (refs/rb/snapshots/, which hold ignored files such as
 * .env), branches and tags are never part of a sync. A clone's own records are never fetched
 * (the remote's copy can only be older) and are pushed without force: a writer only ever appends.
 * A teammate's record is only ever written by that teammate, so the forced fetch of it is a
 * fast-forward in practice; nothing is merged and nothing can conflict.
 *
 * The whole sync is bounded by a deadline: each git command gets what is left of it and is
 * killed (with the helpers it started) when it runs out.
 */
import { git } from '../io/git.js';
import type { Repo } from '../repo.js';
import { RECORDS_REF_PREFIX, writerId } from './git-records.js';

export interface SyncResult {
  remote: string;
  writer: string;
  /** records fetched that this clone did not have, and records that moved (a teammate appended) */
  fetched: { added: number; updated: number };
  /** refs the push created or moved; up to date ones are not counted */
  pushed: number;
  /** own records the remote already had */
  upToDate: number;
  /** what failed (the other direction may still have worked); empty when all went well */
  errors: string[];
}

export interface SyncOptions {
  remote: string;
  timeoutMs: number;
  /** fetch only / push only (both by default) */
  fetch?: boolean;
  push?: boolean;
}

/** Fetch, then push; never throws for a remote that fails: the error is in `errors`. */
export async function syncRecords(repo: Repo, opts: SyncOptions): Promise<SyncResult> {
  const writer = writerId(repo);
  const deadline = Date.now() + opts.timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const result: SyncResult = { remote: opts.remote, writer, fetched: { added: 0, updated: 0 }, pushed: 0, upToDate: 0, errors: [] };
  if (opts.fetch !== false) await fetchRecords(repo, opts.remote, writer, left(), result);
  if (opts.push !== false) {
    if (Date.now() >= deadline) result.errors.push(`push to ${opts.remote}: not tried, the ${opts.timeoutMs / 1000}s limit was used up by the fetch`);
    else await pushRecords(repo, opts.remote, writer, left(), result);
  }
  return result;
}

/** Where each record ref points (ref -> commit). */
async function recordTips(repo: Repo): Promise<Map<string, string>> {
  const r = await git(['for-each-ref', '--format=%(objectname) %(refname)', RECORDS_REF_PREFIX], { cwd: repo.root, readOnly: true });
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf(' ');
    if (i > 0) out.set(line.slice(i + 1), line.slice(0, i));
  }
  return out;
}

async function fetchRecords(repo: Repo, remote: string, writer: string, timeoutMs: number, result: SyncResult): Promise<void> {
  const before = await recordTips(repo);
  const r = await git(
    ['fetch', '--no-tags', '--no-write-fetch-head', '--no-recurse-submodules', '--end-of-options', remote,
      `+${RECORDS_REF_PREFIX}*:${RECORDS_REF_PREFIX}*`, `^${RECORDS_REF_PREFIX}${writer}/*`],
    { cwd: repo.root, allowFail: true, timeoutMs },
  );
  if (r.code !== 0) result.errors.push(`fetch from ${remote} failed: ${lastLine(r.stderr)}`);
  const after = await recordTips(repo);
  for (const [ref, oid] of after) {
    if (!before.has(ref)) result.fetched.added++;
    else if (before.get(ref) !== oid) result.fetched.updated++;
  }
}

async function pushRecords(repo: Repo, remote: string, writer: string, timeoutMs: number, result: SyncResult): Promise<void> {
  const own = `${RECORDS_REF_PREFIX}${writer}/*`;
  const r = await git(['push', '--porcelain', '--no-verify', '--end-of-options', remote, `${own}:${own}`], { cwd: repo.root, allowFail: true, timeoutMs });
  // --porcelain: "<flag>\t<from>:<to>\t<summary>" per ref; * new, space fast-forward, = up to date, ! rejected
  for (const line of r.stdout.split('\n')) {
    const m = /^([*+ =!-])\t[^\t]*\t(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '=') result.upToDate++;
    else if (m[1] === '!') result.errors.push(`push to ${remote} rejected ${line.split('\t')[1]?.split(':')[1] ?? ''}: ${m[2]}`);
    else result.pushed++;
  }
  if (r.code !== 0 && !result.errors.some((e) => e.startsWith(`push to ${remote} rejected`))) result.errors.push(`push to ${remote} failed: ${lastLine(r.stderr)}`);
}

/** The line of git's stderr that says what went wrong (its last non-empty one). */
function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.filter((l) => /^(fatal|error):/.test(l)).pop() ?? lines.pop() ?? 'no message';
}
