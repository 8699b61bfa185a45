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
 * @example
 * ```sh
 * HMAC_KIT_TEST_CPU=/tmp/cpu.jsonl npx vitest run packages/cli && node scripts/test-cost.mjs /tmp/cpu.jsonl
 * ```
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
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

const output = process.env.HMAC_KIT_TEST_CPU;
if (output) {
  let file = 'unknown';
  beforeAll((suite) => {
    const path =
      'filepath' in suite && typeof suite.filepath === 'string' ? suite.filepath : expect.getState().testPath;
    if (path) file = relative(process.cwd(), path);
  });
  afterAll(() => {
    const end = times();
    // Counted from the worker's start (one process per test file): vitest's start-up and the file's
    // imports are part of what the file costs.
    const line = {
      file,
      wallMs: Math.round(performance.now()),
      workerCpuMs: Math.round(end.selfMs),
      childCpuMs: Math.round(end.childrenMs),
    };
    appendFileSync(output, `${JSON.stringify(line)}\n`);
  });
}
