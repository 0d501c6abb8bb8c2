/**
 * npm run bench — rb against the plain git procedures it replaces, on repositories built in the
 * temp dir. Each pair is measured alternately in the same run (rb, plain, rb, plain, …) and the
 * median is reported, with the peak memory (max RSS from /usr/bin/time -v) of rb's runs.
 * Writes a table to stdout and bench/results.json.
 *
 *   RB_BENCH_FILES=50000   files in the large repository (500 directories)
 *   RB_BENCH_RUNS=5        runs per measurement
 *   RB_BENCH_ONLY=startup,procs,snapshot,files,emergency,undo,many,analyze,check,small   (default: all but memory)
 *                          memory: each command's peak with a 40 MB ignored file (RB_BENCH_FILES=200000 for issue 18's row)
 *                          small: issue 18's fixed cost on its own 300-file repository (`small` alone builds no large one)
 *   RB_BENCH_KEEP=1        keep the repositories
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, release } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const FILES = Number(process.env.RB_BENCH_FILES ?? 50_000);
const RUNS = Number(process.env.RB_BENCH_RUNS ?? 5);
const ONLY = (process.env.RB_BENCH_ONLY ?? 'startup,procs,snapshot,files,emergency,undo,many,analyze,check,small').split(',');
/** the sections measured on the large repository (small builds its own) */
const LARGE_SECTIONS = ['startup', 'procs', 'snapshot', 'files', 'emergency', 'undo', 'many', 'memory', 'analyze', 'check'];
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Sample { ms: number; rssMb: number | null; code: number | null }
interface ProcCount { command: string; git: number; goal: number | null; met: boolean | null }
interface Row { name: string; rb: string; rbMs: number; plain: string; plainMs: number; ratio: number; target: string; met: boolean | null; rbPeakMb: number | null; note?: string }

const env = { ...process.env, LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', NO_COLOR: '1' };
delete env.GIT_DIR;
delete env.GIT_WORK_TREE;
delete env.GIT_INDEX_FILE;

function run(cwd: string, argv: string[], opts: { input?: string; allowFail?: boolean } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${argv.join(' ')} (in ${cwd}) exited ${r.status}: ${r.stderr}`);
  return r;
}
const git = (cwd: string, ...args: string[]) => run(cwd, ['git', ...args]).stdout.trim();

/** Time one command (wall clock), with its max RSS when /usr/bin/time is there. */
function timed(cwd: string, argv: string[]): Sample {
  const full = TIME ? [TIME, '-f', 'RB_MAXRSS_KB=%M', ...argv] : argv;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(full[0]!, full.slice(1), { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const m = /RB_MAXRSS_KB=(\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0) process.stderr.write(`  (exit ${r.status}: ${argv.join(' ')}: ${(r.stderr ?? '').split('\n').slice(-4).join(' | ')})\n`);
  return { ms, rssMb: m ? Math.round(Number(m[1]) / 1024) : null, code: r.status };
}

/** Time a sequence of commands as one measurement (the plain procedures are several commands). */
function timedSeq(cwd: string, argvs: string[][]): Sample {
  let ms = 0;
  let rss: number | null = null;
  for (const a of argvs) {
    const s = timed(cwd, a);
    ms += s.ms;
    if (s.rssMb !== null) rss = Math.max(rss ?? 0, s.rssMb);
  }
  return { ms, rssMb: rss, code: 0 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** rb and plain alternately, RUNS times each; `before` runs untimed before every sample. */
function pair(name: string, rb: { label: string; sample: () => Sample }, plain: { label: string; sample: () => Sample }, target: { text: string; ok: (ratio: number) => boolean }, before?: () => void): Row {
  const a: Sample[] = [];
  const b: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    before?.();
    a.push(rb.sample());
    before?.();
    b.push(plain.sample());
  }
  const rbMs = median(a.map((s) => s.ms));
  const plainMs = median(b.map((s) => s.ms));
  const peaks = a.map((s) => s.rssMb).filter((x): x is number => x !== null);
  const ratio = rbMs / plainMs;
  const row: Row = { name, rb: rb.label, rbMs: Math.round(rbMs), plain: plain.label, plainMs: Math.round(plainMs), ratio: Math.round(ratio * 100) / 100, target: target.text, met: target.ok(ratio), rbPeakMb: peaks.length ? Math.max(...peaks) : null };
  process.stdout.write(`  ${name}: rb ${row.rbMs} ms, plain ${row.plainMs} ms, ratio ${row.ratio} (${target.text}: ${row.met ? 'met' : 'MISSED'})${row.rbPeakMb !== null ? `, rb peak ${row.rbPeakMb} MB` : ''}\n`);
  return row;
}

// ---- repositories ---------------------------------------------------------------------------------

function writeTree(root: string, n: number): void {
  const dirs = 500;
  const per = Math.ceil(n / dirs);
  let made = 0;
  for (let d = 0; d < dirs && made < n; d++) {
    const dir = join(root, 'src', `m${String(d).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < per && made < n; f++, made++) writeFileSync(join(dir, `f${f}.ts`), `export const v${f} = ${d * per + f};\n// module ${d} file ${f}\n`);
  }
}

