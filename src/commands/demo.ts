/**
 * `rb demo` (what `npm run demo` runs): builds a throwaway repository in the temp dir — a
 * baseline, a sprint branch whose tests fail, untracked notes, a `.env` — and runs rb on it as a
 * user would, narrating each step. After every step it checks that rb did what it said, and at
 * the end that the notes and `.env` survived; it exits non-zero if anything did not hold.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));

interface Ctx {
  dir: string;
  failures: string[];
  step: number;
}

function sh(cwd: string, cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_DATE: undefined, GIT_COMMITTER_DATE: undefined } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

const git = (cwd: string, ...args: string[]) => sh(cwd, 'git', args);

function say(text: string): void {
  process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);
}

function rb(c: Ctx, args: string[], expectCode = 0): string {
  c.step++;
  process.stdout.write(`\n$ rb ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: join(c.dir, 'app'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  process.stdout.write(out.split('\n').map((l) => `  │ ${l}`).join('\n') + '\n');
  if (r.status !== expectCode) c.failures.push(`rb ${args.join(' ')} exited ${r.status}, expected ${expectCode}`);
  return out;
}

function check(c: Ctx, what: string, ok: boolean): void {
  process.stdout.write(`  ${ok ? '✔' : '✖'} ${what}\n`);
  if (!ok) c.failures.push(what);
}

/** The repository at the start of sprint 1: a working shop on main and baseline, pushed. */
function buildRepo(dir: string): string {
  const origin = join(dir, 'origin.git');
  const app = join(dir, 'app');
  git(dir, 'init', '-q', '--bare', '-b', 'main', origin);
  mkdirSync(app);
  git(app, 'init', '-q', '-b', 'main');
  for (const [k, v] of [['user.name', 'Demo Dev'], ['user.email', 'dev@example.com'], ['commit.gpgSign', 'false'], ['gc.auto', '0']]) git(app, 'config', k!, v!);
  git(app, 'remote', 'add', 'origin', origin);
  mkdirSync(join(app, 'src'));
  mkdirSync(join(app, 'test'));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'demo-app', private: true, scripts: { test: 'node --test test/' } }, null, 2) + '\n');
  writeFileSync(join(app, '.gitignore'), '.env\nnode_modules/\n');
  writeFileSync(join(app, 'src/price.js'), 'exports.total = (items) => items.reduce((s, i) => s + i.price * i.qty, 0);\n');
  writeFileSync(join(app, 'src/cache.js'), 'exports.ttl = 60;\n');
  writeFileSync(join(app, 'test/price.test.js'), "const test = require('node:test');\nconst assert = require('node:assert');\nconst { total } = require('../src/price.js');\ntest('total', () => assert.strictEqual(total([{ price: 2, qty: 3 }]), 6));\n");
  git(app, 'add', '-A');
  git(app, 'commit', '-q', '-m', 'v1: working shop');
  git(app, 'branch', 'baseline');
  git(app, 'push', '-q', 'origin', 'main', 'baseline');
  return app;
}

/** Sprint 1 goes wrong: a refactor that breaks the tests, an uncommitted change, notes, a .env. */
function startSprint(app: string): void {
  git(app, 'switch', '-q', '-c', 'sprint-1');
  writeFileSync(join(app, 'src/price.js'), 'exports.total = (items) => items.reduce((s, i) => s + i.price, 0); // "simplified"\n');
  git(app, 'commit', '-q', '-am', 'refactor: simplify totals');
  writeFileSync(join(app, 'src/cache.js'), 'exports.ttl = 0; // experiment\n');
  // uncommitted work and files git does not track
  writeFileSync(join(app, 'notes.md'), '# My sprint notes\n- remember to ask about the discount rules\n');
  writeFileSync(join(app, '.env'), 'API_TOKEN=demo-secret-123\n');
}

