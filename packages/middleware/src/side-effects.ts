/**
 * The authenticator's side effects, as the pipeline's hooks: the failure throttle's gate (before
 * anything is verified) and its re-check right before the MAC against the per-process tally of
 * proven failures (failure-tally.ts), the commit (clear the pair's failures, charge the rate limit:
 * only once the request is proven) and the recording of guesses (only on failure: tallied the
 * moment the MAC fails, then written to the store).
 *
 * Every store call has two ways: the contract's promise methods, and the optional synchronous
 * capabilities (`hitNow`, the throttle's `*Now`) that in-process stores offer. Both ways call the
 * same store operations in the same order with the same arguments and take the same decisions;
 * the synchronous way only answers without a promise, so a request whose every step answers
 * synchronously is verified without one (`test/sync-paths.test.ts` runs the attack cases through both).
 */
import type {
  Claim,
  FailureThrottle,
  MessageParts,
  RateLimitDecision,
  RateLimiter,
  VerifiedRequest,
} from '@hmac-kit/core';
import {
  countsAsFailure,
  isPromiseLike,
  RateLimited,
  storeFailure,
  storeFailureThrower,
  TooManyFailures,
} from '@hmac-kit/core';
import { addressNameSubject, addressSubject, type ProbingFailureThrottle, rateLimitHeaders } from '@hmac-kit/limits';
import type { AuthContext, AuthFailureContext, RateLimitRule } from './contract.js';
import { createFailureTally } from './failure-tally.js';

// Key ids are chosen by the client; a bound keeps hostile ones out of the throttle's store.
const MAX_THROTTLED_KEY_ID_LENGTH = 200;

/** What the failure throttle is consulted on for one request (nothing without a source address). */
export interface ThrottleSubjects {
  sourceAddress?: string;
  /** `addr:<address>`: every failure from the address. */
  address?: string;
  /** The pair (address, claimed key id): `addressNameSubject` of @hmac-kit/limits. */
  pair?: string;
  /** The claimed key id `pair` was built from (the commit reuses `pair` for the same key id). */
  pairKeyId?: string;
}

/**
 * What the pipeline's hooks know about one request: its message and transport context, and what
 * the gate learnt for the commit (nothing recorded for the (address, key) pair: nothing to clear).
 */
export interface Source {
  message: MessageParts;
  context: AuthContext;
  subjects: ThrottleSubjects | undefined;
  keyClear: boolean;
  /** The failure was recorded and reported by the pipeline's `failed` hook. */
  reported: boolean;
  /** The failure was tallied in process when the MAC failed (`macFailed`): not again when recorded. */
  tallied: boolean;
}

/** The stores' side effects, as the pipeline's hooks need them. */
export interface SideEffects {
  /** The gate hook (absent without a failure throttle). */
  readonly gate: ((claim: Claim | undefined, source: Source) => void | Promise<void>) | undefined;
  /** The re-check right before the MAC, against the per-process tally (absent without a failure throttle). */
  readonly beforeMac: ((claim: Claim, source: Source) => void) | undefined;
  /** Tallies a failure of the MAC stage the moment it is determined (absent without a failure throttle). */
  readonly macFailed: ((error: unknown, claim: Claim, source: Source) => void) | undefined;
  /**
   * The commit hook (absent without a throttle and a rate limiter). `bodyPending` (an early commit,
   * `commitBeforeBody()`): only the rate limit is charged; the pair's failures are cleared by
   * `bodyProven` once the body passed.
   */
  readonly commit:
    | ((
        verified: VerifiedRequest,
        source: Source,
        bodyPending: boolean,
      ) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>)
    | undefined;
  /** After an early commit, once the body passed: clears the pair's failures (absent without a throttle). */
  readonly bodyProven: ((verified: VerifiedRequest, source: Source) => void | Promise<void>) | undefined;
  /** Feeds a failure that looks like guessing to the throttle (store errors go to `report`). */
  recordGuess(keyId: string | undefined, source: Source, failed: AuthFailureContext): void | Promise<void>;
  /** The rate-limit headers a `RateLimited` refusal of the commit carries to its problem. */
  refusalHeaders(error: unknown): Record<string, string> | undefined;
}

