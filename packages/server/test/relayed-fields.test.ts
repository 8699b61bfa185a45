import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { relayedHeaders } from '../src/headers.js';
import { relayedAnswerHeaders } from '../src/relayed-fields.js';

// Names an upstream may answer with: the recurring framing fields in several spellings, fields
// whose values are never kept (Set-Cookie), ones the gateway drops or sets itself, a Connection
// naming others, names sharing a length and first and last byte (one slot of the name table), a
// name past the kept length, one with bytes over 0x7f.
const NAMES = [
  'Content-Type',
  'content-type',
  'CONTENT-TYPE',
  'Content-Length',
  'Date',
  'date',
  'Connection',
  'connection',
  'Keep-Alive',
  'Transfer-Encoding',
  'Server',
  'Vary',
  'Cache-Control',
  'Set-Cookie',
  'ETag',
  'X-Upstream-Debug',
  'x_upstream_debug',
  'X-Request-Id',
  'RateLimit',
  'ratelimit-policy',
  'Upgrade',
  'Trailer',
  'X-Aa',
  'X-Ba',
  'X-Ab',
  `X-${'Long'.repeat(20)}`,
  'X-Caf\u00e9',
];

const valueArbitrary = fc.oneof(
  // Few distinct values, so later answers meet kept ones, and same-length values that differ.
  fc.constantFrom('application/json', 'application/jsoN', '11', '12', 'keep-alive', 'close', 'timeout=5', ''),
  fc.constantFrom('Sun, 06 Dec 2026 08:00:00 GMT', 'Sun, 06 Dec 2026 08:00:01 GMT'),
  fc.stringMatching(/^[ -~]{0,10}$/),
  // Long values (never kept) and bytes over 0x7f (latin1, byte for byte).
  fc.constantFrom('x'.repeat(65), `${'y'.repeat(64)}`, 'caf\u00c3\u00a9'),
  fc
    .array(fc.constantFrom(...NAMES, 'close', 'keep-alive', ' x-upstream-debug ', 'x-aa'), { maxLength: 3 })
    .map((tokens) => tokens.join(',')),
);

const answerArbitrary = fc.array(fc.tuple(fc.constantFrom(...NAMES), valueArbitrary), { maxLength: 8 });
const committedArbitrary = fc.oneof(
  fc.constant({}),
  fc.dictionary(fc.constantFrom('RateLimit', 'RateLimit-Policy', 'ratelimit'), fc.stringMatching(/^[ -~]{1,8}$/)),
);

/**
 * The raw fields of one answer as undici hands them over: views into a read buffer that every
 * answer of a sequence reuses from its start (as a socket's read buffer may be), so a kept view
 * instead of a copy would read the next answer's bytes.
 */
function rawFields(readBuffer: Buffer, pairs: readonly (readonly [string, string])[]): Buffer[] {
  const raw: Buffer[] = [];
  let offset = 0;
  for (const text of pairs.flat()) {
    const length = readBuffer.write(text, offset, 'latin1');
    raw.push(readBuffer.subarray(offset, offset + length));
    offset += length;
  }
  return raw;
}

describe('relayedAnswerHeaders: the relay head from kept names and values', () => {
  it('writes exactly what relayedHeaders writes, answer after answer from one reused read buffer (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(answerArbitrary, committedArbitrary), { minLength: 1, maxLength: 12 }),
        (answers) => {
          const readBuffer = Buffer.alloc(4096);
          for (const [pairs, committed] of answers) {
            const raw = rawFields(readBuffer, pairs);
            const expected = relayedHeaders(raw, committed, 'rid');
            expect(relayedAnswerHeaders(raw, committed, 'rid')).toEqual(expected);
            // A second call on the same bytes reads them from the tables.
            expect(relayedAnswerHeaders(raw, committed, 'rid')).toEqual(expected);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads a name or value of the same length and ends as a kept one by its own bytes', () => {
    const first = relayedAnswerHeaders([Buffer.from('X-Aa'), Buffer.from('11')], {}, 'r');
    const collided = relayedAnswerHeaders([Buffer.from('X-Ba'), Buffer.from('12')], {}, 'r');
    const again = relayedAnswerHeaders([Buffer.from('X-Aa'), Buffer.from('11')], {}, 'r');
    expect(first).toEqual(['x-aa', '11', 'x-request-id', 'r']);
    expect(collided).toEqual(['x-ba', '12', 'x-request-id', 'r']);
    expect(again).toEqual(first);
    const length = (value: string) =>
      relayedAnswerHeaders([Buffer.from('Content-Length'), Buffer.from(value)], {}, 'r');
    expect(length('11')).toEqual(['content-length', '11', 'x-request-id', 'r']);
    expect(length('71')).toEqual(['content-length', '71', 'x-request-id', 'r']);
    expect(length('17')).toEqual(['content-length', '17', 'x-request-id', 'r']);
  });

  it('passes an upstream value byte for byte (latin1), kept or not', () => {
    const bytes = Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9]); // "café" in UTF-8
    for (const name of ['Server', 'X-Name', 'Server']) {
      const relayed = relayedAnswerHeaders([Buffer.from(name), bytes], {}, 'r');
      expect(Buffer.from(relayed[1] as string, 'latin1')).toEqual(bytes);
    }
  });
});
