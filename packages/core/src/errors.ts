/**
 * Every failure hmac-kit reports is an {@link HmacKitError} subclass with a stable
 * `code`. Codes are part of the public API: logs, metrics and tests key on them.
 *
 * What the *client* is told is deliberately coarser (see `toProblem` in
 * `problem.ts`): an unknown key id and a wrong signature produce the same answer,
 * so a caller cannot probe which key ids exist. How each code is answered (status, problem type,
 * whether it counts as a failed attempt) is data: `ERROR_TABLE` in `error-table.ts`.
 */
import { ERROR_TABLE, type ErrorCode, type ErrorEntry, isErrorCode } from './error-table.js';
import type { KeyResolver } from './types.js';

export class HmacKitError extends Error {
  /** Stable machine-readable code, e.g. `ERR_SIGNATURE_INVALID`; one of the closed set in `error-table.ts`. */
  static code: ErrorCode = 'ERR_HMAC_KIT';
  /** Stable machine-readable code, e.g. `ERR_SIGNATURE_INVALID`; one of the closed set in `error-table.ts`. */
  readonly code: ErrorCode = HmacKitError.code;

  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

/** The request carries no signature of any enabled scheme. */
export class SignatureMissing extends HmacKitError {
  static override code = 'ERR_SIGNATURE_MISSING' as const;
  override readonly code = SignatureMissing.code;
}

/** A signature header (or parameter) could not be parsed. */
export class SignatureMalformed extends HmacKitError {
  static override code = 'ERR_SIGNATURE_MALFORMED' as const;
  override readonly code = SignatureMalformed.code;
}

/** No key with the presented key id exists (or it is revoked / expired). Clients see this as {@link SignatureInvalid}. */
export class KeyUnknown extends HmacKitError {
  static override code = 'ERR_KEY_UNKNOWN' as const;
  override readonly code = KeyUnknown.code;
}

/** The key exists but is revoked or past its expiry. Clients see this as {@link SignatureInvalid}. */
export class KeyInactive extends HmacKitError {
  static override code: ErrorCode = 'ERR_KEY_INACTIVE';
  override readonly code: ErrorCode = KeyInactive.code;
}

/** The key exists and was revoked. Clients see this as {@link SignatureInvalid}; logs and audit keep the reason. */
export class KeyRevoked extends KeyInactive {
  static override code = 'ERR_KEY_REVOKED' as const;
  override readonly code = KeyRevoked.code;
}

/** The key exists and is past its expiry. Clients see this as {@link SignatureInvalid}; logs and audit keep the reason. */
export class KeyExpired extends KeyInactive {
  static override code = 'ERR_KEY_EXPIRED' as const;
  override readonly code = KeyExpired.code;
}

/** The signature does not match. */
export class SignatureInvalid extends HmacKitError {
  static override code = 'ERR_SIGNATURE_INVALID' as const;
  override readonly code = SignatureInvalid.code;
}

/** Base of the two clock failures; carries the server's time so clients can correct skew. */
export class TimestampOutOfWindow extends HmacKitError {
  static override code: ErrorCode = 'ERR_TIMESTAMP_OUT_OF_WINDOW';
  override readonly code: ErrorCode = TimestampOutOfWindow.code;
  /** Server time (Unix seconds) at verification. */
  readonly serverTime: number;
  constructor(message: string, serverTime: number, options?: { cause?: unknown }) {
    super(message, options);
    this.serverTime = serverTime;
  }
}

/** `created` is older than the allowed age, or `expires` has passed. */
export class SignatureExpired extends TimestampOutOfWindow {
  static override code = 'ERR_SIGNATURE_EXPIRED' as const;
  override readonly code = SignatureExpired.code;
}

/** `created` lies further in the future than the clock-skew tolerance allows. */
export class SignatureFromFuture extends TimestampOutOfWindow {
  static override code = 'ERR_SIGNATURE_FROM_FUTURE' as const;
  override readonly code = SignatureFromFuture.code;
}

/** Policy requires a nonce and the signature has none. */
export class NonceMissing extends HmacKitError {
  static override code = 'ERR_NONCE_MISSING' as const;
  override readonly code = NonceMissing.code;
}

/** This (key id, nonce) pair was already accepted inside the window. */
export class NonceReplayed extends HmacKitError {
  static override code = 'ERR_NONCE_REPLAYED' as const;
  override readonly code = NonceReplayed.code;
}

/** The request has a body but no (acceptable) body digest is covered by the signature. */
export class DigestMissing extends HmacKitError {
  static override code = 'ERR_DIGEST_MISSING' as const;
  override readonly code = DigestMissing.code;
}

/** The body bytes do not hash to the signed digest. */
export class DigestMismatch extends HmacKitError {
  static override code = 'ERR_DIGEST_MISMATCH' as const;
  override readonly code = DigestMismatch.code;
}

/** A component the policy requires is not covered by the signature. */
export class ComponentNotCovered extends HmacKitError {
  static override code = 'ERR_COMPONENT_NOT_COVERED' as const;
  override readonly code = ComponentNotCovered.code;
}

/** The signature names an algorithm that is not accepted, or that does not match the key's. */
export class AlgorithmUnsupported extends HmacKitError {
  static override code = 'ERR_ALGORITHM_UNSUPPORTED' as const;
  override readonly code = AlgorithmUnsupported.code;
}

/** The signature's `tag` parameter is not one the verifier accepts. */
export class TagNotAccepted extends HmacKitError {
  static override code = 'ERR_TAG_NOT_ACCEPTED' as const;
  override readonly code = TagNotAccepted.code;
}

/**
 * The scheme signs the body itself (X-API-*, SigV4 without a payload hash, django-hmac, Standard
 * Webhooks) and this verifier cannot see the body (forward-auth): nothing about the request is proven.
 */
export class BodyUnavailable extends HmacKitError {
  static override code = 'ERR_BODY_UNAVAILABLE' as const;
  override readonly code = BodyUnavailable.code;
}

/**
 * The request carries a body its signature does not cover: a scheme that signs the body signed
 * an empty one (a GET's signature replayed on a POST), or the body arrived where the scheme could
 * not hash it. Forwarding it would hand the upstream bytes nobody signed.
 */
export class BodyNotSigned extends HmacKitError {
  static override code = 'ERR_BODY_NOT_SIGNED' as const;
  override readonly code = BodyNotSigned.code;
}

/**
 * The body can be read in more than one way by the services that will read it (JSON with a
 * repeated object name: Python keeps the last, many parsers the first), so what was verified
 * need not be what the upstream acts on.
 */
export class BodyAmbiguous extends HmacKitError {
  static override code = 'ERR_BODY_AMBIGUOUS' as const;
  override readonly code = BodyAmbiguous.code;
}

/**
 * The body an adapter was asked to parse as JSON (`@hmac-kit/express`'s `json` option) is not JSON,
 * or not the JSON the parser accepts (strict: an object or an array at the top level). Raised only
 * after the signature and the body verified: an unauthenticated client never has its body parsed.
 */
export class BodyNotJson extends HmacKitError {
  static override code = 'ERR_BODY_NOT_JSON' as const;
  override readonly code = BodyNotJson.code;
}

/**
 * The body is declared in a charset the parser does not decode (`Content-Type: application/json;
 * charset=...` other than utf-8): refused before anything is read or verified.
 */
export class CharsetUnsupported extends HmacKitError {
  static override code = 'ERR_CHARSET_UNSUPPORTED' as const;
  override readonly code = CharsetUnsupported.code;
}

/**
 * The body has a `Content-Encoding` (gzip, br, deflate...) where the reader only takes bodies as
 * sent (identity): refused before anything is read, rather than decompressed without a bound.
 */
export class ContentEncodingUnsupported extends HmacKitError {
  static override code = 'ERR_CONTENT_ENCODING_UNSUPPORTED' as const;
  override readonly code = ContentEncodingUnsupported.code;
}

/** The body is larger than the configured limit. */
export class BodyTooLarge extends HmacKitError {
  static override code = 'ERR_BODY_TOO_LARGE' as const;
  override readonly code = BodyTooLarge.code;
}

/** The authenticated key lacks a scope the route requires. */
export class ScopeInsufficient extends HmacKitError {
  static override code = 'ERR_SCOPE_INSUFFICIENT' as const;
  override readonly code = ScopeInsufficient.code;
  readonly requiredScopes: readonly string[];
  constructor(message: string, requiredScopes: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.requiredScopes = requiredScopes;
  }
}

/** The key (or the source address) exceeded its rate limit. */
export class RateLimited extends HmacKitError {
  static override code: ErrorCode = 'ERR_RATE_LIMITED';
  override readonly code: ErrorCode = RateLimited.code;
  /** Seconds until a retry may succeed. */
  readonly retryAfter: number;
  /** Requests allowed per window, and the window in seconds (for RateLimit-Policy). */
  readonly limit: number;
  readonly windowSeconds: number;
  constructor(
    message: string,
    info: { retryAfter: number; limit: number; windowSeconds: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryAfter = info.retryAfter;
    this.limit = info.limit;
    this.windowSeconds = info.windowSeconds;
  }
}

/** Too many failed attempts from one address or for one key id; blocked for a while. */
export class TooManyFailures extends RateLimited {
  static override code = 'ERR_TOO_MANY_FAILURES' as const;
  override readonly code = TooManyFailures.code;
}

/** A store (keys, nonces, rate limits) could not be reached. Verification fails closed. */
export class StoreUnavailable extends HmacKitError {
  static override code = 'ERR_STORE_UNAVAILABLE' as const;
  override readonly code = StoreUnavailable.code;
}

/**
 * What an error of a store or of the key resolver is answered as: an hmac-kit error as itself
 * (`StoreUnavailable`, or a refusal the store decided), anything else (a custom store's plain
 * `Error`, a driver's error, a value that is not an error) as `StoreUnavailable` (503
 * `store_unavailable`, fail closed) instead of a 500. The thrown value is kept as `cause` for
 * `onFailure`; the new message names the store and the error's class, never its message (a
 * driver's message can carry a connection string with a password). `toProblem` never sends
 * either to the client.
 *
 * @example
 * ```ts
 * try {
 *   fresh = store.checkAndStoreNow(keyId, nonce, ttl);
 * } catch (error) {
 *   throw storeFailure(error, 'nonce store');
 * }
 * ```
 */
export function storeFailure(error: unknown, store: string): HmacKitError {
  if (isHmacKitError(error)) return error;
  return new StoreUnavailable(`${store} failed (${thrownKind(error)})`, { cause: error });
}

/**
 * A thrower for a promise's rejection or a `catch` of `store`'s calls: {@link storeFailure} of what
 * came, thrown. One per store, made once (no closure per request).
 *
 * @example
 * ```ts
 * const nonceStoreFailed = storeFailureThrower('nonce store');
 * store.checkAndStore(keyId, nonce, ttl).then(recorded, nonceStoreFailed);
 * ```
 */
export function storeFailureThrower(store: string): (error: unknown) => never {
  return (error) => {
    throw storeFailure(error, store);
  };
}

/**
 * `value instanceof HmacKitError`, `false` where asking throws (a Proxy whose prototype cannot be
 * read): what a store or an app threw is not trusted to answer `instanceof` quietly.
 *
 * @example
 * ```ts
 * if (!isHmacKitError(error)) console.error('internal error'); // a bug, not a refusal
 * ```
 */
export function isHmacKitError(value: unknown): value is HmacKitError {
  try {
    return value instanceof HmacKitError;
  } catch {
    return false;
  }
}

/** The longest error class name a message repeats (a longer `name` is not a class's). */
const MAX_KIND_LENGTH = 64;

/**
 * The class of a thrown value for a message and a log line, never throwing: an `Error`'s `name` when
 * it reads as a class name (word characters, `.`, `$`, `-`; at most 64), else `Error`; the `typeof`
 * of anything else. What a store throws is the store's: its `name` may be a getter that throws, a
 * value whose `toString` throws, many lines, a megabyte (review17-store-failure-hostile.test.ts).
 */
function thrownKind(error: unknown): string {
  try {
    if (!(error instanceof Error)) return error === null ? 'null' : typeof error;
    const name: unknown = error.name;
    return typeof name === 'string' && name.length <= MAX_KIND_LENGTH && /^[\w.$-]+$/.test(name) ? name : 'Error';
  } catch {
    return 'unreadable';
  }
}

// ---- classifying an error by the table (error-table.ts) ----

/**
 * The table row of an error, or `undefined` when it is not an hmac-kit error with a known code
 * (which callers answer as 500 `internal_error`).
 *
 * @example
 * ```ts
 * const row = errorEntry(error);
 * if (row?.countsAsFailure) await throttle.recordFailure(subject);
 * ```
 */
export function errorEntry(error: unknown): ErrorEntry | undefined {
  return error instanceof HmacKitError && isErrorCode(error.code) ? ERROR_TABLE[error.code] : undefined;
}

/**
 * Whether an error is a failed attempt for the failure throttle (the table's `countsAsFailure`).
 *
 * @example
 * ```ts
 * if (countsAsFailure(error)) await throttle.recordFailure(`addr:${address}`);
 * ```
 */
export function countsAsFailure(error: unknown): boolean {
  return errorEntry(error)?.countsAsFailure ?? false;
}

/**
 * For logs and audit: turns a `KeyUnknown` into `KeyRevoked`, `KeyExpired` or `KeyInactive` when the
 * resolver knows the key exists but is not usable (see `KeyResolver.inactiveReason`). The client's
 * answer does not change (every one of them is shown as `signature_invalid`); only what the
 * operator reads does. Any other error, or a resolver without `inactiveReason`, is returned as is.
 *
 * @example
 * ```ts
 * onFailure(explainKeyFailure(error, keyService.resolver, keyId), context);
 * ```
 */
export function explainKeyFailure(error: unknown, keys: KeyResolver | undefined, keyId: string | undefined): unknown {
  if (!(error instanceof KeyUnknown) || keyId === undefined || typeof keys?.inactiveReason !== 'function') return error;
  let reason: string | undefined;
  try {
    reason = keys.inactiveReason(keyId);
  } catch {
    return error;
  }
  if (reason === 'revoked') return new KeyRevoked('the key is revoked', { cause: error });
  if (reason === 'expired') return new KeyExpired('the key is expired', { cause: error });
  if (reason === 'disabled') return new KeyInactive("the key's principal is disabled", { cause: error });
  return error;
}
