import { randomBytes } from 'node:crypto';
import { createKeyService, createMasterKeyRing, memoryKeyStore } from '@hmac-kit/keys';
import { describe, expect, it } from 'vitest';

const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);

// The key service marks last use for proven requests only (resolver.proven, recordKeyUsage), never
// at lookup; the pipeline side is tested in packages/middleware/test/last-used.test.ts.
describe('key service: last use', () => {
  it('recordKeyUsage marks it too (the server’s path, forward-auth included); a lookup does not', async () => {
    const store = memoryKeyStore();
    let now = 1_000_000;
    const service = await createKeyService({ store, masterKeys, clock: () => now });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const looked = await service.createKey({ principal: 'svc' });
    const recorded = await service.createKey({ principal: 'svc' });
    await service.resolver(looked.key.keyId);
    await service.resolver(recorded.key.keyId);
    now += 5;
    service.recordKeyUsage(recorded.key.keyId, 'rfc9421');
    expect(() => service.recordKeyUsage(looked.key.keyId, 'bad scheme')).toThrow(TypeError);
    await service.close();
    expect((await store.getKey(looked.key.keyId))?.lastUsedAt).toBeNull();
    expect((await store.getKey(recorded.key.keyId))?.lastUsedAt).toBe(1_000_005);
  });

  it('writes once per interval per key even without a key cache', async () => {
    const store = memoryKeyStore();
    const writes: (readonly string[])[] = [];
    let now = 1_000_000;
    const service = await createKeyService({
      store: {
        ...store,
        touchKeys: (keyIds, at) => {
          writes.push(keyIds);
          return store.touchKeys(keyIds, at);
        },
      },
      masterKeys,
      clock: () => now,
      cache: { maxEntries: 0 },
    });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const { key } = await service.createKey({ principal: 'svc' });
    const resolved = await service.resolver(key.keyId);
    const proven = { scheme: 'rfc9421', keyId: key.keyId, key: resolved!, coveredComponents: [] };
    for (let use = 0; use < 5; use++) {
      now += 1_000;
      await service.resolver(key.keyId); // read from the store every time (no cache)
      service.resolver.proven?.(proven);
    }
    await service.close();
    expect(writes).toEqual([[key.keyId]]); // one write for five proven uses within the interval
    expect((await store.getKey(key.keyId))?.lastUsedAt).toBe(now); // the batch is written at the clock's time
  });
});
