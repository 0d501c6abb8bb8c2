/**
 * `notify`: tell the team a rollback happened (issue 5, Notifications).
 *
 * Writes `notification.md` in the run's folder (`<rollbacksDir>/<run.dir>/`): severity, time,
 * impact, what happened (the reason), actions taken (the run's steps so far), next steps, and
 * branch status (the safe baseline, the failed branch, the backup / retry / recovery branch
 * when steps created them). `with.template` replaces the default text; it reads
 * `{{notification.*}}` (the keys of {@link NotificationFacts}) besides the usual scope.
 *
 * With `notify.webhook` configured (or RB_WEBHOOK_URL, applied by the config loader) it also
 * POSTs `{ text, run }` as JSON: `text` is Slack-compatible mrkdwn, `run` a small summary
 * ({@link WebhookRun}). The request times out after {@link NOTIFY_TIMEOUT_MS}. A notification
 * that cannot be delivered — or a notification.md that cannot be written — is a warning (in the
 * journal and the report), never a failure: the rollback matters more than the message about it. Only the URL's origin is ever shown — a
 * webhook's path is its secret. Never destructive.
 */
import { z } from '#zod';
import { headState } from '../io/repo-state.js';
import { writeFileAtomic } from '../io/fs.js';
import type { StepContext, StepKind, StepResult } from './types.js';
import { recordPath, renderTemplate, repoRelative, scopeOf } from './common.js';

const schema = z.object({ template: z.string().min(1).optional() }).strict();
type With = z.infer<typeof schema>;

/** How long the webhook may take to answer (ms). */
export const NOTIFY_TIMEOUT_MS = 5000;

/** The branches a notification names. */
export interface BranchStatus {
  baseline: string;
  baselineOid: string | null;
  failedBranch: string | null;
  failedOid: string | null;
  backupBranch: string | null;
  retryBranch: string | null;
  recoveryBranch: string | null;
  /** where HEAD is now */
  current: string | null;
}

/** Everything a notification says; also `{{notification.*}}` in a custom template (lists joined as markdown). */
export interface NotificationFacts {
  title: string;
  severity: string;
  level: number | null;
  time: string;
  startedAt: string;
  elapsed: string;
  impact: string;
  reason: string;
  actions: string[];
  next: string[];
  branches: BranchStatus;
  snapshot: string | null;
  file: string;
}

/** The `run` object of the webhook payload. */
export interface WebhookRun {
  id: string;
  playbook: string;
  title: string;
  level: number | null;
  severity: string;
  startedAt: string;
  reason: string | null;
  cause: string | null;
  baseline: { name: string; oid: string | null };
  failedBranch: string | null;
  head: string | null;
  backupBranch: string | null;
  retryBranch: string | null;
  recoveryBranch: string | null;
  snapshot: string | null;
  steps: { succeeded: number; failed: number; skipped: number };
  /** notification.md (repository-relative), or null when it could not be written */
  notification: string | null;
}

const short = (oid: string | null | undefined) => (oid ? oid.slice(0, 12) : null);

/** The origin of a URL, for messages (the path of a webhook URL is a secret). */
export function urlOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(an invalid URL)';
  }
}

function branchOf(r: StepResult | undefined): string | null {
  return r && typeof r.branch === 'string' ? r.branch : null;
}

/** Backup / retry / recovery branches from the step results (by the level playbooks' ids, else by name). */
export function branchesFrom(results: Record<string, StepResult>): Pick<BranchStatus, 'backupBranch' | 'retryBranch' | 'recoveryBranch'> {
  const all = Object.values(results).map(branchOf).filter((b): b is string => b !== null);
  return {
    backupBranch: branchOf(results.backup) ?? all.find((b) => b.startsWith('backup/')) ?? null,
    retryBranch: branchOf(results.retry) ?? all.find((b) => /retry/.test(b)) ?? null,
    recoveryBranch: branchOf(results.recovery) ?? all.find((b) => b.startsWith('recovery/')) ?? null,
  };
}

function impactOf(ctx: StepContext, failedTests: number | null): string {
  const byLevel: Record<number, string> = {
    1: 'Full reset: the working copy was reset to the baseline. The work since then is kept in the snapshot (and a stash entry), not on the branch.',
    2: 'Sprint rolled back: work restarts from the baseline on a retry branch; the sprint\'s work is kept, committed, on a backup branch.',
    3: 'Selected files were restored from the baseline; every other change was kept as it was.',
  };
  const level = ctx.playbook.level;
  let text = (level && byLevel[level]) || ctx.playbook.description || `Playbook ${ctx.playbook.name} ran.`;
  if (failedTests !== null && failedTests > 0) text += ` ${failedTests} ${failedTests === 1 ? 'test was' : 'tests were'} failing.`;
  return text;
}

const MARK: Record<string, string> = { succeeded: '✔', failed: '✖', skipped: '↓' };

