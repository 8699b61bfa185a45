import type {
  BodyInput,
  CryptoProvider,
  FailureThrottle,
  KeyResolver,
  MessageParts,
  NonceStore,
  Problem,
  RateLimitDecision,
  RateLimiter,
  Scheme,
  SignatureCheck,
  VerifiedRequest,
  VerifyPolicy,
} from '@hmac-kit/core';
import {
  checkSignature,
  countsAsFailure,
  explainKeyFailure,
  HmacKitError,
  RateLimited,
  rfc9421,
  ScopeInsufficient,
  TooManyFailures,
  toProblem,
  verifyMessage,
} from '@hmac-kit/core';
import { addressNameSubject, addressSubject, type ProbingFailureThrottle, rateLimitHeaders } from '@hmac-kit/limits';
import { deferredRead } from './body.js';
import { type HmacIdentity, identityOf, missingScopes, validateScopes } from './identity.js';
import { createDefaultNonceStore } from './nonce-default.js';

/** Bodies larger than this are refused (413) unless `maxBodyBytes` says otherwise: 1 MiB, as Fastify's default. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

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
 * An admitted request (header phase): feed its body through `check.body` before trusting it.
 * `signatureVerified: false` means the scheme signs over the body itself (X-API-*, SigV4 without
 * a payload hash, django-hmac, webhooks): nothing about the request, not even who sent it, is
 * proven until `check.body.finish()` resolves, so a caller that cannot see the body must refuse it.
 */
export interface Admission extends AuthSuccess {
  check: SignatureCheck;
  signatureVerified: boolean;
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
}

/** The object {@link createAuthenticator} returns; every adapter is a thin layer over it. */
export interface Authenticator {
  /** Verifies one request. Never throws: every failure comes back as `{ ok: false }`. */
  authenticate(message: MessageParts, body: BodyInput, context?: AuthContext): Promise<AuthOutcome>;
  /**
   * The header phase of {@link Authenticator.authenticate}, for callers that stream the body
   * or never see it (a gateway, a forward-auth endpoint): the same throttle, signature, window,
   * nonce and rate-limit steps, returning the scheme's body check still to be fed. Report a
   * body that then fails its check with {@link Authenticator.bodyFailed}. Never throws.
   */
  admit(message: MessageParts, context: AuthContext & { hasBody: boolean }): Promise<Admission | AuthFailure>;
  /** Counts a body that failed its digest after {@link Authenticator.admit} against the throttle, and reports it. */
  bodyFailed(error: unknown, context: AuthFailureContext): Promise<void>;
  /** Checks that an authenticated identity holds every scope; a failure carries a 403 problem. */
  authorize(identity: HmacIdentity, scopes: readonly string[], context?: AuthFailureContext): AuthOutcome;
  /** Turns any error into a failure outcome (reporting it to `onFailure`), for adapters' own errors. */
  fail(error: unknown, context?: Partial<AuthFailureContext>): AuthFailure;
  /** The body size limit adapters must apply when they buffer a body themselves. */
  readonly maxBodyBytes: number;
}

// Key ids are chosen by the client; a bound keeps hostile ones out of the throttle's store.
const MAX_THROTTLED_KEY_ID_LENGTH = 200;

/** What the failure throttle is consulted on for one request (nothing without a source address). */
interface ThrottleSubjects {
  sourceAddress?: string;
  /** `addr:<address>`: every failure from the address. */
  address?: string;
  /** The pair (address, claimed key id): `addressNameSubject` of @hmac-kit/limits. */
  pair?: string;
}

function ignore(): void {}

// guarded()'s callbacks that capture nothing, created once rather than per request.
const neverPending = (): boolean => false;
const itself = (verified: VerifiedRequest): VerifiedRequest => verified;
const resultOf = (check: SignatureCheck): VerifiedRequest => check.result;
/** A check whose signature only its body proves (X-API-*, SigV4 without a payload hash...). */
const provenByBody = (check: SignatureCheck): boolean => check.body !== null && check.signatureVerified !== true;

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value instanceof Promise || typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

function isFunction(value: unknown): value is (...args: never[]) => unknown {
  return typeof value === 'function';
}

