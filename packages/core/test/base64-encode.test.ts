/**
 * toBase64() and toBase64Url() write their characters' codes into a reused array and make the
 * string with one String.fromCharCode() per chunk of 8192 characters. Held to an independent
 * encoder (Buffer, node's native one) for random bytes of every length around the chunk boundary,
 * after calls of other lengths (the reused array must not leak characters of a longer encoding).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toBase64Url } from '../src/primitives/encoding.js';

const reference = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const referenceUrl = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

describe('toBase64 and toBase64Url', () => {
  it('match node:buffer for random bytes, calls of different lengths in a row', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 5 }), (arrays) => {
        for (const bytes of arrays) {
          expect(toBase64(bytes)).toBe(reference(bytes));
          expect(toBase64Url(bytes)).toBe(referenceUrl(bytes));
          expect(fromBase64(toBase64(bytes))).toEqual(bytes);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('match node:buffer around and past the chunk of 6144 bytes', () => {
    const big = new Uint8Array(3 * 6144 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131 + 17) & 0xff;
    for (const length of [0, 1, 2, 3, 6142, 6143, 6144, 6145, 6146, 12288, 12289, 12290, big.length]) {
      const bytes = big.subarray(0, length);
      expect(toBase64(bytes), String(length)).toBe(reference(bytes));
      expect(toBase64Url(bytes), String(length)).toBe(referenceUrl(bytes));
      // A short one right after a long one.
      expect(toBase64(big.subarray(5, 10))).toBe(reference(big.subarray(5, 10)));
    }
  });

  it('encodes a large body (1 MiB) without exceeding argument limits', () => {
    const bytes = new Uint8Array(1 << 20).fill(0xa5);
    expect(toBase64(bytes)).toBe(reference(bytes));
  });
});
