/**
 * CI and terminals (issue 19, point 3): CI (as std-env knows it) and terminals that report 0
 * columns get listr2's simple renderer, one whole line per event; tables fit the terminal and say
 * when rows were cut. The end-to-end cases run the built rb on a real pseudo-terminal made by
 * script(1) (util-linux), whose size `stty` sets; without a size it reports 0 columns, as
 * `docker run -t` and some CI runners do. Before, such a terminal got the task tree wrapped at
 * -2 columns (one character per line), CI=true on a terminal got the redrawing tree, and
 * `rb history` rows of 117 columns wrapped at 80.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseRenderer, isInteractive, type StreamFacts } from '../src/ui/terminal.js';
import { fitWidths, table } from '../src/ui/format.js';
import { RB } from './helpers/cli.js';
import { testEnv, tmpRepos } from './helpers/repo.js';
import { NO_CI, rbOnTerminal } from './helpers/terminal.js';

const repos = tmpRepos();
const facts = (f: Partial<StreamFacts>): StreamFacts => ({ isTTY: true, columns: 120, ci: false, term: 'xterm-256color', ...f });

describe('which renderer', () => {
  it('the task tree only on an interactive terminal; plain lines in CI, pipes, 0-column and dumb terminals', () => {
    expect(chooseRenderer(false, facts({}))).toBe('default');
    expect(chooseRenderer(false, facts({ ci: true }))).toBe('simple');
    expect(chooseRenderer(false, facts({ columns: 0 }))).toBe('simple');
    expect(chooseRenderer(false, facts({ columns: undefined }))).toBe('simple');
    expect(chooseRenderer(false, facts({ isTTY: false }))).toBe('simple');
    expect(chooseRenderer(false, facts({ term: 'dumb' }))).toBe('simple');
    expect(chooseRenderer(true, facts({}))).toBe('silent');
    expect(isInteractive(facts({}))).toBe(true);
  });

  it('std-env decides what CI is: CI=true, or a service variable such as GITHUB_ACTIONS alone', () => {
    const ci = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', "import('std-env').then((m) => process.stdout.write(String(m.isCI)))"], { env: testEnv({ ...NO_CI, ...env }), encoding: 'utf8', cwd: join(RB, '..', '..') }).stdout;
    expect(ci({})).toBe('false');
    expect(ci({ CI: 'true' })).toBe('true');
    expect(ci({ GITHUB_ACTIONS: 'true' })).toBe('true');
    expect(ci({ GITLAB_CI: 'true' })).toBe('true');
  });
});

describe('on a real pseudo-terminal', () => {
  const dirtyRepo = () => {
    const r = repos.make({ withOrigin: true });
    writeFileSync(join(r.root, 'notes.txt'), 'work in progress\n');
    return r;
  };
  /** Every task title of rb emergency appears whole on a line, and nothing redraws the screen. */
  const expectPlainLines = (out: string) => {
    expect(out).toMatch(/^.*Snapshot the whole working copy \(tracked, untracked, ignored, index, git state\)$/m);
    expect(out).toMatch(/^.*Reset hard to the remote baseline \(or the local one when offline\)$/m);
    expect(out).not.toMatch(/\x1b\[(\d*A|2K|\?25l)/); // cursor up, erase line, hide cursor: the redrawing tree
    const lines = out.split('\n').filter(Boolean);
    expect(lines.filter((l) => l.trim().length === 1).length, 'one-character lines').toBeLessThan(3);
  };

  it('CI=true on a 120-column terminal: the simple renderer, one line per event', () => {
    const r = dirtyRepo();
    const res = rbOnTerminal(r.root, ['emergency', '--yes'], 120, { CI: 'true' });
    expect(res.code, res.out).toBe(0);
    expectPlainLines(res.out);
  });

  it('a terminal that reports 0 columns: whole lines, not one character per line', () => {
    const r = dirtyRepo();
    const res = rbOnTerminal(r.root, ['emergency', '--yes'], 0);
    expect(res.code, res.out).toBe(0);
    expectPlainLines(res.out);
  });

  it('rb history fits an 80-column terminal and says the rows were cut; a pipe gets them whole', () => {
    const r = dirtyRepo();
    expect(rbOnTerminal(r.root, ['emergency', '--yes'], 0).code).toBe(0);
    expect(rbOnTerminal(r.root, ['undo', '--yes'], 0).code).toBe(0);
    const res = rbOnTerminal(r.root, ['history'], 80);
    expect(res.code).toBe(0);
    const lines = res.out.trimEnd().split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(lines.at(-1)).toBe('(rows cut at 80 columns, marked …; --json shows them in full)');
    const ids = JSON.parse(spawnSync(process.execPath, [RB, 'history', '--json'], { cwd: r.root, env: testEnv(), encoding: 'utf8' }).stdout).runs.map((x: { id: string }) => x.id);
    for (const id of ids) expect(res.out).toContain(id); // run ids are never cut
    const piped = spawnSync(process.execPath, [RB, 'history'], { cwd: r.root, env: testEnv(), encoding: 'utf8' }).stdout;
    expect(piped).not.toContain('…');
    expect(Math.max(...piped.split('\n').map((l) => l.length))).toBeGreaterThan(80);
    // a wide terminal: nothing cut, no note
    expect(rbOnTerminal(r.root, ['history'], 200).out).not.toContain('rows cut');
  });
});

describe('table fitting', () => {
  const header = ['RUN', 'STATUS', 'PLAYBOOK', 'TOOK', 'STARTED', 'SNAPSHOT'];
  const rows = [
    ['20261207-170311-guard', 'aborted (by 20261207-170651-abort)', 'guard', '1.5s', '3m ago', '20261207-170312-main-0b8a91'],
    ['20261207-165311-emergency', 'succeeded', 'emergency', '1.8s', '22m ago', '20261207-165312-main-a11147'],
  ];
  it('cuts the widest columns first, never the kept first column, and says so', () => {
    const full = table(rows, header, { width: null });
    expect(Math.max(...full.split("\n").map((l) => l.length))).toBeGreaterThan(110);
    const fit = table(rows, header, { width: 80 });
    const lines = fit.split('\n');
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines[1]).toMatch(/^20261207-170311-guard {2}/);
    expect(lines[1]).toContain('…');
    expect(lines.at(-1)).toContain('rows cut at 80 columns');
    expect(table(rows, header, { width: 200 })).toBe(full);
  });
  it('fitWidths: nothing to take leaves the natural widths', () => {
    expect(fitWidths([10, 10], [3, 3], 100, [0])).toEqual([10, 10]);
    expect(fitWidths([30, 40], [3, 3], 50, [0])).toEqual([30, 18]);
    expect(fitWidths([30, 4], [3, 3], 10, [0])).toEqual([30, 4]);
  });
});
