/**
 * `deps.install`: run the configured installs (config `install[]`: one per package / language)
 * after a rollback, skipping the ones whose lockfiles did not change.
 *
 * A reinstall is the slowest part of a rollback (minutes for `npm ci`), and after a rollback
 * that did not touch the lockfiles it is also useless. An install is skipped
 *   - with a dependency dir (node_modules, .venv): when `since` is given (the commit HEAD was on
 *     before the rollback, "{{run.head}}"), the dir still exists, every lockfile is the same
 *     blob in `since` and in HEAD, and the working copy agrees with HEAD;
 *   - without one (pip into a system Python, go): when every lockfile on disk is byte for byte
 *     what it was at the last successful run of the same install in this working copy (rb
 *     remembers their blob ids in <git-common-dir>/rb/installs.json, keyed by working copy,
 *     folder and command);
 *   - with a note (a warning): when its folder or one of its lockfiles is not there at all —
 *     the baseline does not have it, so the command could only fail.
 * In every other case — no `since`, no lockfiles configured, a ref that does not resolve,
 * nothing remembered — it runs: installing is only slow, skipping wrongly leaves a broken tree.
 *
 * What `rb undo` cannot give back: an install that ran against other lockfiles than the ones
 * the snapshot holds leaves dependencies that fit the baseline, not the restored files. Each
 * such install carries `afterUndo` (the command to run again) in the step's result, and
 * undoFollowUps() (undo-follow-ups.ts) turns a run's journal into those next steps.
 *
 * lockfilesUnchanged() is also used by the emergency playbook's clean step to decide whether
 * the dependency directory may be kept through `git clean`.
 */
import { z } from '#zod';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { runCommand, tail } from '../io/exec.js';
import { git, revParse, shellQuote } from '../io/git.js';
import { objectInfo } from '../io/cat-file.js';
import { writeJsonAtomic } from '../io/fs.js';
import type { InstallConfig } from '../types.js';
import type { Repo } from '../repo.js';
import type { StepContext, StepKind, StepResult } from './types.js';
import { displayCommand, repoPath } from './common.js';
import { comparedFiles, lockWords, withComparedFiles } from './dependency-dirs.js';

const schema = z
  .object({
    /** which installs: an index into config.install ("0") or its cwd ("web"); default all */
    names: z.array(z.string().min(1)).optional(),
    /** run even when the lockfiles did not change */
    force: z.boolean().optional(),
    /** compare lockfiles between this commit and HEAD (for a rollback: "{{run.head}}") */
    since: z.string().optional(),
  })
  .strict();
type With = z.infer<typeof schema>;

export const DEFAULT_INSTALL_TIMEOUT_MS = 15 * 60_000;

export interface InstallOutcome {
  cwd: string;
  command: string;
  ran: boolean;
  reason: string;
  exitCode?: number;
  durationMs?: number;
  /** skipped because its folder or a lockfile is missing (said as a warning) */
  missing?: string[];
  /**
   * the install ran against other lockfiles than the run's snapshot holds: after `rb undo`, the
   * dependencies fit the baseline, not the restored files. The command line to run again, e.g.
   * `(cd frontend && npm ci)`.
   */
  afterUndo?: string;
}

