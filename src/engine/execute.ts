/**
 * The engine (architecture §1): request -> config -> playbook -> plan -> preflight -> confirm ->
 * lock -> journal "running" -> listr2 graph (each step journaled from inside its task) ->
 * records -> journal "succeeded" / "failed" / "interrupted".
 *
 * Going forward fails fast. A SIGINT lets the running step's git command finish, journals
 * `interrupted` and exits 130. Resume re-plans the same playbook with the same parameters and
 * skips the steps the journal says succeeded.
 */
import { hostname, userInfo } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ListrTask, ListrTaskWrapper } from 'listr2';
import { findRepo, type Repo } from '../repo.js';
import { loadConfig } from '../config/load.js';
import { loadPlaybook, loadPlaybookFile } from '../playbook/load.js';
import { buildPlan, flatten, formatPlan, interpolateWith, kindsUsed, mayRun, planScope, resolveParams, whenText, type Plan, type PlanStep } from '../playbook/plan.js';
import { evaluateWhen, interpolate } from '../playbook/interpolate.js';
import { kindsFor } from '../steps/index.js';
import type { PlanContext, StepContext, StepKind, StepResult } from '../steps/types.js';
import type { Config, Playbook } from '../types.js';
import { git, setRunTag, traceMark } from '../io/git.js';
import { onCommandSpawned } from '../io/exec.js';
import { refPositions, runTagOf } from '../journal/ref-effects.js';
import { blockers, processStartTicks, stopLeftoverProcesses } from '../journal/lifecycle.js';
import { tail } from '../io/exec.js';
import type { HeldLock } from '../journal/lock.js';
import { listRuns, readRun, unresolvedRuns, writeRun, effectiveStatus, pidAlive, type RunRecord, type StepRecord } from '../journal/journal.js';
import type { AuditLine } from '../records/audit.js';
import { InterruptedError, LockedError, PreconditionError, RbError, StepFailedError, UsageError } from '../errors.js';
import { resolveBaseline, missingBaselineError, type Baseline } from './baseline.js';
import { FAULTS, faultPoint, setCurrentStep } from './fault.js';
import { configValues, headState } from '../io/repo-state.js';
import { stampOf } from '../ui/format.js';
import { STAMP_MARK } from '../steps/common.js';

export interface RunRequest {
  /** playbook name (built-in or repository) */
  playbook: string;
  /** a playbook object given directly (internal runs such as undo) */
  playbookObject?: Playbook;
  sets?: string[];
  params?: Record<string, unknown>;
  cwd?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  reason?: string;
  cause?: string;
  force?: boolean;
  /** baseline override (--to / --from) */
  to?: string;
  /** leave entries this user cannot change where they are, instead of stopping (--skip-unwritable; default config skipUnwritable) */
  skipUnwritable?: boolean;
  /** the command line, for the journal and messages */
  command: string;
  /** extra fields for the run record (e.g. undoOf) */
  record?: Partial<RunRecord>;
  /** only plan: print and return */
  planOnly?: boolean;
  /** resume this run instead of starting a new one */
  resume?: RunRecord;
  /** on resume: steps to run again although they are not safe to repeat (`rb resume --retry`) */
  retry?: string[];
  /** on resume: steps to record as skipped and go on without (`rb resume --skip`) */
  skip?: string[];
  /** skip the unresolved-run check (abort / undo of that very run) */
  allowUnresolved?: string;
  /** print nothing on stdout (no renderer, no summary): internal runs inside another command's output */
  quiet?: boolean;
  /** a run id to use (internal) */
  runId?: string;
  /** extra values for the interpolation scope's `run` (e.g. the files list) */
  runExtra?: Record<string, unknown>;
  /** called after the plan is built and before anything runs (extra preflight; read-only) */
  preflight?: (ctx: PlanContext, plan: Plan) => Promise<void>;
  /**
   * What the command already looked up for the same cwd (so it is not done twice): the
   * repository, its configuration, the baseline (used when it is the one the run resolves), and
   * the playbook named `playbook`, being loaded (see preloadPlaybook).
   */
  prepared?: { repo: Repo; config?: Config; baseline?: Baseline; playbook?: Promise<Playbook> };
}

export interface RunOutcome {
  code: number;
  run?: RunRecord;
  plan?: Plan;
}

export { stampOf };

function makeRunId(repo: Repo, stamp: string, playbook: Playbook, params: Record<string, unknown>): string {
  const suffix = typeof params.sprint === 'number' ? `-${params.sprint}` : '';
  const base = `${stamp}-${playbook.name}${suffix}`;
  let id = base;
  for (let i = 2; readRun(repo, id) || existsSync(join(repo.commonDir, 'rb', 'runs', `${id}.json`)); i++) id = `${base}-${i}`;
  return id;
}

