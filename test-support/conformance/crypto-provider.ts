/** Conformance suite for the CryptoProvider contract, run against every provider. */
import type { CryptoProvider, HashAlgorithm } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../packages/core/src/primitives/encoding.js';
import { createSha2, sha2Hmac } from '../../packages/core/src/primitives/sha2.js';

const algorithm = fc.constantFrom<HashAlgorithm>('sha256', 'sha384', 'sha512');

export function cryptoProviderConformance(name: string, provider: CryptoProvider): void {
  describe(`CryptoProvider conformance: ${name}`, () => {
    it('hmac matches RFC 4231 test case 2 and the reference HMAC on random input', async () => {
      const key = utf8('Jefe');
      const data = utf8('what do ya want for nothing?');
      expect(toHex(await provider.hmac('sha256', key, data))).toBe(
        '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      );
      await fc.assert(
        fc.asyncProperty(
          algorithm,
          fc.uint8Array({ minLength: 1, maxLength: 150 }),
          fc.uint8Array({ maxLength: 500 }),
          async (alg, k, d) => {
            const out = await provider.hmac(alg, k, d);
            expect(out).toBeInstanceOf(Uint8Array);
            expect(toHex(out)).toBe(toHex(sha2Hmac(alg, k, d)));
          },
        ),
        { numRuns: 50 },
      );
    });

    it('createHash and createHmac are incremental', () => {
      const data = new Uint8Array(5000).map((_, i) => i & 0xff);
      for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
        const hash = provider.createHash(alg);
        const reference = createSha2(alg);
        reference.update(data);
        for (let i = 0; i < data.length; i += 333) hash.update(data.subarray(i, i + 333));
        expect(toHex(hash.digest())).toBe(toHex(reference.digest()));
        const mac = provider.createHmac(alg, utf8('k'));
        mac.update(data.subarray(0, 10));
        mac.update(data.subarray(10));
        expect(toHex(mac.digest())).toBe(toHex(sha2Hmac(alg, utf8('k'), data)));
      }
    });

    it('randomBytes returns fresh bytes of the requested length', () => {
      const a = provider.randomBytes(32);
      const b = provider.randomBytes(32);
      expect(a).toHaveLength(32);
      expect(toHex(a)).not.toBe(toHex(b));
      expect(provider.randomBytes(0)).toHaveLength(0);
    });

    it('timingSafeEqual compares contents and lengths', () => {
      expect(provider.timingSafeEqual(utf8('same'), utf8('same'))).toBe(true);
      expect(provider.timingSafeEqual(utf8('same'), utf8('sane'))).toBe(false);
      expect(provider.timingSafeEqual(utf8('same'), utf8('same!'))).toBe(false);
      expect(provider.timingSafeEqual(utf8('same!'), utf8('same'))).toBe(false);
    });
  });
}
