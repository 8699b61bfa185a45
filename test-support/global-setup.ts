/**
 * Vitest global setup: builds dist/ once for the whole run (`tsc -b`, then `scripts/bundle-dependencies.mjs`), for the tests that start the
 * CLI or `hmac-kit serve` as child processes. Each such test file used to run `tsc -b` itself
 * (about two dozen files, each paying the up-to-date check). In watch mode the files keep building
 * for themselves, so that an edit to src/ reaches the next re-run's child processes.
 * It also puts the interpreter a pyenv `python3` shim stands for first on PATH (see
 * {@link pythonBehindShimFirstOnPath}).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  interface ProvidedContext {
    /** True when dist/ was built for this run, so test files need not build it again. */
    distBuilt: boolean;
  }
}

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The first `name` on PATH, or undefined. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * When `python3` on PATH is a pyenv shim, puts the bin folder of the interpreter it picks first on
 * PATH, for this process and the test workers it starts (they copy its environment). The shim is a
 * bash script that runs `pyenv exec`: ~0.36 s of CPU per `python3` against ~0.07 s for the
 * interpreter itself, paid by every Python run of the client, legacy and django tests (dozens per
 * run). `pyenv exec` itself does exactly this (`PATH="$PYENV_ROOT/versions/<v>/bin:$PATH"`) before
 * it runs the interpreter, so the tests run the same Python as before. One shim run per test run.
 */
function pythonBehindShimFirstOnPath(): void {
  const python = onPath('python3');
  if (!python) return;
  const head = Buffer.alloc(512);
  const fd = openSync(python, 'r');
  const length = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  if (!head.subarray(0, length).toString('latin1').includes('pyenv')) return;
  let executable = '';
  try {
    executable = execFileSync(python, ['-c', 'import sys; print(sys.executable)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch {
    // A shim that cannot run Python: PATH stays as it is, and the tests that need python3 say so themselves.
    return;
  }
  if (executable) process.env.PATH = `${dirname(executable)}${delimiter}${process.env.PATH ?? ''}`;
}

export default function setup(project: TestProject): void {
  pythonBehindShimFirstOnPath();
  if (project.vitest.config.watch) {
    project.provide('distBuilt', false);
    return;
  }
  // tsc, then the one-file kysely and zod the CLI and server load (scripts/bundle-dependencies.mjs; a no-op when current).
  const build = `"${join(ROOT, 'node_modules/.bin/tsc')}" -b && node "${join(ROOT, 'scripts/bundle-dependencies.mjs')}"`;
  execFileSync('flock', ['/tmp/hmac-kit-server-tests-build.lock', 'sh', '-c', build], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  project.provide('distBuilt', true);
}
