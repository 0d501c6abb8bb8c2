/**
 * meta/gitstate.tar without the `tar` module when it can: in most repositories the only git state
 * present is a plain file or two (ORIG_HEAD after any reset, pull or rebase; AUTO_MERGE), and
 * loading `tar` costs more than the snapshot's own work on them (~30–100 ms). Plain top-level
 * files are written and read here as a POSIX ustar archive (the format `tar` reads and writes);
 * anything else — a directory (rebase-merge/, sequencer/), a symlink, a name not in
 * GITSTATE_NAMES, an archive with extended headers made by the `tar` module — goes through
 * `tar`, as before. Archives made either way are read either way.
 */
import { lstat, open, readFile, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { GITSTATE_NAMES } from './format.js';

const BLOCK = 512;

/** The archive of `names` (present in gitDir, sorted), or null when one of them is not a plain file. */
export async function packPlainGitState(gitDir: string, names: readonly string[]): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  for (const name of names) {
    if (!GITSTATE_NAMES.includes(name) || Buffer.byteLength(name) >= 100) return null;
    const st = await lstat(join(gitDir, name));
    if (!st.isFile()) return null;
    const data = await readFile(join(gitDir, name));
    if (data.length !== st.size) return null; // changing while read: let `tar` handle it
    parts.push(header(name, st.mode & 0o7777, data.length, Math.floor(st.mtimeMs / 1000)), data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

function header(name: string, mode: number, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 7), 100, 'ascii');
  h.write(octal(0, 7), 108, 'ascii');
  h.write(octal(0, 7), 116, 'ascii');
  h.write(octal(size, 11), 124, 'ascii');
  h.write(octal(mtime, 11), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write('0', 156, 'ascii');
  h.write('ustar\u000000', 257, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'ascii');
  return h;
}

const octal = (n: number, width: number): string => n.toString(8).padStart(width, '0') + '\u0000';

interface PlainEntry { name: string; mode: number; mtime: number; data: Buffer }

/** The entries of an archive holding only plain files named in GITSTATE_NAMES, or null for anything else. */
export function plainEntries(tar: Buffer): PlainEntry[] | null {
  const out: PlainEntry[] = [];
  let pos = 0;
  while (pos + BLOCK <= tar.length) {
    const h = tar.subarray(pos, pos + BLOCK);
    if (h.every((b) => b === 0)) return out;
    const field = (start: number, len: number) => {
      const f = h.subarray(start, start + len);
      const z = f.indexOf(0);
      return (z < 0 ? f : f.subarray(0, z)).toString('utf8');
    };
    const num = (start: number, len: number) => {
      const t = field(start, len).trim();
      return /^[0-7]+$/.test(t) ? parseInt(t, 8) : NaN;
    };
    const type = String.fromCharCode(h[156]!);
    const name = field(0, 100);
    const size = num(124, 12);
    const mode = num(100, 8);
    const mtime = num(136, 12);
    const sum = num(148, 8);
    let actual = 0;
    for (let i = 0; i < BLOCK; i++) actual += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if ((type !== '0' && type !== '\u0000') || field(345, 155) !== '' || !GITSTATE_NAMES.includes(name)
      || [size, mode, mtime].some(Number.isNaN) || sum !== actual || pos + BLOCK + size > tar.length) return null;
    out.push({ name, mode, mtime, data: tar.subarray(pos + BLOCK, pos + BLOCK + size) });
    pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return null; // no end-of-archive blocks: not an archive this reader vouches for
}

/** Extract the git state archive into gitDir: plain entries here, anything else with `tar` (as `tar.x` would: mode under the umask, mtime kept). */
export async function unpackGitState(gitDir: string, archive: Buffer, archiveFile: () => Promise<string>): Promise<void> {
  const plain = plainEntries(archive);
  if (!plain) {
    const tar = await import('tar');
    tar.x({ file: await archiveFile(), cwd: gitDir, sync: true });
    return;
  }
  const umask = process.umask();
  for (const e of plain) {
    const file = join(gitDir, e.name);
    await rm(file, { recursive: true, force: true });
    const fh = await open(file, 'wx', e.mode & ~umask & 0o7777);
    try {
      await fh.writeFile(e.data);
    } finally {
      await fh.close();
    }
    await utimes(file, e.mtime, e.mtime);
  }
}
