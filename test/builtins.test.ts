/**
 * The built-in playbooks validated at build time (src/playbook/builtins.ts,
 * scripts/build-playbooks.mjs -> dist/builtin-playbooks.json): what a run loads must be exactly
 * what validating playbooks/*.yaml gives, and an edited YAML must never be served from a stale
 * JSON. `npm test` builds dist first.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { validatePlaybook } from '../src/playbook/validate.js';
import { compileBuiltins } from '../src/playbook/builtins.js';
import { BUILTIN_DIR } from '../src/playbook/load.js';
import { kindCatalog } from '../src/steps/index.js';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));
const COMPILED = join(DIST, 'builtin-playbooks.json');
type DistBuiltins = typeof import('../src/playbook/builtins.js');
type DistLoad = typeof import('../src/playbook/load.js');
const distBuiltins = () => import(join(DIST, 'playbook/builtins.js')) as Promise<DistBuiltins>;
const distLoad = () => import(join(DIST, 'playbook/load.js')) as Promise<DistLoad>;

const names = readdirSync(BUILTIN_DIR).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, ''));
const tmp = mkdtempSync(join(tmpdir(), 'rb-builtins-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('dist/builtin-playbooks.json', () => {
  it('holds every built-in playbook, validated from the current playbooks/*.yaml (run `npm run build` after editing one)', async () => {
    const compiled = JSON.parse(readFileSync(COMPILED, 'utf8'));
    expect(Object.keys(compiled.playbooks).sort()).toEqual([...names].sort());
    // the same result as validating the YAML now with the current validator and step kinds
    expect(compiled).toEqual(JSON.parse(JSON.stringify(await compileBuiltins())));
    for (const name of names) expect(compiled.playbooks[name].yaml).toBe(readFileSync(join(BUILTIN_DIR, `${name}.yaml`), 'utf8'));
  });

  it('gives the run exactly what validating the YAML gives, key order included', async () => {
    const { loadPlaybook } = await distLoad();
    const kinds = await kindCatalog();
    for (const name of names) {
      const file = join(BUILTIN_DIR, `${name}.yaml`);
      const fromYaml = validatePlaybook(readFileSync(file, 'utf8'), file, 'built-in', kinds);
      const loaded = await loadPlaybook(tmp, name);
      expect(JSON.stringify(loaded)).toBe(JSON.stringify(fromYaml));
      expect(loaded).toEqual(fromYaml);
    }
  });

  it('is used only for the unchanged text of a file in the package playbooks/ folder', async () => {
    const { precompiledBuiltin } = await distBuiltins();
    const file = join(BUILTIN_DIR, 'files.yaml');
    const text = readFileSync(file, 'utf8');
    const pb = precompiledBuiltin(file, text)!;
    expect(pb.file).toBe(file);
    expect(pb.source).toBe('built-in');
    // a copy each time: a caller changing its playbook does not change the next one
    pb.steps.pop();
    expect(precompiledBuiltin(file, text)!.steps.length).toBe(pb.steps.length + 1);
    // edited and not rebuilt: not served from the JSON (the loader validates the YAML instead)
    expect(precompiledBuiltin(file, text + '\n# edited\n')).toBeNull();
    expect(precompiledBuiltin(file, text.replace('level: 3', 'level: 2'))).toBeNull();
    // the same text elsewhere is not a built-in
    const copy = join(tmp, 'files.yaml');
    writeFileSync(copy, text);
    expect(precompiledBuiltin(copy, text)).toBeNull();
    expect(precompiledBuiltin(join(BUILTIN_DIR, 'nope.yaml'), text)).toBeNull();
  });

  it('a repository playbook named like a built-in is validated from its file, with file:line:column errors', async () => {
    const { loadPlaybook } = await distLoad();
    const repo = join(tmp, 'repo');
    const dir = join(repo, '.rb', 'playbooks');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'files.yaml'), readFileSync(join(BUILTIN_DIR, 'files.yaml'), 'utf8').replace('severity: medium', 'severity: mild'));
    const err = await loadPlaybook(repo, 'files').then(() => null, (e: { message: string; details?: string[] }) => e);
    expect(err?.message).toMatch(/is not valid/);
    expect(err?.details?.join('\n')).toMatch(/files\.yaml:\d+:\d+: .*severity/);
  });

  it('loading a built-in imports neither the YAML parser nor zod', () => {
    const hooks = `data:text/javascript,${encodeURIComponent(`export async function load(url, ctx, next) { if (/node_modules\\/(yaml|zod)\\/|\\/dist\\/vendor\\/zod\\.js$/.test(url)) process.stderr.write('LOADED ' + url + '\\n'); return next(url, ctx); }`)}`;
    const script = [
      `import { register } from 'node:module';`,
      `register(${JSON.stringify(hooks)});`,
      `const { loadPlaybook } = await import(${JSON.stringify(join(DIST, 'playbook/load.js'))});`,
      `for (const n of ${JSON.stringify(names)}) await loadPlaybook(${JSON.stringify(tmp)}, n);`,
      `process.stdout.write('ok');`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/LOADED/);
    expect(r.stdout).toBe('ok');
    // the check itself sees those imports when they happen
    const r2 = spawnSync(process.execPath, ['--input-type=module', '-e', script.replace(`const { loadPlaybook }`, `await import('#zod');\nconst { loadPlaybook }`)], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
    expect(r2.stderr).toMatch(/LOADED .*zod/);
  });
});

describe('the built-in playbooks run nothing of yours before their snapshot', () => {
  // kinds that run the user's commands, which may write files (coverage/, caches, build output)
  // that `rb undo` must then bring back as they were. services.stop is not one: stopping what rb
  // started before the snapshot is what makes the snapshot consistent.
  const USER_COMMANDS = new Set(['tests.run', 'exec', 'deps.install', 'services.start', 'verify', 'capture']);
  const flat = (steps: { id: string; uses?: string; run?: unknown; steps?: unknown[] }[]): { id: string; uses?: string; run?: unknown }[] =>
    steps.flatMap((s) => (s.steps ? flat(s.steps as never) : [s]));
  for (const name of names) {
    it(`${name}: the snapshot comes before any test, exec, install, start, verify or capture step`, () => {
      const steps = flat(parseYaml(readFileSync(join(BUILTIN_DIR, `${name}.yaml`), 'utf8')).steps);
      const snapshot = steps.findIndex((s) => s.uses === 'snapshot');
      if (snapshot < 0) return;
      const before = steps.slice(0, snapshot).filter((s) => s.run !== undefined || USER_COMMANDS.has(s.uses ?? ''));
      expect(before.map((s) => s.id)).toEqual([]);
    });
  }
});
