/** src/steps/dependency-dirs.ts: the install named for a dependency dir nobody configured is the one `rb init` proposes. */
import { describe, expect, it } from 'vitest';
import { dependencyDirs } from '../src/steps/dependency-dirs.js';
import { detectProject } from '../src/commands/init.js';
import { makeRepo, tmpRepos } from './helpers/repo.js';

tmpRepos();

describe('dependencyDirs of an unconfigured Python project', () => {
  for (const [lock, manager] of [['poetry.lock', 'poetry'], ['Pipfile.lock', 'pipenv'], ['uv.lock', 'uv']] as const) {
    it(`${manager} with a .venv in the project: the same install rb init writes, so the named command brings the .venv back`, async () => {
      const r = makeRepo();
      r.write('.gitignore', '.venv/\n');
      r.write('pyproject.toml', '[project]\nname = "x"\n');
      r.write(lock, '# lock\n');
      r.write('.venv/pyvenv.cfg', 'home = /usr/bin\n');
      const dirs = await dependencyDirs(r.root, []);
      const proposed = (await detectProject(r.root)).projects.find((p) => p.kind === 'python')!.install;
      expect(dirs).toEqual([{ path: '.venv', configured: false, install: proposed }]);
    });
  }
});

// Both come from config/installs.ts. Before it, dependencyDirs ignored package.json's
// "packageManager" and a root .yarnrc.yml, and named `npm ci` or `yarn install --frozen-lockfile`
// where rb init proposed pnpm or yarn berry; and it proposed pip for a pyproject that says
// [tool.poetry].
describe('dependencyDirs and rb init agree on every shape', () => {
  const cases: { name: string; files: Record<string, string>; dir: string; kind: 'node' | 'python' }[] = [
    { name: 'package.json names pnpm while both package-lock.json and pnpm-lock.yaml exist', dir: 'node_modules', kind: 'node',
      files: { 'package.json': '{"name":"x","packageManager":"pnpm@9.15.0"}', 'package-lock.json': '{}', 'pnpm-lock.yaml': 'lockfileVersion: 9\n' } },
    { name: 'yarn 4 declared in package.json, no .yarnrc.yml', dir: 'node_modules', kind: 'node',
      files: { 'package.json': '{"name":"x","packageManager":"yarn@4.5.0"}', 'yarn.lock': '# lock\n' } },
    { name: 'no lockfile, package.json names bun', dir: 'node_modules', kind: 'node',
      files: { 'package.json': '{"name":"x","packageManager":"bun@1.1.0"}' } },
    { name: 'uv with its environment in venv/', dir: 'venv', kind: 'python',
      files: { 'pyproject.toml': '[project]\nname = "x"\n', 'uv.lock': '# lock\n', 'venv/pyvenv.cfg': 'home = /usr/bin\n' } },
    { name: 'pdm with a .venv', dir: '.venv', kind: 'python',
      files: { 'pyproject.toml': '[project]\nname = "x"\n', 'pdm.lock': '# lock\n', '.venv/pyvenv.cfg': 'home = /usr/bin\n' } },
    { name: 'poetry by pyproject.toml alone, with a .venv', dir: '.venv', kind: 'python',
      files: { 'pyproject.toml': '[tool.poetry]\nname = "x"\n', '.venv/pyvenv.cfg': 'home = /usr/bin\n' } },
    { name: 'pip requirements with a venv/', dir: 'venv', kind: 'python',
      files: { 'requirements.txt': 'six\n', 'requirements-dev.txt': 'pytest\n', 'venv/pyvenv.cfg': 'home = /usr/bin\n' } },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = makeRepo();
      r.write('.gitignore', `${c.dir}/\n`);
      for (const [f, text] of Object.entries(c.files)) r.write(f, text);
      if (c.kind === 'node') r.write(`${c.dir}/.keep`, '');
      const dirs = await dependencyDirs(r.root, []);
      const proposed = (await detectProject(r.root)).projects.find((p) => p.kind === c.kind)!.install;
      expect(dirs).toEqual([{ path: c.dir, configured: false, install: proposed }]);
    });
  }
});
