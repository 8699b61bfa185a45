/**
 * A crash (an uncaught exception) of `hmac-kit serve` loses no access line of a request it
 * answered. The log destination (sonic-boom) writes asynchronously to a non-blocking stdout; when
 * the reader is behind and the pipe is full, the write in flight fails with EAGAIN and is retried
 * from a timer. pino's exit handler writes what is still queued synchronously (`flushSync`) but
 * skips the write in flight: a process that exited at the exception lost those lines (up to 4 KB
 * of access lines of answered requests). support/crash-on-signal.mjs makes the crash.
 *
 * Every case first fills the log pipe, checked (support/crash.ts fillLogPipe: the server's
 * `hmac_kit_log_held_bytes`), and waits for conditions only: the crash on stderr, the exit listeners
 * starting (the hook says so on stderr), the process closing with every line read.
 */
import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { exitOf, type ServeProcess } from '../../../test-support/processes.js';
import { untilValue } from '../../../test-support/wait.js';
import { EXIT_LISTENERS_RUN, fillLogPipe, startCrashableServe } from './support/crash.js';

describe('serve: a crash exit keeps the access lines of answered requests', () => {
  it.each([
    ["a socket pair (Node's spawn)", {}],
    ['a pipe (a FIFO: the direct writes of logger.ts meet EAGAIN and hand over to sonic-boom)', { stdout: 'fifo' }],
  ] as const)(
    'writes every access line of the requests answered before the crash, its log pipe full when it comes; stdout %s',
    async (_kind, options) => {
      const server = await startCrashableServe({}, options);
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      try {
        // The test stops reading the server's stdout: the pipe and the stream's buffer fill, and the
        // server's log writes wait on EAGAIN.
        server.stdout?.pause();
        const answered = await fillLogPipe(server, agent, 'r');
        server.child.kill('SIGUSR2');
        server.stdout?.resume();
        const { code } = await exitOf(server);
        expect(code).not.toBe(0);
        expect(server.stderr()).toContain('crash under test');
        const logged = new Set(server.logs.filter((line) => line.msg === 'request').map((line) => line.reqId));
        expect(answered.filter((id) => !logged.has(id))).toEqual([]);
        // In the order they were logged (review15): the fatal line's flushSync (pino calls it after
        // every fatal line) wrote the queued lines ahead of the write in flight, waiting on EAGAIN.
        const times = server.logs.map((line) => String(line.time));
        expect(times.filter((time, index) => index > 0 && time < (times[index - 1] as string))).toEqual([]);
      } finally {
        agent.destroy();
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    },
    120_000,
  );

  /**
   * A server that stopped being read (its stdout pipe and the reader's buffer filled with access
   * lines, checked) and then crashed (SIGUSR2): `after` runs with it, and the server is killed if still there.
   */
  async function crashWithFullLogPipe(after: (server: ServeProcess) => Promise<void>): Promise<void> {
    const server = await startCrashableServe();
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      server.child.stdout?.pause();
      await fillLogPipe(server, agent, 'f');
      server.child.kill('SIGUSR2');
      await after(server);
    } finally {
      agent.destroy();
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }

  /**
   * Resolves once the server wrote `text` to stderr. Polled every 20 ms (the waits last seconds: the
   * exit path's 1 s and the exit flush's 2 s; checked on every event-loop turn they kept a core busy).
   */
  const onStderr = (server: ServeProcess, text: string) =>
    untilValue(() => (server.stderr().includes(text) ? true : undefined), `"${text}" on stderr`, 60_000, 20);

  it('exits within a bound when nobody reads its stdout any more (the exit flush gives up on a pipe that takes nothing)', async () => {
    await crashWithFullLogPipe(async (server) => {
      // Before the fix: pino's exit handler (flushSync) retried the full pipe every 100 ms for as
      // long as the pipe stayed full: the process never exited. The exit path waits 1 s for the
      // write in flight, the exit flush gives up after 2 s without progress (FLUSH_SYNC_STALL_MS):
      // ~3 s. The bound is the wait's cap (a hang detector, not a speed check).
      await onStderr(server, EXIT_LISTENERS_RUN);
      const exited = await untilValue(
        () => (server.child.exitCode !== null || server.child.signalCode !== null ? true : undefined),
        'the exit',
        30_000,
        20,
      );
      expect(exited).toBe(true);
      expect(server.child.exitCode).toBe(1);
      expect(server.stderr()).toContain('crash under test');
    });
  }, 120_000);

  it('writes the fatal line when the reader is slow: it comes back after the exit flush started', async () => {
    await crashWithFullLogPipe(async (server) => {
      await onStderr(server, 'crash under test');
      // The exit flush runs (the exit path's own wait for the write in flight, 1 s, is over): the
      // reader comes back within its 2 s of patience and reads in bursts (50 ms every 200 ms).
      await onStderr(server, EXIT_LISTENERS_RUN);
      const reading = setInterval(() => {
        server.child.stdout?.resume();
        setTimeout(() => server.child.stdout?.pause(), 50);
      }, 200);
      const { code } = await exitOf(server).finally(() => clearInterval(reading));
      expect(code).toBe(1);
      expect(server.logs.filter((line) => line.msg === 'uncaught exception: exiting')).toHaveLength(1);
    });
  }, 120_000);
});
