/**
 * The printable form of issued secrets: `hks_` followed by the base64url (no
 * padding) encoding of the raw key bytes. The prefix makes leaked secrets easy to
 * recognise for secret scanners; base64url keeps them safe in env files and shells.
 */
import { fromBase64, toBase64Url } from './primitives/encoding.js';
import { forgetPreparedKey } from './primitives/prepared-key.js';

/** Prefix of every printable hmac-kit secret. */
export const SECRET_PREFIX = 'hks_';
/** Fewest raw bytes a printable secret may carry (hmac-kit issues 32). */
export const MIN_SECRET_BYTES = 32;

/**
 * Formats raw secret bytes as a printable `hks_...` secret.
 *
 * @example
 * ```ts
 * const secret = formatSecret(crypto.getRandomValues(new Uint8Array(32)));
 * // 'hks_3q2-7w...' (47 characters)
 * ```
 */
export function formatSecret(raw: Uint8Array): string {
  if (!(raw instanceof Uint8Array)) throw new TypeError('formatSecret expects a Uint8Array');
  if (raw.length < MIN_SECRET_BYTES) throw new TypeError(`secrets need at least ${MIN_SECRET_BYTES} bytes`);
  return SECRET_PREFIX + toBase64Url(raw);
}

/**
 * Returns the raw key bytes of a secret: decodes a printable `hks_...` string, or
 * returns a copy of raw bytes unchanged. Throws `TypeError` (without echoing the
 * secret) when the string is not a well-formed hmac-kit secret.
 *
 * @example
 * ```ts
 * const raw = parseSecret(process.env.HMAC_KIT_SECRET!); // Uint8Array(32)
 * parseSecret(raw); // a copy of the same bytes
 * ```
 */
export function parseSecret(secret: string | Uint8Array): Uint8Array {
  if (secret instanceof Uint8Array) {
    if (secret.length === 0) throw new TypeError('secret must not be empty');
    return secret.slice();
  }
  if (typeof secret !== 'string') throw new TypeError('secret must be a string or a Uint8Array');
  if (!secret.startsWith(SECRET_PREFIX)) throw new TypeError(`secret must start with "${SECRET_PREFIX}"`);
  const encoded = secret.slice(SECRET_PREFIX.length);
  const raw = /^[A-Za-z0-9_-]+$/.test(encoded) ? fromBase64(encoded) : undefined;
  if (!raw) throw new TypeError('secret is not valid base64url after the prefix');
  if (raw.length < MIN_SECRET_BYTES) throw new TypeError(`secret must encode at least ${MIN_SECRET_BYTES} bytes`);
  return raw;
}

// Printable secrets a signer was given, decoded once per key object: the bytes stay the same array
// from call to call, so the key material prepared from them (primitives/prepared-key.ts) is found
// again instead of being prepared per request.
const decodedSecrets = new WeakMap<object, { printable: string; raw: Uint8Array }>();

/**
 * The raw secret of a signing key, as a stable array: the key's own `Uint8Array` (not copied: the
 * signer only reads it), or the decoded `hks_...` string, decoded once per key object (again when
 * the string changes). Throws as {@link parseSecret} does.
 *
 * @example
 * ```ts
 * const raw = secretBytesOf({ keyId: 'hk_1', secret: 'hks_3q2-7w...' }); // Uint8Array(32), the same array next time
 * ```
 */
export function secretBytesOf(key: { secret: string | Uint8Array }): Uint8Array {
  const secret = key.secret;
  if (secret instanceof Uint8Array) {
    if (secret.length === 0) throw new TypeError('secret must not be empty');
    return secret;
  }
  if (typeof secret !== 'string') return parseSecret(secret);
  const known = decodedSecrets.get(key);
  if (known !== undefined && known.printable === secret) return known.raw;
  // The key object now carries another secret: the old one's prepared material is wiped now.
  if (known !== undefined) forgetPreparedKey(known.raw);
  const raw = parseSecret(secret);
  decodedSecrets.set(key, { printable: secret, raw });
  return raw;
}