interface BenchRepo { dir: string; work: string; origin: string; files: string[] }

/** An empty repository `<base>/<name>/work` with an identity and a bare remote `origin` beside it. */
function initRepoWithRemote(base: string, name: string): { dir: string; work: string; origin: string } {
  const dir = join(base, name);
  const origin = join(dir, 'origin.git');
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
  git(work, 'init', '-q', '-b', 'main');
  for (const [k, v] of [['user.name', 'bench'], ['user.email', 'bench@example.invalid'], ['commit.gpgSign', 'false'], ['gc.auto', '0']]) git(work, 'config', k!, v!);
  git(work, 'remote', 'add', 'origin', origin);
  return { dir, work, origin };
}

function buildRepo(base: string, nFiles: number, name: string): BenchRepo {
  const { dir, work, origin } = initRepoWithRemote(base, name);
  writeTree(work, nFiles);
  writeFileSync(join(work, '.gitignore'), '.env\nnode_modules/\n');
  // dependencies: rb's own package.json and lockfile (208 packages, ~3,600 files, a real
  // `npm ci` from npm's cache), plus 1,500 padding files so node_modules holds ~5,000 files
  writeFileSync(join(work, 'package.json'), readFileSync(join(ROOT, 'package.json')));
  writeFileSync(join(work, 'package-lock.json'), readFileSync(join(ROOT, 'package-lock.json')));
  writeFileSync(join(work, 'install.cjs'), `const fs=require('fs');const p=require('path');for(let d=0;d<30;d++){const dir=p.join('node_modules','.bench-pad','pkg'+d);fs.mkdirSync(dir,{recursive:true});for(let f=0;f<50;f++)fs.writeFileSync(p.join(dir,'f'+f+'.js'),'module.exports='+f+';\\n'.repeat(40));}\n`);
  // a small real test suite, and coverage / performance commands, for rb analyze and rb check
  mkdirSync(join(work, 'test'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(work, 'test', `t${i}.test.cjs`), `const test = require('node:test');\nconst assert = require('node:assert');\ntest('t${i}', () => { let s = 0; for (let k = 0; k < 2e6; k++) s += k; assert.ok(s > 0); });\n`);
  writeFileSync(join(work, 'rb.config.yaml'), [
    'test: node --test test/',
    'coverage: node --test --experimental-test-coverage test/',
    'performance: node -e "let s=0; for (let k=0; k<3e8; k++) s+=k; console.log(s)"',
    'install:',
    '  - command: "npm ci --no-audit --no-fund && node install.cjs"',
    '    lockfiles: [package-lock.json]',
    '    dir: node_modules',
    '',
  ].join('\n'));
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'baseline state');
  git(work, 'gc', '-q'); // a real repository's objects are packed
  git(work, 'branch', 'baseline');
  git(work, 'push', '-q', 'origin', 'main', 'baseline');
  git(work, 'switch', '-q', '-c', 'feature');
  const files = git(work, 'ls-files', 'src').split('\n').filter(Boolean);
  return { dir, work, origin, files };
}

/** The working copy of someone whose work went wrong: 100 modified, 10 untracked, .env, node_modules. */
let dirtyRound = 0;

