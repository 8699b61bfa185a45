import { randomBytes } from 'node:crypto';
import { createKeyService, createMasterKeyRing, type KeyStore, memoryKeyStore } from '@hmac-kit/keys';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);

/** The store with its change-feed reads counted (each one is a wake-up of an idle server). */
function counting(store: KeyStore): KeyStore & { feedReads: number } {
  const wrapped = {
    ...store,
    feedReads: 0,
    changesSince(seq: number, limit: number) {
      wrapped.feedReads++;
      return store.changesSince(seq, limit);
    },
  };
  return wrapped;
}

/** Lets the promise jobs the fake clock's callbacks started settle (store calls are promises). */
async function settle() {
  for (let turn = 0; turn < 10; turn++) await Promise.resolve();
}

// An idle `hmac-kit serve` must sleep: the key service is what used to read the change feed every
// 500 ms whether or not anything happened. Measured with a fake clock: what fires in an idle hour.
describe('key service when idle', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops polling the change feed after one idle interval: no timer left, no read in an hour', async () => {
    const store = counting(memoryKeyStore());
    const service = await createKeyService({ store, masterKeys, pollIntervalMs: 500 });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    expect(await service.resolver(key.keyId)).toBeDefined();

    // At most two intervals to notice nothing happens, then nothing at all.
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(vi.getTimerCount()).toBe(0);
    const readsWhenAsleep = store.feedReads;
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(store.feedReads).toBe(readsWhenAsleep);
    expect(vi.getTimerCount()).toBe(0);
    await service.close();
  });

  it('pending scheme usage does not keep the feed polling: one timer writes it when due, then nothing', async () => {
    const store = counting(memoryKeyStore());
    const service = await createKeyService({ store, masterKeys, pollIntervalMs: 500, lastUsedIntervalMs: 60_000 });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    await service.resolver(key.keyId);
    service.recordKeyUsage(key.keyId, 'rfc9421'); // first use: written at the next tick
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    service.recordKeyUsage(key.keyId, 'rfc9421'); // within the interval: waits in memory
    // Asleep after an idle interval, like without usage (a sleeping service reads the feed when it
    // wakes, so a key created elsewhere is known at once): only the usage timer is left.
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    const readsWhenAsleep = store.feedReads;
    expect(vi.getTimerCount()).toBe(1);
    expect((await store.listKeyUsage()).map((u) => u.count)).toEqual([1]);
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect((await store.listKeyUsage()).map((u) => u.count)).toEqual([2]);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(store.feedReads).toBe(readsWhenAsleep);
    await service.close();
  });

  it('keeps polling while lookups come in, and sleeps again once they stop', async () => {
    const store = counting(memoryKeyStore());
    const service = await createKeyService({ store, masterKeys, pollIntervalMs: 500 });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    for (let second = 0; second < 10; second++) {
      await service.resolver(key.keyId);
      await vi.advanceTimersByTimeAsync(250);
      expect(vi.getTimerCount()).toBe(1);
    }
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(vi.getTimerCount()).toBe(0);
    await service.close();
  });

  it('refuses, on the first lookup after sleeping, a key another instance revoked meanwhile', async () => {
    const shared = memoryKeyStore();
    const sleeper = await createKeyService({ store: shared, masterKeys, pollIntervalMs: 500 });
    const admin = await createKeyService({ store: shared, masterKeys, pollIntervalMs: 500 });
    await admin.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await admin.createKey({ principal: 'svc' });
    // Cached as valid by the instance about to go idle.
    await vi.advanceTimersByTimeAsync(600);
    expect(await sleeper.resolver(key.keyId)).toBeDefined();
    await vi.advanceTimersByTimeAsync(1_500);
    await settle();
    expect(vi.getTimerCount()).toBe(0);

    // Revoked elsewhere (the CLI, another instance) while this one sleeps: no push, no poll.
    await admin.revokeKey(key.keyId);
    await admin.close();
    await vi.advanceTimersByTimeAsync(1_000);
    // Still inside the staleness bound (5 s): the cache would have answered without the catch-up.
    expect(await sleeper.resolver(key.keyId)).toBeUndefined();
    await sleeper.close();
  });
});
