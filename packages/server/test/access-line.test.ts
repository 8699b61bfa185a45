import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { REQUEST_ID } from '../src/app.js';
import {
  type AccessLogFields,
  accessLogPath,
  batchedStdout,
  createLogger,
  hundredthsText,
  isoTimeField,
  isoTimeFieldAt,
  jsonString,
  jsonStringContents,
  MAX_LOG_LINE_BYTES,
  WRITE_ASCII_LINE,
  writeAccessLine,
} from '../src/logger.js';
import { newRequestId } from '../src/request-context.js';

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
    // Repeated paths too (the access line keeps the last plain path: session 22), plain and not, so
    // a path equal to the last plain one and one that follows an escaped one are both written.
    path: fc.oneof(
      fc.constantFrom('/verify', '/v1/whoami', '/a"b', '/c\\d', '/\u0000'),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ minLength: 2000, maxLength: 6000 }),
    ),
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

  it('builds the field from a per-second prefix exactly as toISOString() writes it, at any instant and in any order', () => {
    // Four-digit years (0000-9999), and beyond them Date's six-digit ones; runs of nearby instants
    // exercise the cached millisecond and second, jumps (also backwards) a new second.
    const instant = fc.oneof(
      fc.integer({ min: -62_167_219_200_000, max: 253_402_300_799_999 }),
      fc.integer({ min: -8.64e15, max: 8.64e15 }),
      fc.integer({ min: 1_733_443_199_000, max: 1_733_443_202_000 }),
    );
    const run = fc.tuple(instant, fc.array(fc.integer({ min: -1500, max: 1500 }), { maxLength: 8 }));
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 6 }), (runs) => {
        for (const [start, steps] of runs) {
          for (const now of [start, ...steps.map((step) => start + step)]) {
            if (Math.abs(now) > 8.64e15) continue;
            expect(isoTimeFieldAt(now)).toBe(`,"time":"${new Date(now).toISOString()}"`);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the duration exactly as String() does: hundredths through the table, any other number the general way', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          // What the server passes: Math.round(x * 100) / 100, from 0 up to the table's bound and past it.
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((hundredths) => hundredths / 100),
          fc.integer({ min: 0, max: 100_000 }).map((hundredths) => hundredths / 100),
          fc.double({ min: 0, max: 1e7, noNaN: true }).map((value) => Math.round(value * 100) / 100),
          // Anything else: more decimals, negative, -0, huge, infinite, NaN.
          fc.double(),
          fc.constantFrom(-0, 0, 1e15 / 100, 1e21, -0.01, Number.NaN, Number.POSITIVE_INFINITY),
        ),
        (ms) => {
          expect(hundredthsText(ms)).toBe(String(ms));
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('escapes each string exactly as JSON.stringify does (the plain-ASCII shortcut included)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 80 }),
          fc.string({ unit: 'grapheme', maxLength: 40 }),
          fc.string({ maxLength: 200 }),
        ),
        (value) => {
          expect(jsonString(value)).toBe(JSON.stringify(value));
          expect(`"${jsonStringContents(value)}"`).toBe(JSON.stringify(value));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('hands a destination that knows ASCII lines only lines whose UTF-8 length is their length, the same text either way', () => {
    fc.assert(
      fc.property(fieldsArbitrary, fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }), (fields, worker) => {
        const written: Array<{ line: string; ascii: boolean }> = [];
        const sink = Object.assign(
          new Writable({
            write(chunk, _encoding, done) {
              written.push({ line: String(chunk), ascii: false });
              done();
            },
          }),
          {
            [WRITE_ASCII_LINE]: (line: string) => {
              written.push({ line, ascii: true });
              return true;
            },
          },
        );
        const logger = createLogger('info', sink);
        writeAccessLine(worker === undefined ? logger : logger.child({ worker }), fields);
        const reference = capture();
        writeAccessLine(worker === undefined ? reference.logger : reference.logger.child({ worker }), fields);
        expect(written).toHaveLength(1);
        const [{ line, ascii }] = written as [{ line: string; ascii: boolean }];
        if (ascii) expect(Buffer.byteLength(line)).toBe(line.length);
        const strip = (text: string) => {
          const { time: _time, ...entry } = JSON.parse(text);
          return entry;
        };
        expect(strip(line)).toEqual(strip(reference.text()));
      }),
      { numRuns: 500 },
    );
    // The usual line (printable ASCII fields) takes the shortcut.
    const used: boolean[] = [];
    const plain = new Writable({
      write(_chunk, _encoding, done) {
        used.push(false);
        done();
      },
    });
    const sink = Object.assign(plain, {
      [WRITE_ASCII_LINE]: () => used.push(true),
    });
    writeAccessLine(createLogger('info', sink), { reqId: 'a1', method: 'GET', path: '/verify', status: 200, ms: 0.3 });
    expect(used).toEqual([true]);
  });

  it('writes the line whatever the level: the server checks isLevelEnabled("info") before it builds one', () => {
    // The server checks isLevelEnabled('info') before building the line; the writer itself writes.
    const { logger, text } = capture('warn');
    expect(logger.isLevelEnabled('info')).toBe(false);
    writeAccessLine(logger, { reqId: 'r', method: 'GET', path: '/', status: 200, ms: 1 });
    expect(JSON.parse(text())).toMatchObject({ level: 'info', msg: 'request', reqId: 'r' });
  });

  it('records a target as its path: origin-form cut at its query or fragment, absolute-form without userinfo (fast-check)', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}$/);
    const path = fc.array(segment, { maxLength: 4 }).map((segments) => segments.map((part) => `/${part}`).join(''));
    const tail = fc.option(fc.stringMatching(/^[?#][A-Za-z0-9=&?#/@:._-]{0,20}$/), { nil: '' });
    fc.assert(
      fc.property(path, tail, (origin, rest) => {
        const target = `/${origin}${rest}`;
        expect(accessLogPath(target)).toBe(`/${origin}`);
      }),
      { numRuns: 500 },
    );
    const host = fc.stringMatching(/^[a-z0-9.-]{1,20}(:[0-9]{1,5})?$/);
    const userinfo = fc.option(fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:%@-]{0,16}@$/), { nil: '' });
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https', 'HTTP'),
        userinfo,
        host,
        path,
        tail,
        (scheme, user, authority, rest, after) => {
          const logged = accessLogPath(`${scheme}://${user}${authority}${rest}${after}`);
          expect(logged).toBe(`${scheme}://${authority}${rest}`);
        },
      ),
      { numRuns: 500 },
    );
    expect(accessLogPath('*')).toBe('*');
    expect(accessLogPath('//user:pw@host/p?q')).toBe('//user:pw@host/p');
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

  it('writes access lines held by their known length (ASCII) and by their counted one, whole and in order', async () => {
    const { fd, read } = into();
    const destination = batchedStdout(fd);
    const logger = createLogger('info', destination as unknown as NodeJS.WritableStream);
    const expected: string[] = [];
    for (let index = 0; index < 600; index++) {
      // Every third path is not ASCII (counted bytes), a few are long: chunks stay within one pipe write.
      const path = index % 3 === 0 ? `/é/${index}` : index % 50 === 1 ? `/${'a'.repeat(1500)}` : `/v/${index}`;
      writeAccessLine(logger, { reqId: `r${index}`, method: 'GET', path, status: 200, ms: 1 });
      expected.push(path);
    }
    destination.end();
    await new Promise((resolve) => destination.once('close', resolve));
    const lines = read().split('\n').filter(Boolean);
    expect(lines.map((line) => JSON.parse(line).path)).toEqual(expected);
  });

  it('writes access lines into the batch as bytes exactly as the general way builds them, interleaved with other lines (fast-check)', async () => {
    // Session 19: the batch takes an access line as bytes (no string built) when no field needs
    // escaping; anything else is built as a string. Either way the file must hold, in order, what
    // pino-format lines built the general way (a logger on a plain stream) hold for the same
    // fields, at the same instant; other lines (pino's own, of any size) in between, and lines
    // that do not fit beside the held ones, start the next batch without losing or reordering any.
    // Mostly plain ASCII, now and then one character that must be escaped (or is not ASCII): lines
    // that take the bytes way up to a field the general way must take over.
    const nearlyPlain = fc
      .array(
        fc.oneof(
          { weight: 30, arbitrary: fc.constantFrom('a', 'Z', '0', '/', '-', '.', ' ', '~', '%') },
          { weight: 1, arbitrary: fc.constantFrom('"', '\\', '\n', '\u0000', '\u007f', 'é', '\ud800') },
        ),
        { maxLength: 40 },
      )
      .map((characters) => characters.join(''));
    const nearlyPlainFields = fc.record(
      {
        reqId: nearlyPlain,
        method: fc.option(nearlyPlain, { nil: undefined }),
        // Plain paths of many lengths: lines that end near the batch's end, and lines too long for one write.
        path: fc.oneof(
          nearlyPlain,
          fc.stringMatching(/^[a-z/]{100,900}$/),
          fc.string({ minLength: 3500, maxLength: 4200 }),
        ),
        status: fc.integer({ min: 100, max: 599 }),
        ms: fc.integer({ min: 0, max: 1e9 }).map((hundredths) => hundredths / 100),
        aborted: fc.constant(true as const),
        keyId: nearlyPlain,
        scheme: nearlyPlain,
        code: fc.constantFrom('signature_invalid', 'nonce_replayed'),
        remote: nearlyPlain,
      },
      { requiredKeys: ['reqId', 'path', 'status', 'ms'] },
    ) as fc.Arbitrary<AccessLogFields>;
    const entry = fc.oneof(
      { weight: 2, arbitrary: fieldsArbitrary.map((fields) => ({ kind: 'access' as const, fields })) },
      { weight: 4, arbitrary: nearlyPlainFields.map((fields) => ({ kind: 'access' as const, fields })) },
      {
        weight: 4,
        arbitrary: fc
          .record({
            reqId: fc.stringMatching(/^[0-9a-f]{32}$/),
            path: fc.constantFrom('/verify', '/v1/orders', '/x'),
            ms: fc.integer({ min: 0, max: 100_000 }).map((hundredths) => hundredths / 100),
            keyId: fc.stringMatching(/^hk_[A-Za-z0-9]{6,24}$/),
          })
          .map(({ reqId, path, ms, keyId }) => ({
            kind: 'access' as const,
            fields: { reqId, method: 'GET', path, status: 200, ms, keyId, scheme: 'rfc9421', remote: '127.0.0.1' },
          })),
      },
      { weight: 1, arbitrary: fc.string({ maxLength: 3000 }).map((note) => ({ kind: 'other' as const, note })) },
    );
    const clock = vi.spyOn(Date, 'now').mockReturnValue(1_733_443_200_123);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(entry, { maxLength: 60 }),
          fc.option(fc.integer({ min: 1, max: 64 })),
          async (entries, worker) => {
            const { fd, read } = into();
            const destination = batchedStdout(fd);
            const root = createLogger('info', destination as unknown as NodeJS.WritableStream);
            const logger = worker === null ? root : root.child({ worker });
            const reference = capture();
            const referenceLogger = worker === null ? reference.logger : reference.logger.child({ worker });
            for (const each of entries) {
              if (each.kind === 'access') {
                writeAccessLine(logger, each.fields);
                // The general way: the line built as a string (a plain stream takes no bytes).
                writeAccessLine(referenceLogger, each.fields);
              } else {
                logger.info({ note: each.note }, 'other');
                referenceLogger.info({ note: each.note }, 'other');
              }
            }
            destination.end();
            await new Promise((resolve) => destination.once('close', resolve));
            expect(read()).toBe(reference.text());
          },
        ),
        { numRuns: 150 },
      );
    } finally {
      clock.mockRestore();
    }
  });

  it('loses no held line when the process exits (the synchronous flush at exit)', () => {
    const { fd, read } = into();
    const destination = batchedStdout(fd);
    destination.write(lineOf(1));
    destination.flushSync();
    expect(read()).toBe(lineOf(1));
    closeSync(fd);
  });

  it("writes the server's request ids unchecked only because each is its own JSON contents (session 22)", () => {
    // Every UTF-16 unit REQUEST_ID takes is one the plain check passes: a client's X-Request-Id the
    // server keeps can never need escaping. A REQUEST_ID widened to take `"`, `\\`, a control
    // character or non-ASCII fails here.
    for (let unit = 0; unit <= 0xffff; unit++) {
      const character = String.fromCharCode(unit);
      if (REQUEST_ID.test(character)) expect(jsonStringContents(character)).toBe(character);
    }
    for (let i = 0; i < 300; i++) {
      const id = newRequestId();
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(jsonStringContents(id)).toBe(id);
    }
    // The line with the caller's word for it is the line without, for every id the server keeps.
    const idArbitrary = fc.oneof(
      fc.stringMatching(/^[\w.:-]{1,128}$/),
      fc.constant(null).map(() => newRequestId()),
    );
    fc.assert(
      fc.property(fieldsArbitrary, idArbitrary, (fields, reqId) => {
        expect(REQUEST_ID.test(reqId)).toBe(true);
        const checked = capture();
        const vouched = capture();
        vi.useFakeTimers({ now: 1_733_443_200_000, toFake: ['Date'] });
        try {
          writeAccessLine(checked.logger, { ...fields, reqId });
          writeAccessLine(vouched.logger, { ...fields, reqId }, true);
        } finally {
          vi.useRealTimers();
        }
        expect(vouched.text()).toBe(checked.text());
        expect(JSON.parse(vouched.text()).reqId).toBe(reqId);
      }),
      { numRuns: 300 },
    );
  });
});
