import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import {
  type AccessLogFields,
  batchedStdout,
  createLogger,
  isoTimeField,
  MAX_LOG_LINE_BYTES,
  writeAccessLine,
} from '../src/logger.js';

/** A logger of createLogger() writing into memory, and its lines as written. */
function capture(level = 'info') {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger(level, sink), text: () => chunks.join('') };
}

const fieldsArbitrary: fc.Arbitrary<AccessLogFields> = fc.record(
  {
    reqId: fc.string({ maxLength: 40 }),
    method: fc.option(fc.constantFrom('GET', 'POST', 'DELETE', 'M"\\'), { nil: undefined }),
    // Any text a client can put in a path: quotes, backslashes, control characters, lone surrogates, long runs.
    path: fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ minLength: 2000, maxLength: 6000 })),
    status: fc.integer({ min: 100, max: 599 }),
    ms: fc.double({ min: 0, max: 1e6, noNaN: true }).map((value) => Math.round(value * 100) / 100),
    // Optional fields are absent or set (the server never sets them to undefined).
    aborted: fc.constant(true as const),
    keyId: fc.string({ unit: 'binary', maxLength: 30 }),
    scheme: fc.constantFrom('rfc9421', 'sigv4', 'django-hmac'),
    code: fc.constantFrom('signature_invalid', 'nonce_replayed'),
    remote: fc.constantFrom('127.0.0.1', '::ffff:10.0.0.1'),
  },
  { requiredKeys: ['reqId', 'method', 'path', 'status', 'ms'] },
);

describe('access-log lines built by hand (issue #15: the default log level info must be cheap)', () => {
  it('reads back as the same JSON pino writes for the same fields, bindings included, and fits one pipe write', () => {
    fc.assert(
      fc.property(fieldsArbitrary, fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }), (fields, worker) => {
        const fast = capture();
        const reference = capture();
        const fastLogger = worker === undefined ? fast.logger : fast.logger.child({ worker });
        const referenceLogger = worker === undefined ? reference.logger : reference.logger.child({ worker });
        writeAccessLine(fastLogger, fields);
        referenceLogger.info(fields, 'request');
        const line = fast.text();
        const expected = reference.text();
        expect(line.endsWith('\n')).toBe(true);
        expect(line.indexOf('\n')).toBe(line.length - 1);
        expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
        const { time: fastTime, ...fastEntry } = JSON.parse(line);
        const { time: referenceTime, ...referenceEntry } = JSON.parse(expected);
        expect(typeof fastTime).toBe('string');
        expect(Number.isNaN(Date.parse(fastTime))).toBe(false);
        expect(typeof referenceTime).toBe('string');
        expect(fastEntry).toEqual(referenceEntry);
      }),
      { numRuns: 300 },
    );
  });

  it("writes pino's isoTime field, built once per millisecond (the same string within one, a new one after)", () => {
    const clock = vi.spyOn(Date, 'now');
    try {
      for (const millis of [0, 1_733_443_200_000, 1_733_443_200_000, 1_733_443_200_001, 1_733_443_200_000, 4e12]) {
        clock.mockReturnValue(millis);
        expect(isoTimeField()).toBe(pino.stdTimeFunctions.isoTime());
      }
    } finally {
      clock.mockRestore();
    }
  });

  it('writes the line whatever the level: the server checks isLevelEnabled("info") before it builds one', () => {
    // The server checks isLevelEnabled('info') before building the line; the writer itself writes.
    const { logger, text } = capture('warn');
    expect(logger.isLevelEnabled('info')).toBe(false);
    writeAccessLine(logger, { reqId: 'r', method: 'GET', path: '/', status: 200, ms: 1 });
    expect(JSON.parse(text())).toMatchObject({ level: 'info', msg: 'request', reqId: 'r' });
  });

  it("falls back to the logger's own info() for a logger it did not build", () => {
    const chunks: string[] = [];
    const foreign = pino(
      { base: { app: 'mine' } },
      new Writable({
        write(chunk, _encoding, done) {
          chunks.push(String(chunk));
          done();
        },
      }),
    );
    writeAccessLine(foreign, { reqId: 'r1', method: 'GET', path: '/x', status: 404, ms: 0.5 });
    // pino's numeric level and its own base: what this logger always writes.
    expect(JSON.parse(chunks.join(''))).toMatchObject({ level: 30, app: 'mine', reqId: 'r1', msg: 'request' });
  });
});

describe('the batched stdout of createLogger() (lines held for one write, issue #15)', () => {
  const lineOf = (index: number) => `${JSON.stringify({ level: 'info', msg: 'request', index })}\n`;
  const into = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hmac-kit-log-')), 'out.log');
    const fd = openSync(file, 'w');
    return { fd, read: () => readFileSync(file, 'utf8') };
  };

  it('writes lines below the batch size once they have waited, without a flush', async () => {
    const { fd, read } = into();
    const destination = batchedStdout(fd);
    for (let index = 0; index < 3; index++) destination.write(lineOf(index));
    await vi.waitFor(() => expect(read()).toBe([0, 1, 2].map(lineOf).join('')));
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
  });

  it('writes every line, whole and in order, under a burst and on end()', async () => {
    const { fd, read } = into();
    const destination = batchedStdout(fd);
    const expected: string[] = [];
    for (let index = 0; index < 2_000; index++) {
      expected.push(lineOf(index));
      destination.write(lineOf(index));
    }
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    expect(read()).toBe(expected.join(''));
  });

  it('loses no held line when the process exits (the synchronous flush at exit)', () => {
    const { fd, read } = into();
    const destination = batchedStdout(fd);
    destination.write(lineOf(1));
    destination.flushSync();
    expect(read()).toBe(lineOf(1));
    closeSync(fd);
  });
});