/** Does the playbook refer to the baseline (so it must resolve before anything runs)? */
function usesBaseline(playbook: Playbook): boolean {
  const text = JSON.stringify(playbook.steps);
  return /\{\{\s*(baseline|run\.baseline)/.test(text) || /"uses":"git\.(switch|reset-hard|restore-files|fetch)"/.test(text);
}



type Identity = { name: string | null; email: string | null };

/** user.name and user.email as `git config <key>` gives them (the last value wins), from the configuration rb reads once (io/repo-state.ts). */
async function gitIdentity(repo: Repo): Promise<Identity> {
  const cfg = await configValues(repo.root);
  return { name: cfg['user.name']?.trim() || null, email: cfg['user.email']?.trim() || null };
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** Refuse to start while a run that changed something is interrupted or failed (exit 4). */
export function assertNoUnresolved(repo: Repo, allow?: string): void {
  const open = blockers(unresolvedRuns(repo), allow ? (readRun(repo, allow) ?? undefined) : undefined);
  if (open.length) {
    const r = open[0]!;
    throw new LockedError(`run ${r.id} (${r.playbook}) is ${effectiveStatus(r)} part-way: it must be resumed or aborted first.`, {
      next: `run \`rb resume ${r.id}\` to finish it, or \`rb abort ${r.id}\` to put everything back as it was before it`,
    });
  }
}

/**
 * Start loading a playbook, and the modules of the step kinds it uses, for a command that asks
 * git other questions first: the modules load while git answers. Pass the result as
 * `prepared.playbook`; its errors surface when the engine awaits it, as they would have.
 */
export function preloadPlaybook(root: string, name: string): Promise<Playbook> {
  const loading = loadPlaybook(root, name);
  loading.then((pb) => kindsFor(kindsUsed(pb))).catch(() => undefined);
  return loading;
}

/** Start the read-only questions the plan's steps will ask (StepKind.readAhead); their answers wait in the command's memo. */
function readAhead(ctx: PlanContext, plan: Plan, kinds: Record<string, StepKind<any>>): void {
  for (const ps of flatten(plan.steps)) {
    const ask = ps.children ? undefined : kinds[ps.kind]?.readAhead;
    if (ask && mayRun(ps.when, ctx)) ask(ps.with, ctx).catch(() => undefined);
  }
}

/** Build everything a run needs without changing anything. */
export async function prepare(req: RunRequest): Promise<{ repo: Repo; config: Config; playbook: Playbook; ctx: PlanContext; plan: Plan; kinds: Record<string, StepKind<any>>; baseline: Baseline; identity?: Promise<Identity> }> {
  const repo = req.prepared?.repo ?? findRepo(req.cwd);
  // the journal's user, asked for now (read-only) so git answers while the rest is prepared
  const identity = req.planOnly || req.dryRun || req.resume ? undefined : gitIdentity(repo);
  identity?.catch(() => undefined); // awaited by execute; no unhandled rejection if preparing fails
  // the playbook, and the modules of the step kinds it uses, load while the configuration is read
  // (the configuration's errors are still the ones said first)
  const playbookLoading = req.playbookObject ?? (req.resume?.inline as Playbook | undefined) ?? (req.resume ? loadPlaybookFile(req.resume.playbookFile, req.resume.playbookSource === 'repository' ? 'repository' : 'built-in') : (req.prepared?.playbook ?? loadPlaybook(repo.root, req.playbook)));
  Promise.resolve(playbookLoading).then((pb) => kindsFor(kindsUsed(pb))).catch(() => undefined);
  const config = req.prepared?.config ?? (await loadConfig(repo.root)).config;
  const playbook = await playbookLoading;
  // only the step kinds this playbook uses (loading since the playbook was read); they are ready once git answers the queries below
  const kindsLoading = kindsFor(kindsUsed(playbook));
  kindsLoading.catch(() => undefined); // awaited below; no unhandled rejection if something throws first
  // a run (not a plan): what its steps load only to run (the snapshot code) loads while git answers too
  if (!req.planOnly && !req.dryRun) kindsLoading.then((ks) => { for (const k of Object.values(ks)) k.preload?.().catch(() => undefined); }, () => undefined);
  const params = req.resume ? req.resume.params : resolveParams(playbook, req.sets ?? [], req.params ?? {});
  const baselineName = req.resume?.baseline.name ?? req.to ?? config.baseline;
  const known = req.prepared?.baseline;
  const [baseline, head] = await Promise.all([
    known && known.name === baselineName ? known : resolveBaseline(repo, baselineName, config.remote),
    req.resume ? req.resume.head.before : headState(repo),
  ]);
  const started = req.resume ? new Date(req.resume.startedAt) : new Date();
  // a plan is not a run: its stamp (and so its run id and records folder) is known when one starts
  const stamp = req.resume?.stamp ?? (req.planOnly ? STAMP_MARK : stampOf(started));
  const id = req.resume?.id ?? req.runId ?? makeRunId(repo, stamp, playbook, params);
  let dir = req.resume?.runDir ?? `${playbook.name}-${stamp}`;
  if (!req.resume && playbook.records) {
    try {
      dir = interpolate(playbook.records, { params, run: { id, stamp, baselineName: baselineName }, config });
    } catch (e) {
      throw new UsageError(`playbook ${playbook.name}: records "${playbook.records}" cannot be filled in: ${(e as Error).message}`, {
        next: `records may read params, config, run.id, run.stamp and run.baselineName; fix ${playbook.file}`,
      });
    }
    if (!dir || dir.includes('..') || dir.startsWith('/')) throw new UsageError(`playbook ${playbook.name}: records "${dir}" must be a folder name inside ${config.rollbacksDir}/`, { next: `fix records: in ${playbook.file}` });
  }
  const ctx: PlanContext = {
    repo,
    config,
    playbook,
    run: {
      id,
      stamp,
      dir,
      startedAt: started.toISOString(),
      reason: req.resume?.reason ?? req.reason,
      cause: req.resume?.cause ?? req.cause ?? playbook.cause,
      branch: head.ref ? head.ref.replace(/^refs\/heads\//, '') : null,
      head: head.oid,
      skipUnwritable: req.resume ? Boolean(req.resume.skipUnwritable) : Boolean(req.skipUnwritable ?? config.skipUnwritable),
      ...(req.runExtra ?? {}),
    },
    baseline: { name: baseline.name, ref: baseline.ref, oid: baseline.oid, remoteRef: baseline.remoteRef },
    params,
    dryRun: Boolean(req.dryRun || req.planOnly),
  };
  const kinds = await kindsLoading;
  const plan = buildPlan(playbook, ctx, kinds);
  return { repo, config, playbook, ctx, plan, kinds, baseline, identity };
}

function printOut(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

/** `rb plan` / `--dry-run`: print the plan, change nothing. */
export async function planOnly(req: RunRequest): Promise<RunOutcome> {
  const { plan, playbook, baseline, config, ctx, kinds } = await prepare({ ...req, planOnly: true });
  const warnings: string[] = [];
  if (usesBaseline(playbook) && !baseline.oid) warnings.push(missingBaselineError(baseline, config.remote).message);
  else if (plan.destructive) warnings.push(...(await (await import('./in-the-way-plan.js')).inTheWayWarnings(ctx, plan, kinds, req.command)));
  if (req.json) printOut(JSON.stringify({ plan, dryRun: Boolean(req.dryRun), warnings }, null, 2));
  else {
    printOut(formatPlan(plan));
    for (const w of warnings) printOut(`\nwarning: ${w}`);
    if (req.dryRun) printOut('\n[dry run] nothing was changed.');
  }
  return { code: 0, plan };
}

/** Ask before a destructive or gated run (prompts only before the graph starts; style.md 9). */
async function confirmRun(req: RunRequest, plan: Plan): Promise<void> {
  if (!(plan.destructive || plan.gated) || req.yes) return;
  if (!process.stdin.isTTY || req.json) {
    // the user's own command line, so the suggestion keeps their --set values and flags
    const again = `rb ${process.argv.slice(2).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`;
    const why = plan.destructive ? 'changes the working copy' : 'has an approval gate';
    throw new UsageError(`${plan.playbook.name} ${why} and stdin is not a terminal, so rb cannot ask for confirmation.`, {
      // internal playbooks (undo, abort) have no file `rb plan` could find: they preview with --dry-run
      next: `preview it with \`${req.playbookObject ? `${again} --dry-run` : `rb plan ${plan.playbook.name}`}\`, then run \`${again} --yes\``,
    });
  }
  const { confirm } = await import('@inquirer/prompts');
  process.stdout.write(formatPlan(plan) + '\n\n');
  const ok = await confirm({ message: `Run ${plan.playbook.title}? A snapshot is taken first; \`rb undo\` puts everything back.`, default: false });
  if (!ok) throw new PreconditionError('cancelled; nothing was changed.', { next: `run \`${req.command}\` again when ready` });
  for (const s of flatten(plan.steps)) {
    if (!s.confirm) continue;
    const yes = await confirm({ message: s.confirm, default: false });
    if (!yes) throw new PreconditionError(`not approved: ${s.confirm}; nothing was changed.`, { next: `run \`${req.command}\` again when ready` });
  }
}

function stepRecords(steps: PlanStep[], kinds: Record<string, StepKind<any>>, group?: string): StepRecord[] {
  const out: StepRecord[] = [];
  for (const s of steps) {
    out.push({ id: s.id, title: s.title, kind: s.kind, group, destructive: s.destructive, status: 'pending', planned: s.commands, ...(s.children ? {} : { rerunnable: isRerunnable(kinds[s.kind], s.with) }) });
    if (s.children) out.push(...stepRecords(s.children, kinds, s.id));
  }
  return out;
}

/** The run's reflog tag and process journaling end with the run (an undo inside guard starts its own). */
function endRunContext(): void {
  setRunTag(null);
  onCommandSpawned(null);
}

/** Stop what the named runs left running, for those whose rb process is dead. */
async function stopProcessesOfDeadRuns(repo: Repo, ids: (string | undefined)[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of new Set(ids.filter((x): x is string => Boolean(x)))) {
    const r = readRun(repo, id);
    if (r && !(r.host === hostname() && r.status === 'running' && pidAlive(r.pid))) out.push(...(await stopLeftoverProcesses(r)));
  }
  return out;
}

/** Can a kind's step be run again after an attempt that started (and maybe did part of its work)? */
function isRerunnable(kind: StepKind<any> | undefined, w: Record<string, unknown>): boolean {
  if (!kind) return false;
  const r = kind.rerunnable ?? true;
  return typeof r === 'function' ? r(w) : r;
}

/**
 * Resume goes on from where the run stopped, but never repeats damage: a step that started and
 * is not safe to run again (a destructive `exec`: the user's own command) is run again only with
 * `--retry <step>`, or passed over with `--skip <step>`. Checked before anything changes (exit 3).
 */
function assertResumable(run: RunRecord, plan: Plan, kinds: Record<string, StepKind<any>>, req: RunRequest): void {
  const steps = flatten(plan.steps);
  for (const id of [...(req.retry ?? []), ...(req.skip ?? [])]) {
    const rec = run.steps.find((s) => s.id === id);
    if (!rec || steps.find((s) => s.id === id)?.children) {
      throw new UsageError(`run ${run.id} has no step "${id}".`, { next: `its steps: ${run.steps.filter((s) => !steps.find((p) => p.id === s.id)?.children).map((s) => s.id).join(', ')} (\`rb show ${run.id}\`)` });
    }
    if (rec.status === 'succeeded') throw new UsageError(`step ${id} of run ${run.id} already succeeded: there is nothing to ${req.skip?.includes(id) ? 'skip' : 'retry'}.`, { next: `rb resume ${run.id}` });
  }
  for (const ps of steps) {
    if (ps.children) continue;
    const rec = run.steps.find((s) => s.id === ps.id);
    if (!rec || (rec.status !== 'running' && rec.status !== 'failed') || req.retry?.includes(ps.id) || req.skip?.includes(ps.id)) continue;
    if (isRerunnable(kinds[ps.kind], ps.with)) continue;
    throw new PreconditionError(`step ${ps.id} of run ${run.id} (${ps.commands[0] ?? ps.kind}) was started before and may have done part of its work; rb does not run it again on its own. Nothing was changed.`, {
      next: `\`rb resume ${run.id} --retry ${ps.id}\` runs it again, \`rb resume ${run.id} --skip ${ps.id}\` goes on without it, \`rb abort ${run.id}\` puts everything back`,
    });
  }
}

/** `rb resume --skip <step>`: the step is journaled as skipped at the user's request. */
function skipByRequest(run: RunRecord, id: string): void {
  const rec = run.steps.find((s) => s.id === id);
  if (!rec) return;
  rec.status = 'skipped';
  rec.skippedByUser = true;
  rec.endedAt = new Date().toISOString();
  run.warnings.push(`step ${id} was skipped at the user's request (rb resume --skip ${id})${rec.error ? `; it had failed: ${rec.error.split('\n')[0]}` : ''}`);
}

/**
 * What only a run needs, not a plan (`--dry-run`, `rb plan` load none of it:
 * test/dependencies.test.ts): started before prepare() so it loads while git answers.
 */
async function runModules() {
  const [preflight, lock, leftovers, audit, exclude, signals, terminal, listr] = await Promise.all([
    import('./preflight.js'), import('../journal/lock.js'), import('../journal/leftovers.js'), import('../records/audit.js'),
    import('../records/exclude.js'), import('./signals.js'), import('../ui/terminal.js'), import('listr2'),
    // the run's shared record, written at its end (shareRecord): loaded now, not after the run
    import('../records/share.js'), import('../records/git-records.js'),
  ]);
  const { assertInTheWayHeld } = await import('./in-the-way-plan.js');
  return { ...preflight, ...lock, ...leftovers, ...audit, ...exclude, ...signals, ...terminal, Listr: listr.Listr, assertInTheWayHeld };
}

export async function execute(req: RunRequest): Promise<RunOutcome> {
  if (req.planOnly || req.dryRun) return planOnly(req);
  const loading = runModules();
  loading.catch(() => undefined); // awaited below; no unhandled rejection if preparing fails
  const prep = await prepare(req);
  const {
    assertCanChange, assertDiskForSnapshot, assertInTheWayHeld, assertNoGitOperation, assertNoIndexLock, assertRollbacksWritable,
    acquireLock, cleanUpAfterDeadRuns, appendAudit, ensureExcluded, dieBySignal, listrRendererOptions, Listr,
  } = await loading;
  const { repo, config, playbook, ctx, plan, kinds, baseline } = prep;

  // ---- preflight: read-only; any failure -> exit 3, nothing changed ----------------------
  if (!req.resume) readAhead(ctx, plan, kinds);
  if (!req.resume) assertNoUnresolved(repo, req.allowUnresolved);
  if (usesBaseline(playbook) && !baseline.oid) throw missingBaselineError(baseline, config.remote);
  assertRollbacksWritable(repo, config.rollbacksDir);
  const all = flatten(plan.steps);
  if (plan.destructive && !req.resume) {
    assertNoGitOperation(repo, Boolean(req.force), req.command);
    assertNoIndexLock(repo);
  }
  if (all.some((s) => s.kind === 'snapshot') && !req.resume) await assertDiskForSnapshot(repo, config.snapshots.maxIgnoredBytes);
  if (plan.destructive && !req.resume) await assertCanChange(ctx, plan, kinds, req.command);
  if (plan.destructive && !req.resume) await assertInTheWayHeld(ctx, plan, kinds, req.command);
  if (req.preflight && !req.resume) await req.preflight(ctx, plan);
  if (req.resume) assertResumable(req.resume, plan, kinds, req);
  if (!req.resume) await confirmRun(req, plan);

  // ---- lock + journal ---------------------------------------------------------------------
  const lock: HeldLock = acquireLock(repo, ctx.run.id, req.command);
  if (FAULTS) faultPoint('lock');
  const warnings = cleanUpAfterDeadRuns(repo, lock, ctx.run.id);
  // a dead run's commands (an npm ci it started) die before anything of this run starts
  warnings.push(...(await stopProcessesOfDeadRuns(repo, [lock.tookOver?.runId, req.resume?.id, req.record?.undoOf])));
  if (!req.quiet) for (const w of warnings) process.stderr.write(`rb: ${w}\n`);
  let run: RunRecord;
  if (req.resume) {
    run = { ...req.resume, status: 'running', pid: process.pid, host: hostname() };
    // `warnings` holds this start's own (e.g. the stale lock it took over): report them on resume too
    run.warnings = [...(run.warnings ?? []), `resumed at ${new Date().toISOString()}`, ...warnings];
    delete run.error;
    for (const id of req.skip ?? []) skipByRequest(run, id);
  } else {
    const [identity, refsBefore] = await Promise.all([prep.identity ?? gitIdentity(repo), refPositions(repo)]);
    run = {
      version: 1,
      id: ctx.run.id,
      playbook: playbook.name,
      playbookFile: playbook.file,
      playbookSource: req.playbookObject ? 'internal' : playbook.source,
      title: playbook.title,
      level: playbook.level,
      severity: playbook.severity,
      target: playbook.target,
      params: ctx.params,
      reason: req.reason,
      cause: ctx.run.cause,
      status: 'running',
      dryRun: false,
      pid: process.pid,
      host: hostname(),
      user: { ...identity, os: osUser() },
      startedAt: ctx.run.startedAt,
      root: repo.root,
      gitDir: repo.gitDir,
      stamp: ctx.run.stamp,
      runDir: ctx.run.dir,
      baseline: ctx.baseline,
      head: { before: { ref: ctx.run.branch ? `refs/heads/${ctx.run.branch}` : null, oid: ctx.run.head ?? null } },
      refs: { before: refsBefore },
      snapshot: null,
      steps: stepRecords(plan.steps, kinds),
      warnings,
      argv: process.argv.slice(2),
      changed: false,
      ...(ctx.run.skipUnwritable ? { skipUnwritable: true } : {}),
      // internal playbooks have no file; a repository's may be removed or changed by the run
      // itself (a reset to a baseline without it): resume re-plans from the playbook it started with
      ...(req.playbookObject ? { inline: req.playbookObject } : playbook.source === 'repository' ? { inline: playbook } : {}),
      ...(req.record ?? {}),
    };
  }
  /** write the journal; what a power cut must leave of each write: io/fs.ts WriteKind */
  const journal = (kind: 'write-ahead' | 'whole' = 'whole') => writeRun(repo, run, kind);
  // from here every ref the run moves carries its reflog tag, and every command it starts is journaled
  setRunTag(runTagOf(run.id));
  let activeStep: string | undefined;
  onCommandSpawned((pid, argv) => {
    (run.processes ??= []).push({ pgid: pid, startTicks: processStartTicks(pid), command: argv.join(' ').slice(0, 200), step: activeStep, startedAt: new Date().toISOString() });
    try { journal(); } catch { /* the next journal write records it */ }
  });
  try {
    journal();
    // before any step writes there: rollbacks/ is ignored (unless tracked), so clean, status and WIP commits leave it alone
    ensureExcluded(repo, config.rollbacksDir);
  } catch (e) {
    endRunContext();
    lock.release();
    throw e;
  }

  // ---- interruption -------------------------------------------------------------------------
  const abort = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      // second Ctrl-C: stop now; the journal already says where we are
      run.status = 'interrupted';
      run.endedAt = new Date().toISOString();
      try { journal('write-ahead'); } catch { /* nothing more to do */ }
      endRunContext();
      lock.release();
      process.stderr.write(`\nrb: interrupted. Run \`rb abort ${run.id}\` to put everything back, or \`rb resume ${run.id}\` to finish it.\n`);
      dieBySignal('SIGINT');
      return;
    }
    interrupted = true;
    abort.abort(new InterruptedError('interrupted'));
    if (!req.json) process.stderr.write('\nrb: interrupt received: letting the current git command finish, then stopping (Ctrl-C again to stop now)\n');
  };
  const onSigterm = () => onSigint();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  const results: Record<string, StepResult> = {};
  // (a resumed run: what the steps that finished journaled; never their `transient` values)
  for (const s of run.steps) if (s.status === 'succeeded' && s.result) results[s.id] = s.result as StepResult;

  const recordOf = (id: string) => run.steps.find((s) => s.id === id)!;
  /** the step whose failure stopped the run (not one that failed with continueOnError) */
  let fatalStep: string | undefined;

  const runStep = async (ps: PlanStep, task: ListrTaskWrapper<any, any, any>): Promise<void> => {
    const rec = recordOf(ps.id);
    if (interrupted) throw new InterruptedError('interrupted');
    if (rec.status === 'succeeded') {
      task.skip(`${ps.title} (done before resume)`);
      return;
    }
    if (rec.status === 'skipped' && rec.skippedByUser) {
      task.skip(`${ps.title} (skipped: rb resume --skip ${ps.id})`);
      return;
    }
    const scope = planScope(ctx, results);
    if (ps.when !== undefined) {
      let go: boolean;
      try {
        go = evaluateWhen(ps.when, scope);
      } catch (e) {
        go = false;
        run.warnings.push(`step ${ps.id}: when "${ps.when}" could not be evaluated (${(e as Error).message}); skipped`);
      }
      if (!go) {
        rec.status = 'skipped';
        rec.endedAt = new Date().toISOString();
        journal();
        task.skip(`${ps.title} (skipped: ${whenText(ps.when, scope, false)})`);
        return;
      }
    }
    traceMark(`step ${ps.id} starts`);
    const kind = kinds[ps.kind]!;
    let w = ps.with;
    if (ps.deferred) {
      let problem: string | null = null;
      try {
        w = interpolateWith(ps.with, scope, false, kind.rawWith).value;
        const parsed = kind.with.safeParse(w);
        if (!parsed.success) problem = parsed.error.issues.map((i) => `${i.path.join('.') || 'with'}: ${i.message}`).join('; ');
        else w = parsed.data as Record<string, unknown>;
      } catch (e) {
        problem = (e as Error).message;
      }
      if (problem !== null) {
        // journaled as this step's failure (not left pending), like any other step error
        rec.status = 'failed';
        rec.error = `step ${ps.id}: ${problem}`;
        rec.startedAt = rec.endedAt = new Date().toISOString();
        journal();
        if (ps.continueOnError) {
          run.warnings.push(`step ${ps.id} failed and the playbook continues: ${problem}`);
          task.title = `${ps.title} (failed, continuing: ${problem})`;
          return;
        }
        fatalStep ??= ps.id;
        throw new StepFailedError(rec.error);
      }
    }
    const previous = rec.result as StepResult | undefined;
    rec.status = 'running';
    rec.startedAt = new Date().toISOString();
    rec.attempts = (rec.attempts ?? 0) + 1;
    delete rec.error;
    if (ps.destructive || kind.mutates) run.changed = true;
    // a step that changes the repository, or that cannot be run again, starts only once the
    // journal saying so (and the snapshot before it) would survive a power cut; so do the facts
    // it checkpoints on the way (a restore's safety snapshot). Other steps are rerun from the
    // last such entry if a power cut loses their progress.
    const stepWrite = ps.destructive || kind.mutates || rec.rerunnable === false ? 'write-ahead' : 'whole';
    journal(stepWrite);
    setCurrentStep(ps.id);
    activeStep = ps.id;
    if (FAULTS) faultPoint(`before:${ps.id}`);
    const started = Date.now();
    const stepWarnings: string[] = [];
    const sctx: StepContext = {
      ...ctx,
      reporter: {
        output: (l) => {
          task.output = l;
        },
        warn: (l) => {
          stepWarnings.push(l);
          run.warnings.push(`${ps.id}: ${l}`);
          task.output = `warning: ${l}`;
        },
        title: (t) => {
          task.title = t;
        },
      },
      results,
      snapshotId: run.snapshot,
      signal: abort.signal,
      timeoutMs: ps.timeoutMs,
      previous,
      stepId: ps.id,
      journal: () => run,
      checkpoint: async (partial) => {
        rec.result = { ...(rec.result ?? {}), ...partial };
        // the first snapshot a run records is the state undo and abort return to, from the
        // moment it exists (a kill before the step ends must not lose it)
        if (typeof partial.snapshotId === 'string' && !run.snapshot) run.snapshot = partial.snapshotId;
        journal(stepWrite);
      },
    };
    try {
      const res = ((await kind.run(w, sctx)) ?? {}) as StepResult;
      rec.status = res.skipped ? 'skipped' : 'succeeded';
      const { transient, ...journaled } = res;
      rec.result = { ...(rec.result ?? {}), ...journaled };
      rec.commands = res.commands ?? ps.commands;
      rec.exitCode = res.exitCode;
      rec.outputTail = res.outputTail;
      results[ps.id] = { ...(rec.result as StepResult), ...(transient ? { transient } : {}) };
      if (res.snapshotId && !run.snapshot) run.snapshot = res.snapshotId;
      if (res.skipped) task.skip(`${ps.title} (${res.skipped})`);
    } catch (e) {
      const err = e as Error & { result?: StepResult };
      rec.status = 'failed';
      rec.error = err.message;
      if (err.result) {
        if (typeof err.result.snapshotId === 'string' && !run.snapshot) run.snapshot = err.result.snapshotId;
        const { transient: _t, ...journaled } = err.result;
        rec.result = { ...(rec.result ?? {}), ...journaled };
        rec.commands = err.result.commands ?? ps.commands;
        rec.exitCode = err.result.exitCode;
        rec.outputTail = err.result.outputTail;
        results[ps.id] = rec.result as StepResult;
      }
      rec.endedAt = new Date().toISOString();
      rec.durationMs = Date.now() - started;
      rec.warnings = stepWarnings.length ? stepWarnings : undefined;
      journal();
      if (ps.continueOnError && !(e instanceof InterruptedError)) {
        run.warnings.push(`step ${ps.id} failed and the playbook continues: ${err.message}`);
        task.title = `${ps.title} (failed, continuing: ${err.message.split('\n')[0]})`;
        return;
      }
      fatalStep ??= ps.id;
      throw e;
    }
    rec.endedAt = new Date().toISOString();
    rec.durationMs = Date.now() - started;
    rec.warnings = stepWarnings.length ? stepWarnings : undefined;
    journal();
    traceMark(`step ${ps.id} ends`);
    if (FAULTS) faultPoint(`after:${ps.id}`);
    // one turn of the event loop, so a Ctrl-C that arrived during the step is seen here even when
    // the next steps start no process (answers rb already knows need no git: io/repo-state.ts)
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (interrupted) throw new InterruptedError('interrupted');
  };

  const toTask = (ps: PlanStep): ListrTask => {
    if (ps.children) {
      return {
        title: ps.title,
        task: async (_c, task) => {
          const rec = recordOf(ps.id);
          if (rec.status === 'succeeded') return task.skip(`${ps.title} (done before resume)`);
          if (ps.when !== undefined) {
            let go: boolean;
            try {
              go = evaluateWhen(ps.when, planScope(ctx, results));
            } catch (e) {
              go = false;
              run.warnings.push(`group ${ps.id}: when "${ps.when}" could not be evaluated (${(e as Error).message}); skipped`);
            }
            if (!go) {
              for (const c of flatten([ps])) {
                const r = recordOf(c.id);
                r.status = 'skipped';
                r.endedAt = new Date().toISOString();
              }
              journal();
              return task.skip(`${ps.title} (skipped: ${whenText(ps.when, planScope(ctx, results), false)})`);
            }
          }
          rec.status = 'running';
          rec.startedAt = new Date().toISOString();
          journal();
          return task.newListr(ps.children!.map(toTask), { concurrent: ps.concurrent, exitOnError: !ps.continueOnError });
        },
      };
    }
    return { title: ps.title, task: (_c, task) => runStep(ps, task) };
  };
  const list = new Listr(plan.steps.map(toTask), {
    concurrent: false,
    exitOnError: true,
    registerSignalListeners: false,
    // the task tree on an interactive terminal; plain lines in CI, logs and 0-column terminals
    ...listrRendererOptions(Boolean(req.json || req.quiet)),
  } as any);

  let failure: unknown = null;
  try {
    await list.run();
  } catch (e) {
    failure = e;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    endRunContext();
  }
  // groups: their status follows their children
  for (const g of all.filter((s) => s.children)) {
    const rec = recordOf(g.id);
    const kids = flatten(g.children!).map((c) => recordOf(c.id));
    if (g.continueOnError && kids.some((k) => k.status === 'failed')) {
      run.warnings.push(`group ${g.id} continued past failed step(s): ${kids.filter((k) => k.status === 'failed').map((k) => `${k.id} (${k.error ?? 'failed'})`).join(', ')}`);
    }
    rec.status = kids.some((k) => k.status === 'failed') ? 'failed' : kids.every((k) => k.status === 'skipped') ? 'skipped' : kids.some((k) => k.status === 'running' || k.status === 'pending') ? rec.status : 'succeeded';
    rec.endedAt = rec.endedAt ?? new Date().toISOString();
  }

  const [refsAfter, headAfter] = await Promise.all([refPositions(repo).catch(() => ({})), headState(repo).catch(() => ({ ref: null, oid: null }))]);
  run.refs.after = refsAfter;
  run.head.after = headAfter;
  run.endedAt = new Date().toISOString();
  run.durationMs = Date.parse(run.endedAt) - Date.parse(run.startedAt);
  const isInterrupted = interrupted || failure instanceof InterruptedError;
  if (failure === null && !isInterrupted) run.status = 'succeeded';
  else if (isInterrupted) run.status = 'interrupted';
  else {
    run.status = 'failed';
    const failed = (fatalStep ? recordOf(fatalStep) : undefined) ?? [...run.steps].reverse().find((s) => s.status === 'failed');
    run.error = { message: (failure as Error)?.message ?? String(failure), step: failed?.id };
  }
  const report = Object.values(results).find((r) => typeof r.report === 'string')?.report as string | undefined;
  if (report) run.report = report;
  // the outcome rb is about to print must be what a power cut leaves
  journal('write-ahead');

  // ---- records --------------------------------------------------------------------------------
  let auditLine: AuditLine | null = null;
  try {
    auditLine = {
      at: run.endedAt,
      run_id: run.id,
      action: run.undoOf ? (run.playbook === 'abort' ? 'abort' : run.playbook === 'redo' ? 'redo' : 'undo') : req.resume ? 'resume' : 'run',
      playbook: run.playbook,
      result: run.status,
      duration_ms: run.durationMs ?? null,
      git_user: run.user.name,
      git_email: run.user.email,
      os_user: run.user.os,
      host: run.host,
      cwd: repo.root,
      reason: run.reason,
      cause: run.cause,
      snapshot: run.snapshot,
      undo_of: run.undoOf,
    };
    appendAudit(join(repo.root, config.rollbacksDir, 'audit.jsonl'), auditLine);
  } catch (e) {
    run.warnings.push(`could not write the audit line: ${(e as Error).message}`);
    journal();
  }
  lock.release();
  // the run's work is done and its lock released: its record as git objects, and the sync when
  // the team shares them (bounded by records.timeoutSeconds); problems are warnings, not journaled
  // (the success summary prints run.warnings; otherwise they go to stderr here)
  await shareRecord(repo, config, run, auditLine, run.status !== 'succeeded' || Boolean(req.json || req.quiet));

  // ---- outcome ----------------------------------------------------------------------------------
  if (req.json && !req.quiet) printOut(JSON.stringify({ run }, null, 2));
  if (isInterrupted) {
    throw new InterruptedError(`run ${run.id} was interrupted${run.snapshot ? ` (snapshot ${run.snapshot})` : ''}.`, {
      next: `run \`rb abort ${run.id}\` to put everything back, or \`rb resume ${run.id}\` to finish it`,
    });
  }
  if (run.status === 'failed') {
    const step = run.error?.step ? recordOf(run.error.step) : undefined;
    throw new StepFailedError(`run ${run.id} failed at step "${step?.id ?? '?'}": ${run.error?.message ?? ''}`.trim(), {
      details: step?.outputTail ? tail(step.outputTail, 10).split('\n') : undefined,
      next: run.changed
        ? `see \`rb show ${run.id}\`; then \`rb resume ${run.id}\` after fixing the cause, or \`rb abort ${run.id}\` to put everything back${run.snapshot ? ` (snapshot ${run.snapshot})` : ''}`
        : `see \`rb show ${run.id}\`; nothing in the repository was changed`,
    });
  }
  if (!req.json && !req.quiet) {
    const lines = [`\n✔ ${playbook.title}: run ${run.id} succeeded in ${((run.durationMs ?? 0) / 1000).toFixed(1)}s.`];
    const { undoFollowUps } = await import('../steps/undo-follow-ups.js');
    const followUps = undoFollowUps(run);
    // an undo or redo says what `rb undo` and `rb redo` do next itself (never "undo the undo")
    const chainStep = run.playbookSource === 'internal' && (run.playbook === 'undo' || run.playbook === 'redo');
    if (chainStep && run.snapshot) lines.push(`  snapshot: ${run.snapshot} — the state before this ${run.playbook}`);
    else if (run.snapshot && !followUps.length) lines.push(`  snapshot: ${run.snapshot} — undo everything with \`rb undo ${run.id}\``);
    else if (run.snapshot) lines.push(`  snapshot: ${run.snapshot} — \`rb undo ${run.id}\` puts back every file, but not the installed dependencies; after it:`, ...followUps.map((f) => `    ${f}`));
    if (run.report) lines.push(`  report: ${run.report}`);
    for (const w of run.warnings) lines.push(`  warning: ${w}`);
    printOut(lines.join('\n'));
  }
  return { code: 0, run, plan };
}

/** The run's shared record (records/share.ts), its warnings added to what the run prints. */
async function shareRecord(repo: Repo, config: Config, run: RunRecord, audit: AuditLine | null, echo: boolean): Promise<void> {
  const { recordRun, shareAfter } = await import('../records/share.js');
  const warnings = [...(await recordRun(repo, config, run, audit)), ...(await shareAfter(repo, config))];
  run.warnings.push(...warnings);
  if (echo) for (const w of warnings) process.stderr.write(`rb: warning: ${w}\n`);
}

export { RbError, listRuns };