/** "web/package-lock.json" for a lockfile of the install in web/; "." is the root. */
function repoFile(install: Pick<InstallConfig, 'cwd'>, file: string): string {
  return posix.normalize(posix.join(install.cwd || '.', file)).replace(/^\.\//, '');
}

/** The blob oid of a path in a revision, or null when the path is not there. */
async function blobAt(root: string, rev: string, path: string): Promise<string | null> {
  return revParse(root, `${rev}:${path}`);
}

/** The blob oid of each of the install's lockfiles in `rev` (null where absent), keyed by lockfile name. */
export async function lockfileBlobs(root: string, install: Pick<InstallConfig, 'cwd' | 'lockfiles'>, rev: string): Promise<Record<string, string | null>> {
  const oids = await Promise.all(install.lockfiles.map((lf) => blobAt(root, rev, repoFile(install, lf))));
  return Object.fromEntries(install.lockfiles.map((lf, i) => [lf, oids[i]!]));
}

/**
 * Are all lockfiles of this install byte-identical in fromRev and toRev? Compares blob oids
 * (`git rev-parse <rev>:<path>`). A lockfile missing on both sides counts as identical, missing
 * on one side as changed. An install without lockfiles is compared by its manifest
 * (comparedFiles: package.json) when its command or dir is given. False when either revision does
 * not resolve to a commit, and when there is nothing to compare.
 */
export async function lockfilesUnchanged(root: string, given: Pick<InstallConfig, 'cwd' | 'lockfiles'> & Partial<Pick<InstallConfig, 'dir' | 'command'>>, fromRev: string, toRev: string): Promise<boolean> {
  // without a lockfile, the manifest stands in for it (package.json: issue 24)
  const install = given.lockfiles.length || given.command === undefined ? given : { ...given, lockfiles: comparedFiles({ dir: null, ...given, command: given.command }).files };
  if (!install.lockfiles.length) return false;
  const paths = install.lockfiles.map((lf) => repoFile(install, lf));
  // The same questions of the command's cat-file process (io/cat-file.ts objectInfo: no process
  // of their own with git 2.36+) instead of two rev-parse per lockfile plus two for the commits;
  // names it could misread go the long way.
  const plainRev = (r: string) => /^[^\s:^~@{}]+$/.test(r) && !r.startsWith('-');
  if (plainRev(fromRev) && plainRev(toRev) && paths.every((p) => !/[\n\r]/.test(p))) {
    const from = `${fromRev}^{commit}`;
    const to = `${toRev}^{commit}`;
    const names = [from, to, ...paths.flatMap((p) => [`${from}:${p}`, `${to}:${p}`])];
    const infos = await objectInfo(root, names).catch(() => null);
    if (infos) {
      const oid = (i: number, type?: string) => {
        const m = infos[i];
        return m && (!type || m.type === type) ? m.oid : null;
      };
      if (!oid(0, 'commit') || !oid(1, 'commit')) return false;
      return paths.every((_, i) => oid(2 + 2 * i) === oid(3 + 2 * i));
    }
  }
  const [from, to] = await Promise.all([revParse(root, `${fromRev}^{commit}`), revParse(root, `${toRev}^{commit}`)]);
  if (!from || !to) return false;
  for (const lf of install.lockfiles) {
    const path = repoFile(install, lf);
    const [a, b] = await Promise.all([blobAt(root, from, path), blobAt(root, to, path)]);
    if (a !== b) return false;
  }
  return true;
}

/** Lockfiles whose working-copy content differs from HEAD (restored but not committed, edited, deleted). */
async function lockfilesDirty(root: string, install: InstallConfig): Promise<string[]> {
  const dirty: string[] = [];
  for (const lf of install.lockfiles) {
    const path = repoFile(install, lf);
    const inHead = await blobAt(root, 'HEAD', path);
    const onDisk = existsSync(resolve(root, path))
      ? (await git(['hash-object', '--', path], { cwd: root, readOnly: true, allowFail: true })).stdout.trim() || 'unreadable'
      : null;
    if (inHead !== onDisk) dirty.push(lf);
  }
  return dirty;
}

/** The blob id of each lockfile on disk (null where absent), as `git hash-object` gives it. */
async function lockfileHashesOnDisk(root: string, install: InstallConfig): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const lf of install.lockfiles) {
    const path = repoFile(install, lf);
    out[lf] = existsSync(resolve(root, path)) ? (await git(['hash-object', '--', path], { cwd: root, readOnly: true, allowFail: true })).stdout.trim() || null : null;
  }
  return out;
}

// ---- what rb remembers of successful installs in this working copy ------------------------------

/** <git-common-dir>/rb/installs.json: the lockfiles of each install's last successful run, per working copy. */
interface InstallMemory {
  version: 1;
  installs: Record<string, { lockfiles: Record<string, string | null>; at: string }>;
}

const memoryFile = (repo: Repo) => join(repo.commonDir, 'rb', 'installs.json');
const memoryKey = (repo: Repo, install: InstallConfig) => JSON.stringify([repo.root, install.cwd || '.', displayCommand(install.command)]);

function readMemory(repo: Repo): InstallMemory {
  try {
    const m = JSON.parse(readFileSync(memoryFile(repo), 'utf8')) as InstallMemory;
    if (m && m.version === 1 && m.installs && typeof m.installs === 'object') return m;
  } catch {
    /* none yet, or unreadable: nothing remembered */
  }
  return { version: 1, installs: {} };
}

/** Remember the lockfiles of a successful install (best effort: forgetting only costs a reinstall). */
function remember(repo: Repo, install: InstallConfig, lockfiles: Record<string, string | null>): void {
  try {
    const m = readMemory(repo);
    m.installs[memoryKey(repo, install)] = { lockfiles, at: new Date().toISOString() };
    writeJsonAtomic(memoryFile(repo), m);
  } catch {
    /* not fatal */
  }
}

