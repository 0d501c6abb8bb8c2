/**
 * `rb init [--baseline <ref>] [--yes]`: set a repository up for rb.
 *
 * 1. detects the package managers and scripts at the root and in first-level subdirectories
 *    (frontend/, backend/): npm, pnpm, yarn (classic and berry), bun; uv, poetry, pipenv, pip
 *    with requirements*.txt, a pyproject.toml alone; go. Each tool is looked up on PATH: an
 *    entry whose tool is missing is written commented out, saying why. pip installs into the
 *    project's virtualenv (.venv/ or venv/) when there is one; rb init says so when there is none;
 * 2. writes a commented rb.config.yaml (baseline, remote, test, install, keep; every other key
 *    commented out with its default) — never over an existing one;
 * 3. adds rollbacks/ to .git/info/exclude;
 * 4. offers to create the baseline branch at HEAD when it does not exist (a prompt on a
 *    terminal, --yes creates it, otherwise it says how);
 * 5. prints the next steps.
 *
 * Every step is idempotent: run twice, the second run changes nothing and says so. Questions
 * come first, then the changes (style.md 9).
 */
import { accessSync, constants as fsConstants, existsSync, fsyncSync, linkSync, lstatSync, openSync, closeSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import fse from 'fs-extra';
import { findRepo, type Repo } from '../repo.js';
import { InterruptedError, PreconditionError, UsageError } from '../errors.js';
import { git, isValidBranchName, shellQuote } from '../io/git.js';
import { fsyncDir } from '../io/fs.js';
import { hasNodeLockfile, nodeInstall, pythonInstall, requirementFiles } from '../config/installs.js';
import type { Command, InstallConfig } from '../types.js';

/** The file rb reads its configuration from. */
const CONFIG_FILE = 'rb.config.yaml';

/** One package / language found in the repository. */
export interface DetectedProject {
  /** '.' for the root, or a first-level subdirectory such as 'frontend' */
  dir: string;
  kind: 'node' | 'python' | 'go';
  /** npm, pnpm, yarn, bun, pip, uv, poetry, pipenv, go */
  manager: string;
  /** the program the install runs, looked up on PATH */
  tool: string;
  /** set when `tool` is not on PATH: the entry is written commented out, with this reason */
  missingTool?: string;
  /** something the user should know about this entry (written as a comment and printed) */
  note?: string;
  /** the install entry for rb.config.yaml */
  install: InstallConfig;
  /** the project's test command, run in `dir`, or null */
  test: string | null;
  /** build / coverage / dev-server scripts, for the commented suggestions */
  build?: string;
  coverage?: string;
  start?: string;
}

/** What `rb init` found. */
export interface Detection {
  projects: DetectedProject[];
  /** the `test` value: one root command, or an argv running every project's tests */
  test: Command | null;
  /** "origin", the only remote, or "" (never fetch) */
  remote: string;
  /** problems that did not stop detection (an unreadable package.json, …) */
  warnings: string[];
}

const PLACEHOLDER_TEST = 'echo "Error: no test specified" && exit 1';

const isFile = (p: string) => {
  try {
    return lstatSync(p).isFile();
  } catch {
    return false;
  }
};
const isDir = (p: string) => {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
};

interface PackageJson {
  scripts?: Record<string, unknown>;
  packageManager?: unknown;
  workspaces?: unknown;
}

function readPackageJson(file: string, warnings: string[], rel: string): PackageJson | null {
  try {
    const v = fse.readJsonSync(file) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as PackageJson) : null;
  } catch (e) {
    warnings.push(`${rel}: could not be read as JSON (${(e as Error).message.replace(`${file}: `, '').split('\n')[0]}); its project was skipped`);
    return null;
  }
}

