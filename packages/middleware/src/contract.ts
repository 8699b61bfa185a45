/**
 * The authenticator's public contract: its options, what it is told about a request, and the
 * outcomes it answers with. A leaf module: `options.ts`, `side-effects.ts` and `authenticator.ts`
 * import it, it imports none of them.
 */
import type {
  BodyInput,
  CryptoProvider,
  FailureThrottle,
  KeyResolver,
  MessageParts,
  NonceStore,
  Problem,
  RateLimiter,
  Scheme,
  VerifyPolicy,
} from '@hmac-kit/core';
import type { HmacIdentity } from './identity.js';

/** Requests allowed per window. */
export interface RateLimitRule {
  limit: number;
  windowSeconds: number;
}

/** What the transport knows about a request beyond what is signed. */
export interface AuthContext {
  /** Peer address (after any trusted-proxy resolution); keys the failure throttle (alone and with the key id). */
  sourceAddress?: string;
}

/** Handed to `onFailure` with every failed authentication or authorization. */
export interface AuthFailureContext extends AuthContext {
  method: string;
  /** The request URL without its query (presigned URLs carry credentials there). */
  url: string;
  /** Key id the request claimed, unverified (absent when none could be parsed). */
  keyId?: string;
}

/** The response to send for a failure: status, headers (WWW-Authenticate, Retry-After...) and a problem+json body. */
export type ProblemResponse = Problem;

/** A request that may proceed; `headers` (RateLimit fields) belong on the response. */
export interface AuthSuccess {
  ok: true;
  identity: HmacIdentity;
  headers: Record<string, string>;
}

/**
 * A request that must be refused. `error` keeps the precise reason for logs; `problem`
 * is what the client may see (an unknown key and a wrong signature look the same).
 */
export interface AuthFailure {
  ok: false;
  error: unknown;
  problem: ProblemResponse;
}

export type AuthOutcome = AuthSuccess | AuthFailure;

/**
 * A request admitted by the pipeline's header stages (parse, gate, key + MAC, policy), for
 * callers that stream the body or never see it (the gateway, forward-auth). Feed the body to
 * `update`, then `finish()` (body stage and commit: the nonce, the failure bookkeeping and the
 * rate limit happen there, once the request is proven). `signatureVerified: false` means the
 * scheme signs over the body itself (X-API-*, SigV4 without a payload hash, django-hmac,
 * webhooks): nothing, not even the sender, is proven before `finish()`, so a caller that cannot
 * see the body must refuse it. A caller that must pass the request on before its body is known
 * calls `commitBeforeBody()` first: the nonce is then a reservation that a failing body releases.
 */
export interface Admission {
  ok: true;
  identity: HmacIdentity;
  signatureVerified: boolean;
  /** Whether the scheme binds the body (there is a body check to feed). */
  checksBody: boolean;
  update(chunk: Uint8Array): void;
  /** Body stage and commit; the failure (if any) is already recorded and reported. */
  finish(): Promise<AuthOutcome>;
  /** `finish()` for a body already in memory (one-shot digest). */
  complete(body: Uint8Array): Promise<AuthOutcome>;
  /** Commit before the body is known (only when `signatureVerified`); resolves with the rate-limit headers. */
  commitBeforeBody(): Promise<AuthOutcome>;
  /**
   * `finish()` without a promise when the body stage and the commit answer synchronously (see
   * {@link Authenticator.authenticateEagerly}); otherwise the promise `finish()` returns. Same
   * decisions, same side effects. Present on the admissions of `admitEagerly()`.
   */
  finishEagerly?(): AuthOutcome | Promise<AuthOutcome>;
  /**
   * `complete(body)` without a promise when the body stage and the commit answer synchronously, as
   * {@link Admission.finishEagerly}. Present on the admissions of `admitEagerly()`.
   */
  completeEagerly?(body: Uint8Array): AuthOutcome | Promise<AuthOutcome>;
  /** `commitBeforeBody()` without a promise when the commit answers synchronously, as {@link Admission.finishEagerly}. */
  commitBeforeBodyEagerly?(): AuthOutcome | Promise<AuthOutcome>;
  /** Records a failure of the caller's own after admission (body too large, client gone), releasing a reservation. */
  fail(error: unknown): Promise<AuthFailure>;
  /**
   * After a successful `finish()`/`complete()`: the bytes the signature covers when the scheme signs a
   * re-serialisation of the body (django-hmac), to forward instead of the body as received.
   */
  signedBody(): Uint8Array | undefined;
}

