import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { webCryptoProvider } from '../src/primitives/crypto.js';
import { toHex, utf8 } from '../src/primitives/encoding.js';
import { createSha2, createSha2Hmac, sha2 } from '../src/primitives/sha2.js';
import type { HashAlgorithm } from '../src/types.js';

const algorithms: HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
const algorithm = fc.constantFrom(...algorithms);

/** Splits `data` at the given (sorted, deduplicated) cut points. */
function split(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    parts.push(data.subarray(start, p));
    start = p;
  }
  parts.push(data.subarray(start));
  return parts;
}

describe('pure-TS SHA-2', () => {
  it('matches the FIPS 180-4 "abc" examples', () => {
    expect(toHex(sha2('sha256', utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(toHex(sha2('sha384', utf8('abc')))).toBe(
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
    );
    expect(toHex(sha2('sha512', utf8('abc')))).toBe(
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
    );
  });

  it('agrees with node:crypto on every length around the block and padding boundaries', () => {
    for (const alg of algorithms) {
      for (let length = 0; length <= 300; length++) {
        const data = new Uint8Array(length).map((_, i) => (i * 131 + length) & 0xff);
        expect(toHex(sha2(alg, data)), `${alg} length ${length}`).toBe(createHash(alg).update(data).digest('hex'));
      }
    }
  });

  it('agrees with node:crypto on random inputs split into random chunks', () => {
    fc.assert(
      fc.property(
        algorithm,
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(2000), { maxLength: 8 }),
        (alg, data, cuts) => {
          const hash = createSha2(alg);
          for (const part of split(data, cuts)) hash.update(part);
          expect(toHex(hash.digest())).toBe(createHash(alg).update(data).digest('hex'));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads whole blocks from chunks that are views into larger buffers', () => {
    const backing = new Uint8Array(1000).map((_, i) => i & 0xff);
    const view = backing.subarray(3, 700);
    for (const alg of algorithms) {
      expect(toHex(sha2(alg, view))).toBe(createHash(alg).update(view).digest('hex'));
    }
  });

  it('hashes a large body incrementally (1 MiB in 4 KiB chunks)', () => {
    const chunk = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    for (const alg of algorithms) {
      const ours = createSha2(alg);
      const node = createHash(alg);
      for (let i = 0; i < 256; i++) {
        ours.update(chunk);
        node.update(chunk);
      }
      expect(toHex(ours.digest())).toBe(node.digest('hex'));
    }
  });

  it('refuses to be used after digest() and rejects unknown algorithms with TypeError', () => {
    const hash = createSha2('sha256');
    hash.digest();
    expect(() => hash.update(new Uint8Array(1))).toThrow(TypeError);
    expect(() => hash.digest()).toThrow(TypeError);
    expect(() => createSha2('md5' as HashAlgorithm)).toThrow(TypeError);
  });
});

describe('HMAC', () => {
  it('incremental pure-TS HMAC agrees with node:crypto for random keys (incl. empty and longer than a block)', () => {
    fc.assert(
      fc.property(
        algorithm,
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 1000 }),
        fc.array(fc.nat(1000), { maxLength: 4 }),
        (alg, key, data, cuts) => {
          const mac = createSha2Hmac(alg, key);
          for (const part of split(data, cuts)) mac.update(part);
          expect(toHex(mac.digest())).toBe(createHmac(alg, key).update(data).digest('hex'));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('webCryptoProvider.hmac (WebCrypto) agrees with node:crypto, reusing cached keys safely', async () => {
    await fc.assert(
      fc.asyncProperty(
        algorithm,
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 500 }),
        async (alg, key, data) => {
          const expected = createHmac(alg, key).update(data).digest('hex');
          expect(toHex(await webCryptoProvider.hmac(alg, key, data))).toBe(expected);
          // Second call goes through the cached CryptoKey.
          expect(toHex(await webCryptoProvider.hmac(alg, key, data))).toBe(expected);
        },
      ),
      { numRuns: 100 },
    );
    // A caller that mutates its key array in place gets the new key, not a stale cached one.
    const key = new Uint8Array(32).fill(1);
    const data = utf8('data');
    await webCryptoProvider.hmac('sha256', key, data);
    key.fill(2);
    expect(toHex(await webCryptoProvider.hmac('sha256', key, data))).toBe(
      createHmac('sha256', key).update(data).digest('hex'),
    );
  });

  it('webCryptoProvider.hmac falls back to the pure-TS HMAC without crypto.subtle, and for empty keys', async () => {
    const key = new Uint8Array(32).fill(5);
    const data = utf8('insecure context');
    const expected = createHmac('sha384', key).update(data).digest('hex');
    // Browser pages on plain http have crypto.getRandomValues but no crypto.subtle.
    vi.stubGlobal('crypto', { getRandomValues: globalThis.crypto.getRandomValues.bind(globalThis.crypto) });
    try {
      expect(globalThis.crypto.subtle).toBeUndefined();
      expect(toHex(await webCryptoProvider.hmac('sha384', key, data))).toBe(expected);
    } finally {
      vi.unstubAllGlobals();
    }
    expect(toHex(await webCryptoProvider.hmac('sha256', new Uint8Array(0), data))).toBe(
      createHmac('sha256', new Uint8Array(0)).update(data).digest('hex'),
    );
  });

  it('webCryptoProvider.createHash matches WebCrypto digest', async () => {
    const data = new Uint8Array(10_000).map((_, i) => (i * 13) & 0xff);
    for (const [alg, name] of [
      ['sha256', 'SHA-256'],
      ['sha384', 'SHA-384'],
      ['sha512', 'SHA-512'],
    ] as const) {
      const hash = webCryptoProvider.createHash(alg);
      hash.update(data);
      expect(toHex(hash.digest())).toBe(toHex(new Uint8Array(await crypto.subtle.digest(name, data))));
    }
  });

  it('webCryptoProvider.randomBytes returns the requested length, beyond the 64 KiB getRandomValues limit', () => {
    const bytes = webCryptoProvider.randomBytes(70_000);
    expect(bytes.length).toBe(70_000);
    expect(bytes.subarray(66_000).some((b) => b !== 0)).toBe(true);
    expect(() => webCryptoProvider.randomBytes(-1)).toThrow(TypeError);
  });

  it('webCryptoProvider.timingSafeEqual compares contents and lengths', () => {
    const p = webCryptoProvider;
    expect(p.timingSafeEqual(utf8('abc'), utf8('abc'))).toBe(true);
    expect(p.timingSafeEqual(utf8('abc'), utf8('abd'))).toBe(false);
    expect(p.timingSafeEqual(utf8('abc'), utf8('abcd'))).toBe(false);
    expect(p.timingSafeEqual(utf8(''), utf8(''))).toBe(true);
  });
});
