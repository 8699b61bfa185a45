/**
 * `internalized()` (src/primitives/intern.ts) hands out a string equal to its argument, and the RFC
 * 9421 common-shape parser's remembered tails carry their key id through it (session 21): a key id
 * read from a remembered tail must be the key id the general RFC 8941 parser reads, whatever its
 * characters, including property names with a meaning of their own (`__proto__`, `constructor`)
 * and array-index-like texts (`0`, `01`, `4294967295`), which an object keys differently.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internalized } from '../src/primitives/intern.js';
import { resolveRfc9421Options } from '../src/schemes/rfc9421/options.js';
import { createRfc9421Parser } from '../src/schemes/rfc9421/parse.js';
import { parseFields } from './support/fast-path-reading.js';

const SPECIAL = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '0',
  '01',
  '-0',
  '1e3',
  '4294967294',
  '4294967295',
  '9007199254740993',
  '',
  ' ',
  'NaN',
];

describe('internalized', () => {
  it('is the identity on strings, special property names included', () => {
    for (const text of SPECIAL) expect(internalized(text)).toBe(text);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(...SPECIAL)), (text) => {
        // A slice of a longer text, as the parser hands it over.
        const sliced = `xx${text}yy`.slice(2, 2 + text.length);
        expect(internalized(sliced)).toBe(text);
        expect(internalized(text)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});

// Key id characters the common shape reads in a string: printable ASCII without `"` and `\`.
const keyIdChar = fc
  .integer({ min: 0x20, max: 0x7e })
  .filter((c) => c !== 0x22 && c !== 0x5c)
  .map((c) => String.fromCharCode(c));
const keyIdText = fc.oneof(
  fc.string({ unit: keyIdChar, minLength: 0, maxLength: 40 }),
  fc.constantFrom(...SPECIAL.filter((s) => s !== '')),
);

describe('a remembered tail hands out its key id', () => {
  it('the same key id as the general parser, on the read that remembers it and on the reads that take it', () => {
    const parser = createRfc9421Parser(resolveRfc9421Options({}));
    fc.assert(
      fc.property(fc.array(keyIdText, { minLength: 1, maxLength: 6 }), fc.nat({ max: 3 }), (keyIds, repeats) => {
        for (const keyId of keyIds) {
          for (let read = 0; read <= repeats + 1; read++) {
            const input = `sig=("@method" "@authority");created=${1_700_000_000 + read};nonce="n${read}";keyid="${keyId}";alg="hmac-sha256"`;
            const fast = parseFields(parser, input, 'sig=:AAAA:');
            const general = parseFields(parser, ` ${input}`, ' sig=:AAAA:');
            expect(fast.ok).toBe(general.ok);
            if (!fast.ok || !general.ok) continue;
            expect(fast.value.keyId).toBe(keyId);
            expect(fast.value.keyId).toBe(general.value.keyId);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
