/**
 * The package people install (issue 19, point 1): its name and bins, what the tarball holds, and
 * the README's install section run for real against the packed tarball in a fresh npm prefix
 * (dependencies come from the npm registry, as for a user). `npm test` builds dist/ first, so
 * packing here skips the prepack build (--ignore-scripts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeRepo, tmpDir, tmpRepos } from './helpers/repo.js';

tmpRepos();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

function npm(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync('npm', args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...opts.env }, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} exited ${r.status}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function filesUnder(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel)).flatMap((n) => (statSync(join(dir, rel, n)).isDirectory() ? filesUnder(dir, join(rel, n)) : [join(rel, n)]));
}

describe('the npm package', () => {
  it('is git-rb (the registry name rb is another project), with the bins rb and git-rb and the links npm shows', () => {
    expect(pkg.name).toBe('git-rb');
    expect(pkg.bin).toEqual({ rb: 'dist/cli.js', 'git-rb': 'dist/cli.js' });
    expect(pkg.license).toBe('MIT');
    expect(pkg.repository.url).toMatch(/^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/);
    expect(pkg.homepage).toMatch(/^https:\/\/github\.com\//);
    expect(pkg.bugs.url).toMatch(/\/issues$/);
    expect(pkg.keywords).toEqual(expect.arrayContaining(['git', 'rollback', 'undo']));
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n[\s\S]*Permission is hereby granted, free of charge/);
  });

  it('packs dist, docs (every file the README links to), playbooks, LICENSE and README, and no sources or tests', () => {
    const [packed] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts']));
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    expect(packed.name).toBe('git-rb');
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/cli.js', 'dist/builtin-playbooks.json', 'dist/vendor/zod.js', 'playbooks/schema.json', 'rollbacks/README.md', 'rollbacks/metrics.schema.json']) expect(files).toContain(f);
    for (const f of filesUnder(join(ROOT, 'docs'))) expect(files).toContain(`docs/${f}`);
    for (const f of filesUnder(join(ROOT, 'playbooks'))) expect(files).toContain(`playbooks/${f}`);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(((?:docs|rollbacks|playbooks)\/[^)#\s]+)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(8);
    for (const l of links) expect(files, `README links to ${l}`).toContain(l);
    expect(files.filter((f) => /^(src|test|scripts|bench|\.ci)\//.test(f) || f === 'action.yml' || f.endsWith('.ts'))).toEqual([]);
  });

  it("the README's install section, run on the packed tarball in a fresh prefix, gives working rb and git rb", () => {
    const dir = tmpDir('rb-pack-');
    const name = npm(['pack', '--ignore-scripts', '--pack-destination', dir]).trim().split('\n').pop()!;
    const tarball = join(dir, name);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Install\n'), readme.indexOf('\n## ', readme.indexOf('\n## Install\n') + 5));
    const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
    expect(block).toMatch(/^npm install --global git-rb$/m);
    const script = block.replace(/^npm install --global git-rb$/m, `npm install --global ${JSON.stringify(tarball)}`);
    const prefix = join(dir, 'prefix');
    const repo = makeRepo();
    // a PATH with node and git but without any other rb
    const path = [join(prefix, 'bin'), ...(process.env.PATH ?? '').split(':').filter((p) => p && !existsSync(join(p, 'rb')) && !existsSync(join(p, 'git-rb')))].join(':');
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], {
      cwd: repo.root,
      env: { ...process.env, PATH: path, npm_config_prefix: prefix, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').slice(-2)).toEqual([pkg.version, pkg.version]);
    // `git rb` finds git-rb on PATH and runs it where git was started (a subdirectory here)
    repo.mkdir('sub');
    const status = spawnSync('git', ['rb', 'status', '--json'], { cwd: join(repo.root, 'sub'), env: { ...process.env, PATH: path }, encoding: 'utf8' });
    expect(status.status, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).root).toBe(repo.root);
    // zod is the bundle dist/vendor/zod.js, which the installed package reaches through its
    // package.json "imports" ('#zod'): a plan validates every step's `with` with it
    const plan = spawnSync('rb', ['plan', 'emergency', '--json'], { cwd: repo.root, env: { ...process.env, PATH: path }, encoding: 'utf8' });
    expect(plan.status, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).plan.playbook.name).toBe('emergency');
  }, 300_000);
});
