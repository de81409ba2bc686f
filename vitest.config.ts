import './test/support/node-version-notice.ts';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'test/faults/**', 'node_modules/**'],
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // Two cores: sharp, ffmpeg and DynamoDB Local already use them; more workers only add contention.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two known, harmless notices: the SDK's Node 22 announcement (Lambdas run nodejs22.x) and Powertools
    // noting an invocation that recorded no metric.
    onConsoleLog: (log) =>
      log.includes('No application metrics to publish') || log.includes('NodeVersionSupportWarning')
        ? false
        : undefined,
  },
});
