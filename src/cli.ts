#!/usr/bin/env node
/**
 * rb's entry point. Registers the commands with commander and imports only the chosen
 * command's module, inside its action, so `rb --help`, `rb --version`, `rb status` and
 * `rb history` never load listr2, inquirer, execa or zod. This is the only place that calls
 * process.exit: an RbError becomes its exit code (architecture §2).
 */
import { Command, Option } from '#commander';
import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { RbError } from './errors.js';
import { tolerateClosedOutput } from './ui/closed-output.js';
import { losslessArgv } from './io/path-bytes.js';
import { userCacheDir } from './io/user-cache.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

type Action = (...args: any[]) => Promise<number | void>;

/**
 * Wraps a lazily imported command so errors reach the single exit point below. With `repo`, the
 * command's first questions (which repository, where its refs point) are asked while its modules
 * load (askRepoEarly).
 */
function lazy(load: () => Promise<Action>, opts: { repo?: boolean } = {}): (...args: any[]) => Promise<void> {
  return async (...args: any[]) => {
    const { withRunScope } = await import('./io/run-scope.js');
    const code = await withRunScope(async () => {
      const early = opts.repo ? askRepoEarly((args.at(-1) as Command | undefined)?.parent?.opts().cwd) : null;
      const fn = await load();
      await early;
      return fn(...args);
    });
    if (typeof code === 'number' && code !== 0) process.exitCode = code;
  };
}

/**
 * A level command's first questions, asked inside its scope before its modules load (~100 ms of
 * a start, issue 18): the repository (kept in the scope: the command's own findRepo gets it) and
 * the ref listing, whose `git for-each-ref` then runs while node loads the rest (memoized in the
 * scope, as when the command asks it: io/repo-state.ts). A failure is dropped here: the command
 * asks again where it always did, and reports it there.
 */
