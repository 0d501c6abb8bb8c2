/**
 * Every git call rb makes goes through here (safety.md §2):
 * - argv arrays, never a shell; stdin closed unless input is given;
 * - LC_ALL=C, GIT_EDITOR=true, GIT_TERMINAL_PROMPT=0, no inherited GIT_DIR / GIT_WORK_TREE /
 *   GIT_INDEX_FILE (rb may be run from a hook);
 * - for rb's own bookkeeping and destructive steps (`hardened`, the default) the user's hooks,
 *   signing, submodule recursion and auto-gc are switched off with -c flags;
 * - read-only queries pass `readOnly` to add GIT_OPTIONAL_LOCKS=0.
 *
 * Built on node:child_process rather than execa or simple-git: this module is imported by
 * `rb status` and `rb history`, which must start fast (execa costs ~100 ms to import), and the
 * snapshot needs binary stdout, a temporary GIT_INDEX_FILE (which simple-git refuses) and exact
 * control of the environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import { GitError } from '../errors.js';
import { FAULTS, faultPoint } from '../engine/fault.js';

export const HARDENING: readonly string[] = [
  '-c', 'core.hooksPath=/dev/null',
  '-c', 'commit.gpgSign=false',
  '-c', 'tag.gpgSign=false',
  '-c', 'submodule.recurse=false',
  '-c', 'gc.auto=0',
  '-c', 'maintenance.auto=false',
  '-c', 'advice.addEmbeddedRepo=false',
  '-c', 'core.safecrlf=false',
  '-c', 'core.quotePath=false',
];

const SCRUBBED = [
  'GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_NAMESPACE', 'GIT_PREFIX', 'GIT_COMMON_DIR', 'GIT_LITERAL_PATHSPECS', 'GIT_GLOB_PATHSPECS',
  'GIT_NOGLOB_PATHSPECS', 'GIT_ICASE_PATHSPECS', 'GIT_QUARANTINE_PATH', 'GIT_REFLOG_ACTION', 'GIT_CONFIG_PARAMETERS',
  'GIT_CONFIG_COUNT',
];

export interface GitOptions {
  cwd: string;
  /** data for stdin; otherwise stdin is closed */
  input?: string | Buffer;
  /** extra environment (a value of undefined removes the variable) */
  env?: Record<string, string | undefined>;
  /** add rb's -c hardening flags (default true). Pass false where the user's hooks and signing must run. */
  hardened?: boolean;
  /** GIT_OPTIONAL_LOCKS=0 for read-only queries */
  readOnly?: boolean;
  /** use this index file instead of the repository's */
  indexFile?: string;
  /** resolve with the exit code instead of throwing on non-zero */
  allowFail?: boolean;
  /** kill the process after this many ms */
  timeoutMs?: number;
  /** only stdoutBuf is wanted: stdout is left empty (saves decoding megabytes of listings) */
  binary?: boolean;
  /** stdout goes here chunk by chunk and is not kept (stdout and stdoutBuf are empty): for listings of megabytes */
  onStdout?: (chunk: Buffer) => void;
}

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBuf: Buffer;
}

export function gitEnv(opts: Pick<GitOptions, 'env' | 'readOnly' | 'indexFile'> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of SCRUBBED) delete env[k];
  for (const k of Object.keys(env)) if (k.startsWith('GIT_CONFIG_KEY_') || k.startsWith('GIT_CONFIG_VALUE_')) delete env[k];
  env.LC_ALL = 'C';
  env.LANG = 'C';
  env.LANGUAGE = 'C';
  env.GIT_EDITOR = 'true';
  env.GIT_SEQUENCE_EDITOR = 'true';
  env.GIT_MERGE_AUTOEDIT = 'no';
  env.GIT_TERMINAL_PROMPT = '0';
  env.GIT_ASKPASS = 'true';
  env.SSH_ASKPASS = 'true';
  env.GCM_INTERACTIVE = 'never';
  env.GIT_SSH_COMMAND = env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes -o ConnectTimeout=10';
  env.GIT_PAGER = 'cat';
  env.PAGER = 'cat';
  if (opts.readOnly) env.GIT_OPTIONAL_LOCKS = '0';
  if (opts.indexFile) env.GIT_INDEX_FILE = opts.indexFile;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/**
 * What the repository's file system is, as `-c` flags for every git call, hardened or not (set
 * by findRepo from a probe: repo.ts `fileSystemFlags`). Today one flag: `core.ignorecase=false`
 * when the file system tells `A` from `a` — a repository copied or cloned from macOS or Windows
 * keeps core.ignorecase=true, and git then takes a case-only rename (Readme.md -> README.md)
 * for the tracked file: it lists README.md as neither untracked nor changed, so a snapshot would
 * miss it and a restore would delete it.
 */
let fileSystemFlags: readonly string[] = [];

