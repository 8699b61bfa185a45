/**
 * Adversarial review of the memory nonce store's `onFullChange` / `size()` (session 22, helper
 * review22; added for `hmac-kit serve --nonce-capacity`, whose server logs one warn line per
 * `full: true` and one info line per `full: false`).
 *
 * - Sustained overload is the case the hook exists for: a store pinned at capacity frees a slot each
 *   time an entry expires, the next request takes it and the one after is refused. Told "room again"
 *   at every record, the hook fired twice per accepted request (~6,500 log lines/s at the default
 *   capacity and window) for as long as the overload lasted: the log flood it was meant to prevent.
 * - A hook that returns a rejected promise (an `async` hook) must be ignored like one that throws,
 *   not become an unhandled rejection (a crash under Node's default `--unhandled-rejections=throw`).
 * - Whatever the hook does (throw, reenter with `size()` or a check), the answers are those of a
 *   store without one (fast-check against the exact model).
 */
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exactNonceModel } from './exact-nonce-model.js';

type Event = { full: boolean; refused: number };

describe('memoryNonceStore onFullChange under attack (review22)', () => {
  it('tells one episode, not a pair per accepted request, while overload keeps the store at capacity', () => {
    let now = 0;
    const events: Event[] = [];
    const capacity = 1000;
    const store = memoryNonceStore({
      maxEntries: capacity,
      now: () => now,
      onFullChange: (event) => events.push(event),
    });
    let sequence = 0;
    let accepted = 0;
    let refused = 0;
    const check = () => {
      try {
        if (store.checkAndStoreNow('hk_a', `n${sequence++}`, 1)) accepted++;
      } catch (error) {
        expect(error).toBeInstanceOf(StoreUnavailable);
        refused++;
      }
    };
    // A window of 1 s at what the store absorbs (capacity / window = 1 check per ms), then three at
    // twice that: every ms one entry expires, one check takes its slot and the next is refused.
    for (now = 0; now < 1000; now++) check();
    for (; now < 4000; now++) {
      check();
      check();
    }
    expect(store.size()).toBeGreaterThan(capacity - 5); // at capacity (size() at the next ms drops a couple)
    expect(accepted).toBeGreaterThan(2 * capacity); // the store kept admitting as entries expired
    expect(refused).toBeGreaterThan(2 * capacity);
    expect(events).toEqual([{ full: true, refused: 1, reason: 'capacity' }]);
    // The overload ends: a check per 10 ms. Once entries have drained, the episode ends once.
    for (; now < 7000; now += 10) check();
    expect(events).toEqual([
      { full: true, refused: 1, reason: 'capacity' },
      { full: false, refused },
    ]);
  });

  it('still ends an episode at the first record for the smallest capacities', () => {
    let now = 0;
    const events: Event[] = [];
    const store = memoryNonceStore({ maxEntries: 1, now: () => now, onFullChange: (event) => events.push(event) });
    expect(store.checkAndStoreNow('hk_a', 'n1', 1)).toBe(true);
    expect(() => store.checkAndStoreNow('hk_a', 'n2', 1)).toThrow(StoreUnavailable);
    now = 1000;
    expect(store.checkAndStoreNow('hk_a', 'n3', 1)).toBe(true);
    expect(events).toEqual([
      { full: true, refused: 1, reason: 'capacity' },
      { full: false, refused: 1 },
    ]);
  });

  it('ignores a hook whose promise rejects (no unhandled rejection)', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      let now = 0;
      const store = memoryNonceStore({
        maxEntries: 1,
        now: () => now,
        onFullChange: async () => {
          throw new Error('async hook broke');
        },
      });
      store.checkAndStoreNow('hk_a', 'n1', 1);
      expect(() => store.checkAndStoreNow('hk_a', 'n2', 1)).toThrow(StoreUnavailable);
      now = 1000;
      expect(store.checkAndStoreNow('hk_a', 'n3', 1)).toBe(true);
      // Node reports unhandled rejections after the microtask queue drains: two macrotask turns.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', listener);
    }
  });

  it('answers as the exact model whatever the hook does (throws, reads size())', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('check' as const),
        nonce: fc.integer({ min: 0, max: 12 }),
        ttl: fc.integer({ min: 1, max: 4 }),
      }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 2500 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 80 }), (capacity, ops) => {
        let now = 0;
        const model = exactNonceModel({ maxEntries: capacity, now: () => now });
        const store = memoryNonceStore({
          maxEntries: capacity,
          now: () => now,
          onFullChange: () => {
            // Reentrant (the store is mid-check): drops expired entries, may shrink the arrays.
            store.size();
            throw new Error('hook broke');
          },
        });
        const outcome = (run: () => boolean) => {
          try {
            return run();
          } catch (error) {
            return error instanceof StoreUnavailable ? 'full' : error;
          }
        };
        for (const step of ops) {
          if (step.kind === 'tick') {
            now += step.ms;
            continue;
          }
          const nonce = `n${step.nonce}`;
          expect(outcome(() => store.checkAndStoreNow('hk_a', nonce, step.ttl))).toBe(
            outcome(() => model.checkAndStoreNow('hk_a', nonce, step.ttl)),
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a hook that checks again while told "full" is refused too, and the outer check stays refused', () => {
    const events: Event[] = [];
    const inner: unknown[] = [];
    const store = memoryNonceStore({
      maxEntries: 1,
      now: () => 0,
      onFullChange: (event) => {
        events.push(event);
        try {
          inner.push(store.checkAndStoreNow('hk_a', 'inner', 1));
        } catch (error) {
          inner.push(error instanceof StoreUnavailable ? 'full' : error);
        }
      },
    });
    expect(store.checkAndStoreNow('hk_a', 'n1', 1)).toBe(true);
    expect(() => store.checkAndStoreNow('hk_a', 'n2', 1)).toThrow(StoreUnavailable);
    expect(inner).toEqual(['full']);
    expect(events).toEqual([{ full: true, refused: 1, reason: 'capacity' }]);
    expect(store.checkAndStoreNow('hk_a', 'n1', 1)).toBe(false);
    expect(store.size()).toBe(1);
  });

  it('allocates nothing for the capacity itself: a store of 100,000,000 starts at the smallest arrays', () => {
    const before = process.memoryUsage().arrayBuffers;
    const stores = Array.from({ length: 8 }, () => memoryNonceStore({ maxEntries: 100_000_000 }));
    for (const store of stores) expect(store.checkAndStoreNow('hk_a', 'n1', 300)).toBe(true);
    // ~8 KB each (256 table slots, 128 queue entries); eager sizing would be gigabytes.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 64 * 1024);
    expect(stores[0]!.size()).toBe(1);
    expect(stores[0]!.maxEntries).toBe(100_000_000);
  });
});
