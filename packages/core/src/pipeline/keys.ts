/**
 * The key + MAC stage's helpers: the one decoy secret, key resolution that does not reveal
 * which key ids exist, and a constant-time MAC comparison schemes share (synchronous when the
 * provider is).
 */
import { latin1Bytes } from '../components.js';
import { binaryEqualsBytes } from '../encoding.js';
import { hmacSha256OfAscii } from '../hmac-sha256.js';
import type { CryptoProvider, HashAlgorithm } from '../types.js';
import type { ResolvedKey } from './contract.js';

/** Length of issued secrets; the decoy matches it so HMAC key set-up costs the same. */
const DECOY_LENGTH = 32;
let decoy: Uint8Array | undefined;

/**
 * The one decoy secret of this process: random, so no request can be signed with it. Every
 * scheme MACs with it for an unknown key id (and for a key the request may not use), so that
 * costs what a wrong signature costs.
 */
export function decoySecret(crypto: CryptoProvider): Uint8Array {
  decoy ??= crypto.randomBytes(DECOY_LENGTH);
  return decoy;
}

/** A decoy key for `algorithm`; schemes cannot tell it from a real one. */
export function decoyKey(crypto: CryptoProvider, algorithm: HashAlgorithm): ResolvedKey {
  return { secret: decoySecret(crypto), algorithm };
}

export function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * Whether HMAC(`key`, `data`) equals `presented`, compared in constant time. `data` as a string
 * stands for its latin-1 bytes (every character at most U+00FF): a provider that MACs strings
 * (node:crypto) then neither copies nor encodes it. Synchronous when the provider is.
 *
 * @example
 * ```ts
 * verify: (credentials, key, { crypto }) => {
 *   const ok = macMatches(crypto, key, signedText(credentials), credentials.mac);
 *   return isPromise(ok) ? ok.then(verdictOf) : verdictOf(ok);
 * }
 * ```
 */
export function macMatches(
  crypto: CryptoProvider,
  key: ResolvedKey,
  data: Uint8Array | string,
  presented: Uint8Array,
): boolean | Promise<boolean> {
  const { secret, algorithm } = key;
  if (typeof data === 'string') {
    // HMAC-SHA256 of an ASCII text from cached key pads (two one-shot hashes), else the provider's
    // string HMAC: either way no byte copy of the text and no Buffer per MAC.
    if (algorithm === 'sha256' && crypto.hash !== undefined) {
      const mac = hmacSha256OfAscii(crypto, secret, data);
      if (mac !== undefined) return crypto.timingSafeEqual(mac, presented);
    }
    if (crypto.hmacString !== undefined)
      return binaryEqualsBytes(crypto.hmacString(algorithm, secret, data), presented);
  }
  const expected = crypto.hmac(algorithm, secret, typeof data === 'string' ? latin1Bytes(data) : data);
  if (isPromise(expected)) return Promise.resolve(expected).then((mac) => crypto.timingSafeEqual(mac, presented));
  return crypto.timingSafeEqual(expected, presented);
}

/** Whether {@link macMatches} can take a latin-1 string without a byte copy. */
export function macsStrings(crypto: CryptoProvider): boolean {
  return crypto.hmacString !== undefined || crypto.hash !== undefined;
}

/**
 * Whether `key` is the decoy (for a scheme that must derive its MAC key through a callback that
 * only real key records can answer, as SigV4's `secretOf`; it must do the same work either way).
 */
export function isDecoyKey(key: ResolvedKey): boolean {
  return decoy !== undefined && key.secret === decoy;
}
