import './test/support/node-version-notice.ts';
import { defineConfig } from 'vitest/config';

/** The end-to-end suite: the whole pipeline through its public API (see test/e2e/setup.ts for the target). */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    onConsoleLog: (log) =>
      log.includes('No application metrics to publish') || log.includes('NodeVersionSupportWarning')
        ? false
        : undefined,
  },
});
