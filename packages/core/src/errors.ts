/**
 * Every failure hmac-kit reports is an {@link HmacKitError} subclass with a stable
 * `code`. Codes are part of the public API: logs, metrics and tests key on them.
 *
 * What the *client* is told is deliberately coarser (see `toProblem` in
 * `problem.ts`): an unknown key id and a wrong signature produce the same answer,
 * so a caller cannot probe which key ids exist.
 */
export class HmacKitError extends Error {
  /** Stable machine-readable code, e.g. `ERR_SIGNATURE_INVALID`. */
  static code = 'ERR_HMAC_KIT';
  /** Stable machine-readable code, e.g. `ERR_SIGNATURE_INVALID`. */
  readonly code: string = HmacKitError.code;

  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = this.constructor.name;
  }
}

/** The request carries no signature of any enabled scheme. */
export class SignatureMissing extends HmacKitError {
  static override code = 'ERR_SIGNATURE_MISSING';
  override readonly code = SignatureMissing.code;
}

/** A signature header (or parameter) could not be parsed. */
export class SignatureMalformed extends HmacKitError {
  static override code = 'ERR_SIGNATURE_MALFORMED';
  override readonly code = SignatureMalformed.code;
}

/** No key with the presented key id exists (or it is revoked / expired). Clients see this as {@link SignatureInvalid}. */
export class KeyUnknown extends HmacKitError {
  static override code = 'ERR_KEY_UNKNOWN';
  override readonly code = KeyUnknown.code;
}

/** The key exists but is revoked or past its expiry. Clients see this as {@link SignatureInvalid}. */
export class KeyInactive extends HmacKitError {
  static override code = 'ERR_KEY_INACTIVE';
  override readonly code = KeyInactive.code;
}

/** The signature does not match. */
export class SignatureInvalid extends HmacKitError {
  static override code = 'ERR_SIGNATURE_INVALID';
  override readonly code = SignatureInvalid.code;
}

/** Base of the two clock failures; carries the server's time so clients can correct skew. */
export class TimestampOutOfWindow extends HmacKitError {
  static override code = 'ERR_TIMESTAMP_OUT_OF_WINDOW';
  override readonly code: string = TimestampOutOfWindow.code;
  /** Server time (Unix seconds) at verification. */
  readonly serverTime: number;
  constructor(message: string, serverTime: number, options?: { cause?: unknown }) {
    super(message, options);
    this.serverTime = serverTime;
  }
}

/** `created` is older than the allowed age, or `expires` has passed. */
export class SignatureExpired extends TimestampOutOfWindow {
  static override code = 'ERR_SIGNATURE_EXPIRED';
  override readonly code = SignatureExpired.code;
}

/** `created` lies further in the future than the clock-skew tolerance allows. */
export class SignatureFromFuture extends TimestampOutOfWindow {
  static override code = 'ERR_SIGNATURE_FROM_FUTURE';
  override readonly code = SignatureFromFuture.code;
}

/** Policy requires a nonce and the signature has none. */
export class NonceMissing extends HmacKitError {
  static override code = 'ERR_NONCE_MISSING';
  override readonly code = NonceMissing.code;
}

/** This (key id, nonce) pair was already accepted inside the window. */
export class NonceReplayed extends HmacKitError {
  static override code = 'ERR_NONCE_REPLAYED';
  override readonly code = NonceReplayed.code;
}

/** The request has a body but no (acceptable) body digest is covered by the signature. */
export class DigestMissing extends HmacKitError {
  static override code = 'ERR_DIGEST_MISSING';
  override readonly code = DigestMissing.code;
}

/** The body bytes do not hash to the signed digest. */
export class DigestMismatch extends HmacKitError {
  static override code = 'ERR_DIGEST_MISMATCH';
  override readonly code = DigestMismatch.code;
}

/** A component the policy requires is not covered by the signature. */
export class ComponentNotCovered extends HmacKitError {
  static override code = 'ERR_COMPONENT_NOT_COVERED';
  override readonly code = ComponentNotCovered.code;
}

/** The signature names an algorithm that is not accepted, or that does not match the key's. */
export class AlgorithmUnsupported extends HmacKitError {
  static override code = 'ERR_ALGORITHM_UNSUPPORTED';
  override readonly code = AlgorithmUnsupported.code;
}

/** The signature's `tag` parameter is not one the verifier accepts. */
export class TagNotAccepted extends HmacKitError {
  static override code = 'ERR_TAG_NOT_ACCEPTED';
  override readonly code = TagNotAccepted.code;
}

/**
 * The scheme signs the body itself (X-API-*, SigV4 without a payload hash, django-hmac, Standard
 * Webhooks) and this verifier cannot see the body (forward-auth): nothing about the request is proven.
 */
export class BodyUnavailable extends HmacKitError {
  static override code = 'ERR_BODY_UNAVAILABLE';
  override readonly code = BodyUnavailable.code;
}

/** The body is larger than the configured limit. */
export class BodyTooLarge extends HmacKitError {
  static override code = 'ERR_BODY_TOO_LARGE';
  override readonly code = BodyTooLarge.code;
}

/** The authenticated key lacks a scope the route requires. */
export class ScopeInsufficient extends HmacKitError {
  static override code = 'ERR_SCOPE_INSUFFICIENT';
  override readonly code = ScopeInsufficient.code;
  readonly requiredScopes: readonly string[];
  constructor(message: string, requiredScopes: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.requiredScopes = requiredScopes;
  }
}

/** The key (or the source address) exceeded its rate limit. */
export class RateLimited extends HmacKitError {
  static override code = 'ERR_RATE_LIMITED';
  override readonly code: string = RateLimited.code;
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
  static override code = 'ERR_TOO_MANY_FAILURES';
  override readonly code = TooManyFailures.code;
}

/** A store (keys, nonces, rate limits) could not be reached. Verification fails closed. */
export class StoreUnavailable extends HmacKitError {
  static override code = 'ERR_STORE_UNAVAILABLE';
  override readonly code = StoreUnavailable.code;
}
