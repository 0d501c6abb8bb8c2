/**
 * Finding playbooks: the built-ins shipped in the package's playbooks/ folder, overridden by
 * the repository's own <repo>/.rb/playbooks/<name>.yaml.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import type { Playbook } from '../types.js';
import { precompiledBuiltin } from './builtins.js';

export const BUILTIN_DIR = fileURLToPath(new URL('../../playbooks/', import.meta.url));
const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/i;

export interface PlaybookRef {
  name: string;
  file: string;
  source: 'built-in' | 'repository';
  /** a repository playbook that overrides a built-in of the same name */
  overrides: boolean;
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .filter((f) => (f.endsWith('.yaml') || f.endsWith('.yml')) && !f.startsWith('.'))
    .sort();
}

export function repoPlaybookDir(root: string): string {
  return join(root, '.rb', 'playbooks');
}

/** All playbooks visible from this repository, repository ones winning over built-ins, by name. */
function playbookRefs(root: string): Map<string, PlaybookRef> {
  const byName = new Map<string, PlaybookRef>();
  for (const f of yamlFiles(BUILTIN_DIR)) {
    const name = basename(f).replace(/\.ya?ml$/, '');
    byName.set(name, { name, file: join(BUILTIN_DIR, f), source: 'built-in', overrides: false });
  }
  for (const f of yamlFiles(repoPlaybookDir(root))) {
    const name = basename(f).replace(/\.ya?ml$/, '');
    const overrides = byName.get(name)?.source === 'built-in';
    byName.set(name, { name, file: join(repoPlaybookDir(root), f), source: 'repository', overrides });
  }
  return byName;
}

/** All playbooks visible from this repository, repository ones winning over built-ins, sorted by name. */
export function listPlaybookRefs(root: string): PlaybookRef[] {
  return [...playbookRefs(root).values()].sort((a, b) => a.name.localeCompare(b.name));
}

export function findPlaybookRef(root: string, name: string): PlaybookRef {
  if (!NAME_RE.test(name)) {
    throw new UsageError(`"${name}" is not a playbook name (letters, digits, dot, dash, underscore).`, { next: 'run `rb playbooks` to list them' });
  }
  // a lookup needs no sorting (localeCompare's first call costs ~20 ms: it loads ICU's collation)
  const ref = playbookRefs(root).get(name);
  if (!ref) {
    const names = listPlaybookRefs(root).map((p) => p.name);
    throw new UsageError(`no playbook named "${name}" (looked in .rb/playbooks/ and the built-ins: ${names.join(', ') || 'none'}).`, {
      next: 'run `rb playbooks` to list them, or create .rb/playbooks/' + name + '.yaml',
    });
  }
  return ref;
}

/**
 * Load and validate a playbook; invalid playbooks throw UsageError (exit 2) with file:line:column
 * lines. An unchanged built-in comes validated from the build (./builtins.ts): no YAML parser,
 * no schema validation, no step kinds loaded.
 */
export async function loadPlaybook(root: string, name: string): Promise<Playbook> {
  const ref = findPlaybookRef(root, name);
  return loadPlaybookFile(ref.file, ref.source);
}

export async function loadPlaybookFile(file: string, source: 'built-in' | 'repository'): Promise<Playbook> {
  const text = readFileSync(file, 'utf8');
  if (source === 'built-in') {
    const pb = precompiledBuiltin(file, text);
    if (pb) return pb;
  }
  const [{ validatePlaybook }, { kindCatalog }] = await Promise.all([import('./validate.js'), import('../steps/index.js')]);
  return validatePlaybook(text, file, source, await kindCatalog());
}
