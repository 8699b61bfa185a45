/**
 * Fail closed, recover by itself: the key service behind a TCP proxy to PostgreSQL
 * that the test cuts and heals, and a pool pointed at a port nobody listens on.
 */
import { randomBytes } from 'node:crypto';
import { StoreUnavailable } from '@hmac-kit/core';
import {
  createKeyService,
  createMasterKeyRing,
  generateKeyId,
  type KeyService,
  postgresKeyStore,
} from '@hmac-kit/keys';
import pg from 'pg';
import { expect, it } from 'vitest';
import { refusedPort } from '../../../test-support/ports.js';
import {
  createTestSchema,
  describeWithPostgres,
  proxiedUrl,
  startPostgresProxy,
} from '../../../test-support/postgres.js';

async function eventually<T>(attempt: () => Promise<T | undefined>, withinMs: number): Promise<T> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() - started > withinMs)
      throw new Error(`not reached within ${withinMs} ms (last error: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeWithPostgres('PostgreSQL outage', () => {
  it('a pool pointed at a closed port surfaces StoreUnavailable, with the driver error as cause', async () => {
    const pool = new pg.Pool({
      host: '127.0.0.1',
      port: await refusedPort(),
      user: 'postgres',
      database: 'test',
      connectionTimeoutMillis: 1000,
    });
    pool.on('error', () => undefined);
    const store = postgresKeyStore({ pool, listen: false });
    const error = await store.resolveKey(generateKeyId()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailable);
    expect((error as StoreUnavailable).code).toBe('ERR_STORE_UNAVAILABLE');
    expect((error as StoreUnavailable).message).toContain('ECONNREFUSED');
    await expect(
      createKeyService({ store, masterKeys: createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]) }),
    ).rejects.toBeInstanceOf(StoreUnavailable);
    await pool.end();
  });

  it('resolver fails closed while the database is cut off and recovers by itself', async () => {
    const schema = await createTestSchema();
    const proxy = await startPostgresProxy();
    let service: KeyService | undefined;
    let direct: KeyService | undefined;
    try {
      const pool = schema.pool({ connectionString: proxiedUrl(proxy.port), connectionTimeoutMillis: 1000 });
      const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);
      const live = await createKeyService({
        store: postgresKeyStore({ pool, notifyChannel: `hk_${schema.schema}` }),
        masterKeys,
        pollIntervalMs: 100,
        maxStalenessMs: 500,
      });
      service = live;
      await live.createPrincipal({ name: 'svc', kind: 'service' });
      const { key } = await live.createKey({ principal: 'svc' });
      expect(await live.resolver(key.keyId)).toBeDefined();

      proxy.cut();
      // Unknown ids are answered from the index of stored ids (no store read, issue #11 7b) while the
      // feed is fresh; once it has been unreadable for maxStalenessMs they fail closed like the rest.
      const refusedUnknown = await eventually(
        async () =>
          Promise.resolve(live.resolver(generateKeyId())).then(
            () => undefined,
            (error: unknown) => error,
          ),
        5000,
      );
      expect(refusedUnknown).toBeInstanceOf(StoreUnavailable);
      // Cached keys stop being trusted once the change feed has been unreadable for maxStalenessMs.
      const refused = await eventually(
        async () =>
          Promise.resolve(live.resolver(key.keyId)).then(
            () => undefined,
            (error: unknown) => error,
          ),
        5000,
      );
      expect(refused).toBeInstanceOf(StoreUnavailable);

      // Meanwhile another instance (direct connection) revokes one key: its NOTIFY never reaches us.
      const { key: doomed } = await live.createKey({ principal: 'svc' }).catch(() => ({ key: undefined }));
      expect(doomed).toBeUndefined(); // writes fail too while cut off
      const peer = await createKeyService({
        store: postgresKeyStore({ pool: schema.pool(), notifyChannel: `hk_${schema.schema}` }),
        masterKeys,
      });
      direct = peer;
      const { key: other } = await peer.createKey({ principal: 'svc' });
      proxy.heal();
      expect(await eventually(async () => live.resolver(other.keyId), 10_000)).toBeDefined();
      proxy.cut();
      await peer.revokeKey(other.keyId);
      // Staleness is bounded: once maxStalenessMs has passed without reading the feed, the
      // revoked-but-cached key is refused (fail closed), never accepted. That moment is waited for,
      // not assumed after a fixed time: an unknown id fails closed only once the feed is stale.
      const staleUnknown = await eventually(
        async () =>
          Promise.resolve(live.resolver(generateKeyId())).then(
            () => undefined,
            (error: unknown) => error,
          ),
        5000,
      );
      expect(staleUnknown).toBeInstanceOf(StoreUnavailable);
      await expect(live.resolver(other.keyId)).rejects.toBeInstanceOf(StoreUnavailable);

      proxy.heal();
      const back = await eventually(async () => live.resolver(key.keyId), 10_000);
      expect(back.keyId).toBe(key.keyId);
      // The revocation made during the outage is caught up from the change feed, not missed.
      expect(await live.resolver(other.keyId)).toBeUndefined();
      // And revocations after recovery are seen at once.
      await peer.revokeKey(key.keyId);
      await eventually(async () => ((await live.resolver(key.keyId)) === undefined ? true : undefined), 30_000);
    } finally {
      // Close the services first: a pool cannot end while their LISTEN clients are checked out.
      proxy.heal();
      await direct?.close();
      await service?.close();
      await proxy.close();
      await schema.drop();
    }
  });
});
