/**
 * After a passing check: the checkpoint that marks the start of a sprint. An annotated tag
 * `checkpoint-<YYYYMMDD-HHMMSS>` at HEAD (rb's hardened git, so no hooks and no signing; an
 * identity is supplied when the user has none; never pushed), an entry in the `checkpoints` list
 * of rollbacks/metrics.json (timestamp, tag, commit, branch; `rb metrics` counts them as sprints
 * started for the rollback rate), and one line in rollbacks/audit.jsonl (action "check").
 * rollbacks/ is added to .git/info/exclude first, as every rb run does, so the records never make
 * the tree dirty. A record that cannot be written is a warning: the tag stays. The metrics entry
 * also keeps how many of the baseline's tests passed, which a named checkpoint quotes later.
 *
 * Named checkpoints (`rb checkpoint <name>`, src/commands/checkpoint.ts) are written here too: an
 * annotated tag `<name>` at HEAD whose message starts "rb checkpoint: <name>" and quotes the
 * baseline's test result when an earlier `rb check` recorded one for the same baseline commit,
 * a metrics entry of kind "named" (a sprint start only with metrics.countNamedCheckpoints), and
 * an audit line (action "checkpoint"). listNamedCheckpoints reads them back from the tags.
 */
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { git, identityEnv } from '../io/git.js';
import { appendCheckpoint, readMetrics, type Checkpoint } from '../records/metrics.js';
import { appendAudit, type AuditLine } from '../records/audit.js';
import { ensureExcluded } from '../records/exclude.js';
import type { Repo } from '../repo.js';
import type { Config } from '../types.js';
import type { CheckpointInfo } from './types.js';
import { stampOf } from '../ui/format.js';


/** `YYYYMMDD-HHMMSS` in local time (the stamp of run ids). */
export function checkpointStamp(d: Date): string {
  return stampOf(d);
}

