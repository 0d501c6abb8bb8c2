/**
 * `rb` with no command: the triage. On a terminal it walks the team's decision matrix — what is
 * happening, which level that is, the level's own question (the sprint number, the files to
 * blame) — then the pre-rollback checklist, whose answers become the run's reason (and so its
 * report and audit line), then shows the plan and asks once. A yes hands over to the level
 * command (`rb emergency`, `rb sprint <n>`, `rb files <path...>`) with `--yes`, so the run is
 * exactly the one the equivalent command line would make.
 *
 * Every prompt comes before the task graph starts (style.md 9). Without a terminal nothing is
 * asked: the matrix and the usage are printed and rb exits 2.
 */
import { realpathSync } from 'node:fs';
import { findRepo, type Repo } from '../repo.js';
import { InterruptedError, PreconditionError, UsageError } from '../errors.js';
import { git, shellQuote, splitZ } from '../io/git.js';
import type { Config } from '../types.js';
import { showPath } from '../ui/format.js';

/** The four severities of the decision matrix. */
export type TriageLevel = 'critical' | 'high' | 'medium' | 'low';

/** One answer to "What is happening?". */
export interface Situation {
  /** stable id (also the metrics cause tag for the run) */
  id: 'production-down' | 'data-at-risk' | 'features-broken' | 'tests' | 'perf' | 'files' | 'code-quality' | 'warnings';
  /** as shown in the menu */
  label: string;
  /** as written into the reason ("tests failing") */
  short: string;
  level: TriageLevel;
}

/** The situations of the decision matrix, in menu order. */
export const SITUATIONS: readonly Situation[] = [
  { id: 'production-down', label: 'Production is down', short: 'production down', level: 'critical' },
  { id: 'data-at-risk', label: 'Data is at risk', short: 'data at risk', level: 'critical' },
  { id: 'features-broken', label: 'Major features are broken', short: 'major features broken', level: 'high' },
  { id: 'tests', label: 'Tests are failing', short: 'tests failing', level: 'high' },
  { id: 'perf', label: 'Performance degraded', short: 'performance degraded', level: 'medium' },
  { id: 'files', label: 'A few files are to blame', short: 'a few files to blame', level: 'medium' },
  { id: 'code-quality', label: 'Code quality issues', short: 'code quality', level: 'low' },
  { id: 'warnings', label: 'Warnings (lint, deprecations, build)', short: 'warnings', level: 'low' },
];

/** What each level does, for the menu and the matrix. */
export const LEVEL_ACTION: Record<TriageLevel, string> = {
  critical: 'rb emergency',
  high: 'rb sprint <n>',
  medium: 'rb files <path...>',
  low: 'fix forward; nothing to roll back',
};

/** The decision matrix as text lines (printed without a terminal, and in the docs). */
export function decisionMatrix(): string[] {
  const rows: [TriageLevel, string, string][] = [
    ['critical', 'production down, data at risk', 'rb emergency         full reset to the baseline (target 5m)'],
    ['high', 'major features broken, tests failing', 'rb sprint <n>        back up the sprint, retry from the baseline (target 15m)'],
    ['medium', 'performance degraded, a few files to blame', 'rb files <path...>   restore only those files from the baseline (target 30m)'],
    ['low', 'code quality, warnings', 'fix forward; nothing to roll back'],
  ];
  return [
    'Decision matrix:',
    ...rows.map(([lvl, what, act]) => `  ${lvl.padEnd(10)}${what.padEnd(44)}→ ${act}`),
    'Before any rollback: can it be fixed forward in under 30 minutes? is data at risk? are users',
    'affected? is it only test failures? (rb saves the current state itself: a complete snapshot first.)',
    '',
    'Usage:',
    '  rb                                   on a terminal: this triage, step by step',
    '  rb plan emergency                    preview every command a level would run (also: sprint, files)',
    '  rb emergency --yes --reason "<why>"  run a level without prompting (also: rb sprint 4, rb files src/a.ts)',
    '  rb --help                            every command',
  ];
}

/** The pre-rollback checklist, as answered. */
export interface ChecklistAnswers {
  fixForwardUnder30m: boolean;
  /** the user rolled back although a fix forward was possible */
  continuedAnyway?: boolean;
  dataAtRisk: boolean;
  usersAffected: boolean;
  onlyTests: boolean;
  /** rb's own answer to "is the current state saved?" */
  state: WorkingState;
}

