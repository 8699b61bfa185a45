/**
 * The default {@link CryptoProvider}: WebCrypto for one-shot HMAC (fast, native,
 * available in browsers, Deno, Bun, edge runtimes and Node >= 20) and the pure-TS
 * SHA-2 for everything that must be incremental or synchronous.
 */

import type { CryptoProvider, HashAlgorithm } from '../types.js';
import { constantTimeEqual } from './constant-time.js';
import { preparedKey } from './prepared-key.js';
import { createSha2, createSha2Hmac, sha2Hmac } from './sha2.js';

const ALGORITHMS: ReadonlySet<string> = new Set(['sha256', 'sha384', 'sha512']);

function subtleCrypto(): SubtleCrypto | undefined {
  // crypto.subtle is undefined in browser pages served over plain http (not a
  // secure context); the pure-TS HMAC keeps signing working there.
  return (globalThis as { crypto?: Crypto }).crypto?.subtle;
}

function randomBytes(length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0)
    throw new TypeError('randomBytes: length must be a non-negative integer');
  const cryptoObject = (globalThis as { crypto?: Crypto }).crypto;
  if (!cryptoObject?.getRandomValues) throw new TypeError('no crypto.getRandomValues in this runtime');
  const out = new Uint8Array(length);
  // getRandomValues refuses more than 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    cryptoObject.getRandomValues(out.subarray(offset, Math.min(length, offset + 65536)));
  }
  return out;
}

/**
 * Runs everywhere: HMAC through `crypto.subtle` (each imported `CryptoKey` kept in the
 * secret's {@link PreparedKey}), hashes and incremental HMAC through the pure-TS SHA-2 in `sha2.ts`.
 * Node servers may inject `nodeCryptoProvider` from `@hmac-kit/node-crypto` instead.
 *
 * @example
 * ```ts
 * const tag = await webCryptoProvider.hmac('sha256', secret, utf8('data'));
 * const hash = webCryptoProvider.createHash('sha256');
 * hash.update(chunk);
 * const digest = hash.digest();
 * ```
 */
export const webCryptoProvider: CryptoProvider = Object.freeze({
  async hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    const subtle = subtleCrypto();
    // WebCrypto rejects zero-length HMAC keys; the pure-TS path computes RFC 2104 for them.
    if (!subtle || key.length === 0) return sha2Hmac(algorithm, key, data);
    if (!ALGORITHMS.has(algorithm)) throw new TypeError(`unsupported hash algorithm ${JSON.stringify(algorithm)}`);
    // Importing a CryptoKey costs about as much as the HMAC itself: the key's prepared material
    // holds one per hash (primitives/prepared-key.ts).
    const cryptoKey = await preparedKey(key).cryptoKey(subtle, algorithm);
    return new Uint8Array(await subtle.sign('HMAC', cryptoKey, data as Uint8Array<ArrayBuffer>));
  },
  createHash: createSha2,
  createHmac: createSha2Hmac,
  randomBytes,
  timingSafeEqual: constantTimeEqual,
});
