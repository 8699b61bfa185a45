import { createHash, createHmac } from 'node:crypto';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { webCryptoProvider } from '../src/primitives/crypto.js';
import { hmacSha256HexOfText, hmacSha256OfAscii, hmacSha256OfText } from '../src/primitives/hmac-sha256.js';
import {
  DERIVED_KEYS_PER_SECRET,
  forgetPreparedKey,
  hmacSha256Pads,
  PreparedKey,
  preparedKey,
} from '../src/primitives/prepared-key.js';
import { sha2Hmac } from '../src/primitives/sha2.js';
import type { HashAlgorithm } from '../src/types.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

/** The RFC 4231 cases of one algorithm (the truncated-output case 5 is not in the file). */
function rfc4231(algorithm: 'sha256' | 'sha384' | 'sha512') {
  const text = readPublishedVector(`rfc4231/rfc-4231-${algorithm}.txt`);
  const cases: { key: Uint8Array; message: Uint8Array; mac: string }[] = [];
  let current: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^(Key|Msg|MD) = ([0-9a-f]*)$/.exec(line.trim());
    if (!match) continue;
    current[match[1]!] = match[2]!;
    if (match[1] === 'MD') {
      cases.push({ key: bytes(current.Key!), message: bytes(current.Msg!), mac: current.MD! });
      current = {};
    }
  }
  return cases;
}

describe('HMAC from prepared key material against RFC 4231', () => {
  for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
    const cases = rfc4231(algorithm);
    it(`${algorithm}: ${cases.length} published cases through every provider (keys shorter and longer than a block)`, async () => {
      expect(cases.length).toBe(6);
      expect(cases.some(({ key }) => key.length > 128)).toBe(true);
      for (const { key, message, mac } of cases) {
        expect(hex(createHmac(algorithm, key).update(message).digest())).toBe(mac);
        expect(hex(sha2Hmac(algorithm, key, message))).toBe(mac);
        expect(hex(nodeCryptoProvider.hmac(algorithm, key, message) as Uint8Array)).toBe(mac);
        // Twice: the second call takes the CryptoKey the prepared key imported on the first.
        expect(hex(await webCryptoProvider.hmac(algorithm, key, message))).toBe(mac);
        expect(hex(await webCryptoProvider.hmac(algorithm, key, message))).toBe(mac);
      }
    });
  }

  it('sha256 pads: H(outer || H(inner || message)) is the published MAC, and the text helpers agree', () => {
    for (const { key, message, mac } of rfc4231('sha256')) {
      const pads = hmacSha256Pads(key);
      const inner = createHash('sha256').update(pads.inner).update(message).digest();
      expect(createHash('sha256').update(pads.outer).update(inner).digest('hex')).toBe(mac);
      expect(hex(preparedKey(key).hmacSha256Pads().inner)).toBe(hex(pads.inner));
      const text = Buffer.from(message).toString('latin1');
      if (message.every((byte) => byte < 0x80)) {
        expect(hex(hmacSha256OfAscii(nodeCryptoProvider, key, text)!)).toBe(mac);
        expect(hex(hmacSha256OfText(nodeCryptoProvider, pads, text))).toBe(mac);
        expect(hmacSha256HexOfText(nodeCryptoProvider, pads, text)).toBe(mac);
      }
    }
  });
});

