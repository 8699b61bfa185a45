import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';

// `hmac-kit serve --nonce-capacity` (session 22, cap22): what a server reads to show the store
// filling (`size()`, `maxEntries`) and to log a full episode once (`onFullChange`).
describe('memoryNonceStore size() and onFullChange', () => {
  it('counts unexpired pairs, dropping expired ones first', () => {
    let now = 0;
    const store = memoryNonceStore({ maxEntries: 10, now: () => now });
    expect(store.maxEntries).toBe(10);
    expect(store.size()).toBe(0);
    store.checkAndStoreNow('hk_a', 'n1', 10);
    store.checkAndStoreNow('hk_a', 'n2', 20);
    store.checkAndStoreNow('hk_a', 'n2', 20); // a replay records nothing
    expect(store.size()).toBe(2);
    now = 10_000;
    expect(store.size()).toBe(1);
    now = 20_000;
    expect(store.size()).toBe(0);
  });

  it('tells the first refusal of a full episode and the first record after it, never each check', () => {
    let now = 0;
    const events: Array<{ full: boolean; refused: number }> = [];
    const store = memoryNonceStore({ maxEntries: 2, now: () => now, onFullChange: (event) => events.push(event) });
    expect(store.checkAndStoreNow('hk_a', 'n1', 10)).toBe(true);
    expect(store.checkAndStoreNow('hk_a', 'n2', 10)).toBe(true);
    for (const nonce of ['n3', 'n4', 'n5'])
      expect(() => store.checkAndStoreNow('hk_a', nonce, 10)).toThrow(StoreUnavailable);
    // A replay while full is still a replay, and no event.
    expect(store.checkAndStoreNow('hk_a', 'n1', 10)).toBe(false);
    expect(events).toEqual([{ full: true, refused: 1, reason: 'capacity' }]);
    now = 10_000;
    expect(store.checkAndStoreNow('hk_a', 'n6', 10)).toBe(true);
    expect(events).toEqual([
      { full: true, refused: 1, reason: 'capacity' },
      { full: false, refused: 3 },
    ]);
    expect(store.checkAndStoreNow('hk_a', 'n7', 10)).toBe(true);
    expect(() => store.checkAndStoreNow('hk_a', 'n8', 10)).toThrow(StoreUnavailable);
    expect(events).toHaveLength(3);
  });

  it('ignores what the hook throws: the answer stays the store refusal', () => {
    const store = memoryNonceStore({
      maxEntries: 1,
      now: () => 0,
      onFullChange: () => {
        throw new Error('hook broke');
      },
    });
    store.checkAndStoreNow('hk_a', 'n1', 10);
    expect(() => store.checkAndStoreNow('hk_a', 'n2', 10)).toThrow(StoreUnavailable);
    expect(() => memoryNonceStore({ onFullChange: 5 as unknown as () => void })).toThrow(TypeError);
  });
});
