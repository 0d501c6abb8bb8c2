/**
 * Entries this user cannot change, found before anything changes (issue 22).
 *
 * A destructive step says what it would remove or write (a Change per path); checkChanges
 * works out which directories that needs to be writable and sorts them:
 *  - writable: nothing to do;
 *  - this user's own but read-only (Go's module cache is 0555 by design): listed in `openUp`;
 *    the step makes them writable for its operation and puts their mode back afterwards;
 *  - someone else's (a root-owned build/ a `docker run -v $PWD:/app` left): `blocked`.
 * Also blocked: an entry in a sticky directory owned by someone else, and a file the step must
 * overwrite that this user cannot read (the snapshot could not keep it).
 *
 * A blocked entry stops the run in the preflight (exit 3, nothing changed), naming the paths
 * and the fix, unless it is `skippable` (untracked or ignored: leaving it where it is loses
 * nothing) and the run was asked to go around such entries (`--skip-unwritable`, config
 * `skipUnwritable`): then the step leaves it in place and names it.
 *
 * As root nothing is ever blocked and nothing is checked.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PreconditionError } from '../errors.js';
import { showPath } from '../ui/format.js';
import { canRead, closeDirs, dirAccess, isSuperuser, myUid, openDirs, ownerName, type DirAccess } from '../io/access.js';

/** What a step would do to one path (relative to the repository root). */
export interface Change {
  /** write: create or replace a file (its missing parents too); remove: delete it, a directory with everything in it */
  op: 'write' | 'remove';
  path: string;
  /** leaving the path as it is loses nothing (an untracked or ignored entry): --skip-unwritable may go around it */
  skippable: boolean;
  /** the file's current content must be read first (it is replaced, and the snapshot must hold it) */
  mustRead?: boolean;
}

/** An entry this user cannot change. */
export interface Blocked {
  /** relative to the repository root; a directory ends with '/' */
  path: string;
  /** why, in words: "owned by root", "cannot be read" */
  why: string;
  skippable: boolean;
  /** a `keep` entry in rb.config.yaml takes it out of the run (it is in the way of a clean) */
  keepable?: boolean;
}

export interface AccessReport {
  blocked: Blocked[];
  /** this user's read-only directories the operation needs writable (relative paths) */
  openUp: string[];
}

export const noProblems = (): AccessReport => ({ blocked: [], openUp: [] });

/** Options of checkChanges. */
export interface CheckOptions {
  /** paths the operation leaves alone, with everything under them (checked before descending) */
  keep?: (path: string) => boolean;
}

/** A cache of directory verdicts for one check (a directory is looked at once). */
class DirCache {
  private readonly seen = new Map<string, Promise<DirAccess>>();
  constructor(private readonly root: string) {}
  get(rel: string, list: boolean): Promise<DirAccess> {
    const key = `${list ? 'l' : 'w'}:${rel}`;
    let p = this.seen.get(key);
    if (!p) {
      p = dirAccess(rel === '' ? this.root : join(this.root, rel), list);
      this.seen.set(key, p);
    }
    return p;
  }
}

const parentOf = (p: string): string => {
  const d = posix.dirname(p);
  return d === '.' ? '' : d;
};
const dirLabel = (d: string): string => (d === '' ? './' : `${d}/`);