function label(install: InstallConfig): string {
  return install.cwd && install.cwd !== '.' ? install.cwd : '.';
}

/** The installs a step selects: all, or those named by index or cwd. */
function selectInstalls(installs: InstallConfig[], names: string[] | undefined): InstallConfig[] {
  if (!names) return installs;
  const norm = (s: string) => posix.normalize(s).replace(/\/+$/, '') || '.';
  return names.map((n) => {
    const byIndex = /^\d+$/.test(n) ? installs[Number(n)] : undefined;
    const found = byIndex ?? installs.find((i) => norm(i.cwd || '.') === norm(n));
    if (!found) throw new Error(`deps.install: no install entry "${n}" (configured: ${installs.map((i, k) => `${k} (${label(i)})`).join(', ') || 'none'})`);
    return found;
  }).filter((v, i, a) => a.indexOf(v) === i);
}

type Decision = { run: true; reason: string } | { run: false; reason: string; missing?: string[] };

/** Whether this install runs, and the line saying why. */
async function decide(ctx: StepContext, configured: InstallConfig, w: With): Promise<Decision> {
  const root = ctx.repo.root;
  const missing = await missingHere(root, configured);
  if (missing) return missing;
  if (w.force) return { run: true, reason: 'forced' };
  // no lockfile (package-lock=false): package.json stands in for it while node_modules is there
  const install = configured.dir ? withComparedFiles(configured) : configured;
  if (!install.lockfiles.length) return { run: true, reason: 'no lockfiles configured' };
  if (!install.dir) return decideByMemory(ctx.repo, install);
  const since = w.since?.trim();
  if (!since) return { run: true, reason: 'no earlier commit to compare lockfiles with' };
  const dirRel = repoFile(install, install.dir);
  if (!existsSync(resolve(root, dirRel))) return { run: true, reason: `${dirRel} is missing` };
  const sinceOid = await revParse(root, `${since}^{commit}`);
  if (!sinceOid) return { run: true, reason: `${since} does not resolve to a commit` };
  const files = lockWords(configured);
  if (!(await lockfilesUnchanged(root, install, sinceOid, 'HEAD'))) return { run: true, reason: `${files} changed since ${sinceOid.slice(0, 12)}` };
  const dirty = await lockfilesDirty(root, install);
  if (dirty.length) return { run: true, reason: `${dirty.join(', ')} in the working copy differ${dirty.length === 1 ? 's' : ''} from HEAD` };
  return { run: false, reason: `${dirRel} kept: ${files} unchanged since ${sinceOid.slice(0, 12)}` };
}

/** Skipped with a note when the install's folder or a lockfile is not in the working copy (the baseline lacks it). */
async function missingHere(root: string, install: InstallConfig): Promise<Decision | null> {
  const cwd = install.cwd && install.cwd !== '.' ? install.cwd : null;
  const absent = cwd && !existsSync(resolve(root, cwd)) ? [`${cwd}/`] : install.lockfiles.map((lf) => repoFile(install, lf)).filter((p) => !existsSync(resolve(root, p)));
  if (!absent.length) return null;
  const inHead = await Promise.all(absent.map((p) => blobAt(root, 'HEAD', p.replace(/\/$/, ''))));
  const where = inHead.every((b) => b === null) ? 'not in this commit' : 'missing from the working copy';
  return { run: false, missing: absent, reason: `skipped ${label(install) !== '.' ? `(cd ${install.cwd}) ` : ''}${displayCommand(install.command)}: ${absent.join(', ')} ${absent.length === 1 ? 'is' : 'are'} ${where}` };
}

/** An install without a dependency dir: skipped when its lockfiles are those of its last successful run here. */
async function decideByMemory(repo: Repo, install: InstallConfig): Promise<Decision> {
  const files = install.lockfiles.join(', ');
  const last = readMemory(repo).installs[memoryKey(repo, install)];
  if (!last) return { run: true, reason: `no successful run of it recorded in this working copy` };
  const now = await lockfileHashesOnDisk(repo.root, install);
  const changed = install.lockfiles.filter((lf) => (now[lf] ?? null) !== (last.lockfiles[lf] ?? null));
  if (changed.length) return { run: true, reason: `${changed.join(', ')} changed since its last successful run here (${last.at})` };
  return { run: false, reason: `skipped: ${files} unchanged since its last successful run here (${last.at})` };
}

