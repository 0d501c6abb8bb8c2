import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the machine has 2 cores; git-heavy suites run in parallel files but not too many at once
    maxWorkers: 2,
    pool: 'forks',
  },
});
