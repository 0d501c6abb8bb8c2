/**
 * The collectors of an analysis bundle (`rb analyze`): each one gathers one kind of data into
 * one file of the bundle. They run concurrently ({@link runCollectors}), each under its own
 * timeout; a collector that fails, throws or times out becomes a result saying so — it is
 * recorded in its file and in analysis.md, and never stops the others.
 *
 * Collectors only run commands (git through the hardened runner, everything else through
 * runCommand) and read system facts (os, statfs, /proc/meminfo). They never read files of the
 * repository, and never the environment variables' values (environment.txt holds versions).
 * Their output is redacted by the caller before it is written (see redact.ts).
 */
import { existsSync } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
import { arch, freemem, platform, release, totalmem, type as osType, version as osVersion, loadavg, cpus } from 'node:os';
import { join, posix } from 'node:path';
import { git, displayArgv } from '../io/git.js';
import { runCommand, type ExecResult } from '../io/exec.js';
import { stripAnsi } from '../records/test-output.js';
import { commandOutcome } from '../records/command-outcome.js';
import { CLEAN_ENV } from '../check/commit-checkout.js';
import type { Command, Config, InstallConfig } from '../types.js';

/** How long one collector may take before it is recorded as timed out (ms). */
export const COLLECTOR_TIMEOUT_MS = 60_000;

/** How many commits git_graph.txt and git_reflog.txt show. */
export const GIT_HISTORY_LIMIT = 200;

export interface CollectorContext {
  /** the repository's top level (absolute): git queries and dependency listings read it */
  root: string;
  config: Config;
  /**
   * where the configured commands (test, coverage, performance, build) run: a checkout of the
   * analysed state outside the working copy (workspace.ts), never the working copy itself;
   * null with `commandsProblem` saying why they cannot run
   */
  commandsRoot: string | null;
  /** why the configured commands cannot run (no checkout, an install failed) */
  commandsProblem?: string | null;
}

/** What a collector hands back; the runner adds status and times. */
export interface CollectorOutput {
  text: string;
  /** the command(s) run, for the file header and analysis.md */
  command?: string;
  exitCode?: number | null;
  /** the data was collected but says something failed (e.g. a non-zero exit): why */
  failed?: string;
  /** nothing to collect (e.g. no coverage command configured): why */
  skipped?: string;
  /** structured facts for analysis.md (e.g. npm ls problems) */
  data?: Record<string, unknown>;
}

export interface Collector {
  name: string;
  /** the file it writes inside the bundle */
  file: string;
  /** one line saying what the file holds */
  title: string;
  /** gather; `signal` aborts when the collector's time is up */
  collect(ctx: CollectorContext, signal: AbortSignal): Promise<CollectorOutput>;
}

export type CollectorStatus = 'ok' | 'failed' | 'timeout' | 'skipped';

export interface CollectorResult {
  name: string;
  file: string;
  title: string;
  status: CollectorStatus;
  command: string | null;
  exitCode: number | null;
  /** why it failed, timed out or was skipped */
  reason: string | null;
  text: string;
  data: Record<string, unknown>;
  /** wall-clock start and end (Date.now()), to show the collectors overlapped */
  startedMs: number;
  endedMs: number;
  durationMs: number;
}

export interface RunCollectorsOptions {
  /** per-collector timeout in ms (default {@link COLLECTOR_TIMEOUT_MS}) */
  timeoutMs?: number;
}

/** Display form of a configured command (a string is what the shell runs). */
export function showCommand(c: Command): string {
  return typeof c === 'string' ? c : displayArgv(c);
}

/**
 * Run one collector under its timeout; never throws. At the timeout the collector's signal
 * aborts (runCommand then stops the command it started) and the result is recorded as
 * `timeout` at once, whether or not the collector has stopped yet.
 */
