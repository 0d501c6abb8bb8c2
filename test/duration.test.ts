/**
 * One way to read a duration (issue 19, point 6): the parser of src/duration.ts, and the same
 * meaning of `m` (minutes) in `rb metrics --since`, `rb snapshots prune --older-than` and a
 * playbook's `timeout:`. Before, `m` was 30-day months in `rb metrics` and minutes elsewhere, a
 * bare number was days in prune, and `d`/`w` were refused in playbooks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN, parseDuration } from '../src/duration.js';
import { parseDateOption } from '../src/analyze/metrics-stats.js';
import { validatePlaybook } from '../src/playbook/validate.js';
import { kindCatalog } from '../src/steps/index.js';
import { UsageError } from '../src/errors.js';
import { rb } from './helpers/cli.js';
import { tmpRepos } from './helpers/repo.js';

const repos = tmpRepos();

describe('parseDuration', () => {
  it('reads a number and one unit; m is minutes; no months, no bare numbers', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(15 * 60_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration(' 30d ')).toBe(30 * 86_400_000);
    expect(parseDuration('4w')).toBe(28 * 86_400_000);
    expect(parseDuration('2 h')).toBe(7_200_000);
    for (const bad of ['30', '6mo', '1y', 'm', '-5m', '5M', '1h30m', '', 'soon']) {
      expect(parseDuration(bad), bad).toBeNull();
      expect(DURATION_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it('rb metrics reads an age with the same parser: 6m is six minutes, not six months', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    expect(parseDateOption('6m', 'since', now)).toBe(now - 6 * 60_000);
    expect(parseDateOption('36h', 'since', now)).toBe(now - 36 * 3_600_000);
    expect(parseDateOption('6mo', 'since', now)).toBeNull();
  });
});

describe('the same meaning in every command', () => {
  it('rb metrics --since 90m counts only the rollback of the last 90 minutes', () => {
    const r = repos.make();
    mkdirSync(join(r.root, 'rollbacks'));
    const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    const entry = (ts: string, cause: string) => ({ timestamp: ts, sprint: null, severity: 'high', cause, recovery_time_minutes: 1 });
    writeFileSync(join(r.root, 'rollbacks/metrics.json'), JSON.stringify({ rollbacks: [entry(at(30 * 60_000), 'recent'), entry(at(40 * 86_400_000), 'old')], statistics: {} }));
    const j = JSON.parse(rb(r.root, ['metrics', '--since', '90m', '--json']).stdout);
    expect(j.total).toBe(1);
    expect(Object.keys(j.byCause)).toEqual(['recent']);
    const bad = rb(r.root, ['metrics', '--since', '6mo']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('m is minutes');
  });

  it('rb snapshots prune --older-than takes the same durations; a bare number is refused (exit 2)', () => {
    const r = repos.make();
    expect(rb(r.root, ['snapshots', 'prune', '--older-than', '90m', '--dry-run', '--json']).code).toBe(0);
    expect(rb(r.root, ['snapshots', 'prune', '--older-than', '2w', '--dry-run', '--json']).code).toBe(0);
    const bare = rb(r.root, ['snapshots', 'prune', '--older-than', '30']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('m (minutes)');
  });

  it('a playbook timeout, target and git.fetch timeout take the same grammar (d and w included, months not)', async () => {
    const kinds = await kindCatalog();
    const good = validatePlaybook('name: p\ntarget: 1d\nsteps:\n  - { id: s, uses: snapshot, timeout: 2w }\n  - { id: f, uses: git.fetch, with: { timeout: 45s } }\n', 'p.yaml', 'repository', kinds);
    expect(good.target).toBe('1d');
    let details: string[] = [];
    try {
      validatePlaybook('name: p\ntarget: 6mo\nsteps:\n  - { id: f, uses: git.fetch, with: { timeout: 30 } }\n', 'p.yaml', 'repository', kinds);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      details = (e as UsageError).details ?? [];
    }
    expect(details.join('\n')).toMatch(/target[^\n]*duration/);
    expect(details.join('\n')).toMatch(/timeout[^\n]*duration/);
  });
});
