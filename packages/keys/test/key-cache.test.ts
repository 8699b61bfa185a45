// The key cache on its own (key-cache.ts), over the memory store: capacity and age eviction, the
// change feed dropping entries, revoked/expired/disabled keys, unknown ids answered from memory, and
// the synchronous answer for hits. The key service's tests (service-cache, idle, stores) show it
// working inside the service.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createMasterKeyRing, generateKeyId, type KeyStore, memoryKeyStore } from '@hmac-kit/keys';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { type KeyCache, type KeyCacheSettings, type KeyCacheStore, openKeyCache } from '../src/key-cache.js';
import { keyRow, principalRow } from './conformance/key-store.js';

const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);
const NOW = Date.UTC(2026, 0, 1);

/** The memory store, counting its hot-path reads. */
function countingStore(): KeyStore & { reads: number } {
  const inner = memoryKeyStore();
  const store = {
    ...inner,
    reads: 0,
    resolveKey(keyId: string) {
      store.reads++;
      return inner.resolveKey(keyId);
    },
  };
  return store;
}

/** Stores a key of principal `svc` (created on first use) and returns its id. */
async function storeKey(store: KeyStore, options: { expiresAt?: number; principal?: string } = {}): Promise<string> {
  const principal = options.principal ?? 'svc';
  if (!(await store.getPrincipal(principal))) {
    await store.insertPrincipal(principalRow(principal, { createdAt: NOW }));
  }
  const row = keyRow(masterKeys, principal, { scopes: ['read'], createdAt: NOW, expiresAt: options.expiresAt ?? null });
  await store.insertKey(row, { maxActiveKeys: 1000, now: NOW });
  return row.keyId;
}

/** performance.now(), stopped and moved by the test: ages and feed freshness pass exactly as it says. */
function stoppedMonotonicClock(): { advance(ms: number): void } {
  // Whole milliseconds: (t + 1000) - t of a fractional t can come out as 999.9999999999995, and an
  // age compared with a TTL must come out exactly as the test moved the clock.
  let now = Math.ceil(performance.now());
  const spy = vi.spyOn(performance, 'now').mockImplementation(() => now);
  onTestFinished(() => {
    spy.mockRestore();
  });
  return {
    advance(ms) {
      now += ms;
    },
  };
}

async function open(store: KeyCacheStore, settings: Partial<KeyCacheSettings> = {}): Promise<KeyCache> {
  const cache = await openKeyCache(store, {
    masterKeys,
    clock: () => NOW,
    maxEntries: 100,
    ttlMs: 60_000,
    maxNegativeEntries: 100,
    negativeTtlMs: 60_000,
    // Nothing but the test reads the feed, unless a test says otherwise.
    pollIntervalMs: 600_000,
    maxStalenessMs: 1_200_000,
    feedFreshnessMs: 600_000,
    awake: () => false,
    ...settings,
  });
  onTestFinished(() => cache.close());
  return cache;
}

