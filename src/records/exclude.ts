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

function hasLine(file: string, line: string): { text: string; has: boolean } {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return { text, has: text.split('\n').some((l) => l.trim() === line) };
}

/** Add `/<dir>/` to info/exclude unless present or tracked. Returns true when it added the line. */
export function ensureExcluded(repo: Repo, rel: string): boolean {
  const line = `/${rel.replace(/^\/+|\/+$/g, '')}/`;
  // every run after the first: the line is there (info/exclude lives in the common git dir), so
  // neither git process below is needed
  if (hasLine(join(repo.commonDir, 'info', 'exclude'), line).has) return false;
  if (isTracked(repo, rel)) return false;
  const r = gitSync(['rev-parse', '--git-path', 'info/exclude'], { cwd: repo.root, readOnly: true });
  let p = r.stdout.trim();
  if (!isAbsolute(p)) p = join(repo.root, p);
  const { text, has } = hasLine(p, line);
  if (has) return false;
  mkdirSync(dirname(p), { recursive: true });
  appendFileSync(p, `${text && !text.endsWith('\n') ? '\n' : ''}# rb: rollback records (reports, metrics, audit)\n${line}\n`);
  return true;
}
