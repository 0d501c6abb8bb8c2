/**
 * After a run or a check has done its own work: write its record as git objects
 * (records/git-records.ts) and, with `records: { share: true }`, sync with the remote.
 *
 * Nothing here can fail or hold up what came before it: every problem becomes a warning, and
 * the sync is bounded by records.timeoutSeconds. A push that failed is retried by the next sync
 * (every sync pushes all of this clone's records).
 */
import { join } from 'node:path';
import type { Config } from '../types.js';
import type { Repo } from '../repo.js';
import type { RunRecord } from '../journal/journal.js';
import type { AuditLine } from './audit.js';
import type { CheckReport } from '../check/types.js';

type RecordsConfig = Pick<Config, 'rollbacksDir' | 'remote' | 'records' | 'notify'>;

/** Write the record of a finished run; returns the warnings (never throws). */
export async function recordRun(repo: Repo, config: RecordsConfig, run: RunRecord, audit: AuditLine | null): Promise<string[]> {
  try {
    const [{ writeRecord, sharedRun, recordSecrets, writerId }, { readMetrics }, { identityFromConfig }] = await Promise.all([import('./git-records.js'), import('./metrics.js'), import('../io/git.js')]);
    let metrics = null;
    try {
      metrics = readMetrics(join(repo.root, config.rollbacksDir, 'metrics.json')).rollbacks.find((e) => e.run_id === run.id) ?? null;
    } catch {
      // an unreadable metrics.json is reported where it is written; the record goes without it
    }
    await writeRecord(repo, {
      kind: 'runs',
      id: run.id,
      record: sharedRun(run, writerId(repo)),
      audit,
      metrics,
      secrets: recordSecrets(config.notify.webhook),
      // the run read the identity once already (its journal has it)
      identity: identityFromConfig({ 'user.name': run.user.name, 'user.email': run.user.email }),
    });
    return [];
  } catch (e) {
    return [`could not write the run's record under refs/rb/records/: ${(e as Error).message}`];
  }
}

/** Add a metrics entry written after the run ended (rb guard) to the run's record. */
export async function recordRunMetrics(repo: Repo, config: RecordsConfig, runId: string): Promise<string[]> {
  try {
    const [{ writeRecord, recordSecrets }, { readMetrics }] = await Promise.all([import('./git-records.js'), import('./metrics.js')]);
    const metrics = readMetrics(join(repo.root, config.rollbacksDir, 'metrics.json')).rollbacks.find((e) => e.run_id === runId);
    if (!metrics) return [];
    await writeRecord(repo, { kind: 'runs', id: runId, metrics, secrets: recordSecrets(config.notify.webhook) });
    return [];
  } catch (e) {
    return [`could not add the metrics entry to the run's record: ${(e as Error).message}`];
  }
}

/** The shared record of one `rb check`: each check's verdict, and its checkpoint (a sprint start) when it took one. */
export async function recordCheck(repo: Repo, config: RecordsConfig, report: CheckReport, at: Date): Promise<string[]> {
  try {
    const [{ writeRecord, recordSecrets, writerId }, { readMetrics }, { stampOf }, { hostname, userInfo }, { git }] = await Promise.all([
      import('./git-records.js'), import('./metrics.js'), import('../ui/format.js'), import('node:os'), import('../io/git.js'),
    ]);
    const checkpoint = report.tag ? (readMetrics(join(repo.root, config.rollbacksDir, 'metrics.json')).checkpoints ?? []).find((c) => c.tag === report.tag) ?? null : null;
    const id = `${stampOf(at, { utc: true })}-check-${(await import('node:crypto')).randomBytes(2).toString('hex')}`;
    const name = await git(['config', 'user.name'], { cwd: repo.root, allowFail: true, readOnly: true });
    const email = await git(['config', 'user.email'], { cwd: repo.root, allowFail: true, readOnly: true });
    let osUser = '';
    try {
      osUser = userInfo().username;
    } catch {
      osUser = process.env.USER ?? '';
    }
    await writeRecord(repo, {
      kind: 'checks',
      id,
      record: {
        id,
        kind: 'check',
        ok: report.ok,
        at: at.toISOString(),
        durationMs: report.durationMs,
        tag: report.tag,
        checkpointSkipped: report.checkpointSkipped,
        checks: report.checks.map((c) => ({ id: c.id, status: c.status, reason: c.reason })),
        user: { name: name.stdout.trim() || null, email: email.stdout.trim() || null, os: osUser },
        host: hostname(),
        ci: Boolean(process.env.CI),
        writer: writerId(repo),
      } as never,
      audit: null,
      metrics: checkpoint,
      secrets: recordSecrets(config.notify.webhook),
    });
    return [];
  } catch (e) {
    return [`could not write the check's record under refs/rb/records/: ${(e as Error).message}`];
  }
}

/**
 * With records.share: sync now, bounded by records.timeoutSeconds. Returns warnings: a sync that
 * failed says so and that the next one retries it.
 */
export async function shareAfter(repo: Repo, config: RecordsConfig): Promise<string[]> {
  if (!config.records.share) return [];
  if (!config.remote) return ['records.share is on but no remote is configured (remote: ""): the records stay in this clone'];
  try {
    const { syncRecords } = await import('./sync.js');
    const r = await syncRecords(repo, { remote: config.remote, timeoutMs: config.records.timeoutSeconds * 1000 });
    return r.errors.map((e) => `records not shared: ${e} (they stay in refs/rb/records/; the next run or \`rb sync\` retries)`);
  } catch (e) {
    return [`records not shared: ${(e as Error).message} (the next run or \`rb sync\` retries)`];
  }
}
