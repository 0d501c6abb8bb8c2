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
  /** stdin written chunk by chunk as git reads it (a pack of many files); the command fails with the iterator's error if it throws */
  inputStream?: AsyncIterable<Buffer>;
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
  /** stdout is this open file descriptor: the output never passes through rb (a restored 40 MB blob costs rb no memory) */
  stdoutFd?: number;
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
 * What a command rb starts may change, in the parts memoized answers depend on (./repo-state.ts):
 * - `refs`: the branches, remote-tracking branches and tags (refs/heads, refs/remotes, refs/tags);
 * - `head`: where HEAD points (the branch it is on, or its commit when detached);
 * - `private-refs`: every other ref (rb's refs/rb/*, refs/stash) and reflogs;
 * - `files`: the index and the working tree;
 * - `config`: the configuration.
 * Each part has its own generation, bumped when such a command starts and when it ends; an answer
 * memoized under the generations of the parts it depends on is current until one of them moves.
 */
export type RepoPart = 'refs' | 'head' | 'private-refs' | 'files' | 'config';

export const REPO_PARTS: readonly RepoPart[] = ['refs', 'head', 'private-refs', 'files', 'config'];

const NOTHING: readonly RepoPart[] = [];
const FILES: readonly RepoPart[] = ['files'];
const PRIVATE_REFS: readonly RepoPart[] = ['private-refs'];
const HEAD: readonly RepoPart[] = ['head'];
const CONFIG: readonly RepoPart[] = ['config'];
/** every part but the configuration */
const ALL_BUT_CONFIG: readonly RepoPart[] = ['refs', 'head', 'private-refs', 'files'];
/** a fetch: refs and their reflogs (FETCH_HEAD, a gc it triggers), never HEAD, the index or a file */
const REFS_ONLY: readonly RepoPart[] = ['refs', 'private-refs'];
/** a switch to an existing branch or a detached commit: HEAD, its reflog, the index and files; no branch moves */
const HEAD_AND_FILES: readonly RepoPart[] = ['head', 'private-refs', 'files'];

/**
 * The classes of git commands by what they may change — the one place that says so. A command not
 * named here (and every command that is not git: a user's command may commit, fetch, edit the
 * configuration) may change every part.
 */
export const GIT_COMMAND_CLASSES = {
  /** read, or write only objects (content-addressed: no answer about refs, HEAD, files or config changes) */
  objectsOnly: new Set(['hash-object', 'write-tree', 'mktree', 'commit-tree', 'unpack-objects', 'index-pack', 'pack-objects',
    'ls-files', 'ls-tree', 'cat-file', 'diff-files', 'diff-index', 'diff-tree', 'check-attr', 'check-ignore', 'rev-parse',
    'for-each-ref', 'show-ref', 'rev-list', 'log', 'merge-base', 'count-objects', 'var', 'check-ref-format']),
  /** the index and working-tree files only: never a ref, HEAD or the configuration */
  filesOnly: new Set(['update-index', 'read-tree', 'clean', 'restore', 'checkout-index', 'rm', 'add', 'apply']),
  /**
   * refs, HEAD and files, never a configuration key rb reads (core.*, identities,
   * i18n.commitEncoding, extensions.objectFormat, remote.*.url): at most `branch.<name>.*`
   * (a switch or checkout that sets up tracking) or a partial clone's promisor settings (a fetch
   * with --filter). Only with the hardening (`core.hooksPath=/dev/null`): a user's hook may run
   * `git config`.
   */
  notConfig: new Set(['fetch', 'switch', 'checkout', 'reset', 'commit', 'cherry-pick', 'revert', 'merge', 'stash']),
} as const;

/** The public namespaces of the ref listing: a ref under them is `refs`, any other ref is `private-refs`. */
const PUBLIC_REF = /^refs\/(heads|remotes|tags)\//;

/** The parts `git <args>` may change (readOnly: none). */
export function partsChangedBy(args: readonly string[], opts: Pick<GitOptions, 'readOnly' | 'input' | 'hardened'> = {}): readonly RepoPart[] {
  if (opts.readOnly) return NOTHING;
  const sub = subcommandOf(args);
  if (GIT_COMMAND_CLASSES.objectsOnly.has(sub)) return NOTHING;
  if (GIT_COMMAND_CLASSES.filesOnly.has(sub)) return FILES;
  const everything = opts.hardened !== false && GIT_COMMAND_CLASSES.notConfig.has(sub) ? ALL_BUT_CONFIG : REPO_PARTS;
  const rest = args.slice(args.indexOf(sub) + 1);
  switch (sub) {
    case 'checkout':
      // `checkout [<tree-ish>] -- <paths>` writes files and the index; HEAD stays
      return rest.includes('--') && !rest.some((a) => /^(-b|-B|--orphan|--detach)$/.test(a) || a.startsWith('--orphan=')) ? FILES : everything;
    case 'update-ref':
      return refsNamed(rest, opts.input).every((r) => r.startsWith('refs/') && !PUBLIC_REF.test(r)) ? PRIVATE_REFS : REPO_PARTS;
    case 'stash':
      // `stash store` and `stash drop` write refs/stash and its reflog only
      return rest[0] === 'store' || rest[0] === 'drop' ? PRIVATE_REFS : everything;
    case 'reflog':
      return rest[0] === 'expire' || rest[0] === 'delete' ? PRIVATE_REFS : rest[0] === 'show' || rest[0] === undefined ? NOTHING : REPO_PARTS;
    case 'symbolic-ref': {
      // `symbolic-ref [-m <msg>] HEAD <ref>`: HEAD only; reading (`-q HEAD`) changes nothing
      const words = withoutOptions(rest, ['-m']);
      if (words.length < 2) return rest.some((a) => a === '-d' || a === '--delete') ? REPO_PARTS : NOTHING;
      return words[0] === 'HEAD' ? HEAD : REPO_PARTS;
    }
    case 'config':
      return CONFIG;
    case 'fetch':
      // hooks off (the reference-transaction hook could run anything): a fetch writes refs, never
      // the index or the working tree, nor HEAD (a branch it may move is a ref: HEAD's commit is asked again)
      return everything === ALL_BUT_CONFIG ? REFS_ONLY : everything;
    case 'switch':
      // without a branch to create (-c/-C/--orphan, or --guess making one from a remote-tracking
      // branch): HEAD moves, files change, no branch does
      return everything === ALL_BUT_CONFIG && switchCreatesNoBranch(rest) ? HEAD_AND_FILES : everything;
    default:
      return everything;
  }
}

/** `switch <rest>` with --no-guess or --detach and no option that creates a branch (also bundled: `-qc`). */
function switchCreatesNoBranch(rest: readonly string[]): boolean {
  const options = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (options.some((a) => /^-[^-]*[cC]/.test(a) || /^--(create|force-create|orphan|guess)(=|$)/.test(a))) return false;
  return options.some((a) => a === '--no-guess' || a === '--detach' || a === '-d');
}

/** The non-option words of argv, skipping the value of each option in `withValue`. */
function withoutOptions(args: readonly string[], withValue: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (withValue.includes(a)) i++;
    else if (a === '--') out.push(...args.slice(i + 1)), (i = args.length);
    else if (!a.startsWith('-')) out.push(a);
  }
  return out;
}

