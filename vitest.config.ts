import { defineConfig } from 'vitest/config';
import { SummaryLineReporter } from './scripts/summary-reporter.js';

// Tests import workspace packages by name; the "@hmac-kit/source" export condition
// points those imports at src/*.ts so tests never run against a stale build.
const conditions = ['@hmac-kit/source', 'node'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@hmac-kit/source'] } },
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'clients/**/test/**/*.test.ts',
      'examples/**/test/**/*.test.ts',
    ],
    // Timeouts detect hangs; they are not speed checks. Many tests start real processes (the CLI,
    // `hmac-kit serve`, nginx, Chromium, redis-server) one after another, and on a loaded 2-core
    // machine one process start takes seconds: 30 s failed a healthy 11-process CLI test there.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default', new SummaryLineReporter()],
  },
});