/** Counts of what the snapshot will hold beyond HEAD. */
export interface WorkingState {
  /** tracked paths with staged or unstaged changes (including conflicts) */
  uncommitted: number;
  /** untracked, not ignored files */
  untracked: number;
}

const yn = (b: boolean) => (b ? 'yes' : 'no');

/**
 * The run's `--reason` text: the situation and every checklist answer, e.g.
 * "triage: high — tests failing; fix-forward<30m: no; data at risk: no; users affected: yes;
 * only tests: yes; state saved: snapshot first (2 uncommitted, 1 untracked)".
 */
export function triageReason(s: Situation, a: ChecklistAnswers): string {
  return [
    `triage: ${s.level} — ${s.short}`,
    `fix-forward<30m: ${a.fixForwardUnder30m ? `yes${a.continuedAnyway ? ' (rolled back anyway)' : ''}` : 'no'}`,
    `data at risk: ${yn(a.dataAtRisk)}`,
    `users affected: ${yn(a.usersAffected)}`,
    `only tests: ${yn(a.onlyTests)}`,
    `state saved: snapshot first (${a.state.uncommitted} uncommitted, ${a.state.untracked} untracked)`,
  ].join('; ');
}

/** Uncommitted and untracked counts (read-only; the index is not refreshed). */
export async function workingState(root: string): Promise<WorkingState> {
  const r = await git(['status', '--porcelain=v2', '-z', '--untracked-files=all', '--ignored=no'], { cwd: root, readOnly: true });
  const recs = splitZ(r.stdout);
  let uncommitted = 0;
  let untracked = 0;
  for (let i = 0; i < recs.length; i++) {
    const rec = recs[i]!;
    if (rec.startsWith('? ')) untracked++;
    else if (rec.startsWith('1 ') || rec.startsWith('u ')) uncommitted++;
    else if (rec.startsWith('2 ')) {
      uncommitted++;
      i++; // a rename or copy is followed by its original path
    }
  }
  return { uncommitted, untracked };
}

/** A tracked path that differs between the baseline and the working copy. */
export interface ChangedFile {
  path: string;
  /** M modified (or type changed), D deleted here, A added since the baseline */
  status: 'M' | 'D' | 'A';
}

/**
 * Tracked files whose working-copy content differs from the baseline commit
 * (`git diff --name-status --no-renames <baseline>`: committed, staged and unstaged changes).
 */
