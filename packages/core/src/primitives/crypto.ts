/**
 * The default {@link CryptoProvider}: WebCrypto for one-shot HMAC (fast, native,
 * available in browsers, Deno, Bun, edge runtimes and Node >= 20) and the pure-TS
 * SHA-2 for everything that must be incremental or synchronous.
 */

import type { CryptoProvider, HashAlgorithm } from '../types.js';
import { constantTimeEqual } from './encoding.js';
import { createSha2, createSha2Hmac, sha2Hmac } from './sha2.js';

const WEB_HASH_NAME: Readonly<Record<HashAlgorithm, string>> = {
  sha256: 'SHA-256',
  sha384: 'SHA-384',
  sha512: 'SHA-512',
};

function subtleCrypto(): SubtleCrypto | undefined {
  // crypto.subtle is undefined in browser pages served over plain http (not a
  // secure context); the pure-TS HMAC keeps signing working there.
  return (globalThis as { crypto?: Crypto }).crypto?.subtle;
}

interface CachedKey {
  /** Copy of the bytes the key was imported from, to notice callers reusing a mutated array. */
  bytes: Uint8Array<ArrayBuffer>;
  keys: Partial<Record<HashAlgorithm, Promise<CryptoKey>>>;
}

// Importing a CryptoKey costs about as much as the HMAC itself. Cache by the
// identity of the secret array (key stores hand out the same object per key), so
// nothing derived from secret *contents* ends up as a map key.
const importedKeys = new WeakMap<Uint8Array, CachedKey>();

function importHmacKey(subtle: SubtleCrypto, algorithm: HashAlgorithm, secret: Uint8Array): Promise<CryptoKey> {
  let cached = importedKeys.get(secret);
  if (!cached || !constantTimeEqual(cached.bytes, secret)) {
    cached = { bytes: secret.slice(), keys: {} };
    importedKeys.set(secret, cached);
  }
  let key = cached.keys[algorithm];
  if (!key) {
    key = subtle.importKey('raw', cached.bytes, { name: 'HMAC', hash: WEB_HASH_NAME[algorithm] }, false, ['sign']);
    cached.keys[algorithm] = key;
    // A rejected import must not poison the cache.
    key.catch(() => {
      if (cached.keys[algorithm] === key) delete cached.keys[algorithm];
    });
  }
  return key;
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
 * Runs everywhere: HMAC through `crypto.subtle` (each imported `CryptoKey` cached per
 * secret array), hashes and incremental HMAC through the pure-TS SHA-2 in `sha2.ts`.
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
    if (!(algorithm in WEB_HASH_NAME)) throw new TypeError(`unsupported hash algorithm ${JSON.stringify(algorithm)}`);
    const cryptoKey = await importHmacKey(subtle, algorithm, key);
    return new Uint8Array(await subtle.sign('HMAC', cryptoKey, data as Uint8Array<ArrayBuffer>));
  },
  createHash: createSha2,
  createHmac: createSha2Hmac,
  randomBytes,
  timingSafeEqual: constantTimeEqual,
});