async function tagExists(repo: Repo, name: string): Promise<boolean> {
  const r = await git(['rev-parse', '-q', '--verify', `refs/tags/${name}`], { cwd: repo.root, allowFail: true, readOnly: true });
  return r.code === 0;
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

export interface CheckpointRequest {
  /** HEAD's commit and branch (null when detached) */
  commit: string;
  branch: string | null;
  /** the baseline the check verified, for the tag message and the metrics entry */
  baseline: { name: string; oid: string | null } | null;
  /** e.g. "12 tests passed" */
  testsLine?: string;
  /** how many of the baseline's tests passed, when counted (kept in the metrics entry) */
  testsPassed?: number;
  /** how long the check took, for the audit line */
  durationMs: number;
  now?: Date;
}

/** Create the tag and write the records (see the module comment). */
export async function recordCheckpoint(repo: Repo, config: Pick<Config, 'rollbacksDir'>, req: CheckpointRequest): Promise<CheckpointInfo> {
  const now = req.now ?? new Date();
  const stamp = checkpointStamp(now);
  const warnings: string[] = [];
  let tag: string | null = `checkpoint-${stamp}`;
  for (let i = 2; await tagExists(repo, tag!); i++) tag = `checkpoint-${stamp}-${i}`;
  const message = [
    `rb check: checkpoint at the start of a sprint`,
    '',
    `commit ${req.commit}${req.branch ? ` on ${req.branch}` : ''}`,
    req.baseline ? `baseline ${req.baseline.name} ${req.baseline.oid ?? '(unresolved)'}` : '',
    req.testsLine ?? '',
  ].filter((l, i) => i < 2 || l !== '').join('\n');
  const t = await git(['tag', '-a', '-m', message, '--', tag!, req.commit], { cwd: repo.root, env: await identityEnv(repo.root), allowFail: true });
  if (t.code !== 0) {
    warnings.push(`could not create the tag ${tag}: ${t.stderr.trim().split('\n').pop() ?? `exit ${t.code}`}`);
    tag = null;
  }

  const entry: Checkpoint = {
    timestamp: now.toISOString(),
    tag,
    commit: req.commit,
    branch: req.branch,
    ...(req.baseline ? { baseline: req.baseline.name, baseline_commit: req.baseline.oid } : {}),
    ...(typeof req.testsPassed === 'number' ? { baseline_tests_passed: req.testsPassed } : {}),
  };
  const metrics = await writeRecords(repo, config, entry, {
    run_id: `${stamp}-check`, action: 'check', playbook: 'check', result: 'passed', duration_ms: req.durationMs,
  }, warnings);
  return { tag, commit: req.commit, branch: req.branch, metrics, warnings };
}

/** The metrics entry and the audit line of a checkpoint; what fails is added to `warnings`. Returns the metrics file written, or null. */
async function writeRecords(repo: Repo, config: Pick<Config, 'rollbacksDir'>, entry: Checkpoint, audit: Pick<AuditLine, 'run_id' | 'action' | 'playbook' | 'result' | 'duration_ms'>, warnings: string[]): Promise<string | null> {
  let metrics: string | null = null;
  try {
    ensureExcluded(repo, config.rollbacksDir);
    const rel = join(config.rollbacksDir, 'metrics.json');
    appendCheckpoint(join(repo.root, rel), entry);
    metrics = rel;
  } catch (e) {
    warnings.push(`could not record the checkpoint in ${config.rollbacksDir}/metrics.json: ${(e as Error).message}`);
  }
  try {
    const [n, m] = await Promise.all([
      git(['config', 'user.name'], { cwd: repo.root, allowFail: true, readOnly: true }),
      git(['config', 'user.email'], { cwd: repo.root, allowFail: true, readOnly: true }),
    ]);
    appendAudit(join(repo.root, config.rollbacksDir, 'audit.jsonl'), {
      at: entry.timestamp,
      ...audit,
      git_user: n.stdout.trim() || null,
      git_email: m.stdout.trim() || null,
      os_user: osUser(),
      host: hostname(),
      cwd: repo.root,
      tag: entry.tag,
      commit: entry.commit,
      branch: entry.branch,
    });
  } catch (e) {
    warnings.push(`could not write the audit line: ${(e as Error).message}`);
  }
  return metrics;
}

// ---------------------------------------------------------------------------------------------
// named checkpoints

/** The first line of a named checkpoint's tag message. */
export const NAMED_SUBJECT = 'rb checkpoint: ';

/**
 * What is known of the baseline's tests at this commit: the latest `rb check` checkpoint in
 * metrics.json that ran them on the same baseline commit, or null.
 */
export function knownBaselineTests(repo: Repo, config: Pick<Config, 'rollbacksDir'>, baselineOid: string): string | null {
  let entries: Checkpoint[];
  try {
    entries = readMetrics(join(repo.root, config.rollbacksDir, 'metrics.json')).checkpoints ?? [];
  } catch {
    return null;
  }
  const last = entries.filter((c) => c && c.kind !== 'named' && c.baseline_commit === baselineOid && typeof c.baseline_tests_passed === 'number').pop();
  if (!last) return null;
  const n = last.baseline_tests_passed as number;
  return `${n} baseline test${n === 1 ? '' : 's'} passed (rb check${last.tag ? ` ${last.tag}` : ''}, ${last.timestamp})`;
}

export interface NamedCheckpointRequest {
  name: string;
  commit: string;
  branch: string | null;
  baseline: { name: string; oid: string | null } | null;
  /** knownBaselineTests(), or null when not known */
  baselineTests: string | null;
  /** the snapshot taken with the same name */
  snapshot: string;
  /** the user's -m text */
  message?: string;
  durationMs: number;
  now?: Date;
}

/** Create the annotated tag `<name>` at the commit and write the records. Throws when the tag cannot be created. */
export async function recordNamedCheckpoint(repo: Repo, config: Pick<Config, 'rollbacksDir'>, req: NamedCheckpointRequest): Promise<CheckpointInfo> {
  const now = req.now ?? new Date();
  const message = [
    `${NAMED_SUBJECT}${req.name}`,
    '',
    ...(req.message ? [req.message, ''] : []),
    `commit ${req.commit}${req.branch ? ` on ${req.branch}` : ''}`,
    req.baseline ? `baseline ${req.baseline.name} ${req.baseline.oid ?? '(not found)'}` : 'baseline (not configured)',
    `baseline tests: ${req.baselineTests ?? 'not known (no rb check has run them on this baseline commit)'}`,
    `snapshot ${req.snapshot} (rb snapshots restore ${req.snapshot})`,
  ].join('\n');
  const t = await git(['tag', '-a', '-m', message, '--', req.name, req.commit], { cwd: repo.root, env: await identityEnv(repo.root), allowFail: true });
  if (t.code !== 0) throw new Error(`could not create the tag ${req.name}: ${t.stderr.trim().split('\n').pop() ?? `exit ${t.code}`}`);
  const warnings: string[] = [];
  const metrics = await writeRecords(repo, config, {
    timestamp: now.toISOString(),
    tag: req.name,
    kind: 'named',
    name: req.name,
    commit: req.commit,
    branch: req.branch,
    snapshot: req.snapshot,
    ...(req.baseline ? { baseline: req.baseline.name, baseline_commit: req.baseline.oid } : {}),
  }, { run_id: `${checkpointStamp(now)}-checkpoint-${req.name}`, action: 'checkpoint', playbook: 'checkpoint', result: 'recorded', duration_ms: req.durationMs }, warnings);
  return { tag: req.name, commit: req.commit, branch: req.branch, metrics, warnings };
}

export interface NamedCheckpoint {
  name: string;
  commit: string;
  /** when the tag was made */
  createdAt: string;
  /** the tag message after its first line */
  body: string;
}

/** The named checkpoints (annotated tags whose message starts "rb checkpoint: "), newest first. */
export async function listNamedCheckpoints(repo: Repo): Promise<NamedCheckpoint[]> {
  const r = await git(['for-each-ref', '--sort=-creatordate', '--format=%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(creatordate:iso-strict)%00%(contents)%00%01', 'refs/tags/'], { cwd: repo.root, readOnly: true });
  const out: NamedCheckpoint[] = [];
  for (const rec of r.stdout.split('\0\x01\n')) {
    const [name, type, commit, date, ...rest] = rec.split('\0');
    const contents = rest.join('\0');
    if (type !== 'tag' || !name || !contents.startsWith(`${NAMED_SUBJECT}${name}\n`)) continue;
    out.push({ name, commit: commit!, createdAt: date!, body: contents.slice(contents.indexOf('\n') + 1).trim() });
  }
  return out;
}
