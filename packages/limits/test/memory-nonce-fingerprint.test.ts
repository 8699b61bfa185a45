import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nonceFingerprint, randomFingerprintKey } from '../src/nonce-fingerprint.js';
import { exactNonceModel } from './exact-nonce-model.js';

const start = 1_700_000_000_000;

/** HalfSipHash-c-d with 64-bit output over bytes, written from the specification (byte by byte, slow, plain). */
function halfSipHash(bytes: Uint8Array, k0: number, k1: number, cRounds: number, dRounds: number): [number, number] {
  const v = [k0 >>> 0, (k1 ^ 0xee) >>> 0, (0x6c796765 ^ k0) >>> 0, (0x74656462 ^ k1) >>> 0];
  const rotl = (x: number, b: number) => ((x << b) | (x >>> (32 - b))) >>> 0;
  const round = () => {
    v[0] = (v[0]! + v[1]!) >>> 0;
    v[1] = rotl(v[1]!, 5) ^ v[0]!;
    v[0] = rotl(v[0]!, 16);
    v[2] = (v[2]! + v[3]!) >>> 0;
    v[3] = rotl(v[3]!, 8) ^ v[2]!;
    v[0] = (v[0]! + v[3]!) >>> 0;
    v[3] = rotl(v[3]!, 7) ^ v[0]!;
    v[2] = (v[2]! + v[1]!) >>> 0;
    v[1] = rotl(v[1]!, 13) ^ v[2]!;
    v[2] = rotl(v[2]!, 16);
  };
  const compress = (m: number) => {
    v[3] = (v[3]! ^ m) >>> 0;
    for (let r = 0; r < cRounds; r++) round();
    v[0] = (v[0]! ^ m) >>> 0;
  };
  const whole = bytes.length - (bytes.length % 4);
  for (let at = 0; at < whole; at += 4) {
    compress((bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0);
  }
  let last = (bytes.length & 0xff) << 24;
  for (let at = whole; at < bytes.length; at++) last |= bytes[at]! << (8 * (at - whole));
  compress(last >>> 0);
  v[2] = (v[2]! ^ 0xee) >>> 0;
  for (let r = 0; r < dRounds; r++) round();
  const first = (v[1]! ^ v[3]!) >>> 0;
  v[1] = (v[1]! ^ 0xdd) >>> 0;
  for (let r = 0; r < dRounds; r++) round();
  return [first, (v[1]! ^ v[3]!) >>> 0];
}

/** The documented encoding of a pair: LE32(keyId.length) ‖ UTF-16LE(keyId) ‖ pad to 4 bytes ‖ UTF-16LE(nonce). */
function encodePair(keyId: string, nonce: string): Uint8Array {
  const keyBytes = 2 * keyId.length + (keyId.length % 2 === 1 ? 2 : 0);
  const bytes = new Uint8Array(4 + keyBytes + 2 * nonce.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, keyId.length, true);
  for (let i = 0; i < keyId.length; i++) view.setUint16(4 + 2 * i, keyId.charCodeAt(i), true);
  for (let i = 0; i < nonce.length; i++) view.setUint16(4 + keyBytes + 2 * i, nonce.charCodeAt(i), true);
  return bytes;
}

const hex = ([first, second]: [number, number]) => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setUint32(0, first, true);
  new DataView(bytes.buffer).setUint32(4, second, true);
  return Buffer.from(bytes).toString('hex');
};

