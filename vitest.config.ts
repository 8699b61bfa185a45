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
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', new SummaryLineReporter()],
  },
});
