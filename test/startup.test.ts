/**
 * The fixed cost of every start (issue 18), checked by mechanism, never by timing:
 * - commander is loaded as one bundled ES module (dist/vendor/commander.js), not through node's
 *   CommonJS loader from node_modules;
 * - a command line naming a command defines only that command (src/cli.ts buildProgram's
 *   `only`), and its help and errors read exactly as when every command is defined;
 * - the git version is remembered per git binary in the user's cache dir, so a dry run in a
 *   repository rb has never changed starts no `git --version` (it was kept in .git/rb before,
 *   which a dry run never creates), and the dry run still writes nothing into the repository;
 * - a level command's `git for-each-ref` runs while its modules load: a module hook holds the
 *   command's module back until the git shim has seen for-each-ref start (before: the command's
 *   modules loaded first, then it asked git, so the hook waited in vain);
 * - on a node that has module.enableCompileCache (22.1+), the compiled code is kept in the user's
 *   cache dir (skipped on node 20, which has none).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RB, rb } from './helpers/cli.js';
import { manifest } from './helpers/manifest.js';
import { testEnv, tmpDir, tmpRepos } from './helpers/repo.js';

const repos = tmpRepos();
const VENDOR_COMMANDER = new URL('../dist/vendor/commander.js', import.meta.url).href;

/** Run the built rb with a preload that counts Command.prototype.command calls and logs every module URL. */
function rbObserved(cwd: string, args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; defined: number; modules: string[] } {
  const dir = tmpDir('rb-startup-');
  const out = join(dir, 'observed.json');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function resolve(spec, ctx, next) {\n  const r = await next(spec, ctx);\n  appendFileSync(${JSON.stringify(out + '.modules')}, r.url + '\\n');\n  return r;\n}\n`);
  writeFileSync(join(dir, 'preload.mjs'), [
    `import { register } from 'node:module';`,
    `import { writeFileSync } from 'node:fs';`,
    `register(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});`,
    `const { Command } = await import(${JSON.stringify(VENDOR_COMMANDER)});`,
    `let defined = 0;`,
    `const command = Command.prototype.command;`,
    `Command.prototype.command = function (...a) { defined++; return command.apply(this, a); };`,
    `process.on('exit', () => writeFileSync(${JSON.stringify(out)}, JSON.stringify({ defined })));`,
  ].join('\n'));
  const r = spawnSync(process.execPath, ['--import', `file://${join(dir, 'preload.mjs')}`, RB, ...args], { cwd, env: testEnv({ NO_COLOR: '1', ...env }), encoding: 'utf8', timeout: 120_000 });
  const observed = JSON.parse(readFileSync(out, 'utf8')) as { defined: number };
  const modules = existsSync(out + '.modules') ? readFileSync(out + '.modules', 'utf8').split('\n').filter(Boolean) : [];
  return { code: r.status, stdout: r.stdout, defined: observed.defined, modules };
}

