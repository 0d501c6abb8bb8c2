/**
 * How rb's own writes reach the disk (issue 18; docs/safety.md "What a kill or a power cut
 * leaves"; src/io/fs.ts flushesFor). A preload wraps node's fsyncSync, renameSync and
 * child_process.spawn in the built rb and logs, in order, every flush (with the path of the
 * flushed file or directory), every rename and every git command. Checked on real runs:
 * - write-ahead: before every git command that changes the repository, the journal saying so
 *   is durable (its temp file flushed, renamed, and the runs/ directory flushed after the rename);
 *   before a restore changes anything, the restore journal is durable too;
 * - whole: every journal or record rename is preceded by a flush of its temp file (a power cut
 *   leaves the old or the new version, never an empty one);
 * - the lock is not flushed; and the flushes of a run are about half what they were
 *   (before: 36 for `rb files`, 62 for an emergency, 24 for an undo, on these fixtures).
 * Every case also checks the undo gave back the working copy byte for byte.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyRepo, testEnv, tmpDir, tmpRepos, type TestRepo } from './helpers/repo.js';
import { manifest } from './helpers/manifest.js';
import { RB } from './helpers/cli.js';
import { emergencyRepo, expectCode } from './helpers/scenarios.js';

tmpRepos();

const EXCL = { exclude: ['rollbacks'] };

const PRELOAD = `import fs from 'node:fs';
import cp from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
const log = process.env.RB_FLUSH_LOG;
const note = (l) => fs.appendFileSync(log, l + '\\n');
const { fsyncSync, renameSync } = fs;
const { spawn, spawnSync } = cp;
const noteGit = (cmd, args, opts) => {
  // a command on a temporary index (the snapshot's) changes nothing of the repository
  if (cmd === 'git') note('git\\t' + JSON.stringify(args) + '\\t' + (opts?.env?.GIT_INDEX_FILE ? 'temporary index' : ''));
};
fs.fsyncSync = (fd) => {
  let p = '?';
  try { p = fs.readlinkSync('/proc/self/fd/' + fd); } catch {}
  note('fsync\\t' + p);
  return fsyncSync(fd);
};
fs.renameSync = (a, b) => { note('rename\\t' + a + '\\t' + b); return renameSync(a, b); };
cp.spawn = function (cmd, args, ...rest) { noteGit(cmd, args, rest[0]); return spawn.call(this, cmd, args, ...rest); };
cp.spawnSync = function (cmd, args, ...rest) { noteGit(cmd, args, rest[0]); return spawnSync.call(this, cmd, args, ...rest); };
syncBuiltinESMExports();
`;

type Event = { op: 'fsync'; path: string } | { op: 'rename'; from: string; to: string } | { op: 'git'; argv: string[]; tempIndex: boolean };

function preloadFile(): string {
  const dir = tmpDir('rb-flush-');
  const f = join(dir, 'flush-log.mjs');
  writeFileSync(f, PRELOAD);
  return f;
}

/** Run the built rb with the logging preload; returns its exit code, output and the events in order. */
function rbLogged(r: TestRepo, preload: string, args: string[]): { code: number | null; out: string; events: Event[] } {
  const log = join(r.dir, `flush-${args[0]}.log`);
  rmSync(log, { force: true });
  writeFileSync(log, '');
  const p = spawnSync(process.execPath, ['--import', `file://${preload}`, RB, ...args], {
    cwd: r.root, env: testEnv({ RB_FLUSH_LOG: log, NO_COLOR: '1' }), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000,
  });
  const events = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l): Event => {
    const [op, a, b] = l.split('\t');
    if (op === 'fsync') return { op, path: a! };
    if (op === 'rename') return { op, from: a!, to: b! };
    return { op: 'git', argv: JSON.parse(a!) as string[], tempIndex: Boolean(b) };
  });
  return { code: p.status, out: `${p.stdout}\n${p.stderr}`, events };
}

/** The subcommand of a git argv (after -c pairs and global options). */
function subcommand(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-c' || argv[i] === '-C') { i++; continue; }
    if (!argv[i]!.startsWith('-')) return argv[i]!;
  }
  return '';
}

/** git commands that change the working copy, the index or a branch (as opposed to queries and object plumbing). */
const CHANGING = new Set(['restore', 'checkout', 'reset', 'switch', 'clean', 'read-tree', 'rm', 'checkout-index']);

const isJournal = (p: string) => /\/rb\/runs\/[^/]+\.json$/.test(p);

/**
 * Every git command that changes the repository comes after a durable journal: the last journal
 * rename before it is followed, still before it, by a flush of the runs/ directory. Returns the
 * commands checked.
 */
