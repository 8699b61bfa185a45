/**
 * plainByteSequence() replaced, on the RFC 9421 and Content-Digest fast paths, a regular expression
 * (`=:([A-Za-z0-9+/]*={0,2}):$`) followed by fromStandardBase64(): it must answer exactly as the two
 * did, for every text (the same bytes, or undefined where the regex did not match or the value did
 * not decode, both of which send the field to the general RFC 8941 parser).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromStandardBase64 } from '../src/primitives/encoding.js';
import { plainByteSequence } from '../src/protocol/structured-fields.js';

const SHAPE = /^([A-Za-z0-9+/]*={0,2}):$/;

/** The replaced code: the regex on the rest of the text, then fromStandardBase64 on its capture. */
function reference(text: string, start: number): Uint8Array | undefined {
  const match = SHAPE.exec(text.slice(start));
  return match === null ? undefined : fromStandardBase64(match[1]!);
}

// Mostly base64 characters, with the characters that end or break the shape mixed in.
const character = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') },
  { weight: 2, arbitrary: fc.constantFrom('=', ':') },
  { weight: 1, arbitrary: fc.constantFrom('-', '_', ' ', '\t', '\n', '"', '\u00e9', '\u0100', '\u{1F600}') },
);
const text = fc.array(character, { maxLength: 40 }).map((chars) => chars.join(''));

describe('plainByteSequence', () => {
  it('answers as the regex and fromStandardBase64 did, for any text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), text, fc.boolean(), (prefix, body, closed) => {
        const field = prefix + body + (closed ? ':' : '');
        expect(plainByteSequence(field, prefix.length)).toEqual(reference(field, prefix.length));
      }),
      { numRuns: 20_000 },
    );
  });

  it('answers as they did for well-formed base64 of any bytes, padded or not', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(2), (bytes, trim) => {
        const padded = Buffer.from(bytes).toString('base64');
        const encoded = padded.slice(
          0,
          padded.length - Math.min(trim, padded.length - padded.replace(/=+$/, '').length),
        );
        const field = `sha-256=:${encoded}:`;
        const decoded = plainByteSequence(field, 9);
        expect(decoded).toEqual(reference(field, 9));
        expect(decoded).toEqual(new Uint8Array(bytes));
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps the edges: empty, padding alone, a lone trailing character, leftover bits', () => {
    for (const field of [
      ':',
      '=:',
      '==:',
      '===:',
      'Q:',
      'QQ:',
      'QR:',
      'QQ=:',
      'QQ==:',
      'QQQ:',
      'QQQ=:',
      'QQQQ=:',
      'QQQQQ:',
      '',
      'QQ',
      'Q=Q:',
      'QQ:x',
      '::',
    ]) {
      expect(plainByteSequence(field, 0), field).toEqual(reference(field, 0));
    }
  });
});
