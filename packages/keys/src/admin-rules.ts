/**
 * The admin rules of the key service: what a principal name, a scope, a rate limit, a page size,
 * an expiry or a listing cursor must look like (a `TypeError` naming the rule otherwise), and how
 * stored rows become the `Principal` and `ApiKey` callers see. Pure functions, no store access.
 */
import type { HashAlgorithm } from '@hmac-kit/core';
import { keyIdLogFields } from './ids.js';
import type { ApiKey, KeyAlgorithm, KeyRateLimit, Principal } from './model.js';
import type { AuditEvent } from './ports/audit.js';
import type { KeyPosition, KeyRow } from './ports/keys.js';
import type { PrincipalRow } from './ports/principals.js';

export const ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = [...ALGORITHMS, 'any'];
/** Imported secrets: at least one byte (legacy secrets are often short passwords), at most 1 KiB. */
export const MAX_IMPORTED_SECRET_BYTES = 1024;
export const PRINCIPAL_NAME = /^[A-Za-z0-9._@-]{1,128}$/;
export const SCOPE = /^[\x21-\x7e]{1,128}$/;

/**
 * A principal name as the store keeps it: 1-128 characters of `[A-Za-z0-9._@-]`, else a TypeError.
 * Exported so that callers (the CLI) refuse a malformed name before they open a store.
 *
 * @example
 * ```ts
 * checkPrincipalName('billing'); // 'billing'
 * checkPrincipalName('bad name!'); // throws TypeError
 * ```
 */
export function checkPrincipalName(name: unknown): string {
  if (typeof name !== 'string' || !PRINCIPAL_NAME.test(name)) {
    throw new TypeError('principal name must be 1-128 characters of [A-Za-z0-9._@-]');
  }
  return name;
}

/** An optional free text: absent (null) or a string of at most `max` characters, else a TypeError naming `what`. */
function optionalText(value: unknown, what: string, max: number): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length > max) {
    throw new TypeError(`${what} must be a string of at most ${max} characters`);
  }
  return value;
}

/** A revocation reason: absent (null) or a string of at most 500 characters, else a TypeError. */
export function checkRevokeReason(reason: unknown): string | null {
  return optionalText(reason, 'reason', 500);
}

export function positiveInteger(value: unknown, name: string, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new TypeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return value;
}

/**
 * The longest key lifetime or rotation overlap the service takes: 10 years (3650 days), the
 * ceiling of the durations the CLI and the admin API parse (@hmac-kit/server `MAX_DURATION_SECONDS`).
 * An expiry within it is a valid Date that the stores' 64-bit epoch milliseconds hold; a key that
 * should live longer is made without an expiry.
 */
export const MAX_KEY_LIFETIME_SECONDS = 3650 * 86_400;

/** A lifetime or overlap in whole seconds, at most {@link MAX_KEY_LIFETIME_SECONDS}, else a TypeError. */
export function lifetimeSeconds(value: unknown, name: string, allowZero = false): number {
  const seconds = positiveInteger(value, name, allowZero);
  if (seconds > MAX_KEY_LIFETIME_SECONDS)
    throw new TypeError(`${name} must be at most ${MAX_KEY_LIFETIME_SECONDS} (10 years)`);
  return seconds;
}

/**
 * The most requests a key's rate limit allows per window: a billion. With the window at most
 * {@link MAX_KEY_LIFETIME_SECONDS}, every number the rate-limit headers carry (`q`, `w`, `r`, `t`,
 * Retry-After) stays an RFC 8941 integer (at most 15 digits) and the GCRA's microsecond arithmetic
 * stays exact; `windowSeconds: 1e20` used to answer `w=100000000000000000000`, and 1e300 `1e+300`.
 */
export const MAX_RATE_LIMIT_REQUESTS = 1_000_000_000;

export function checkRateLimit(rateLimit: KeyRateLimit | undefined): KeyRateLimit | null {
  if (rateLimit === undefined || rateLimit === null) return null;
  const limit = positiveInteger(rateLimit.limit, 'rateLimit.limit');
  if (limit > MAX_RATE_LIMIT_REQUESTS) {
    throw new TypeError(`rateLimit.limit must be at most ${MAX_RATE_LIMIT_REQUESTS}`);
  }
  return { limit, windowSeconds: lifetimeSeconds(rateLimit.windowSeconds, 'rateLimit.windowSeconds') };
}

export function checkScopes(scopes: readonly string[] | undefined): string[] {
  if (scopes === undefined) return [];
  if (!Array.isArray(scopes)) throw new TypeError('scopes must be an array of strings');
  for (const scope of scopes) {
    if (typeof scope !== 'string' || !SCOPE.test(scope))
      throw new TypeError('each scope is 1-128 printable ASCII characters without spaces');
  }
  return [...new Set(scopes)];
}

