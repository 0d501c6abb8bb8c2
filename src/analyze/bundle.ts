/**
 * `rb analyze`: the analysis bundle that explains a failure (issue 5).
 *
 * Writes `<rollbacksDir>/analysis-<stamp>/` (or `--out <dir>`):
 *   git_reflog.txt, git_graph.txt, test_results.txt, coverage.txt, performance.txt,
 *   [build.txt when `build` is configured], dependencies.txt, disk_space.txt, memory.txt,
 *   environment.txt — one per collector (collectors.ts), each with a header saying the command,
 *   its result and how long it took;
 *   run.json (the run's journal), report.md (the run's report), run_test_output.txt (the test
 *   output the run saved) — for `--run <id>`, default the latest level run;
 *   analysis.md — timeline, test summary, likely causes with evidence, recommended actions.
 *   index.html — the metrics dashboard (analyze/dashboard-html.ts), led by this analysis's findings.
 * and archives the folder to `analysis-<stamp>.tar.gz` beside it (unless `archive: false`).
 *
 * The collectors run concurrently, each under a timeout; one that fails or times out is
 * recorded, never fatal. Nothing in the bundle may carry a secret: see redact.ts. rb changes
 * nothing in the repository: the configured test / coverage / performance / build commands run
 * in a checkout of the analysed state outside the working copy (workspace.ts: the kept worktree
 * of rb check), git queries are read-only, and only the bundle and its archive are written.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { findRepo, type Repo } from '../repo.js';
import { loadConfig } from '../config/load.js';
import { effectiveStatus, findRun, listRuns, type RunRecord } from '../journal/journal.js';
import { ensureExcluded } from '../records/exclude.js';
import { parseTestOutput } from '../records/test-output.js';
import { writeFileAtomic } from '../io/fs.js';
import { git } from '../io/git.js';
import { UsageError } from '../errors.js';
import type { Config } from '../types.js';
import {
  COLLECTOR_TIMEOUT_MS, defaultCollectors, fmtSeconds, runCollectors, runCollectorsSequentially, showCommand,
  type Collector, type CollectorResult,
} from './collectors.js';
import { gitFacts, latestLevelRun, lockfilePaths, runBranches, runTests, undoneLevelRunsAfter, type GitFacts } from './facts.js';
import { buildErrorLines, likelyCauses, type Cause, type CauseFacts, type TestsSeen } from './causes.js';
import { redactDeep, redactor, secretsOf, type Redactor } from './redact.js';
import { renderAnalysis, type AnalysisDoc } from './render.js';
import { openAnalysisWorkspace } from './workspace.js';
import { stampOf } from '../ui/format.js';

export interface AnalyzeOptions {
  /** where rb was started (default process.cwd()) */
  cwd?: string;
  /** run id or unique prefix (default: the latest level run) */
  run?: string;
  /** bundle folder (relative to cwd); default `<rollbacksDir>/analysis-<stamp>` */
  out?: string;
  /** write the .tar.gz (default true) */
  archive?: boolean;
  /** per-collector timeout in ms (default COLLECTOR_TIMEOUT_MS) */
  timeoutMs?: number;
  /** run the collectors one after another instead of concurrently (for the benchmark) */
  sequential?: boolean;
  /** the environment whose secret-looking values are redacted (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** replace the collectors (tests, benchmark) */
  collectors?: (config: Config) => Collector[];
  /** the time the bundle is stamped with (default now) */
  now?: Date;
}

/** A collector's result without its text, for --json and the caller. */
export type CollectorSummary = Omit<CollectorResult, 'text' | 'data'>;

export interface AnalyzeResult {
  /** the repository's top level */
  root: string;
  /** absolute path of the bundle folder */
  dir: string;
  /** absolute path of the .tar.gz, or null with archive: false */
  archive: string | null;
  /** files in the bundle (names) */
  files: string[];
  run: string | null;
  /** newer level runs that were undone, so not the subject (analyse one with --run <id>) */
  undoneSkipped: string[];
  collectors: CollectorSummary[];
  causes: Cause[];
  tests: TestsSeen[];
  actions: string[];
  /** wall time of the collectors, and the sum of their own times */
  wallMs: number;
  sumMs: number;
  concurrent: boolean;
}


/** 20261122-101502 (local time), like run stamps. */
export function analysisStamp(d: Date): string {
  return stampOf(d);
}

