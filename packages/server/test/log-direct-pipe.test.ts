/**
 * The server log written straight into a pipe from the event loop's thread (logger.ts
 * batchedStdout, issue #15 session 16): when stdout is a pipe (a shell's `|`, containerd's FIFOs),
 * a batch of whole lines of at most PIPE_BUF bytes is written at once through a non-blocking
 * descriptor of the process's own, instead of a job on libuv's thread pool. Held here: it is taken
 * (with the pool busy the lines are in the pipe at once), the shared descriptor's flags are left as
 * they were, a full pipe never blocks the logging thread and loses nothing (the chunk goes to
 * sonic-boom, whose later lines follow in order), lines of writers sharing the pipe stay whole,
 * every exit path (end, process.exit, a crash with the pipe full) keeps every line, and the bytes
 * are the general path's (a property against a file, which takes the thread pool's writes).
 */
import { spawn } from 'node:child_process';
import { pbkdf2 } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildOnce, exitOf, repoRoot } from '../../../test-support/processes.js';
import { until } from '../../../test-support/wait.js';
import { batchedStdout, createLogger, LOG_BATCH_BYTES, writeAccessLine } from '../src/logger.js';
import { healthzWithId, startCrashableServe } from './support/crash.js';
import { descriptorsOf, drain, fifo, flagsOf } from './support/pipes.js';

/** Occupies every thread of libuv's pool until the returned promise settles. */
function busyThreadPool(): Promise<unknown> {
  return Promise.all(
    Array.from(
      { length: 16 },
      () => new Promise((resolve) => pbkdf2('password', 'salt', 40_000, 64, 'sha512', resolve)),
    ),
  );
}

const lineOf = (index: number, pad = 0) =>
  `${JSON.stringify({ level: 'info', msg: 'request', index, pad: 'p'.repeat(pad) })}\n`;

const parsed = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { index: number });

const O_NONBLOCK = constants.O_NONBLOCK;
const O_CLOEXEC = 0o2000000;

