/**
 * After a passing check: the checkpoint that marks the start of a sprint. An annotated tag
 * `checkpoint-<YYYYMMDD-HHMMSS>` at HEAD (rb's hardened git, so no hooks and no signing; an
 * identity is supplied when the user has none; never pushed), an entry in the `checkpoints` list
 * of rollbacks/metrics.json (timestamp, tag, commit, branch; `rb metrics` counts them as sprints
 * started for the rollback rate), and one line in rollbacks/audit.jsonl (action "check").
 * rollbacks/ is added to .git/info/exclude first, as every rb run does, so the records never make
 * the tree dirty. A record that cannot be written is a warning: the tag stays.
 */
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { git, identityEnv } from '../io/git.js';
import { appendCheckpoint } from '../records/metrics.js';
import { appendAudit } from '../records/audit.js';
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

  let metrics: string | null = null;
  try {
    ensureExcluded(repo, config.rollbacksDir);
    const rel = join(config.rollbacksDir, 'metrics.json');
    appendCheckpoint(join(repo.root, rel), {
      timestamp: now.toISOString(),
      tag,
      commit: req.commit,
      branch: req.branch,
      ...(req.baseline ? { baseline: req.baseline.name, baseline_commit: req.baseline.oid } : {}),
    });
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
      at: now.toISOString(),
      run_id: `${stamp}-check`,
      action: 'check',
      playbook: 'check',
      result: 'passed',
      duration_ms: req.durationMs,
      git_user: n.stdout.trim() || null,
      git_email: m.stdout.trim() || null,
      os_user: osUser(),
      host: hostname(),
      cwd: repo.root,
      tag,
      commit: req.commit,
      branch: req.branch,
    });
  } catch (e) {
    warnings.push(`could not write the audit line: ${(e as Error).message}`);
  }
  return { tag, commit: req.commit, branch: req.branch, metrics, warnings };
}
