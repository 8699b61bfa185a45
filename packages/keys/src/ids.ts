/**
 * Key ids and secrets. Ids are public and prefixed (`hk_`) so they can be told apart
 * from secrets (`hks_`) at a glance, in logs and by secret scanners.
 */
import { createHash, randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 16 bytes (128 bits) need at most 22 base62 digits. */
const KEY_ID_DIGITS = 22;
const KEY_ID_PATTERN = /^hk_[0-9A-Za-z]{22}$/;

/**
 * Ids a store may hold: issued `hk_...` ids, and ids imported from other systems
 * (django-hmac UUIDs, AWS-style access key ids). Printable, no spaces or quotes.
 */
const PLAUSIBLE_KEY_ID = /^[A-Za-z0-9._:@+=/-]{1,128}$/;
/** Prefixes of printable secrets: such a string in a key id field is a pasted secret. */
const SECRET_PREFIXES = ['hks_', 'whsec_'];
/** What {@link isPlausibleKeyId} accepted last (the initial value is a plausible id, never a key's). */
let lastPlausibleKeyId = 'hk_';
/** A UUID (8-4-4-4-12 hex digits, any case): the ids of keys imported from django-hmac. */
const UUID_PATTERN = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;
/** 128 bits or more of hex: a raw secret (the 64-hex form of a 32-byte key, an AWS-style hex secret). */
const HEX_SECRET = /^[0-9A-Fa-f]{32,}$/;
/** 32 or more characters of base64 / base64url (optionally padded): 24+ bytes encoded. */
const BASE64_SECRET = /^[A-Za-z0-9+/_-]{32,}={0,2}$/;

/** Secret length in bytes for issued keys. */
export const SECRET_BYTES = 32;

function base62(bytes: Uint8Array, digits: number): string {
  let n = 0n;
  for (const byte of bytes) n = (n << 8n) | BigInt(byte);
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)]! + out;
    n /= 62n;
  }
  return out.padStart(digits, '0');
}

/**
 * A new public key id: `hk_` + 22 base62 characters of 16 CSPRNG bytes.
 *
 * @example
 * ```ts
 * generateKeyId(); // 'hk_3nR0bqYJ1xT9dW2mKp7sLa'
 * ```
 */
export function generateKeyId(): string {
  return 'hk_' + base62(randomBytes(16), KEY_ID_DIGITS);
}

/**
 * Whether `keyId` has the shape of an id this package issues (cheap pre-check before any lookup).
 *
 * @example
 * ```ts
 * isKeyId(generateKeyId()); // true
 * isKeyId('AKIDEXAMPLE'); // false
 * ```
 */
export function isKeyId(keyId: string): boolean {
  return typeof keyId === 'string' && KEY_ID_PATTERN.test(keyId);
}

// The printable `hks_...` form is the core's (one definition for signers and issuers).
export { formatSecret, parseSecret } from '@hmac-kit/core';

/**
 * Whether `keyId` could be a stored key id (issued or imported). Anything else never reaches
 * the store, and is never written to the audit trail (it may be junk, or a pasted secret).
 *
 * @example
 * ```ts
 * isPlausibleKeyId('hk_3nR0bqYJ1xT9dW2mKp7sLa'); // true
 * isPlausibleKeyId('0f8fad5b-d9cb-469f-a165-70867728950e'); // true (imported django-hmac key)
 * isPlausibleKeyId('hks_c2VjcmV0...'); // false
 * ```
 */
export function isPlausibleKeyId(keyId: string): boolean {
  // The id judged plausible last: the key cache asks on every lookup and the usage batcher on every
  // proven request, mostly for the same few ids (~0.9k instructions a check under callgrind: issue
  // #15, session 23). Invariant: only a string the checks below accepted is ever kept, so an equal
  // string passes them too; any other value (an unknown id alike) is checked in full.
  if (keyId === lastPlausibleKeyId) return true;
  const plausible =
    typeof keyId === 'string' &&
    PLAUSIBLE_KEY_ID.test(keyId) &&
    !SECRET_PREFIXES.some((prefix) => keyId.startsWith(prefix));
  if (plausible) lastPlausibleKeyId = keyId;
  return plausible;
}

