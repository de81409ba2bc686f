import './test/support/node-version-notice.ts';
import { defineConfig } from 'vitest/config';

/**
 * The fault suite: the whole local runtime as a user runs it (`npm start` in a process group of its
 * own), crashed and stopped under load, then started again on the same data (test/faults/).
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 300_000,
    onConsoleLog: (log) => (log.includes('NodeVersionSupportWarning') ? false : undefined),
  },
});
