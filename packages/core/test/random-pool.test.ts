import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toBase64Url } from '../src/primitives/encoding.js';
import { RANDOM_POOL_BYTES, randomHexToken, randomToken } from '../src/primitives/random-pool.js';
import type { CryptoProvider } from '../src/types.js';

/**
 * A provider whose random bytes are a numbered stream (the position of every byte in it is known),
 * keeping every array it handed out so the test can look at the pool's memory afterwards.
 */
function streamProvider() {
  const handedOut: Uint8Array[] = [];
  let position = 0;
  // Byte i of the stream: 32-bit position counter spread over 4 bytes, so that no two 16-byte
  // windows that start at multiples of 4 are equal within the first 2^32 bytes.
  const byteAt = (index: number) => (Math.floor(index / 4) >>> ((index % 4) * 8)) & 0xff;
  const provider: CryptoProvider = {
    ...nodeCryptoProvider,
    randomBytes(length: number) {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = byteAt(position + i);
      position += length;
      handedOut.push(out);
      return out;
    },
  };
  return { provider, handedOut, byteAt, sizes: () => handedOut.map((bytes) => bytes.length) };
}

describe('randomToken: nonces from a pool of CSPRNG bytes', () => {
  it('hands out each byte of the stream at most once, in order, across refills', () => {
    const { provider, handedOut, byteAt } = streamProvider();
    const taken: number[] = [];
    for (let i = 0; i < 2_000; i++) taken.push(...fromBase64(randomToken(provider, 16))!);
    // Every token is the next 16 unread bytes of the current pool; a refill drops the unread
    // tail of the old pool (fewer than 16 bytes) and starts at the new pool's first byte.
    let streamStart = 0;
    let expected: number[] = [];
    for (const pool of handedOut) {
      const usable = pool.length - (pool.length % 16);
      for (let i = 0; i < usable; i++) expected.push(byteAt(streamStart + i));
      streamStart += pool.length;
    }
    expected = expected.slice(0, taken.length);
    expect(taken).toEqual(expected);
    // So no two tokens share a stream position: all 2,000 are distinct.
    const tokens = new Set<string>();
    for (let i = 0; i < taken.length; i += 16) tokens.add(taken.slice(i, i + 16).join(','));
    expect(tokens.size).toBe(2_000);
  });

  it('zeroes what it handed out: the pool memory holds no issued nonce', () => {
    const { provider, handedOut } = streamProvider();
    for (let i = 0; i < 300; i++) randomToken(provider, 16);
    // Every pool but the current one was wiped whole at its refill; the current one up to its read offset.
    for (const pool of handedOut.slice(0, -1)) expect(pool.every((byte) => byte === 0)).toBe(true);
    const current = handedOut.at(-1)!;
    const issuedFromCurrent = 300 * 16 - handedOut.slice(0, -1).reduce((sum, pool) => sum + pool.length, 0);
    expect(issuedFromCurrent).toBeGreaterThan(0);
    expect(current.subarray(0, issuedFromCurrent).every((byte) => byte === 0)).toBe(true);
    expect(current.subarray(issuedFromCurrent).some((byte) => byte !== 0)).toBe(true);
  });

  it('starts small and doubles each refill up to 4 KiB (a provider object made for one call costs 64 bytes)', () => {
    const { provider, sizes } = streamProvider();
    for (let i = 0; i < 2_000; i++) randomToken(provider, 16);
    const seen = sizes();
    expect(seen.slice(0, 7)).toEqual([64, 128, 256, 512, 1024, 2048, 4096]);
    expect(seen.slice(7).every((size) => size === RANDOM_POOL_BYTES)).toBe(true);
    expect(RANDOM_POOL_BYTES).toBe(4096);
  });

  it('keeps one pool per provider: bytes of one provider never end up in another provider’s nonces', () => {
    const zeros: CryptoProvider = { ...nodeCryptoProvider, randomBytes: (length) => new Uint8Array(length).fill(7) };
    const first = randomToken(zeros, 16);
    const real = new Set(Array.from({ length: 1_000 }, () => randomToken(nodeCryptoProvider, 16)));
    expect(first).toBe(Buffer.alloc(16, 7).toString('base64url'));
    expect(real.has(first)).toBe(false);
    expect(real.size).toBe(1_000);
    for (const token of real) expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('refuses a provider that returns fewer bytes than asked, and lengths outside 1..64', () => {
    const short: CryptoProvider = { ...nodeCryptoProvider, randomBytes: () => new Uint8Array(8) };
    expect(() => randomToken(short, 16)).toThrow(TypeError);
    expect(() => randomToken(nodeCryptoProvider, 0)).toThrow(TypeError);
    expect(() => randomToken(nodeCryptoProvider, 65)).toThrow(TypeError);
    expect(() => randomToken(nodeCryptoProvider, 1.5)).toThrow(TypeError);
  });
});

it('toBase64Url (the nonce encoding) is base64url without padding: node:crypto and the standard alphabet agree', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 70 }), (bytes) => {
      expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
      expect(toBase64Url(bytes)).toBe(toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
    }),
  );
});

it('randomHexToken takes from the same pool: hex and base64url tokens are consecutive, never shared, bytes', () => {
  const { provider, handedOut, byteAt } = streamProvider();
  const hex = randomHexToken(provider, 16);
  const url = randomToken(provider, 16);
  const stream = (from: number) => Array.from({ length: 16 }, (_, i) => byteAt(from + i));
  expect(hex).toBe(Buffer.from(stream(0)).toString('hex'));
  expect([...fromBase64(url)!]).toEqual(stream(16));
  expect(handedOut[0]!.subarray(0, 32).every((byte) => byte === 0)).toBe(true);
});

it('a provider that refills one reused buffer still yields random, distinct nonces (the old pool is wiped before the refill)', () => {
  const buffers = new Map<number, Uint8Array>();
  const reusing: CryptoProvider = {
    ...nodeCryptoProvider,
    randomBytes(length) {
      let buffer = buffers.get(length);
      if (buffer === undefined) {
        buffer = new Uint8Array(length);
        buffers.set(length, buffer);
      }
      buffer.set(nodeCryptoProvider.randomBytes(length));
      return buffer;
    },
  };
  const tokens = new Set(Array.from({ length: 3_000 }, () => randomToken(reusing, 16)));
  expect(tokens.size).toBe(3_000);
  expect(tokens.has(Buffer.alloc(16).toString('base64url'))).toBe(false);
});
