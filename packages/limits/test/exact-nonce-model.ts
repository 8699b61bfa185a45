/**
 * The memory nonce store's contract written as plainly as possible, for property tests: a map from
 * each (key id, nonce) pair to its expiry time, every expired pair forgotten (for good) before each
 * check by walking the whole map, `maxEntries` counted over what is left. O(n) per check: a test
 * oracle, not a store. Exact where the string-based store it replaced was not: that store's
 * stale-entry count after `release()` let the released record's later expiry keep a pair recorded
 * again with a shorter TTL alive past that TTL (a fresh request refused as a replay).
 */
import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import {
  requireClock,
  requireNumber,
  requirePositiveInteger,
  requirePositiveNumber,
  requireString,
} from '../src/validate.js';

/** A {@link NonceStore} that also answers synchronously, like `memoryNonceStore`. */
export interface ExactNonceModel extends NonceStore {
  checkAndStoreNow(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean;
}

/**
 * The exact model of `memoryNonceStore({ maxEntries, now })`.
 *
 * @example
 * const model = exactNonceModel({ maxEntries: 10, now: () => clock });
 * model.checkAndStoreNow('k', 'n', 5); // true, then false until 5 s have passed
 */
export function exactNonceModel(options: { maxEntries?: number; now?: () => number } = {}): ExactNonceModel {
  const maxEntries = requirePositiveInteger('memoryNonceStore: options.maxEntries', options.maxEntries ?? 1_000_000);
  const now = requireClock('memoryNonceStore: options.now', options.now ?? Date.now);
  // Keyed by a JSON array: an unambiguous encoding of the pair.
  const expiries = new Map<string, number>();
  const epochSeconds = Math.floor(now() / 1000);

  function checkAndStore(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean {
    requireString('checkAndStore: keyId', keyId);
    requireString('checkAndStore: nonce', nonce);
    requirePositiveNumber('checkAndStore: ttlSeconds', ttlSeconds);
    if (checkedEpoch !== undefined) {
      requireNumber('checkAndStore: checkedEpoch', checkedEpoch);
      if (checkedEpoch < epochSeconds) throw new StoreUnavailable('restarted since checked');
    }
    const at = now();
    for (const [pair, expiresAt] of expiries) if (expiresAt <= at) expiries.delete(pair);
    const pair = JSON.stringify([keyId, nonce]);
    if (expiries.has(pair)) return false;
    if (expiries.size >= maxEntries) throw new StoreUnavailable('full');
    expiries.set(pair, at + ttlSeconds * 1000);
    return true;
  }

  return {
    epoch: () => epochSeconds,
    release(keyId, nonce) {
      try {
        requireString('release: keyId', keyId);
        requireString('release: nonce', nonce);
      } catch (error) {
        return Promise.reject(error);
      }
      expiries.delete(JSON.stringify([keyId, nonce]));
      return Promise.resolve();
    },
    checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch) {
      try {
        return Promise.resolve(checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    checkAndStoreNow: checkAndStore,
  };
}
