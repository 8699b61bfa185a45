/**
 * Key ids and secrets. Ids are public and prefixed (`hk_`) so they can be told apart
 * from secrets (`hks_`) at a glance, in logs and by secret scanners.
 */
import { randomBytes } from 'node:crypto';

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
  return (
    typeof keyId === 'string' &&
    PLAUSIBLE_KEY_ID.test(keyId) &&
    !SECRET_PREFIXES.some((prefix) => keyId.startsWith(prefix))
  );
}

/** 32 fresh CSPRNG bytes. */
export function generateSecretBytes(): Uint8Array {
  return new Uint8Array(randomBytes(SECRET_BYTES));
}
