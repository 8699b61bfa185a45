/**
 * A crash (an uncaught exception) of `hmac-kit serve` loses no access line of a request it
 * answered. The log destination (sonic-boom) writes asynchronously to a non-blocking stdout; when
 * the reader is behind and the pipe is full, the write in flight fails with EAGAIN and is retried
 * from a timer. pino's exit handler writes what is still queued synchronously (`flushSync`) but
 * skips the write in flight: a process that exited at the exception lost those lines (up to 4 KB
 * of access lines of answered requests). support/crash-on-signal.mjs makes the crash.
 */
import { Agent, request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { exitOf } from '../../../test-support/processes.js';
import { startCrashableServe } from './support/crash.js';

function get(agent: Agent, url: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/healthz`, { agent, headers: { 'x-request-id': id } }, (response) => {
      response.resume();
      response.once('end', () => resolve(response.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serve: a crash exit keeps the access lines of answered requests', () => {
  it('writes every access line of the requests answered before the crash, its log pipe full when it comes', async () => {
    const server = await startCrashableServe();
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      // The test stops reading the server's stdout: the pipe (64 KiB) and the stream's buffer fill,
      // and the server's log writes wait on EAGAIN.
      server.child.stdout?.pause();
      const answered: string[] = [];
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, index) => {
            const id = `r${round}-${index}`;
            expect(await get(agent, server.url, id)).toBe(200);
            answered.push(id);
          }),
        );
      }
      server.child.kill('SIGUSR2');
      server.child.stdout?.resume();
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
  }, 120_000);
});