export async function changedSinceBaseline(root: string, baselineOid: string): Promise<ChangedFile[]> {
  const r = await git(['diff', '--name-status', '--no-renames', '--no-ext-diff', '--ignore-submodules=all', '-z', baselineOid, '--'], { cwd: root, readOnly: true });
  const recs = splitZ(r.stdout);
  const out: ChangedFile[] = [];
  for (let i = 0; i + 1 < recs.length; i += 2) {
    const code = recs[i]!.charAt(0);
    out.push({ path: recs[i + 1]!, status: code === 'D' ? 'D' : code === 'A' ? 'A' : 'M' });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Options of {@link runTriage}. */
export interface TriageOptions {
  /** the directory rb was started in (--cwd) */
  cwd?: string;
  /** may rb prompt? default: stdin and stdout are terminals */
  interactive?: boolean;
}

/** What the level commands read from commander: `cmd.parent?.opts().cwd`. */
interface CommandLike {
  parent: { opts(): { cwd?: string } };
}

const isTty = () => Boolean(process.stdin.isTTY && process.stdout.isTTY);

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

/** A branch name like "sprint-7", "feature/sprint_12-auth" suggests the sprint number. */
export function sprintFromBranch(branch: string | null): string | undefined {
  const m = branch ? /sprint[-_/]?(\d+)/i.exec(branch) : null;
  return m && Number(m[1]) > 0 ? String(Number(m[1])) : undefined;
}

/** Is this a sprint number `rb sprint` accepts? Returns true or the message to show. */
export function validateSprint(v: string): true | string {
  const t = v.trim();
  return /^\d+$/.test(t) && Number(t) >= 1 && Number.isSafeInteger(Number(t)) ? true : 'a positive whole number, e.g. 7';
}

/** inquirer's Ctrl-C (ExitPromptError) becomes exit 130; nothing was changed yet. */
function promptCancelled(e: unknown): never {
  if (e instanceof Error && (e.name === 'ExitPromptError' || e.name === 'AbortPromptError')) {
    throw new InterruptedError('triage cancelled; nothing was changed.', { next: 'run `rb` again when ready, or `rb --help` for the commands' });
  }
  throw e;
}

/**
 * The triage (see the module comment). Returns the exit code of the level command it ran, or 0
 * when there is nothing to roll back (level low, or fixing forward).
 * @throws UsageError (exit 2) without a terminal, with the decision matrix in `details`
 * @throws PreconditionError (exit 3) when the final confirmation is declined, the baseline is
 *   missing, or no file differs from the baseline for `rb files`
 */
export async function runTriage(opts: TriageOptions = {}): Promise<number> {
  const interactive = opts.interactive ?? isTty();
  if (!interactive) {
    throw new UsageError('rb needs a command here: without a terminal it cannot ask what is happening.', {
      details: decisionMatrix(),
      next: 'pick the level from the matrix, preview it with `rb plan <level>`, then run e.g. `rb emergency --yes`',
    });
  }
  // read-only checks first: not a repository or an invalid rb.config.yaml fail before any question
  const repo = findRepo(opts.cwd);
  const { loadConfig } = await import('../config/load.js');
  const { config } = await loadConfig(repo.root);
  const prompts = await import('@inquirer/prompts');
  try {
    return await triage(repo, config, prompts, opts.cwd);
  } catch (e) {
    return promptCancelled(e);
  }
}

type Prompts = typeof import('@inquirer/prompts');

async function triage(repo: Repo, config: Config, p: Prompts, cwd: string | undefined): Promise<number> {
  const width = Math.max(...SITUATIONS.map((s) => s.label.length)) + 2;
  const situation = await p.select<Situation>({
    message: 'What is happening?',
    pageSize: SITUATIONS.length,
    choices: SITUATIONS.map((s) => ({
      name: `${s.label.padEnd(width)}${s.level.padEnd(9)}→ ${LEVEL_ACTION[s.level]}`,
      value: s,
      short: `${s.label} (${s.level})`,
    })),
  });

  if (situation.level === 'low') {
    out(`\nSeverity low (${situation.short}): fix forward — there is nothing to roll back. Nothing was changed.`);
    out('next: fix it on this branch; if it turns into broken features or failing tests, run `rb` again');
    return 0;
  }

  const { assertNoUnresolved } = await import('../engine/execute.js');
  assertNoUnresolved(repo);
  const { resolveBaseline, missingBaselineError } = await import('../engine/baseline.js');
  const baseline = await resolveBaseline(repo, config.baseline, config.remote);
  if (!baseline.oid) throw missingBaselineError(baseline, config.remote);

  // ---- the level's own question -------------------------------------------------------------
  let sprint = 0;
  let files: ChangedFile[] = [];
  if (situation.level === 'high') {
    const branch = (await git(['symbolic-ref', '-q', '--short', 'HEAD'], { cwd: repo.root, allowFail: true, readOnly: true })).stdout.trim() || null;
    const answer = await p.input({
      message: 'Sprint number? (the work is kept on backup/sprint-<n>-…; the retry starts on refactor/sprint-<n>-retry)',
      default: sprintFromBranch(branch),
      validate: validateSprint,
    });
    sprint = Number(answer.trim());
  } else if (situation.level === 'medium') {
    const changed = await changedSinceBaseline(repo.root, baseline.oid);
    if (!changed.length) {
      throw new PreconditionError(`no tracked file differs from the baseline ${baseline.name}: there is nothing for \`rb files\` to restore; nothing was changed.`, {
        next: 'see `git status` for untracked files, or run `rb` again and pick another level (e.g. tests failing → rb sprint <n>)',
      });
    }
    const note: Record<ChangedFile['status'], string> = {
      M: 'modified',
      D: 'deleted here: restored from the baseline',
      A: 'added since the baseline: deleted, the snapshot keeps a copy',
    };
    files = await p.checkbox<ChangedFile>({
      message: `Which files are to blame? (changed since ${baseline.name}; space selects, enter confirms)`,
      pageSize: Math.min(15, changed.length),
      required: true,
      choices: changed.map((f) => ({ name: `${showPath(f.path)}  (${note[f.status]})`, value: f })),
    });
  }

  // ---- the pre-rollback checklist -----------------------------------------------------------
  out('\nBefore rolling back:');
  const fixForward = await p.confirm({ message: 'Can it be fixed forward in under 30 minutes?', default: false });
  let continuedAnyway = false;
  if (fixForward) {
    out('rb recommends fixing forward: a fix in under 30 minutes costs less than a rollback and keeps the history as it is.');
    continuedAnyway = await p.confirm({ message: 'Roll back anyway?', default: false });
    if (!continuedAnyway) {
      out('Nothing was changed.\nnext: fix it forward; if it takes longer than 30 minutes, run `rb` again');
      return 0;
    }
  }
  const dataAtRisk = situation.id === 'data-at-risk' ? true : await p.confirm({ message: 'Is data at risk?', default: false });
  if (situation.id === 'data-at-risk') out('✔ Is data at risk? yes (you said so)');
  const usersAffected = situation.id === 'production-down' ? true : await p.confirm({ message: 'Are users affected?', default: false });
  if (situation.id === 'production-down') out('✔ Are users affected? yes (production is down)');
  const onlyTests = await p.confirm({ message: 'Is it only test failures?', default: situation.id === 'tests' });
  const state = await workingState(repo.root);
  out(`✔ Is the current state saved? yes: rb takes a complete snapshot first (${state.uncommitted} uncommitted change${state.uncommitted === 1 ? '' : 's'}, ${state.untracked} untracked file${state.untracked === 1 ? '' : 's'}; \`rb undo\` puts them back)`);
  if (dataAtRisk && situation.level !== 'critical') out('note: data at risk is critical in the decision matrix; `rb emergency` is the level for it');
  if (onlyTests && situation.level === 'critical') out('note: only test failures is high in the decision matrix; `rb sprint <n>` keeps your work on a backup branch');

  const reason = triageReason(situation, { fixForwardUnder30m: fixForward, continuedAnyway, dataAtRisk, usersAffected, onlyTests, state });

  // ---- the plan, one confirmation, the run -----------------------------------------------------
  const { planOnly } = await import('../engine/execute.js');
  const paths = files.map((f) => f.path);
  const deleteMissing = files.some((f) => f.status === 'A');
  let command: string;
  let params: Record<string, unknown>;
  let playbook: string;
  if (situation.level === 'critical') {
    playbook = 'emergency';
    params = { install: true, services: true };
    command = 'rb emergency';
  } else if (situation.level === 'high') {
    playbook = 'sprint';
    params = { sprint, tests: true };
    command = `rb sprint ${sprint}`;
  } else {
    // the same parameters `rb files` computes, so the plan shown is the plan run
    const { findTestsFor } = await import('../steps/tests-run.js');
    const testFiles = [...new Set(findTestsFor(repo.root, paths, config.testMap).flatMap((t) => t.tests))];
    playbook = 'files';
    params = { paths, deleteMissing, tests: testFiles.length > 0 && Boolean(config.test), testFiles };
    command = `rb files ${paths.map(shellQuote).join(' ')}${deleteMissing ? ' --delete-missing' : ''}`;
  }
  out('');
  await planOnly({ playbook, params, cwd, reason, cause: situation.id, command });
  const full = `${command} --reason ${shellQuote(reason)} --cause ${situation.id}`;
  out('');
  const go = await p.confirm({ message: `Run it now? A snapshot is taken first; \`rb undo\` puts everything back.`, default: false });
  if (!go) {
    throw new PreconditionError('cancelled; nothing was changed.', { next: `run \`rb\` again, or directly: ${full} --yes` });
  }
  out(`\n$ ${full} --yes`);

  const levels = await import('./levels.js');
  const cmd: CommandLike = { parent: { opts: () => ({ cwd }) } };
  const common = { yes: true, reason, cause: situation.id };
  if (situation.level === 'critical') return levels.emergencyCommand(common, cmd);
  if (situation.level === 'high') return levels.sprintCommand(String(sprint), common, cmd);
  // paths are relative to the root; the level command resolves them from the start directory
  return levels.filesCommand(paths.map((f) => relativeFromCwd(repo, f)), { ...common, deleteMissing }, cmd);
}

/** A root-relative path as seen from the directory rb was started in (`rb files` resolves from there). */
function relativeFromCwd(repo: Repo, rel: string): string {
  let here: string;
  try {
    here = realpathSync(repo.cwd);
  } catch {
    here = repo.cwd;
  }
  return here === repo.root ? rel : `${repo.root}/${rel}`;
}

/**
 * commander adapter: `rb` with no command (registered as the root command's action).
 * `--cwd` is the root command's own option here.
 */
export async function triageCommand(_opts: unknown, cmd: any): Promise<number> {
  const cwd: string | undefined = (cmd?.parent ?? cmd)?.opts?.().cwd;
  return runTriage({ cwd });
}
