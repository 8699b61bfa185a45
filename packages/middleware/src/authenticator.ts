import type {
  BodyInput,
  Claim,
  Admission as CoreAdmission,
  CryptoProvider,
  FailureThrottle,
  KeyResolver,
  MessageParts,
  NonceStore,
  PipelineConfig,
  Problem,
  RateLimitDecision,
  RateLimiter,
  Scheme,
  VerifiedRequest,
  VerifyPolicy,
} from '@hmac-kit/core';
import {
  admitRequest,
  countsAsFailure,
  explainKeyFailure,
  HmacKitError,
  isPromiseLike,
  isScheme,
  RateLimited,
  rfc9421,
  runPipeline,
  runPipelineDeferred,
  ScopeInsufficient,
  TooManyFailures,
  toProblem,
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
   * The header stages of {@link Authenticator.authenticate} (the same pipeline), for callers that
   * stream the body or never see it (a gateway, a forward-auth endpoint): returns an
   * {@link Admission} whose `finish()` runs the body stage and the commit. Never throws.
   */
  admit(message: MessageParts, context: AuthContext & { hasBody: boolean }): Promise<Admission | AuthFailure>;
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

/**
 * What the pipeline's hooks know about one request: its message and transport context, and what
 * the gate learnt for the commit (nothing recorded for the (address, key) pair: nothing to clear).
 */
interface Source {
  message: MessageParts;
  context: AuthContext;
  subjects: ThrottleSubjects | undefined;
  keyClear: boolean;
  /** The failure was recorded and reported by the pipeline's `failed` hook. */
  reported: boolean;
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
      if (!isScheme(scheme)) {
        throw new TypeError('createAuthenticator: every scheme must implement detect, parse and verify');
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
  if (options.debugSignatures !== undefined && typeof options.debugSignatures !== 'boolean') {
    throw new TypeError('createAuthenticator: debugSignatures must be a boolean');
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
  // Both throttles of @hmac-kit/limits can say that a key has nothing recorded (see clearKey).
  const blockedForOrUnrecorded = failureThrottle
    ? ((failureThrottle as Partial<ProbingFailureThrottle>).blockedForOrUnrecorded as
        | ProbingFailureThrottle['blockedForOrUnrecorded']
        | undefined)
    : undefined;
  const probeFn = typeof blockedForOrUnrecorded === 'function' ? blockedForOrUnrecorded : undefined;
  const problemOptions = { realm, now };
  // The rate-limit headers a RateLimited refusal from the commit stage carries to its problem.
  const refusalHeaders = new WeakMap<object, Record<string, string>>();

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

  /** The failure outcome the client sees (an unknown key and a wrong signature look the same). */
  function failure(error: unknown): AuthFailure {
    const problem = toProblem(error, problemOptions);
    const extra = typeof error === 'object' && error !== null ? refusalHeaders.get(error) : undefined;
    const headers = extra ? { ...extra, ...problem.headers } : problem.headers;
    return { ok: false as const, error, problem: { status: problem.status, headers, body: problem.body } };
  }

  function fail(error: unknown, context: Partial<AuthFailureContext> = {}): AuthFailure {
    report(error, { method: '', url: '', ...context });
    return failure(error);
  }

  /** The context `onFailure` gets; only built for a failure. */
  function failureWith(message: MessageParts, context: AuthContext, keyId: string | undefined): AuthFailureContext {
    const failed: AuthFailureContext = { method: message.method, url: String(message.url) };
    if (context.sourceAddress !== undefined) failed.sourceAddress = context.sourceAddress;
    if (keyId !== undefined) failed.keyId = keyId;
    return failed;
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
      if (isPromiseLike(address) && key instanceof Promise) key.catch(ignore);
    }
    return [address, key];
  }

  async function recordGuess(throttle: FailureThrottle, subjects: ThrottleSubjects, failed: AuthFailureContext) {
    await Promise.all(
      [subjects.address, subjects.pair].map(async (subject) => {
        if (!subject) return;
        try {
          await throttle.recordFailure(subject);
        } catch (storeError) {
          // The request is refused anyway; the outage still belongs in the logs.
          report(storeError, failed);
        }
      }),
    );
  }

  /** Counts the request against its key's rate limit (undefined: not limited). May throw. */
  function rateLimitDecision(verified: VerifiedRequest): RateLimitDecision | Promise<RateLimitDecision> | undefined {
    const rule = verified.key.rateLimit ?? defaultRateLimit;
    if (!rateLimiter || !rule) return undefined;
    return rateLimiter.hit(`key:${verified.keyId}`, rule.limit, rule.windowSeconds);
  }

  /** The rate limit's answer as response headers; throws `RateLimited` (carrying them) when refused. */
  function limitHeaders(decision: RateLimitDecision): Record<string, string> {
    const headers = rateLimitHeaders(decision);
    if (decision.allowed) return headers;
    const retryAfter = decision.retryAfterSeconds ?? decision.resetSeconds;
    const refused = new RateLimited('rate limit exceeded', {
      retryAfter: Math.max(1, Math.ceil(retryAfter)),
      limit: decision.limit,
      windowSeconds: decision.windowSeconds,
    });
    refusalHeaders.set(refused, headers);
    throw refused;
  }

  /**
   * Clears the failures of the (address, key) pair (the promise to await, if any). Skipped when
   * the gate learnt that nothing is recorded for the pair (with Redis, a round trip saved).
   */
  function clearKey(verified: VerifiedRequest, source: Source): Promise<void> | undefined {
    // Only the pair's record is cleared: one valid key must not launder an address's guesses.
    const address = source.context.sourceAddress;
    if (!failureThrottle || !address) return undefined;
    const subject = addressNameSubject(address, verified.keyId);
    if (source.keyClear && source.subjects?.pair === subject) return undefined;
    const cleared: Promise<void> | void = failureThrottle.recordSuccess(subject);
    return isPromiseLike(cleared) ? cleared : undefined;
  }

  // ---- the pipeline's hooks: the gate, the commit's side effects, the one failure recorder ----

  function gate(claim: Claim | undefined, source: Source): void | Promise<void> {
    const subjects = throttleSubjects(source.context, claim?.credentials.keyId);
    source.subjects = subjects;
    const [address, key] = lookups(failureThrottle!, subjects);
    if (!isPromiseLike(address) && !isPromiseLike(key)) {
      refuseWith(Math.max(address, key));
      source.keyClear = probeFn !== undefined && key === -1;
      return;
    }
    return (async () => {
      // Awaits only what is a promise: each await is a suspension of this frame.
      const addressWait = isPromiseLike(address) ? await address : address;
      const keyWait = isPromiseLike(key) ? await key : key;
      refuseWith(Math.max(addressWait, keyWait));
      source.keyClear = probeFn !== undefined && keyWait === -1;
    })();
  }

  function commit(
    verified: VerifiedRequest,
    source: Source,
  ): Record<string, string> | undefined | Promise<Record<string, string> | undefined> {
    const cleared = clearKey(verified, source);
    if (cleared !== undefined) return cleared.then(() => charge(verified));
    return charge(verified);
  }

  function charge(verified: VerifiedRequest): Record<string, string> | undefined | Promise<Record<string, string>> {
    const decision = rateLimitDecision(verified);
    if (decision === undefined) return undefined;
    return isPromiseLike(decision) ? decision.then(limitHeaders) : limitHeaders(decision);
  }

  async function failed(error: unknown, claim: Claim | undefined, source: Source): Promise<void> {
    source.reported = true;
    const keyId = claim?.credentials.keyId;
    const context = failureWith(source.message, source.context, keyId);
    if (failureThrottle && countsAsGuess(error)) {
      await recordGuess(failureThrottle, source.subjects ?? throttleSubjects(source.context, keyId), context);
    }
    report(error, context);
  }

  const hooks: PipelineConfig<Source>['hooks'] = {
    ...(failureThrottle ? { gate } : {}),
    ...(failureThrottle || rateLimiter ? { commit } : {}),
    failed,
  };
  const config: PipelineConfig<Source> = { keys, schemes, policy, nonceStore, crypto, now, hooks };
  if (options.debugSignatures === true) config.debugSignatures = true;

  function sourceOf(message: MessageParts, context: AuthContext): Source {
    return { message, context, subjects: undefined, keyClear: false, reported: false };
  }

  /** A failure outcome; reported here unless the pipeline's `failed` hook already did. */
  function outcomeOf(error: unknown, source: Source): AuthFailure {
    if (!source.reported) {
      source.reported = true;
      report(error, failureWith(source.message, source.context, undefined));
    }
    return failure(error);
  }

  /**
   * The pipeline over the body as given; a {@link deferredBody} is read only once the header
   * stages passed (a blocked source never has its body read) and handed over as bytes.
   */
  function run(message: MessageParts, body: BodyInput, source: Source) {
    const read = deferredRead(body);
    if (read === undefined) return runPipeline(config, message, body, source);
    return runPipelineDeferred(config, message, read, source);
  }

  async function authenticate(message: MessageParts, body: BodyInput, context: AuthContext = {}): Promise<AuthOutcome> {
    const source = sourceOf(message, context);
    try {
      const accepted = await run(message, body, source);
      return { ok: true, identity: identityOf(accepted.result), headers: accepted.headers };
    } catch (error) {
      return outcomeOf(error, source);
    }
  }

  async function admit(
    message: MessageParts,
    context: AuthContext & { hasBody: boolean },
  ): Promise<Admission | AuthFailure> {
    const source = sourceOf(message, context);
    let admitted: CoreAdmission;
    try {
      admitted = await admitRequest(config, message, { hasBody: context.hasBody }, source);
    } catch (error) {
      return outcomeOf(error, source);
    }
    const identity = identityOf(admitted.result);
    const settle = async (step: Promise<Record<string, string>>): Promise<AuthOutcome> => {
      try {
        return { ok: true, identity, headers: await step };
      } catch (error) {
        return outcomeOf(error, source);
      }
    };
    return {
      ok: true,
      identity,
      signatureVerified: admitted.signatureVerified,
      checksBody: admitted.checksBody,
      update: (chunk) => admitted.update(chunk),
      finish: () => settle(admitted.finish()),
      complete: (bytes) => settle(admitted.complete(bytes)),
      commitBeforeBody: () => settle(admitted.commitBeforeBody()),
      async fail(error: unknown) {
        try {
          await admitted.fail(error);
        } catch {
          // admitted.fail() rethrows the error it recorded.
        }
        return outcomeOf(error, source);
      },
      signedBody: () => admitted.signedBody(),
    };
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
    authorize,
    fail: (error: unknown, context?: Partial<AuthFailureContext>) => fail(error, context),
    maxBodyBytes,
  });
}
