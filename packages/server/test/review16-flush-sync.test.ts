/**
 * Review 16: the server log's synchronous flush (logger.ts batchedStdout, bb5f8f3: held lines handed
 * to sonic-boom in buffer mode) is what pino's exit hook runs when the process ends by
 * `process.exit()` without `exitAfterFlush` (a second SIGTERM/SIGINT during start-up, supervisor.ts
 * onSignals; any `process.exit` of a dependency). Attack: the held lines are handed over while
 * sonic-boom is idle, which starts an asynchronous write on libuv's thread pool; sonic-boom's
 * flushSync() then leaves that write in flight, and the process exits before a busy thread pool
 * (scrypt password hashes of the console logins, pbkdf2 here) runs it: the lines are lost.
 * access-line.test.ts's "loses no held line when the process exits" checks the same with an idle
 * thread pool, where the write usually wins the race (it failed once under load in this review).
 */

import { pbkdf2 } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchedStdout, createLogger } from '../src/logger.js';

/** Occupies every thread of libuv's pool (4 by default, 16 to be sure) until the returned promise settles. */
function busyThreadPool(): Promise<unknown> {
  return Promise.all(
    Array.from(
      { length: 16 },
      () => new Promise((resolve) => pbkdf2('password', 'salt', 20_000, 64, 'sha512', resolve)),
    ),
  );
}

describe('review16: the log destination flushed synchronously (pino exit hook)', () => {
  it('writes the held lines before flushSync() returns, with the thread pool busy', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hmac-kit-r16-')), 'log');
    const fd = openSync(file, 'w');
    const destination = batchedStdout(fd);
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    const busy = busyThreadPool();
    logger.info({ n: 1 }, 'first');
    logger.info({ n: 2 }, 'second');
    destination.flushSync();
    // What a process exiting right now would leave behind.
    const written = readFileSync(file, 'utf8');
    await busy;
    expect(
      written
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).msg),
    ).toEqual(['first', 'second']);
    // Lines after it are still written (sonic-boom left able to write asynchronously).
    logger.info({ n: 3 }, 'third');
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    expect(
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).msg),
    ).toEqual(['first', 'second', 'third']);
    try {
      closeSync(fd);
    } catch {
      // sonic-boom closed it.
    }
  });
});
