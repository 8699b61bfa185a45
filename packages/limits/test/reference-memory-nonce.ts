import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import {
  requireClock,
  requireNumber,
  requirePositiveInteger,
  requirePositiveNumber,
  requireString,
} from '../src/validate.js';

// The string-based memory nonce store that the fingerprint store replaced in session 9 (a Set of
// `<len>:<keyId>:<nonce>` strings and a binary heap of expiry times), kept verbatim as the reference
// the property tests hold memoryNonceStore to (memory-nonce-fingerprint.test.ts). Not part of the package.

/** Options of {@link referenceMemoryNonceStore}. */
export interface MemoryNonceStoreOptions {
  maxEntries?: number;
  now?: () => number;
}

/**
 * The one key a (key id, nonce) pair is stored under. The key id is length-prefixed so
 * that `("a:b", "c")` and `("a", "b:c")` never collide. The concatenation is a fresh string:
 * it never keeps alive the header a nonce was sliced from.
 */
export function nonceSlot(keyId: string, nonce: string): string {
  return `${keyId.length}:${keyId}:${nonce}`;
}

// Shared settled answers: a promise that is already resolved can be handed to any number of awaiters.
const RESOLVED_TRUE: Promise<boolean> = Promise.resolve(true);
const RESOLVED_FALSE: Promise<boolean> = Promise.resolve(false);

function checkArguments(keyId: unknown, nonce: unknown, ttlSeconds: unknown): void {
  requireString('checkAndStore: keyId', keyId);
  requireString('checkAndStore: nonce', nonce);
  requirePositiveNumber('checkAndStore: ttlSeconds', ttlSeconds);
}

/** A {@link NonceStore} that also answers synchronously (`checkAndStoreNow`, always present). */
export interface MemoryNonceStore extends NonceStore {
  checkAndStoreNow(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean;
}

/**
 * A {@link NonceStore} in process memory, for a single instance. Its `epoch()` is the moment it was
 * created: after a restart, signatures created before then are refused (they may have been
 * accepted by the previous process, whose memory is gone). Entries expire after
 * `ttlSeconds`; expired entries are dropped first. When the store is full of entries that
 * are all still inside their window it throws `StoreUnavailable` rather than evicting one:
 * forgetting an unexpired nonce would let that request be replayed.
 *
 * @example
 * const nonces = memoryNonceStore({ maxEntries: 50_000 });
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300); // true
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300); // false: replayed
 * nonces.checkAndStoreNow('hk_live_1', 'x9q1...', 300); // true, without a promise
 */
export function referenceMemoryNonceStore(options: MemoryNonceStoreOptions = {}): MemoryNonceStore {
  const maxEntries = requirePositiveInteger('memoryNonceStore: options.maxEntries', options.maxEntries ?? 1_000_000);
  const now = requireClock('memoryNonceStore: options.now', options.now ?? Date.now);
  // Presence is all a check needs (everything left after dropExpired is unexpired), so the slots
  // live in a Set; their expiry times live only in the heap, as unboxed doubles.
  const slots = new Set<string>();
  // A binary min-heap on expiry so that dropping expired entries costs O(log n) each. Each slot is
  // in the heap exactly once: it is only pushed when it was absent from the set.
  const heapExpiry: number[] = [];
  const heapSlot: string[] = [];
  // Slots released (release()) while their heap entry is still queued: that entry is stale and must
  // not delete a later record of the same slot. Counted, since a slot can be released repeatedly.
  const staleEntries = new Map<string, number>();
  // The store is empty when it is created, so it holds every nonce accepted since then: in whole
  // seconds, rounded down, so that a request signed in the same second as the start is accepted.
  const epochSeconds = Math.floor(now() / 1000);

  function heapPush(expiresAt: number, slot: string): void {
    let index = heapExpiry.length;
    heapExpiry.push(expiresAt);
    heapSlot.push(slot);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heapExpiry[parent]! <= expiresAt) break;
      heapExpiry[index] = heapExpiry[parent]!;
      heapSlot[index] = heapSlot[parent]!;
      index = parent;
    }
    heapExpiry[index] = expiresAt;
    heapSlot[index] = slot;
  }

  function heapPop(): void {
    const lastExpiry = heapExpiry.pop()!;
    const lastSlot = heapSlot.pop()!;
    const size = heapExpiry.length;
    if (size === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && heapExpiry[right]! < heapExpiry[left]! ? right : left;
      if (heapExpiry[child]! >= lastExpiry) break;
      heapExpiry[index] = heapExpiry[child]!;
      heapSlot[index] = heapSlot[child]!;
      index = child;
    }
    heapExpiry[index] = lastExpiry;
    heapSlot[index] = lastSlot;
  }

  function dropExpired(at: number): void {
    while (heapExpiry.length > 0 && heapExpiry[0]! <= at) {
      const slot = heapSlot[0]!;
      const stale = staleEntries.size === 0 ? undefined : staleEntries.get(slot);
      if (stale === undefined) slots.delete(slot);
      else if (stale <= 1) staleEntries.delete(slot);
      else staleEntries.set(slot, stale - 1);
      heapPop();
    }
  }

  function checkAndStore(keyId: string, nonce: string, ttlSeconds: number, checkedEpoch?: number): boolean {
    checkArguments(keyId, nonce, ttlSeconds);
    if (checkedEpoch !== undefined) {
      requireNumber('checkAndStore: checkedEpoch', checkedEpoch);
      // Checked against an epoch older than this store's (another incarnation's): the request may
      // predate what this store remembers. Fail closed rather than record it as new.
      if (checkedEpoch < epochSeconds) {
        throw new StoreUnavailable('the nonce store was restarted since this request was checked; retry');
      }
    }
    const at = now();
    dropExpired(at);
    const slot = nonceSlot(keyId, nonce);
    // V8 builds the slot as a rope over its parts, and a nonce parsed from a header is a slice
    // that keeps the whole header alive; reading a character flattens the rope into one string
    // and lets the parts go. Measured: 106 instead of 290+ bytes per entry (docs/limits.md).
    slot.charCodeAt(0);
    if (slots.has(slot)) return false;
    if (slots.size >= maxEntries) {
      throw new StoreUnavailable(`memory nonce store is full (${maxEntries} unexpired entries)`);
    }
    slots.add(slot);
    heapPush(at + ttlSeconds * 1000, slot);
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
      const slot = nonceSlot(keyId, nonce);
      // The heap entry stays queued (removing from the middle of a heap costs O(n)): mark it stale.
      // If the slot is recorded again, the stale entry may expire first and would otherwise forget it.
      if (slots.delete(slot)) staleEntries.set(slot, (staleEntries.get(slot) ?? 0) + 1);
      return Promise.resolve();
    },
    // Not an async function: the answer is known synchronously, and an async frame per request
    // is garbage the caller's scavenges pay for. Errors still arrive as a rejected promise.
    checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch) {
      try {
        return checkAndStore(keyId, nonce, ttlSeconds, checkedEpoch) ? RESOLVED_TRUE : RESOLVED_FALSE;
      } catch (error) {
        return Promise.reject(error);
      }
    },
    // The same function, without the promise: the pipeline calls it when present (NonceStore's
    // optional capability), so the two answers cannot differ.
    checkAndStoreNow: checkAndStore,
  };
}
