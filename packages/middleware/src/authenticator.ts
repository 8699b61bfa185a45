/**
 * `createAuthenticator`: the pipeline of `@hmac-kit/core` with the middleware's side effects
 * (`side-effects.ts`), reporting (`onFailure`) and problem answers. Its contract is `contract.ts`,
 * its options are checked by `options.ts`.
 */
import type {
  Accepted,
  BodyInput,
  Claim,
  EagerAdmission,
  MessageParts,
  PipelineConfig,
  Scheme,
  VerifyPolicy,
} from '@hmac-kit/core';
import {
  admitRequestEagerly,
  countsAsFailure,
  explainKeyFailure,
  isHmacKitError,
  isPromiseLike,
  rfc9421,
  runPipelineDeferred,
  runStages,
  ScopeInsufficient,
  StoreUnavailable,
  toProblem,
} from '@hmac-kit/core';
import { deferredRead } from './body.js';
import type {
  Admission,
  AuthContext,
  Authenticator,
  AuthenticatorOptions,
  AuthFailure,
  AuthFailureContext,
  AuthOutcome,
  AuthSuccess,
} from './contract.js';
import { type HmacIdentity, IdentityCache, missingScopes, validateScopes } from './identity.js';
import { DEFAULT_MAX_BODY_BYTES, resolveNonceStore, validateOptions } from './options.js';
import { createSideEffects, type Source } from './side-effects.js';

/**
 * An error that is not a refusal, for the stderr line: `name: message` (or the value as a string),
 * never throwing (a getter or `toString` that throws), on one line of at most 1,000 characters.
 */