/** Node: package.json plus its lockfile (package.json's "packageManager" decides between several). */
function detectNode(root: string, dir: string, warnings: string[], rootHasPackage: boolean): DetectedProject | null {
  const abs = join(root, dir);
  const rel = (f: string) => (dir === '.' ? f : `${dir}/${f}`);
  if (!isFile(join(abs, 'package.json'))) return null;
  const pkg = readPackageJson(join(abs, 'package.json'), warnings, rel('package.json'));
  if (!pkg) return null;
  const { manager, command, lockfiles } = nodeInstall(root, abs, typeof pkg.packageManager === 'string' ? pkg.packageManager : '');
  // a subdirectory without its own lockfile under a root package.json is a workspace member
  if (dir !== '.' && !hasNodeLockfile(abs) && rootHasPackage) return null;
  const scripts = pkg.scripts && typeof pkg.scripts === 'object' ? pkg.scripts : {};
  const has = (s: string) => typeof scripts[s] === 'string' && (scripts[s] as string).trim() !== '';
  const run = (s: string) => (manager === 'npm' ? `npm run ${s}` : `${manager} run ${s}`);
  const test = has('test') && (scripts.test as string).trim() !== PLACEHOLDER_TEST ? (manager === 'bun' ? 'bun run test' : `${manager} test`) : null;
  return {
    dir,
    kind: 'node',
    manager,
    tool: manager,
    install: { command, cwd: dir, lockfiles, dir: 'node_modules' },
    test,
    build: has('build') ? run('build') : undefined,
    coverage: has('coverage') ? run('coverage') : has('test:coverage') ? run('test:coverage') : undefined,
    start: has('dev') ? run('dev') : has('start') ? (manager === 'npm' ? 'npm start' : run('start')) : undefined,
  };
}

/** Does this Python project use pytest? (a config file, a tests/ folder, or pytest in the requirements) */
function usesPytest(abs: string, requirements: string[]): boolean {
  if (['pytest.ini', 'conftest.py'].some((f) => isFile(join(abs, f)))) return true;
  // a tests/ folder: pytest, unless its test files are unittest ones that never mention pytest
  if (isDir(join(abs, 'tests'))) {
    const texts = (() => {
      try {
        return readdirSync(join(abs, 'tests')).filter((f) => f.endsWith('.py')).map((f) => readText(join(abs, 'tests', f)));
      } catch {
        return [];
      }
    })();
    if (!texts.some((t) => /\bimport unittest\b|\bfrom unittest\b/.test(t)) || texts.some((t) => t.includes('pytest'))) return true;
  }
  const markers: [string, string][] = [['pyproject.toml', '[tool.pytest'], ['pyproject.toml', 'pytest'], ['setup.cfg', '[tool:pytest]'], ['tox.ini', '[pytest]'], ...requirements.map((f): [string, string] => [f, 'pytest'])];
  for (const [f, marker] of markers) {
    try {
      if (readFileSync(join(abs, f), 'utf8').includes(marker)) return true;
    } catch {
      /* absent */
    }
  }
  return false;
}

/**
 * The arguments of `python -m unittest` for a project whose tests do not use pytest: `discover
 * -s tests` (or test/) when its test_*.py files are in such a folder, `discover` when they are
 * at the top; null when it has no test_*.py file there at all.
 */
function unittestArgs(abs: string): string | null {
  const hasTests = (d: string) => {
    try {
      return readdirSync(d).some((f) => /^test.*\.py$/.test(f));
    } catch {
      return false;
    }
  };
  for (const d of ['tests', 'test']) if (hasTests(join(abs, d))) return `discover -s ${d}`;
  return hasTests(abs) ? 'discover' : null;
}

