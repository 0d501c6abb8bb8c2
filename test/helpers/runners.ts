/**
 * The real test runners users run, and the fixture projects of test/fixtures/projects/ they run
 * (see its README): Jest and Mocha from the npm registry at the versions pinned in
 * test/fixtures/runners/package-lock.json, installed once with `npm ci` into a cache in the temp
 * dir (keyed by that lockfile, shared by test files and later runs); Vitest is rb's own
 * devDependency; node:test is Node's; pytest and go come from the machine (.ci/run installs
 * Debian's python3-pytest and golang-go when they are missing).
 *
 *   const dir = makeProject('jest', { broken: true });   // a copy in the temp dir, node_modules linked
 *   const { code, all } = runTool(['npx', 'jest'], dir);  // stdout and stderr interleaved
 *
 * Nothing here is a sample typed by hand: the outputs the tests read are what the tools print.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from './repo.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = join(PROJECT_ROOT, 'test', 'fixtures');
const RUNNERS = join(FIXTURES, 'runners');

export type ProjectKind = 'jest' | 'vitest' | 'mocha' | 'node-test' | 'pytest' | 'go';

const JS: readonly ProjectKind[] = ['jest', 'vitest', 'mocha', 'node-test'];

/** Environment for the tools: without this test process's own vitest variables or colour settings. */
export function toolEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(VITEST|TINYPOOL|NODE_OPTIONS$|FORCE_COLOR$|NO_COLOR$|JEST_)/.test(k)) env[k] = v;
  env.GOPROXY = 'off';
  env.GOTOOLCHAIN = 'local';
  env.GOCACHE = join(tmpdir(), 'rb-test-gocache');
  env.PYTHONDONTWRITEBYTECODE = '1';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Run an argv in `cwd`; stdout and stderr interleaved as a terminal shows them (through `2>&1`). */