/** The refs an `update-ref` names: its first word, or every ref of its `--stdin` commands; [''] when unknown. */
function refsNamed(rest: readonly string[], input: GitOptions['input']): string[] {
  if (rest.includes('--stdin')) {
    if (input === undefined) return [''];
    const z = rest.includes('-z');
    const refs: string[] = [];
    // -z: `update SP <ref> NUL <new> NUL <old> NUL`; otherwise one command a line
    for (const word of input.toString().split(z ? '\0' : '\n')) {
      const m = /^(update|create|delete|verify|symref-\w+) (\S+)/.exec(word);
      if (m) refs.push(m[2]!);
      else if (!/^(option|start|prepare|commit|abort)\b/.test(word) && !/^[0-9a-f]*$/.test(word)) return [''];
    }
    return refs;
  }
  const words = withoutOptions(rest, ['-m']);
  return [words[0] ?? ''];
}

const generations: Record<RepoPart, number> = { refs: 0, head: 0, 'private-refs': 0, files: 0, config: 0 };

/** The generation of each part in `parts`, as one key: equal keys, nothing rb started could have changed them. */
export function repoGeneration(parts: readonly RepoPart[] = REPO_PARTS): string {
  return parts.map((p) => generations[p]).join('.');
}

function bump(parts: readonly RepoPart[]): void {
  for (const p of parts) generations[p]++;
}

