/**
 * The contracts every part of hmac-kit is built against. Implementations live
 * elsewhere (crypto providers, schemes, stores); this file only names shapes.
 */

/** Hash functions hmac-kit signs with. The key's algorithm binds which one is used. */
export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';

/** An incremental hash: feed chunks as they stream, read the digest once. */
export interface IncrementalHash {
  update(chunk: Uint8Array): void;
  digest(): Uint8Array;
}

/**
 * Cryptographic primitives. The core ships a WebCrypto + pure-JS provider that runs
 * everywhere; Node servers inject `nodeCryptoProvider` from `@hmac-kit/node-crypto`
 * for synchronous, faster primitives.
 */
export interface CryptoProvider {
  /** HMAC of `data` under `key`. May answer synchronously. */
  hmac(algorithm: HashAlgorithm, key: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** A hash that can be fed chunk by chunk (bodies are never buffered only to be hashed). */
  createHash(algorithm: HashAlgorithm): IncrementalHash;
  /**
   * Optional one-shot digest of bytes already in memory. When present, body checks that receive
   * the whole body as one chunk use it instead of an incremental hash (node:crypto's `crypto.hash`
   * skips the per-call Hash object).
   */
  hash?(algorithm: HashAlgorithm, data: Uint8Array): Uint8Array;
  /**
   * Optional: HMAC over the latin-1 bytes of `text` (the caller guarantees every character is
   * at most U+00FF), returned as a binary string (one character U+0000..U+00FF per byte). The
   * verifier uses it for signature bases, which are strings: node:crypto then neither encodes the
   * text nor allocates a Buffer for the MAC (together ~1 µs of a ~6 µs verification).
   */
  hmacString?(algorithm: HashAlgorithm, key: Uint8Array, text: string): string;
  /**
   * Optional: {@link CryptoProvider.hash} returning a string, for the same reason: `binary`
   * (default; one character per byte) or `hex`. A string `data` stands for its UTF-8 bytes
   * (SigV4's canonical request), which node:crypto then encodes natively.
   */
  hashString?(algorithm: HashAlgorithm, data: Uint8Array | string, encoding?: 'binary' | 'hex'): string;
  /** An incremental HMAC, for schemes that sign the body itself (Standard Webhooks). */
  createHmac(algorithm: HashAlgorithm, key: Uint8Array): IncrementalHash;
  /** Cryptographically secure random bytes. */
  randomBytes(length: number): Uint8Array;
  /** Constant-time equality of two byte strings (false, in constant time for equal lengths, when they differ). */
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}

/**
 * A key as the verifier sees it. `secret` holds the raw key bytes (see
 * docs/protocol.md "Secrets" for how each scheme derives its HMAC key from them).
 */
export interface VerificationKey {
  keyId: string;
  /** Raw secret bytes (at least 32 for keys hmac-kit issues). */
  secret: Uint8Array;
  /** The one hash algorithm this key signs with (for a client-chooses key: the one used where the request does not name one). */
  algorithm: HashAlgorithm;
  /**
   * `true` for keys stored with algorithm `any` (django-hmac keys from the obtain endpoint or imported,
   * `keys import --algorithm any`): schemes whose requests name their algorithm (django-hmac,
   * declarative schemes accepting several) let the client choose among SHA-256/384/512, as the
   * original servers do. Schemes whose requests do not name one use `algorithm`.
   */
  anyAlgorithm?: boolean;
  /** Who the key belongs to (user or service name). */
  principal?: string;
  scopes?: readonly string[];
  /** Per-key rate limit override, requests per window. */
  rateLimit?: { limit: number; windowSeconds: number };
}

/** Why a key id that resolved to nothing has no usable key (see {@link KeyResolver.inactiveReason}). */
export type InactiveKeyReason = 'revoked' | 'expired' | 'disabled';

/**
 * Finds a key by id; `undefined` when there is none. May throw `StoreUnavailable`.
 *
 * A resolver may also carry `inactiveReason(keyId)`: for an id it just answered `undefined` for,
 * whether the key exists but is revoked, expired or its principal disabled. It is read only after
 * a failure, for logs and audit (`ERR_KEY_REVOKED`, `ERR_KEY_EXPIRED`); the client's answer is the
 * same `signature_invalid` either way. It must answer synchronously from what the lookup already
 * learnt (no store round trip), and never throw.
 */
export type KeyResolver = ((keyId: string) => VerificationKey | undefined | Promise<VerificationKey | undefined>) & {
  inactiveReason?: (keyId: string) => InactiveKeyReason | undefined;
  /**
   * Optional capability (absent: the pipeline leaves it out): told about every request the
   * pipeline fully proved with a key this resolver answered — after the body stage and the commit
   * stage (nonce recorded, rate limit charged), never for a forged signature, a replay, a
   * rate-limited request or a body that fails its digest. A key service records "last used" here
   * rather than at lookup, which anyone who knows a key id can trigger. Called once per request,
   * synchronously, on the request's path: keep it cheap (batch writes); it must not throw (an error
   * is ignored: the request stays proven). A caller that stops at `commitBeforeBody()` without
   * `finish()` (forward-auth) never reaches it and records such requests itself.
   *
   * @example
   * ```ts
   * const keys: KeyResolver = Object.assign((keyId: string) => byId.get(keyId), {
   *   proven: (request: VerifiedRequest) => lastUsed.set(request.keyId, Date.now()),
   * });
   * ```
   */
  proven?: (request: VerifiedRequest) => void;
};

/** Header access that works over `Headers`, Node's `IncomingHttpHeaders` and plain records. */
export type HeadersInit = Headers | Record<string, string | string[] | undefined>;

/** A body the verifier can hash: bytes, a web stream, or any async iterable of chunks (Node streams). */
export type BodyInput = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null | undefined;

/**
 * A request reduced to what signatures cover, for frameworks without `Request` objects.
 * `url` is the absolute URL *as the client addressed it* (scheme, authority, path, query);
 * behind a proxy, build it from the configured public origin.
 */
export interface MessageParts {
  method: string;
  url: string | URL;
  headers: HeadersInit;
}

/** Replay protection. Implementations: memory and Redis in `@hmac-kit/limits`. */
export interface NonceStore {
  /**
   * Atomically records (keyId, nonce) for `ttlSeconds`. Resolves `true` when it was new,
   * `false` when it was already present. Throws `StoreUnavailable` when unreachable.
   */
  checkAndStore(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): Promise<boolean>;
  /**
   * Unix seconds from which the store is known to hold every nonce it ever accepted (memory: the
   * process start; Redis: a marker written when the store was first seen empty, so a Redis that
   * restarted without persistence starts a new epoch). A signature created before the epoch may
   * already have been accepted by the store's previous life, so verifiers refuse it
   * (`signature_expired`, see `checkNonceEpoch`). Pass the value the request was checked against
   * as `checkAndStore`'s `checkedEpoch`: a store whose epoch moved on since then refuses to record
   * (`StoreUnavailable`) instead of accepting a request checked against a stale epoch.
   * A store without `epoch` is taken to never lose what it recorded (e.g. durable storage).
   */
  epoch?(): number | Promise<number>;
  /**
   * Forgets (keyId, nonce) recorded by this caller's own `checkAndStore` (a reservation), when the
   * request it was held for failed later (its body did not match): the genuine request can then
   * still be accepted. Never call it for a nonce another request recorded.
   */
  release?(keyId: string, nonce: string): Promise<void>;
  /**
   * Optional capability of a store whose state lives in this process (the memory store): exactly
   * `checkAndStore`, answered synchronously (same record, same answer; errors are thrown instead of
   * rejected). Verifiers use it when present, so a request whose key resolves synchronously is
   * verified without a promise; a store without it (Redis, SQL) is called through `checkAndStore`.
   *
   * @example
   * ```ts
   * const fresh = store.checkAndStoreNow ? store.checkAndStoreNow(keyId, nonce, 300) : await store.checkAndStore(keyId, nonce, 300);
   * ```
   */
  checkAndStoreNow?(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean;
}

/** What a verifier enforces. Every field has a documented default. */
export interface VerifyPolicy {
  /** Components the signature must cover (RFC 9421 names). Default: `@method @authority @path @query`, plus `content-digest` when there is a body. */
  requiredComponents?: readonly string[];
  /** Oldest acceptable `created`, in seconds. Default 300. */
  maxAgeSeconds?: number;
  /** How far ahead a client clock may run, in seconds. Default 5. */
  clockSkewSeconds?: number;
  /** Whether a nonce is mandatory. Default true. */
  requireNonce?: boolean;
  /** Accepted algorithms. Default all three. */
  algorithms?: readonly HashAlgorithm[];
  /** Accepted `tag` values; `undefined` accepts any or none. */
  tags?: readonly string[];
  /** Largest body hashed, in bytes. Default unlimited at this layer (servers set one). */
  maxBodyBytes?: number;
}

/** What a successful verification tells the application. */
export interface VerifiedRequest {
  /** Scheme that matched, e.g. `rfc9421`, `sigv4`. */
  scheme: string;
  keyId: string;
  key: VerificationKey;
  /** Components covered by the signature, in signed order. */
  coveredComponents: readonly string[];
  /** Signature creation time (Unix seconds), when the scheme has one. */
  created?: number;
  expires?: number;
  /**
   * Last second (Unix) at which the scheme would still accept this very signature, when its own
   * window reaches past the policy's (Standard Webhooks' symmetric tolerance): replay protection
   * remembers the nonce at least until then.
   */
  acceptableUntil?: number;
  nonce?: string;
  tag?: string;
}

/** Options shared by every verify call. */
export interface VerifyOptions {
  keys: KeyResolver;
  policy?: VerifyPolicy;
  nonceStore?: NonceStore;
  crypto?: CryptoProvider;
  /** Current time in Unix seconds; injectable for tests. */
  now?: () => number;
  /**
   * Mismatch diagnostics (off by default): a `signature_invalid` refusal carries the server's
   * signature base, which `toProblem` adds to the problem body as `signature_base`. Never a MAC
   * or a secret; but it shows anyone who sends requests how they are canonicalised, so enable it
   * on development and loopback endpoints only (docs/troubleshooting.md).
   */
  debugSignatures?: boolean;
}

/**
 * What verifying the signature (not yet the body) produced. When the scheme binds
 * the body, `body` must be fed every body byte and then `finish()`ed; `finish`
 * throws `DigestMismatch` when the bytes do not match what was signed.
 */
export interface SignatureCheck {
  result: VerifiedRequest;
  body: BodyCheck | null;
  /**
   * `true` when the signature itself was verified in the header phase and `body` only checks
   * a digest the signature covers; `false` when the signature covers the body itself and
   * nothing, not even the sender, is proven until `body.finish()` resolves. Either way the
   * nonce is recorded only once the body passed (the pipeline's commit stage).
   */
  signatureVerified: boolean;
}

/** Streams body bytes through the scheme's digest. */
export interface BodyCheck {
  update(chunk: Uint8Array): void;
  /** Resolves when the digest matches; rejects with `DigestMismatch` otherwise. */
  finish(): Promise<void>;
  /**
   * Optional: the whole body in one call, the same as `update(body)` then `finish()` on a fresh
   * check. Lets a body already in memory be hashed one-shot (see {@link CryptoProvider.hash}).
   */
  complete?(body: Uint8Array): Promise<void>;
  /**
   * Optional, for schemes whose signature covers a re-serialisation of the body rather than its
   * bytes (django-hmac): once `finish()` has resolved, the bytes a verifier that hands the body on
   * (the gateway) must send instead of the body as received, so the next reader sees exactly what
   * was signed.
   */
  signedBody?(): Uint8Array;
}

/** Key material a signer uses. `secret` is the printable secret string (`hks_...`) or raw bytes. */
export interface SigningKey {
  keyId: string;
  secret: string | Uint8Array;
  algorithm?: HashAlgorithm;
}

/** Outcome of one rate-limit hit. */
export interface RateLimitDecision {
  allowed: boolean;
  /** Requests allowed per window. */
  limit: number;
  /** Requests left in the current window (0 when refused). */
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
  windowSeconds: number;
  /** When refused: seconds until a retry can succeed, when the limiter knows it more precisely than `resetSeconds`. */
  retryAfterSeconds?: number;
}

/**
 * A fixed- or sliding-window counter keyed by string (e.g. `key:hk_...`).
 * Implementations: memory and Redis (atomic Lua) in `@hmac-kit/limits`.
 */
export interface RateLimiter {
  /** Counts one request against `key` and says whether it is allowed. Throws `StoreUnavailable` when unreachable. */
  hit(key: string, limit: number, windowSeconds: number): Promise<RateLimitDecision>;
  /**
   * Optional capability of an in-process limiter (the memory limiter): exactly `hit`, answered
   * synchronously (errors thrown instead of rejected). Used by the middleware when present.
   */
  hitNow?(key: string, limit: number, windowSeconds: number): RateLimitDecision;
}

/**
 * Slows down and then blocks repeated failures from one source address or for one
 * key id (never revokes anything: that would hand attackers a denial of service).
 */
export interface FailureThrottle {
  /** Seconds the subject is blocked for, or 0 when it may proceed. */
  blockedFor(subject: string): Promise<number>;
  /** Records one failure; returns the seconds the subject is now blocked for (0 if not yet). */
  recordFailure(subject: string): Promise<number>;
  /** Clears the subject's failures after a success. */
  recordSuccess(subject: string): Promise<void>;
  /**
   * Optional: how the throttle escalates (the throttles of @hmac-kit/limits say so). The middleware
   * applies the same escalation, in process, to the failures it proves, and re-checks it right
   * before the MAC; a throttle without it is taken to have the defaults (10 in 60 s, 300 s block,
   * 3 free, 1 s first slowdown).
   */
  readonly escalation?: Readonly<{
    maxFailures: number;
    windowSeconds: number;
    blockSeconds: number;
    freeFailures: number;
    slowdownSeconds: number;
  }>;
  /**
   * Optional: the clock the throttle reads, when it is one of this process (the memory throttle's,
   * its `now` option: milliseconds like `Date.now`). The middleware's per-process tally of failures
   * reads the same clock, so a block that ran out for the throttle has run out for the tally (a fake
   * clock in tests included). Without it (Redis: the server's clock) the tally reads `Date.now`.
   * An object, not a method: wrappers that trace every method of a store leave it alone.
   */
  readonly clock?: Readonly<{ now: () => number }>;
  /**
   * Optional capabilities of an in-process throttle (the memory throttle): `blockedFor`,
   * `recordFailure` and `recordSuccess` answered synchronously (same state, same answers; errors
   * thrown instead of rejected). The middleware uses them when present (all three or none).
   */
  blockedForNow?(subject: string): number;
  recordFailureNow?(subject: string): number;
  recordSuccessNow?(subject: string): void;
}