export function runTool(argv: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): { code: number; all: string } {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('sh', ['-c', `exec ${quoted} 2>&1`], { cwd, env: toolEnv(env), maxBuffer: 1 << 28, timeout: 300_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? 128, all: r.stdout.toString('utf8') };
}

/**
 * The folder holding node_modules with Jest and Mocha, installed by `npm ci` on first use (a
 * few seconds to a minute, depending on npm's own cache) and reused while the lockfile is the
 * same. Test files that ask at once wait for one install.
 */
export function jsRunners(): string {
  const lock = readFileSync(join(RUNNERS, 'package-lock.json'));
  const key = createHash('sha256').update(lock).update(process.version.split('.')[0]!).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `rb-test-runners-${key}`);
  const done = join(dir, '.complete');
  if (existsSync(done)) return dir;
  const lockDir = `${dir}.lock`;
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      if (existsSync(done)) return dir;
      // a builder killed mid-way leaves its lock: taken over after 10 minutes
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > 600_000) rmSync(lockDir, { recursive: true, force: true });
      } catch { /* gone meanwhile */ }
      if (Date.now() > deadline) throw new Error(`waited 10 minutes for ${lockDir}`);
      spawnSync('sleep', ['0.5']);
    }
  }
  try {
    if (existsSync(done)) return dir;
    const build = `${dir}.build-${process.pid}`;
    rmSync(build, { recursive: true, force: true });
    mkdirSync(build, { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(RUNNERS, f), join(build, f));
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', '--loglevel=error'], {
      cwd: build, env: toolEnv(), encoding: 'utf8', timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`npm ci of the test runners failed (exit ${r.status}):\n${r.stderr}${r.stdout}`);
    writeFileSync(join(build, '.complete'), new Date().toISOString() + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(build, dir);
    return dir;
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/** The runners' package.json and package-lock.json as a project's own (so `npm ci` there would install exactly them). */
function writeJsManifest(dir: string, kind: ProjectKind): void {
  const pkg = JSON.parse(readFileSync(join(RUNNERS, 'package.json'), 'utf8')) as Record<string, unknown>;
  const test: Record<string, string> = { jest: 'jest', vitest: 'vitest run', mocha: 'mocha', 'node-test': 'node --test test/' };
  pkg.name = `fixture-${kind}`;
  delete pkg.description;
  pkg.scripts = { test: test[kind]! };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const lock = JSON.parse(readFileSync(join(RUNNERS, 'package-lock.json'), 'utf8')) as { name: string; packages: Record<string, { name?: string }> };
  lock.name = pkg.name as string;
  if (lock.packages['']) lock.packages[''].name = pkg.name as string;
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(lock, null, 2) + '\n');
}

/**
 * A copy of a fixture project in `dir` (default: a new temp dir), in its good state or broken
 * (see breakProject). JavaScript projects get node_modules as a link to the installed runners
 * (rb's own node_modules for Vitest), and a .gitignore that ignores it.
 */
export function makeProject(kind: ProjectKind, opts: { dir?: string; broken?: boolean } = {}): string {
  const dir = opts.dir ?? tmpDir(`rb-${kind}-`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(FIXTURES, 'projects', kind), dir, { recursive: true });
  if (JS.includes(kind)) {
    cpSync(join(FIXTURES, 'projects', 'js-lib'), dir, { recursive: true });
    writeJsManifest(dir, kind);
    const modules = kind === 'vitest' ? join(PROJECT_ROOT, 'node_modules') : join(jsRunners(), 'node_modules');
    symlinkSync(modules, join(dir, 'node_modules'));
    writeFileSync(join(dir, '.gitignore'), 'node_modules\ncoverage/\n');
  } else if (kind === 'pytest') {
    writeFileSync(join(dir, '.gitignore'), '__pycache__/\n.pytest_cache/\n');
  }
  if (opts.broken) breakProject(kind, dir);
  return dir;
}

/** The broken state: the module `suggestSimilar` deleted (two test files cannot load it; in Go the package `command` does not build) and `divide` multiplying (one test fails). */
export function breakProject(kind: ProjectKind, dir: string): void {
  const edit = (file: string, from: string, to: string) => {
    const p = join(dir, file);
    const text = readFileSync(p, 'utf8');
    if (!text.includes(from)) throw new Error(`${file} does not contain ${from}`);
    writeFileSync(p, text.replace(from, to));
  };
  if (JS.includes(kind)) {
    rmSync(join(dir, 'lib', 'suggestSimilar.js'));
    edit('lib/math.js', 'a / b', 'a * b');
  } else if (kind === 'pytest') {
    rmSync(join(dir, 'app', 'suggest.py'));
    edit('app/mathops.py', 'a / b', 'a * b');
  } else {
    // go stops before any test when an imported package is missing: a renamed function instead, so the package `command` fails to build
    edit('suggest/suggest.go', 'func Similar', 'func Closest');
    edit('mathops/mathops.go', 'a / b', 'a * b');
  }
}

let pytest: string[] | null | undefined;

/**
 * How to run pytest here: `pytest`, `python3 -m pytest`, or Debian's `/usr/bin/python3 -m pytest`
 * (python3-pytest, which .ci/run installs when none is found).
 * @throws when none works, saying what to install
 */
export function pytestArgv(): string[] {
  if (pytest === undefined) {
    pytest = null;
    for (const argv of [['pytest'], ['python3', '-m', 'pytest'], ['/usr/bin/python3', '-m', 'pytest'], ['pytest-3']]) {
      const r = spawnSync(argv[0]!, [...argv.slice(1), '--version'], { encoding: 'utf8', env: toolEnv() });
      if (r.status === 0) {
        pytest = argv;
        break;
      }
    }
  }
  if (!pytest) throw new Error('pytest was not found: install it (apt-get install python3-pytest; .ci/run does when it is missing)');
  return pytest;
}

/** `go`, or a clear error saying what to install. */
export function goArgv(): string[] {
  const r = spawnSync('go', ['version'], { encoding: 'utf8', env: toolEnv() });
  if (r.status !== 0) throw new Error('go was not found: install it (apt-get install golang-go; .ci/run does when it is missing)');
  return ['go'];
}

/** The runs whose output the parser tests read: each runner on its project, good and broken. */
export const RUNS: { name: string; kind: ProjectKind; argv: () => string[]; onlyBroken?: boolean; extra?: (dir: string) => void }[] = [
  { name: 'jest', kind: 'jest', argv: () => ['node_modules/.bin/jest'] },
  // more than 20 suites: Jest then repeats every failure under "Summary of all failing tests"
  {
    name: 'jest-many', kind: 'jest', argv: () => ['node_modules/.bin/jest'], onlyBroken: true,
    extra: (dir) => {
      for (let i = 1; i <= 20; i++) writeFileSync(join(dir, '__tests__', `more-${i}.test.js`), `const { run } = require('../lib/command');

test('more ${i}', () => expect(run('x', ['x'])).toBe('ran x'));
`);
    },
  },
  { name: 'vitest', kind: 'vitest', argv: () => ['node_modules/.bin/vitest', 'run'] },
  { name: 'mocha', kind: 'mocha', argv: () => ['node_modules/.bin/mocha'] },
  { name: 'node-spec', kind: 'node-test', argv: () => [process.execPath, '--test', '--test-reporter=spec', 'test/'] },
  { name: 'node-tap', kind: 'node-test', argv: () => [process.execPath, '--test', '--test-reporter=tap', 'test/'] },
  { name: 'pytest', kind: 'pytest', argv: () => pytestArgv() },
  { name: 'go', kind: 'go', argv: () => [...goArgv(), 'test', './...'] },
  { name: 'go-v', kind: 'go', argv: () => [...goArgv(), 'test', '-v', './...'] },
];

export interface ToolOutput {
  code: number;
  all: string;
  /** the project folder it ran in (paths in the output start with it) */
  dir: string;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

/** What identifies the outputs: the fixture projects, the pinned runners, and the versions of node, pytest and go. */
function outputsKey(): string {
  const h = createHash('sha256');
  for (const f of [...listFiles(join(FIXTURES, 'projects')), join(RUNNERS, 'package-lock.json'), join(PROJECT_ROOT, 'node_modules', 'vitest', 'package.json')]) {
    h.update(f.slice(PROJECT_ROOT.length)).update(readFileSync(f));
  }
  h.update(process.version).update(pytestArgv().join(' ')).update(runTool([...pytestArgv(), '--version'], tmpdir()).all).update(runTool([...goArgv(), 'version'], tmpdir()).all);
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  return h.digest('hex').slice(0, 12);
}

/**
 * Each of RUNS on its project in the good and the broken state ("<name>-good", "<name>-broken"),
 * run by the real tools, a few at a time. Kept in the temp dir under a key of everything that
 * could change them (outputsKey), so a second run of the suite reads them back.
 */
export async function toolOutputs(): Promise<Record<string, ToolOutput>> {
  const key = outputsKey();
  const cache = join(tmpdir(), `rb-test-outputs-${key}.json`);
  if (existsSync(cache)) {
    try {
      return JSON.parse(readFileSync(cache, 'utf8')) as Record<string, ToolOutput>;
    } catch { /* a torn write: run again */ }
  }
  jsRunners();
  const jobs = RUNS.flatMap((r) => (r.onlyBroken ? [true] : [false, true]).map((broken) => ({ ...r, broken })));
  const out: Record<string, ToolOutput> = {};
  const next = async (): Promise<void> => {
    const job = jobs.shift();
    if (!job) return;
    const dir = makeProject(job.kind, { dir: join(tmpDir(`rb-${job.name}-`), 'project'), broken: job.broken });
    job.extra?.(dir);
    out[`${job.name}-${job.broken ? 'broken' : 'good'}`] = { ...(await runToolAsync(job.argv(), dir)), dir };
    return next();
  };
  await Promise.all([next(), next(), next()]);
  const tmp = `${cache}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(out));
  renameSync(tmp, cache);
  return out;
}

/** runTool without blocking the event loop. */
export function runToolAsync(argv: readonly string[], cwd: string, env: Record<string, string | undefined> = {}): Promise<{ code: number; all: string }> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `exec ${quoted} 2>&1`], { cwd, env: toolEnv(env), stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, all: Buffer.concat(chunks).toString('utf8') });
    });
  });
}
