/**
 * The built-in playbooks, validated at build time. `npm run build` runs
 * scripts/build-playbooks.mjs, which validates playbooks/*.yaml with the same validator and step
 * kinds as a repository playbook and writes the results to dist/builtin-playbooks.json. A run
 * then reads that JSON instead of parsing and validating the YAML (the yaml and zod parsing of
 * a playbook took ~100–170 ms per run).
 *
 * It can never drift from the YAML: each entry keeps the exact text it was validated from, and
 * is used only while playbooks/<name>.yaml still reads exactly that; otherwise (edited without a
 * rebuild, no JSON after a bare `tsc`) the YAML is validated as before. Repository playbooks
 * (.rb/playbooks/) are always validated from their file.
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Playbook } from '../types.js';

/** Where the build writes the validated built-ins. */
export const COMPILED_FILE = fileURLToPath(new URL('../builtin-playbooks.json', import.meta.url));
/** The package's playbooks/ folder (the same as load.ts's BUILTIN_DIR). */
const BUILTIN_DIR = fileURLToPath(new URL('../../playbooks/', import.meta.url));

export interface CompiledBuiltins {
  version: 1;
  playbooks: Record<string, {
    /** the YAML text the playbook was validated from */
    yaml: string;
    /** validatePlaybook's result; `file` is filled in when it is loaded */
    playbook: Playbook;
  }>;
}

/** Validate every playbooks/*.yaml (throws the validation error of the first invalid one). */
export async function compileBuiltins(dir = BUILTIN_DIR): Promise<CompiledBuiltins> {
  const { readdirSync } = await import('node:fs');
  const { validatePlaybook } = await import('./validate.js');
  const { kindCatalog } = await import('../steps/index.js');
  const kinds = await kindCatalog();
  const out: CompiledBuiltins = { version: 1, playbooks: {} };
  for (const f of readdirSync(dir).filter((x) => (x.endsWith('.yaml') || x.endsWith('.yml')) && !x.startsWith('.')).sort()) {
    const file = join(dir, f);
    const yaml = readFileSync(file, 'utf8');
    const playbook = validatePlaybook(yaml, file, 'built-in', kinds);
    const stored = { ...playbook, file: '' };
    // only what survives JSON unchanged may be stored (YAML's .inf/.nan would not)
    if (!sameJson(JSON.parse(JSON.stringify(stored)), stored)) {
      throw new Error(`${file}: the validated playbook does not survive a JSON round trip`);
    }
    out.playbooks[basename(f).replace(/\.ya?ml$/, '')] = { yaml, playbook: stored };
  }
  return out;
}

/** Deep equality of JSON-like values, including that no value is lost (undefined, NaN, Infinity). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

let compiled: CompiledBuiltins | null | undefined;

function readCompiled(): CompiledBuiltins | null {
  if (compiled !== undefined) return compiled;
  try {
    const c = JSON.parse(readFileSync(COMPILED_FILE, 'utf8')) as CompiledBuiltins;
    compiled = c && c.version === 1 && c.playbooks && typeof c.playbooks === 'object' ? c : null;
  } catch {
    compiled = null; // not built (a bare tsc): validate the YAML instead
  }
  return compiled;
}

/**
 * The build-time validated built-in playbook for this file, when `text` (the file's content
 * now) is exactly what was validated; null otherwise (the caller validates `text`).
 */
export function precompiledBuiltin(file: string, text: string): Playbook | null {
  const abs = resolve(file);
  const name = basename(abs).replace(/\.ya?ml$/, '');
  if (abs !== join(BUILTIN_DIR, basename(abs))) return null;
  const entry = readCompiled()?.playbooks[name];
  if (!entry || entry.yaml !== text) return null;
  const pb = structuredClone(entry.playbook);
  pb.file = abs;
  pb.source = 'built-in';
  return pb;
}