function makeDirty(r: BenchRepo): void {
  run(r.work, ['git', 'switch', '-q', '--discard-changes', 'feature']);
  git(r.work, 'reset', '-q', '--hard');
  const step = Math.max(1, Math.floor(r.files.length / 100));
  // new content every time, as in real work: every sample writes new blobs and trees (the
  // same content again would find its objects already stored, for rb and git alike)
  const round = ++dirtyRound;
  for (let i = 0; i < 100 && i * step < r.files.length; i++) writeFileSync(join(r.work, r.files[i * step]!), `export const changed = ${i}; // round ${round}\n`);
  for (let i = 0; i < 10; i++) writeFileSync(join(r.work, `notes-${i}.md`), `note ${i}, round ${round}\n`);
  writeFileSync(join(r.work, '.env'), 'TOKEN=bench\n');
  if (!existsSync(join(r.work, 'node_modules', '.bench-pad', 'pkg29', 'f49.js'))) run(r.work, ['sh', '-c', 'npm ci --no-audit --no-fund >/dev/null 2>&1 && node install.cjs']);
}

/**
 * The small repository of issue 18's fixed-cost rows: 300 tracked files in 30 directories, a bare
 * remote holding the baseline, a config without an install (the rows run `--no-install`). What
 * rb costs here is mostly its own start, not git's work.
 */
function buildSmallRepo(base: string): BenchRepo {
  const { dir, work, origin } = initRepoWithRemote(base, 'small');
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(work, 'src', `m${d}`), { recursive: true });
    for (let f = 0; f < 10; f++) writeFileSync(join(work, 'src', `m${d}`, `f${f}.ts`), `export const v${f} = ${d * 10 + f};\n// module ${d} file ${f}\n`);
  }
  writeFileSync(join(work, '.gitignore'), '.env\nnode_modules/\n');
  writeFileSync(join(work, 'rb.config.yaml'), 'test: node --test test/\n');
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'baseline state');
  git(work, 'gc', '-q');
  git(work, 'branch', 'baseline');
  git(work, 'push', '-q', 'origin', 'main', 'baseline');
  git(work, 'switch', '-q', '-c', 'feature');
  const files = git(work, 'ls-files', 'src').split('\n').filter(Boolean);
  return { dir, work, origin, files };
}

/** 20 changes, new content every time: 16 modified files, 3 untracked, the ignored .env. */
function makeSmallDirty(r: BenchRepo): void {
  run(r.work, ['git', 'switch', '-q', '--discard-changes', 'feature']);
  git(r.work, 'reset', '-q', '--hard');
  const round = ++dirtyRound;
  for (let i = 0; i < 16; i++) writeFileSync(join(r.work, r.files[i * 18]!), `export const changed = ${i}; // round ${round}\n`);
  for (let i = 0; i < 3; i++) writeFileSync(join(r.work, `notes-${i}.md`), `note ${i}, round ${round}\n`);
  writeFileSync(join(r.work, '.env'), `TOKEN=bench-${round}\n`);
}

/**
 * How many git processes one rb command starts: a `git` first on PATH that appends a line per
 * call to a log, then runs the real git (git's own subprocesses use its exec path, not PATH).
 */
function countGitProcesses(base: string, cwd: string, argv: string[]): number {
  const shim = join(base, 'git-shim');
  const log = join(base, 'git-calls.log');
  if (!existsSync(join(shim, 'git'))) {
    const real = run(base, ['sh', '-c', 'command -v git']).stdout.trim();
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'git'), `#!/bin/sh\necho "$1" >> "$RB_BENCH_GIT_LOG"\nexec ${real} "$@"\n`, { mode: 0o755 });
  }
  rmSync(log, { force: true });
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env: { ...env, PATH: `${shim}:${env.PATH}`, RB_BENCH_GIT_LOG: log }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
}

// ---- measurements ---------------------------------------------------------------------------------

/**
 * Issue 18's fixed cost on a small repository (300 files, 20 changes): what rb adds to the plain
 * commands when git has little to do. The plain side pays one `node -e 0` too: a user's rb is a
 * node process, and the goal is what rb does beyond starting one.
 */
