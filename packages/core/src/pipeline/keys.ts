/**
 * The key + MAC stage's helpers: the one decoy secret, key resolution that does not reveal
 * which key ids exist, and a constant-time MAC comparison schemes share (synchronous when the
 * provider is).
 */

import { constantTimeEqual } from '../primitives/constant-time.js';
import { hmacSha256MatchesAscii } from '../primitives/hmac-sha256.js';
import { isPromiseLike } from '../primitives/promise.js';
import { latin1Bytes } from '../protocol/components.js';
import { parseSecret, SECRET_PREFIX } from '../secret.js';
import type { CryptoProvider, HashAlgorithm, VerificationKey } from '../types.js';
import type { ResolvedKey } from './contract.js';

const ALGORITHMS: ReadonlySet<unknown> = new Set(['sha256', 'sha384', 'sha512']);

/**
 * What a key resolver returned, checked and made usable: `undefined` when it found nothing, the
 * key itself when it is well formed (no copy on the hot path), a copy with the raw bytes when its
 * `secret` is the printable `hks_...` string the CLI prints (easy to paste into a resolver), and
 * `algorithm` defaulting to `'sha256'` (what `hmac-kit keys create` issues). Anything else is a
 * programming error and throws a `TypeError` that says what the resolver should return; it never
 * echoes the secret.
 *
 * @example
 * ```ts
 * checkVerificationKey({ keyId: 'hk_1', secret: 'hks_3q2-7w...' }, 'hk_1');
 * // { keyId: 'hk_1', secret: Uint8Array(32), algorithm: 'sha256' }
 * ```
 */
export function checkVerificationKey(found: unknown, keyId: string): VerificationKey | undefined {
  if (found === undefined || found === null) return undefined;
  if (typeof found !== 'object') {
    throw new TypeError(
      `the keys resolver must return { keyId, secret, algorithm } or undefined, not a ${typeof found} (docs/middleware.md "Keys")`,
    );
  }
  const key = found as Omit<Partial<VerificationKey>, 'secret'> & { secret?: unknown };
  let secret: unknown = key.secret;
  if (!(secret instanceof Uint8Array)) {
    if (typeof secret === 'string' && secret.startsWith(SECRET_PREFIX)) {
      try {
        secret = parseSecret(secret);
      } catch (error) {
        throw new TypeError(`the secret the keys resolver returned for key ${keyId}: ${(error as Error).message}`);
      }
    } else {
      throw new TypeError(
        `the keys resolver returned key ${keyId} with a ${typeof secret === 'string' ? 'string' : typeof secret} secret: ` +
          `give the raw bytes (Uint8Array) or the printable "${SECRET_PREFIX}..." secret (docs/middleware.md "Keys")`,
      );
    }
  }
  const algorithm = key.algorithm ?? 'sha256';
  if (!ALGORITHMS.has(algorithm)) {
    throw new TypeError(
      `the keys resolver returned key ${keyId} with algorithm ${JSON.stringify(algorithm)}: use sha256, sha384 or sha512`,
    );
  }
  if (secret === key.secret && algorithm === key.algorithm && typeof key.keyId === 'string') {
    return key as VerificationKey;
  }
  return { ...key, keyId: typeof key.keyId === 'string' ? key.keyId : keyId, secret, algorithm } as VerificationKey;
}

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

/**
 * Whether HMAC(`key`, `data`) equals `presented`, compared in constant time. `data` as a string
 * stands for its latin-1 bytes (every character at most U+00FF): a provider that MACs strings
 * (node:crypto) then neither copies nor encodes it. Synchronous when the provider is.
 *
 * @example
 * ```ts
 * verify: (credentials, key, { crypto }) => {
 *   const ok = macMatches(crypto, key, signedText(credentials), credentials.mac);
 *   return isPromiseLike(ok) ? ok.then(verdictOf) : verdictOf(ok);
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
      const matches = hmacSha256MatchesAscii(crypto, secret, data, presented);
      if (matches !== undefined) return matches;
    }
    if (crypto.hmacString !== undefined)
      return constantTimeEqual(crypto.hmacString(algorithm, secret, data), presented);
  }
  const expected = crypto.hmac(algorithm, secret, typeof data === 'string' ? latin1Bytes(data) : data);
  if (isPromiseLike(expected)) return Promise.resolve(expected).then((mac) => crypto.timingSafeEqual(mac, presented));
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
