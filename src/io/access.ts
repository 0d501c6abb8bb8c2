/**
 * What this user may do to the entries of a working copy: the file-system facts behind the
 * permission preflight (engine/access.ts). A developer's working copy holds entries other users
 * made (a `docker run -v $PWD:/app` leaves root-owned build/ and __pycache__/) and directories
 * its owner made read-only (Go's module cache): git cannot delete, write or read there.
 *
 * - dirAccess: can entries be created, removed or renamed in this directory? `ok`, `own-read-only`
 *   (it is this user's: rb may open it for the operation and put its mode back), or `blocked`.
 * - openDirs / closeDirs: make this user's read-only directories writable for an operation, then
 *   put each one's mode back.
 * - ownerName: a uid in words (root, www-data), for messages.
 */
import { constants, readFileSync } from 'node:fs';
import { access, chmod, lstat } from 'node:fs/promises';
import { join } from 'node:path';

/** The effective uid, or null where there is none (not POSIX). */
export function myUid(): number | null {
  return typeof process.geteuid === 'function' ? process.geteuid() : null;
}

/** root (uid 0) may do anything the permission bits could refuse. */
export function isSuperuser(): boolean {
  return myUid() === 0;
}

export type DirVerdict = 'ok' | 'own-read-only' | 'blocked' | 'missing' | 'not-a-directory';

export interface DirAccess {
  verdict: DirVerdict;
  /** owner and permission bits (when it exists) */
  uid?: number;
  mode?: number;
  /** sticky (o+t, like /tmp): only an entry's owner (or the directory's) may remove or rename it */
  sticky?: boolean;
}

/**
 * Can this user create, remove and rename entries in the directory at `abs` (and, with `list`,
 * read its entries: a directory rb has to empty)? A directory this user owns whose owner bits
 * lack w or x (r too, with `list`) is `own-read-only`: fixable without asking, by chmod u+rwx.
 */
export async function dirAccess(abs: string, list: boolean): Promise<DirAccess> {
  let st;
  try {
    st = await lstat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { verdict: 'missing' };
    if (code === 'ENOTDIR') return { verdict: 'not-a-directory' };
    return { verdict: 'blocked' };
  }
  if (!st.isDirectory()) return { verdict: 'not-a-directory' };
  const facts = { uid: st.uid, mode: st.mode & 0o7777, sticky: (st.mode & 0o1000) !== 0 };
  if (isSuperuser()) return { verdict: 'ok', ...facts };
  const need = list ? 0o700 : 0o300;
  if (st.uid === myUid()) return { verdict: (st.mode & need) === need ? 'ok' : 'own-read-only', ...facts };
  try {
    await access(abs, constants.W_OK | constants.X_OK | (list ? constants.R_OK : 0));
    return { verdict: 'ok', ...facts };
  } catch {
    return { verdict: 'blocked', ...facts };
  }
}

/** Can this user read the file at `abs`? (A missing file counts as readable: nothing is lost.) */
export async function canRead(abs: string): Promise<boolean> {
  try {
    if ((await lstat(abs)).isSymbolicLink()) return true; // its target is what it holds
    await access(abs, constants.R_OK);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** The owner of an entry, or null when it is gone. */
export async function ownerOf(abs: string): Promise<number | null> {
  try {
    return (await lstat(abs)).uid;
  } catch {
    return null;
  }
}

let passwd: Map<number, string> | null = null;

/** The user name of a uid (from /etc/passwd), or `uid <n>`. */
export function ownerName(uid: number | undefined): string {
  if (uid === undefined) return 'someone else';
  if (!passwd) {
    passwd = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id && /^\d+$/.test(id) && !passwd.has(Number(id))) passwd.set(Number(id), name);
      }
    } catch { /* no passwd file: numbers it is */ }
  }
  return passwd.get(uid) ?? `uid ${uid}`;
}

/** A directory opened for an operation, with the mode to put back. */
export interface OpenedDir {
  /** relative to the root given to openDirs */
  path: string;
  mode: number;
}

/**
 * chmod u+rwx each of `dirs` (relative to `root`, this user's own read-only directories), parents
 * first. Returns what was opened, to hand to closeDirs when the operation is over (also when it
 * failed).
 */
export async function openDirs(root: string, dirs: Iterable<string>): Promise<OpenedDir[]> {
  const opened: OpenedDir[] = [];
  for (const o of await readOnlyModes(root, dirs)) {
    try {
      await chmod(join(root, o.path), o.mode | 0o700);
      opened.push(o);
    } catch { /* not ours after all: the operation will say so */ }
  }
  return opened;
}

/** Those of `dirs` that are directories lacking an owner bit (r, w or x), with their modes, parents first. */
export async function readOnlyModes(root: string, dirs: Iterable<string>): Promise<OpenedDir[]> {
  const out: OpenedDir[] = [];
  for (const d of [...new Set(dirs)].sort((a, b) => a.split('/').length - b.split('/').length)) {
    try {
      const st = await lstat(d === '' ? root : join(root, d));
      if (st.isDirectory() && (st.mode & 0o700) !== 0o700) out.push({ path: d, mode: st.mode & 0o7777 });
    } catch { /* gone */ }
  }
  return out;
}

/**
 * Put back the mode of each opened directory that is still there (deepest first), except those
 * in `except` (a restore sets those to the mode its snapshot recorded).
 */
export async function closeDirs(root: string, opened: readonly OpenedDir[], except: ReadonlySet<string> = new Set()): Promise<void> {
  for (const o of [...opened].sort((a, b) => b.path.split('/').length - a.path.split('/').length)) {
    if (except.has(o.path)) continue;
    try {
      const st = await lstat(join(root, o.path));
      if (st.isDirectory() && (st.mode & 0o7777) !== o.mode) await chmod(join(root, o.path), o.mode);
    } catch { /* removed by the operation: nothing to put back */ }
  }
}
