import fc from 'fast-check';
import { expect, it } from 'vitest';
import { constantTimeEqual } from '../src/primitives/constant-time.js';
import { fromBase64, fromStandardBase64 } from '../src/primitives/encoding.js';

// The pairings the earlier separate functions covered, now one function.
const binaryEqualsBytes = (binary: string, bytes: Uint8Array) => constantTimeEqual(binary, bytes);
const constantTimeEqualText = (a: string, b: string) => constantTimeEqual(a, b);

const binary = (bytes: Uint8Array) => String.fromCharCode(...bytes);

it('binaryEqualsBytes compares a binary string with bytes by content and length', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), (a, b) => {
      const same = a.length === b.length && a.every((byte, index) => byte === b[index]);
      expect(binaryEqualsBytes(binary(a), b)).toBe(same);
      expect(binaryEqualsBytes(binary(a), a)).toBe(true);
    }),
  );
  // A prefix, an extension and a difference in the last byte are all unequal.
  const mac = Uint8Array.from({ length: 32 }, (_, index) => index * 8);
  expect(binaryEqualsBytes(binary(mac.subarray(0, 31)), mac)).toBe(false);
  expect(binaryEqualsBytes(binary(mac), mac.subarray(0, 31))).toBe(false);
  expect(binaryEqualsBytes(`${binary(mac.subarray(0, 31))}\u00ff`, mac)).toBe(false);
  // Characters above U+00FF never equal a byte.
  expect(binaryEqualsBytes('\u0100', Uint8Array.of(0))).toBe(false);
});

it('fromStandardBase64 decodes like fromBase64 for every delimited byte-sequence text', () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const text = fc
    .tuple(fc.array(fc.constantFrom(...alphabet), { maxLength: 70 }), fc.constantFrom('', '=', '=='))
    .map(([chars, padding]) => chars.join('') + padding);
  fc.assert(
    fc.property(text, (encoded) => {
      expect(fromStandardBase64(encoded)).toEqual(fromBase64(encoded));
    }),
    { numRuns: 2000 },
  );
  // Padding atob() refuses (it does not complete a quantum) still decodes as fromBase64 does.
  for (const odd of ['abc==', 'ab=', 'a', '=', '==', 'abcd=', 'YWJj+/==']) {
    expect(fromStandardBase64(odd)).toEqual(fromBase64(odd));
  }
});

it('constantTimeEqualText compares single-byte strings by content and length', () => {
  const text = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 70 });
  fc.assert(
    fc.property(text, text, (a, b) => {
      expect(constantTimeEqualText(a, b)).toBe(a === b);
      expect(constantTimeEqualText(a, a)).toBe(true);
    }),
  );
  expect(constantTimeEqualText('ab', 'abc')).toBe(false);
  expect(constantTimeEqualText('abc', 'ab')).toBe(false);
  expect(constantTimeEqualText('', '')).toBe(true);
  // A NUL in a longer string is not mistaken for a missing character.
  expect(constantTimeEqualText('a\u0000', 'a')).toBe(false);
});

it('constantTimeEqual gives the same answer for every pairing of bytes and single-byte strings', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 80 }), (a, b) => {
      const same = a.length === b.length && a.every((byte, index) => byte === b[index]);
      for (const left of [a, binary(a)]) {
        for (const right of [b, binary(b)]) expect(constantTimeEqual(left, right)).toBe(same);
      }
    }),
  );
  // A character above U+00FF equals no byte, in either position.
  expect(constantTimeEqual(Uint8Array.of(0), '\u0100')).toBe(false);
  expect(constantTimeEqual('\u0100', '\u0000')).toBe(false);
});

// The one-character-per-turn loop constantTimeEqual ran for a binary string against bytes before
// session 25's four-per-turn loop (the reference its fast path is held to).
function referenceBinaryVersusBytes(a: string, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ (b[i] ?? 0);
  return diff === 0;
}

it('a binary string against bytes of the same length answers as the one-per-turn reference loop', () => {
  // Equal lengths of every remainder mod 4, characters above U+00FF included, differences anywhere.
  const pair = fc
    .integer({ min: 0, max: 67 })
    .chain((length) =>
      fc.tuple(
        fc.uint8Array({ minLength: length, maxLength: length }),
        fc.array(fc.tuple(fc.nat(length), fc.integer({ min: 0, max: 0x1ff })), { maxLength: 3 }),
      ),
    );
  fc.assert(
    fc.property(pair, ([bytes, changes]) => {
      const codes = [...bytes] as number[];
      for (const [index, code] of changes) if (index < codes.length) codes[index] = code;
      const text = String.fromCharCode(...codes);
      expect(constantTimeEqual(text, bytes)).toBe(referenceBinaryVersusBytes(text, bytes));
      expect(constantTimeEqual(text, bytes)).toBe(codes.every((code, index) => code === bytes[index]));
    }),
    { numRuns: 3000 },
  );
});

it('a binary string against bytes reads every byte once whatever the contents (no early exit)', () => {
  // The bytes behind a Proxy that counts each index read: an early exit at the first difference
  // (or a skip after one) would read fewer indexes when the difference comes first than when none.
  for (const length of [31, 32, 33, 48, 64]) {
    const mac = Uint8Array.from({ length }, (_, index) => (index * 37 + 11) & 0xff);
    const same = String.fromCharCode(...mac);
    const cases = [
      same,
      `\u0000${same.slice(1)}`, // the first byte differs
      `${same.slice(0, length >> 1)}\u00ff${same.slice((length >> 1) + 1)}`, // the middle one
      `${same.slice(0, -1)}\u0100`, // the last, with a character no byte equals
      '\u00aa'.repeat(length), // all of them
    ];
    for (const text of cases) {
      const reads = new Array<number>(length).fill(0);
      const counted = new Proxy(mac, {
        get(target, property) {
          if (typeof property === 'string' && /^\d+$/.test(property)) reads[Number(property)]!++;
          const value = Reflect.get(target, property);
          return value;
        },
      });
      expect(constantTimeEqual(text, counted)).toBe(text === same);
      expect(reads).toEqual(new Array<number>(length).fill(1));
    }
  }
});
