/**
 * `peekBuffered` (the Fastify plugin's look at a body node:http already holds, without reading it)
 * answers what `read()` + `unshift()` of the whole buffer would, or declines: over random pushes
 * (empty, one or several chunks) and partial reads, on a plain Readable and on node:http's
 * IncomingMessage, it returns a Buffer only when that Buffer holds exactly the unread bytes, and it
 * changes nothing (the next reader gets the same bytes, in order, with the stream in the same state).
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { declaredLengthIs, peekBuffered } from '../src/buffered.js';

function paused(kind: 'readable' | 'incoming'): Readable {
  if (kind === 'incoming') return new IncomingMessage(new Socket());
  return new Readable({ read() {} });
}

/** What the general path takes: the whole unread buffer by read(), put back by unshift(). */
function readAndPutBack(stream: Readable): Buffer | null {
  const taken = stream.read() as Buffer | null;
  if (taken !== null) stream.unshift(taken);
  return taken;
}

const step = fc.oneof(
  fc.record({ push: fc.uint8Array({ minLength: 0, maxLength: 40 }) }),
  fc.record({ read: fc.integer({ min: 1, max: 60 }) }),
);

describe('peekBuffered', () => {
  it('returns only the exact unread bytes, and leaves the stream as it was', () => {
    fc.assert(
      fc.property(fc.constantFrom('readable', 'incoming'), fc.array(step, { maxLength: 8 }), (kind, steps) => {
        const stream = paused(kind as 'readable' | 'incoming');
        for (const s of steps) {
          if ('push' in s) stream.push(Buffer.from(s.push));
          else stream.read(Math.min(s.read, stream.readableLength) || undefined);
        }
        const length = stream.readableLength;
        const peeked = peekBuffered(stream);
        expect(stream.readableLength).toBe(length);
        if (peeked === undefined) return;
        expect(peeked.length).toBe(length);
        // The general path takes the same bytes (the same chunk, when there is one).
        const general = readAndPutBack(stream);
        expect(general).not.toBeNull();
        expect(Buffer.compare(peeked, general as Buffer)).toBe(0);
        // The next reader gets them.
        const rest = stream.read(length) as Buffer;
        expect(Buffer.compare(rest, peeked)).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('declines an empty buffer, several chunks, and a stream with a decoder', () => {
    const empty = paused('incoming');
    expect(peekBuffered(empty)).toBeUndefined();
    const several = paused('readable');
    several.push(Buffer.from('ab'));
    several.push(Buffer.from('cd'));
    expect(peekBuffered(several)).toBeUndefined();
    const one = paused('incoming');
    const chunk = Buffer.from('{"a":1}');
    one.push(chunk);
    expect(peekBuffered(one)).toBe(chunk);
    expect(one.readableLength).toBe(chunk.length);
  });
});

describe('declaredLengthIs (the Content-Length test of the buffered-body fast path)', () => {
  /** What the fast path tested before: the regular expression, then `Number()`. */
  const general = (declared: string, length: number) => /^\d+$/.test(declared) && Number(declared) === length;

  it('answers as /^\\d+$/ and Number() over random strings and lengths', () => {
    const digits = fc.stringMatching(/^[0-9]{0,25}$/);
    const near = fc.oneof(
      digits,
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
      digits.map((d) => ` ${d}`),
      digits.map((d) => `${d}\n`),
      digits.map((d) => `+${d}`),
      digits.map((d) => `${d}.0`),
      digits.map((d) => `0x${d}`),
      digits.map((d) => `${d}e1`),
      fc.constantFrom('', '0', '00', '1024', '01024', '9007199254740993', '1e3', '１０２４', '٣'),
    );
    fc.assert(
      fc.property(near, fc.oneof(fc.nat({ max: 2048 }), fc.nat()), (declared, length) => {
        expect(declaredLengthIs(declared, length)).toBe(general(declared, length));
        // The length a string of digits names, whatever it is.
        const named = Number(declared);
        if (Number.isSafeInteger(named)) expect(declaredLengthIs(declared, named)).toBe(general(declared, named));
      }),
      { numRuns: 2000 },
    );
  });
});