/** 32 fresh CSPRNG bytes. */
export function generateSecretBytes(): Uint8Array {
  return new Uint8Array(randomBytes(SECRET_BYTES));
}

/**
 * **The shape of a key id** — the one definition the server's logs, the audit trail and the CLI
 * rely on. A key id has this shape when it is one this product issues or imports:
 * - `hk_` followed by 22 base62 characters (every key `createKey` / `rotateKey` issues);
 * - a UUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits (keys imported from django-hmac).
 *
 * Nothing else can name a stored key, so anything else in a key-id field (`keyid=`, `X-API-Key`,
 * `webhook-key-id`, the SigV4 access key, django-hmac's key id) is junk or, worse, a secret pasted
 * into the wrong field: it is never written to a log or the audit trail as such
 * ({@link keyIdLogFields} logs its length and a short hash instead). Keys stored through other
 * means (a custom `KeyStore`) with other ids still verify; they are only logged hashed.
 *
 * @example
 * ```ts
 * hasKeyIdShape('hk_3nR0bqYJ1xT9dW2mKp7sLa'); // true
 * hasKeyIdShape('0f8fad5b-d9cb-469f-a165-70867728950e'); // true
 * hasKeyIdShape('hks_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmU'); // false
 * ```
 */
export function hasKeyIdShape(value: unknown): boolean {
  return typeof value === 'string' && (KEY_ID_PATTERN.test(value) || UUID_PATTERN.test(value));
}

/**
 * The log fields for a key id someone sent: `{ keyId }` when it has the shape of a key id
 * ({@link hasKeyIdShape}), otherwise `{ keyIdLength, keyIdHash }` (the first 8 hex digits of its
 * SHA-256: enough to tell repeated attempts apart, nothing to learn a 128-bit or longer secret
 * from). `{}` when there is none. `isStored` (e.g. {@link KeyService.isStoredKeyId}) lets ids of
 * imported keys, which have no recognisable shape, be logged as such once they name a stored key.
 *
 * @example
 * ```ts
 * logger.warn({ code, ...keyIdLogFields(claimedKeyId) }, 'authentication failed');
 * keyIdLogFields('hk_3nR0bqYJ1xT9dW2mKp7sLa'); // { keyId: 'hk_3nR0bqYJ1xT9dW2mKp7sLa' }
 * keyIdLogFields('hks_c2VjcmV0...'); // { keyIdLength: 47, keyIdHash: '9f2c01ab' }
 * ```
 */
export function keyIdLogFields(
  value: string | undefined,
  isStored?: (keyId: string) => boolean,
): { keyId: string } | { keyIdLength: number; keyIdHash: string } | Record<string, never> {
  if (value === undefined || value === '') return {};
  // Imported ids (`legacy`, an X-API-Key value) have no recognisable shape: they are logged as such
  // only once they are known to name a stored key, never merely because someone sent them.
  if (hasKeyIdShape(value) || (isStored !== undefined && isPlausibleKeyId(value) && isStored(value)))
    return { keyId: value };
  return { keyIdLength: value.length, keyIdHash: createHash('sha256').update(value).digest('hex').slice(0, 8) };
}

/**
 * Whether a value given as a key id looks like a secret instead: an `hks_` / `whsec_` secret,
 * 32+ hex digits, or 32+ characters of base64 mixing upper case, lower case and digits (how
 * random bytes look once encoded). Values with the shape of a key id never do. The CLI refuses
 * such a `--key-id` rather than send the secret in clear in a header.
 *
 * @example
 * ```ts
 * looksLikeSecret('hks_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmU'); // true
 * looksLikeSecret('6f1c0e8a9b2d4c7e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e'); // true
 * looksLikeSecret('AKIAIOSFODNN7EXAMPLE'); // false (an access key id)
 * looksLikeSecret('hk_3nR0bqYJ1xT9dW2mKp7sLa'); // false
 * ```
 */
export function looksLikeSecret(value: string): boolean {
  if (typeof value !== 'string' || hasKeyIdShape(value)) return false;
  if (SECRET_PREFIXES.some((prefix) => value.startsWith(prefix))) return true;
  if (HEX_SECRET.test(value)) return true;
  return BASE64_SECRET.test(value) && /[A-Z]/.test(value) && /[a-z]/.test(value) && /[0-9]/.test(value);
}