/** Any command that is not git (a user's command, a service): every part may change. */
export function repositoryMayChange(): void {
  bump(REPO_PARTS);
}

/** RB_TRACE_GIT=1: one stderr line per git command (start offset and duration in ms), for profiling. */
const TRACE = process.env.RB_TRACE_GIT === '1';

/** RB_TRACE_GIT=1: a line in the same trace marking a moment of the command (a step starting or ending). */
export function traceMark(what: string): void {
  if (TRACE) process.stderr.write(`[mark ${performance.now().toFixed(0)}] ${what}\n`);
}

/** Run git; throws GitError on a non-zero exit unless allowFail. */
export function git(givenArgs: readonly string[], givenOpts: GitOptions): Promise<GitResult> {
  const t = givenOpts.readOnly ? { args: givenArgs, env: givenOpts.env } : tagged(givenArgs, givenOpts.env);
  const args = t.args;
  const opts = t.env === givenOpts.env ? givenOpts : { ...givenOpts, env: t.env };
  const argv = gitArgv(args, opts.hardened ?? true);
  const t0 = TRACE ? performance.now() : 0;
  const changes = partsChangedBy(givenArgs, givenOpts);
  bump(changes);
  return new Promise((resolve, reject) => {
    const child = spawn('git', argv, {
      cwd: opts.cwd,
      env: gitEnv(opts),
      stdio: [opts.input === undefined && !opts.inputStream ? 'ignore' : 'pipe', opts.stdoutFd ?? 'pipe', 'pipe'],
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
    child.stdout?.on('data', onStdout ? (d: Buffer) => onStdout(d) : (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      bump(changes);
      reject(e);
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(opts.input);
    }
    let inputError: unknown = null;
    if (opts.inputStream) {
      writeStream(child.stdin!, opts.inputStream).catch((e: unknown) => {
        inputError = e;
        child.kill('SIGKILL');
      });
    }
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      bump(changes);
      if (inputError) return reject(inputError);
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

/** Write `src` to a child's stdin as it drains, then close it (stops early when the child closed it). */
async function writeStream(stdin: NodeJS.WritableStream & { destroyed: boolean }, src: AsyncIterable<Buffer>): Promise<void> {
  stdin.on('error', () => undefined);
  const drained = () => new Promise<void>((resolve) => {
    if (stdin.destroyed) return resolve();
    const done = () => {
      stdin.off('drain', done);
      stdin.off('close', done);
      resolve();
    };
    stdin.on('drain', done);
    stdin.on('close', done);
  });
  for await (const chunk of src) {
    if (stdin.destroyed) break;
    if (!stdin.write(chunk)) await drained();
  }
  stdin.end();
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
  const changes = partsChangedBy(givenArgs, givenOpts);
  bump(changes);
  const r = spawnSync('git', gitArgv(args, opts.hardened ?? true), {
    cwd: opts.cwd,
    env: gitEnv(opts),
    input: opts.input,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    timeout: opts.timeoutMs,
    maxBuffer: 1024 * 1024 * 1024,
  });
  bump(changes);
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
