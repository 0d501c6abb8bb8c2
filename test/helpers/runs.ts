/**
 * Reading what rb leaves in a repository, for integration tests of the built `rb`: the run
 * journals in <git-common-dir>/rb/runs, the lock, and repository playbooks in .rb/playbooks/.
 * Read-only except {@link addPlaybook}; independent of rb's own modules, so a test sees the files
 * as a user (or another tool) would.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { gitIn } from './repo.js';

/** `git rev-parse --git-common-dir`, absolute and real. */
export function commonDir(root: string): string {
  const c = gitIn(root, 'rev-parse', '--git-common-dir').trim();
  return realpathSync(isAbsolute(c) ? c : join(root, c));
}

export function runsDir(root: string): string {
  return join(commonDir(root), 'rb', 'runs');
}

export function lockFile(root: string): string {
  return join(commonDir(root), 'rb', 'lock');
}

/** The journal files (`<id>.json`) in the runs folder; [] when there is none. */
export function journalFiles(root: string): string[] {
  const d = runsDir(root);
  if (!existsSync(d)) return [];
  return readdirSync(d).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort();
}

/** A run's journal, parsed. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function journal(root: string, id: string): any {
  return JSON.parse(readFileSync(join(runsDir(root), `${id}.json`), 'utf8'));
}

/** The journal of the only run in the repository (fails when there are several or none). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function onlyJournal(root: string): any {
  const files = journalFiles(root);
  if (files.length !== 1) throw new Error(`expected exactly one run journal, found ${files.length}: ${files.join(', ')}`);
  return journal(root, files[0]!.replace(/\.json$/, ''));
}

/** Write <root>/.rb/playbooks/<name>.yaml. */
export function addPlaybook(root: string, name: string, yaml: string): string {
  const dir = join(root, '.rb', 'playbooks');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}
