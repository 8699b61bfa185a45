import { availableParallelism } from 'node:os';
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
    // Most test files wait (for child processes, servers, databases, Chromium) far more than they
    // compute: with vitest's default of one worker per core minus one, a 2-core machine ran every
    // file one after another at a load average of ~1.6. Two workers per core keep both cores busy;
    // `npx vitest run --maxWorkers=1` still runs files one at a time. See DEVELOPERS.md "Suite time".
    maxWorkers: Math.max(2, availableParallelism() * 2),
    hookTimeout: 180_000,
    // Builds dist/ once per run for the tests that start the CLI or the server as processes.
    globalSetup: ['test-support/global-setup.ts'],
    // `HMAC_KIT_TEST_CPU=<file>`: one JSON line per test file with its wall and CPU time (DEVELOPERS.md).
    setupFiles: process.env.HMAC_KIT_TEST_CPU ? ['test-support/cpu-usage.ts'] : [],
    reporters: ['default', new SummaryLineReporter()],
    // `npm run test:coverage`. Only code that runs inside the test workers is measured: the CLI and
    // `hmac-kit serve` started as child processes (from dist/) are not, so their figures are low bounds.
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts'],
      exclude: ['**/*.d.ts'],
      reporter: ['text-summary', 'json-summary', 'html'],
      reportsDirectory: 'coverage',
    },
  },
});