/** A path inside `base` that the journal names, or null when it escapes or is a .env file (never read). */
function safeRecordFile(base: string, root: string, rel: unknown): string | null {
  if (typeof rel !== 'string' || !rel) return null;
  const abs = resolve(root, rel);
  const r = relative(base, abs);
  if (r === '' || r.startsWith('..') || isAbsolute(r)) return null;
  if (/^\.env/i.test(basename(abs))) return null;
  try {
    return statSync(abs).isFile() ? abs : null;
  } catch {
    return null;
  }
}

/** Choose and create the bundle folder. */
function bundleDir(repo: Repo, config: Config, out: string | undefined, stamp: string): string {
  if (out) {
    const dir = resolve(repo.cwd, out);
    if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length)) {
      throw new UsageError(`--out ${out}: ${dir} already exists and is not an empty folder.`, {
        next: `pick a new folder (rb analyze --out ${out}-2) or leave --out out to write under ${config.rollbacksDir}/`,
      });
    }
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  const base = join(repo.root, config.rollbacksDir);
  let name = `analysis-${stamp}`;
  for (let i = 2; existsSync(join(base, name)) || existsSync(join(base, `${name}.tar.gz`)); i++) name = `analysis-${stamp}-${i}`;
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The collectors that run the user's configured commands (in the workspace). */
const COMMAND_COLLECTORS = new Set(['tests', 'coverage', 'performance', 'build']);

function header(c: CollectorResult, where: string | null): string {
  const result = c.status === 'ok' ? (c.exitCode !== null ? `ok (exit ${c.exitCode})` : 'ok') : `${c.status}: ${c.reason}`;
  return [
    `# rb analyze — ${c.file}: ${c.title}`,
    ...(c.command ? [`# command: ${c.command}`] : []),
    ...(where && COMMAND_COLLECTORS.has(c.name) && c.status !== 'skipped' ? [`# ran ${where}`] : []),
    `# result: ${result}`,
    `# started ${new Date(c.startedMs).toISOString()}, took ${fmtSeconds(c.durationMs)}`,
    '',
    '',
  ].join('\n');
}

