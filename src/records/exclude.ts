/**
 * rollbacks/ holds human-facing records. On first use rb adds it to .git/info/exclude (so
 * clean, status and WIP commits leave it alone) unless the team tracks it.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { gitSync } from '../io/git.js';
import type { Repo } from '../repo.js';

export function isTracked(repo: Repo, rel: string): boolean {
  const r = gitSync(['ls-files', '-z', '--', `:(literal)${rel}`], { cwd: repo.root, readOnly: true, allowFail: true });
  return r.code === 0 && r.stdout.length > 0;
}

/** Add `/<dir>/` to info/exclude unless present or tracked. Returns true when it added the line. */
export function ensureExcluded(repo: Repo, rel: string): boolean {
  if (isTracked(repo, rel)) return false;
  const r = gitSync(['rev-parse', '--git-path', 'info/exclude'], { cwd: repo.root, readOnly: true });
  let p = r.stdout.trim();
  if (!isAbsolute(p)) p = join(repo.root, p);
  const line = `/${rel.replace(/^\/+|\/+$/g, '')}/`;
  const text = existsSync(p) ? readFileSync(p, 'utf8') : '';
  if (text.split('\n').some((l) => l.trim() === line)) return false;
  mkdirSync(dirname(p), { recursive: true });
  appendFileSync(p, `${text && !text.endsWith('\n') ? '\n' : ''}# rb: rollback records (reports, metrics, audit)\n${line}\n`);
  return true;
}
