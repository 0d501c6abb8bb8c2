/**
 * rollbacks/audit.jsonl: one line per run and per undo — who (git user, OS user, host), when,
 * what, result, duration. Appended with O_APPEND and flushed as a `whole` write (io/fs.ts: a power
 * cut keeps every line written before it); a line is written whole or not at all
 * in practice (single write of < PIPE_BUF is not guaranteed for files, so each line is small).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { flushFile } from '../io/fs.js';
import { dirname } from 'node:path';

export interface AuditLine {
  at: string;
  run_id: string;
  action: 'run' | 'undo' | 'redo' | 'resume' | 'abort' | 'check' | 'checkpoint' | 'guard';
  playbook: string;
  result: string;
  duration_ms: number | null;
  git_user: string | null;
  git_email: string | null;
  os_user: string;
  host: string;
  cwd: string;
  reason?: string;
  cause?: string;
  snapshot?: string | null;
  undo_of?: string;
  [key: string]: unknown;
}

export function appendAudit(path: string, line: AuditLine): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a', 0o644);
  try {
    writeSync(fd, JSON.stringify(line) + '\n');
    flushFile(fd, 'whole');
  } finally {
    closeSync(fd);
  }
}