async function runOne(c: Collector, ctx: CollectorContext, timeoutMs: number): Promise<CollectorResult> {
  const ac = new AbortController();
  const startedMs = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      ac.abort(new Error(`timed out after ${timeoutMs} ms`));
      resolve('timeout');
    }, timeoutMs);
  });
  const base = { name: c.name, file: c.file, title: c.title };
  let work: Promise<CollectorOutput>;
  try {
    work = c.collect(ctx, ac.signal);
  } catch (e) {
    work = Promise.reject(e);
  }
  work.catch(() => undefined); // a collector that rejects after its timeout must not become an unhandled rejection
  try {
    const r = await Promise.race([work, timedOut]);
    const endedMs = Date.now();
    const times = { startedMs, endedMs, durationMs: endedMs - startedMs };
    if (r === 'timeout') {
      return {
        ...base, ...times, status: 'timeout', command: null, exitCode: null, data: {},
        reason: `timed out after ${fmtSeconds(timeoutMs)} (the limit of every collector)`, text: '',
      };
    }
    const status: CollectorStatus = r.skipped ? 'skipped' : r.failed ? 'failed' : 'ok';
    return {
      ...base, ...times, status, command: r.command ?? null, exitCode: r.exitCode ?? null, data: r.data ?? {},
      reason: r.skipped ?? r.failed ?? null, text: r.text,
    };
  } catch (e) {
    const endedMs = Date.now();
    return {
      ...base, startedMs, endedMs, durationMs: endedMs - startedMs, status: 'failed', command: null, exitCode: null, data: {},
      reason: `could not collect: ${(e as Error)?.message ?? String(e)}`, text: '',
    };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/** Run the collectors concurrently (Promise.all), each under its own timeout. Never throws. */
export function runCollectors(collectors: readonly Collector[], ctx: CollectorContext, opts: RunCollectorsOptions = {}): Promise<CollectorResult[]> {
  const timeoutMs = opts.timeoutMs ?? COLLECTOR_TIMEOUT_MS;
  return Promise.all(collectors.map((c) => runOne(c, ctx, timeoutMs)));
}

/** The same, one after another (for `npm run bench`: concurrent against sequential wall time). */
export async function runCollectorsSequentially(collectors: readonly Collector[], ctx: CollectorContext, opts: RunCollectorsOptions = {}): Promise<CollectorResult[]> {
  const timeoutMs = opts.timeoutMs ?? COLLECTOR_TIMEOUT_MS;
  const out: CollectorResult[] = [];
  for (const c of collectors) out.push(await runOne(c, ctx, timeoutMs));
  return out;
}

export function fmtSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** Why a finished command counts as failed, or undefined when it exited 0. */
function commandProblem(r: ExecResult): string | undefined {
  if (r.failedToStart) return `could not start: ${r.failedToStart}`;
  if (r.timedOut) return 'timed out';
  if (r.cancelled) return 'cancelled (timed out)';
  if (r.exitCode !== 0) return `exit ${r.exitCode}`;
  return undefined;
}

// ---- the collectors ---------------------------------------------------------------------------

function gitCollector(name: string, file: string, title: string, args: string[]): Collector {
  return {
    name, file, title,
    async collect(ctx) {
      const r = await git(args, { cwd: ctx.root, readOnly: true, allowFail: true, timeoutMs: COLLECTOR_TIMEOUT_MS });
      const text = r.stdout + (r.stderr.trim() ? `\n${r.stderr}` : '');
      return { text, command: `git ${displayArgv(args)}`, exitCode: r.code, failed: r.code === 0 ? undefined : `exit ${r.code}` };
    },
  };
}

/**
 * Branches (local and remote-tracking, with the commit and subject each points at) and tags,
 * newest first: which backup, retry, recovery branches and checkpoint tags exist now. simple-git
 * parses the listings (src/io/porcelain.ts).
 */
const refs: Collector = {
  name: 'refs',
  file: 'git_refs.txt',
  title: 'branches and tags, and the commit each branch points at',
  async collect(ctx) {
    const { porcelain } = await import('../io/porcelain.js');
    const g = porcelain(ctx.root, { timeoutMs: COLLECTOR_TIMEOUT_MS });
    const [branches, tags] = await Promise.all([g.branch(['--all', '-v', '--no-abbrev']), g.tags(['--sort=-creatordate'])]);
    const list = Object.values(branches.branches);
    const width = Math.max(0, ...list.map((b) => b.name.length));
    const lines = [`Branches (${list.length}; * = current):`];
    for (const b of list) lines.push(`${b.current ? '*' : ' '} ${b.name.padEnd(width)}  ${b.commit.slice(0, 12)}  ${b.label}`);
    lines.push('', `Tags (${tags.all.length}, newest first):`, ...tags.all.map((t) => `  ${t}`));
    return {
      text: lines.join('\n') + '\n',
      command: 'git branch --all -v --no-abbrev; git tag --list --sort=-creatordate',
      data: { branches: list.map((b) => ({ name: b.name, commit: b.commit, current: b.current })), tags: tags.all },
    };
  },
};

/**
 * A collector running a configured command (config.test, coverage, performance, build) in the
 * checkout of the analysed state (ctx.commandsRoot), never in the working copy. A command that
 * could not run (not found, not executable, killed: command-outcome.ts) is said as such.
 */
function configuredCommand(name: string, file: string, title: string, key: 'test' | 'coverage' | 'performance' | 'build'): Collector {
  return {
    name, file, title,
    async collect(ctx, signal) {
      const command = ctx.config[key];
      if (!command) return { text: '', skipped: `no ${key} command configured (set ${key} in rb.config.yaml)` };
      if (!ctx.commandsRoot || ctx.commandsProblem) {
        const why = `not run: ${ctx.commandsProblem ?? 'no checkout of the analysed state'}`;
        return { text: '', command: showCommand(command), failed: why, data: { outcome: 'not-run', outcomeMessage: why, next: null } };
      }
      const r = await runCommand(command, { cwd: ctx.commandsRoot, signal, env: CLEAN_ENV });
      const outcome = commandOutcome(r, { key });
      return {
        text: stripAnsi(r.all),
        command: showCommand(command),
        exitCode: r.failedToStart ? null : r.exitCode,
        failed: outcome.ran ? commandProblem(r) : `could not run: ${outcome.message}`,
        data: { outcome: outcome.kind, outcomeMessage: outcome.message, next: outcome.next },
      };
    },
  };
}

/** Known lockfiles and the command that lists what is installed for them (run in the install's cwd). */
const LISTINGS: { match: RegExp; argv: string[]; fallback?: string[] }[] = [
  { match: /^(package-lock|npm-shrinkwrap)\.json$/, argv: ['npm', 'ls', '--all'] },
  { match: /^pnpm-lock\.yaml$/, argv: ['pnpm', 'list', '--depth', 'Infinity'] },
  { match: /^yarn\.lock$/, argv: ['yarn', 'list'] },
  { match: /^(requirements.*\.txt|Pipfile\.lock|poetry\.lock|uv\.lock)$/, argv: ['pip', 'freeze'], fallback: ['python3', '-m', 'pip', 'freeze'] },
  { match: /^go\.(sum|mod)$/, argv: ['go', 'list', '-m', 'all'] },
  { match: /^Cargo\.lock$/, argv: ['cargo', 'tree'] },
  { match: /^Gemfile\.lock$/, argv: ['bundle', 'list'] },
  { match: /^composer\.lock$/, argv: ['composer', 'show'] },
];

/** Lockfile names looked for when no install is configured. */
export const KNOWN_LOCKFILES = [
  'package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml', 'yarn.lock', 'requirements.txt', 'Pipfile.lock',
  'poetry.lock', 'uv.lock', 'go.sum', 'Cargo.lock', 'Gemfile.lock', 'composer.lock',
];

/** The listing command for a lockfile type, or null when rb knows none. */
export function listingFor(lockfile: string): { argv: string[]; fallback?: string[] } | null {
  const base = posix.basename(lockfile.replace(/\\/g, '/'));
  const l = LISTINGS.find((x) => x.match.test(base));
  return l ? { argv: l.argv, fallback: l.fallback } : null;
}

/** The installs to list: the configured ones, or the known lockfiles found at the root. */
export function installsToList(root: string, installs: readonly InstallConfig[]): InstallConfig[] {
  if (installs.length) return [...installs];
  const found = KNOWN_LOCKFILES.filter((f) => existsSync(join(root, f)));
  return found.length ? [{ command: [], cwd: '.', lockfiles: found, dir: null }] : [];
}

/** Lines of a dependency listing that report a problem (npm ls: missing, invalid, extraneous, peer). */
const DEP_PROBLEM = /\b(missing|invalid|extraneous|UNMET|ERESOLVE|peer dep|conflict)\b/i;

const dependencies: Collector = {
  name: 'dependencies',
  file: 'dependencies.txt',
  title: 'installed dependencies per install (npm ls --all, pip freeze, … by lockfile type)',
  async collect(ctx, signal) {
    const installs = installsToList(ctx.root, ctx.config.install);
    if (!installs.length) return { text: '', skipped: 'no install configured and no known lockfile at the repository root' };
    const sections: string[] = [];
    const commands: string[] = [];
    const failures: string[] = [];
    const listings: { cwd: string; lockfile: string; command: string; exitCode: number | null; problems: string[] }[] = [];
    const seen = new Set<string>();
    for (const inst of installs) {
      const cwdRel = inst.cwd || '.';
      const cwd = join(ctx.root, cwdRel);
      const lockfiles = inst.lockfiles.length ? inst.lockfiles : KNOWN_LOCKFILES.filter((f) => existsSync(join(cwd, f)));
      for (const lf of lockfiles) {
        const listing = listingFor(lf);
        const where = cwdRel === '.' ? lf : `${cwdRel}/${lf}`;
        if (!listing) {
          sections.push(`## ${where}\n(rb knows no listing command for this lockfile type)\n`);
          continue;
        }
        const key = `${cwdRel}\0${listing.argv.join(' ')}`;
        if (seen.has(key)) continue;
        seen.add(key);
        let argv = listing.argv;
        let r = await runCommand(argv, { cwd, signal });
        if (r.failedToStart && listing.fallback) {
          argv = listing.fallback;
          r = await runCommand(argv, { cwd, signal });
        }
        const shown = displayArgv(argv);
        commands.push(cwdRel === '.' ? shown : `(cd ${cwdRel}) ${shown}`);
        const problem = commandProblem(r);
        const text = stripAnsi(r.all);
        if (problem) failures.push(`${shown} in ${cwdRel}: ${problem}`);
        listings.push({
          cwd: cwdRel, lockfile: where, command: shown, exitCode: r.failedToStart ? null : r.exitCode,
          problems: text.split('\n').filter((l) => DEP_PROBLEM.test(l)).slice(0, 20).map((l) => l.trim()),
        });
        sections.push(`## ${where}: ${shown} (in ${cwdRel})  — ${problem ?? 'exit 0'}\n${text.replace(/\s+$/, '')}\n`);
      }
    }
    return {
      text: sections.join('\n'),
      command: commands.join('; ') || undefined,
      failed: failures.length ? failures.join('; ') : undefined,
      data: { listings },
    };
  },
};

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

const diskSpace: Collector = {
  name: 'disk',
  file: 'disk_space.txt',
  title: 'free space of the repository\'s file system (df -h, statfs)',
  async collect(ctx, signal) {
    const parts: string[] = [];
    let usedPercent: number | null = null;
    try {
      const s = await statfs(ctx.root);
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      // as df computes Use%: used / (used + available to unprivileged users)
      const used = total - s.bfree * s.bsize;
      usedPercent = used + free > 0 ? Math.round((used / (used + free)) * 1000) / 10 : null;
      parts.push(`statfs ${ctx.root}: total ${gib(total)}, available ${gib(free)}, used ${usedPercent ?? '?'}%`);
    } catch (e) {
      parts.push(`statfs failed: ${(e as Error).message}`);
    }
    const argv = ['df', '-h', ctx.root];
    const r = await runCommand(argv, { cwd: ctx.root, signal });
    if (r.failedToStart) parts.push(`df: ${r.failedToStart}`);
    else parts.push('', `$ ${displayArgv(argv)}`, stripAnsi(r.all).replace(/\s+$/, ''));
    return { text: parts.join('\n') + '\n', command: displayArgv(argv), exitCode: r.failedToStart ? null : r.exitCode, data: { usedPercent } };
  },
};

const memory: Collector = {
  name: 'memory',
  file: 'memory.txt',
  title: 'memory of the machine (os.totalmem / freemem, /proc/meminfo)',
  async collect() {
    const lines = [
      `total: ${gib(totalmem())}`,
      `free:  ${gib(freemem())}`,
      `load average (1, 5, 15 min): ${loadavg().map((x) => x.toFixed(2)).join(', ')}`,
      `cpus: ${cpus().length}`,
    ];
    if (existsSync('/proc/meminfo')) lines.push('', '/proc/meminfo:', (await readFile('/proc/meminfo', 'utf8')).replace(/\s+$/, ''));
    return { text: lines.join('\n') + '\n' };
  },
};

/** rb's own version (package.json next to dist/ and src/). */
async function rbVersion(): Promise<string> {
  try {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function versionOf(argv: string[], cwd: string, signal: AbortSignal): Promise<string> {
  const r = await runCommand(argv, { cwd, signal });
  if (r.failedToStart) return `not found (${r.failedToStart})`;
  const first = stripAnsi(r.stdout || r.all).trim().split('\n')[0] ?? '';
  return r.exitCode === 0 ? first || '(no output)' : `exit ${r.exitCode}: ${first}`;
}

/** /etc/os-release's PRETTY_NAME, when there is one. */
async function osPrettyName(): Promise<string | null> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME=("?)(.*)\1$/m.exec(text);
    return m ? m[2]! : null;
  } catch {
    return null;
  }
}

const environment: Collector = {
  name: 'environment',
  file: 'environment.txt',
  title: 'versions of node, npm, git, the OS and rb (never the environment variables)',
  async collect(ctx, signal) {
    const [npm, gitV, pretty, rb] = await Promise.all([
      versionOf(['npm', '--version'], ctx.root, signal),
      git(['--version'], { cwd: ctx.root, readOnly: true, allowFail: true, hardened: false }).then((r) => r.stdout.trim() || `exit ${r.code}`, (e: Error) => `not found (${e.message})`),
      osPrettyName(),
      rbVersion(),
    ]);
    const lines = [
      `rb:   ${rb}`,
      `node: ${process.version} (${process.execPath})`,
      `npm:  ${npm}`,
      `git:  ${gitV}`,
      `os:   ${osType()} ${release()} ${arch()}${pretty ? ` — ${pretty}` : ''}`,
      `kernel: ${osVersion()}`,
      `platform: ${platform()}`,
      '',
      'Environment variables are not recorded (they may hold secrets).',
    ];
    return { text: lines.join('\n') + '\n', command: 'node --version (process.version); npm --version; git --version' };
  },
};

/** The collectors of a bundle, in the order analysis.md lists them. */
export function defaultCollectors(config: Config): Collector[] {
  const list: Collector[] = [
    gitCollector('reflog', 'git_reflog.txt', 'where HEAD has been (git reflog)', ['reflog', 'show', '--date=iso', `-n${GIT_HISTORY_LIMIT}`, 'HEAD', '--']),
    // refs/rb/* (rb's snapshots) are left out: they are rb's bookkeeping, not the team's history
    gitCollector('graph', 'git_graph.txt', 'the branch graph (git log --graph --oneline --decorate --all)', ['log', '--graph', '--oneline', '--decorate', '--color=never', '--exclude=refs/rb/*', '--all', `-n${GIT_HISTORY_LIMIT}`]),
    refs,
    configuredCommand('tests', 'test_results.txt', 'output of the configured test command, run now', 'test'),
    configuredCommand('coverage', 'coverage.txt', 'output of the configured coverage command', 'coverage'),
    configuredCommand('performance', 'performance.txt', 'output of the configured performance command', 'performance'),
  ];
  if (config.build) list.push(configuredCommand('build', 'build.txt', 'output of the configured build command', 'build'));
  list.push(dependencies, diskSpace, memory, environment);
  return list;
}