function hasMethods(value: unknown, ...methods: string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return methods.every((method) => isFunction(record[method]));
}

function assertPositiveInteger(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`createAuthenticator: ${what} must be a positive integer`);
  }
}

function assertRule(rule: unknown, what: string): asserts rule is RateLimitRule {
  if (typeof rule !== 'object' || rule === null) {
    throw new TypeError(`createAuthenticator: ${what} must be { limit, windowSeconds }`);
  }
  const { limit, windowSeconds } = rule as Record<string, unknown>;
  assertPositiveInteger(limit, `${what}.limit`);
  assertPositiveInteger(windowSeconds, `${what}.windowSeconds`);
}

function resolveNonceStore(option: AuthenticatorOptions['nonceStore']): NonceStore {
  if (option === undefined) return createDefaultNonceStore();
  const store = isFunction(option) ? (option as () => NonceStore)() : option;
  if (!hasMethods(store, 'checkAndStore')) {
    throw new TypeError(
      'createAuthenticator: nonceStore must be a NonceStore (with checkAndStore) or a factory of one',
    );
  }
  return store;
}

function validateOptions(options: AuthenticatorOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createAuthenticator: options must be an object');
  }
  if (!isFunction(options.keys)) {
    throw new TypeError(
      'createAuthenticator: keys must be a KeyResolver function (keyId) => VerificationKey | undefined',
    );
  }
  if (options.schemes !== undefined) {
    if (!Array.isArray(options.schemes) || options.schemes.length === 0) {
      throw new TypeError('createAuthenticator: schemes must be a non-empty array');
    }
    for (const scheme of options.schemes) {
      if (!hasMethods(scheme, 'detect', 'keyIdOf', 'verify')) {
        throw new TypeError('createAuthenticator: every scheme must implement detect, keyIdOf and verify');
      }
    }
  }
  if (options.policy !== undefined && (typeof options.policy !== 'object' || options.policy === null)) {
    throw new TypeError('createAuthenticator: policy must be an object');
  }
  if (options.rateLimiter !== undefined && !hasMethods(options.rateLimiter, 'hit')) {
    throw new TypeError('createAuthenticator: rateLimiter must implement hit()');
  }
  if (options.defaultRateLimit !== undefined) {
    assertRule(options.defaultRateLimit, 'defaultRateLimit');
    if (options.rateLimiter === undefined) {
      throw new TypeError('createAuthenticator: defaultRateLimit needs a rateLimiter to enforce it');
    }
  }
  if (
    options.failureThrottle !== undefined &&
    !hasMethods(options.failureThrottle, 'blockedFor', 'recordFailure', 'recordSuccess')
  ) {
    throw new TypeError('createAuthenticator: failureThrottle must implement blockedFor, recordFailure, recordSuccess');
  }
  if (options.crypto !== undefined && !hasMethods(options.crypto, 'hmac', 'createHash', 'timingSafeEqual')) {
    throw new TypeError('createAuthenticator: crypto must be a CryptoProvider');
  }
  if (options.maxBodyBytes !== undefined) assertPositiveInteger(options.maxBodyBytes, 'maxBodyBytes');
  if (options.realm !== undefined && (typeof options.realm !== 'string' || /["\\\r\n]/.test(options.realm))) {
    throw new TypeError('createAuthenticator: realm must be a string without quotes, backslashes or line breaks');
  }
  if (options.now !== undefined && !isFunction(options.now)) {
    throw new TypeError('createAuthenticator: now must be a function returning Unix seconds');
  }
  if (options.onFailure !== undefined && !isFunction(options.onFailure)) {
    throw new TypeError('createAuthenticator: onFailure must be a function');
  }
}

/**
 * Drops the query before a URL reaches logs: presigned URLs carry a signature there that
 * anyone reading the logs could replay until it expires.
 */
function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

/** `bytes` as an async iterable of one chunk (the shape of a deferred body, without reading it again). */
async function* singleChunk(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * Whether the request may declare a body longer than `maxBodyBytes` (the core refuses those
 * before reading anything, so a deferred body must not be read for them). Reads `content-length`
 * of a plain record (Node's lower-cased headers) or a `Headers`-like object; any other shape
 * answers "maybe".
 */
function mayDeclareTooLarge(headers: MessageParts['headers'], maxBodyBytes: number): boolean {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return true;
  const get = (headers as { get?: unknown }).get;
  const declared =
    typeof get === 'function'
      ? (get as (name: string) => unknown).call(headers, 'content-length')
      : (headers as Record<string, unknown>)['content-length'];
  if (declared === undefined || declared === null) return false;
  if (typeof declared !== 'string') return true;
  const length = Number(declared);
  return !Number.isFinite(length) || length > maxBodyBytes;
}

/**
 * Failures that look like guessing feed the failure throttle: the error table's `countsAsFailure`
 * (packages/core/src/error-table.ts) decides, the one place that also decides what clients see.
 */
function countsAsGuess(error: unknown): boolean {
  return countsAsFailure(error);
}

/**
 * Builds the framework-agnostic authenticator every adapter uses: signature verification
 * (any enabled scheme), replay protection, per-key rate limits, failure throttling and
 * problem+json answers. Options are validated here, once; misuse throws `TypeError`.
 *
 * @example
 * ```ts
 * import { createAuthenticator } from '@hmac-kit/middleware';
 * import { memoryRateLimiter } from '@hmac-kit/limits';
 *
 * const authenticator = createAuthenticator({
 *   keys: (keyId) => keys.get(keyId),
 *   rateLimiter: memoryRateLimiter(),
 *   defaultRateLimit: { limit: 600, windowSeconds: 60 },
 *   onFailure: (error, context) => logger.warn({ code: (error as { code?: string }).code, ...context }),
 * });
 * const outcome = await authenticator.authenticate(
 *   { method: 'POST', url: 'https://api.example.com/orders', headers },
 *   bodyBytes,
 *   { sourceAddress: '203.0.113.7' },
 * );
 * if (!outcome.ok) return send(outcome.problem.status, outcome.problem.headers, outcome.problem.body);
 * ```
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  validateOptions(options);
  const schemes: readonly Scheme[] = Object.freeze([...(options.schemes ?? [rfc9421()])]);
  const maxBodyBytes = options.maxBodyBytes ?? options.policy?.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const policy: VerifyPolicy = { ...options.policy, maxBodyBytes };
  const nonceStore = resolveNonceStore(options.nonceStore);
  const { keys, crypto, now, rateLimiter, defaultRateLimit, failureThrottle, onFailure, realm } = options;
  const verifyOptions = { keys, schemes, policy, nonceStore, crypto, now };
  // admit()'s options, built once rather than per request.
  const withBody = { ...verifyOptions, hasBody: true };
  const withoutBody = { ...verifyOptions, hasBody: false };
  // Both throttles of @hmac-kit/limits can say that a key has nothing recorded (see clearKey).
  const blockedForOrUnrecorded = failureThrottle
    ? ((failureThrottle as Partial<ProbingFailureThrottle>).blockedForOrUnrecorded as
        | ProbingFailureThrottle['blockedForOrUnrecorded']
        | undefined)
    : undefined;
  const probeFn = typeof blockedForOrUnrecorded === 'function' ? blockedForOrUnrecorded : undefined;
  const problemOptions = { realm, now };

  function report(error: unknown, context: AuthFailureContext): void {
    if (!onFailure) {
      // A 500 nobody can explain is worse than a line on stderr: errors that are not refusals
      // (a resolver returning a malformed key, a bug) are printed when no onFailure takes them.
      // Messages of these errors never carry secrets (checkVerificationKey() does not echo them).
      if (!(error instanceof HmacKitError)) {
        console.error(
          `hmac-kit: internal error authenticating ${context.method} ${withoutQuery(context.url)}: ${
            error instanceof Error ? `${error.name}: ${error.message}` : String(error)
          }`,
        );
      }
      return;
    }
    try {
      // A revoked or expired key reads as a wrong signature to the client; onFailure (logs, audit) gets the reason.
      onFailure(explainKeyFailure(error, keys, context.keyId), { ...context, url: withoutQuery(context.url) });
    } catch {
      // A failing logger must not turn a 401 into a crash.
    }
  }

  function fail(error: unknown, context: Partial<AuthFailureContext> = {}, extraHeaders?: Record<string, string>) {
    report(error, { method: '', url: '', ...context });
    const problem = toProblem(error, problemOptions);
    const headers = extraHeaders ? { ...extraHeaders, ...problem.headers } : problem.headers;
    return { ok: false as const, error, problem: { status: problem.status, headers, body: problem.body } };
  }

  function claimedKeyId(message: MessageParts): string | undefined {
    for (const scheme of schemes) {
      try {
        if (scheme.detect(message)) return scheme.keyIdOf(message);
      } catch {
        // Malformed credentials: the verifier reports them properly below.
        return undefined;
      }
    }
    return undefined;
  }

  /** The context `onFailure` gets; only built for a failure. */
  function failureWith(message: MessageParts, context: AuthContext, keyId: string | undefined): AuthFailureContext {
    const failure: AuthFailureContext = { method: message.method, url: String(message.url) };
    if (context.sourceAddress !== undefined) failure.sourceAddress = context.sourceAddress;
    if (keyId !== undefined) failure.keyId = keyId;
    return failure;
  }

  /**
   * The failure-throttle subjects of a request: its source address, and the pair (source address,
   * claimed key id). Never the key id alone (issue #11): anyone can name a key id, and a 256-bit
   * secret cannot be guessed online, so a per-key block would only lock the owner out.
   */
  function throttleSubjects(context: AuthContext, keyId: string | undefined): ThrottleSubjects {
    const address = context.sourceAddress;
    if (!address) return {};
    const subjects: ThrottleSubjects = { sourceAddress: address, address: addressSubject(address) };
    if (keyId && keyId.length <= MAX_THROTTLED_KEY_ID_LENGTH) subjects.pair = addressNameSubject(address, keyId);
    return subjects;
  }

  function refuseWith(blockedFor: number): void {
    if (blockedFor > 0) {
      const retryAfter = Math.ceil(blockedFor);
      throw new TooManyFailures('too many failed attempts', { retryAfter, limit: 0, windowSeconds: retryAfter });
    }
  }

  /**
   * Starts the throttle lookups of the address and the (address, key) pair (the pair through
   * `blockedForOrUnrecorded()` when the throttle has it). Either answer may be a plain number or a
   * promise; a lookup that throws synchronously throws here, after a pending address lookup has
   * been given a rejection handler.
   */
  function lookups(
    throttle: FailureThrottle,
    subjects: ThrottleSubjects,
  ): [number | Promise<number>, number | Promise<number>] {
    const address: number | Promise<number> = subjects.address ? throttle.blockedFor(subjects.address) : 0;
    let key: number | Promise<number> = 0;
    if (subjects.pair) {
      try {
        key = probeFn ? probeFn.call(throttle, subjects.pair) : throttle.blockedFor(subjects.pair);
      } catch (error) {
        // The address lookup may be pending: never leave its rejection unhandled.
        if (address instanceof Promise) address.catch(ignore);
        throw error;
      }
      // The address answer is awaited first: meanwhile a rejection of the key's must not go unhandled.
      // (Only native promises are tracked as unhandled; other thenables need no handler.)
      if (isPromise(address) && key instanceof Promise) key.catch(ignore);
    }
    return [address, key];
  }

  async function recordGuess(throttle: FailureThrottle, subjects: ThrottleSubjects, failure: AuthFailureContext) {
    await Promise.all(
      [subjects.address, subjects.pair].map(async (subject) => {
        if (!subject) return;
        try {
          await throttle.recordFailure(subject);
        } catch (storeError) {
          // The request is refused anyway; the outage still belongs in the logs.
          report(storeError, failure);
        }
      }),
    );
  }

  type Settled = { headers: Record<string, string>; refused?: RateLimited };

  function limitOutcome(decision: RateLimitDecision): Settled {
    const headers = rateLimitHeaders(decision);
    if (decision.allowed) return { headers };
    const retryAfter = decision.retryAfterSeconds ?? decision.resetSeconds;
    const refused = new RateLimited('rate limit exceeded', {
      retryAfter: Math.max(1, Math.ceil(retryAfter)),
      limit: decision.limit,
      windowSeconds: decision.windowSeconds,
    });
    return { headers, refused };
  }

  /** Counts the request against its key's rate limit (undefined: not limited). May throw. */
  function rateLimitDecision(verified: VerifiedRequest): RateLimitDecision | Promise<RateLimitDecision> | undefined {
    const rule = verified.key.rateLimit ?? defaultRateLimit;
    if (!rateLimiter || !rule) return undefined;
    return rateLimiter.hit(`key:${verified.keyId}`, rule.limit, rule.windowSeconds);
  }

  /**
   * After a verified signature: clears the failures of the (address, key) pair (the promise to
   * await, if any). `keyClear`: the throttle said, when it was consulted for this request, that
   * nothing is recorded for the pair, so there is nothing to clear (with Redis, a round trip saved).
   */
  function clearKey(
    verified: VerifiedRequest,
    subjects: ThrottleSubjects,
    keyClear: boolean,
  ): Promise<void> | undefined {
    // Only the pair's record is cleared: one valid key must not launder an address's guesses.
    if (!failureThrottle || subjects.sourceAddress === undefined) return undefined;
    const subject = addressNameSubject(subjects.sourceAddress, verified.keyId);
    if (keyClear && subjects.pair === subject) return undefined;
    const cleared: Promise<void> | void = failureThrottle.recordSuccess(subject);
    return isPromise(cleared) ? cleared : undefined;
  }

  /** clearKey, then the rate limit: what a proven signature settles. */
  async function settleVerified(verified: VerifiedRequest, subjects: ThrottleSubjects): Promise<Settled> {
    await clearKey(verified, subjects, false);
    const decision = rateLimitDecision(verified);
    return decision === undefined ? { headers: {} } : limitOutcome(await decision);
  }

  /**
   * Throttle check, `verify`, then (once the signature is proven) throttle bookkeeping and the
   * rate limit: the order both phases share. `pending` marks a check whose signature is only
   * proven by its body (X-API-*, SigV4 without a payload hash, django-hmac, webhooks); for those
   * the bookkeeping waits for the body, so a forgery can neither clear a key's failures nor spend
   * its rate limit.
   */
  async function guarded<T>(
    message: MessageParts,
    context: AuthContext,
    verify: () => Promise<T>,
    verifiedOf: (value: T) => VerifiedRequest,
    pending: (value: T) => boolean = neverPending,
  ): Promise<
    | {
        ok: true;
        value: T;
        identity: HmacIdentity;
        headers: Record<string, string>;
        subjects: ThrottleSubjects;
      }
    | AuthFailure
  > {
    const keyId = claimedKeyId(message);
    const subjects = throttleSubjects(context, keyId);
    try {
      // Awaits only what is a promise: each await is a suspension of this frame.
      let keyClear = false;
      if (failureThrottle) {
        const [address, key] = lookups(failureThrottle, subjects);
        const addressWait = isPromise(address) ? await address : address;
        const keyWait = isPromise(key) ? await key : key;
        refuseWith(Math.max(addressWait, keyWait));
        keyClear = probeFn !== undefined && keyWait === -1;
      }
      let value: T;
      try {
        value = await verify();
      } catch (error) {
        if (failureThrottle && countsAsGuess(error))
          await recordGuess(failureThrottle, subjects, failureWith(message, context, keyId));
        throw error;
      }
      const verified = verifiedOf(value);
      if (pending(value)) return { ok: true, value, identity: identityOf(verified), headers: {}, subjects };
      const cleared = clearKey(verified, subjects, keyClear);
      if (cleared !== undefined) await cleared;
      const decision = rateLimitDecision(verified);
      const limited =
        decision === undefined ? { headers: {} } : limitOutcome(isPromise(decision) ? await decision : decision);
      if (limited.refused) return fail(limited.refused, failureWith(message, context, keyId), limited.headers);
      return { ok: true, value, identity: identityOf(verified), headers: limited.headers, subjects };
    } catch (error) {
      return fail(error, failureWith(message, context, keyId));
    }
  }

  /**
   * `verifyMessage`, except that a {@link deferredBody} within the size limit is read here and
   * handed over as bytes (the core's in-memory path: one hash call, no async iteration). The
   * answers are those of the iterable: a declared or actual size above the limit goes through
   * the iterable itself, where the core refuses it at the same step as before.
   */
  function verifyBody(message: MessageParts, body: BodyInput): Promise<VerifiedRequest> {
    const read = deferredRead(body);
    if (read === undefined || mayDeclareTooLarge(message.headers, maxBodyBytes)) {
      return verifyMessage(message, body, verifyOptions);
    }
    return read().then((bytes) =>
      verifyMessage(message, bytes.length > maxBodyBytes ? singleChunk(bytes) : bytes, verifyOptions),
    );
  }

  function failureContextOf(message: MessageParts, context: AuthContext): AuthFailureContext {
    return failureWith(message, context, claimedKeyId(message));
  }

  async function authenticate(message: MessageParts, body: BodyInput, context: AuthContext = {}): Promise<AuthOutcome> {
    if (failureThrottle) {
      const outcome = await guarded(message, context, () => verifyBody(message, body), itself);
      return outcome.ok ? { ok: true, identity: outcome.identity, headers: outcome.headers } : outcome;
    }
    // Without a failure throttle the claimed key id and the source address only matter to a
    // failure: the steps and answers are those of guarded(), minus that bookkeeping up front.
    try {
      const verified = await verifyBody(message, body);
      if (rateLimiter === undefined) return { ok: true, identity: identityOf(verified), headers: {} };
      const decision = rateLimitDecision(verified);
      if (decision === undefined) return { ok: true, identity: identityOf(verified), headers: {} };
      const limited = limitOutcome(isPromise(decision) ? await decision : decision);
      if (limited.refused) return fail(limited.refused, failureContextOf(message, context), limited.headers);
      return { ok: true, identity: identityOf(verified), headers: limited.headers };
    } catch (error) {
      return fail(error, failureContextOf(message, context));
    }
  }

  async function admit(
    message: MessageParts,
    context: AuthContext & { hasBody: boolean },
  ): Promise<Admission | AuthFailure> {
    const outcome = await guarded(
      message,
      context,
      () => checkSignature(message, context.hasBody ? withBody : withoutBody),
      resultOf,
      provenByBody,
    );
    if (!outcome.ok) return outcome;
    const { value: check, identity, headers, subjects } = outcome;
    if (check.body === null || check.signatureVerified === true) {
      return { ok: true, identity, headers, check, signatureVerified: true };
    }
    // The signature is proven only when the body has been fed: settle throttle and rate limit then.
    const body = check.body;
    const settledCheck: SignatureCheck = {
      ...check,
      body: {
        update: (chunk) => body.update(chunk),
        async finish() {
          await body.finish();
          const limited = await settleVerified(check.result, subjects);
          if (limited.refused) throw limited.refused;
        },
        // The bytes the signature covers, for schemes that sign a re-serialised body (django-hmac).
        ...(body.signedBody ? { signedBody: body.signedBody.bind(body) } : {}),
      },
    };
    return { ok: true, identity, headers, check: settledCheck, signatureVerified: false };
  }

  async function bodyFailed(error: unknown, context: AuthFailureContext): Promise<void> {
    if (failureThrottle && countsAsGuess(error)) {
      await recordGuess(failureThrottle, throttleSubjects(context, context.keyId), context);
    }
    report(error, context);
  }

  function authorize(
    identity: HmacIdentity,
    scopes: readonly string[],
    context: Partial<AuthFailureContext> = {},
  ): AuthOutcome {
    const required = validateScopes(scopes);
    const missing = missingScopes(identity, required);
    if (missing.length === 0) return { ok: true, identity, headers: {} };
    const error = new ScopeInsufficient(`key lacks required scope(s): ${missing.join(', ')}`, required);
    return fail(error, { keyId: identity.keyId, ...context });
  }

  return Object.freeze({
    authenticate,
    admit,
    bodyFailed,
    authorize,
    fail: (error: unknown, context?: Partial<AuthFailureContext>) => fail(error, context),
    maxBodyBytes,
  });
}