/** Options of {@link createAuthenticator}. Only `keys` is required. */
export interface AuthenticatorOptions {
  /** Finds verification keys by id (a KeyStore's resolver, or a function over a map). */
  keys: KeyResolver;
  /** Accepted schemes, tried in order. Default `[rfc9421()]`. */
  schemes?: readonly Scheme[];
  /** What is enforced: required components, clock window, nonce, algorithms, tags. */
  policy?: VerifyPolicy;
  /**
   * Replay protection: a store, or a factory called once at construction. Default: a bounded
   * in-memory store (`memoryNonceStore()` of `@hmac-kit/limits`), which only protects a
   * single process: give every instance of a horizontally scaled service the same Redis-backed store.
   */
  nonceStore?: NonceStore | (() => NonceStore);
  /** Counts authenticated requests per key id. Without it nothing is rate limited. */
  rateLimiter?: RateLimiter;
  /** Limit for keys without their own `rateLimit`. Without it such keys are not limited. */
  defaultRateLimit?: RateLimitRule;
  /**
   * Blocks repeated failures per source address and per (source address, claimed key id) pair,
   * never per key id alone: key ids are public, so a block on one would let anyone lock its owner
   * out. Needs `sourceAddress` in the context; without one nothing is throttled. Consulted before
   * anything is verified, so a blocked attacker costs one store lookup.
   */
  failureThrottle?: FailureThrottle;
  /** Crypto primitives; Node adapters pass `nodeCryptoProvider`. Default: the core's WebCrypto provider. */
  crypto?: CryptoProvider;
  /** Largest body hashed, in bytes; larger ones get 413. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /** `realm` of the `WWW-Authenticate` challenge. */
  realm?: string;
  /** Current time in Unix seconds; injectable for tests. */
  now?: () => number;
  /**
   * Called with the precise error (its `code` says why) for every refused request: the place
   * for logs and metrics. The client only gets the coarse problem. Must not throw; if it does,
   * the exception is ignored. Without it, failures that are not refusals (`internal_error`: a key
   * resolver returning a malformed key, a bug) are printed with `console.error`.
   */
  onFailure?: (error: unknown, context: AuthFailureContext) => void;
  /**
   * Mismatch diagnostics, off by default: a `signature_invalid` problem carries the server's
   * signature base (`signature_base`: what was MACed, rebuilt from the request alone, never a MAC or
   * a secret) so a developer can diff it against the client's (`hmac-kit request -v`). It shows
   * anyone who can send requests how the server canonicalises them: development and loopback
   * endpoints only (docs/troubleshooting.md#debug-signatures). Changes no side effect.
   */
  debugSignatures?: boolean;
}

/** The object {@link createAuthenticator} returns; every adapter is a thin layer over it. */
export interface Authenticator {
  /** Verifies one request. Never throws: every failure comes back as `{ ok: false }`. */
  authenticate(message: MessageParts, body: BodyInput, context?: AuthContext): Promise<AuthOutcome>;
  /**
   * {@link Authenticator.authenticate} without a promise when every step answers synchronously: a body
   * in memory (`Uint8Array`), a key resolver answering from memory, stores with the synchronous
   * capabilities (`checkAndStoreNow`, `hitNow`, the throttle's `*Now`: the memory stores of
   * `@hmac-kit/limits`) and a crypto provider without promises (`nodeCryptoProvider`). Otherwise
   * (any step that answers with a promise) it returns the promise `authenticate` would. Same
   * decisions, same side effects, same outcomes; never throws.
   *
   * @example
   * ```ts
   * const outcome = authenticator.authenticateEagerly(message, rawBody, { sourceAddress });
   * if (isPromiseLike(outcome)) return outcome.then(answer);
   * return answer(outcome);
   * ```
   */
  authenticateEagerly(
    message: MessageParts,
    body: BodyInput,
    context?: AuthContext,
  ): AuthOutcome | Promise<AuthOutcome>;
  /**
   * The header stages of {@link Authenticator.authenticate} (the same pipeline), for callers that
   * stream the body or never see it (a gateway, a forward-auth endpoint): returns an
   * {@link Admission} whose `finish()` runs the body stage and the commit. Never throws.
   */
  admit(message: MessageParts, context: AuthContext & { hasBody: boolean }): Promise<Admission | AuthFailure>;
  /**
   * {@link Authenticator.admit} without a promise when every header stage answers synchronously
   * (the conditions of {@link Authenticator.authenticateEagerly}); otherwise the promise `admit`
   * returns. Same stages, decisions and side effects; never throws. Its admissions have
   * `finishEagerly()` and `commitBeforeBodyEagerly()`. Optional: a wrapper that must see every
   * step (tracing spans around `admit` and the admission's methods) leaves it out, and callers
   * fall back to `admit`.
   */
  admitEagerly?(
    message: MessageParts,
    context: AuthContext & { hasBody: boolean },
  ): Admission | AuthFailure | Promise<Admission | AuthFailure>;
  /** Checks that an authenticated identity holds every scope; a failure carries a 403 problem. */
  authorize(identity: HmacIdentity, scopes: readonly string[], context?: AuthFailureContext): AuthOutcome;
  /** Turns any error into a failure outcome (reporting it to `onFailure`), for adapters' own errors. */
  fail(error: unknown, context?: Partial<AuthFailureContext>): AuthFailure;
  /** The body size limit adapters must apply when they buffer a body themselves. */
  readonly maxBodyBytes: number;
}
