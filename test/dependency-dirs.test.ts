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
