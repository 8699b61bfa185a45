/**
 * Per-file cost of a test run, for finding where the suite's time goes (DEVELOPERS.md, "Suite time").
 * Loaded as a vitest setup file only when `HMAC_KIT_TEST_CPU=<file>` is set: after each test file it
 * appends one JSON line to that file with the file's wall time and CPU time, the latter split into
 * the test worker itself (vitest, imports, the tests' own code) and its child processes (the CLI,
 * `hmac-kit serve`, Chromium, curl, ...), so a slow file shows whether it computes or waits.
 *
 * Child CPU is what Linux reports for children that have been waited for (`/proc/self/stat` cutime +
 * cstime): every process a test spawns and sees exit. Daemons that detach (redis-server
 * --daemonize) are not counted. Elsewhere than Linux only the worker's own CPU is recorded.
 *
 * The `unit` project's files share worker threads inside the vitest process (vitest.config.ts): there
 * a file's CPU is its thread's (`/proc/thread-self/stat`; the process's figures include vitest and the
 * other workers), counted from the end of the previous file in the same thread, and child CPU is 0
 * (those files start no processes; the process's cutime holds the reaped fork workers).
 *
 * @example
 * ```sh
 * HMAC_KIT_TEST_CPU=/tmp/cpu.jsonl npx vitest run packages/cli && node scripts/test-cost.mjs /tmp/cpu.jsonl
 * ```
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { afterAll, beforeAll, expect } from 'vitest';

/** Linux reports /proc times in USER_HZ ticks, 100 per second on every mainstream kernel. */
const TICK_MS = 10;

interface Times {
  selfMs: number;
  childrenMs: number;
}

function times(): Times {
  const own = process.cpuUsage();
  const selfMs = (own.user + own.system) / 1000;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses; cutime and cstime are the
    // 16th and 17th fields of the whole line, so the 14th and 15th after the closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const childrenMs = (Number(fields[13]) + Number(fields[14])) * TICK_MS;
    return { selfMs, childrenMs: Number.isFinite(childrenMs) ? childrenMs : 0 };
  } catch {
    return { selfMs, childrenMs: 0 };
  }
}

/** A worker thread's own CPU time (utime + stime, fields 14 and 15 of /proc/thread-self/stat). */
function threadTimes(): Times {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const selfMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    return { selfMs: Number.isFinite(selfMs) ? selfMs : 0, childrenMs: 0 };
  } catch {
    return { selfMs: 0, childrenMs: 0 };
  }
}

/** Where the previous file in this shared thread ended; setup files run again for every test file. */
interface SharedThreadMark {
  wallMs: number;
  selfMs: number;
}
const MARK = Symbol.for('hmac-kit.cpu-usage.previous-file');
const marks = globalThis as { [MARK]?: SharedThreadMark };

const output = process.env.HMAC_KIT_TEST_CPU;
if (output) {
  let file = 'unknown';
  beforeAll((suite) => {
    const path =
      'filepath' in suite && typeof suite.filepath === 'string' ? suite.filepath : expect.getState().testPath;
    if (path) file = relative(process.cwd(), path);
  });
  afterAll(() => {
    const now = performance.now();
    const end = isMainThread ? times() : threadTimes();
    // Counted from the worker's start (one process per test file): vitest's start-up and the file's
    // imports are part of what the file costs. In a shared thread, from the previous file's end.
    const previous = isMainThread ? undefined : marks[MARK];
    if (!isMainThread) marks[MARK] = { wallMs: now, selfMs: end.selfMs };
    const line = {
      file,
      wallMs: Math.round(now - (previous?.wallMs ?? 0)),
      workerCpuMs: Math.round(end.selfMs - (previous?.selfMs ?? 0)),
      childCpuMs: Math.round(end.childrenMs),
    };
    appendFileSync(output, `${JSON.stringify(line)}\n`);
  });
}
