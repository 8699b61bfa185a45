/**
 * The vocabulary of @hmac-kit/keys as the key service hands it out: principals, API keys (metadata,
 * never a secret), usage, and the page requests and pages of its listings. Dates are `Date`s here;
 * the store rows (ports/) keep epoch milliseconds.
 */
import type { HashAlgorithm } from '@hmac-kit/core';

/**
 * The algorithm a key is stored with: one hash function it is bound to, or `any` (the client
 * chooses SHA-256/384/512 per request, in schemes whose requests name the algorithm: django-hmac
 * keys from the obtain endpoint or imported, secrets imported with `--algorithm any`).
 */
export type KeyAlgorithm = HashAlgorithm | 'any';

/** A user (a person, may log in to the issuing endpoint) or a service (a machine identity). */
export type PrincipalKind = 'user' | 'service';

/** A principal as the service returns it. The password hash never leaves the service. */
export interface Principal {
  /** Unique name, 1-128 chars of `[A-Za-z0-9._@-]`. */
  name: string;
  kind: PrincipalKind;
  disabled: boolean;
  /** Whether a password is set (only then can the principal log in to the issuing endpoint). */
  hasPassword: boolean;
  createdAt: Date;
  disabledAt?: Date;
}

/** Per-key rate limit override: `limit` requests per `windowSeconds`. */
export interface KeyRateLimit {
  limit: number;
  windowSeconds: number;
}

/** `active` (usable), `expired` (past `expiresAt`) or `revoked`. Revoked wins over expired. */
export type KeyStatus = 'active' | 'expired' | 'revoked';

/** An API key's metadata (everything but the secret). Safe to log and to return from admin APIs. */
export interface ApiKey {
  /** Public key id, `hk_` + 22 base62 characters (16 random bytes). */
  keyId: string;
  principal: string;
  algorithm: KeyAlgorithm;
  scopes: readonly string[];
  label?: string;
  createdAt: Date;
  expiresAt?: Date;
  /**
   * The last fully proven request (body and commit stages passed; never a mere lookup, a forged
   * signature, a replay, a rate-limited request or a failed digest). Updated at most once per
   * `lastUsedIntervalMs` per instance (cheap, approximate).
   */
  lastUsedAt?: Date;
  revokedAt?: Date;
  revokedReason?: string;
  rateLimit?: KeyRateLimit;
  /** The key this one replaced by rotation. */
  rotatedFrom?: string;
  /** Status computed at read time against the service clock. */
  status: KeyStatus;
}

/** What `createKey`/`rotateKey` return: the only time the secret is ever shown. */
export interface IssuedKey {
  key: ApiKey;
  /** The printable secret `hks_<base64url of 32 random bytes>`. Show once, never store. */
  secret: string;
}

/** Which keys a listing returns (all filters combine with AND). */
export interface KeyFilter {
  /** Only this principal's keys. */
  principal?: string;
  /** Only the key with this exact id (a search box that finds one key without scanning). */
  keyId?: string;
  /** Revoked keys too. Default false. */
  includeRevoked?: boolean;
}

/** Listing order of keys: by creation time, ties broken by key id (byte order). */
export type KeyOrder = 'oldest' | 'newest';

/**
 * A page request for {@link KeyService.listKeys}. Pagination is keyset (seek) pagination: a page
 * costs the same whether it is the first or the thousandth, and keys created or revoked between two
 * pages never make a page repeat or skip a key that was there before.
 */
export interface KeyQuery extends KeyFilter {
  /** Default `oldest` (the CLI's order); the console lists `newest` first. */
  order?: KeyOrder;
  /** Keys per page, 1..1000. Default 100. */
  limit?: number;
  /** The `next` cursor of the previous page (with the same filters and order). */
  after?: string;
}

/** A page request for {@link KeyService.listPrincipals}, by name (byte order). */
export interface PrincipalQuery {
  /** Only names containing this text, case-insensitively. Scans principals (not keys) when it matches few. */
  nameContains?: string;
  /** Principals per page, 1..1000. Default 100. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string;
}

/** One page of a listing. */
export interface Page<T> {
  items: T[];
  /** Cursor of the next page (pass it as `after`), or `null` on the last page. */
  next: string | null;
}

/**
 * How one key was used with one verification scheme: only requests that were fully proven (past the
 * pipeline's commit stage) count. Counts reach the store in batches (see {@link KeyService.recordKeyUsage}),
 * so a pair's first use is visible within a poll interval and its count within `lastUsedIntervalMs`.
 */
export interface KeyUsage {
  keyId: string;
  principal: string;
  /** The scheme id as the verification pipeline reports it: `rfc9421`, `sigv4`, `x-api`, `django-hmac`, a declared scheme's name... */
  scheme: string;
  count: number;
  firstUsedAt: Date;
  lastUsedAt: Date;
}

/** A page request for {@link KeyService.listKeyUsage}, by key id then scheme (byte order). All filters combine with AND. */
export interface KeyUsageQuery {
  principal?: string;
  keyId?: string;
  /** Only these keys (at most 1000 ids), e.g. the keys shown on one console page. */
  keyIds?: readonly string[];
  scheme?: string;
  /** Rows per page, 1..1000. Default 100. */
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string;
}