/** The project's virtualenv folder: .venv/ or venv/ (a folder with pyvenv.cfg or bin/python), or null. */
function venvOf(abs: string): string | null {
  for (const v of ['.venv', 'venv']) {
    if (isDir(join(abs, v)) && (isFile(join(abs, v, 'pyvenv.cfg')) || existsSync(join(abs, v, 'bin', 'python')))) return v;
  }
  return null;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Python, as config/installs.ts pythonInstall chooses (uv.lock, poetry.lock, Pipfile.lock,
 * pdm.lock, requirements*.txt, a pyproject.toml alone), with the tool's runner for the tests.
 * pip installs into the project's .venv/ or venv/ when there is
 * one, and otherwise into the python3 on PATH, with a note saying so. A sub-folder whose
 * pyproject.toml has no lockfile of its own while the root has uv.lock is a uv workspace member:
 * the root's install covers it.
 */
function detectPython(root: string, dir: string): DetectedProject | null {
  const abs = join(root, dir);
  const venv = venvOf(abs);
  const requirements = requirementFiles(abs);
  const pytest = usesPytest(abs, requirements);
  const py = (tool: string, manager: string, install: InstallConfig, test: string | null, note?: string): DetectedProject => ({ dir, kind: 'python', manager, tool, install, test, ...(note ? { note } : {}) });
  const where = dir === '.' ? 'at the root' : `in ${dir}/`;
  const noVenv = `no virtualenv (.venv/ or venv/) ${where}: pip installs into the python3 on PATH; to install into one, create it (\`python3 -m venv .venv\`${dir === '.' ? '' : ` in ${dir}/`}), delete rb.config.yaml and run \`rb init\` again`;
  // the tests: pytest when the project uses it, else unittest when it has tests at all
  const unittest = pytest ? null : unittestArgs(abs);
  const tests = (runner: string) => (pytest ? `${runner} pytest` : unittest ? `${runner} python -m unittest ${unittest}` : null);
  const found = pythonInstall(abs, venv);
  if (!found) return null;
  // a pyproject.toml with no lockfile or requirements of its own, under a root uv.lock
  const projectAlone = found.lockfiles.length === 1 && found.lockfiles[0] === 'pyproject.toml';
  if (projectAlone && dir !== '.' && isFile(join(root, 'uv.lock'))) return null;
  const install: InstallConfig = { command: found.command, cwd: dir, lockfiles: found.lockfiles, dir: found.dir };
  if (found.manager === 'pip') {
    const python = found.dir ? `${found.dir}/bin/python` : 'python3';
    return py(found.tool, 'pip', install, pytest ? `${python} -m pytest` : unittest ? `${python} -m unittest ${unittest}` : null, found.dir ? undefined : noVenv);
  }
  // the tool's own runner, in the environment the install fills (uv: UV_PROJECT_ENVIRONMENT=venv)
  const envPrefix = /^(UV_PROJECT_ENVIRONMENT=\S+ )/.exec(found.command)?.[1] ?? '';
  return py(found.tool, found.manager, install, tests(`${envPrefix}${found.tool} run`));
}

/** Go: go.mod; the module cache lives outside the repository, so no dependency dir. */
function detectGo(root: string, dir: string): DetectedProject | null {
  const abs = join(root, dir);
  if (!isFile(join(abs, 'go.mod'))) return null;
  return {
    dir, kind: 'go', manager: 'go', tool: 'go',
    install: { command: 'go mod download', cwd: dir, lockfiles: isFile(join(abs, 'go.sum')) ? ['go.sum'] : [], dir: null },
    test: 'go test ./...',
  };
}

/** First-level subdirectories worth looking into: not hidden, not ignored, not a symlink, not rb's own. */
async function candidateDirs(root: string, rollbacksDir: string): Promise<string[]> {
  const skip = new Set(['node_modules', rollbacksDir.replace(/^\/+|\/+$/g, ''), 'vendor']);
  const dirs = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !skip.has(e.name))
    .map((e) => e.name)
    .sort();
  if (!dirs.length) return [];
  const ignored = await git(['check-ignore', '--', ...dirs.map((d) => `${d}/`)], { cwd: root, allowFail: true, readOnly: true });
  const out = new Set(ignored.stdout.split('\n').map((l) => l.replace(/\/$/, '')).filter(Boolean));
  return dirs.filter((d) => !out.has(d));
}

