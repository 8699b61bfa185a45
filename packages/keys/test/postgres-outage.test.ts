/**
 * Fail closed, recover by itself: the key service behind a TCP proxy to PostgreSQL
 * that the test cuts and heals, and a pool pointed at a port nobody listens on.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { StoreUnavailable } from '@hmac-kit/core';
import { createKeyService, createMasterKeyRing, generateKeyId, postgresKeyStore } from '@hmac-kit/keys';
import pg from 'pg';
import { expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres, proxiedUrl, startPostgresProxy } from './support/postgres.js';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

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
      port: await closedPort(),
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
    try {
      const pool = schema.pool({ connectionString: proxiedUrl(proxy.port), connectionTimeoutMillis: 1000 });
      const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);
      const service = await createKeyService({
        store: postgresKeyStore({ pool, notifyChannel: `hk_${schema.schema}` }),
        masterKeys,
        pollIntervalMs: 100,
        maxStalenessMs: 500,
      });
      await service.createPrincipal({ name: 'svc', kind: 'service' });
      const { key } = await service.createKey({ principal: 'svc' });
      expect(await service.resolver(key.keyId)).toBeDefined();

      proxy.cut();
      await expect(service.resolver(generateKeyId())).rejects.toBeInstanceOf(StoreUnavailable);
      // Cached keys stop being trusted once the change feed has been unreadable for maxStalenessMs.
      const refused = await eventually(
        async () =>
          Promise.resolve(service.resolver(key.keyId)).then(
            () => undefined,
            (error: unknown) => error,
          ),
        5000,
      );
      expect(refused).toBeInstanceOf(StoreUnavailable);

      // Meanwhile another instance (direct connection) revokes one key: its NOTIFY never reaches us.
      const { key: doomed } = await service.createKey({ principal: 'svc' }).catch(() => ({ key: undefined }));
      expect(doomed).toBeUndefined(); // writes fail too while cut off
      const direct = await createKeyService({
        store: postgresKeyStore({ pool: schema.pool(), notifyChannel: `hk_${schema.schema}` }),
        masterKeys,
      });
      const { key: other } = await direct.createKey({ principal: 'svc' });
      proxy.heal();
      expect(await eventually(async () => service.resolver(other.keyId), 10_000)).toBeDefined();
      proxy.cut();
      await direct.revokeKey(other.keyId);
      await new Promise((resolve) => setTimeout(resolve, 300));

      proxy.heal();
      const back = await eventually(async () => service.resolver(key.keyId), 10_000);
      expect(back.keyId).toBe(key.keyId);
      // The revocation made during the outage is caught up from the change feed, not missed.
      expect(await service.resolver(other.keyId)).toBeUndefined();
      // And revocations after recovery are seen at once.
      await direct.revokeKey(key.keyId);
      await eventually(async () => ((await service.resolver(key.keyId)) === undefined ? true : undefined), 1000);
      await direct.close();
      await service.close();
    } finally {
      await proxy.close();
      await schema.drop();
    }
  }, 60_000);
});
