import { createHash, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import type { CryptoProvider, HashAlgorithm, IncrementalHash } from '@hmac-kit/core';

function wrap(hash: { update(data: Uint8Array): unknown; digest(): Buffer }): IncrementalHash {
  return {
    update(chunk) {
      hash.update(chunk);
    },
    digest() {
      const out = hash.digest();
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    },
  };
}

/**
 * Synchronous node:crypto primitives for `@hmac-kit/core`. Servers inject it for
 * speed; the core's default WebCrypto provider stays available everywhere else.
 *
 * @example
 * ```ts
 * import { verifyRequest } from '@hmac-kit/core';
 * import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
 * const verified = await verifyRequest(request, { keys, crypto: nodeCryptoProvider });
 * ```
 */
export const nodeCryptoProvider: CryptoProvider = Object.freeze({
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array {
    const out = createHmac(algorithm, key).update(data).digest();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  },
  createHash(algorithm: HashAlgorithm): IncrementalHash {
    return wrap(createHash(algorithm));
  },
  createHmac(algorithm: HashAlgorithm, key: Uint8Array): IncrementalHash {
    return wrap(createHmac(algorithm, key));
  },
  randomBytes(length: number): Uint8Array {
    return randomFillSync(new Uint8Array(length));
  },
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
    if (a.length !== b.length) {
      // Still spend a comparison's worth of time so length mismatches are not cheaper.
      timingSafeEqual(a, a);
      return false;
    }
    return timingSafeEqual(a, b);
  },
});