async function askRepoEarly(cwd: string | undefined): Promise<void> {
  try {
    const [{ findRepo }, { refListing }] = await Promise.all([import('./repo.js'), import('./io/repo-state.js')]);
    refListing(findRepo(cwd).root).catch(() => undefined);
  } catch { /* not a repository, no git: the command says so */ }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * rb's commands. With `only` (the command named on the command line, see commandToDefine), only
 * that subcommand is defined: defining all of them cost ~5 ms on every start (issue 18). Its
 * options, help and errors are the same as when all are defined; `rb --help`, `rb help`, an
 * unknown command (commander's "Did you mean") and `rb` alone get them all.
 */
export function buildProgram(only?: string): Command {
  const want = (name: string) => only === undefined || only === name;
  const program = new Command('rb')
    .description('Roll a git repository back to its last known good state — previewable, undoable, recorded.')
    .version(pkg.version, '-V, --version')
    .option('-C, --cwd <dir>', 'run as if rb was started in <dir>')
    .showSuggestionAfterError(true)
    .enablePositionalOptions()
    // before any .command(): subcommands copy this setting when they are created, so their usage
    // errors (unknown option, missing argument) also reach report() and exit 2, not commander's 1
    .exitOverride()
    .configureHelp({ sortSubcommands: false })
    .addHelpText('after', `
Exit codes: 0 ok · 1 a step failed (see rb status) · 2 usage or invalid config/playbook ·
3 precondition failed, nothing changed · 4 locked or an interrupted run must be resolved ·
5 undo not eligible · 130 interrupted

Examples:
  rb                         on a terminal: guided triage (what is happening → which level)
  rb plan emergency          show every command a level-1 rollback would run
  rb run my-playbook --yes   run a playbook from .rb/playbooks/ without prompting
  rb status                  what is in progress, locked or undoable`);

  const runOpts = (c: Command) =>
    c
      .option('--dry-run', 'print what would run, change nothing')
      .option('-y, --yes', 'do not prompt for confirmation')
      .option('--json', 'print one JSON document on stdout')
      .option('--reason <text>', 'why this run happens (goes into the report and audit)')
      .option('--cause <tag>', 'cause tag for metrics (e.g. tests, deps, perf)')
      .option('--force', 'run even with a merge/rebase in progress (the snapshot captures it)')
      .option('--skip-unwritable', 'leave untracked and ignored entries you cannot change (another user\'s build/) where they are, named in the report, instead of stopping');

  if (want('playbooks')) program
    .command('playbooks')
    .description('list the playbooks: built-in ones and the repository\'s own (.rb/playbooks/)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  rb playbooks')
    .action(lazy(async () => (await import('./commands/playbooks.js')).playbooksCommand));

  if (want('plan')) program
    .command('plan <playbook>')
    .description('print the numbered steps of a playbook and the exact commands each would run; changes nothing')
    .option('-s, --set <key=value>', 'set a playbook parameter (repeatable)', collect, [])
    .option('--json', 'print the plan as JSON')
    .option('--to <ref>', 'override the baseline')
    .addHelpText('after', '\nExample:\n  rb plan sprint --set sprint=4')
    .action(lazy(async () => (await import('./commands/run.js')).planCommand));

  if (want('run')) runOpts(
    program
      .command('run <playbook>')
      .description('run a playbook (built-in or from .rb/playbooks/)')
      .option('-s, --set <key=value>', 'set a playbook parameter (repeatable)', collect, [])
      .option('--to <ref>', 'override the baseline'),
  )
    .addHelpText('after', '\nExample:\n  rb run db-migration-rollback --set version=42 --yes')
    .action(lazy(async () => (await import('./commands/run.js')).runCommand));

  if (want('emergency')) runOpts(
    program
      .command('emergency')
      .description('level 1: full reset to the baseline — stop services, snapshot, stash, fetch, reset, clean (keeping .env), reinstall, restart, verify')
      .option('--to <ref>', 'roll back to this ref instead of the configured baseline')
      .option('--no-install', 'do not reinstall dependencies')
      .option('--no-services', 'do not stop or start services'),
  )
    .addHelpText('after', '\nExamples:\n  rb plan emergency                       preview every command\n  rb emergency --yes --reason "prod down after deploy"')
    .action(lazy(async () => (await import('./commands/levels.js')).emergencyCommand, { repo: true }));

  if (want('sprint')) runOpts(
    program
      .command('sprint <n>')
      .description('level 2: document the failure, WIP-commit, back up on backup/sprint-<n>-<stamp>, start refactor/sprint-<n>-retry from the baseline')
      .option('--to <ref>', 'start the retry branch from this ref instead of the baseline')
      .option('--no-tests', 'do not run the tests to document the failure'),
  )
    .addHelpText('after', '\nExample:\n  rb sprint 4 --yes --reason "auth refactor broke login"')
    .action(lazy(async () => (await import('./commands/levels.js')).sprintCommand, { repo: true }));

  if (want('files')) runOpts(
    program
      .command('files <path...>')
      .description('level 3: restore only these paths from the baseline, keep every other change, run their tests')
      .option('--from <ref>', 'restore from this ref instead of the baseline')
      .option('--delete-missing', 'delete paths that do not exist in the baseline (after the snapshot)')
      .option('--glob', 'expand glob patterns against the baseline (paths are literal otherwise)')
      .option('--no-tests', 'do not run the associated tests'),
  )
    .addHelpText('after', '\nExamples:\n  rb files src/cache.ts src/cache.test.ts --yes\n  rb files --glob "src/perf/**" --yes')
    .action(lazy(async () => (await import('./commands/levels.js')).filesCommand, { repo: true }));

  if (want('recover')) program
    .command('recover [branch]')
    .description('rescue good commits from a failed branch onto recovery/<stamp> from the baseline (your hooks and signing apply)')
    .option('--onto <ref>', 'start the recovery branch here instead of the baseline')
    .option('--pick <sha>', 'a commit to pick (repeatable; oldest first is kept)', collect, [])
    .option('--all', 'pick every commit in <onto>..<branch>')
    .option('--continue', 'go on after you resolved a conflict and ran `git cherry-pick --continue`')
    .option('--abort', 'give up the stopped recovery and restore the snapshot')
    .option('--no-tests', 'do not run the tests at the end')
    .option('--force', 'go on with uncommitted changes to tracked files (kept in the snapshot)')
    .option('--dry-run', 'print what would run, change nothing')
    .option('-y, --yes', 'do not prompt for confirmation')
    .option('--json', 'print one JSON document on stdout')
    .option('--reason <text>', 'why (goes into the report and audit)')
    .addHelpText('after', '\nExamples:\n  rb recover sprint-4 --pick 1a2b3c4 --pick 5d6e7f8 --yes\n  rb recover --continue')
    .action(lazy(async () => (await import('./commands/recover.js')).recoverCommand));

  if (want('check')) program
    .command('check')
    .description("pre-sprint safety gate for CI and humans: work tree, nothing in progress, baseline current, clean tree, disk, dependencies, the baseline's tests (in place, or in a worktree kept in your cache dir); then a checkpoint tag. Exit 3 when a check fails")
    .option('--json', 'print one JSON document on stdout')
    .option('--no-tests', "do not run the baseline's tests (reported as a warning)")
    .option('--no-tag', 'do not create the checkpoint tag or record the checkpoint')
    .option('--max-disk <pct>', 'fail when the disk is used at or above this percentage (default check.maxDiskPercent, 90)')
    .option('--fetch', 'fetch the baseline branch from the remote before comparing (default: compare with the last fetch; never touches the network)')
    .option('--prune-worktree', "remove the worktree rb check keeps for the baseline's tests (in your cache dir) and do nothing else")
    .addHelpText('after', "\nExamples:\n  rb check                         the full gate; tags checkpoint-<stamp> when it passes\n  rb check --no-tag --fetch        in CI: compare with the remote's baseline, no checkpoint\n  rb check --json --no-tests       quick checks, machine-readable\n  rb check --prune-worktree        give back the disk of the kept baseline worktree")
    .action(lazy(async () => (await import('./commands/check.js')).checkCommand));

  if (want('checkpoint')) program
    .command('checkpoint [name]')
    .description('tag HEAD as a named good state (an annotated tag quoting the baseline\'s last known test result) and take a snapshot of the same name; --to <name> of every level rolls back to it')
    .option('-l, --list', 'list the named checkpoints')
    .option('-m, --message <text>', 'a note kept in the tag and the snapshot')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  rb checkpoint day_2_complete -m "login works end to end"\n  rb checkpoint --list\n  rb emergency --to day_2_complete --yes')
    .action(lazy(async () => (await import('./commands/checkpoint.js')).checkpointCommand));

  if (want('analyze')) program
    .command('analyze')
    .description('write an analysis bundle of a failure (git history, test/coverage/performance output, dependencies, disk, memory, versions, likely causes) to rollbacks/analysis-<stamp>/ and archive it')
    .option('--run <id>', 'the run to explain (default: the latest level run)')
    .option('--out <dir>', 'write the bundle to this (new or empty) folder instead of rollbacks/analysis-<stamp>/')
    .option('--no-archive', 'do not write the .tar.gz')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  rb analyze                                        explain the latest rollback\n  rb analyze --run 20261122-101502-sprint-4 --no-archive\n\nSecrets: .env files are never read; values of environment variables named like\nTOKEN, SECRET, PASSWORD, KEY, CREDENTIAL, AUTH, … are written as [REDACTED:<NAME>].')
    .action(lazy(async () => (await import('./commands/analyze.js')).analyzeCommand));

  if (want('metrics')) program
    .command('metrics')
    .description('rollback statistics from rollbacks/metrics.json: totals by cause, level and severity, recovery times, rollbacks per week, and the rollback rate per sprint')
    .option('--since <date>', 'from this date: 2026-11-01, an ISO date-time, or an age (30d, 12w, 36h; m is minutes)')
    .option('--until <date>', 'up to this date, inclusive (same forms)')
    .option('--team', 'every clone\'s rollbacks and sprint starts (the records `rb sync` fetched), not only this clone\'s')
    .option('--html <file>', 'also write a dashboard: one self-contained HTML page (inline SVG, nothing loaded from the network)')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  rb metrics\n  rb metrics --team --html metrics.html\n  rb metrics --since 90d\n  rb metrics --since 2026-10-01 --until 2026-12-31 --json')
    .action(lazy(async () => (await import('./commands/metrics.js')).metricsCommand));

  if (want('undo')) program
    .command('undo [run]')
    .description('restore the state from before a run (default: the newest run still in effect, so repeating it steps one run further back); `rb redo` walks forward again')
    .option('-i, --interactive', 'on a terminal: pick a past state (runs and their snapshots) with a preview of what restoring it changes')
    .option('--force', 'also reset branches that moved after the run (a safety snapshot is taken first)')
    .option('--dry-run', 'print what would run, change nothing')
    .option('-y, --yes', 'do not prompt for confirmation')
    .option('--json', 'print one JSON document on stdout')
    .option('--reason <text>', 'why (goes into the audit)')
    .option('--skip-unwritable', 'leave untracked and ignored entries you cannot change (another user\'s build/) where they are, named in the report, instead of stopping')
    .addHelpText('after', '\nExamples:\n  rb undo                 undo the latest run; again: the run before it\n  rb undo 20261122-101502-sprint-4 --yes\n  rb undo -i              pick a past state on a terminal')
    .action(lazy(async () => (await import('./commands/undo.js')).undoCommand));

  if (want('redo')) program
    .command('redo')
    .description('reverse the newest undo: back to the state it started from (repeat to walk forward); a new run after the undos ends the chain')
    .option('--force', 'also reset branches that moved after the undo (a safety snapshot is taken first)')
    .option('--dry-run', 'print what would run, change nothing')
    .option('-y, --yes', 'do not prompt for confirmation')
    .option('--json', 'print one JSON document on stdout')
    .option('--reason <text>', 'why (goes into the audit)')
    .option('--skip-unwritable', 'leave untracked and ignored entries you cannot change (another user\'s build/) where they are, named in the report, instead of stopping')
    .addHelpText('after', '\nExamples:\n  rb undo --yes && rb undo --yes     two runs back\n  rb redo --yes                      one run forward again')
    .action(lazy(async () => (await import('./commands/undo.js')).redoCommand));

  if (want('resume')) program
    .command('resume [run]')
    .description('finish an interrupted or failed run from the step that did not finish')
    .option('--retry <step>', 'run this step again although it is not safe to repeat (it started before); repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--skip <step>', 'record this step as skipped and go on without it; repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-y, --yes', 'do not prompt')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  rb resume 20261122-101502-emergency\n  rb resume 20261122-101502-emergency --skip install')
    .action(lazy(async () => (await import('./commands/undo.js')).resumeCommand));

  if (want('abort')) program
    .command('abort [run]')
    .description('give up an interrupted or failed run: restore its snapshot and reverse its branch changes')
    .option('--force', 'also reset branches that moved after the run')
    .option('--dry-run', 'print what would run, change nothing')
    .option('-y, --yes', 'do not prompt for confirmation')
    .option('--json', 'print one JSON document on stdout')
    .option('--skip-unwritable', 'leave untracked and ignored entries you cannot change (another user\'s build/) where they are, named in the report, instead of stopping')
    .addHelpText('after', '\nExample:\n  rb abort 20261122-101502-emergency --yes')
    .action(lazy(async () => (await import('./commands/undo.js')).abortCommand));

  if (want('snapshots')) program
    .command('snapshots [action] [id] [paths...]')
    .description('manage snapshots: list (default), create [-m msg], show <id>, restore <id> [-- <path...>], prune [--older-than 30d], push <id> [--include-ignored]')
    .option('-m, --message <text>', 'message for create')
    .option('--older-than <age>', 'for prune: a duration, e.g. 30d, 12h, 90m (default snapshots.keepDays days)')
    .option('--dry-run', 'for restore and prune: change nothing')
    .option('-y, --yes', 'for restore: do not prompt')
    .option('--json', 'print JSON')
    .option('--skip-unwritable', 'for restore: leave untracked and ignored entries you cannot change where they are, named, instead of stopping')
    .option('--remote <name>', 'for push: the remote (default: remote in rb.config.yaml)')
    .option('--include-ignored', 'for push: also send the ignored files the snapshot holds (.env …); left out by default')
    .addHelpText('after', '\nExamples:\n  rb snapshots create -m "before the codemod"\n  rb snapshots restore 20261122-101502-main-a1b2 --yes\n  rb snapshots restore 20261122-101502-main-a1b2 --yes -- src/a.ts   only that file (after a safety snapshot)\n  rb snapshots prune --older-than 30d\n  rb snapshots push 20261122-101502-main-a1b2     share one snapshot, without its ignored files')
    .action(lazy(async () => (await import('./commands/snapshots.js')).snapshotsCommand));

  if (want('diff')) program
    .command('diff <run-or-snapshot> [paths...]')
    .description('what a snapshot holds against the working copy (a run stands for its snapshot: the state before it); read-only')
    .option('--name-only', 'list the files that differ (added, removed, modified by a restore) instead of the patch')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  rb diff 20261122-101502-files            every file the state before that run holds differently\n  rb diff 20261122-101502-files src/a.ts   one file\n  rb snapshots restore <snapshot> -- src/a.ts   then take that file back')
    .action(lazy(async () => (await import('./commands/diff.js')).diffCommand));

  if (want('sync')) program
    .command('sync')
    .description('share run records through the git remote: fetch every clone\'s refs/rb/records/, push this clone\'s; snapshots stay local')
    .option('--remote <name>', 'the remote (default: remote in rb.config.yaml)')
    .option('--timeout <seconds>', 'give up after this many seconds (default records.timeoutSeconds, 10)')
    .option('--json', 'print one JSON document on stdout')
    .addHelpText('after', '\nExamples:\n  rb sync\n  rb history --team          then: every clone\'s runs\n\nTeam setup: `records: { share: true }` in rb.config.yaml syncs after every run and check.')
    .action(lazy(async () => (await import('./commands/sync.js')).syncCommand));

  if (want('history')) program
    .command('history')
    .description('list past runs, newest first')
    .option('-n, --limit <n>', 'at most n runs', '20')
    .option('--team', 'every clone\'s runs (the records `rb sync` fetched); a teammate\'s run is read-only')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExamples:\n  rb history --limit 5\n  rb sync && rb history --team')
    .action(lazy(async () => (await import('./commands/history.js')).historyCommand));

  if (want('show')) program
    .command('show <run>')
    .description('show one run in full: steps, commands, results, snapshot (a teammate\'s shared run too, read-only; <writer>/<run> when two clones share an id)')
    .option('--json', 'print the journal as JSON')
    .addHelpText('after', '\nExample:\n  rb show 20261122-101502-sprint-4')
    .action(lazy(async () => (await import('./commands/history.js')).showCommand));

  if (want('status')) program
    .command('status')
    .description('what is in progress, locked, interrupted or undoable')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  rb status')
    .action(lazy(async () => (await import('./commands/status.js')).statusCommand));

  if (want('config')) program
    .command('config')
    .description('print the effective configuration and where each value came from')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  rb config')
    .action(lazy(async () => (await import('./commands/config.js')).configCommand));

  if (want('guard')) program
    .command('guard')
    .description('snapshot, run a risky command, verify (default: the configured tests); on failure restore the snapshot and exit with its code')
    .argument('<command...>', 'the command to guard, after --')
    .option('--verify <cmd>', 'command that must pass afterwards (run by the shell; default: the configured test command)')
    .option('--keep-on-failure', 'leave a failed result in place for inspection (still undoable with rb undo)')
    .option('--json', 'print one JSON document on stdout')
    .option('--reason <text>', 'why (goes into the report and audit)')
    .option('--force', 'run even with a merge/rebase in progress')
    .passThroughOptions()
    .addHelpText('after', '\nExamples:\n  rb guard -- npx jscodeshift -t rename.js src/\n  rb guard --verify "npm run build" -- npm install react@19')
    .action(lazy(async () => (await import('./commands/guard.js')).guardCommand));

  if (want('demo')) program
    .command('demo')
    .description('run rb on a throwaway repository in the temp dir, narrating each step (what `npm run demo` runs)')
    .option('--keep', 'keep the throwaway repository afterwards')
    .addHelpText('after', '\nExample:\n  rb demo --keep')
    .action(lazy(async () => (await import('./commands/demo.js')).demoCommand));

  if (want('init')) program
    .command('init')
    .description('set rb up here: write a commented rb.config.yaml (detected installs and tests), keep rollbacks/ out of git, create the baseline branch')
    .option('--baseline <ref>', 'the baseline branch name to configure (default: baseline)')
    .option('-y, --yes', 'create the baseline branch at HEAD without asking')
    .option('--json', 'print one JSON document on stdout (never asks: the baseline branch is created only with --yes)')
    .addHelpText('after', '\nExamples:\n  rb init\n  rb init --baseline last-good --yes\n  rb init --yes --json')
    .action(lazy(async () => (await import('./commands/init.js')).initCommand));

  // `rb` with no command: the triage on a terminal; the decision matrix and exit 2 otherwise.
  // Excess arguments are allowed on the root only (after the subcommands, which keep rejecting
  // them) so that a misspelt command still gets commander's "unknown command … Did you mean …?".
  program
    .allowExcessArguments(true)
    .action(async (opts: unknown, cmd: Command) => {
      if (cmd.args.length) return (cmd as any).unknownCommand();
      return lazy(async () => (await import('./commands/triage.js')).triageCommand)(opts, cmd);
    });

  program.addOption(new Option('--no-color', 'disable colours').hideHelp());
  return program;
}

/**
 * Node 22.1 and later keep the compiled code of the modules loaded from here on (the command's:
 * most of a start, issue 18) in the user's cache dir, and reuse it while the files are unchanged;
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off. Node 20 has no such cache: nothing happens there.
 */
function keepCompiledCode(): void {
  const enable = (nodeModule as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache;
  try {
    enable?.(join(userCacheDir(), 'rb', 'compile-cache'));
  } catch { /* no cache: node compiles as usual */ }
}

async function main(): Promise<void> {
  keepCompiledCode();
  // `rb emergency --yes | head -1`: a closed pipe drops the output, never the run
  tolerateClosedOutput();
  const program = programFor(process.argv.slice(2));
  // --json: stdout is held until the end, so that it carries exactly one JSON document, an error
  // included. The command line decides whether to hold it (a usage error commander finds comes
  // before any action); the command's own option then confirms it (preAction). Without --json
  // nothing is held: prompts and progress appear as they happen.
  let json = jsonRequested(process.argv.slice(2));
  let held = json ? holdStdout() : null;
  program.hook('preAction', (_root, action) => {
    json = Boolean(action.opts().json);
    if (!json && held) {
      held.release((text) => text);
      held = null;
    }
  });
  let failure: ReturnType<typeof report> | null = null;
  try {
    // an argument naming a file whose name is not UTF-8 keeps its bytes (io/path-bytes.ts)
    await program.parseAsync(losslessArgv());
  } catch (e) {
    failure = report(e, { json, command: commandName(program, process.argv.slice(2)) });
    process.exitCode = failure.exit;
  }
  held?.release(json ? (text) => oneJsonDocument(text, failure?.error) : (text) => text);
}

/**
 * The program for this command line: only the named command's definition when the line names
 * one after nothing but rb's own -C/--cwd (buildProgram's `only`), none for `--version`, every
 * command otherwise, and every command when the name is none of them (a typo gets "Did you
 * mean …?").
 */
function programFor(args: string[]): Command {
  // `rb --version` / `rb -V`: commander prints the version before it looks at any command
  if (args[0] === '--version' || args[0] === '-V') return buildProgram('');
  const name = commandToDefine(args);
  if (name !== null) {
    const program = buildProgram(name);
    if (program.commands.length === 1) return program;
  }
  return buildProgram();
}

/** The first word of the command line after rb's own -C <dir>, --cwd <dir>, --cwd=<dir>; null when anything else comes first. */
export function commandToDefine(args: string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-C' || a === '--cwd') i++;
    else if (a.startsWith('--cwd=') || (a.startsWith('-C') && a.length > 2)) continue;
    else return a.startsWith('-') ? null : a;
  }
  return null;
}

/** Is --json on the command line (before a `--`)? */
function jsonRequested(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

/** The subcommand named on the command line, if any (for a usage error's next line). */
function commandName(program: Command, args: string[]): string | null {
  const names = new Set(program.commands.map((c) => c.name()));
  return args.find((a) => names.has(a)) ?? null;
}

/**
 * Hold what is written to stdout until release(), which writes it through `finish` (so an error
 * can still become part of the one JSON document). Child processes never write to rb's stdout
 * (their output is piped), so everything passes through process.stdout.write.
 */
function holdStdout(): { release(finish: (text: string) => string): void } {
  const write = process.stdout.write.bind(process.stdout);
  const chunks: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array, enc?: BufferEncoding | ((e?: Error | null) => void), cb?: (e?: Error | null) => void) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof enc === 'function' ? enc : cb;
    if (done) queueMicrotask(() => done(null));
    return true;
  }) as typeof process.stdout.write;
  return {
    release(finish) {
      process.stdout.write = write;
      const text = finish(chunks.join(''));
      if (text) write(text);
    },
  };
}

