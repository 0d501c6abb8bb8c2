/**
 * rollbacks/ holds human-facing records. On first use rb adds it to .git/info/exclude (so
 * clean, status and WIP commits leave it alone) unless the team tracks it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gitSync } from '../io/git.js';
import type { Repo } from '../repo.js';

export function isTracked(repo: Repo, rel: string): boolean {
  const r = gitSync(['ls-files', '-z', '--', `:(literal)${rel}`], { cwd: repo.root, readOnly: true, allowFail: true });
  return r.code === 0 && r.stdout.length > 0;
}

function hasLine(file: string, line: string): { text: string; has: boolean } {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return { text, has: text.split('\n').some((l) => l.trim() === line) };
}

/** Add `/<dir>/` to info/exclude unless present or tracked. Returns true when it added the line. */
export function ensureExcluded(repo: Repo, rel: string): boolean {
  const line = `/${rel.replace(/^\/+|\/+$/g, '')}/`;
  // info/exclude lives in the common git dir (shared by every worktree: what `git rev-parse
  // --git-path info/exclude` answers, rb having cleared GIT_COMMON_DIR and GIT_DIR); every run
  // after the first finds the line there and asks git nothing
  const p = join(repo.commonDir, 'info', 'exclude');
  const { text, has } = hasLine(p, line);
  if (has) return false;
  if (isTracked(repo, rel)) return false;
  if (has) return false;
  mkdirSync(dirname(p), { recursive: true });
  appendFileSync(p, `${text && !text.endsWith('\n') ? '\n' : ''}# rb: rollback records (reports, metrics, audit)\n${line}\n`);
  return true;
}