describe('the server log written into a pipe from the event loop (issue #15, session 16)', () => {
  it('writes a full batch into the pipe at once, with libuv thread pool busy (no thread-pool job)', async () => {
    const { reader, writer } = fifo();
    const destination = batchedStdout(writer);
    const busy = busyThreadPool();
    const expected: string[] = [];
    let bytes = 0;
    for (let index = 0; bytes < LOG_BATCH_BYTES; index++) {
      expected.push(lineOf(index));
      bytes += lineOf(index).length;
      destination.write(lineOf(index));
    }
    // No await: a thread-pool write could not have run (the pool is busy and this thread never yielded).
    expect(drain(reader)).toBe(expected.join(''));
    await busy;
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    closeSync(reader);
  });

  it("leaves the shared descriptor's flags as they were, and its own descriptor is non-blocking, close-on-exec, closed at end()", async () => {
    const { path, reader, writer } = fifo();
    const before = flagsOf(writer);
    expect(before & O_NONBLOCK).toBe(0);
    const destination = batchedStdout(writer);
    expect(flagsOf(writer)).toBe(before);
    const own = descriptorsOf(path).filter((fd) => fd !== reader && fd !== writer);
    expect(own).toHaveLength(1);
    const ownFlags = flagsOf(own[0] as number);
    expect(ownFlags & O_NONBLOCK).toBe(O_NONBLOCK);
    expect(ownFlags & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(ownFlags & 3).toBe(constants.O_WRONLY);
    destination.write(lineOf(1));
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    expect(drain(reader)).toBe(lineOf(1));
    // sonic-boom closed the shared one; its own is closed too.
    expect(descriptorsOf(path).filter((fd) => fd !== reader)).toEqual([]);
    closeSync(reader);
  });

  it('opens one own descriptor per pipe however many loggers write to it, closed after the last ends', async () => {
    const { path, reader, writer } = fifo();
    // Twenty destinations, each on a descriptor of the same pipe (sonic-boom closes its own at the end).
    const writers = [writer, ...Array.from({ length: 19 }, () => openSync(path, constants.O_WRONLY))];
    const destinations = writers.map((each) => batchedStdout(each));
    const own = () => descriptorsOf(path).filter((fd) => fd !== reader && !writers.includes(fd));
    expect(own()).toHaveLength(1);
    destinations.forEach((destination, index) => {
      destination.write(lineOf(index));
      destination.flushSync();
    });
    const ended = (destination: (typeof destinations)[number]) => {
      destination.end();
      return new Promise((resolve) => destination.once('close', resolve));
    };
    await Promise.all(destinations.slice(0, -1).map(ended));
    expect(own()).toHaveLength(1);
    await ended(destinations.at(-1) as (typeof destinations)[number]);
    expect(own()).toEqual([]);
    expect(parsed(drain(reader)).map((entry) => entry.index)).toEqual(Array.from({ length: 20 }, (_, index) => index));
    closeSync(reader);
  });

  it('never blocks on a full pipe (a blocking shared stdout): the lines wait and arrive whole and in order once the reader drains', async () => {
    const { path, reader, writer } = fifo();
    // Another writer (a worker, the supervisor) filled the pipe; the reader is not reading.
    const other = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    const filler = Buffer.alloc(4096, 0x20);
    let filled = 0;
    for (;;) {
      try {
        filled += writeSync(other, filler);
      } catch {
        break;
      }
    }
    expect(filled).toBeGreaterThan(0);
    const destination = batchedStdout(writer);
    const expected: string[] = [];
    // Several batches: the first is refused (EAGAIN) and goes to sonic-boom, whose thread-pool write
    // on the blocking shared descriptor waits for room; the rest queue behind it.
    for (let index = 0; index < 200; index++) {
      expected.push(lineOf(index, index % 7 === 0 ? 900 : 0));
      destination.write(expected[index] as string);
    }
    // The event loop still turns with the pipe full (a blocking write from this thread would hang here).
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 0));
    let read = '';
    await until(() => {
      read += drain(reader);
      return read.trimStart().length >= expected.join('').length;
    });
    expect(read.trimStart()).toBe(expected.join(''));
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    closeSync(other);
    closeSync(reader);
  }, 30_000);

  it('keeps lines whole and each writer in order when processes share one pipe (workers and their supervisor)', async () => {
    buildOnce();
    const { reader, writer } = fifo();
    const loggerUrl = pathToFileURL(join(repoRoot, 'packages/server/dist/logger.js')).href;
    const script = join(mkdtempSync(join(tmpdir(), 'hmac-kit-pipe-')), 'writer.mjs');
    // Access lines of varied lengths, many batches, then a natural exit (pino's exit flush).
    writeFileSync(
      script,
      `import { createLogger, writeAccessLine } from ${JSON.stringify(loggerUrl)};
const logger = createLogger('info');
const name = process.argv[2];
for (let index = 0; index < 3000; index++) {
  writeAccessLine(logger, { reqId: name + '-' + index, method: 'GET', path: '/' + 'v'.repeat(index % 400), status: 200, ms: index % 10 });
  if (index % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
}
`,
    );
    const children = ['a', 'b', 'c'].map((name) =>
      spawn(process.execPath, [script, name], { stdio: ['ignore', writer, 'inherit'] }),
    );
    closeSync(writer);
    let read = '';
    const exited = Promise.all(children.map((child) => new Promise((done) => child.once('exit', done))));
    let done = false;
    void exited.then(() => {
      done = true;
    });
    await until(() => {
      const more = drain(reader);
      read += more;
      return done && more === '';
    });
    const lines = read.split('\n').filter(Boolean);
    expect(lines).toHaveLength(9000);
    const entries = lines.map((line) => JSON.parse(line) as { reqId: string });
    for (const name of ['a', 'b', 'c']) {
      const own = entries.filter((entry) => entry.reqId.startsWith(`${name}-`)).map((entry) => entry.reqId);
      expect(own).toEqual(Array.from({ length: 3000 }, (_, index) => `${name}-${index}`));
    }
    closeSync(reader);
  }, 60_000);

  it('loses no held line on process.exit() (pino exit flush), its thread pool busy', async () => {
    buildOnce();
    const { reader, writer } = fifo();
    const loggerUrl = pathToFileURL(join(repoRoot, 'packages/server/dist/logger.js')).href;
    const script = join(mkdtempSync(join(tmpdir(), 'hmac-kit-pipe-')), 'exit.mjs');
    writeFileSync(
      script,
      `import { pbkdf2 } from 'node:crypto';
import { createLogger } from ${JSON.stringify(loggerUrl)};
const logger = createLogger('info');
for (let i = 0; i < 16; i++) pbkdf2('p', 's', 100000, 64, 'sha512', () => {});
for (let index = 0; index < 37; index++) logger.info({ index }, 'line');
process.exit(0);
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', writer, 'inherit'] });
    closeSync(writer);
    const code = await new Promise((done) => child.once('exit', done));
    expect(code).toBe(0);
    const indexes = parsed(drain(reader)).map((entry) => entry.index);
    expect(indexes).toEqual(Array.from({ length: 37 }, (_, index) => index));
    closeSync(reader);
  }, 60_000);

  it('writes the same bytes as the thread-pool path (fast-check: pipe vs file)', async () => {
    const line = fc
      .tuple(fc.string({ unit: 'binary', maxLength: 300 }), fc.nat(10_000))
      .map(([text, index]) => `${JSON.stringify({ msg: text, index })}\n`);
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 40 }), async (lines) => {
        const { reader, writer } = fifo();
        const file = join(mkdtempSync(join(tmpdir(), 'hmac-kit-pipe-')), 'out.log');
        const fileFd = openSync(file, 'w');
        const toPipe = batchedStdout(writer);
        const toFile = batchedStdout(fileFd);
        for (const each of lines) {
          toPipe.write(each);
          toFile.write(each);
        }
        toPipe.end();
        toFile.end();
        await Promise.all([toPipe, toFile].map((each) => new Promise((resolve) => each.once('close', resolve))));
        const expected = Buffer.from(lines.join(''), 'utf8');
        const piped = Buffer.from(drain(reader), 'latin1');
        closeSync(reader);
        expect(piped.equals(expected)).toBe(true);
        expect(readFileSync(file).equals(expected)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('access lines through createLogger() into a pipe: whole, in order, ASCII and not', async () => {
    const { reader, writer } = fifo();
    const destination = batchedStdout(writer);
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    const expected: string[] = [];
    let read = '';
    for (let index = 0; index < 400; index++) {
      const path = index % 3 === 0 ? `/é/${index}` : index % 50 === 1 ? `/${'a'.repeat(1500)}` : `/v/${index}`;
      writeAccessLine(logger, { reqId: `r${index}`, method: 'GET', path, status: 200, ms: 1 });
      expected.push(path);
      if (index % 100 === 0) read += drain(reader);
    }
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    read += drain(reader);
    const lines = Buffer.from(read, 'latin1').toString('utf8').split('\n').filter(Boolean);
    expect(lines.map((each) => JSON.parse(each).path)).toEqual(expected);
    closeSync(reader);
  });
});

// A crash with the pipe full: crash-exit-log.test.ts, with stdout a pipe and a socket pair.
describe('serve with a pipe for stdout: exits keep the access lines', () => {
  it('SIGTERM: every access line, the stdout a pipe read as the server writes', async () => {
    const server = await startCrashableServe({}, { stdout: 'fifo' });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      const answered: string[] = [];
      for (let index = 0; index < 300; index++) {
        const id = `t${index}`;
        expect(await healthzWithId(agent, server.url, id)).toBe(200);
        answered.push(id);
      }
      agent.destroy();
      server.child.kill('SIGTERM');
      const { code } = await exitOf(server);
      expect(code).toBe(0);
      const logged = server.logs.filter((line) => line.msg === 'request').map((line) => line.reqId);
      expect(logged).toEqual(answered);
    } finally {
      agent.destroy();
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }, 120_000);
});
