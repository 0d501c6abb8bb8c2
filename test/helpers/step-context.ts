/**
 * A StepContext for unit-testing one step kind outside the engine: a repository at `root`, the
 * static default configuration with overrides, a reporter that collects lines and warnings.
 */
import { join } from 'node:path';
import { staticDefaults } from '../../src/config/defaults.js';
import type { Config } from '../../src/types.js';
import type { StepContext } from '../../src/steps/types.js';

/** rb's defaults, but no remote and nothing skipped from snapshots (tests set what they need). */
export function testConfig(over: Partial<Config> = {}): Config {
  const d = staticDefaults();
  return { ...d, remote: '', keep: [], snapshots: { ...d.snapshots, skipIgnored: [] }, ...over };
}

export function fakeStepContext(root: string, over: Partial<Config> = {}, timeoutMs?: number): { ctx: StepContext; lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  const ctx = {
    repo: { root, gitDir: join(root, '.git'), commonDir: join(root, '.git'), cwd: root, linked: false },
    config: testConfig(over),
    playbook: { name: 't', title: 't', params: {}, steps: [], file: '', source: 'built-in' },
    run: { id: 'r', stamp: '20260101-000000', dir: 't', startedAt: new Date().toISOString() },
    baseline: { name: 'baseline', ref: 'refs/heads/baseline', oid: null, remoteRef: null },
    params: {},
    dryRun: false,
    reporter: { output: (l: string) => lines.push(l), warn: (l: string) => warnings.push(l), title: () => undefined },
    results: {},
    snapshotId: null,
    signal: new AbortController().signal,
    timeoutMs,
    checkpoint: async () => undefined,
  } satisfies StepContext;
  return { ctx, lines, warnings };
}