function smallSection(base: string, rb: (args: string[]) => string[], procs: ProcCount[]): Row[] {
  process.stdout.write('small repository (300 files, 20 changes): the fixed cost\n');
  const small = buildSmallRepo(base);
  const fresh = () => makeSmallDirty(small);
  const file = small.files[0]!;
  const node0 = [process.execPath, '-e', '0'];
  const plainEmergency = [['git', 'stash', 'push', '-q'], ['git', 'checkout', '-q', 'baseline'], ['git', 'reset', '-q', '--hard', 'origin/baseline'], ['git', 'clean', '-q', '-fdx']];
  const rows = [
    pair(
      'small: rb files <one file>',
      { label: `rb files ${file} --yes --no-tests`, sample: () => timed(small.work, rb(['files', file, '--yes', '--no-tests'])) },
      { label: 'git stash push; git checkout baseline -- <file>; node -e 0', sample: () => timedSeq(small.work, [['git', 'stash', 'push', '-q'], ['git', 'checkout', 'baseline', '--', file], node0]) },
      { text: '≤ 3× plain + node -e 0', ok: (x) => x <= 3 },
      fresh,
    ),
    pair(
      'small: rb emergency --no-install',
      { label: 'rb emergency --yes --no-services --no-install', sample: () => timed(small.work, rb(['emergency', '--yes', '--no-services', '--no-install'])) },
      { label: 'stash; checkout; reset --hard; clean -fdx; node -e 0', sample: () => timedSeq(small.work, [...plainEmergency, node0]) },
      { text: '≤ 2× plain + node -e 0', ok: (x) => x <= 2 },
      fresh,
    ),
    pair(
      'small: rb files --dry-run <one file>',
      { label: `rb files --dry-run ${file}`, sample: () => timed(small.work, rb(['files', '--dry-run', file])) },
      { label: 'node -e 0', sample: () => timed(small.work, node0) },
      { text: '≤ 2× node -e 0', ok: (x) => x <= 2 },
      fresh,
    ),
  ];
  const count = (command: string, args: string[], goal: number | null) => {
    const n = countGitProcesses(base, small.work, rb(args));
    procs.push({ command: `small: ${command}`, git: n, goal, met: goal === null ? null : n <= goal });
    process.stdout.write(`  ${command}: ${n} git processes${goal === null ? '' : ` (goal ≤ ${goal}: ${n <= goal ? 'met' : 'MISSED'})`}\n`);
  };
  fresh();
  count('rb files --dry-run <one file>', ['files', '--dry-run', file], null);
  count('rb files <one file>', ['files', file, '--yes', '--no-tests'], null);
  fresh();
  count('rb emergency --no-install', ['emergency', '--yes', '--no-services', '--no-install'], 30);
  count('rb undo (of the emergency)', ['undo', '--yes'], 25);
  return rows;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first (npm run bench does)');
  const base = mkdtempSync(join(tmpdir(), 'rb-bench-'));
  const rows: Row[] = [];
  const procs: ProcCount[] = [];
  const memory: MemoryRow[] = [];
  const started = Date.now();
  let failed = false;
  process.stdout.write(`rb bench: ${FILES} files, ${RUNS} runs per measurement, in ${base}\n`);
  try {
    const rb = (args: string[]) => [process.execPath, CLI, ...args];
    if (ONLY.includes('small')) rows.push(...smallSection(base, rb, procs));
    if (!ONLY.some((s) => LARGE_SECTIONS.includes(s))) return;
    process.stdout.write('building the large repository …\n');
    const large = buildRepo(base, FILES, 'large');
    makeDirty(large);

    if (ONLY.includes('startup')) {
      process.stdout.write('startup\n');
      for (const args of [['--version'], ['--help'], ['status'], ['history']]) {
        rows.push(pair(`rb ${args.join(' ')}`, { label: `rb ${args.join(' ')}`, sample: () => timed(large.work, rb(args)) }, { label: 'node -e 0', sample: () => timed(large.work, [process.execPath, '-e', '0']) }, { text: '≤ 2× node -e 0', ok: (x) => x <= 2 }));
      }
    }
    if (ONLY.includes('procs')) {
      process.stdout.write('git processes per command\n');
      const count = (command: string, args: string[], goal: number) => {
        const n = countGitProcesses(base, large.work, rb(args));
        procs.push({ command, git: n, goal, met: n <= goal });
        process.stdout.write(`  ${command}: ${n} git processes (goal ≤ ${goal}: ${n <= goal ? 'met' : 'MISSED'})\n`);
      };
      makeDirty(large);
      count('rb snapshots create', ['snapshots', 'create', '-m', 'bench'], 10);
      makeDirty(large);
      count('rb emergency --no-install', ['emergency', '--yes', '--no-services', '--no-install'], 30);
      count('rb undo (of the emergency)', ['undo', '--yes'], 25);
      count('rb status', ['status'], 1);
    }
    if (ONLY.includes('snapshot')) {
      process.stdout.write('snapshot (100 modified, 10 untracked)\n');
      const status = () => timed(large.work, ['git', 'status', '--porcelain']);
      // each sample sees new changes (new content: its blobs and trees are not stored yet)
      const fresh = () => makeDirty(large);
      rows.push(pair('rb snapshots create', { label: 'rb snapshots create', sample: () => timed(large.work, rb(['snapshots', 'create', '-m', 'bench'])) }, { label: 'git status', sample: status }, { text: '≤ 2× git status', ok: (x) => x <= 2 }, fresh));
      // the capture alone, inside one node process: what the snapshot costs once node has started
      const capture = (): Sample => {
        const url = (f: string) => JSON.stringify(pathToFileURL(join(ROOT, 'dist', f)).href);
        const script = `const { captureSnapshot } = await import(${url('snapshot/capture.js')}); const { findRepo } = await import(${url('repo.js')});`
          + ` const t = performance.now(); await captureSnapshot(findRepo(process.cwd()), { message: 'bench', exclude: ['rollbacks'] });`
          + ` console.log('RB_CAPTURE_MS=' + (performance.now() - t));`;
        const r = run(large.work, [process.execPath, '--input-type=module', '-e', script]);
        return { ms: Number(/RB_CAPTURE_MS=([\d.]+)/.exec(r.stdout)![1]), rssMb: null, code: 0 };
      };
      rows.push(pair('snapshot capture in-process (no node start)', { label: 'captureSnapshot()', sample: capture }, { label: 'git status', sample: status }, { text: '≤ 2× git status', ok: (x) => x <= 2 }, fresh));
      rows.push(pair('rb snapshots create vs stash', { label: 'rb snapshots create', sample: () => timed(large.work, rb(['snapshots', 'create', '-m', 'bench'])) }, { label: 'git stash push -u + pop', sample: () => timedSeq(large.work, [['git', 'stash', 'push', '-u', '-q'], ['git', 'stash', 'pop', '-q']]) }, { text: '< stash push -u + pop', ok: (x) => x < 1 }, fresh));
    }
    if (ONLY.includes('files')) {
      process.stdout.write('rb files <one file>\n');
      const file = large.files[0]!;
      rows.push(
        pair(
          'rb files <one file>',
          { label: `rb files ${file}`, sample: () => timed(large.work, rb(['files', file, '--yes', '--no-tests'])) },
          { label: 'git stash push; git checkout baseline -- <file>', sample: () => timedSeq(large.work, [['git', 'stash', 'push', '-q'], ['git', 'checkout', 'baseline', '--', file]]) },
          { text: '≤ 1.5× plain', ok: (x) => x <= 1.5 },
          () => makeDirty(large),
        ),
      );
    }
    if (ONLY.includes('emergency')) {
      process.stdout.write('rb emergency (lockfile unchanged)\n');
      const plainNoInstall = [['git', 'stash', 'push', '-q'], ['git', 'checkout', '-q', 'baseline'], ['git', 'reset', '-q', '--hard', 'origin/baseline'], ['git', 'clean', '-q', '-fdx']];
      rows.push(
        pair(
          'rb emergency --no-install',
          { label: 'rb emergency --yes --no-services --no-install', sample: () => timed(large.work, rb(['emergency', '--yes', '--no-services', '--no-install'])) },
          { label: 'stash; checkout; reset --hard; clean -fdx', sample: () => timedSeq(large.work, plainNoInstall) },
          { text: '≤ 1.2× plain', ok: (x) => x <= 1.2 },
          () => makeDirty(large),
        ),
      );
      rows.push(
        pair(
          'rb emergency (install, lockfile unchanged)',
          { label: 'rb emergency --yes --no-services', sample: () => timed(large.work, rb(['emergency', '--yes', '--no-services'])) },
          { label: 'stash; checkout; reset --hard; clean -fdx; npm ci', sample: () => timedSeq(large.work, [...plainNoInstall, ['sh', '-c', 'npm ci --no-audit --no-fund >/dev/null 2>&1 && node install.cjs']]) },
          { text: '≥ 3× faster (ratio ≤ 0.33)', ok: (x) => x <= 1 / 3 },
          () => makeDirty(large),
        ),
      );
    }
    if (ONLY.includes('undo')) {
      process.stdout.write('rb undo of an emergency vs git checkout <branch>; git stash pop after the plain emergency\n');
      // each sample undoes its own emergency: rb's (untimed) before rb undo, the plain procedure's
      // (stash; checkout; reset --hard; clean -fdx, untimed) before checkout + stash pop
      const plainEmergency = [['git', 'stash', 'push', '-u', '-q'], ['git', 'checkout', '-q', 'baseline'], ['git', 'reset', '-q', '--hard', 'origin/baseline'], ['git', 'clean', '-q', '-fdx', '-e', 'node_modules']];
      const a: Sample[] = [];
      const b: Sample[] = [];
      for (let i = 0; i < RUNS; i++) {
        makeDirty(large);
        run(large.work, rb(['emergency', '--yes', '--no-services', '--no-install']));
        a.push(timed(large.work, rb(['undo', '--yes'])));
        makeDirty(large);
        for (const c of plainEmergency) run(large.work, c);
        b.push(timedSeq(large.work, [['git', 'checkout', '-q', 'feature'], ['git', 'stash', 'pop', '-q']]));
      }
      const rbMs = median(a.map((s) => s.ms));
      const plainMs = median(b.map((s) => s.ms));
      const peak = a.map((s) => s.rssMb).filter((x): x is number => x !== null);
      const ratio = Math.round((rbMs / plainMs) * 100) / 100;
      rows.push({ name: 'rb undo (of an emergency)', rb: 'rb undo --yes', rbMs: Math.round(rbMs), plain: 'git checkout feature; git stash pop', plainMs: Math.round(plainMs), ratio, target: '≤ 2× plain', met: ratio <= 2, rbPeakMb: peak.length ? Math.max(...peak) : null });
      process.stdout.write(`  rb undo: ${Math.round(rbMs)} ms, checkout + stash pop ${Math.round(plainMs)} ms, ratio ${ratio} (≤ 2×: ${ratio <= 2 ? 'met' : 'MISSED'})\n`);
    }
    if (ONLY.includes('many')) {
      process.stdout.write('snapshot of 10,000 changes (5,000 modified, 5,000 untracked) vs git stash push -u + pop\n');
      let round = 0;
      const manyChanges = () => {
        run(large.work, ['git', 'switch', '-q', '--discard-changes', 'feature']);
        git(large.work, 'reset', '-q', '--hard');
        run(large.work, ['git', 'clean', '-fdq', '-e', 'node_modules', '-e', 'rollbacks', '-e', '.env']);
        round++;
        const step = Math.max(1, Math.floor(large.files.length / 5000));
        for (let i = 0; i < 5000 && i * step < large.files.length; i++) writeFileSync(join(large.work, large.files[i * step]!), `export const many = ${i}; // round ${round}\n`);
        for (let i = 0; i < 5000; i++) {
          const d = join(large.work, 'new', `d${i % 50}`);
          mkdirSync(d, { recursive: true });
          writeFileSync(join(d, `n${i}.ts`), `export const added = ${i}; // round ${round}\n`);
        }
      };
      rows.push(pair('10,000 changes: rb snapshots create vs stash', { label: 'rb snapshots create', sample: () => timed(large.work, rb(['snapshots', 'create', '-m', 'bench'])) }, { label: 'git stash push -u + pop', sample: () => timedSeq(large.work, [['git', 'stash', 'push', '-u', '-q'], ['git', 'stash', 'pop', '-q']]) }, { text: '≤ 0.7× stash push -u + pop', ok: (x) => x <= 0.7 }, manyChanges));
      makeDirty(large);
    }
    if (ONLY.includes('memory')) {
      // run with RB_BENCH_FILES=200000 for the issue's row: every command's peak with a 40 MB ignored file
      process.stdout.write('peak memory of each command with a 40 MB ignored file\n');
      const big = () => writeFileSync(join(large.work, 'model.bin'), Buffer.alloc(40 * 1024 * 1024, 7));
      writeFileSync(join(large.work, '.git', 'info', 'exclude'), '*.bin\n');
      // rb's own peak (process.resourceUsage at exit, written by a preload) beside the peak of the
      // whole process tree (/usr/bin/time: rb or the largest git process it waited for)
      const selfFile = join(base, 'self-rss.txt');
      const preload = `data:text/javascript,process.on('exit',()=>process.getBuiltinModule('fs').writeFileSync(${JSON.stringify(selfFile)},String(process.resourceUsage().maxRSS)))`;
      const peakOf = (label: string, args: string[], before: () => void) => {
        before();
        rmSync(selfFile, { force: true });
        const s = timed(large.work, [process.execPath, '--import', preload, CLI, ...args]);
        const selfMb = existsSync(selfFile) ? Math.round(Number(readFileSync(selfFile, 'utf8')) / 1024) : null;
        memory.push({ command: label, peakMb: s.rssMb, selfMb, ms: Math.round(s.ms) });
        process.stdout.write(`  ${label}: peak ${s.rssMb ?? '?'} MB (rb's own ${selfMb ?? '?'} MB), ${Math.round(s.ms)} ms (exit ${s.code})\n`);
      };
      const dirty = () => { makeDirty(large); big(); };
      peakOf('rb snapshots create', ['snapshots', 'create', '-m', 'bench'], dirty);
      peakOf('rb files <one file>', ['files', large.files[0]!, '--yes', '--no-tests'], dirty);
      peakOf('rb undo (of rb files)', ['undo', '--yes'], () => undefined);
      peakOf('rb emergency --no-install', ['emergency', '--yes', '--no-services', '--no-install'], dirty);
      peakOf('rb status', ['status'], () => undefined);
      peakOf('rb history', ['history'], () => undefined);
      peakOf('rb undo (of the emergency)', ['undo', '--yes'], () => undefined);
      rmSync(join(large.work, 'model.bin'), { force: true });
    }
    if (ONLY.includes('analyze')) {
      process.stdout.write('rb analyze: collectors concurrently vs one after another\n');
      const { analyze } = await import(join(ROOT, 'dist', 'analyze', 'bundle.js'));
      makeDirty(large);
      const inproc = async (sequential: boolean): Promise<Sample> => {
        const t0 = process.hrtime.bigint();
        await analyze({ cwd: large.work, archive: false, sequential, out: join(base, `analysis-${sequential ? 's' : 'c'}-${Date.now()}`) });
        return { ms: Number(process.hrtime.bigint() - t0) / 1e6, rssMb: null, code: 0 };
      };
      const a: Sample[] = [];
      const b: Sample[] = [];
      for (let i = 0; i < RUNS; i++) {
        a.push(await inproc(false));
        b.push(await inproc(true));
      }
      const rbMs = median(a.map((x) => x.ms));
      const plainMs = median(b.map((x) => x.ms));
      const peak = timed(large.work, rb(['analyze', '--no-archive', '--out', join(base, `analysis-peak-${Date.now()}`)])).rssMb;
      const ratio = Math.round((rbMs / plainMs) * 100) / 100;
      rows.push({ name: 'rb analyze', rb: 'collectors concurrently (rb analyze)', rbMs: Math.round(rbMs), plain: 'the same collectors one after another', plainMs: Math.round(plainMs), ratio, target: '≤ 0.6× sequential', met: ratio <= 0.6, rbPeakMb: peak });
      process.stdout.write(`  rb analyze: ${Math.round(rbMs)} ms concurrent, ${Math.round(plainMs)} ms sequential, ratio ${ratio}\n`);
    }
    if (ONLY.includes('check')) {
      process.stdout.write('rb check (the baseline\'s tests) vs checkout baseline, test, checkout back\n');
      const plain = (): Sample => timedSeq(large.work, [['git', 'checkout', '-q', 'baseline'], ['node', '--test', 'test/'], ['git', 'checkout', '-q', '-']]);
      const onBranch = (branch: string) => () => {
        run(large.work, ['git', 'switch', '-q', '--discard-changes', branch]);
        git(large.work, 'reset', '-q', '--hard');
        run(large.work, ['git', 'clean', '-fdq', '-e', 'node_modules', '-e', 'rollbacks']);
      };
      // (a) HEAD is the baseline and clean: the tests run in place
      git(large.work, 'branch', '-f', 'at-baseline', 'baseline');
      const inPlace = pair(
        'rb check, HEAD = baseline (in place)',
        { label: 'rb check --no-tag', sample: () => timed(large.work, rb(['check', '--no-tag'])) },
        { label: 'git checkout baseline; node --test; git checkout -', sample: plain },
        { text: '≤ 2× the plain procedure', ok: (x) => x <= 2 },
        onBranch('at-baseline'),
      );
      rows.push(inPlace);
      // (b) HEAD one commit past the baseline (5 source files changed): the kept worktree, whose
      // first creation (git worktree add of the whole tree) is an untimed warm-up
      onBranch('at-baseline')();
      run(large.work, ['git', 'switch', '-q', '-C', 'past-baseline', 'baseline']);
      for (const f of large.files.slice(0, 5)) writeFileSync(join(large.work, f), `export const past = 1; // ${f}\n`);
      git(large.work, 'commit', '-q', '-am', 'one commit past the baseline');
      const t0 = Date.now();
      const warm = timed(large.work, rb(['check', '--no-tag']));
      process.stdout.write(`  warm-up: the first rb check created the kept worktree in ${Math.round(warm.ms)} ms (exit ${warm.code}; ${Math.round((Date.now() - t0) / 1000)} s)\n`);
      const kept = pair(
        'rb check, HEAD past the baseline (kept worktree)',
        { label: 'rb check --no-tag', sample: () => timed(large.work, rb(['check', '--no-tag'])) },
        { label: 'git checkout baseline; node --test; git checkout -', sample: plain },
        { text: '≤ 2× the plain procedure', ok: (x) => x <= 2 },
        onBranch('past-baseline'),
      );
      kept.note = `first run (creates the kept worktree, untimed warm-up): ${Math.round(warm.ms)} ms`;
      rows.push(kept);
      onBranch('feature')();
    }
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (!process.env.RB_BENCH_KEEP) rmSync(base, { recursive: true, force: true });
    if (!failed) writeResults(rows, procs, memory, started);
  }
}