describe('the fixed cost of a start (issue 18)', () => {
  it('commander comes from its one-file bundle; a named command is the only one defined, and reads the same', async () => {
    const r = repos.make({ withOrigin: true });
    r.write('README.md', 'changed\n');
    const dry = rbObserved(r.root, ['files', '--dry-run', 'README.md']);
    expect(dry.code, dry.stdout).toBe(0);
    // before: all 25 commands were defined on every start
    expect(dry.defined).toBe(1);
    expect(dry.modules.filter((u) => u.includes('/node_modules/'))).toEqual([]);
    expect(dry.modules).toContain(VENDOR_COMMANDER);
    expect(rbObserved(r.root, ['-C', r.root, 'status']).defined).toBe(1);
    const version = rbObserved(r.root, ['--version']);
    expect([version.code, version.defined, version.stdout.trim()]).toEqual([0, 0, JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version]);
    // the root help, a typo, and any other option before the command (here --no-color) get every command
    const all = rbObserved(r.root, ['--help']);
    expect(all.defined).toBeGreaterThanOrEqual(25);
    expect(rbObserved(r.root, ['--no-color', 'files', '--help']).defined).toBe(all.defined);
    const typo = rb(r.root, ['filez']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown command 'filez'[\s\S]*Did you mean files\?/);
    // every command's own help, defined alone, is the help it prints when all are defined
    const section = all.stdout.slice(all.stdout.indexOf('Commands:\n'), all.stdout.indexOf('\n\n', all.stdout.indexOf('Commands:\n')));
    const commands = [...section.matchAll(/^  ([a-z][a-z-]*)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands.length).toBe(all.defined);
    for (const c of commands) {
      const alone = rb(r.root, [c, '--help']);
      expect(alone.code, c).toBe(0);
      expect(alone.stdout, c).toBe(rb(r.root, ['--no-color', c, '--help']).stdout);
    }
    // a usage error of a command defined alone: commander's message, exit 2
    const bad = rb(r.root, ['status', '--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option '--bogus'");
  }, 120_000);

  it('the git version is asked once per git binary, not per repository: a dry run in a repository rb never touched starts no `git --version` and writes nothing', () => {
    const real = spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim();
    const shim = tmpDir('rb-git-shim-');
    const log = join(shim, 'calls.log');
    writeFileSync(join(shim, 'git'), `#!/bin/sh\necho "$*" >> "${log}"\nexec ${real} "$@"\n`);
    chmodSync(join(shim, 'git'), 0o755);
    const env = { PATH: `${shim}:${process.env.PATH}`, XDG_CACHE_HOME: tmpDir('rb-cache-') };
    const calls = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);

    const first = repos.make({ withOrigin: true });
    expect(rb(first.root, ['status'], env).code).toBe(0);
    expect(calls().filter((c) => c === '--version')).toEqual(['--version']);

    const other = repos.make({ withOrigin: true });
    other.write('README.md', 'changed\n');
    const before = manifest(other.root);
    rmSync(log);
    const dry = rb(other.root, ['files', '--dry-run', 'README.md'], env);
    expect(dry.code, dry.stderr).toBe(0);
    // before: the version was kept in .git/rb/git-version.json, which a dry run never creates
    expect(calls().filter((c) => c === '--version')).toEqual([]);
    expect(existsSync(join(other.root, '.git', 'rb'))).toBe(false);
    expect(manifest(other.root)).toBe(before);
  });

  it('a level command asks git where the refs point while its modules load, and its answer is the one the command uses', () => {
    const real = spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim();
    const dir = tmpDir('rb-early-');
    const log = join(dir, 'calls.log');
    const seen = join(dir, 'seen.txt');
    writeFileSync(join(dir, 'git'), `#!/bin/sh\necho "$*" >> "${log}"\nexec ${real} "$@"\n`);
    chmodSync(join(dir, 'git'), 0o755);
    // hold dist/commands/levels.js until for-each-ref has started (at most 15 s), and say which came first
    writeFileSync(join(dir, 'hooks.mjs'), [
      `import { existsSync, readFileSync, writeFileSync } from 'node:fs';`,
      `export async function load(url, ctx, next) {`,
      `  if (url.endsWith('/dist/commands/levels.js')) {`,
      `    const started = () => existsSync(${JSON.stringify(log)}) && readFileSync(${JSON.stringify(log)}, 'utf8').includes('for-each-ref');`,
      `    for (let i = 0; i < 1500 && !started(); i++) await new Promise((r) => setTimeout(r, 10));`,
      `    writeFileSync(${JSON.stringify(seen)}, started() ? 'for-each-ref first' : 'module first');`,
      `  }`,
      `  return next(url, ctx);`,
      `}`,
    ].join('\n'));
    writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${join(dir, 'hooks.mjs')}`)});\n`);
    const r = repos.make({ withOrigin: true });
    r.write('README.md', 'changed\n');
    const p = spawnSync(process.execPath, ['--import', `file://${join(dir, 'register.mjs')}`, RB, 'files', '--dry-run', 'README.md'], {
      cwd: r.root, env: testEnv({ NO_COLOR: '1', PATH: `${dir}:${process.env.PATH}` }), encoding: 'utf8', timeout: 120_000,
    });
    expect(p.status, p.stderr).toBe(0);
    expect(readFileSync(seen, 'utf8')).toBe('for-each-ref first');
    // asked once: the command used the early answer (memoized in its scope)
    expect(readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('for-each-ref'))).toHaveLength(1);
    expect(p.stdout).toMatch(/baseline: baseline \(refs\/heads\/baseline at [0-9a-f]{12}\)/);
  }, 60_000);

  it.skipIf(!('enableCompileCache' in nodeModule))('keeps the compiled code of a start in the user\'s cache dir (node 22.1+)', () => {
    const r = repos.make({ withOrigin: true });
    const cache = tmpDir('rb-cache-');
    expect(rb(r.root, ['status'], { XDG_CACHE_HOME: cache }).code).toBe(0);
    expect(readdirSync(join(cache, 'rb', 'compile-cache')).length).toBeGreaterThan(0);
  });
});
