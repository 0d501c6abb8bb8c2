/**
 * Declared dependencies are used, each where it belongs (issue 19, point 7; docs/dependencies.md):
 * every runtime dependency is imported by src/; processes start in two layers (src/io/git.ts for
 * git, src/io/exec.ts for everything else, execa inside it); simple-git lives in
 * src/io/porcelain.ts and never loads on the start-up, snapshot or rollback paths, nor does
 * fs-extra (measured there: ~100 ms each to import). Module loads are observed with a real
 * node module hook on the built rb. Before, simple-git and fs-extra were declared and never
 * imported, and services spawned processes outside the exec layer.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RB } from './helpers/cli.js';
import { testEnv, tmpDir, tmpRepos } from './helpers/repo.js';

const repos = tmpRepos();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; imports: Record<string, unknown> };

function sources(dir = join(ROOT, 'src')): { file: string; text: string }[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : n.endsWith('.ts') ? [{ file: relative(ROOT, p), text: readFileSync(p, 'utf8') }] : [];
  });
}
const importers = (name: string) =>
  sources().filter((s) => new RegExp(`(from|import\\()\\s*'${name.replace(/[/.]/g, '\\$&')}'`).test(s.text)).map((s) => s.file).sort();

/** The module URLs the built rb loads for `args` (a module resolve hook logs every URL). */
function modulesLoaded(cwd: string, args: string[]): string[] {
  const dir = tmpDir('rb-modules-');
  const log = join(dir, 'loaded.txt');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function resolve(spec, ctx, next) {\n  const r = await next(spec, ctx);\n  appendFileSync(${JSON.stringify(log)}, r.url + '\\n');\n  return r;\n}\n`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});\n`);
  const r = spawnSync(process.execPath, ['--import', `file://${join(dir, 'register.mjs')}`, RB, ...args], { cwd, env: testEnv({ NO_COLOR: '1' }), encoding: 'utf8', timeout: 120_000 });
  expect(r.status, `rb ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return [...new Set(readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:')))];
}

/**
 * The packages the built rb loads for `args`: node_modules/<package>/…, and a bundled
 * dist/vendor/<package>.js (scripts/bundle-vendor.mjs) under its package's name.
 */
function packagesLoaded(cwd: string, args: string[]): string[] {
  const pkgs = new Set<string>();
  for (const url of modulesLoaded(cwd, args)) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url) ?? /\/dist\/vendor\/([^/]+)\.js$/.exec(url);
    if (m) pkgs.add(m[1]!);
  }
  return [...pkgs].sort();
}

describe('declared dependencies', () => {
  it('every runtime dependency is imported by src/ (zod through its bundle, \'#zod\' in package.json "imports")', () => {
    for (const dep of Object.keys(pkg.dependencies)) expect([...importers(dep), ...importers(`#${dep}`)], dep).not.toEqual([]);
    expect(importers('zod')).toEqual([]);
    expect(pkg.imports['#zod']).toEqual({ types: 'zod', default: './dist/vendor/zod.js' });
  });

  it('one home each: simple-git in io/porcelain.ts, execa in io/exec.ts, child_process only in io/ (the two process layers and the port query) and the demo, which plays a user at a shell', () => {
    expect(importers('simple-git')).toEqual(['src/io/porcelain.ts']);
    expect(importers('execa')).toEqual(['src/io/exec.ts']);
    expect(importers('node:child_process')).toEqual(['src/commands/demo.ts', 'src/io/cat-file.ts', 'src/io/exec.ts', 'src/io/git.ts', 'src/io/ports.ts']);
    expect(importers('fs-extra')).toEqual(['src/check/dependencies.ts', 'src/check/kept-worktree.ts', 'src/commands/init.ts']);
  });

  it('simple-git runs without warnings: rb check and rb analyze print no node or simple-git warning on stderr', () => {
    const r = repos.make({ withOrigin: true });
    r.write('notes.txt', 'dirty\n'); // the clean check lists it through simple-git's status()
    for (const args of [['check', '--no-tests', '--no-tag', '--json'], ['analyze', '--no-archive', '--json']]) {
      const res = spawnSync(process.execPath, [RB, ...args], { cwd: r.root, env: testEnv({ NO_COLOR: '1' }), encoding: 'utf8', timeout: 120_000 });
      expect(res.stdout.length, args.join(' ')).toBeGreaterThan(0);
      expect(res.stderr, args.join(' ')).not.toMatch(/Warning|simple-git|SIMPLE_GIT/);
    }
  });

  it('ANSI is stripped by node itself (util.stripVTControlCharacters), not an inlined pattern', () => {
    const inlined = sources().filter((s) => /\[\\u001B\\u009B\]|\\x1b\[\[\\\]\(\)#;\?\]/i.test(s.text)).map((s) => s.file);
    expect(inlined).toEqual([]);
    expect(importers('node:util').length).toBeGreaterThan(0);
  });

  it('fault injection costs nothing without RB_FAULT: every point is behind `if (FAULTS)`', async () => {
    const calls = sources().flatMap((s) => s.text.split('\n').filter((l) => /\bfaultPoint\(/.test(l) && !/export function faultPoint/.test(l) && !/^\s*(\*|\/\/)/.test(l)).map((l) => `${s.file}: ${l.trim()}`));
    expect(calls.length).toBeGreaterThanOrEqual(4);
    for (const c of calls) expect(c).toMatch(/: if \(FAULTS\) faultPoint\(/);
    const fault = await import('../src/engine/fault.js');
    expect(process.env.RB_FAULT ?? '').toBe('');
    expect(fault.FAULTS).toBe(false);
  });

  it('zod loads as one file, its bundle dist/vendor/zod.js: rb files --dry-run and rb undo read no module of node_modules/zod (issue 18; before: 95 files)', () => {
    const r = repos.make({ withOrigin: true });
    r.write('README.md', 'changed\n');
    r.write('notes.txt', 'new\n');
    const zodModules = (args: string[]) => modulesLoaded(r.root, args).filter((u) => /zod/.test(u)).map((u) => relative(ROOT, fileURLToPath(u)));
    expect(zodModules(['files', '--dry-run', 'README.md'])).toEqual(['dist/vendor/zod.js']);
    expect(zodModules(['emergency', '--yes', '--no-install'])).toEqual(['dist/vendor/zod.js']);
    expect(zodModules(['undo', '--yes'])).toEqual(['dist/vendor/zod.js']);
  });

  it('the zod bundle is the declared zod: same version, same English messages', async () => {
    const declared = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'zod', 'package.json'), 'utf8')) as { version: string };
    const bundle = readFileSync(join(ROOT, 'dist', 'vendor', 'zod.js'), 'utf8');
    expect(bundle.split('\n')[0]).toContain(`zod ${declared.version} `);
    const zb = (await import(join(ROOT, 'dist', 'vendor', 'zod.js'))).z as typeof import('zod').z;
    const zp = (await import('zod')).z;
    const probe = (z: typeof zp) => [
      z.string().safeParse(1),
      z.strictObject({ a: z.number().int().min(1) }).safeParse({ a: 0.5, b: 1 }),
      z.union([z.string().min(1), z.array(z.string()).min(1)]).safeParse([]),
      z.url({ protocol: /^https?$/ }).safeParse('ftp://x'),
    ].map((res) => res.error?.issues.map((i) => i.message));
    expect(probe(zb)).toEqual(probe(zp));
    expect(probe(zb).flat().join(' ')).toMatch(/^Invalid input: expected string, received number /);
    expect(Object.keys(zb.locales)).toEqual(['en']);
  });

  it('the zod bundle\'s z holds every member the sources use and little else (issue 18: half the bundle to compile)', async () => {
    const zb = (await import(join(ROOT, 'dist', 'vendor', 'zod.js'))).z as Record<string, unknown>;
    const zp = (await import('zod')).z as unknown as Record<string, unknown>;
    // z.core is zod's internals, named in types only (types come from the zod package)
    const used = [...new Set(sources().flatMap((s) => [...s.text.matchAll(/\bz\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]!)))].filter((n) => n in zp && n !== 'core');
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(typeof zb[name], `z.${name} is in dist/vendor/zod.js`).not.toBe('undefined');
    expect(Object.keys(zb).length).toBeLessThan(Object.keys(zp).length / 4);
    // before: export * from 'zod', 396 KB
    expect(readFileSync(join(ROOT, 'dist', 'vendor', 'zod.js')).length).toBeLessThan(300_000);
  });

  it('what only some runs need loads when they need it (issue 18): a dry run loads no snapshot code, no listr2 and none of the engine\'s run-only modules; rb status loads no engine preflight', () => {
    const r = repos.make({ withOrigin: true });
    r.write('README.md', 'changed\n');
    const rel = (args: string[]) => modulesLoaded(r.root, args).map((u) => relative(ROOT, fileURLToPath(u)));
    const dry = rel(['files', '--dry-run', 'README.md']);
    // before: the snapshot step's module imported the snapshot code (capture, restore, store, tree
    // edits: ~20 modules) and the engine imported its lock, preflight and records statically
    expect(dry.filter((m) => m.startsWith('dist/snapshot/')), 'rb files --dry-run').toEqual([]);
    for (const m of ['dist/engine/preflight.js', 'dist/journal/lock.js', 'dist/journal/leftovers.js', 'dist/records/audit.js', 'dist/engine/signals.js', 'dist/ui/terminal.js']) {
      expect(dry, `rb files --dry-run loads ${m}`).not.toContain(m);
    }
    expect(packagesLoaded(r.root, ['files', '--dry-run', 'README.md'])).not.toContain('listr2');
    // a run loads them all (the snapshot code while its preflight asks git)
    const run = rel(['files', '--yes', '--no-tests', 'README.md']);
    for (const m of ['dist/snapshot/capture.js', 'dist/engine/preflight.js', 'dist/journal/lock.js']) expect(run, `rb files loads ${m}`).toContain(m);
    // before: status imported engine/preflight.js (and through it engine/access.js, io/access.js, playbook/) for one check
    const status = rel(['status']);
    expect(status.filter((m) => /^dist\/(engine\/(preflight|access)|io\/access|playbook\/)/.test(m)), 'rb status').toEqual([]);
  });

  it('start-up, snapshot and rollback paths load neither simple-git nor fs-extra; analyze and check do', () => {
    const r = repos.make({ withOrigin: true });
    const quiet = ['commander'];
    expect(packagesLoaded(r.root, ['--help'])).toEqual(quiet);
    expect(packagesLoaded(r.root, ['status'])).toEqual(quiet);
    expect(packagesLoaded(r.root, ['history'])).toEqual(quiet);
    for (const args of [['snapshots', 'create', '-m', 'x'], ['emergency', '--yes', '--no-install']]) {
      const loaded = packagesLoaded(r.root, args);
      expect(loaded, args.join(' ')).not.toContain('simple-git');
      expect(loaded, args.join(' ')).not.toContain('fs-extra');
    }
    expect(packagesLoaded(r.root, ['analyze', '--no-archive', '--json'])).toContain('simple-git');
    expect(packagesLoaded(r.root, ['check', '--no-tests', '--no-tag', '--json'])).toEqual(expect.arrayContaining(['simple-git', 'fs-extra']));
  });
});