/** Archive `dir` to `<dir>.tar.gz` (the folder is the archive's top entry); atomic. */
export async function archiveBundle(dir: string): Promise<string> {
  const { create } = await import('tar');
  const target = `${dir}.tar.gz`;
  const tmp = join(dirname(dir), `.${basename(dir)}.${process.pid}.tar.gz.tmp`);
  try {
    await create({ gzip: true, file: tmp, cwd: dirname(dir), portable: true }, [basename(dir)]);
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  return target;
}

/** Display name of a revision for evidence lines: "baseline (abc1234)". */
function sideName(name: string | null, oid: string | null | undefined): string {
  const short = oid ? oid.slice(0, 7) : null;
  if (name && short) return `${name} (${short})`;
  return name ?? short ?? 'unknown';
}

/**
 * Build the analysis bundle. Never fails because a collector failed; throws UsageError for a
 * --run that does not exist or an --out that is not empty.
 */
export async function analyze(opts: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const repo = findRepo(opts.cwd);
  const { config } = await loadConfig(repo.root, opts.env ?? process.env);
  const now = opts.now ?? new Date();
  const stamp = analysisStamp(now);

  let run: RunRecord | null;
  /** newer level runs left aside because they were undone */
  let passedOver: string[];
  if (opts.run) {
    run = findRun(repo, opts.run);
    if (!run) throw new UsageError(`no run "${opts.run}" in this repository.`, { next: 'run `rb history` to list runs, then `rb analyze --run <id>`' });
    passedOver = [];
  } else {
    const runs = listRuns(repo);
    run = latestLevelRun(runs);
    passedOver = undoneLevelRunsAfter(runs, run).map((r) => r.id);
  }

  const extra = config.notify.webhook ? [{ name: 'notify.webhook', value: config.notify.webhook }] : [];
  const secrets = secretsOf(opts.env ?? process.env, extra);
  const clean: Redactor = redactor(secrets);

  const dir = bundleDir(repo, config, opts.out, stamp);
  const rollbacksBase = join(repo.root, config.rollbacksDir);
  if (!relative(rollbacksBase, dir).startsWith('..') && !isAbsolute(relative(rollbacksBase, dir))) {
    try { ensureExcluded(repo, config.rollbacksDir); } catch { /* the bundle is still written */ }
  }

  // ---- the facts: collectors and git queries, all at once -----------------------------------
  const branches = run ? runBranches(run) : null;
  // the run's recorded baseline commit; without a run the configured baseline, local or remote
  const baselineRevs = run
    ? [run.baseline.oid, run.baseline.ref, run.baseline.remoteRef]
    : [config.baseline, config.remote ? `refs/remotes/${config.remote}/${config.baseline}` : null];
  const failedRev = branches?.failedOid ?? null; // null: the working tree as it is
  const collectors = (opts.collectors ?? defaultCollectors)(config);
  // the user's commands run in a checkout of the analysed state, never in the working copy
  const needsCommands = Boolean(config.test || config.coverage || config.performance || config.build);
  const workspace = needsCommands ? await openAnalysisWorkspace(repo, config, new AbortController().signal) : null;
  const cctx = { root: repo.root, config, commandsRoot: workspace?.path ?? null, commandsProblem: workspace?.problem ?? null };
  const started = Date.now();
  const [results, facts] = await Promise.all([
    (async () => {
      const r = opts.sequential
        ? await runCollectorsSequentially(collectors, cctx, { timeoutMs: opts.timeoutMs ?? COLLECTOR_TIMEOUT_MS })
        : await runCollectors(collectors, cctx, { timeoutMs: opts.timeoutMs ?? COLLECTOR_TIMEOUT_MS });
      return { r, wallMs: Date.now() - started };
    })(),
    gitFacts(repo.root, baselineRevs, failedRev, lockfilePaths(config.install)).catch((): GitFacts => ({ baseline: null, failed: null, lockfileChanges: null, diff: null })),
  ]);
  await workspace?.release();
  const collected = results.r;
  for (const c of collected) {
    c.text = clean(c.text);
    c.reason = c.reason === null ? null : clean(c.reason);
    c.command = c.command === null ? null : clean(c.command);
  }

  // ---- write the collectors' files --------------------------------------------------------------
  const files: string[] = [];
  for (const c of collected) {
    writeFileAtomic(join(dir, c.file), header(c, workspace ? clean(workspace.where) : null) + (c.text || (c.status === 'ok' ? '(no output)\n' : `(${c.reason})\n`)));
    files.push(c.file);
  }

  // ---- the run's own records ----------------------------------------------------------------------
  const extraFiles: { file: string; title: string }[] = [];
  const rt = run ? runTests(run) : null;
  let runTestOutput: string | null = null;
  if (run) {
    writeFileAtomic(join(dir, 'run.json'), clean(JSON.stringify(redactDeep(run, clean), null, 2)) + '\n');
    extraFiles.push({ file: 'run.json', title: `the journal of run ${run.id}` });
    const report = safeRecordFile(rollbacksBase, repo.root, run.report);
    if (report) {
      writeFileAtomic(join(dir, 'report.md'), clean(readFileSync(report, 'utf8')));
      extraFiles.push({ file: 'report.md', title: `the run's report (${relative(repo.root, report)})` });
    }
    const testFile = safeRecordFile(rollbacksBase, repo.root, rt?.file);
    if (testFile) {
      runTestOutput = clean(readFileSync(testFile, 'utf8'));
      writeFileAtomic(join(dir, 'run_test_output.txt'), runTestOutput);
      extraFiles.push({ file: 'run_test_output.txt', title: `the test output the run saved (${relative(repo.root, testFile)})` });
    }
  }
  files.push(...extraFiles.map((x) => x.file));

  // ---- reasoning ----------------------------------------------------------------------------------
  const byName = new Map(collected.map((c) => [c.name, c]));
  const testsNow = byName.get('tests');
  const tests: TestsSeen[] = [];
  if (rt) {
    tests.push({
      label: `at the rollback (run ${run!.id})`,
      summary: {
        framework: (rt.framework ?? 'unknown') as TestsSeen['summary']['framework'], passed: rt.passed, failed: rt.failed, failures: rt.failures.map(clean),
        loadFailures: rt.loadFailures, errors: rt.errors.map((e) => ({ ...e, message: clean(e.message) })),
      },
      exitCode: rt.exitCode,
      notRun: rt.notRun ? { message: clean(rt.notRun.message), next: rt.notRun.next } : null,
      command: rt.command ? clean(rt.command) : null,
    });
  }
  if (testsNow?.status === 'timeout') {
    tests.push({
      label: 'now (test_results.txt)', summary: { framework: 'unknown', passed: null, failed: null, failures: [] }, exitCode: null,
      notRun: { message: testsNow.reason ?? 'timed out', next: `run \`${config.test ? showCommand(config.test) : 'the test command'}\` by hand to see how long it takes and where it hangs` },
      command: config.test ? showCommand(config.test) : null,
    });
  } else if (testsNow && testsNow.status !== 'skipped') {
    const outcome = testsNow.data as { outcome?: string; outcomeMessage?: string; next?: string | null };
    const notRun = outcome.outcome && outcome.outcome !== 'ok' && outcome.outcome !== 'failed'
      ? { message: outcome.outcomeMessage ?? outcome.outcome, next: outcome.next ?? null }
      : null;
    tests.push({ label: 'now (test_results.txt)', summary: parseTestOutput(testsNow.text), exitCode: testsNow.exitCode, notRun, command: testsNow.command });
  }
  const outputs: CauseFacts['outputs'] = [];
  if (runTestOutput !== null) outputs.push({ source: 'run_test_output.txt', text: runTestOutput });
  else if (rt?.outputTail) outputs.push({ source: 'run.json (tests)', text: clean(rt.outputTail) });
  if (testsNow?.text) outputs.push({ source: 'test_results.txt', text: testsNow.text });
  const build = byName.get('build');
  if (build?.text) outputs.push({ source: 'build.txt', text: build.text });

  const deps = byName.get('dependencies');
  const listings = (Array.isArray(deps?.data.listings) ? deps!.data.listings : []) as CauseFacts['dependencyProblems'];
  const baselineName = sideName(run?.baseline.name ?? config.baseline, facts.baseline?.oid);
  const failedBranchName = branches?.backupBranch ?? branches?.failedBranch ?? null;
  const failedName = run ? sideName(failedBranchName, facts.failed?.oid) : 'the working tree';
  const causes = likelyCauses({
    baselineName,
    failedName,
    baselineRev: facts.baseline ? facts.baseline.oid.slice(0, 12) : null,
    failedRev: run && facts.failed ? facts.failed.oid.slice(0, 12) : null,
    lockfileChanges: facts.lockfileChanges,
    dependencyProblems: listings.map((l) => ({ ...l, problems: l.problems.map(clean) })),
    outputs,
    tests,
    build: build && (build.status === 'failed' || build.status === 'timeout') ? { exitCode: build.exitCode, reason: build.reason, errors: buildErrorLines(build.text) } : null,
    diff: facts.diff,
    failedBranch: branches?.backupBranch ?? branches?.failedBranch ?? null,
  });

  const actions: string[] = [];
  for (const c of causes) for (const a of c.actions) if (!actions.includes(a)) actions.push(a);
  const recoverFrom = branches?.backupBranch ?? branches?.failedBranch;
  if (recoverFrom && !actions.some((a) => a.includes('rb recover'))) actions.push(`carry the commits that were fine onto a recovery branch: \`rb recover ${recoverFrom}\``);
  if (!causes.length) actions.push('read test_results.txt and git_graph.txt to find where the failure started');
  actions.push('before the next sprint starts, run `rb check`: the baseline\'s tests, a clean tree and dependencies, and a checkpoint tag');
  if (run && run.snapshot && effectiveStatus(run) === 'succeeded' && !run.undoneBy) actions.push(`if the rollback itself was a mistake: \`rb undo ${run.id}\``);
  const failedCollectors = collected.filter((c) => c.status === 'failed' || c.status === 'timeout').filter((c) => c.name !== 'tests' && c.name !== 'build' && c.name !== 'dependencies');
  for (const c of failedCollectors) actions.push(`${c.file} could not be collected (${c.reason}): run ${c.command ? `\`${c.command}\`` : 'it'} by hand to see why`);

  const sumMs = collected.reduce((a, c) => a + c.durationMs, 0);
  const doc: AnalysisDoc = {
    stamp,
    generatedAt: now.toISOString(),
    root: repo.root,
    run: run ? {
      id: run.id, title: run.title, playbook: run.playbook, level: run.level ?? null, severity: run.severity ?? null,
      status: effectiveStatus(run), startedAt: run.startedAt, endedAt: run.endedAt ?? null, durationMs: run.durationMs ?? null,
      reason: run.reason ? clean(run.reason) : null, snapshot: run.snapshot,
    } : null,
    noRun: run ? undefined : 'No level run (rb emergency, rb sprint, rb files) is recorded in this repository: the timeline describes the current state.',
    baseline: { name: run?.baseline.name ?? config.baseline, line: facts.baseline ? clean(facts.baseline.line) : null },
    failed: {
      branch: branches ? branches.failedBranch : await currentBranch(repo),
      line: facts.failed ? clean(facts.failed.line) : null,
      backupBranch: branches?.backupBranch ?? null,
      retryBranch: branches?.retryBranch ?? null,
      recoveryBranch: branches?.recoveryBranch ?? null,
      workingTree: !run,
    },
    tests,
    causes,
    actions,
    collectors: collected,
    extraFiles,
    wallMs: results.wallMs,
    sumMs,
    concurrent: !opts.sequential,
    secretCount: secrets.length,
  };
  writeFileAtomic(join(dir, 'analysis.md'), clean(renderAnalysis(doc)));
  files.push('analysis.md');
  writeFileAtomic(join(dir, 'index.html'), clean(await bundleDashboard(repo, config, run, causes, files, now)));
  files.push('index.html');

  const archive = opts.archive === false ? null : await archiveBundle(dir);
  return {
    root: repo.root,
    dir,
    archive,
    files,
    run: run?.id ?? null,
    undoneSkipped: passedOver,
    collectors: collected.map(({ text: _t, data: _d, ...rest }) => rest),
    causes: causes.map((c) => ({ ...c, evidence: c.evidence.map(clean), actions: c.actions.map(clean) })),
    tests,
    actions: actions.map(clean),
    wallMs: results.wallMs,
    sumMs,
    concurrent: !opts.sequential,
  };
}

/**
 * index.html of the bundle: the metrics dashboard of this clone (analyze/dashboard-html.ts), led by
 * what this analysis found and links to the bundle's files. An unreadable metrics.json gives the
 * page without rollbacks (the bundle is still written).
 */
async function bundleDashboard(repo: Repo, config: Config, run: RunRecord | null, causes: Cause[], files: string[], now: Date): Promise<string> {
  const [{ dashboardHtml }, { readMetrics }, { computeMetrics }] = await Promise.all([
    import('./dashboard-html.js'), import('../records/metrics.js'), import('./metrics-stats.js'),
  ]);
  let data: { rollbacks: import('../records/metrics.js').MetricsEntry[]; checkpoints: import('../records/metrics.js').Checkpoint[] } = { rollbacks: [], checkpoints: [] };
  let source = `${config.rollbacksDir}/metrics.json`;
  try {
    const m = readMetrics(join(repo.root, config.rollbacksDir, 'metrics.json'));
    data = { rollbacks: m.rollbacks, checkpoints: m.checkpoints ?? [] };
  } catch (e) {
    source += ` (not readable: ${(e as Error).message})`;
  }
  const counting = { countNamedCheckpoints: config.metrics.countNamedCheckpoints };
  const report = computeMetrics(data, {}, { healthyRate: config.metrics.healthyRate, reviewRate: config.metrics.reviewRate }, counting);
  return dashboardHtml({
    title: run ? `Analysis of ${run.id}` : 'Analysis of the working tree',
    source,
    generatedAt: now,
    report,
    rollbacks: data.rollbacks,
    checkpoints: data.checkpoints,
    period: {},
    countNamedCheckpoints: counting.countNamedCheckpoints,
    intro: {
      heading: 'This analysis',
      lines: [
        run ? `Run ${run.id} (${run.title}), ${effectiveStatus(run)}, started ${run.startedAt}.` : 'No level run recorded: the working tree as it is.',
        causes.length ? `Likely causes: ${causes.map((c) => c.title).join('; ')} (evidence in analysis.md).` : 'No likely cause found (see analysis.md).',
      ],
      files: [...files],
    },
  });
}

async function currentBranch(repo: Repo): Promise<string | null> {
  const r = await git(['symbolic-ref', '-q', '--short', 'HEAD'], { cwd: repo.root, readOnly: true, allowFail: true });
  return r.code === 0 ? r.stdout.trim() : null;
}

/** Path for messages: relative to the repository root when inside it. */
export function displayPath(root: string, abs: string): string {
  const r = relative(root, abs);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r.split(sep).join('/') : abs;
}
