/**
 * review10: the memory nonce store must fail closed when its typed arrays cannot grow (an
 * allocation refused: memory limit, or a table past the engine's typed-array length limit with a
 * large maxEntries). A refused growth must leave every recorded pair in place: a request that
 * was accepted before must still be refused as a replay afterwards.
 */
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { afterEach, describe, expect, it } from 'vitest';

const RealFloat64Array = globalThis.Float64Array;
const RealInt32Array = globalThis.Int32Array;

/** Makes the next typed-array allocations of `length` or more elements fail, as an exhausted allocator does. */
function refuseLargeAllocations(which: 'Float64Array' | 'Int32Array', length: number): void {
  const Real = which === 'Float64Array' ? RealFloat64Array : RealInt32Array;
  const Refusing = new Proxy(Real, {
    construct(target, args: unknown[]) {
      if (typeof args[0] === 'number' && args[0] >= length) throw new RangeError('Array buffer allocation failed');
      return Reflect.construct(target, args);
    },
  });
  (globalThis as Record<string, unknown>)[which] = Refusing;
}

afterEach(() => {
  globalThis.Float64Array = RealFloat64Array;
  globalThis.Int32Array = RealInt32Array;
});

describe('memoryNonceStore when its arrays cannot grow', () => {
  for (const which of ['Float64Array', 'Int32Array'] as const) {
    it(`keeps refusing every recorded nonce after a refused table growth (${which})`, () => {
      let now = 1_700_000_000_000;
      const store = memoryNonceStore({ maxEntries: 10_000, now: () => now });
      // 128 records fill the smallest table (256 slots) to half: the 129th makes it grow.
      for (let index = 0; index < 128; index++) expect(store.checkAndStoreNow('k', `n${index}`, 300)).toBe(true);
      refuseLargeAllocations(which, 512);
      expect(() => store.checkAndStoreNow('k', 'n128', 300)).toThrow(StoreUnavailable);
      globalThis.Float64Array = RealFloat64Array;
      globalThis.Int32Array = RealInt32Array;
      now += 1_000;
      for (let index = 0; index < 128; index++)
        expect(store.checkAndStoreNow('k', `n${index}`, 300), `n${index}`).toBe(false);
      // And it still works once memory is available again.
      expect(store.checkAndStoreNow('k', 'n128', 300)).toBe(true);
      expect(store.checkAndStoreNow('k', 'n128', 300)).toBe(false);
    });
  }

  it('keeps the table and the expiry queue in step after a refused queue growth', async () => {
    let now = 1_700_000_000_000;
    const store = memoryNonceStore({ maxEntries: 10_000, now: () => now });
    // 128 queue entries fill the smallest ring; 64 of them released leave the table (256 slots) a
    // quarter full, so the next record grows the ring alone.
    for (let index = 0; index < 128; index++) expect(store.checkAndStoreNow('k', `n${index}`, 5)).toBe(true);
    for (let index = 64; index < 128; index++) await store.release!('k', `n${index}`);
    refuseLargeAllocations('Float64Array', 256);
    expect(() => store.checkAndStoreNow('k', 'x', 5)).toThrow(StoreUnavailable);
    globalThis.Float64Array = RealFloat64Array;
    // The refused pair was not recorded (a retry is fresh); the others are still refused...
    expect(store.checkAndStoreNow('k', 'x', 5)).toBe(true);
    for (let index = 0; index < 64; index++)
      expect(store.checkAndStoreNow('k', `n${index}`, 5), `n${index}`).toBe(false);
    // ...and every record still expires on time (none is left without its queue entry).
    now += 5_000;
    expect(store.checkAndStoreNow('k', 'x', 5)).toBe(true);
    for (let index = 0; index < 128; index++)
      expect(store.checkAndStoreNow('k', `n${index}`, 5), `n${index}`).toBe(true);
  });
});