describe('preparedKey: one PreparedKey per secret array', () => {
  it('returns the same object for the same unchanged array, and keeps its own copy of the bytes', () => {
    const secret = new Uint8Array(32).fill(5);
    const prepared = preparedKey(secret);
    expect(preparedKey(secret)).toBe(prepared);
    expect(prepared.bytes).not.toBe(secret);
    expect(hex(prepared.bytes)).toBe(hex(secret));
    // Another array with the same bytes is another secret object: prepared on its own.
    expect(preparedKey(secret.slice())).not.toBe(prepared);
  });

  it('notices an array mutated in place: a fresh preparation, the stale one wiped', async () => {
    const secret = new Uint8Array(32).fill(1);
    const stale = preparedKey(secret);
    const pads = stale.hmacSha256Pads();
    const before = hex(await webCryptoProvider.hmac('sha256', secret, bytes('00')));
    secret[0] = 2;
    const fresh = preparedKey(secret);
    expect(fresh).not.toBe(stale);
    expect(stale.wiped).toBe(true);
    expect(pads.inner.every((byte) => byte === 0)).toBe(true);
    expect(pads.outer.every((byte) => byte === 0)).toBe(true);
    expect(() => stale.bytes).toThrow(TypeError);
    const after = hex(await webCryptoProvider.hmac('sha256', secret, bytes('00')));
    expect(after).toBe(createHmac('sha256', secret).update(bytes('00')).digest('hex'));
    expect(after).not.toBe(before);
  });

  // preparedKey() compares the copy with its source array 32 bits at a time (matchesSource) when
  // the array is word aligned: it must answer as the byte comparison (matches) for any length,
  // offset, mutation and buffer change, and a mutation anywhere must give a fresh preparation.
  it('matchesSource answers as matches for any length, offset and in-place mutation (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(40),
        fc.nat(7),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        (length, offset, mutations) => {
          const buffer = new ArrayBuffer(offset + length + 8);
          const secret = new Uint8Array(buffer, offset, length).map((_, i) => (i * 37 + 11) & 0xff);
          const key = new PreparedKey(secret);
          const prepared = preparedKey(secret);
          expect(key.matchesSource(secret)).toBe(true);
          // Bytes around the array are not the secret's: changing them changes nothing.
          new Uint8Array(buffer).fill(0xee, 0, offset);
          expect(key.matchesSource(secret)).toBe(key.matches(secret));
          let mutated = false;
          for (const [at, delta] of mutations) {
            if (length === 0) break;
            secret[at % length] = (secret[at % length]! + delta) & 0xff;
            mutated = true;
            expect(key.matchesSource(secret)).toBe(key.matches(secret));
          }
          expect(key.matchesSource(secret)).toBe(!mutated || key.matches(secret));
          const again = preparedKey(secret);
          expect(again === prepared).toBe(!mutated || prepared.matches(secret));
          expect(again.bytes).toEqual(secret);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('matchesSource after the source buffer is detached or resized answers as matches', () => {
    const secret = new Uint8Array(32).fill(3);
    const key = new PreparedKey(secret);
    structuredClone(secret.buffer, { transfer: [secret.buffer] });
    expect(secret.length).toBe(0);
    expect(key.matchesSource(secret)).toBe(false);
    expect(key.matches(secret)).toBe(false);

    // ES2024 resizable buffers (Node 20): typed through a cast, the test's lib predates them.
    const resizable = new (
      ArrayBuffer as unknown as new (
        length: number,
        options: { maxByteLength: number },
      ) => ArrayBuffer & { resize(length: number): void }
    )(32, { maxByteLength: 64 });
    const tracking = new Uint8Array(resizable).fill(4);
    const tracked = new PreparedKey(tracking);
    expect(tracked.matchesSource(tracking)).toBe(true);
    resizable.resize(16);
    expect(tracked.matchesSource(tracking)).toBe(tracked.matches(tracking));
    expect(tracked.matchesSource(tracking)).toBe(false);
    resizable.resize(32);
    // Grown back: the last 16 bytes are zero now, not 4.
    expect(tracked.matchesSource(tracking)).toBe(tracked.matches(tracking));
    expect(tracked.matchesSource(tracking)).toBe(false);
    tracking.fill(4);
    expect(tracked.matchesSource(tracking)).toBe(true);
    tracked.wipe();
    expect(tracked.matchesSource(tracking)).toBe(false);
  });

  it('forgetPreparedKey wipes now; the next use prepares again', () => {
    const secret = new Uint8Array(32).fill(9);
    const prepared = preparedKey(secret);
    const copy = prepared.bytes;
    forgetPreparedKey(secret);
    expect(prepared.wiped).toBe(true);
    expect(copy.every((byte) => byte === 0)).toBe(true);
    const again = preparedKey(secret);
    expect(again).not.toBe(prepared);
    expect(hex(again.bytes)).toBe(hex(secret));
  });

  it(`keeps at most ${DERIVED_KEYS_PER_SECRET} derived keys; the evicted one is dropped, not wiped (a request may hold it)`, async () => {
    const key = new PreparedKey(new Uint8Array(32).fill(4));
    let derivations = 0;
    const derive = (id: number) => async (secret: Uint8Array) => {
      derivations++;
      return new Uint8Array(createHmac('sha256', secret).update(String(id)).digest());
    };
    const first = await key.derived('scope-0', derive(0));
    const firstPads = first.hmacSha256Pads();
    // Known: the prepared key itself, no promise, no second derivation.
    expect(key.derived('scope-0', derive(0))).toBe(first);
    for (let i = 1; i < DERIVED_KEYS_PER_SECRET; i++) await key.derived(`scope-${i}`, derive(i));
    expect(derivations).toBe(DERIVED_KEYS_PER_SECRET);
    expect(first.wiped).toBe(false);
    await key.derived('one-more', derive(99));
    // Still usable by whoever holds it (review5: wiping it failed genuine requests in flight).
    expect(first.wiped).toBe(false);
    expect(firstPads.inner.every((byte) => byte === 0)).toBe(false);
    // Asked again, it is derived again (same bytes as before).
    const again = await key.derived('scope-0', derive(0));
    expect(again).not.toBe(first);
    expect(hex(again.bytes)).toBe(createHmac('sha256', new Uint8Array(32).fill(4)).update('0').digest('hex'));
  });

  it('wipe() zeroes the secret copy, the pads and every derived key', async () => {
    const key = new PreparedKey(new Uint8Array(40).fill(8));
    const copy = key.bytes;
    const pads = key.hmacSha256Pads();
    const derived = await key.derived('d', async (secret) => secret.slice(0, 16));
    key.wipe();
    for (const buffer of [copy, pads.inner, pads.outer]) expect(buffer.every((byte) => byte === 0)).toBe(true);
    expect(derived.wiped).toBe(true);
    expect(() => key.hmacSha256Pads()).toThrow(TypeError);
  });

  it('pads for every key length agree with node:crypto (hashing keys longer than a block)', () => {
    for (const length of [0, 1, 31, 32, 63, 64, 65, 100, 131]) {
      const key = new Uint8Array(length).map((_, i) => (i * 7 + 3) & 0xff);
      const message = 'GET /items?x=1';
      const expected = createHmac('sha256', key).update(message).digest('hex');
      expect(hmacSha256HexOfText(nodeCryptoProvider, preparedKey(key).hmacSha256Pads(), message)).toBe(expected);
    }
  });

  it('algorithm names of the CryptoKey cache are per algorithm (one secret, three hashes)', async () => {
    const secret = new Uint8Array(32).fill(6);
    const data = bytes('616263');
    for (const algorithm of ['sha256', 'sha384', 'sha512'] as HashAlgorithm[]) {
      expect(hex(await webCryptoProvider.hmac(algorithm, secret, data))).toBe(
        createHmac(algorithm, secret).update(data).digest('hex'),
      );
    }
  });
});
