/**
 * Vitest global setup: builds dist/ once for the whole run (`tsc -b`, then `scripts/bundle-kysely.mjs`), for the tests that start the
 * CLI or `hmac-kit serve` as child processes. Each such test file used to run `tsc -b` itself
 * (about two dozen files, each paying the up-to-date check). In watch mode the files keep building
 * for themselves, so that an edit to src/ reaches the next re-run's child processes.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  interface ProvidedContext {
    /** True when dist/ was built for this run, so test files need not build it again. */
    distBuilt: boolean;
  }
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export default function setup(project: TestProject): void {
  if (project.vitest.config.watch) {
    project.provide('distBuilt', false);
    return;
  }
  // tsc, then the one-file kysely the CLI and server load (scripts/bundle-kysely.mjs; a no-op when current).
  const build = `"${join(ROOT, 'node_modules/.bin/tsc')}" -b && node "${join(ROOT, 'scripts/bundle-kysely.mjs')}"`;
  execFileSync('flock', ['/tmp/hmac-kit-server-tests-build.lock', 'sh', '-c', build], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  project.provide('distBuilt', true);
}
