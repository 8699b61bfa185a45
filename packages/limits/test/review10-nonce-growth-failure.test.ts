/**
 * review10: the memory nonce store must fail closed when its typed arrays cannot grow (an
 * allocation refused: memory limit, or a table past the engine's typed-array length limit with a
 * large maxEntries). A refused growth must leave every recorded pair in place: a request that
 * was accepted before must still be refused as a replay afterwards.
 */
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { afterEach, describe, expect, it } from 'vitest';
import { turnEventLoop } from '../../../test-support/wait.js';
import { exactNonceModel } from './exact-nonce-model.js';

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

describe('memoryNonceStore under reservations released over and over', () => {
  it('does not let entries left behind by release() grow its memory beyond what maxEntries bounds', async () => {
    let now = 1_700_000_000_000;
    const store = memoryNonceStore({ maxEntries: 10, now: () => now });
    // A signed request with a fresh nonce whose body then fails, 200 000 times inside one window:
    // each is recorded, then released. The store never holds more than a few records.
    const before = process.memoryUsage().arrayBuffers;
    for (let index = 0; index < 200_000; index++) {
      if (index % 5_000 === 0) await turnEventLoop();
      expect(store.checkAndStoreNow('k', `n${index}`, 305)).toBe(true);
      await store.release!('k', `n${index}`);
    }
    // 200 000 queue entries would be 3.2 MB (16 bytes each, before doubling).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1_000_000);
    // Records kept through compactions are still refused, and still expire on time.
    expect(store.checkAndStoreNow('k', 'kept', 305)).toBe(true);
    for (let index = 0; index < 1_000; index++) {
      expect(store.checkAndStoreNow('k', `m${index}`, 1)).toBe(true);
      await store.release!('k', `m${index}`);
    }
    expect(store.checkAndStoreNow('k', 'kept', 305)).toBe(false);
    now += 305_000;
    expect(store.checkAndStoreNow('k', 'kept', 305)).toBe(true);
  });
});

describe('memoryNonceStore compaction of released entries', () => {
  it('answers release-heavy sequences exactly as the plain model does (compactions included)', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      let state = seed * 2_654_435_761;
      const random = () => {
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
        return state / 2_147_483_648;
      };
      let now = 1_700_000_000_000;
      const maxEntries = 1 + Math.floor(random() * 300);
      const store = memoryNonceStore({ maxEntries, now: () => now });
      const model = exactNonceModel({ maxEntries, now: () => now });
      for (let step = 0; step < 20_000; step++) {
        if (step % 5_000 === 0) await turnEventLoop();
        const roll = random();
        // Time moves slowly (many releases inside one TTL, so compactions happen), sometimes back.
        if (roll < 0.01) now += Math.floor(random() * 3_000);
        else if (roll < 0.012) now -= Math.floor(random() * 3_000);
        const keyId = random() < 0.5 ? 'k' : 'k2';
        const nonce = String(Math.floor(random() * 300));
        if (random() < 0.45) {
          await store.release!(keyId, nonce);
          await model.release!(keyId, nonce);
          continue;
        }
        // Odd seeds: one TTL (every entry in the ring); even seeds: mixed TTLs (the heap too).
        const ttl = seed % 2 === 1 ? 30 : [1, 5, 0.3, 30, 305][Math.floor(random() * 5)]!;
        const expected = outcome(() => model.checkAndStoreNow(keyId, nonce, ttl));
        expect(
          outcome(() => store.checkAndStoreNow(keyId, nonce, ttl)),
          `seed ${seed} step ${step}`,
        ).toBe(expected);
      }
    }
  });
});

function outcome(run: () => boolean): boolean | 'unavailable' {
  try {
    return run();
  } catch (error) {
    if (error instanceof StoreUnavailable) return 'unavailable';
    throw error;
  }
}