/** Gather what the notification says from the step context. */
export async function notificationFacts(ctx: StepContext, file: string): Promise<NotificationFacts> {
  const j = ctx.journal?.();
  const steps = j ? j.steps.filter((s) => s.status === 'succeeded' || s.status === 'failed' || s.status === 'skipped') : [];
  const actions = j
    ? steps.map((s) => `${MARK[s.status]} ${s.title}${s.status === 'succeeded' ? '' : ` — ${s.status}${s.error ? `: ${s.error}` : ''}`}`)
    : Object.keys(ctx.results).map((id) => `✔ ${id}`);
  // the branch HEAD is on, from what the run already knows when nothing moved HEAD since it last asked
  const cur = await headState(ctx.repo).then((h) => h.ref?.replace(/^refs\/heads\//, '') ?? null, () => null);
  const named = branchesFrom(ctx.results);
  const branches: BranchStatus = {
    baseline: ctx.baseline.name,
    baselineOid: short(ctx.baseline.oid),
    failedBranch: ctx.run.branch ?? null,
    failedOid: short(ctx.run.head),
    ...named,
    current: cur,
  };
  const snapshot = ctx.snapshotId ?? j?.snapshot ?? null;
  const failedTests = typeof ctx.results.tests?.failed === 'number' ? (ctx.results.tests.failed as number) : null;
  const next: string[] = [];
  if (snapshot) next.push(`\`rb undo ${ctx.run.id}\` puts everything back as it was before this run (snapshot ${snapshot})`);
  if (steps.some((s) => s.status === 'failed')) next.push(`\`rb show ${ctx.run.id}\` shows which step failed and why`);
  next.push(`\`rb analyze --run ${ctx.run.id}\` writes an analysis bundle: logs, test results, likely causes`);
  const rescue = named.backupBranch ?? branches.failedBranch;
  if (rescue) next.push(`\`rb recover ${rescue}\` carries the commits that were fine onto a recovery branch`);
  next.push('`rb check` before work restarts: the baseline\'s tests pass and a checkpoint is tagged');
  const elapsedMs = Date.now() - Date.parse(ctx.run.startedAt);
  return {
    title: ctx.playbook.title,
    severity: ctx.playbook.severity ?? 'unspecified',
    level: ctx.playbook.level ?? null,
    time: new Date().toISOString(),
    startedAt: ctx.run.startedAt,
    elapsed: `${(elapsedMs / 1000).toFixed(1)}s`,
    impact: impactOf(ctx, failedTests),
    reason: ctx.run.reason ?? 'no reason given (pass --reason next time)',
    actions,
    next,
    branches,
    snapshot,
    file,
  };
}

const code = (s: string | null, none = 'none') => (s ? `\`${s}\`` : none);

function branchLines(b: BranchStatus): string[] {
  return [
    `- **Safe baseline:** ${code(b.baseline)}${b.baselineOid ? ` at ${b.baselineOid}` : ''}`,
    `- **Failed branch:** ${code(b.failedBranch, '(detached HEAD)')}${b.failedOid ? ` at ${b.failedOid}` : ''}`,
    ...(b.backupBranch ? [`- **Backup branch (the failed work, committed):** ${code(b.backupBranch)}`] : []),
    ...(b.retryBranch ? [`- **Retry branch:** ${code(b.retryBranch)}`] : []),
    ...(b.recoveryBranch ? [`- **Recovery branch:** ${code(b.recoveryBranch)}`] : []),
    `- **HEAD is now on:** ${code(b.current, '(detached HEAD)')}`,
  ];
}

/** The default notification.md. */
export function renderNotification(n: NotificationFacts, runId: string): string {
  return [
    `# Rollback notification — ${n.title}`,
    '',
    `- **Severity:** ${n.severity}${n.level !== null ? ` (level ${n.level})` : ''}`,
    `- **Time:** ${n.time} (run ${runId} started ${n.startedAt}, ${n.elapsed} ago)`,
    `- **Impact:** ${n.impact}`,
    '',
    '## What happened',
    '',
    n.reason,
    '',
    '## Actions taken',
    '',
    ...(n.actions.length ? n.actions.map((a) => `- ${a}`) : ['- none recorded']),
    '',
    '## Branch status',
    '',
    ...branchLines(n.branches),
    '',
    '## Next steps',
    '',
    ...n.next.map((x) => `- ${x}`),
    '',
  ].join('\n');
}

/** Slack-compatible mrkdwn text: short, the essentials first. */
export function webhookText(n: NotificationFacts, runId: string, repoName: string): string {
  const b = n.branches;
  const branches = [
    `baseline \`${b.baseline}\``,
    b.failedBranch ? `failed \`${b.failedBranch}\`` : null,
    b.backupBranch ? `backup \`${b.backupBranch}\`` : null,
    b.retryBranch ? `retry \`${b.retryBranch}\`` : null,
    b.recoveryBranch ? `recovery \`${b.recoveryBranch}\`` : null,
  ].filter(Boolean).join(' · ');
  return [
    `*${n.title}* in ${repoName} — severity *${n.severity}*${n.level !== null ? ` (level ${n.level})` : ''}, run \`${runId}\``,
    `*What happened:* ${n.reason}`,
    `*Impact:* ${n.impact}`,
    `*Branches:* ${branches}`,
    `*Next:* ${n.next[0] ?? `rb show ${runId}`}`,
    `Details: ${n.file}`,
  ].join('\n');
}

export interface WebhookOutcome {
  ok: boolean;
  /** HTTP status when there was an answer */
  status?: number;
  /** why it failed */
  error?: string;
}

/**
 * POST `body` as JSON to `url`. Never throws: the outcome says what happened. Times out after
 * `timeoutMs`; `signal` (the run's interruption) also aborts it.
 */
export async function sendWebhook(url: string, body: unknown, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<WebhookOutcome> {
  const timeoutMs = opts.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'rb (rollback notifier)' },
      body: JSON.stringify(body),
      signal,
      redirect: 'error',
    });
    await res.arrayBuffer().catch(() => undefined); // drain, so the connection is released
    if (!res.ok) return { ok: false, status: res.status, error: `answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}` };
    return { ok: true, status: res.status };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (timeout.aborted) return { ok: false, error: `no answer within ${timeoutMs / 1000} s` };
    if (opts.signal?.aborted) return { ok: false, error: 'interrupted' };
    const why = err.cause?.code ?? err.cause?.message ?? err.message;
    return { ok: false, error: `could not connect (${why})` };
  }
}