describe('key cache', () => {
  it('answers a hit synchronously with the same key object, a miss with a promise', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const loaded: string[] = [];
    const cache = await open(store, { onLoad: (row) => loaded.push(row.keyId) });
    const miss = cache.resolver(keyId);
    expect(miss).toBeInstanceOf(Promise);
    const key = await miss;
    expect(key).toMatchObject({ keyId, principal: 'svc', algorithm: 'sha256', scopes: ['read'] });
    expect(Object.isFrozen(key)).toBe(true);
    expect(loaded).toEqual([keyId]);
    const hit = cache.resolver(keyId);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toBe(key);
    expect(cache.holds(keyId)).toBe(true);
    expect(store.reads).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, negativeHits: 0, entries: 1 });
  });

  it('shares one store read between concurrent misses of one id', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const cache = await open(store);
    const [first, second] = await Promise.all([cache.resolver(keyId), cache.resolver(keyId)]);
    expect(first).toBe(second);
    expect(store.reads).toBe(1);
  });

  it('answers ids the store does not hold from memory, and implausible ids without counting them', async () => {
    const store = countingStore();
    const cache = await open(store);
    for (let index = 0; index < 20; index++) {
      const answer = cache.resolver(generateKeyId());
      expect(answer).toBeUndefined(); // synchronously: not a promise
    }
    expect(cache.resolver('not a key id')).toBeUndefined();
    expect(cache.resolver('x'.repeat(5000))).toBeUndefined();
    expect(store.reads).toBe(0);
    expect(cache.stats()).toMatchObject({ negativeHits: 20, misses: 0, hits: 0 });
  });

  it('learns a key created elsewhere from the feed, once the feed is older than feedFreshnessMs', async () => {
    const time = stoppedMonotonicClock();
    const store = countingStore();
    const cache = await open(store, { feedFreshnessMs: 100, maxStalenessMs: 10_000 });
    const keyId = await storeKey(store); // another instance's write: this cache's index does not know it
    expect(cache.resolver(keyId)).toBeUndefined();
    time.advance(101);
    // The feed is old: this lookup reads it first, then finds the id in the index and loads the key.
    const answer = cache.resolver(keyId);
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toMatchObject({ keyId });
  });

  it('a lookup that joins a feed read begun before its freshness bound reads the feed again', async () => {
    // The read in flight was asked before the key was written (its answer is the store as it was
    // then) and ends after the feed's freshness bound passed: a lookup that only waited for it would
    // answer a key created elsewhere 'unknown' although the feed is older than feedFreshnessMs
    // (lastSync used to record when a read ended, not when it was asked).
    const time = stoppedMonotonicClock();
    const inner = countingStore();
    let held: { release(): void } | undefined;
    const store: KeyStore = {
      ...inner,
      changesSince(after: number, limit: number) {
        const answer = inner.changesSince(after, limit); // the store's state when the read is asked
        if (!held) return answer;
        return new Promise((resolve) => {
          held = { release: () => resolve(answer) };
        });
      },
    };
    const cache = await open(store, { feedFreshnessMs: 100, maxStalenessMs: 10_000 });
    held = { release: () => undefined };
    const before = cache.poll(); // asked now, answered only when released
    const keyId = await storeKey(inner); // another instance's write, after the read was asked
    time.advance(150);
    const answer = cache.resolver(keyId);
    expect(answer).toBeInstanceOf(Promise);
    const release = held;
    held = undefined;
    release.release();
    await before;
    expect(await answer).toMatchObject({ keyId });
  });

  it('evicts the least recently used key beyond maxEntries', async () => {
    const store = countingStore();
    const ids = [await storeKey(store), await storeKey(store), await storeKey(store)];
    const cache = await open(store, { maxEntries: 2 });
    for (const id of ids) await cache.resolver(id);
    expect(store.reads).toBe(3);
    expect(cache.stats().entries).toBe(2);
    expect(cache.holds(ids[0]!)).toBe(false); // the oldest went
    expect(cache.resolver(ids[2]!)).toMatchObject({ keyId: ids[2] });
    expect(cache.resolver(ids[1]!)).toMatchObject({ keyId: ids[1] });
    expect(store.reads).toBe(3);
    await cache.resolver(ids[0]!); // read again, evicting ids[2] (least recently used now)
    expect(store.reads).toBe(4);
    expect(cache.holds(ids[2]!)).toBe(false);
  });

  it('expires entries ttlMs after they were loaded', async () => {
    const time = stoppedMonotonicClock();
    const store = countingStore();
    const keyId = await storeKey(store);
    const cache = await open(store, { ttlMs: 150 });
    await cache.resolver(keyId);
    time.advance(149);
    expect(cache.resolver(keyId)).toMatchObject({ keyId });
    time.advance(1);
    expect(cache.resolver(keyId)).toBeInstanceOf(Promise);
    expect(store.reads).toBe(2);
  });

  it('caches nothing with maxEntries 0: every lookup of a stored id reads the store', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const cache = await open(store, { maxEntries: 0 });
    expect(await cache.resolver(keyId)).toMatchObject({ keyId });
    expect(await cache.resolver(keyId)).toMatchObject({ keyId });
    expect(store.reads).toBe(2);
    expect(cache.stats().entries).toBe(0);
  });

  it('drops a key revoked elsewhere when the feed is read, then answers it from the negative cache', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const cache = await open(store);
    await cache.resolver(keyId);
    await store.revokeKey(keyId, NOW, 'leaked'); // appends to the change feed
    expect(cache.resolver(keyId)).toMatchObject({ keyId }); // the feed was not read yet
    await cache.poll();
    expect(cache.holds(keyId)).toBe(false);
    expect(await cache.resolver(keyId)).toBeUndefined();
    expect(cache.resolver.inactiveReason?.(keyId)).toBe('revoked');
    expect(cache.resolver(keyId)).toBeUndefined(); // negative hit, synchronously
    expect(store.reads).toBe(2);
    expect(cache.stats()).toMatchObject({ entries: 0, negativeEntries: 1 });
  });

  it('indexes keys revoked before it opened: answered as unusable and said to be revoked, as after a runtime revocation', async () => {
    const store = countingStore();
    const revoked = await storeKey(store);
    await store.revokeKey(revoked, NOW, 'leaked');
    const cache = await open(store);
    // One store read (the index knows the id), then the negative cache answers synchronously.
    expect(await cache.resolver(revoked)).toBeUndefined();
    expect(cache.resolver.inactiveReason?.(revoked)).toBe('revoked');
    expect(cache.resolver(revoked)).toBeUndefined();
    expect(store.reads).toBe(1);
  });

  it('answers keys of a disabled principal and expired keys as unusable, and says why', async () => {
    let now = NOW;
    const store = countingStore();
    const expiring = await storeKey(store, { expiresAt: NOW + 1000 });
    const disabled = await storeKey(store, { principal: 'gone' });
    await store.updatePrincipal('gone', { disabled: true, disabledAt: NOW });
    const cache = await open(store, { clock: () => now });
    expect(await cache.resolver(disabled)).toBeUndefined();
    expect(cache.resolver.inactiveReason?.(disabled)).toBe('disabled');
    expect(await cache.resolver(expiring)).toMatchObject({ keyId: expiring });
    now = NOW + 1000;
    // Still cached, but past its expiry by the business clock: unusable at once, without a store read.
    expect(cache.resolver(expiring)).toBeUndefined();
    expect(cache.resolver.inactiveReason?.(expiring)).toBe('expired');
    expect(store.reads).toBe(2);
  });

  it('does not cache what a load read when an invalidation of the id arrived meanwhile', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const cache = await open(store);
    const loading = cache.resolver(keyId);
    await cache.invalidate([keyId]);
    expect(await loading).toMatchObject({ keyId });
    expect(cache.holds(keyId)).toBe(false);
  });

  it('bounds the negative cache by maxNegativeEntries', async () => {
    const store = countingStore();
    const revoked = [await storeKey(store), await storeKey(store), await storeKey(store)];
    const cache = await open(store, { maxNegativeEntries: 2 });
    for (const id of revoked) await store.revokeKey(id, NOW, null);
    await cache.poll();
    for (const id of revoked) expect(await cache.resolver(id)).toBeUndefined();
    expect(cache.stats().negativeEntries).toBe(2);
    expect(cache.resolver(revoked[2]!)).toBeUndefined(); // still held: synchronous
    expect(cache.resolver(revoked[0]!)).toBeInstanceOf(Promise); // evicted: read again
  });

  it('publishes invalidations on the bus and drops ids the bus names', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const published: string[] = [];
    let listener: ((keyId: string) => void) | undefined;
    const cache = await open(store, {
      bus: {
        publish: (id) => void published.push(id),
        subscribe: (onMessage) => {
          listener = onMessage;
          return () => {
            listener = undefined;
          };
        },
      },
    });
    await cache.resolver(keyId);
    listener?.(keyId);
    expect(cache.holds(keyId)).toBe(false);
    await cache.invalidate([keyId]);
    expect(published).toEqual([keyId]);
    await cache.close();
    expect(listener).toBeUndefined();
  });

  it('reads the feed before answering when its owner was idle', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    let idle = false;
    const cache = await open(store, { awake: () => idle });
    await cache.resolver(keyId);
    await store.revokeKey(keyId, NOW, null);
    idle = true;
    const answer = cache.resolver(keyId);
    idle = false;
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBeUndefined();
  });

  it('stops trusting its entries when the feed cannot be read for maxStalenessMs (fails closed)', async () => {
    const time = stoppedMonotonicClock();
    const store = countingStore();
    const keyId = await storeKey(store);
    let down = false;
    const changesSince = store.changesSince.bind(store);
    store.changesSince = (seq, limit) => (down ? Promise.reject(new Error('store down')) : changesSince(seq, limit));
    const resolveKey = store.resolveKey;
    store.resolveKey = (id) => (down ? Promise.reject(new Error('store down')) : resolveKey(id));
    const cache = await open(store, { pollIntervalMs: 50, feedFreshnessMs: 50, maxStalenessMs: 200 });
    await cache.resolver(keyId);
    down = true;
    time.advance(100);
    // The feed is old but not stale: the lookup tries to read it, fails, and still answers from the cache.
    expect(await cache.resolver(keyId)).toMatchObject({ keyId });
    time.advance(150);
    // Past maxStalenessMs since the last successful read: the store is asked, and its failure is the answer.
    await expect(cache.resolver(keyId)).rejects.toThrow('store down');
    expect(cache.stats().staleBypasses).toBe(1);
  });

  it('rejects every lookup once closed', async () => {
    const store = countingStore();
    const keyId = await storeKey(store);
    const cache = await open(store);
    await cache.resolver(keyId);
    await cache.close();
    await expect(cache.resolver(keyId)).rejects.toThrow('key service is closed');
    expect(cache.stats()).toMatchObject({ entries: 0, negativeEntries: 0 });
  });

  it('forgets the prepared material of every key that leaves it, and of none that stays', async () => {
    const time = stoppedMonotonicClock();
    const store = countingStore();
    const ids = [await storeKey(store), await storeKey(store), await storeKey(store), await storeKey(store)];
    const forgotten: Uint8Array[] = [];
    const cache = await open(store, { maxEntries: 2, ttlMs: 1000, forget: (secret) => forgotten.push(secret) });
    const secretOf = async (id: string) => ((await cache.resolver(id)) as { secret: Uint8Array }).secret;
    const first = await secretOf(ids[0]!);
    const second = await secretOf(ids[1]!);
    for (let i = 0; i < 10; i++) cache.resolver(ids[1]!); // hits forget nothing
    expect(forgotten).toEqual([]);
    // Pushed out by capacity: the least recently used key's own secret array.
    const third = await secretOf(ids[2]!);
    expect(forgotten).toEqual([first]);
    expect(forgotten[0]).toBe(first);
    // Revoked elsewhere, learnt from the feed.
    await store.revokeKey(ids[1]!, NOW, null);
    await cache.poll();
    expect(forgotten[1]).toBe(second);
    // Too old: forgotten when the lookup finds it expired, then loaded again as a new array.
    time.advance(1000);
    const reloaded = await secretOf(ids[2]!);
    expect(forgotten[2]).toBe(third);
    expect(reloaded).not.toBe(third);
    // Invalidated here (this instance's own revocation, rotation, disabled principal).
    await cache.invalidate([ids[2]!]);
    expect(forgotten[3]).toBe(reloaded);
    // Closed: whatever is left.
    const fourth = await secretOf(ids[3]!);
    await cache.close();
    expect(forgotten[4]).toBe(fourth);
    expect(forgotten).toHaveLength(5);
  });
});