export async function demoCommand(opts: { keep?: boolean }): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rb-demo-'));
  const c: Ctx = { dir, failures: [], step: 0 };
  try {
    say(`1. A throwaway repository in ${dir}/app with a working shop on main and baseline. Before the sprint starts, the gate: rb check runs the baseline's tests in a temporary worktree and tags the checkpoint.`);
    const app = buildRepo(dir);
    rb(c, ['check']);
    check(c, 'a checkpoint tag marks the sprint start', git(app, 'tag', '--list', 'checkpoint-*').length > 0);
    check(c, 'the checkout was not switched', git(app, 'symbolic-ref', '--short', 'HEAD') === 'main');

    say('   Sprint 1 goes wrong: branch sprint-1 with a broken refactor, an uncommitted cache change, untracked notes.md and an ignored .env.');
    startSprint(app);
    const notes = readFileSync(join(app, 'notes.md'), 'utf8');
    const env = readFileSync(join(app, '.env'), 'utf8');
    rb(c, ['status']);

    say('2. Preview the level-3 rollback: every command it would run, nothing changed.');
    rb(c, ['plan', 'files', '--set', 'paths=src/price.js']);

    say('3. Level 3 — restore only src/price.js from the baseline; the cache change and notes stay.');
    rb(c, ['files', 'src/price.js', '--yes', '--reason', 'totals are wrong']);
    check(c, 'src/price.js is the baseline version', readFileSync(join(app, 'src/price.js'), 'utf8').includes('i.price * i.qty'));
    check(c, 'the uncommitted cache change is untouched', readFileSync(join(app, 'src/cache.js'), 'utf8').includes('experiment'));
    check(c, 'notes.md is untouched', existsSync(join(app, 'notes.md')));

    say('4. Undo it: the exact earlier state comes back.');
    rb(c, ['undo', '--yes']);
    check(c, 'src/price.js has the sprint version again', readFileSync(join(app, 'src/price.js'), 'utf8').includes('simplified'));

    say('5. Level 2 — the sprint failed: document it, WIP-commit, back it up, start a retry branch from the baseline.');
    rb(c, ['sprint', '1', '--yes', '--reason', 'checkout totals broken']);
    const branch = git(app, 'symbolic-ref', '--short', 'HEAD');
    check(c, `now on ${branch}`, branch === 'refactor/sprint-1-retry');
    check(c, 'a backup branch holds the WIP commit', git(app, 'branch', '--list', 'backup/sprint-1-*').length > 0);
    check(c, 'rollbacks/sprint-1/report.md was written', existsSync(join(app, 'rollbacks/sprint-1/report.md')));
    if (existsSync(join(app, 'rollbacks/sprint-1/report.md'))) {
      const rep = readFileSync(join(app, 'rollbacks/sprint-1/report.md'), 'utf8');
      process.stdout.write(rep.split('\n').slice(0, 16).map((l) => `  ┆ ${l}`).join('\n') + '\n');
    }
    check(c, '.env survived', readFileSync(join(app, '.env'), 'utf8') === env);

    say('6. Undo the sprint rollback: back on sprint-1 with the uncommitted work, branches removed.');
    rb(c, ['undo', '--yes']);
    check(c, 'back on sprint-1', git(app, 'symbolic-ref', '--short', 'HEAD') === 'sprint-1');
    check(c, 'the cache change is uncommitted again', git(app, 'status', '--porcelain').includes('src/cache.js'));

    say('7. Level 1 — production is down: full reset to the baseline (the shell procedure would delete notes.md and .env here).');
    rb(c, ['emergency', '--yes', '--no-services', '--reason', 'prod down']);
    check(c, 'HEAD is the baseline commit', git(app, 'rev-parse', 'HEAD') === git(app, 'rev-parse', 'baseline'));
    check(c, '.env was kept through clean', existsSync(join(app, '.env')));
    check(c, 'notes.md is gone from the tree (it is in the snapshot and the stash entry)', !existsSync(join(app, 'notes.md')));
    process.stdout.write('  git stash list:\n' + git(app, 'stash', 'list').split('\n').map((l) => `  ┆ ${l}`).join('\n') + '\n');

    say('8. Undo the emergency: notes.md, the branch, the uncommitted work — all back.');
    rb(c, ['undo', '--yes']);

    say('9. What went wrong? rb analyze writes an analysis bundle (secrets redacted) and archives it.');
    rb(c, ['analyze']);
    const bundles = readdirSync(join(app, 'rollbacks')).filter((f) => f.startsWith('analysis-'));
    check(c, 'rollbacks/analysis-<stamp>/ and its .tar.gz were written', bundles.some((b) => b.endsWith('.tar.gz')) && bundles.some((b) => !b.endsWith('.tar.gz')));
    const bundleDir = bundles.find((b) => !b.endsWith('.tar.gz'));
    if (bundleDir) {
      const all = readdirSync(join(app, 'rollbacks', bundleDir)).map((f) => readFileSync(join(app, 'rollbacks', bundleDir, f), 'utf8')).join('\n');
      check(c, 'the .env secret appears nowhere in the bundle', !all.includes('demo-secret-123'));
    }

    say('10. The record: history and metrics (undone rollbacks are counted apart).');
    rb(c, ['history']);
    rb(c, ['metrics']);
    const metrics = JSON.parse(readFileSync(join(app, 'rollbacks/metrics.json'), 'utf8')) as { statistics: { total_rollbacks: number } };
    check(c, `rollbacks/metrics.json counts ${metrics.statistics.total_rollbacks} rollbacks`, metrics.statistics.total_rollbacks === 3);

    say('11. Nothing was lost.');
    check(c, 'notes.md is back, byte for byte', existsSync(join(app, 'notes.md')) && readFileSync(join(app, 'notes.md'), 'utf8') === notes);
    check(c, '.env is intact', readFileSync(join(app, '.env'), 'utf8') === env);
    check(c, 'back on sprint-1', git(app, 'symbolic-ref', '--short', 'HEAD') === 'sprint-1');
    check(c, 'the uncommitted cache change is back', readFileSync(join(app, 'src/cache.js'), 'utf8').includes('experiment'));
  } catch (e) {
    c.failures.push(`demo stopped: ${(e as Error).message}`);
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
  if (c.failures.length) {
    process.stdout.write(`\n✖ The demo found ${c.failures.length} problem(s):\n${c.failures.map((f) => `  - ${f}`).join('\n')}\n`);
    return 1;
  }
  process.stdout.write(`\n✔ Demo complete: a passing gate, three rollbacks, three undos, an analysis, nothing lost.${opts.keep ? ` The repository is kept at ${dir}/app.` : ''}\n`);
  return 0;
}
