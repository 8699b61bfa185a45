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

import { execFileSync } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until, untilValue } from '../../../test-support/wait.js';
import { batchedStdout, createLogger, settleLogWrites } from '../src/logger.js';

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

  it('a flush that gives up on a full pipe leaves the held lines to the asynchronous writes, which send them once it drains', async () => {
    // A pipe another writer filled (workers share one stdout): sonic-boom itself is idle.
    const fifo = join(mkdtempSync(join(tmpdir(), 'hmac-kit-r16-')), 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const filler = Buffer.alloc(4096, 0x20);
    for (;;) {
      try {
        writeSync(writer, filler);
      } catch {
        break;
      }
    }
    const destination = batchedStdout(writer);
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    logger.info('held-one');
    logger.info('held-two');
    // Blocks while the pipe takes nothing, then gives up (FLUSH_SYNC_STALL_MS).
    destination.flushSync();
    let read = '';
    const chunk = Buffer.alloc(65_536);
    await until(() => {
      for (;;) {
        try {
          const count = readSync(reader, chunk);
          if (count <= 0) break;
          read += chunk.subarray(0, count).toString('latin1');
        } catch {
          break;
        }
      }
      return read.includes('held-two');
    });
    expect(
      read
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line.trim()).msg),
    ).toEqual(['held-one', 'held-two']);
    destination.destroy();
    closeSync(reader);
  }, 20_000);

  it('writes the write waiting on its EAGAIN retry first, not skipped (at exit its timer never runs): hygiene20', async () => {
    // The write in flight met a full pipe and waits on sonic-boom's 100 ms retry timer; the pipe then
    // drains and the process exits: pino's exit hook runs flushSync(). sonic-boom's flushSync skips a
    // write in flight (it may be on libuv's thread pool), so these lines were never written: the
    // crash's fatal line among them when the reader was slow and came back before the exit
    // (crash-exit-log.test.ts), or access lines of answered requests.
    const fifo = join(mkdtempSync(join(tmpdir(), 'hmac-kit-r16-')), 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const filler = Buffer.alloc(4096, 0x20);
    for (;;) {
      try {
        writeSync(writer, filler);
      } catch {
        break;
      }
    }
    const destination = batchedStdout(writer);
    const boom = destination as unknown as { retryEAGAIN: (...args: unknown[]) => boolean };
    const retryEAGAIN = boom.retryEAGAIN;
    let retries = 0;
    boom.retryEAGAIN = (...args: unknown[]) => {
      retries++;
      return retryEAGAIN(...args);
    };
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    logger.info('in-flight');
    destination.flush();
    // The asynchronous write met EAGAIN and waits on its retry timer (timers run after this check phase).
    await untilValue(() => (retries > 0 ? retries : undefined), 'the write in flight to meet EAGAIN');
    logger.info('queued');
    const chunk = Buffer.alloc(65_536);
    const drain = () => {
      let read = '';
      for (;;) {
        try {
          const count = readSync(reader, chunk);
          if (count <= 0) break;
          read += chunk.subarray(0, count).toString('latin1');
        } catch {
          break;
        }
      }
      return read;
    };
    drain();
    destination.flushSync();
    // What a process exiting right now leaves behind.
    const messages = (text: string) =>
      text
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .map((line) => JSON.parse(line).msg);
    expect(messages(drain())).toEqual(['in-flight', 'queued']);
    // The process goes on: nothing is written twice (the retry timer is gone), later lines still are.
    logger.info('after');
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    expect(messages(drain())).toEqual(['after']);
    closeSync(reader);
  }, 20_000);

  it('the exit waits for a write on the thread pool to come back (settleLogWrites): its lines are written, not lost: hygiene20', async () => {
    // The exit path's timer (supervisor.ts exitAfterFlush) fires just after a retry timer handed the
    // write in flight to libuv's thread pool, busy (scrypt hashes of console logins): the process
    // exited with the write still there, pino's exit flush skipped it, and its EAGAIN never came
    // back: its lines were lost.
    const fifo = join(mkdtempSync(join(tmpdir(), 'hmac-kit-r16-')), 'pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const filler = Buffer.alloc(4096, 0x20);
    for (;;) {
      try {
        writeSync(writer, filler);
      } catch {
        break;
      }
    }
    const destination = batchedStdout(writer);
    const boom = destination as unknown as { retryEAGAIN: (...args: unknown[]) => boolean };
    const retryEAGAIN = boom.retryEAGAIN;
    let retries = 0;
    boom.retryEAGAIN = (...args: unknown[]) => {
      retries++;
      return retryEAGAIN(...args);
    };
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    logger.info('in-flight');
    destination.flush();
    await untilValue(() => (retries > 0 ? retries : undefined), 'the write in flight to meet EAGAIN');
    // Created after the retry timer, as long: it runs right after the retry handed the write to the
    // thread pool, which the hashes keep busy.
    let busy: Promise<unknown> | undefined;
    const exited = new Promise<string>((resolve) => {
      setTimeout(() => {
        busy = busyThreadPool();
        settleLogWrites(destination, () => {
          // What a process exiting now leaves behind: the reader drains the pipe, pino's exit flush runs.
          drain(reader);
          destination.flushSync();
          resolve(drain(reader));
        });
      }, 100);
    });
    const written = await exited;
    await busy;
    expect(
      written
        .split('\n')
        .map((line) => line.trim())
        .filter(Boolean)
        .map((line) => JSON.parse(line).msg),
    ).toEqual(['in-flight']);
    destination.destroy();
    closeSync(reader);
  }, 30_000);
});

/** Everything the pipe's reading end `reader` holds now (latin1). */
function drain(reader: number): string {
  const chunk = Buffer.alloc(65_536);
  let read = '';
  for (;;) {
    try {
      const count = readSync(reader, chunk);
      if (count <= 0) break;
      read += chunk.subarray(0, count).toString('latin1');
    } catch {
      break;
    }
  }
  return read;
}