describe('nonceFingerprint', () => {
  it('uses HalfSipHash as specified: the reference implementation matches the official 64-bit vectors', () => {
    // vectors_hsip64 of the SipHash reference (HalfSipHash-2-4, key 00..07, input 00..i-1), first 19.
    // Source: https://github.com/veorq/SipHash vectors.h (Aumasson; the reference code is dedicated to
    // the public domain under CC0 1.0). The production code runs 1-3 rounds, for which no official
    // vectors exist: it is held to this reference implementation (verified here at 2-4) at 1-3 below.
    const official = [
      '218d1f59b9b83cc8',
      'be552412f8387315',
      '064f39ef7c50eb57',
      'ce0f1a45f7060679',
      'd5e78a175be52ea1',
      'cb9d7c3f2f3db580',
      'ce3e91358aa2bc25',
      'ff202728b07bc684',
      'edfee820bce4858c',
      '5b51cccc13888307',
      '95b0469f06a6f2ee',
      'ae26333994ddcd48',
      '7bc71f9faef5c799',
      '5a2352d75a0c3744',
      '3bb1a870eae8e658',
      '217d0bcb4e81c902',
      '7336aad25f7bf3b5',
      '37adc0641c4c4f6a',
      'c9b2db2b9a3e42f9',
    ];
    for (const [length, expected] of official.entries()) {
      const input = Uint8Array.from({ length }, (_, i) => i);
      expect(hex(halfSipHash(input, 0x03020100, 0x07060504, 2, 4))).toBe(expected);
    }
  });

  it('is HalfSipHash-1-3 of the documented encoding of the pair, for any strings', () => {
    const out = new Int32Array(2);
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 140 }),
        fc.integer(),
        fc.integer(),
        (keyId, nonce, k0, k1) => {
          const key = { k0: k0 >>> 0, k1: k1 >>> 0 };
          nonceFingerprint(key, keyId, nonce, out);
          expect([out[0]! >>> 0, out[1]! >>> 0]).toEqual(halfSipHash(encodePair(keyId, nonce), key.k0, key.k1, 1, 3));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps the key id prefix of the last pair only while key and key id are the same: sequences of pairs as the reference', () => {
    // nonceFingerprint absorbs the key id's words once per (key, key id) and reuses that state:
    // pairs sharing key ids, alternating keys (equal by value or not) and key ids that differ in one
    // code unit or in length must all hash as the reference does, in any order.
    const out = new Int32Array(2);
    const keys = [
      { k0: 1, k1: 2 },
      { k0: 1, k1: 3 },
      { k0: 7, k1: 2 },
    ];
    const keyIdText = fc.constantFrom('', 'a', 'hk_1', 'hk_2', 'hk_10', 'hk_1\u00e9', 'hk_live_0123456789');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(2), keyIdText, fc.string({ unit: 'binary', maxLength: 30 }), fc.boolean()), {
          minLength: 1,
          maxLength: 12,
        }),
        (pairs) => {
          for (const [keyIndex, keyId, nonce, copy] of pairs) {
            // A copy: the same key by value in another object.
            const key = copy ? { ...keys[keyIndex]! } : keys[keyIndex]!;
            nonceFingerprint(key, keyId, nonce, out);
            expect([out[0]! >>> 0, out[1]! >>> 0]).toEqual(
              halfSipHash(encodePair(keyId, nonce), key.k0 >>> 0, key.k1 >>> 0, 1, 3),
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('hashes pairs longer than the shared message buffer (1024 words) as the reference does, before and after', () => {
    const out = new Int32Array(2);
    const key = { k0: 0x01234567, k1: 0x89abcdef };
    const short = () => {
      nonceFingerprint(key, 'hk_a', 'n1', out);
      expect([out[0]! >>> 0, out[1]! >>> 0]).toEqual(halfSipHash(encodePair('hk_a', 'n1'), key.k0, key.k1, 1, 3));
    };
    short();
    // 2046 + 2047 code units: right at, then past, the shared buffer's 1024 words, odd lengths included.
    for (const length of [2040, 2041, 2044, 2045, 2046, 2047, 5001, 100_000]) {
      const nonce = 'x\u00e9\ud800'.repeat(Math.ceil(length / 3)).slice(0, length);
      nonceFingerprint(key, 'hk_long', nonce, out);
      expect([out[0]! >>> 0, out[1]! >>> 0]).toEqual(halfSipHash(encodePair('hk_long', nonce), key.k0, key.k1, 1, 3));
      short();
    }
  });

  it('tells apart pairs whose concatenations are equal', () => {
    const key = randomFingerprintKey();
    const first = new Int32Array(2);
    const second = new Int32Array(2);
    nonceFingerprint(key, 'a:b', 'c', first);
    nonceFingerprint(key, 'a', 'b:c', second);
    expect([...first]).not.toEqual([...second]);
    nonceFingerprint(key, 'ab', '', first);
    nonceFingerprint(key, 'a', 'b', second);
    expect([...first]).not.toEqual([...second]);
  });
});

type Outcome = boolean | 'unavailable' | 'type-error';

function outcomeOf(run: () => boolean): Outcome {
  try {
    return run();
  } catch (error) {
    if (error instanceof StoreUnavailable) return 'unavailable';
    if (error instanceof TypeError) return 'type-error';
    throw error;
  }
}

describe('memoryNonceStore (fingerprints in typed arrays) against the exact model of its contract', () => {
  const operation = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('check' as const),
        keyId: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'a:b') },
          { weight: 1, arbitrary: fc.constant('hk_AAAAAAAAAAAAAAAAAAAAAA') },
        ),
        // A small alphabet so that replays are frequent, and a wide one so that the table grows.
        nonce: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('1', '2', 'b:1', '') },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 2_000 }).map(String) },
        ),
        ttlSeconds: fc.constantFrom(1, 5, 30, 0.5, 0.001, 305),
        epochOffset: fc.option(fc.constantFrom(-1, 0, 1), { nil: undefined }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('release' as const),
        keyId: fc.constantFrom('a', 'b', 'a:b'),
        nonce: fc.constantFrom('1', '2', 'b:1', ''),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('bad-arguments' as const) }) },
  );
  const step = fc.record({
    // Mostly forward, sometimes not at all, sometimes back (a clock set back).
    advanceMs: fc.oneof(
      fc.constant(0),
      fc.integer({ min: 0, max: 2_000 }),
      fc.integer({ min: 0, max: 40_000 }),
      fc.integer({ min: -3_000, max: 0 }),
    ),
    operation,
    repeat: fc.oneof(
      { weight: 5, arbitrary: fc.constant(1) },
      { weight: 1, arbitrary: fc.integer({ min: 2, max: 300 }) },
    ),
  });

  it('answers every operation as the reference does, under an injected clock', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 120 }), fc.integer({ min: 1, max: 600 }), (steps, maxEntries) => {
        let now = start;
        const store = memoryNonceStore({ maxEntries, now: () => now });
        const reference = exactNonceModel({ maxEntries, now: () => now });
        expect(store.epoch!()).toBe(reference.epoch!());
        let serial = 0;
        for (const { advanceMs, operation, repeat } of steps) {
          now += advanceMs;
          for (let time = 0; time < repeat; time++) {
            if (operation.kind === 'release') {
              void store.release!(operation.keyId, operation.nonce);
              void reference.release!(operation.keyId, operation.nonce);
            } else if (operation.kind === 'bad-arguments') {
              expect(outcomeOf(() => store.checkAndStoreNow('k', 'n', 0))).toBe('type-error');
              expect(outcomeOf(() => store.checkAndStoreNow('k', 5 as unknown as string, 1))).toBe('type-error');
            } else {
              // Repeated steps go through 700 nonces in turn: the table grows and shrinks as they expire,
              // and later steps check earlier ones again (replays of records moved by deletions).
              const nonce = repeat === 1 ? operation.nonce : `${serial++ % 700}`;
              const epoch =
                operation.epochOffset === undefined ? undefined : (store.epoch!() as number) + operation.epochOffset;
              const expected = outcomeOf(() =>
                reference.checkAndStoreNow(operation.keyId, nonce, operation.ttlSeconds, epoch),
              );
              expect(outcomeOf(() => store.checkAndStoreNow(operation.keyId, nonce, operation.ttlSeconds, epoch))).toBe(
                expected,
              );
            }
          }
        }
      }),
      { numRuns: 600 },
    );
  });

  it('gives the same answers through the promise API', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 8 }), async (steps, maxEntries) => {
        let now = start;
        const store = memoryNonceStore({ maxEntries, now: () => now });
        const reference = exactNonceModel({ maxEntries, now: () => now });
        const settle = (promise: Promise<boolean>) =>
          promise.then(
            (fresh): Outcome => fresh,
            (error: unknown): Outcome => (error instanceof StoreUnavailable ? 'unavailable' : 'type-error'),
          );
        for (const { advanceMs, operation } of steps) {
          now += advanceMs;
          if (operation.kind === 'release') {
            await store.release!(operation.keyId, operation.nonce);
            await reference.release!(operation.keyId, operation.nonce);
          } else if (operation.kind === 'check') {
            const expected = await settle(
              reference.checkAndStore(operation.keyId, operation.nonce, operation.ttlSeconds),
            );
            expect(await settle(store.checkAndStore(operation.keyId, operation.nonce, operation.ttlSeconds))).toBe(
              expected,
            );
          } else {
            await expect(store.release!(5 as unknown as string, 'n')).rejects.toBeInstanceOf(TypeError);
            await expect(store.checkAndStore('k', 'n', -1)).rejects.toBeInstanceOf(TypeError);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a pair recorded again after release() until its own expiry, whatever the stale queue entry says', async () => {
    let now = start;
    const store = memoryNonceStore({ now: () => now });
    // Expiries t+5 s (ring), then released and recorded again until t+1+30 s (ring, later).
    expect(store.checkAndStoreNow('k', 'n', 5)).toBe(true);
    await store.release!('k', 'n');
    now += 1_000;
    expect(store.checkAndStoreNow('k', 'n', 30)).toBe(true);
    now += 10_000; // past the stale entry's expiry
    expect(store.checkAndStoreNow('k', 'n', 30)).toBe(false);
    // Recorded again with a shorter time to live (the heap), released, and recorded with a longer one.
    expect(store.checkAndStoreNow('k', 'm', 30)).toBe(true);
    await store.release!('k', 'm');
    expect(store.checkAndStoreNow('k', 'm', 2)).toBe(true);
    await store.release!('k', 'm');
    expect(store.checkAndStoreNow('k', 'm', 60)).toBe(true);
    now += 31_000;
    expect(store.checkAndStoreNow('k', 'm', 60)).toBe(false);
    now += 30_000;
    expect(store.checkAndStoreNow('k', 'm', 60)).toBe(true);
  });

  it('forgets a pair released and recorded again with a shorter TTL at the end of that TTL, not the released one', async () => {
    // The string-based store this replaced kept it until the released record's expiry (its stale count
    // was spent by whichever queue entry of the pair came first): a fresh request refused as a replay,
    // and the property test above, held to that store, failed on this sequence (review10).
    let now = start;
    for (const store of [memoryNonceStore({ now: () => now }), exactNonceModel({ now: () => now })]) {
      now = start;
      expect(store.checkAndStoreNow('k', 'n', 30)).toBe(true);
      await store.release!('k', 'n');
      expect(store.checkAndStoreNow('k', 'n', 1)).toBe(true);
      now += 999;
      expect(store.checkAndStoreNow('k', 'n', 1)).toBe(false);
      now += 1;
      expect(store.checkAndStoreNow('k', 'n', 30)).toBe(true);
      now += 29_999;
      expect(store.checkAndStoreNow('k', 'n', 30)).toBe(false);
    }
  });

  it('holds 5 000 entries through growth, refuses each replay, forgets them on expiry and shrinks back', () => {
    let now = start;
    const store = memoryNonceStore({ maxEntries: 5_000, now: () => now });
    for (let index = 0; index < 5_000; index++) expect(store.checkAndStoreNow('hk_1', `n${index}`, 305)).toBe(true);
    expect(() => store.checkAndStoreNow('hk_1', 'one-more', 305)).toThrow(StoreUnavailable);
    for (let index = 0; index < 5_000; index++) expect(store.checkAndStoreNow('hk_1', `n${index}`, 305)).toBe(false);
    now += 305_000;
    // All expired: room again, and every nonce is fresh once more.
    for (let index = 0; index < 5_000; index += 7) expect(store.checkAndStoreNow('hk_1', `n${index}`, 1)).toBe(true);
    now += 1_000;
    expect(store.checkAndStoreNow('hk_1', 'n0', 1)).toBe(true);
    expect(store.checkAndStoreNow('hk_1', 'n0', 1)).toBe(false);
  });
});