export function setFileSystemFlags(flags: readonly string[]): void {
  fileSystemFlags = flags;
}

export function currentFileSystemFlags(): readonly string[] {
  return fileSystemFlags;
}

export function gitArgv(args: readonly string[], hardened = true): string[] {
  return hardened ? [...HARDENING, ...fileSystemFlags, ...args] : [...fileSystemFlags, ...args];
}

/**
 * The reflog tag of the run in progress (`rb run <id>`), set by the run lifecycle. While it is
 * set, every git command that may write (not `readOnly`) gets GIT_REFLOG_ACTION=<tag> and
 * `core.logAllRefUpdates=always`, and an `update-ref -m <msg>` gets `<tag>: <msg>`: every ref the
 * run moves (reset, cherry-pick, commit, fetch, update-ref) has a reflog entry naming the run.
 * That is how rb knows, after a kill -9, which refs the run left where they are
 * (journal/ref-effects.ts), without the step having journaled it.
 */
let runTag: string | null = null;

export function setRunTag(tag: string | null): void {
  runTag = tag;
}

export function currentRunTag(): string | null {
  return runTag;
}

/** argv and env of a command that may write, carrying the run's reflog tag. */
function tagged(args: readonly string[], env: GitOptions['env']): { args: readonly string[]; env: GitOptions['env'] } {
  if (!runTag) return { args, env };
  let out = args;
  const sub = subcommandOf(args);
  if (sub === 'update-ref') {
    const i = args.indexOf('-m');
    if (i >= 0 && i + 1 < args.length) out = [...args.slice(0, i + 1), `${runTag}: ${args[i + 1]}`, ...args.slice(i + 2)];
    else out = [...args.slice(0, args.indexOf('update-ref') + 1), '-m', runTag, ...args.slice(args.indexOf('update-ref') + 1)];
  }
  return { args: ['-c', 'core.logAllRefUpdates=always', ...out], env: { GIT_REFLOG_ACTION: runTag, ...env } };
}

/**
 * Bumped when a command that may change the repository starts and when it ends: a git command
 * that is not `readOnly`, or any other command rb starts (a user's command may commit). Answers
 * memoized under one generation (./repo-state.ts) are current until it moves.
 */
let generation = 0;

export function repoGeneration(): number {
  return generation;
}

export function repositoryMayChange(): void {
  generation++;
}

/**
 * Plumbing that writes objects or an index file and never moves HEAD or a ref (and runs no
 * hook): it leaves the generation where it is.
 */
const KEEPS_REFS = new Set(['hash-object', 'write-tree', 'mktree', 'commit-tree', 'unpack-objects', 'index-pack', 'pack-objects', 'update-index', 'ls-files', 'cat-file', 'diff-files', 'diff-index']);

function mayMoveRefs(args: readonly string[], opts: GitOptions): boolean {
  return !opts.readOnly && !KEEPS_REFS.has(subcommandOf(args));
}

/** RB_TRACE_GIT=1: one stderr line per git command (start offset and duration in ms), for profiling. */
const TRACE = process.env.RB_TRACE_GIT === '1';

/** Run git; throws GitError on a non-zero exit unless allowFail. */
export function git(givenArgs: readonly string[], givenOpts: GitOptions): Promise<GitResult> {
  const t = givenOpts.readOnly ? { args: givenArgs, env: givenOpts.env } : tagged(givenArgs, givenOpts.env);
  const args = t.args;
  const opts = t.env === givenOpts.env ? givenOpts : { ...givenOpts, env: t.env };
  const argv = gitArgv(args, opts.hardened ?? true);
  const t0 = TRACE ? performance.now() : 0;
  const moves = mayMoveRefs(givenArgs, givenOpts);
  if (moves) generation++;
  return new Promise((resolve, reject) => {
    const child = spawn('git', argv, {
      cwd: opts.cwd,
      env: gitEnv(opts),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // own process group: a Ctrl-C on the terminal interrupts rb, which lets the running git
      // command finish before it journals `interrupted` (safety.md §3)
      detached: true,
    });
    if (FAULTS) faultPoint(`git:${subcommandOf(args)}`);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    if (opts.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        // the whole process group: a push or fetch runs helpers (ssh, git-remote-https) that
        // hold the pipes open, so killing git alone would not end the wait
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, opts.timeoutMs);
    }
    const onStdout = opts.onStdout;
    child.stdout!.on('data', onStdout ? (d: Buffer) => onStdout(d) : (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      if (moves) generation++;
      reject(e);
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      if (moves) generation++;
      if (TRACE) process.stderr.write(`[git ${t0.toFixed(0)}+${(performance.now() - t0).toFixed(0)}ms] ${args.filter((a, i) => a !== '-c' && args[i - 1] !== '-c').join(' ').slice(0, 120)}\n`);
      const stdoutBuf = Buffer.concat(out);
      const stdout = opts.binary ? '' : stdoutBuf.toString('utf8');
      let stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) stderr += `\n(timed out after ${opts.timeoutMs} ms)`;
      const c = code ?? (timedOut ? 124 : 128);
      if (c !== 0 && !opts.allowFail) reject(new GitError([...givenArgs], c, stdout, stderr));
      else resolve({ code: c, stdout, stderr, stdoutBuf });
    });
  });
}