type MemoryRow = { command: string; peakMb: number | null; selfMb: number | null; ms: number };

function writeResults(rows: Row[], procs: ProcCount[], memory: MemoryRow[], started: number): void {
  const peakAll = Math.max(0, ...rows.map((r) => r.rbPeakMb ?? 0), ...memory.map((m) => m.peakMb ?? 0));
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGb: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, git: git(ROOT, '--version') };
  const result = { date: new Date().toISOString(), sections: ONLY, files: FILES, runs: RUNS, machine, rows, gitProcesses: procs, memory, peakMemoryMb: peakAll, peakTarget: '< 150 MB', peakMet: peakAll > 0 ? peakAll < 150 : null, wallSeconds: Math.round((Date.now() - started) / 1000) };
  mkdirSync(join(ROOT, 'bench'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results.json'), JSON.stringify(result, null, 2) + '\n');
  const table = [
    '| measurement | rb (median ms) | plain procedure (median ms) | ratio | target | met | rb peak MB |',
    '|---|---:|---:|---:|---|---|---:|',
    ...rows.map((r) => `| ${r.name} | ${r.rbMs} | ${r.plainMs} (${r.plain}) | ${r.ratio} | ${r.target} | ${r.met === null ? '-' : r.met ? 'yes' : 'NO'} | ${r.rbPeakMb ?? '-'} |`),
  ].join('\n');
  const procTable = procs.length ? `\n\n| command | git processes | goal | met |\n|---|---:|---:|---|\n${procs.map((p) => `| ${p.command} | ${p.git} | ${p.goal === null ? '-' : `≤ ${p.goal}`} | ${p.met === null ? '-' : p.met ? 'yes' : 'NO'} |`).join('\n')}` : '';
  const memTable = memory.length ? `\n\n| command (${FILES} files, 40 MB ignored file) | peak MB (with git) | rb's own MB | ms |\n|---|---:|---:|---:|\n${memory.map((m) => `| ${m.command} | ${m.peakMb ?? '-'} | ${m.selfMb ?? '-'} | ${m.ms} |`).join('\n')}` : '';
  process.stdout.write(`\n${table}${procTable}${memTable}\n\npeak memory of rb: ${peakAll} MB (target < 150 MB)\nmachine: ${machine.cpus} × ${machine.cpu}, ${machine.memGb} GiB, ${machine.node}, ${machine.git}\nwrote bench/results.json\n`);
}

await main();
