import { createHmac } from 'node:crypto';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { hmacSha256HexOfText, hmacSha256MatchesAscii, hmacSha256OfAscii } from '../src/primitives/hmac-sha256.js';
import { hmacSha256Pads } from '../src/primitives/prepared-key.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

it('hmacSha256OfAscii is HMAC-SHA256 of the latin-1 bytes of an ASCII text, for any key length', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 150 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)), maxLength: 600 }),
      (key, text) => {
        const mac = hmacSha256OfAscii(nodeCryptoProvider, key, text);
        expect(mac).toBeDefined();
        expect(hex(mac!)).toBe(createHmac('sha256', key).update(text, 'latin1').digest('hex'));
      },
    ),
  );
});

it('hmacSha256OfAscii declines non-ASCII and over-long texts (the caller MACs their latin-1 bytes itself)', () => {
  const key = new Uint8Array(32).fill(3);
  expect(hmacSha256OfAscii(nodeCryptoProvider, key, 'caf\u00e9')).toBeUndefined();
  expect(hmacSha256OfAscii(nodeCryptoProvider, key, '\u20ac')).toBeUndefined();
  expect(hmacSha256OfAscii(nodeCryptoProvider, key, 'x'.repeat(5000))).toBeUndefined();
  // The same secret array mutated in place gets fresh pads, not the cached ones.
  const secret = new Uint8Array(32).fill(1);
  const before = hex(hmacSha256OfAscii(nodeCryptoProvider, secret, 'base')!);
  secret[0] = 2;
  expect(hex(hmacSha256OfAscii(nodeCryptoProvider, secret, 'base')!)).toBe(
    createHmac('sha256', secret).update('base').digest('hex'),
  );
  expect(hex(hmacSha256OfAscii(nodeCryptoProvider, secret, 'base')!)).not.toBe(before);
});

it('hmacSha256HexOfText is the hex of hmacSha256OfText, with and without the provider string methods', () => {
  const { hashString: _hashString, hmacString: _hmacString, ...bytesOnly } = nodeCryptoProvider;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.string({ maxLength: 300 }), (key, text) => {
      const expected = createHmac('sha256', key).update(text, 'utf8').digest('hex');
      expect(hmacSha256HexOfText(nodeCryptoProvider, hmacSha256Pads(key), text)).toBe(expected);
      expect(hmacSha256HexOfText(bytesOnly, hmacSha256Pads(key), text)).toBe(expected);
    }),
  );
});

it('hmacSha256MatchesAscii answers as comparing createHmac() with the presented bytes, with and without hashString', () => {
  const { hashString: _hashString, hmacString: _hmacString, ...bytesOnly } = nodeCryptoProvider;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 100 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((code) => String.fromCharCode(code)), maxLength: 400 }),
      fc.constantFrom('right', 'flipped', 'short', 'long', 'empty'),
      fc.nat({ max: 31 }),
      (key, text, presentedKind, at) => {
        const mac = new Uint8Array(createHmac('sha256', key).update(text, 'latin1').digest());
        let presented = mac;
        if (presentedKind === 'flipped') {
          presented = mac.slice();
          presented[at]! ^= 1 << (at % 8);
        } else if (presentedKind === 'short') presented = mac.subarray(0, 31);
        else if (presentedKind === 'long') presented = Uint8Array.from([...mac, 0]);
        else if (presentedKind === 'empty') presented = new Uint8Array(0);
        for (const provider of [nodeCryptoProvider, bytesOnly]) {
          expect(hmacSha256MatchesAscii(provider, key, text, presented)).toBe(presentedKind === 'right');
        }
      },
    ),
  );
  const key = new Uint8Array(32).fill(5);
  expect(hmacSha256MatchesAscii(nodeCryptoProvider, key, 'caf\u00e9', new Uint8Array(32))).toBeUndefined();
  expect(hmacSha256MatchesAscii(nodeCryptoProvider, key, 'x'.repeat(5000), new Uint8Array(32))).toBeUndefined();
});