/** The git subcommand of an argv (after global options such as `-c k=v` and `--literal-pathspecs`). */
export function subcommandOf(args: readonly string[]): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-c' || a === '-C') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return '';
}

/** Synchronous variant, for the few places that cannot be async (startup checks, exit handlers). */
export function gitSync(givenArgs: readonly string[], givenOpts: GitOptions): GitResult {
  const t = givenOpts.readOnly ? { args: givenArgs, env: givenOpts.env } : tagged(givenArgs, givenOpts.env);
  const args = t.args;
  const opts = t.env === givenOpts.env ? givenOpts : { ...givenOpts, env: t.env };
  if (mayMoveRefs(givenArgs, givenOpts)) generation++;
  const r = spawnSync('git', gitArgv(args, opts.hardened ?? true), {
    cwd: opts.cwd,
    env: gitEnv(opts),
    input: opts.input,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: opts.timeoutMs,
    maxBuffer: 1024 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  const stdoutBuf = r.stdout ?? Buffer.alloc(0);
  const res = { code: r.status ?? 128, stdout: stdoutBuf.toString('utf8'), stderr: (r.stderr ?? Buffer.alloc(0)).toString('utf8'), stdoutBuf };
  if (res.code !== 0 && !opts.allowFail) throw new GitError([...givenArgs], res.code, res.stdout, res.stderr);
  return res;
}

/** stdout with the trailing newline removed */
export async function gitOut(args: readonly string[], opts: GitOptions): Promise<string> {
  const r = await git(args, opts);
  return r.stdout.replace(/\n$/, '');
}

/** Split -z output into records (drops the trailing empty record). */
export function splitZ(s: string): string[] {
  if (s === '') return [];
  const parts = s.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Resolve a revision to an oid, or null when it does not resolve. */
export async function revParse(cwd: string, rev: string): Promise<string | null> {
  const r = await git(['rev-parse', '-q', '--verify', '--end-of-options', rev], { cwd, allowFail: true, readOnly: true });
  return r.code === 0 ? r.stdout.trim() : null;
}

/** Is `name` acceptable as a branch name? (git check-ref-format --branch) */
export async function isValidBranchName(cwd: string, name: string): Promise<boolean> {
  if (name.startsWith('-')) return false;
  const r = await git(['check-ref-format', '--branch', name], { cwd, allowFail: true, readOnly: true });
  return r.code === 0;
}

/** identityEnv: the identity for rb's own commits, from configuration asked once per repository generation. */
export { identityEnv } from './repo-state.js';

/** identityEnv from config values already read (keys lowercased, as `parseConfigZ` returns them). */
export function identityFromConfig(cfg: Readonly<Record<string, string | null>>): Record<string, string> {
  const env: Record<string, string> = {};
  if (!cfg['user.name']?.trim()) {
    if (!process.env.GIT_AUTHOR_NAME) env.GIT_AUTHOR_NAME = 'rb';
    if (!process.env.GIT_COMMITTER_NAME) env.GIT_COMMITTER_NAME = 'rb';
  }
  if (!cfg['user.email']?.trim()) {
    if (!process.env.GIT_AUTHOR_EMAIL) env.GIT_AUTHOR_EMAIL = 'rb@localhost';
    if (!process.env.GIT_COMMITTER_EMAIL) env.GIT_COMMITTER_EMAIL = 'rb@localhost';
  }
  return env;
}

/**
 * Parse `git config -z --get-regexp` output ("key\nvalue\0" records; a key without a value,
 * such as `[core] filemode`, has none): keys lowercased, the last value of a key wins, null for
 * a key given without a value.
 */
export function parseConfigZ(out: string): Record<string, string | null> {
  const v: Record<string, string | null> = {};
  for (const rec of splitZ(out)) {
    const nl = rec.indexOf('\n');
    v[(nl < 0 ? rec : rec.slice(0, nl)).toLowerCase()] = nl < 0 ? null : rec.slice(nl + 1);
  }
  return v;
}

/** Quote an argv for display in plans and journals (never executed through a shell). */
export function displayArgv(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/** A word the shell reads literally: as is when it has only safe characters, else single-quoted. */
export function shellQuote(a: string): string {
  if (a !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(a)) return a;
  return singleQuote(a);
}

/** POSIX single-quoting: `it's` -> `'it'\\''s'`. The result is always exactly one literal word. */
export function singleQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