/**
 * Do the install's lockfiles on disk differ from the ones the run's snapshot holds (what `rb
 * undo` puts back)? Without a snapshot, compared with `since` instead; unknown counts as yes.
 */
async function differsFromSnapshot(ctx: StepContext, install: InstallConfig, since: string | undefined): Promise<boolean> {
  if (!install.lockfiles.length) return true;
  const now = await lockfileHashesOnDisk(ctx.repo.root, install);
  const base = ctx.snapshotId ? `refs/rb/snapshots/${ctx.snapshotId}:worktree/` : since ? `${since}:` : null;
  if (!base) return true;
  for (const lf of install.lockfiles) {
    if ((await revParse(ctx.repo.root, `${base}${repoFile(install, lf)}`)) !== (now[lf] ?? null)) return true;
  }
  return false;
}

/** `(cd frontend && npm ci)`, or `npm ci` at the root. */
function commandLine(install: InstallConfig): string {
  const c = displayCommand(install.command);
  return label(install) === '.' ? c : `(cd ${shellQuote(install.cwd)} && ${c})`;
}

/** An install, in the plan and (when it runs) the journal alike. */
function installLine(i: InstallConfig, w: With): string {
  const cd = label(i) !== '.' ? `(cd ${i.cwd}) ` : '';
  const compared = i.dir ? comparedFiles(i).files : i.lockfiles;
  const cond = w.force || !compared.length ? '' : i.dir ? (w.since ? `  # skipped when ${lockWords(i)} unchanged` : '') : `  # skipped when ${i.lockfiles.join(', ')} unchanged since its last successful run here`;
  return `${cd}${displayCommand(i.command)}${cond}`;
}

export const depsInstall: StepKind<With> = {
  kind: 'deps.install',
  summary: 'run the configured installs (config install[]), skipping those whose lockfiles are unchanged since `since`',
  with: schema,
  destructive: false,
  describe(w, ctx) {
    const installs = selectInstalls(ctx.config.install, w.names);
    if (!installs.length) return ['(no installs configured)'];
    return installs.map((i) => installLine(i, w));
  },
  async run(w, ctx) {
    const installs = selectInstalls(ctx.config.install, w.names);
    if (!installs.length) return { skipped: 'no installs configured' };
    const root = ctx.repo.root;
    const timeoutMs = ctx.timeoutMs ?? DEFAULT_INSTALL_TIMEOUT_MS;
    const outcomes: InstallOutcome[] = [];
    const commands: string[] = [];
    let last: { exitCode: number; all: string } | undefined;
    const result = (): StepResult => ({
      installs: outcomes,
      commands,
      ...(last ? { exitCode: last.exitCode, outputTail: tail(last.all) } : {}),
    });
    for (const install of installs) {
      const command = displayCommand(install.command);
      const d = await decide(ctx, install, w);
      if (!d.run) {
        if (d.missing) ctx.reporter.warn(d.reason);
        else ctx.reporter.output(d.reason);
        outcomes.push({ cwd: install.cwd, command, ran: false, reason: d.reason, ...(d.missing ? { missing: d.missing } : {}) });
        continue;
      }
      ctx.reporter.output(`${label(install) !== '.' ? `(cd ${install.cwd}) ` : ''}${command}  (${d.reason})`);
      const r = await runCommand(install.command, {
        cwd: repoPath(ctx, install.cwd),
        timeoutMs,
        signal: ctx.signal,
        onLine: (l) => ctx.reporter.output(l),
      });
      commands.push(installLine(install, w));
      last = r;
      const afterUndo = (await differsFromSnapshot(ctx, install.dir ? withComparedFiles(install) : install, w.since?.trim())) ? commandLine(install) : undefined;
      outcomes.push({ cwd: install.cwd, command, ran: true, reason: d.reason, exitCode: r.exitCode, durationMs: r.durationMs, ...(afterUndo ? { afterUndo } : {}) });
      if (r.exitCode === 0) remember(ctx.repo, install, await lockfileHashesOnDisk(root, install));
      if (r.exitCode !== 0) {
        const why = r.failedToStart ?? (r.timedOut ? `timed out after ${timeoutMs} ms` : r.cancelled ? 'cancelled' : `exited ${r.exitCode}`);
        throw Object.assign(new Error(`install in ${label(install)} failed: ${command}: ${why}`), { result: result() });
      }
    }
    return result();
  },
};
