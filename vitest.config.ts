import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { globSync } from 'tinyglobby';
import { configDefaults, defineConfig } from 'vitest/config';
import { SummaryLineReporter } from './scripts/summary-reporter.js';

// Tests import workspace packages by name; the "@hmac-kit/source" export condition
// points those imports at src/*.ts so tests never run against a stale build.
const conditions = ['@hmac-kit/source', 'node'];

const ALL_TESTS = [
  'packages/*/test/**/*.test.ts',
  'test/**/*.test.ts',
  'clients/**/test/**/*.test.ts',
  'examples/**/test/**/*.test.ts',
];

// Test files that run in shared worker threads without isolation (the `unit` project): they start no
// process, mock no module, fake no timer, change no global and measure no time. Isolating a file costs
// a fresh process that loads vitest and the workspace's TypeScript source again (~1 s of CPU per file,
// measured on packages/core/test: 87 s of CPU isolated against 30 s in one worker); sharing a worker
// loads each module once per worker. Every other file, and every new one until it is listed here,
// runs in a process of its own (the `isolated` project). See DEVELOPERS.md "Suite time".
const SHARED_WORKER_TESTS = [
  'packages/core/test/**/*.test.ts',
  'packages/keys/test/*.test.ts',
  'packages/limits/test/*.test.ts',
  'packages/middleware/test/**/*.test.ts',
  'packages/{express,fastify,fetch,hono,node-crypto,node-http}/test/*.test.ts',
  'packages/{axios,undici}/test/types.test.ts',
  'packages/server/test/{access-line,access-log,admin-listing,config,console-sessions,deploy,error-table,headers,relayed-fields}.test.ts',
  'packages/server/test/{inactive-keys,legacy-sign,redis-url,request-target,routes,shared-stores,units,views}.test.ts',
  'packages/server/test/{gateway-whole-body,request-id,request-target-fast,shared-stores-sync}.test.ts',
  'packages/server/test/adversarial/{body-rule,django-body,login-lockout,route-fuzz}.test.ts',
  'packages/server/test/adversarial/{review-attacks,review-console,review-forward-auth,review-gateway,review-oracles}.test.ts',
  'packages/server/test/adversarial/{review5-body-rule-sockets,review5-debug-bind,review5-debug-oracle}.test.ts',
  'packages/server/test/adversarial/review6-ipc-sync-capabilities.test.ts',
  'packages/server/test/adversarial/{review8-lingering-close,review9-gateway-relay,unread-body-drain}.test.ts',
  // Session 22: in-process servers and sockets (startInProcess, node:http), each file's wall time short.
  'packages/server/test/{body-arrived,checked-head,forward-auth-peer-once,gateway-complete-body,gateway-relay-hold}.test.ts',
  'packages/server/test/{review21-parser-strictness,second19-http-parser,second19-request-differential}.test.ts',
  'packages/server/test/adversarial/{batch-forward-auth,batch-gateway,getbody19-smuggled-get-body,ipv6-prefix-cap}.test.ts',
  'packages/server/test/adversarial/{rate-limited-not-failure,review-batch-pipeline-depth,review14-forward-auth-eager}.test.ts',
  'packages/server/test/adversarial/{review16-gateway-buffered-body,review18-half-close-body,review19-streamed-body-throttle}.test.ts',
  'packages/server/test/adversarial/{review19-throttled-attribution,review20b-forward-auth-wire,store-plain-errors}.test.ts',
  'packages/cli/test/review5-base-diff.test.ts',
  'packages/console/test/audit-event-types.test.ts',
  'examples/test/examples.test.ts',
  'test/bench-paced.test.ts',
];
// Files under the globs above that must keep a process of their own: they start processes, measure
// time or memory side by side, or use vi.mock / vi.spyOn / fake timers / globals / process listeners.
const OWN_PROCESS_TESTS = [
  'packages/core/test/{browser,django,python-str,sigv4,sigv4-curl,x-api-bash}.test.ts',
  'packages/keys/test/{cross-process,sqlite-processes,list-keys-scale}.test.ts',
  'packages/limits/test/redis-cluster.test.ts',
];
// A safety net for files added under the globs later: what only isolation keeps from leaking into the
// next file in the worker sends the file to the isolated project.
const NEEDS_ISOLATION =
  /\bvi\.(mock|doMock|spyOn|stubGlobal|stubEnv|useFakeTimers|setSystemTime)\b|process\.env\.\w+\s*=[^=]|globalThis\.\w+\s*=[^=]|process\.(on|once|chdir|exit)\(|node:child_process|node:cluster|node:worker_threads|\bhrtime\b|performance\.now\(|memoryUsage\(/;

const sharedWorkerTests = globSync(SHARED_WORKER_TESTS, { ignore: OWN_PROCESS_TESTS }).filter(
  (file) => !NEEDS_ISOLATION.test(readFileSync(file, 'utf8')),
);

// Most test files wait (for child processes, servers, databases, Chromium) far more than they
// compute: with vitest's default of one worker per core minus one, a 2-core machine ran every
// file one after another at a load average of ~1.6. Two processes per core keep both cores busy;
// `npx vitest run --maxWorkers=1` still runs files one at a time. The shared-worker threads compute
// rather than wait, so one per core; both pools run at the same time.
const cores = availableParallelism();
const sharedThreads = Math.max(1, cores);

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@hmac-kit/source'] } },
  test: {
    // Timeouts detect hangs; they are not speed checks. Many tests start real processes (the CLI,
    // `hmac-kit serve`, nginx, Chromium, redis-server) one after another, and on a loaded 2-core
    // machine one process start takes seconds: 30 s failed a healthy 11-process CLI test there.
    testTimeout: 120_000,
    maxWorkers: Math.max(2, cores * 2),
    hookTimeout: 180_000,
    poolOptions: {
      // The pool reads isolation from here, each project's workers from their own poolOptions.
      // minThreads = maxThreads: with fewer, tinypool ends an idle unisolated thread as a new file is
      // handed to it ("Error: Terminating worker thread" and the file never runs).
      threads: { isolate: false, maxThreads: sharedThreads, minThreads: sharedThreads },
      forks: { isolate: true },
    },
    // `HMAC_KIT_TEST_CPU=<file>`: one JSON line per test file with its wall and CPU time (DEVELOPERS.md).
    setupFiles: process.env.HMAC_KIT_TEST_CPU ? ['test-support/cpu-usage.ts'] : [],
    // kysely (262 ES modules) and zod (95) are the largest module trees the workspace's source loads:
    // Node loaded them file by file in every test process that opens a store (every caller of
    // createKeyWithCli) or imports the server's config. Vitest's dependency optimizer hands each
    // worker one esbuild bundle of each instead (built once per run, node_modules/.vite/vitest), as the
    // build does for dist/ (scripts/bundle-dependencies.mjs): ~0.2-0.4 s of CPU less per such file.
    // Same package code; only how it is loaded changes (DEVELOPERS.md "Suite time").
    deps: { optimizer: { ssr: { enabled: true, include: ['kysely', 'zod'] } } },
    reporters: ['default', new SummaryLineReporter()],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: sharedWorkerTests,
          pool: 'threads',
          poolOptions: { threads: { isolate: false } },
        },
      },
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ALL_TESTS,
          exclude: [...configDefaults.exclude, ...sharedWorkerTests],
          pool: 'forks',
          // Builds dist/ once per run for the tests that start the CLI or the server as processes.
          globalSetup: ['test-support/global-setup.ts'],
        },
      },
    ],
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
