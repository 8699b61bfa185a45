import { StoreUnavailable } from '@hmac-kit/core';
import { MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES, memoryNonceStore } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';

describe('memoryNonceStore default capacity', () => {
  it('is sized for thousands of signed requests per second over the default 305 s window', () => {
    expect(MEMORY_NONCE_STORE_DEFAULT_MAX_ENTRIES).toBeGreaterThanOrEqual(3000 * 305);
  });

  it('accepts more than the old 100 000 unexpired nonces by default and still refuses replays', async () => {
    let time = 1_700_000_000_000;
    const store = memoryNonceStore({ now: () => time });
    for (let index = 0; index <= 100_000; index++) {
      expect(await store.checkAndStore('hk_1', `n${index}`, 305)).toBe(true);
    }
    expect(await store.checkAndStore('hk_1', 'n0', 305)).toBe(false);
    expect(await store.checkAndStore('hk_1', 'n100000', 305)).toBe(false);
    time += 305_000;
    expect(await store.checkAndStore('hk_1', 'n0', 305)).toBe(true);
  });

  it('still fails closed at an explicit capacity', async () => {
    const store = memoryNonceStore({ maxEntries: 2, now: () => 0 });
    expect(await store.checkAndStore('k', 'a', 60)).toBe(true);
    expect(await store.checkAndStore('k', 'b', 60)).toBe(true);
    await expect(store.checkAndStore('k', 'c', 60)).rejects.toBeInstanceOf(StoreUnavailable);
    expect(await store.checkAndStore('k', 'a', 60)).toBe(false);
  });
});
