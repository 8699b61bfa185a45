/**
 * The commit stage, the ONLY stage with side effects, run once the request is fully proven: the
 * nonce is recorded, then the `commit` hook. Also the release of a nonce reservation (a failing
 * body after `commitBeforeBody`) and the `proven` report to the key resolver.
 */

import { NonceReplayed, storeFailure } from '../errors.js';
import { isPromiseLike } from '../primitives/promise.js';
import type { VerifiedRequest } from '../types.js';
import { nonceStoreFailed, nonceTtlSeconds } from './policy.js';
import { NO_HEADERS, type Run } from './run.js';

function nonceStage<S>(run: Run<S>): void | Promise<void> {
  const store = run.config.nonceStore;
  const nonce = run.credentials!.nonce;
  if (store === undefined || nonce === undefined) return;
  const result = run.result!;
  const ttl = nonceTtlSeconds(run.policy, result.expires, run.now, result.acceptableUntil);
  // A store's error, thrown or rejected, fails closed as `StoreUnavailable` (`storeFailure`: a
  // custom store's plain Error too, never a 500).
  if (store.checkAndStoreNow !== undefined) {
    // A store in this process answers synchronously (NonceStore's optional capability): the same
    // record with the same arguments, the same answer; its error is thrown where `checkAndStore`'s
    // would reject, and is recorded as the same failure by the entry point.
    let fresh: unknown;
    try {
      fresh =
        run.checkedEpoch === undefined
          ? store.checkAndStoreNow(result.keyId, nonce, ttl)
          : store.checkAndStoreNow(result.keyId, nonce, ttl, run.checkedEpoch);
    } catch (error) {
      throw storeFailure(error, 'nonce store');
    }
    // A store that answers with a promise anyway (a proxy listing every method, an async
    // function) is awaited: a promise object is truthy, and read as `fresh` it accepted replays.
    if (isPromiseLike(fresh))
      return Promise.resolve(fresh).then((value) => nonceRecorded(run, value), nonceStoreFailed);
    nonceRecorded(run, fresh);
    return;
  }
  let recorded: Promise<boolean>;
  try {
    recorded =
      run.checkedEpoch === undefined
        ? store.checkAndStore(result.keyId, nonce, ttl)
        : store.checkAndStore(result.keyId, nonce, ttl, run.checkedEpoch);
  } catch (error) {
    throw storeFailure(error, 'nonce store');
  }
  return recorded.then((fresh) => nonceRecorded(run, fresh), nonceStoreFailed);
}

function nonceRecorded<S>(run: Run<S>, fresh: unknown): void {
  // Only `true` records the request as fresh: any other answer fails closed.
  if (fresh !== true) throw new NonceReplayed('nonce already used');
  run.nonceHeld = true;
}

/**
 * The commit stage. `bodyPending`: an early commit (`commitBeforeBody()`), the body not proven yet:
 * the commit hook is told so and leaves what needs the whole request proven to `bodyProven`.
 */
export function commitStage<S>(
  run: Run<S>,
  bodyPending = false,
): Record<string, string> | Promise<Record<string, string>> {
  run.stage = 'commit';
  run.committedEarly = bodyPending;
  const recorded = nonceStage(run);
  if (recorded !== undefined) return recorded.then(() => commitHook(run));
  return commitHook(run);
}

function commitHook<S>(run: Run<S>): Record<string, string> | Promise<Record<string, string>> {
  const hook = run.config.hooks?.commit;
  if (hook === undefined) {
    run.committed = true;
    return NO_HEADERS;
  }
  const headers = hook(run.result!, run.source, run.committedEarly);
  if (isPromiseLike(headers)) {
    return Promise.resolve(headers).then((value) => {
      run.committed = true;
      return value ?? NO_HEADERS;
    });
  }
  run.committed = true;
  return headers ?? NO_HEADERS;
}

/**
 * After an early commit, once the body stage passed: the `bodyProven` hook (the side effects the
 * commit left for a proven body). `undefined` when there is nothing to wait for; throws or
 * rejects with the hook's refusal.
 */
export function bodyProvenStage<S>(run: Run<S>): Promise<void> | undefined {
  if (!run.committedEarly) return undefined;
  run.committedEarly = false;
  const hook = run.config.hooks?.bodyProven;
  if (hook === undefined) return undefined;
  run.stage = 'commit';
  const done = hook(run.result!, run.source);
  return isPromiseLike(done) ? Promise.resolve(done) : undefined;
}

/**
 * After the body stage and the commit: tells a resolver with the `proven` capability. Best effort:
 * an error there (or a rejected promise, should it return one) is ignored, the request is proven.
 */
export function reportProven<S>(run: Run<S>): void {
  const proven = run.config.keys.proven;
  if (proven === undefined) return;
  try {
    const answer = (proven as (request: VerifiedRequest) => unknown)(run.result!);
    if (isPromiseLike(answer)) Promise.resolve(answer).catch(() => undefined);
  } catch {
    // The capability is a side channel of the key source: it cannot refuse a proven request.
  }
}

export async function release<S>(run: Run<S>): Promise<void> {
  run.nonceHeld = false;
  const store = run.config.nonceStore;
  const nonce = run.credentials?.nonce;
  if (store?.release === undefined || nonce === undefined || run.result === undefined) return;
  try {
    await store.release(run.result.keyId, nonce);
  } catch {
    // The reservation then simply expires with its TTL: the genuine request must be re-signed.
  }
}
