/**
 * File-system writes that must never leave a half-written file: temp file in the same
 * directory, rename over the target — and as many flushes to the disk as the kind of write
 * needs (`flushesFor`, the one home of that policy; docs/safety.md "What a kill or a power cut
 * leaves").
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * What a write must survive, which decides how it is flushed. A kill -9 loses nothing that was
 * written (the kernel keeps it) and a rename is atomic, so every kind survives a kill whole; the
 * kinds differ in what a power cut (or an OS crash) leaves:
 *
 * - `write-ahead`: what rb is about to do depends on this record surviving a power cut — the
 *   journal entry that opens a step that changes the repository (or cannot be run again), the
 *   facts such a step checkpoints, a run's final status, the restore journal. Flushed before
 *   the rename (the new content is on disk) and the directory after it (the new name is): the
 *   record is durable before the next git command starts.
 * - `whole`: a newer version of a record whose last `write-ahead` version is enough to resume
 *   or abort from (a step of rb's own that ended, the start of a step that changes nothing, a
 *   process a step spawned); and rb's records in rollbacks/ (reports, metrics.json, outputs).
 *   Flushed before the rename only: a power cut leaves the old version or the new one, whole,
 *   never an empty or half-written file (a rename can reach the disk before the data it names),
 *   and never an older one than the last `write-ahead`.
 * - `lock`: the run lock's content. Not flushed: after a power cut every process is gone, so the
 *   lock is stale whatever it holds, and an empty or unreadable lock is taken over
 *   (journal/lock.ts); one run at a time is kept by the exclusive link(2), not by the disk.
 */
export type WriteKind = 'write-ahead' | 'whole' | 'lock';

export function flushesFor(kind: WriteKind): { file: boolean; dir: boolean } {
  switch (kind) {
    case 'write-ahead':
      return { file: true, dir: true };
    case 'whole':
      return { file: true, dir: false };
    case 'lock':
      return { file: false, dir: false };
  }
}

export function writeFileAtomic(path: string, data: string | Buffer, kind: WriteKind = 'whole', mode = 0o644): void {
  const flush = flushesFor(kind);
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (flush.file) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try { closeSync(fd); } catch { /* ignore */ }
    }
    try { unlinkSync(tmp); } catch { /* ignore */ }
    throw e;
  }
  if (flush.dir) fsyncDir(dir);
}

export function writeJsonAtomic(path: string, value: unknown, kind: WriteKind = 'whole'): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', kind);
}

/** Flush an open file as a write of this kind needs (an append to audit.jsonl, the lock file). */
export function flushFile(fd: number, kind: WriteKind): void {
  if (flushesFor(kind).file) fsyncSync(fd);
}

export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* some file systems refuse a directory fsync */ }
}