/** The algorithm a new key is for (default `sha256`). */
export function checkKeyAlgorithm(algorithm: KeyAlgorithm | undefined): KeyAlgorithm {
  const chosen = algorithm ?? 'sha256';
  if (!KEY_ALGORITHMS.includes(chosen)) throw new TypeError('algorithm must be sha256, sha384, sha512 or any');
  return chosen;
}

/** A key label: absent (null) or a string of at most 200 characters. */
export function checkLabel(label: unknown): string | null {
  return optionalText(label, 'label', 200);
}

/**
 * The settings a created and an imported key share, checked in this order (scopes, rate limit,
 * label) so the first broken rule is the one named.
 */
export function checkKeySettings(input: {
  scopes?: readonly string[] | undefined;
  rateLimit?: KeyRateLimit | undefined;
  label?: unknown;
}): { scopes: string[]; rateLimit: KeyRateLimit | null; label: string | null } {
  const scopes = checkScopes(input.scopes);
  const rateLimit = checkRateLimit(input.rateLimit);
  return { scopes, rateLimit, label: checkLabel(input.label) };
}

/** The key id fields of an audit event for a claimed key id (see `keyIdLogFields`). */
export function auditKeyId(
  keyId: string | undefined,
  isStored?: (keyId: string) => boolean,
): Pick<AuditEvent, 'keyId' | 'detail'> {
  const fields = keyIdLogFields(keyId, isStored);
  if ('keyId' in fields) return { keyId: fields.keyId };
  return 'keyIdHash' in fields ? { detail: fields } : {};
}

/** Clamps an audit query limit to 1..1000 (default 100). */
export function auditLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError('limit must be a positive integer');
  return Math.min(limit, 1000);
}

/** Page size of listings: default 100, at most 1000. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new TypeError('limit must be an integer from 1 to 1000');
  return limit;
}

/**
 * Listing cursors are opaque to callers: base64url of a small JSON record naming the listing
 * (`k` keys, `p` principals), its order and the last row of the page. Nothing in them is secret.
 */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: unknown): Record<string, unknown> {
  if (typeof cursor !== 'string' || cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new TypeError('invalid cursor: pass the next value of the previous page');
  }
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {}
  throw new TypeError('invalid cursor: pass the next value of the previous page');
}

export function keyCursor(row: KeyPosition, order: 'oldest' | 'newest'): string {
  return encodeCursor({ l: 'k', o: order, c: row.createdAt, k: row.keyId });
}

export function keyPositionOf(cursor: string, order: 'oldest' | 'newest'): KeyPosition {
  const value = decodeCursor(cursor);
  if (value.l !== 'k' || typeof value.c !== 'number' || !Number.isSafeInteger(value.c) || typeof value.k !== 'string') {
    throw new TypeError('invalid cursor: not a key listing cursor');
  }
  if (value.o !== order) throw new TypeError(`invalid cursor: it continues a listing in ${String(value.o)} order`);
  return { createdAt: value.c, keyId: value.k };
}

export function principalAfter(cursor: string): string {
  const value = decodeCursor(cursor);
  if (value.l !== 'p' || typeof value.n !== 'string')
    throw new TypeError('invalid cursor: not a principal listing cursor');
  return value.n;
}

export function toPrincipal(row: PrincipalRow): Principal {
  const principal: Principal = {
    name: row.name,
    kind: row.kind,
    disabled: row.disabled,
    hasPassword: row.passwordHash !== null,
    createdAt: new Date(row.createdAt),
  };
  if (row.disabledAt !== null) principal.disabledAt = new Date(row.disabledAt);
  return principal;
}

export function toApiKey(row: KeyRow, now: number): ApiKey {
  const key: ApiKey = {
    keyId: row.keyId,
    principal: row.principal,
    algorithm: row.algorithm,
    scopes: [...row.scopes],
    createdAt: new Date(row.createdAt),
    status: row.revokedAt !== null ? 'revoked' : row.expiresAt !== null && row.expiresAt <= now ? 'expired' : 'active',
  };
  if (row.label !== null) key.label = row.label;
  if (row.expiresAt !== null) key.expiresAt = new Date(row.expiresAt);
  if (row.lastUsedAt !== null) key.lastUsedAt = new Date(row.lastUsedAt);
  if (row.revokedAt !== null) key.revokedAt = new Date(row.revokedAt);
  if (row.revokedReason !== null) key.revokedReason = row.revokedReason;
  if (row.rateLimit !== null) key.rateLimit = { ...row.rateLimit };
  if (row.rotatedFrom !== null) key.rotatedFrom = row.rotatedFrom;
  return key;
}

/** `expiresAt` of a new key as epoch milliseconds: a valid Date after `now`, at most 10 years ahead, else a TypeError. */
export function futureTime(expiresAt: unknown, now: number): number {
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
    throw new TypeError('expiresAt must be a valid Date');
  }
  const time = expiresAt.getTime();
  if (time <= now) throw new TypeError('expiresAt must be in the future');
  if (time > now + MAX_KEY_LIFETIME_SECONDS * 1000) throw new TypeError('expiresAt must be at most 10 years ahead');
  return time;
}