function countSteps(ctx: StepContext): WebhookRun['steps'] {
  const steps = ctx.journal?.().steps ?? [];
  return {
    succeeded: steps.filter((s) => s.status === 'succeeded').length,
    failed: steps.filter((s) => s.status === 'failed').length,
    skipped: steps.filter((s) => s.status === 'skipped').length,
  };
}

export const notify: StepKind<With> = {
  kind: 'notify',
  summary: 'write notification.md in the run\'s folder; POST { text, run } to notify.webhook / RB_WEBHOOK_URL when set (a failure is a warning)',
  with: schema,
  destructive: false,
  rawWith: ['template'],
  templateRoots: ['notification'],
  describe(_w, ctx) {
    const out = [`write ${ctx.config.rollbacksDir}/${ctx.run.dir}/notification.md`];
    if (ctx.config.notify.webhook) out.push(`POST JSON { text, run } to ${urlOrigin(ctx.config.notify.webhook)} (webhook; ${NOTIFY_TIMEOUT_MS / 1000} s timeout; a failure is a warning)`);
    return out;
  },
  async run(w, ctx) {
    const abs = recordPath(ctx, `${ctx.run.dir}/notification.md`);
    const rel = repoRelative(ctx, abs);
    const n = await notificationFacts(ctx, rel);
    let text: string;
    if (w.template) {
      const scope = scopeOf(ctx);
      scope.notification = {
        ...n,
        actions: n.actions.map((a) => `- ${a}`).join('\n') || '- none recorded',
        next: n.next.map((x) => `- ${x}`).join('\n'),
        branches: branchLines(n.branches).join('\n'),
        ...Object.fromEntries(Object.entries(n.branches).map(([k, v]) => [k, v ?? 'none'])),
      };
      text = renderTemplate(w.template, scope);
    } else {
      text = renderNotification(n, ctx.run.id);
    }
    let written = true;
    try {
      writeFileAtomic(abs, text.endsWith('\n') ? text : `${text}\n`);
      ctx.reporter.output(`wrote ${rel}`);
    } catch (e) {
      // the rollback is done; a notification that cannot be written must not fail it
      written = false;
      ctx.reporter.warn(`could not write ${rel}: ${(e as Error).message}`);
    }

    const url = ctx.config.notify.webhook;
    const file = written ? rel : null;
    if (!url) return { file, notification: file, webhook: 'not configured' };
    const run: WebhookRun = {
      id: ctx.run.id,
      playbook: ctx.playbook.name,
      title: ctx.playbook.title,
      level: ctx.playbook.level ?? null,
      severity: n.severity,
      startedAt: ctx.run.startedAt,
      reason: ctx.run.reason ?? null,
      cause: ctx.run.cause ?? null,
      baseline: { name: ctx.baseline.name, oid: ctx.baseline.oid },
      failedBranch: n.branches.failedBranch,
      head: ctx.run.head ?? null,
      backupBranch: n.branches.backupBranch,
      retryBranch: n.branches.retryBranch,
      recoveryBranch: n.branches.recoveryBranch,
      snapshot: n.snapshot,
      steps: countSteps(ctx),
      notification: file,
    };
    const repoName = ctx.repo.root.split(/[\\/]/).filter(Boolean).pop() ?? ctx.repo.root;
    const outcome = await sendWebhook(url, { text: webhookText(n, ctx.run.id, repoName), run }, { signal: ctx.signal });
    const origin = urlOrigin(url);
    if (!outcome.ok) {
      ctx.reporter.warn(`the notification was not delivered to ${origin}: ${outcome.error}.${file ? ` It is in ${file};` : ''} check notify.webhook / RB_WEBHOOK_URL`);
      return { file, notification: file, webhook: 'failed', webhookError: outcome.error, webhookStatus: outcome.status ?? null };
    }
    ctx.reporter.output(`notified ${origin} (HTTP ${outcome.status})`);
    return { file, notification: file, webhook: 'sent', webhookStatus: outcome.status };
  },
};
