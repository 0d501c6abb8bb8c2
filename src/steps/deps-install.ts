/**
 * `deps.install`: run the configured installs (config `install[]`: one per package / language)
 * after a rollback, skipping the ones whose lockfiles did not change.
 *
 * A reinstall is the slowest part of a rollback (minutes for `npm ci`), and after a rollback
 * that did not touch the lockfiles it is also useless. With `since` (the commit HEAD was on
 * before the rollback, "{{run.head}}"), an install is skipped when its dependency directory
 * still exists and every lockfile is the same blob in `since` and in HEAD, and the working copy
 * agrees with HEAD. In every other case — no `since`, no dependency dir configured, no
 * lockfiles configured, a ref that does not resolve — it runs: installing is only slow,
 * skipping wrongly leaves a broken tree.
 *
 * lockfilesUnchanged() is also used by the emergency playbook's clean step to decide whether
 * the dependency directory may be kept through `git clean`.
 */
import { z } from 'zod';
import { existsSync } from 'node:fs';
import { posix, resolve } from 'node:path';
import { runCommand, tail } from '../io/exec.js';
import { git, revParse } from '../io/git.js';
import type { InstallConfig } from '../types.js';
import type { StepKind, StepResult } from './types.js';
import { displayCommand, repoPath } from './common.js';

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
 * on one side as changed. False when either revision does not resolve to a commit, and when the
 * install lists no lockfiles (nothing proves its dependencies are unchanged).
 */
export async function lockfilesUnchanged(root: string, install: Pick<InstallConfig, 'cwd' | 'lockfiles'>, fromRev: string, toRev: string): Promise<boolean> {
  if (!install.lockfiles.length) return false;
  const paths = install.lockfiles.map((lf) => repoFile(install, lf));
  // The same questions of one `git cat-file --batch-check` (one answer line per name) instead of
  // two rev-parse per lockfile plus two for the commits; names it could misread go the long way.
  const plainRev = (r: string) => /^[^\s:^~@{}]+$/.test(r) && !r.startsWith('-');
  if (plainRev(fromRev) && plainRev(toRev) && paths.every((p) => !/[\n\r]/.test(p))) {
    const from = `${fromRev}^{commit}`;
    const to = `${toRev}^{commit}`;
    const names = [from, to, ...paths.flatMap((p) => [`${from}:${p}`, `${to}:${p}`])];
    const r = await git(['cat-file', '--batch-check'], { cwd: root, input: names.map((n) => n + '\n').join(''), allowFail: true, readOnly: true });
    const lines = r.stdout.split('\n');
    if (r.code === 0 && lines.length > names.length) {
      const oid = (i: number, type?: string) => {
        const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (\w+) \d+$/.exec(lines[i]!);
        return m && (!type || m[2] === type) ? m[1]! : null;
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

/** Why this install must run, or null when it can be skipped; and the line saying so. */
async function decide(root: string, install: InstallConfig, w: With): Promise<{ run: boolean; reason: string }> {
  if (w.force) return { run: true, reason: 'forced' };
  const since = w.since?.trim();
  if (!since) return { run: true, reason: 'no earlier commit to compare lockfiles with' };
  if (!install.lockfiles.length) return { run: true, reason: 'no lockfiles configured' };
  if (!install.dir) return { run: true, reason: 'no dependency dir configured' };
  const dirRel = repoFile(install, install.dir);
  if (!existsSync(resolve(root, dirRel))) return { run: true, reason: `${dirRel} is missing` };
  const sinceOid = await revParse(root, `${since}^{commit}`);
  if (!sinceOid) return { run: true, reason: `${since} does not resolve to a commit` };
  const files = install.lockfiles.join(', ');
  if (!(await lockfilesUnchanged(root, install, sinceOid, 'HEAD'))) return { run: true, reason: `${files} changed since ${sinceOid.slice(0, 12)}` };
  const dirty = await lockfilesDirty(root, install);
  if (dirty.length) return { run: true, reason: `${dirty.join(', ')} in the working copy differ${dirty.length === 1 ? 's' : ''} from HEAD` };
  return { run: false, reason: `${dirRel} kept: ${files} unchanged since ${sinceOid.slice(0, 12)}` };
}

export const depsInstall: StepKind<With> = {
  kind: 'deps.install',
  summary: 'run the configured installs (config install[]), skipping those whose lockfiles are unchanged since `since`',
  with: schema,
  destructive: false,
  describe(w, ctx) {
    const installs = selectInstalls(ctx.config.install, w.names);
    if (!installs.length) return ['(no installs configured)'];
    return installs.map((i) => {
      const cd = label(i) !== '.' ? `(cd ${i.cwd}) ` : '';
      const cond = !w.force && w.since && i.lockfiles.length && i.dir ? `  (skipped when ${i.lockfiles.join(', ')} unchanged)` : '';
      return `${cd}${displayCommand(i.command)}${cond}`;
    });
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
      const d = await decide(root, install, w);
      if (!d.run) {
        ctx.reporter.output(d.reason);
        outcomes.push({ cwd: install.cwd, command, ran: false, reason: d.reason });
        continue;
      }
      ctx.reporter.output(`${label(install) !== '.' ? `(cd ${install.cwd}) ` : ''}${command}  (${d.reason})`);
      const r = await runCommand(install.command, {
        cwd: repoPath(ctx, install.cwd),
        timeoutMs,
        signal: ctx.signal,
        onLine: (l) => ctx.reporter.output(l),
      });
      commands.push(command);
      last = r;
      outcomes.push({ cwd: install.cwd, command, ran: true, reason: d.reason, exitCode: r.exitCode, durationMs: r.durationMs });
      if (r.exitCode !== 0) {
        const why = r.failedToStart ?? (r.timedOut ? `timed out after ${timeoutMs} ms` : r.cancelled ? 'cancelled' : `exited ${r.exitCode}`);
        throw Object.assign(new Error(`install in ${label(install)} failed: ${command}: ${why}`), { result: result() });
      }
    }
    return result();
  },
};
