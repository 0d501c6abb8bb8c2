/**
 * rollbacks/audit.jsonl: one line per run and per undo — who (git user, OS user, host), when,
 * what, result, duration. Appended with O_APPEND and fsync; a line is written whole or not at all
 * in practice (single write of < PIPE_BUF is not guaranteed for files, so each line is small).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
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
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
