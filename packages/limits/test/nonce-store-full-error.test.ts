/**
 * Session 23 (helper fix23): the memory nonce store's refusals of a full episode.
 *
 * - A refusal for being full, at `maxEntries` or because its arrays could not grow (an allocation
 *   refused), is a `NonceStoreFull` (a `StoreUnavailable`: 503 `store_unavailable`, fail closed), so
 *   that a server can tell it from a store outage: the episode is logged once, not each refusal.
 * - "Could not grow" is an episode as "full" is: told to `onFullChange` once (`reason: 'memory'`),
 *   not never (each refusal was logged instead), and ended with hysteresis (at a pair recorded with
 *   at most 90% of what it held when growth failed), so a store whose growth keeps failing is not
 *   a pair of events per expiry.
 */
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore, NonceStoreFull } from '@hmac-kit/limits';
import { afterEach, describe, expect, it } from 'vitest';

const RealFloat64Array = globalThis.Float64Array;

/** Makes typed-array allocations of `length` or more elements fail, as an exhausted allocator does. */
function refuseLargeAllocations(length: number): void {
  globalThis.Float64Array = new Proxy(RealFloat64Array, {
    construct(target, args: unknown[]) {
      if (typeof args[0] === 'number' && args[0] >= length) throw new RangeError('Array buffer allocation failed');
      return Reflect.construct(target, args);
    },
  });
}

afterEach(() => {
  globalThis.Float64Array = RealFloat64Array;
});

const refusal = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('not refused');
};

describe('memory nonce store: refusals of a full episode', () => {
  it('refuses at capacity with NonceStoreFull (a StoreUnavailable), reason capacity', () => {
    const store = memoryNonceStore({ maxEntries: 1 });
    expect(store.checkAndStoreNow('k', 'a', 10)).toBe(true);
    const error = refusal(() => store.checkAndStoreNow('k', 'b', 10));
    expect(error).toBeInstanceOf(NonceStoreFull);
    expect(error).toBeInstanceOf(StoreUnavailable);
    expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', reason: 'capacity', name: 'NonceStoreFull' });
  });

  it('tells a "could not grow" episode once, with reason memory, and ends it with hysteresis', () => {
    let now = 1_700_000_000_000;
    const events: unknown[] = [];
    const store = memoryNonceStore({ maxEntries: 10_000, now: () => now, onFullChange: (event) => events.push(event) });
    // 128 records fill the smallest table (256 slots) to half: the 129th makes it grow. The first 20
    // expire sooner than the rest.
    for (let index = 0; index < 20; index++) expect(store.checkAndStoreNow('k', `early${index}`, 5)).toBe(true);
    for (let index = 20; index < 128; index++) expect(store.checkAndStoreNow('k', `n${index}`, 300)).toBe(true);
    refuseLargeAllocations(512);
    for (let index = 0; index < 5; index++) {
      const error = refusal(() => store.checkAndStoreNow('k', `x${index}`, 300));
      expect(error).toBeInstanceOf(NonceStoreFull);
      expect(error).toMatchObject({ reason: 'memory' });
    }
    expect(events).toEqual([{ full: true, refused: 1, reason: 'memory' }]);
    now += 5_000;
    // 20 expired: 108 held, at most 90% of the 128 held when growth failed: the next record ends it.
    expect(store.checkAndStoreNow('k', 'y', 300)).toBe(true);
    expect(events).toEqual([
      { full: true, refused: 1, reason: 'memory' },
      { full: false, refused: 5 },
    ]);
  });

  it('keeps a store whose growth keeps failing at one episode while single expiries let pairs in', () => {
    const start = 1_700_000_000_000;
    let now = start;
    const events: unknown[] = [];
    const store = memoryNonceStore({ maxEntries: 10_000, now: () => now, onFullChange: (event) => events.push(event) });
    // 128 records (the smallest table half full), each expiring 1 ms after the previous one.
    for (let index = 0; index < 128; index++) {
      expect(store.checkAndStoreNow('k', `n${index}`, 5)).toBe(true);
      now += 1;
    }
    refuseLargeAllocations(512);
    expect(() => store.checkAndStoreNow('k', 'first', 300)).toThrow(NonceStoreFull);
    // Overload at the growth threshold: each expiry lets one pair in without growing, the next is refused.
    for (let round = 0; round < 10; round++) {
      now = start + 5_000 + round;
      expect(store.checkAndStoreNow('k', `a${round}`, 300)).toBe(true);
      expect(() => store.checkAndStoreNow('k', `b${round}`, 300)).toThrow(NonceStoreFull);
    }
    expect(events).toEqual([{ full: true, refused: 1, reason: 'memory' }]);
  });
});