/** Is `name` an executable on this PATH? (no process started) */
export function onPath(name: string, path: string | undefined = process.env.PATH): boolean {
  for (const d of (path ?? '').split(delimiter)) {
    if (!d || !isAbsolute(d)) continue;
    const f = join(d, name);
    try {
      if (!statSync(f).isFile()) continue;
      accessSync(f, fsConstants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** How to get a missing tool, for the comment on its entry. */
const HOW_TO_GET: Record<string, string> = {
  pnpm: '`npm install -g pnpm` or `corepack enable`',
  yarn: '`npm install -g yarn` or `corepack enable`',
  bun: '`npm install -g bun`',
  uv: 'see https://docs.astral.sh/uv/',
  poetry: '`pipx install poetry`',
  pdm: '`pipx install pdm`',
  pipenv: '`pipx install pipenv`',
  python3: 'your system\'s python3 package',
  npm: 'Node.js',
  go: 'https://go.dev/dl/',
};

/**
 * Find the projects of a repository: the root and its first-level subdirectories, and whether
 * each one's tool is on PATH (`opts.path`, default the process's). Read-only.
 */
export async function detectProject(root: string, opts: { rollbacksDir?: string; path?: string } = {}): Promise<Detection> {
  const warnings: string[] = [];
  const rootHasPackage = isFile(join(root, 'package.json'));
  const dirs = ['.', ...(await candidateDirs(root, opts.rollbacksDir ?? 'rollbacks'))];
  const projects: DetectedProject[] = [];
  for (const d of dirs) {
    for (const p of [detectNode(root, d, warnings, rootHasPackage), detectPython(root, d), detectGo(root, d)]) if (p) projects.push(p);
  }
  for (const p of projects) {
    if (!onPath(p.tool, opts.path ?? process.env.PATH)) p.missingTool = `${p.tool} is not on PATH: install it (${HOW_TO_GET[p.tool] ?? p.tool}), then uncomment this entry`;
  }
  const rootTests = projects.filter((p) => p.dir === '.' && p.test);
  const subTests = projects.filter((p) => p.dir !== '.' && p.test);
  let test: Command | null = null;
  if (rootTests.length === 1) test = rootTests[0]!.test;
  else if (rootTests.length > 1 || subTests.length) {
    // several projects: one shell line running each in its folder. As an argv (sh -c '…' rb-test),
    // the test files `rb files` appends become the script's unused $1…, so every suite still runs.
    const parts = (rootTests.length ? rootTests : subTests).map((p) => (p.dir === '.' ? p.test! : `cd ${shellQuote(p.dir)} && ${p.test}`));
    test = ['sh', '-c', parts.length === 1 ? parts[0]! : parts.map((x) => `(${x})`).join(' && '), 'rb-test'];
  }
  const remotes = (await git(['remote'], { cwd: root, allowFail: true, readOnly: true })).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  const { refNameProblem } = await import('../config/schema.js');
  const remote = remotes.includes('origin') ? 'origin' : remotes.length === 1 && !refNameProblem(remotes[0]!) ? remotes[0]! : '';
  return { projects, test, remote, warnings };
}

/**
 * The text of a new rb.config.yaml: the detected values active, every other key commented out
 * with its default (and a detected suggestion where there is one). loadConfig accepts it as is.
 */
export async function renderConfig(d: Detection, opts: { baseline: string }): Promise<string> {
  const YAML = await import('yaml');
  const v = (x: unknown) => YAML.stringify(x, { collectionStyle: 'flow', flowCollectionPadding: false, lineWidth: 0 }).trimEnd();
  const L: string[] = [];
  L.push(`# rb.config.yaml — how rb rolls this repository back. Written by \`rb init\`; edit freely.`);
  L.push(`# Every key is optional: a key left out (or commented out) takes the default shown.`);
  L.push(`# \`rb config\` prints the effective values and where each came from.`);
  if (d.projects.length) L.push(`# Detected: ${d.projects.map((p) => `${p.manager} ${p.dir === '.' ? 'at the root' : `in ${p.dir}/`}`).join(', ')}.`);
  L.push('');
  L.push('# The last known good state (a branch or tag): `rb emergency` resets to it, `rb sprint`');
  L.push('# starts the retry branch from it, `rb files` restores from it.');
  L.push(`baseline: ${v(opts.baseline)}`);
  L.push('');
  L.push('# The remote the baseline is fetched from before a rollback ("" = never fetch).');
  L.push(`remote: ${v(d.remote)}`);
  L.push('');
  L.push('# The test command: a string runs in the shell, a list is an argv. `rb sprint` records its');
  L.push('# failures; `rb files` appends the test files of the restored files to it.');
  const testTools = [...new Set(d.projects.filter((p) => p.test && p.missingTool && (typeof d.test === 'string' ? d.test === p.test : JSON.stringify(d.test ?? '').includes(p.test))).map((p) => p.tool))];
  if (testTools.length) L.push(`# (${testTools.join(', ')} ${testTools.length === 1 ? 'is' : 'are'} not on PATH: these tests cannot run until ${testTools.length === 1 ? 'it is' : 'they are'} installed)`);
  if (d.test !== null) L.push(`test: ${v(d.test)}`);
  else L.push('# test: null                      # nothing detected, e.g. npm test, python3 -m pytest, go test ./...');
  L.push('');
  L.push('# Dependency installs, one per package or language, run after a rollback whose lockfiles');
  L.push('# changed. `dir` (relative to cwd) is kept through `git clean` while its lockfiles are unchanged.');
  if (d.projects.length) {
    const active = d.projects.filter((p) => !p.missingTool);
    L.push(active.length ? 'install:' : 'install: []                        # the entries below need a tool that is not on PATH');
    for (const p of d.projects) {
      const c = p.missingTool ? '# ' : '';
      if (p.missingTool) L.push(`  # ${p.missingTool}:`);
      if (p.note) L.push(`  # ${p.note}`);
      L.push(`  ${c}- command: ${v(p.install.command)}`);
      L.push(`  ${c}  cwd: ${v(p.install.cwd)}`);
      L.push(`  ${c}  lockfiles: ${v(p.install.lockfiles)}${p.install.lockfiles.length ? '' : p.install.dir === 'node_modules' ? '    # no lockfile: node_modules is kept while package.json is unchanged' : '    # no lockfile: every rollback reinstalls'}`);
      L.push(`  ${c}  dir: ${v(p.install.dir)}${p.install.dir ? '' : '    # none: skipped while its lockfiles are those of its last successful run here'}`);
    }
  } else {
    L.push('install: []                        # e.g. - { command: npm ci, cwd: ., lockfiles: [package-lock.json], dir: node_modules }');
  }
  L.push('');
  L.push('# Never deleted by the clean of `rb emergency` (patterns as in .gitignore).');
  L.push('keep:');
  L.push('  - .env');
  L.push('  - .env.*');
  L.push('');
  L.push('# --- everything below is commented out: the defaults apply --------------------------------');
  L.push('');
  L.push('# rollbacksDir: rollbacks          # reports, metrics.json, audit.jsonl (kept out of git via .git/info/exclude)');
  const first = <K extends 'build' | 'coverage' | 'start'>(k: K) => d.projects.find((p) => p.dir === '.' && p[k])?.[k];
  const build = first('build');
  const coverage = first('coverage');
  const start = first('start');
  L.push(`# coverage: null                  # for \`rb analyze\`${coverage ? `; detected: ${coverage}` : ', e.g. npm run coverage'}`);
  L.push('# performance: null               # for `rb analyze`, e.g. npm run bench');
  L.push(`# build: null                     # build errors go into sprint reports${build ? `; detected: ${build}` : ', e.g. npm run build'}`);
  L.push('# verify: null                    # must pass after a rollback, e.g. curl -fsS http://localhost:3000/health');
  L.push('# services: []                    # processes stopped before and restarted after `rb emergency`, e.g.');
  L.push('#   - name: web');
  L.push(`#     start: ${start ?? 'npm run dev'}`);
  L.push('#     stop: null                  # default: stop the process group rb started');
  L.push('#     ready: null                 # a command or http(s) URL polled after start');
  L.push('#     cwd: .');
  L.push('# testMap: []                     # which tests belong to a file, e.g.');
  L.push('#   - { match: "src/**/*.ts", tests: ["test/{name}.test.ts"] }');
  L.push('# undo:');
  L.push('#   windowHours: 24');
  // dependency folders are regenerable: not copied into snapshots, and so never cleaned (also
  // those of an entry commented out because its tool is missing: a .venv made by hand stays)
  const skip = [...new Set(['node_modules', ...d.projects.map((p) => p.install.dir).filter((x): x is string => Boolean(x))])];
  if (skip.length > 1) {
    L.push('snapshots:');
    L.push('  # keepDays: 30');
    L.push('  # maxIgnoredBytes: 52428800');
    L.push(`  skipIgnored: ${v(skip)}    # dependency folders: reinstalled from their lockfiles, not copied into snapshots`);
  } else {
    L.push('# snapshots:');
    L.push('#   keepDays: 30');
    L.push('#   maxIgnoredBytes: 52428800');
    L.push('#   skipIgnored: [node_modules]');
  }
  L.push('# check:');
  L.push('#   maxDiskPercent: 90');
  L.push('#   baselineTests: true');
  L.push('#   tag: true');
  L.push('# metrics:');
  L.push('#   healthyRate: 0.05');
  L.push('#   reviewRate: 0.1');
  L.push('#   countNamedCheckpoints: false  # true: rb checkpoint <name> counts as a sprint started, like rb check');
  L.push('# notify:');
  L.push('#   webhook: null                 # or set RB_WEBHOOK_URL (keeps the secret out of the repository)');
  L.push('# records:');
  L.push('#   share: false                  # true: share run records with the team through the remote (rb sync after every run and check)');
  L.push('#   timeoutSeconds: 10');
  return L.join('\n') + '\n';
}

/** Create `path` with `text` only if it does not exist (never overwrites; complete or absent). Returns false when it existed. */
function writeNewFile(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path); // atomic, and fails with EEXIST instead of replacing
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      unlinkSync(tmp);
      return false;
    }
    // a file system without hard links: exclusive create
    unlinkSync(tmp);
    try {
      writeFileSync(path, text, { flag: 'wx', mode: 0o644 });
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
    fsyncDir(join(path, '..'));
    return true;
  }
  unlinkSync(tmp);
  fsyncDir(join(path, '..'));
  return true;
}

/** Options of {@link runInit}. */
export interface InitOptions {
  cwd?: string;
  /** the baseline name to write (default "baseline") */
  baseline?: string;
  /** create the baseline branch without asking */
  yes?: boolean;
  /** may rb prompt? default: stdin and stdout are terminals */
  interactive?: boolean;
  /** where the messages go (default stdout) */
  print?: (line: string) => void;
}

/** What `rb init` did. */
export interface InitOutcome {
  root: string;
  configWritten: boolean;
  excludeAdded: boolean;
  /** the baseline branch created at HEAD, or null */
  baselineCreated: string | null;
  /** true when nothing at all changed */
  unchanged: boolean;
  detection: Detection | null;
  /** the configured baseline after init: its name, and the ref and commit it resolves to (null when it does not exist) */
  baseline: { name: string; ref: string | null; oid: string | null };
  /** the commands to run next, each with what it is for */
  next: string[];
}

/** See the module comment. */
export async function runInit(opts: InitOptions = {}): Promise<InitOutcome> {
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const interactive = opts.interactive ?? Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let repo: Repo;
  try {
    repo = findRepo(opts.cwd);
  } catch (e) {
    if (e instanceof PreconditionError && /is not inside a git work tree/.test(e.message)) {
      throw new PreconditionError(e.message, { next: 'run `git init` (and make a first commit), then `rb init`' });
    }
    throw e;
  }
  const { refNameProblem } = await import('../config/schema.js');
  if (opts.baseline !== undefined) {
    const why = refNameProblem(opts.baseline);
    if (why || !(await isValidBranchName(repo.root, opts.baseline))) {
      throw new UsageError(`--baseline "${opts.baseline}" is not a valid branch name${why ? `: it ${why}` : ' (git check-ref-format --branch)'}; nothing was changed.`, {
        next: 'rb init --baseline baseline',
      });
    }
  }

  // ---- read: the existing configuration, or what a new one would say --------------------------
  const configPath = join(repo.root, CONFIG_FILE);
  const exists = existsSync(configPath);
  const { loadConfig } = await import('../config/load.js');
  // an existing file must be valid (it is not rewritten); rb.config.yml is named and refused here
  const loaded = await loadConfig(repo.root);
  let detection: Detection | null = null;
  let text: string | null = null;
  let baselineName = opts.baseline ?? 'baseline';
  const rollbacksDir = loaded.config.rollbacksDir;
  if (exists) {
    baselineName = loaded.config.baseline;
  } else {
    detection = await detectProject(repo.root, { rollbacksDir });
    text = await renderConfig(detection, { baseline: baselineName });
  }

  // ---- ask (before changing anything) -----------------------------------------------------------
  const { resolveBaseline } = await import('../engine/baseline.js');
  const baseline = await resolveBaseline(repo, baselineName, exists ? loaded.config.remote : (detection?.remote ?? ''));
  const head = await git(['rev-parse', '-q', '--verify', 'HEAD'], { cwd: repo.root, allowFail: true, readOnly: true });
  const headOid = head.code === 0 ? head.stdout.trim() : null;
  let createBaseline = false;
  const branchCmd = `git branch ${shellQuote(baselineName)} HEAD`;
  // a fully-qualified name (refs/…) is not a branch name to create
  const creatable = !baselineName.startsWith('refs/');
  if (!baseline.oid && headOid && creatable) {
    if (opts.yes) createBaseline = true;
    else if (interactive) {
      const subject = (await git(['log', '-1', '--format=%s', headOid], { cwd: repo.root, readOnly: true })).stdout.trim();
      const { confirm } = await import('@inquirer/prompts');
      try {
        createBaseline = await confirm({ message: `There is no baseline "${baselineName}" yet. Create the branch ${baselineName} at HEAD (${headOid.slice(0, 12)} "${subject}")?`, default: true });
      } catch (e) {
        if (e instanceof Error && e.name === 'ExitPromptError') throw new InterruptedError('rb init cancelled; nothing was changed.', { next: 'rb init' });
        throw e;
      }
    }
  }

  // ---- change -------------------------------------------------------------------------------------
  print(`rb init in ${repo.root}`);
  let configWritten = false;
  if (text !== null) {
    configWritten = writeNewFile(configPath, text);
    // what was written must load: a detection rb itself cannot read is a bug, not the user's problem
    if (configWritten) await loadConfig(repo.root);
  }
  if (configWritten && detection) {
    print(`  ✔ wrote ${CONFIG_FILE}: baseline ${baselineName}, remote ${detection.remote ? detection.remote : '"" (never fetch)'}, test ${detection.test === null ? 'none detected' : typeof detection.test === 'string' ? detection.test : 'every project\'s tests'}`);
    for (const p of detection.projects) {
      const line = `${p.install.command}${p.dir === '.' ? '' : ` (in ${p.dir}/)`}${p.install.lockfiles.length ? ` — lockfiles ${p.install.lockfiles.join(', ')}` : ' — no lockfile'}${p.install.dir ? `, keeps ${p.install.dir}` : ''}`;
      print(p.missingTool ? `      install (commented out): ${line} — ${p.tool} is not on PATH` : `      install: ${line}`);
      if (p.note) print(`        note: ${p.note}`);
    }
    if (!detection.projects.length) print('      install: nothing detected (no package.json, requirements*.txt, pyproject.toml, uv.lock, poetry.lock, Pipfile.lock or go.mod)');
    for (const w of detection.warnings) print(`      warning: ${w}`);
  } else {
    print(`  · ${CONFIG_FILE} already exists; nothing changed (rb never overwrites it: edit it, or see the effective values with \`rb config\`)`);
    if (opts.baseline !== undefined && opts.baseline !== baselineName) {
      print(`      note: --baseline ${opts.baseline} was not applied: ${CONFIG_FILE} says baseline: ${baselineName} (edit the file to change it)`);
    }
  }

  const { ensureExcluded, isTracked } = await import('../records/exclude.js');
  const excludeAdded = ensureExcluded(repo, rollbacksDir);
  if (excludeAdded) print(`  ✔ added /${rollbacksDir}/ to .git/info/exclude (rb's records stay out of commits and cleans)`);
  else if (isTracked(repo, rollbacksDir)) print(`  · ${rollbacksDir}/ is tracked by git: left as is`);
  else print(`  · /${rollbacksDir}/ is already in .git/info/exclude`);

  let baselineCreated: string | null = null;
  let baselineNow: InitOutcome['baseline'] = { name: baselineName, ref: baseline.oid ? baseline.ref : null, oid: baseline.oid };
  if (baseline.oid) {
    print(`  · baseline: ${baseline.type === 'remote-branch' ? 'remote branch' : baseline.type} ${baseline.ref} at ${baseline.oid.slice(0, 12)}`);
  } else if (!creatable) {
    print(`  ! the baseline ${baselineName} does not exist: create that ref at the last good commit (\`git update-ref ${shellQuote(baselineName)} <commit>\`)`);
  } else if (!headOid) {
    print(`  ! no baseline yet, and no commit to put it on: make a first commit, then \`${branchCmd}\` (or \`rb init --yes\`)`);
  } else if (createBaseline) {
    await git(['branch', '--no-track', baselineName, headOid], { cwd: repo.root });
    baselineCreated = baselineName;
    baselineNow = { name: baselineName, ref: `refs/heads/${baselineName}`, oid: headOid };
    print(`  ✔ created the branch ${baselineName} at HEAD (${headOid.slice(0, 12)}): the last known good state`);
  } else {
    print(`  ! no baseline "${baselineName}" yet: mark the last good commit with \`${branchCmd}\` (or run \`rb init --yes\`)`);
  }

  const unchanged = !configWritten && !excludeAdded && !baselineCreated;
  const next: string[] = [];
  if (configWritten) next.push(`git add ${CONFIG_FILE} && git commit -m "Add rb configuration"   share it with the team`);
  next.push('rb check            is the repository ready for a sprint?');
  next.push('rb plan emergency   every command a level-1 rollback would run, without running it');
  print('');
  if (unchanged) print(`Nothing changed: rb is already set up here.`);
  print('Next:');
  for (const n of next) print(`  ${n}`);
  return { root: repo.root, configWritten, excludeAdded, baselineCreated, unchanged, detection, baseline: baselineNow, next };
}

/**
 * commander adapter: `rb init [--baseline <ref>] [--yes] [--json]`. With --json it never asks
 * (like any command without a terminal: the baseline is created only with --yes) and prints the
 * outcome as one JSON document instead of the lines.
 */
export async function initCommand(opts: { baseline?: string; yes?: boolean; json?: boolean }, cmd: any): Promise<number> {
  const outcome = await runInit({ cwd: cmd?.parent?.opts().cwd, baseline: opts.baseline, yes: opts.yes, ...(opts.json ? { interactive: false, print: () => undefined } : {}) });
  if (opts.json) process.stdout.write(JSON.stringify({ ...outcome, config: CONFIG_FILE }, null, 2) + '\n');
  return 0;
}