function expectWriteAhead(events: Event[], what: string): string[] {
  const checked: string[] = [];
  let lastJournal = -1;
  let durable = false;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.op === 'rename' && isJournal(e.to)) { lastJournal = i; durable = false; }
    if (e.op === 'fsync' && lastJournal >= 0 && /\/rb\/runs$/.test(e.path)) durable = true;
    if (e.op !== 'git' || lastJournal < 0) continue; // the preflight's queries come before the journal
    const sub = subcommand(e.argv);
    if (!CHANGING.has(sub) || e.tempIndex || e.argv.includes('-n') || e.argv.includes('--dry-run')) continue;
    checked.push(sub);
    expect(durable, `${what}: git ${e.argv.join(' ')} started before the journal entry opening its step was flushed with its directory`).toBe(true);
  }
  return checked;
}

/** Every rename of a journal or a record is preceded by a flush of the temp file it renames. */
function expectWholeRenames(events: Event[], what: string): void {
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.op !== 'rename' || !/\/(rb\/runs|rb|rollbacks)\//.test(e.to) || !/\.tmp$/.test(e.from)) continue;
    const flushed = events.slice(0, i).some((x) => x.op === 'fsync' && x.path === e.from);
    expect(flushed, `${what}: ${basename(e.from)} renamed to ${e.to} without a flush of its content`).toBe(true);
  }
}

const flushes = (events: Event[]) => events.filter((e) => e.op === 'fsync');
const flushList = (events: Event[]) => flushes(events).map((e) => (e as { path: string }).path.replace(/^.*\/(rb\/|rollbacks\/)/, '$1').replace(/\.\d+\.\d+\.tmp$/, '.tmp')).join('\n');

describe('flushes to the disk (issue 18)', () => {
  it('rb files, an emergency and their undos: write-ahead journal before every change, whole renames, no flush of the lock, about half the flushes of before', () => {
    const r = copyRepo(emergencyRepo());
    const preload = preloadFile();

    const beforeFiles = manifest(r.root, EXCL);
    const files = rbLogged(r, preload, ['files', 'src/a.ts', '--yes', '--no-tests']);
    expectCode({ code: files.code, signal: null, stdout: files.out, stderr: '' }, 0);
    expect(expectWriteAhead(files.events, 'rb files')).toContain('restore');
    expectWholeRenames(files.events, 'rb files');
    const undoFiles = rbLogged(r, preload, ['undo', '--yes']);
    expectCode({ code: undoFiles.code, signal: null, stdout: undoFiles.out, stderr: '' }, 0);
    expect(manifest(r.root, EXCL)).toBe(beforeFiles);

    const before = manifest(r.root, EXCL);
    const em = rbLogged(r, preload, ['emergency', '--yes', '--no-services', '--no-install']);
    expectCode({ code: em.code, signal: null, stdout: em.out, stderr: '' }, 0);
    expect(expectWriteAhead(em.events, 'rb emergency')).toEqual(expect.arrayContaining(['switch', 'reset', 'clean']));
    expectWholeRenames(em.events, 'rb emergency');
    const undo = rbLogged(r, preload, ['undo', '--yes']);
    expectCode({ code: undo.code, signal: null, stdout: undo.out, stderr: '' }, 0);
    expect(expectWriteAhead(undo.events, 'rb undo')).toContain('read-tree');
    expectWholeRenames(undo.events, 'rb undo');
    expect(manifest(r.root, EXCL)).toBe(before);

    // the restore journal is durable (flushed with its directory) before the restore's read-tree
    const readTree = undo.events.findIndex((e) => e.op === 'git' && subcommand(e.argv) === 'read-tree');
    const rj = undo.events.findIndex((e) => e.op === 'rename' && e.to.endsWith('/rb/restore-journal'));
    expect(rj, flushList(undo.events)).toBeGreaterThanOrEqual(0);
    expect(rj).toBeLessThan(readTree);
    expect(undo.events.slice(rj, readTree).some((e) => e.op === 'fsync' && e.path === dirname((undo.events[rj] as { to: string }).to))).toBe(true);

    for (const [what, run] of [['files', files], ['emergency', em], ['undo', undo]] as const) {
      expect(flushes(run.events).filter((e) => /\/rb\/lock/.test((e as { path: string }).path)), what).toEqual([]);
    }
    const seen = `files ${flushes(files.events).length}, emergency ${flushes(em.events).length}, undo ${flushes(undo.events).length}\n--- files\n${flushList(files.events)}`;
    expect(flushes(files.events).length, seen).toBeLessThanOrEqual(FILES_MAX);
    expect(flushes(em.events).length, seen).toBeLessThanOrEqual(EMERGENCY_MAX);
    expect(flushes(undo.events).length, seen).toBeLessThanOrEqual(UNDO_MAX);
  }, 180_000);
});

// Before (every write: its temp file and its directory flushed; the lock and audit lines too):
// files 36, emergency 62, undo 24 on this fixture.
const FILES_MAX = 20;
const EMERGENCY_MAX = 37;
const UNDO_MAX = 19;
