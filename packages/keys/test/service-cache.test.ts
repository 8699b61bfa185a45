import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  createKeyService,
  createMasterKeyRing,
  generateKeyId,
  type InvalidationBus,
  type KeyStore,
  memoryKeyStore,
  sqliteKeyStore,
} from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function counting(store: KeyStore): KeyStore & { reads: number } {
  const wrapped = {
    ...store,
    reads: 0,
    resolveKey(keyId: string) {
      wrapped.reads++;
      return store.resolveKey(keyId);
    },
  };
  return wrapped;
}

function sqliteStore(): KeyStore {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-cache-'));
  const database = new Database(join(dir, 'keys.db'));
  cleanups.push(() => {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return sqliteKeyStore({ database });
}

const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);

describe.each([
  ['memory', () => memoryKeyStore()],
  ['sqlite', sqliteStore],
])('key service cache on %s', (_name, makeStore) => {
  it('serves a warm key from the cache even when lookups never yield to timers', async () => {
    const store = counting(makeStore());
    // Records which key ids the change feed has handed the service.
    const delivered = new Set<string>();
    const changesSince = store.changesSince.bind(store);
    store.changesSince = async (seq, limit) => {
      const changes = await changesSince(seq, limit);
      for (const change of changes) delivered.add(change.keyId);
      return changes;
    };
    // The service's monotonic clock (performance.now) is the test's: staleness windows pass exactly
    // as the loop says, however slowly a loaded machine runs it.
    let tick = performance.now();
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => tick);
    onTestFinished(() => {
      clock.mockRestore();
    });
    const service = await createKeyService({ store, masterKeys, pollIntervalMs: 20, maxStalenessMs: 100 });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    // Wait until the change feed has delivered this key's own creation (which drops it once), then warm it.
    await vi.waitFor(
      () => {
        tick += 5;
        expect(delivered.has(key.keyId)).toBe(true);
      },
      { timeout: 20_000, interval: 5 },
    );
    await service.resolver(key.keyId);
    const readsBefore = store.reads;
    // Several staleness windows of back-to-back lookups (only microtasks in between): 1 ms of the
    // service's clock per lookup, 400 ms in all.
    for (let lookups = 0; lookups < 400; lookups++) {
      tick += 1;
      expect(await service.resolver(key.keyId)).toBeDefined();
    }
    expect(store.reads - readsBefore).toBe(0);
    await service.close();
  });

  it('answers cache hits synchronously and misses with a promise, with the same answers', async () => {
    const service = await createKeyService({
      store: makeStore(),
      masterKeys,
      pollIntervalMs: 60_000,
      feedFreshnessMs: 60_000,
    });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    const miss = service.resolver(key.keyId);
    expect(miss).toBeInstanceOf(Promise);
    const loaded = await miss;
    const hit = service.resolver(key.keyId);
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toBe(loaded);
    expect(hit).toBeDefined();
    // An unknown id is answered from the index of stored ids at once, like a cache hit (issue #11 7b).
    const unknown = service.resolver(generateKeyId());
    expect(unknown).not.toBeInstanceOf(Promise);
    expect(unknown).toBeUndefined();
    expect(service.resolver('not a key id')).toBeUndefined();
    await service.close();
    // Errors stay rejected promises, never synchronous throws.
    await expect(service.resolver(key.keyId)).rejects.toThrow(TypeError);
  });

  it('counts hits, negative hits and misses, and each one agrees with the store reads', async () => {
    const store = counting(makeStore());
    // Long poll interval: nothing but these lookups touches the cache during the test.
    const service = await createKeyService({
      store,
      masterKeys,
      pollIntervalMs: 60_000,
      maxStalenessMs: 120_000,
      feedFreshnessMs: 60_000,
    });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    const start = service.stats();
    expect(start).toMatchObject({ hits: 0, misses: 0, negativeHits: 0, staleBypasses: 0 });
    const readsBefore = store.reads;
    await service.resolver(key.keyId); // miss: loads and caches
    await service.resolver(key.keyId); // hit
    await service.resolver(key.keyId); // hit
    const unknown = generateKeyId();
    expect(await service.resolver(unknown)).toBeUndefined(); // not a stored id: negative hit, no store read
    expect(await service.resolver(unknown)).toBeUndefined(); // negative hit
    await service.resolver('not a key id'); // implausible ids never reach the cache or the store
    const stats = service.stats();
    expect(stats).toMatchObject({ hits: 2, misses: 1, negativeHits: 2, entries: 1, negativeEntries: 0 });
    expect(store.reads - readsBefore).toBe(stats.misses);
    await service.revokeKey(key.keyId);
    await service.resolver(key.keyId); // revocation dropped it: miss, then negative
    expect(service.stats()).toMatchObject({ hits: 2, misses: 2, entries: 0, negativeEntries: 1 });
    await service.close();
  });

  it('answers unknown key ids from memory, never from the store (issue #11 defect 7b)', async () => {
    const store = counting(makeStore());
    const service = await createKeyService({
      store,
      masterKeys,
      cache: { maxNegativeEntries: 2, negativeTtlMs: 60_000 },
    });
    // A flood of random ids costs no store read (it used to cost one each: a timing oracle on PostgreSQL).
    for (let index = 0; index < 50; index++) expect(await service.resolver(generateKeyId())).toBeUndefined();
    expect(store.reads).toBe(0);
    // Malformed ids never reach the store.
    expect(await service.resolver('x'.repeat(5000))).toBeUndefined();
    expect(store.reads).toBe(0);
    // A key created after a negative lookup is found at once (creation adds it to the index).
    const id = generateKeyId();
    expect(await service.resolver(id)).toBeUndefined();
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    expect(await service.resolver(key.keyId)).toBeDefined();
    await service.close();
  });

  it('learns keys created by another instance from the change feed, within feedFreshnessMs', async () => {
    const shared = makeStore();
    const here = await createKeyService({ store: shared, masterKeys, pollIntervalMs: 60_000, feedFreshnessMs: 50 });
    const there = await createKeyService({ store: shared, masterKeys, pollIntervalMs: 60_000, feedFreshnessMs: 50 });
    await here.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await here.createKey({ principal: 'svc' });
    // No bus, a feed polled once a minute: only the freshness check (any lookup, any id) reads the
    // feed, so the key is found well before the minute is up (the test's timeout bounds the wait).
    while ((await there.resolver(key.keyId)) === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(there.stats().misses).toBeGreaterThan(0);
    await here.close();
    await there.close();
  });

  it('bounds the positive cache (LRU) and expires entries after ttlMs', async () => {
    // The cache ages entries on performance.now(): stopped here and moved by hand, so that a slow
    // machine can neither expire entries during the LRU checks nor need a guessed sleep.
    // Whole milliseconds: with a fractional start, (t + 150) - t can come out just under 150.
    let monotonicNow = Math.ceil(performance.now());
    const clock = vi.spyOn(performance, 'now').mockImplementation(() => monotonicNow);
    onTestFinished(() => {
      clock.mockRestore();
    });
    const store = counting(makeStore());
    const service = await createKeyService({ store, masterKeys, cache: { maxEntries: 2, ttlMs: 150 } });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await service.createKey({ principal: 'svc' })).key.keyId);
    for (const id of ids) await service.resolver(id);
    expect(store.reads).toBe(3);
    await service.resolver(ids[2]!);
    await service.resolver(ids[1]!);
    expect(store.reads).toBe(3);
    await service.resolver(ids[0]!); // was evicted
    expect(store.reads).toBe(4);
    monotonicNow += 149;
    await service.resolver(ids[0]!); // still fresh
    expect(store.reads).toBe(4);
    monotonicNow += 1;
    await service.resolver(ids[0]!); // 150 ms old: expired
    expect(store.reads).toBe(5);
    await service.close();
  });

  it('publishes to and listens on a pluggable invalidation bus', async () => {
    const listeners = new Set<(keyId: string) => void>();
    const published: string[] = [];
    const bus: InvalidationBus = {
      publish(keyId) {
        published.push(keyId);
        for (const listener of listeners) listener(keyId);
      },
      subscribe(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const shared = makeStore();
    const here = await createKeyService({ store: shared, masterKeys, invalidationBus: bus });
    // The other instance polls the feed only once a minute: only the bus can tell it in time.
    const otherStore = counting(shared);
    const there = await createKeyService({
      store: otherStore,
      masterKeys,
      invalidationBus: bus,
      pollIntervalMs: 60_000,
      maxStalenessMs: 120_000,
    });
    await here.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await here.createKey({ principal: 'svc' });
    expect(await there.resolver(key.keyId)).toBeDefined();
    await here.revokeKey(key.keyId);
    expect(published).toContain(key.keyId);
    expect(await there.resolver(key.keyId)).toBeUndefined();
    await here.close();
    await there.close();
    expect(listeners.size).toBe(0);
  });
});

describe('authentication failure audit under load', () => {
  it('group-commits concurrent failures and bounds the backlog', async () => {
    const inner = sqliteStore();
    let appends = 0;
    const store: KeyStore = {
      ...inner,
      appendAudit(events) {
        appends++;
        return inner.appendAudit(events);
      },
    };
    const service = await createKeyService({ store, masterKeys });
    const keyId = generateKeyId();
    await Promise.all(
      Array.from({ length: 3000 }, (_, i) =>
        service.recordAuthFailure({ code: 'ERR_SIGNATURE_INVALID', keyId, source: `192.0.2.${i % 250}` }),
      ),
    );
    const entries = await service.queryAudit({ types: ['auth.failed'], keyId, limit: 1000 });
    expect(entries).toHaveLength(1000);
    let total = 0;
    let beforeId: number | undefined;
    for (;;) {
      const page = await service.queryAudit({ types: ['auth.failed'], limit: 1000, ...(beforeId ? { beforeId } : {}) });
      if (page.length === 0) break;
      total += page.length;
      beforeId = page[page.length - 1]!.id;
    }
    expect(total).toBe(3000);
    expect(appends).toBeLessThanOrEqual(10);

    // Past the backlog, failures are counted, not queued; the count is written with the next batch.
    await Promise.all(
      Array.from({ length: 10_500 }, () => service.recordAuthFailure({ code: 'ERR_SIGNATURE_INVALID' })),
    );
    const all: { code?: string; detail?: unknown }[] = [];
    beforeId = undefined;
    for (;;) {
      const page = await service.queryAudit({ types: ['auth.failed'], limit: 1000, ...(beforeId ? { beforeId } : {}) });
      if (page.length === 0) break;
      all.push(...page);
      beforeId = page[page.length - 1]!.id;
    }
    expect(all).toHaveLength(3000 + 10_000 + 1);
    expect(all.filter((e) => e.code === 'ERR_AUDIT_BACKLOG_FULL').map((e) => e.detail)).toEqual([{ dropped: 500 }]);
    await service.close();
  });

  it("keeps a failure's numeric detail (the server's summary of a blocked address), and only numbers and booleans", async () => {
    const service = await createKeyService({ store: sqliteStore(), masterKeys });
    await service.recordAuthFailure({
      code: 'ERR_TOO_MANY_FAILURES',
      source: '192.0.2.44',
      detail: { refused: 4999, intervalSeconds: 60, untrackedAddresses: true, text: 'x' as unknown as number },
    });
    const [entry] = await service.queryAudit({ types: ['auth.failed'], limit: 1 });
    expect(entry).toMatchObject({ code: 'ERR_TOO_MANY_FAILURES', source: '192.0.2.44' });
    expect(entry?.keyId).toBeUndefined();
    expect(entry?.detail).toEqual({ refused: 4999, intervalSeconds: 60, untrackedAddresses: true });
    await service.close();
  });
});