/**
 * stdout under --json: the command's document, with `error` added when the command failed; just
 * `{ "error": … }` when it failed before printing one. Anything else a command wrote there (a bug)
 * goes to stderr, so stdout still parses.
 */
function oneJsonDocument(text: string, error: JsonError | undefined): string {
  if (!error) return text;
  let doc: unknown;
  try {
    doc = text.trim() ? JSON.parse(text) : undefined;
  } catch {
    doc = undefined;
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) return JSON.stringify({ ...(doc as object), error }, null, 2) + '\n';
  if (text.trim()) process.stderr.write(text);
  return JSON.stringify({ error }, null, 2) + '\n';
}

/** An error as --json prints it: the message, the exit code (architecture §2) and the next command. */
interface JsonError {
  message: string;
  exit: number;
  next: string | null;
  details?: string[];
}

/**
 * Map an error to its exit code and print it the way every rb error reads: on stderr always
 * (a human reads it in a terminal or a CI log); under --json also as `error` in stdout's document.
 */
function report(e: unknown, ctx: { json: boolean; command: string | null }): { exit: number; error?: JsonError } {
  const err = e as { code?: string; exitCode?: number; message?: string };
  if (typeof err?.code === 'string' && err.code.startsWith('commander.')) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return { exit: 0 };
    // commander already printed its message on stderr
    const help = ctx.command ? `rb ${ctx.command} --help` : 'rb --help';
    return { exit: 2, error: { message: String(err.message ?? '').replace(/^error: /, ''), exit: 2, next: `see \`${help}\`` } };
  }
  if ((e as Error)?.name === 'ExitPromptError') {
    // Ctrl-C at a prompt: prompts come before anything changes (architecture §1)
    const message = 'cancelled at the prompt; nothing was changed.';
    process.stderr.write(`\nrb: ${message}\n`);
    return { exit: 130, error: { message, exit: 130, next: null } };
  }
  if (e instanceof RbError) {
    process.stderr.write(`rb: ${e.message}\n`);
    for (const d of e.details ?? []) process.stderr.write(`  ${d}\n`);
    if (e.next) process.stderr.write(`next: ${e.next}\n`);
    return { exit: e.exitCode, error: { message: e.message, exit: e.exitCode, next: e.next ?? null, ...(e.details?.length ? { details: e.details } : {}) } };
  }
  const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
  const next = 'run `rb status` to see what state the repository is in; please report this';
  process.stderr.write(`rb: unexpected error: ${msg}\nnext: ${next}\n`);
  return { exit: 1, error: { message: `unexpected error: ${e instanceof Error ? e.message : String(e)}`, exit: 1, next } };
}

await main();