/** The throttle's synchronous capabilities, when it has the three of the contract. */
interface SyncThrottle {
  blockedFor(subject: string): number;
  /** `blockedForOrUnrecordedNow`, when the throttle has it too. */
  probe: ((subject: string) => number) | undefined;
  recordFailure(subject: string): number;
  recordSuccess(subject: string): void;
}

function ignore(): void {}

/**
 * A store's error, thrown or rejected, as the request's answer: `StoreUnavailable` (503, fail
 * closed) unless it is an hmac-kit error (`storeFailure`): a custom store's plain `Error` is an
 * outage too, never a 500.
 */
const throttleFailed = storeFailureThrower('failure throttle');
const rateLimiterFailed = storeFailureThrower('rate limiter');

function syncThrottleOf(throttle: FailureThrottle | undefined): SyncThrottle | undefined {
  if (throttle === undefined) return undefined;
  const { blockedForNow, recordFailureNow, recordSuccessNow } = throttle;
  if (
    typeof blockedForNow !== 'function' ||
    typeof recordFailureNow !== 'function' ||
    typeof recordSuccessNow !== 'function'
  ) {
    return undefined;
  }
  const probe = (throttle as Partial<ProbingFailureThrottle>).blockedForOrUnrecordedNow;
  return {
    blockedFor: (subject) => blockedForNow.call(throttle, subject),
    probe: typeof probe === 'function' ? (subject) => probe.call(throttle, subject) : undefined,
    recordFailure: (subject) => recordFailureNow.call(throttle, subject),
    recordSuccess: (subject) => recordSuccessNow.call(throttle, subject),
  };
}

/**
 * The failure-throttle subjects of a request: its source address, and the pair (source address,
 * claimed key id). Never the key id alone (issue #11): anyone can name a key id, and a 256-bit
 * secret cannot be guessed online, so a per-key block would only lock the owner out.
 */
export function throttleSubjects(context: AuthContext, keyId: string | undefined): ThrottleSubjects {
  const address = context.sourceAddress;
  return address ? subjectsOf(address, keyId) : {};
}

function subjectsOf(address: string, keyId: string | undefined): ThrottleSubjects {
  const subjects: ThrottleSubjects = { sourceAddress: address, address: addressSubject(address) };
  if (keyId && keyId.length <= MAX_THROTTLED_KEY_ID_LENGTH) {
    subjects.pair = addressNameSubject(address, keyId);
    subjects.pairKeyId = keyId;
  }
  return subjects;
}

const NO_SUBJECTS: ThrottleSubjects = Object.freeze({});

/**
 * {@link throttleSubjects}, keeping the subjects of the last (source address, claimed key id) seen:
 * a client (or a proxy in front of the service) sends request after request from one address with
 * one key id, and two strings concatenated per request are then flattened and hashed again by the
 * throttle's map. Another address or key id replaces them.
 *
 * Invariant: `of(context, keyId)` has the fields and values `throttleSubjects(context, keyId)` has
 * (the object is frozen and may be the one an earlier request got: nothing writes to subjects).
 * Held to `throttleSubjects` over random sequences in packages/middleware/test/throttle-subjects.test.ts.
 */
export class ThrottleSubjectsCache {
  #last: ThrottleSubjects = NO_SUBJECTS;

  of(context: AuthContext, keyId: string | undefined): ThrottleSubjects {
    const address = context.sourceAddress;
    if (!address) return NO_SUBJECTS;
    const last = this.#last;
    const paired = keyId !== undefined && keyId !== '' && keyId.length <= MAX_THROTTLED_KEY_ID_LENGTH;
    if (last.sourceAddress === address && (paired ? last.pairKeyId === keyId : last.pair === undefined)) return last;
    const subjects = subjectsOf(address, keyId);
    // Flattened now, once: the throttle's map then hashes flat strings, without copying them first.
    subjects.address?.charCodeAt(0);
    subjects.pair?.charCodeAt(0);
    this.#last = Object.freeze(subjects);
    return subjects;
  }
}

