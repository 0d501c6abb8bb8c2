import { defineConfig } from 'vitest/config';

/**
 * Three sets of suites (docs/contributing.md "Tests"):
 * - quick (`npm test`): everything else — unit tests and the core round trips; a few minutes;
 * - slow (`npm run test:slow`): the suites with real package managers and test runners on
 *   project shapes, the permission scenarios (an unprivileged user), the fault and lifecycle
 *   sweeps, the scenario matrices of the three levels and of undo/redo, two clones syncing
 *   through a git daemon, the dashboard in a headless browser, the undo picker on a pseudo-terminal;
 * - crash (`npm run test:crash`): kill -9 at every point (RB_CRASH_SWEEP selects how many).
 * `.ci/run` runs all three. A file named on the command line runs whatever set it is in.
 */
const SLOW = [
  'test/undo-faults.test.ts',
  'test/projects.test.ts',
  'test/crash-found.test.ts',
  'test/levels.test.ts',
  'test/lifecycle.test.ts',
  'test/unprivileged.test.ts',
  'test/recover.test.ts',
  'test/checkpoint.test.ts',
  'test/guard.test.ts',
  'test/monorepo-envs.test.ts',
  'test/undo-chain.test.ts',
  'test/records-sync.test.ts',
  'test/dashboard-browser.test.ts',
  'test/check-dependencies.test.ts',
  'test/sprint-tests.test.ts',
  'test/undo-pick.test.ts',
];
const CRASH = ['test/crash-sweep.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the machine has 2 cores; git-heavy suites run in parallel files but not too many at once
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'quick', include: ['test/**/*.test.ts'], exclude: [...SLOW, ...CRASH] } },
      { extends: true, test: { name: 'slow', include: SLOW } },
      { extends: true, test: { name: 'crash', include: CRASH } },
    ],
  },
});