/** Collects blocked entries (one per path; skippable only when every change that met it is) and directories to open. */
class Findings {
  readonly blocked = new Map<string, Blocked>();
  readonly openUp = new Set<string>();
  block(path: string, why: string, skippable: boolean, keepable = false): void {
    const b = this.blocked.get(path);
    if (b) {
      b.skippable &&= skippable;
      b.keepable &&= keepable;
    } else this.blocked.set(path, { path, why, skippable, keepable });
  }
  report(): AccessReport {
    const blocked = [...this.blocked.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { blocked, openUp: [...this.openUp].sort() };
  }
}

function whyNot(a: DirAccess): string {
  return a.uid !== undefined && a.uid !== myUid() ? `owned by ${ownerName(a.uid)}` : 'not writable by you';
}

/**
 * Which directories the changes need writable, sorted into fine / to open / blocked (see the
 * module comment). Reads only: lstat, access and readdir.
 */
export async function checkChanges(root: string, changes: readonly Change[], opts: CheckOptions = {}): Promise<AccessReport> {
  if (isSuperuser() || changes.length === 0) return noProblems();
  const dirs = new DirCache(root);
  const found = new Findings();
  const keep = opts.keep ?? (() => false);

  /** The directory an entry at `path` is created, replaced or removed in: its nearest existing ancestor. */
  const hostDir = async (path: string): Promise<{ dir: string; access: DirAccess } | null> => {
    for (let d = parentOf(path); ; d = parentOf(d)) {
      const a = await dirs.get(d, false);
      if (a.verdict === 'not-a-directory') return null; // a file or symlink in the way: not a permission matter
      if (a.verdict !== 'missing') return { dir: d, access: a };
      if (d === '') return null;
    }
  };

  const judgeDir = (dir: string, a: DirAccess, skippable: boolean): boolean => {
    if (a.verdict === 'own-read-only') found.openUp.add(dir);
    else if (a.verdict === 'blocked') {
      found.block(dirLabel(dir), whyNot(a), skippable);
      return false;
    }
    return true;
  };

  /** In a sticky directory someone else owns, only the entry's owner may remove or replace it. */
  const judgeSticky = async (path: string, host: DirAccess, skippable: boolean): Promise<void> => {
    if (!host.sticky || host.uid === myUid()) return;
    let st;
    try {
      st = await lstat(join(root, path));
    } catch {
      return;
    }
    if (st.uid !== myUid()) found.block(st.isDirectory() ? dirLabel(path) : path, `owned by ${ownerName(st.uid)} in a sticky directory`, skippable);
  };

  /** Everything inside a directory that is removed must be removable: every directory in it listable and writable. */
  const walkRemoved = async (dir: string, skippable: boolean): Promise<void> => {
    const a = await dirs.get(dir, true);
    if (a.verdict === 'missing' || a.verdict === 'not-a-directory') return;
    if (!judgeDir(dir, a, skippable)) return;
    let ents;
    try {
      ents = await readdir(join(root, dir), { withFileTypes: true });
    } catch {
      return;
    }
    if (ents.some((e) => e.name === '.git')) return; // a nested repository: never removed
    await Promise.all(ents.map(async (e) => {
      const child = `${dir}/${e.name}`;
      if (keep(child)) return;
      if (a.sticky && a.uid !== myUid()) await judgeSticky(child, a, skippable);
      if (e.isDirectory()) await walkRemoved(child, skippable);
    }));
  };

  await mapLimited(changes, 32, async (c) => {
    const host = await hostDir(c.path);
    if (!host) return;
    if (!judgeDir(host.dir, host.access, c.skippable)) return;
    await judgeSticky(c.path, host.access, c.skippable);
    if (c.mustRead && !(await canRead(join(root, c.path)))) found.block(c.path, 'cannot be read by you (the snapshot could not keep it)', false);
    if (c.op === 'remove') {
      let st;
      try {
        st = await lstat(join(root, c.path));
      } catch {
        return;
      }
      if (st.isDirectory()) await walkRemoved(c.path, c.skippable);
    }
  });
  return found.report();
}

/** Merge reports (of several steps, or several parts of one). */
export function mergeReports(...reports: AccessReport[]): AccessReport {
  const found = new Findings();
  for (const r of reports) {
    for (const b of r.blocked) found.block(b.path, b.why, b.skippable, b.keepable);
    for (const d of r.openUp) found.openUp.add(d);
  }
  return found.report();
}

/** Is `path` (no trailing slash) at or under a blocked entry? */
export function underBlocked(path: string, blocked: readonly Blocked[]): Blocked | undefined {
  return blocked.find((b) => (b.path.endsWith('/') ? b.path === './' || (path + '/').startsWith(b.path) : path === b.path));
}

/** How many blocked paths a message lists before it gives a count. */
export const BLOCKED_LISTED = 20;

/** The blocked entries worth naming: a blocked directory covers those under it. */
export function outermost(blocked: readonly Blocked[]): Blocked[] {
  const dirs = blocked.map((b) => b.path).filter((p) => p.endsWith('/'));
  return blocked.filter((b) => !dirs.some((d) => b.path !== d && (d === './' || b.path.startsWith(d))));
}

/** The blocked paths, one line each, up to BLOCKED_LISTED, then how many more. */
export function blockedLines(blocked: readonly Blocked[]): string[] {
  const shown = blocked.slice(0, BLOCKED_LISTED).map((b) => `${showPath(b.path)} (${b.why})`);
  if (blocked.length > shown.length) shown.push(`… and ${blocked.length - shown.length} more`);
  return shown;
}

/** A shell word for a path in a suggested command. */
function shellWord(p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`;
}

/**
 * The refusal: exit 3 (in the preflight, nothing changed), the paths (up to 20 and a count) and
 * the fix — take them back (`sudo chown -R "$USER" …`), keep them out of the rollback (`keep`),
 * or go around them (`--skip-unwritable`) when every one of them may be left where it is.
 * `retry` is the command to run afterwards; `skipFlag`: it takes --skip-unwritable; `nothingChanged`:
 * said only where it is a fact (the preflight, a restore before it starts).
 */
export function unwritableError(all: readonly Blocked[], o: { retry: string; skipFlag: boolean; nothingChanged: boolean }): PreconditionError {
  const blocked = outermost(all);
  const n = blocked.length;
  const paths = blocked.slice(0, BLOCKED_LISTED).map((b) => shellWord(b.path === './' ? '.' : b.path));
  const unreadable = blocked.some((b) => b.why.startsWith('cannot be read'));
  const allSkippable = all.every((b) => b.skippable);
  const fixes = [`take them back with \`sudo chown -R "$USER" ${paths.join(' ')}\`${n > paths.length ? ' (and the others)' : ''}${unreadable ? ' (a file of your own you cannot read: `chmod u+r <file>`)' : ''}, then run \`${o.retry}\` again`];
  if (all.every((b) => b.keepable)) fixes.push('or add them to `keep` in rb.config.yaml');
  if (allSkippable && o.skipFlag) fixes.push(`or run \`${o.retry} --skip-unwritable\` to leave them where they are (named in the report, never lost)`);
  return new PreconditionError(
    `${n} ${n === 1 ? 'path' : 'paths'} this run would have to ${unreadable ? 'read or ' : ''}change ${n === 1 ? 'is' : 'are'} not yours to change (you are ${ownerName(myUid() ?? undefined)})${o.nothingChanged ? '; nothing was changed' : ''}.`,
    { details: blockedLines(blocked), next: fixes.join('; ') },
  );
}

/**
 * Run `operation` with this user's read-only directories in `report.openUp` made writable, then
 * put each one's mode back (also when the operation fails); directories in `except` are left
 * to the caller (a restore gives them the mode its snapshot recorded).
 */
export async function withOpenDirs<T>(root: string, openUp: readonly string[], operation: () => Promise<T>, except?: ReadonlySet<string>): Promise<T> {
  if (openUp.length === 0) return operation();
  const opened = await openDirs(root, openUp);
  try {
    return await operation();
  } finally {
    await closeDirs(root, opened, except);
  }
}

/** Promise.all over items with at most `limit` at a time. */
async function mapLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