function refuseWith(blockedFor: number): void {
  // Not `> 0`: an answer that is not a number (NaN) fails closed, as a block.
  if (!(blockedFor <= 0)) {
    const retryAfter = Number.isNaN(blockedFor) ? 1 : Math.ceil(blockedFor);
    throw new TooManyFailures('too many failed attempts', { retryAfter, limit: 0, windowSeconds: retryAfter });
  }
}

/**
 * Builds the hooks over the configured stores.
 *
 * @example
 * ```ts
 * const effects = createSideEffects({ failureThrottle, rateLimiter, defaultRateLimit, report });
 * const hooks = { gate: effects.gate, commit: effects.commit, failed };
 * ```
 */
export function createSideEffects(options: {
  failureThrottle: FailureThrottle | undefined;
  rateLimiter: RateLimiter | undefined;
  defaultRateLimit: RateLimitRule | undefined;
  /** Where a store's error goes when the request is refused anyway (`onFailure`). */
  report: (error: unknown, context: AuthFailureContext) => void;
}): SideEffects {
  const { failureThrottle, rateLimiter, defaultRateLimit, report } = options;
  const syncThrottle = syncThrottleOf(failureThrottle);
  // Both throttles of @hmac-kit/limits can say that a key has nothing recorded (see clearKey).
  const probe = failureThrottle
    ? ((failureThrottle as Partial<ProbingFailureThrottle>).blockedForOrUnrecorded as
        | ProbingFailureThrottle['blockedForOrUnrecorded']
        | undefined)
    : undefined;
  const probeFn = typeof probe === 'function' ? probe : undefined;
  const hitNow = typeof rateLimiter?.hitNow === 'function' ? rateLimiter.hitNow : undefined;
  const refusals = new WeakMap<object, Record<string, string>>();
  const subjectsCache = new ThrottleSubjectsCache();
  const tally = failureThrottle ? createFailureTally(failureThrottle) : undefined;
  // The rate limiter's key of the last key id charged, `key:<key id>`: kept while requests of one
  // key follow each other (a busy key, a service's one key), since a string built per request is
  // concatenated, then flattened and hashed again by the limiter's map. Another key id replaces it.
  let lastRateLimitKey = { keyId: '', name: 'key:' };
  function rateLimitKeyOf(verified: VerifiedRequest): string {
    const keyId = verified.keyId;
    let last = lastRateLimitKey;
    if (last.keyId !== keyId) {
      const name = `key:${keyId}`;
      // Flattened now, once: the limiter's map then hashes a flat string, without copying it first.
      name.charCodeAt(0);
      last = { keyId, name };
      lastRateLimitKey = last;
    }
    return last.name;
  }

  // ---- gate: blocks in force for the source, before anything is verified ----

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

  function gate(claim: Claim | undefined, source: Source): void | Promise<void> {
    try {
      return gateLookups(claim, source);
    } catch (error) {
      // A lookup that threw (a refusal of the gate is an hmac-kit error: it passes as it is).
      return throttleFailed(error);
    }
  }

  function gateLookups(claim: Claim | undefined, source: Source): void | Promise<void> {
    const subjects = subjectsCache.of(source.context, claim?.credentials.keyId);
    source.subjects = subjects;
    if (syncThrottle !== undefined) {
      // Synchronous way: the same lookups (address first, then the pair), the same decision.
      // Typed as what a store might answer anyway, not as what the capability promises.
      const address: number | Promise<number> = subjects.address ? syncThrottle.blockedFor(subjects.address) : 0;
      let key: number | Promise<number> = 0;
      if (subjects.pair) {
        key = syncThrottle.probe ? syncThrottle.probe(subjects.pair) : syncThrottle.blockedFor(subjects.pair);
      }
      if (typeof address === 'number' && typeof key === 'number') {
        refuseWith(Math.max(address, key));
        source.keyClear = syncThrottle.probe !== undefined && key === -1;
        return;
      }
      // A `*Now` that answered with a promise anyway (a proxy that lists every method): compared
      // with 0 it read as "not blocked" (NaN). Its answers are judged the promise way below.
      if (isPromiseLike(address) && (key as unknown) instanceof Promise)
        (key as unknown as Promise<number>).catch(ignore);
      return blockedAfter(address, key, syncThrottle.probe !== undefined, source);
    }
    const [address, key] = lookups(failureThrottle!, subjects);
    if (!isPromiseLike(address) && !isPromiseLike(key)) {
      refuseWith(Math.max(address, key));
      source.keyClear = probeFn !== undefined && key === -1;
      return;
    }
    return blockedAfter(address, key, probeFn !== undefined, source);
  }

  /** The gate's decision once the throttle's pending answers settle. */
  async function blockedAfter(
    address: number | Promise<number>,
    key: number | Promise<number>,
    probing: boolean,
    source: Source,
  ): Promise<void> {
    // Awaits only what is a promise: each await is a suspension of this frame.
    let addressWait: number;
    let keyWait: number;
    try {
      addressWait = isPromiseLike(address) ? await address : address;
      keyWait = isPromiseLike(key) ? await key : key;
    } catch (error) {
      return throttleFailed(error);
    }
    refuseWith(Math.max(addressWait, keyWait));
    source.keyClear = probing && keyWait === -1;
  }

  // ---- re-check before the MAC, against the per-process tally of proven failures ----

  /**
   * Right before the MAC (after the key lookup; the same call for an unknown key id): refuses, as
   * the gate would, a request whose address or (address, key) pair this process's own proven
   * failures block (failure-tally.ts). Reads only: a request is never counted.
   */
  function beforeMac(_claim: Claim, source: Source): void {
    const subjects = source.subjects;
    if (subjects === undefined || tally === undefined) return;
    let wait = 0;
    if (subjects.address !== undefined) wait = tally.blockedForNow(subjects.address);
    if (subjects.pair !== undefined) wait = Math.max(wait, tally.blockedForNow(subjects.pair));
    refuseWith(wait);
  }

  /** Tallies the subjects' failure, once per request. */
  function tallyFailure(subjects: ThrottleSubjects, source: Source): void {
    if (tally === undefined || source.tallied) return;
    source.tallied = true;
    if (subjects.address !== undefined) tally.recordFailureNow(subjects.address);
    if (subjects.pair !== undefined) tally.recordFailureNow(subjects.pair);
  }

  /** The MAC stage's failure, the moment it is determined: tallied when it is one the throttle counts. */
  function macFailed(error: unknown, _claim: Claim, source: Source): void {
    if (source.subjects !== undefined && countsAsFailure(error)) tallyFailure(source.subjects, source);
  }

  // ---- commit: only once the request is proven (the pipeline recorded its nonce first) ----

  /** Counts the request against its key's rate limit (undefined: not limited). May throw. */
  function rateLimitDecision(verified: VerifiedRequest): RateLimitDecision | Promise<RateLimitDecision> | undefined {
    const rule = verified.key.rateLimit ?? defaultRateLimit;
    if (!rateLimiter || !rule) return undefined;
    const key = rateLimitKeyOf(verified);
    try {
      // Synchronous way: the same hit, answered without a promise.
      if (hitNow !== undefined) return hitNow.call(rateLimiter, key, rule.limit, rule.windowSeconds);
      return rateLimiter.hit(key, rule.limit, rule.windowSeconds);
    } catch (error) {
      return rateLimiterFailed(error);
    }
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
    refusals.set(refused, headers);
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
    // The gate built this pair's subject already when the verified key id is the one claimed (it
    // always is for a resolver that answers with the key it was asked for): the same string, not
    // a second one to concatenate and hash in the throttle's map.
    const subjects = source.subjects;
    const subject =
      subjects?.pair !== undefined && subjects.pairKeyId === verified.keyId && subjects.sourceAddress === address
        ? subjects.pair
        : addressNameSubject(address, verified.keyId);
    // The tally forgets the pair as the store does (its failures may not have reached the store yet,
    // so not skipped with the store's write below).
    tally?.recordSuccessNow(subject);
    if (source.keyClear && subjects?.pair === subject) return undefined;
    let cleared: Promise<void> | void;
    try {
      if (syncThrottle !== undefined) {
        syncThrottle.recordSuccess(subject);
        return undefined;
      }
      cleared = failureThrottle.recordSuccess(subject);
    } catch (error) {
      return throttleFailed(error);
    }
    return isPromiseLike(cleared) ? cleared : undefined;
  }

  function charge(verified: VerifiedRequest): Record<string, string> | undefined | Promise<Record<string, string>> {
    const decision = rateLimitDecision(verified);
    if (decision === undefined) return undefined;
    return isPromiseLike(decision) ? decision.then(limitHeaders, rateLimiterFailed) : limitHeaders(decision);
  }

  /**
   * The commit hook. Clears the pair's failures, then charges the rate limit — except for an early
   * commit (`bodyPending`: the streaming gateway, forward-auth with a body), where only the charge
   * happens now (a refused request must not be handed on) and the clearing waits for the body to be
   * proven (`bodyProven`): a valid head with a body that fails its digest must not wipe the pair's
   * failures (review19-streamed-body-commit.test.ts). The failed body is then recorded as a failure.
   */
  function commit(
    verified: VerifiedRequest,
    source: Source,
    bodyPending: boolean,
  ): Record<string, string> | undefined | Promise<Record<string, string> | undefined> {
    if (bodyPending) return charge(verified);
    const cleared = clearKey(verified, source);
    if (cleared !== undefined) return cleared.then(() => charge(verified), throttleFailed);
    return charge(verified);
  }

  /** After an early commit, once the body passed: what the commit left for a proven request. */
  function bodyProven(verified: VerifiedRequest, source: Source): void | Promise<void> {
    const cleared = clearKey(verified, source);
    if (cleared !== undefined) return cleared.then(ignore, throttleFailed);
  }

  // ---- failure: feeds the throttle, only for failures that look like guessing ----

  function recordGuess(keyId: string | undefined, source: Source, failed: AuthFailureContext): void | Promise<void> {
    if (!failureThrottle) return;
    const subjects = source.subjects ?? subjectsCache.of(source.context, keyId);
    // A failure of a later stage (a replay, a body) is tallied now, before its store write; one of
    // the MAC stage was tallied when the MAC failed.
    tallyFailure(subjects, source);
    if (syncThrottle !== undefined) {
      // Synchronous way: the address, then the pair, each store error reported, as below.
      for (const subject of [subjects.address, subjects.pair]) {
        if (!subject) continue;
        try {
          const recorded: unknown = syncThrottle.recordFailure(subject);
          // An answer that is a promise after all: its rejection is a store error too.
          if (isPromiseLike(recorded))
            Promise.resolve(recorded).catch((storeError) =>
              report(storeFailure(storeError, 'failure throttle'), failed),
            );
        } catch (storeError) {
          report(storeFailure(storeError, 'failure throttle'), failed);
        }
      }
      return;
    }
    return Promise.all(
      [subjects.address, subjects.pair].map(async (subject) => {
        if (!subject) return;
        try {
          await failureThrottle.recordFailure(subject);
        } catch (storeError) {
          // The request is refused anyway; the outage still belongs in the logs.
          report(storeFailure(storeError, 'failure throttle'), failed);
        }
      }),
    ).then(ignore);
  }

  return {
    gate: failureThrottle ? gate : undefined,
    beforeMac: failureThrottle ? beforeMac : undefined,
    macFailed: failureThrottle ? macFailed : undefined,
    commit: failureThrottle || rateLimiter ? commit : undefined,
    bodyProven: failureThrottle ? bodyProven : undefined,
    recordGuess,
    refusalHeaders: (error) => (typeof error === 'object' && error !== null ? refusals.get(error) : undefined),
  };
}