function describeInternal(error: unknown): string {
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return '(an error that cannot be read)';
  }
  const line = text.replace(/[\r\n]+/g, ' ');
  return line.length > 1_000 ? `${line.slice(0, 1_000)}…` : line;
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
  // Frozen: nothing writes to it, and the core resolves a deeply frozen policy once (its arrays,
  // when the caller gave any, are the caller's and are read again unless they are frozen too).
  const policy: VerifyPolicy = Object.freeze({ ...options.policy, maxBodyBytes });
  const nonceStore = resolveNonceStore(options.nonceStore);
  const { keys, crypto, now, rateLimiter, defaultRateLimit, failureThrottle, onFailure, realm } = options;
  const problemOptions = { realm, now };

  function report(error: unknown, context: AuthFailureContext): void {
    if (!onFailure) {
      // A 500 nobody can explain is worse than a line on stderr: errors that are not refusals
      // (a resolver returning a malformed key, a bug) are printed when no onFailure takes them.
      // Messages of these errors never carry secrets (checkVerificationKey() does not echo them).
      if (!isHmacKitError(error)) {
        console.error(
          `hmac-kit: internal error authenticating ${context.method} ${withoutQuery(context.url)}: ${describeInternal(error)}`,
        );
      } else if (error instanceof StoreUnavailable && Object.hasOwn(error, 'cause') && !isHmacKitError(error.cause)) {
        // A store's outage caused by an error of its own (a custom store's, wrapped by storeFailure; a
        // driver's, wrapped by the stores of @hmac-kit): answered 503. The cause's message may carry a
        // connection string, so only the outage's message (the store and the error's class or code) is
        // printed; onFailure gets the cause. One line per refused request, as for internal errors.
        console.error(
          `hmac-kit: ${error.message} authenticating ${context.method} ${withoutQuery(context.url)}: answered 503 store_unavailable (onFailure receives the error as cause)`,
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

  const identities = new IdentityCache();
  const effects = createSideEffects({ failureThrottle, rateLimiter, defaultRateLimit, report });

  /** The failure outcome the client sees (an unknown key and a wrong signature look the same). */
  function failure(error: unknown): AuthFailure {
    const problem = toProblem(error, problemOptions);
    const extra = effects.refusalHeaders(error);
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

  /** The pipeline's one failure recorder: the throttle (guesses only), then `onFailure`. */
  function failed(error: unknown, claim: Claim | undefined, source: Source): void | Promise<void> {
    source.reported = true;
    const keyId = claim?.credentials.keyId;
    const context = failureWith(source.message, source.context, keyId);
    const recorded = countsAsGuess(error) ? effects.recordGuess(keyId, source, context) : undefined;
    if (recorded !== undefined) return recorded.then(() => report(error, context));
    report(error, context);
  }

  const hooks: PipelineConfig<Source>['hooks'] = { failed };
  if (effects.gate !== undefined) hooks.gate = effects.gate;
  if (effects.beforeMac !== undefined) hooks.beforeMac = effects.beforeMac;
  if (effects.macFailed !== undefined) hooks.macFailed = effects.macFailed;
  if (effects.commit !== undefined) hooks.commit = effects.commit;
  if (effects.bodyProven !== undefined) hooks.bodyProven = effects.bodyProven;
  const config: PipelineConfig<Source> = { keys, schemes, policy, nonceStore, crypto, now, hooks };
  if (options.debugSignatures === true) config.debugSignatures = true;

  function sourceOf(message: MessageParts, context: AuthContext): Source {
    return { message, context, subjects: undefined, keyClear: false, reported: false, tallied: false };
  }

  /** A failure outcome; reported here unless the pipeline's `failed` hook already did. */
  function outcomeOf(error: unknown, source: Source): AuthFailure {
    if (!source.reported) {
      source.reported = true;
      report(error, failureWith(source.message, source.context, undefined));
    }
    return failure(error);
  }

  function successOf(accepted: Accepted): AuthSuccess {
    return { ok: true, identity: identities.of(accepted.result), headers: accepted.headers };
  }

  function authenticateEagerly(
    message: MessageParts,
    body: BodyInput,
    context: AuthContext = {},
  ): AuthOutcome | Promise<AuthOutcome> {
    const source = sourceOf(message, context);
    let accepted: Accepted | Promise<Accepted>;
    try {
      // A deferredBody() is read only once the header stages passed (a blocked source never has
      // its body read) and handed over as bytes.
      const read = deferredRead(body);
      accepted =
        read === undefined
          ? runStages(config, message, body, source)
          : runPipelineDeferred(config, message, read, source);
    } catch (error) {
      // The synchronous path throws what the promise path rejects with, after the same reporting.
      return outcomeOf(error, source);
    }
    if (isPromiseLike(accepted)) {
      return Promise.resolve(accepted).then(successOf, (error: unknown) => outcomeOf(error, source));
    }
    return successOf(accepted);
  }

  function authenticate(message: MessageParts, body: BodyInput, context: AuthContext = {}): Promise<AuthOutcome> {
    return promised(authenticateEagerly(message, body, context));
  }

  /**
   * One admitted request as the middleware hands it out. A class over the core's admission rather
   * than an object literal of closures: its methods live on the prototype, so an admission costs
   * this object, not one function per method. Each method answers with one promise, settled
   * without a further hop when the core's eager twin answered synchronously.
   */
  class MiddlewareAdmission implements Admission {
    readonly ok = true as const;
    readonly identity: HmacIdentity;
    readonly signatureVerified: boolean;
    readonly checksBody: boolean;
    readonly #admitted: EagerAdmission;
    readonly #source: Source;

    constructor(admitted: EagerAdmission, source: Source) {
      this.#admitted = admitted;
      this.#source = source;
      this.identity = identities.of(admitted.result);
      this.signatureVerified = admitted.signatureVerified;
      this.checksBody = admitted.checksBody;
    }

    update(chunk: Uint8Array): void {
      this.#admitted.update(chunk);
    }

    finish(): Promise<AuthOutcome> {
      return promised(this.finishEagerly());
    }

    finishEagerly(): AuthOutcome | Promise<AuthOutcome> {
      try {
        return this.#settle(this.#admitted.finishEagerly());
      } catch (error) {
        return outcomeOf(error, this.#source);
      }
    }

    complete(bytes: Uint8Array): Promise<AuthOutcome> {
      return promised(this.completeEagerly(bytes));
    }

    completeEagerly(bytes: Uint8Array): AuthOutcome | Promise<AuthOutcome> {
      try {
        return this.#settle(this.#admitted.completeEagerly(bytes));
      } catch (error) {
        return outcomeOf(error, this.#source);
      }
    }

    commitBeforeBody(): Promise<AuthOutcome> {
      return promised(this.commitBeforeBodyEagerly());
    }

    commitBeforeBodyEagerly(): AuthOutcome | Promise<AuthOutcome> {
      try {
        return this.#settle(this.#admitted.commitBeforeBodyEagerly());
      } catch (error) {
        return outcomeOf(error, this.#source);
      }
    }

    async fail(error: unknown): Promise<AuthFailure> {
      try {
        await this.#admitted.fail(error);
      } catch {
        // admitted.fail() rethrows the error it recorded.
      }
      return outcomeOf(error, this.#source);
    }

    signedBody(): Uint8Array | undefined {
      return this.#admitted.signedBody();
    }

    /**
     * The outcome of a body stage / commit: success with its headers, or the recorded failure;
     * without a promise when the core's eager twin answered synchronously.
     */
    #settle(step: Record<string, string> | Promise<Record<string, string>>): AuthOutcome | Promise<AuthOutcome> {
      if (!isPromiseLike(step)) return { ok: true, identity: this.identity, headers: step };
      return Promise.resolve(step).then(
        (headers): AuthOutcome => ({ ok: true, identity: this.identity, headers }),
        (error: unknown) => outcomeOf(error, this.#source),
      );
    }
  }

  function admit(message: MessageParts, context: AuthContext & { hasBody: boolean }): Promise<Admission | AuthFailure> {
    return promised(admitEagerly(message, context));
  }

  function admitEagerly(
    message: MessageParts,
    context: AuthContext & { hasBody: boolean },
  ): Admission | AuthFailure | Promise<Admission | AuthFailure> {
    const source = sourceOf(message, context);
    let admitted: EagerAdmission | Promise<EagerAdmission>;
    try {
      admitted = admitRequestEagerly(config, message, Boolean(context.hasBody), source);
    } catch (error) {
      return outcomeOf(error, source);
    }
    if (!isPromiseLike(admitted)) return admittedOf(admitted, source);
    return Promise.resolve(admitted).then(
      (value) => admittedOf(value, source),
      (error: unknown) => outcomeOf(error, source),
    );
  }

  /** The middleware's admission over the core's; a failure building it (a bug) is an outcome too. */
  function admittedOf(admitted: EagerAdmission, source: Source): Admission | AuthFailure {
    try {
      return new MiddlewareAdmission(admitted, source);
    } catch (error) {
      return outcomeOf(error, source);
    }
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
    authenticateEagerly,
    admit,
    admitEagerly,
    authorize,
    fail: (error: unknown, context?: Partial<AuthFailureContext>) => fail(error, context),
    maxBodyBytes,
  });
}

/** An eager answer as the promise the promise-returning methods give. */
function promised<T>(value: T | Promise<T>): Promise<T> {
  return isPromiseLike(value) ? (value as Promise<T>) : Promise.resolve(value as T);
}
