/**
 * Issue 20, point 5: the dashboard `rb metrics --html <file>` writes, and the index.html of an
 * `rb analyze` bundle, loaded in a real browser — Debian's chromium (installed by .ci/run when
 * missing), headless, driven by playwright-core: the four charts are in the DOM, the console has
 * no error, nothing is requested from the network, and a screenshot is taken.
 *
 * Slow-ish: a browser start per page (about 1-2 s each) on top of the rb runs.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { copyRepo, tmpDir, type TestRepo } from './helpers/repo.js';
import { baseRepo, outOf } from './helpers/scenarios.js';
import { rb } from './helpers/cli.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** Older entries in metrics.json's documented format, spread over weeks and levels (rb adds real ones on top). */
function seedMetrics(r: TestRepo): void {
  const day = 86_400_000;
  const now = Date.now();
  const entry = (daysAgo: number, level: number, minutes: number, cause: string) => ({
    timestamp: new Date(now - daysAgo * day).toISOString(), sprint: null, severity: level === 1 ? 'critical' : level === 2 ? 'high' : 'medium',
    cause, recovery_time_minutes: minutes, run_id: `seed-${daysAgo}-${level}`, level, playbook: level === 1 ? 'emergency' : level === 2 ? 'sprint' : 'files',
  });
  const rollbacks = [entry(40, 1, 3.5, 'deploy'), entry(33, 2, 22, 'tests'), entry(26, 3, 4, 'tests'), entry(19, 1, 7, 'deps'), entry(12, 3, 12, 'perf'), entry(5, 2, 9, 'tests')];
  // the shell procedures' old format: no level, no run id
  const old = { timestamp: new Date(now - 30 * day).toISOString().slice(0, 19).replace('T', ' '), sprint: 3, severity: 'high', cause: 'build', recovery_time_minutes: 14 };
  const checkpoints = [45, 38, 31, 24, 17, 10].map((d) => ({ timestamp: new Date(now - d * day).toISOString(), tag: `checkpoint-seed-${d}`, commit: '0'.repeat(40), branch: 'main' }));
  r.write('rollbacks/metrics.json', JSON.stringify({ rollbacks: [...rollbacks, old], statistics: { total_rollbacks: 7, by_cause: {}, average_recovery_time: 0 }, checkpoints }, null, 2));
}

interface PageFacts {
  charts: string[];
  svgs: number;
  weekBars: number;
  targets: string[];
  thresholds: string[];
  rateDots: number;
  causes: string[];
  title: string;
}

describe.skipIf(!CHROMIUM && !process.env.CI)('the dashboard in headless chromium', () => {
  let browser: Browser;
  let r: TestRepo;
  const shots = tmpDir('rb-dashboard-');

  beforeAll(async () => {
    if (!CHROMIUM) throw new Error('chromium is not installed: `apt-get install -y chromium` (.ci/run does it in CI)');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    r = copyRepo(baseRepo());
    r.write('rb.config.yaml', 'test: "true"\n');
    r.write('.git/info/exclude', 'rb.config.yaml\nrollbacks/\n');
    seedMetrics(r);
    // real runs on top: a level-3 rollback and a sprint start from rb check
    r.write('src/a.ts', 'broken\n');
    const f = rb(r.root, ['files', 'src/a.ts', '--yes', '--no-tests', '--cause', 'refactor']);
    expect(f.code, outOf(f)).toBe(0);
    const c = rb(r.root, ['check', '--no-tests']);
    expect(c.code, outOf(c)).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  /** Load a page from disk: the facts of its DOM, its console errors, the requests it made, a screenshot. */
  async function load(file: string, shot: string): Promise<{ facts: PageFacts; errors: string[]; requests: string[]; png: string }> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (q) => requests.push(q.url()));
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: 'load' });
    const facts = await page.evaluate(() => ({
      charts: [...document.querySelectorAll('figure[data-chart]')].map((f) => f.getAttribute('data-chart')!),
      svgs: document.querySelectorAll('figure[data-chart] svg').length,
      weekBars: document.querySelectorAll('[data-chart="weeks"] rect[data-level]').length,
      targets: [...document.querySelectorAll('[data-chart="recovery"] line[data-target]')].map((l) => l.getAttribute('data-target')!),
      thresholds: [...document.querySelectorAll('[data-chart="rate"] line[data-threshold]')].map((l) => l.getAttribute('data-threshold')!),
      rateDots: document.querySelectorAll('[data-chart="rate"] circle[data-sprint]').length,
      causes: [...document.querySelectorAll('[data-chart="causes"] rect[data-cause]')].map((x) => x.getAttribute('data-cause')!),
      title: document.title,
    }));
    const png = join(shots, shot);
    await page.screenshot({ path: png, fullPage: true });
    await page.close();
    return { facts, errors, requests: requests.filter((q) => q !== url), png };
  }

  it('rb metrics --html: four charts, no console error, no network, a screenshot', async () => {
    const out = join(r.root, 'dash.html');
    const m = rb(r.root, ['metrics', '--html', 'dash.html']);
    expect(m.code, outOf(m)).toBe(0);
    expect(m.stdout).toContain('Dashboard: dash.html');
    const html = readFileSync(out, 'utf8');
    // self-contained: no script, no stylesheet or image link, no URL but the SVG namespace
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(/i);
    expect(html.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')).not.toMatch(/https?:\/\//);
    const { facts, errors, requests, png } = await load(out, 'metrics.png');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(facts.charts).toEqual(['weeks', 'recovery', 'rate', 'causes']);
    expect(facts.svgs).toBe(4);
    // 6 seeded + 1 old-format + 1 real rollback, each in a week by its level (one bar segment per week and level)
    expect(facts.weekBars).toBeGreaterThanOrEqual(7);
    expect(facts.targets).toEqual(['1', '2', '3']);
    expect(facts.thresholds).toEqual(['healthy', 'review']);
    expect(facts.rateDots).toBe(7); // 6 seeded sprint starts + the rb check above
    expect(facts.causes.sort()).toEqual(['build', 'deploy', 'deps', 'perf', 'refactor', 'tests']);
    expect(statSync(png).size).toBeGreaterThan(10_000);
  }, 60_000);

  it("rb analyze puts the same kind of page in its bundle as index.html, led by the analysis", async () => {
    const a = rb(r.root, ['analyze', '--no-archive', '--json']);
    expect(a.code, outOf(a)).toBe(0);
    const res = JSON.parse(a.stdout);
    expect(res.files).toContain('index.html');
    const index = join(res.dir, 'index.html');
    const { facts, errors, requests, png } = await load(index, 'analyze.png');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(facts.title).toMatch(/^Analysis of \d{8}-\d{6}-files$/);
    expect(facts.charts).toEqual(['weeks', 'recovery', 'rate', 'causes']);
    expect(facts.svgs).toBe(4);
    expect(readFileSync(index, 'utf8')).toContain('<a href="analysis.md">analysis.md</a>');
    expect(statSync(png).size).toBeGreaterThan(10_000);
  }, 120_000);

  it('an empty history still gives a page that loads cleanly', async () => {
    const e = copyRepo(baseRepo());
    e.write('rb.config.yaml', 'test: "true"\n');
    const m = rb(e.root, ['metrics', '--html', join(shots, 'empty.html')]);
    expect(m.code, outOf(m)).toBe(0);
    const { facts, errors } = await load(join(shots, 'empty.html'), 'empty.png');
    expect(errors).toEqual([]);
    expect(facts.charts).toEqual(['weeks', 'recovery', 'rate', 'causes']);
    writeFileSync(join(shots, 'done'), '');
  }, 60_000);
});
