/**
 * The change feed is read by sequence number, so on PostgreSQL sequence order must equal
 * commit order: a writer that committed later must never get a lower seq than one a poller
 * has already passed. Writers take a transaction-scoped advisory lock before appending.
 */
import { randomBytes } from 'node:crypto';
import { createKeyService, createMasterKeyRing, postgresKeyStore } from '@hmac-kit/keys';
import { expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres } from '../../../test-support/postgres.js';

describeWithPostgres('PostgreSQL change feed ordering', () => {
  it('a change waits for an earlier uncommitted change, so seq order is commit order', async () => {
    const schema = await createTestSchema();
    try {
      const pool = schema.pool();
      const store = postgresKeyStore({ pool, notifyChannel: `hk_${schema.schema}` });
      const service = await createKeyService({
        store,
        masterKeys: createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]),
      });
      await service.createPrincipal({ name: 'svc', kind: 'service' });
      const { key: first } = await service.createKey({ principal: 'svc' });
      const { key: second } = await service.createKey({ principal: 'svc' });
      const cursor = await store.latestChange();

      // Writer A: an open transaction that has appended a change (holding the feed lock).
      const a = await pool.connect();
      await a.query('begin');
      await a.query('select pg_advisory_xact_lock($1::bigint)', [0x686b6665]);
      await a.query(`insert into hk_key_change (key_id, at) values ($1, $2)`, [first.keyId, Date.now()]);

      // Writer B: a revocation started afterwards must not commit before A does.
      let revoked = false;
      const revocation = service.revokeKey(second.keyId).then(() => {
        revoked = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(revoked).toBe(false);
      expect((await store.changesSince(cursor, 10)).map((c) => c.keyId)).toEqual([]);

      await a.query('commit');
      a.release();
      await revocation;
      const changes = await store.changesSince(cursor, 10);
      expect(changes.map((c) => c.keyId)).toEqual([first.keyId, second.keyId]);
      await service.close();
    } finally {
      await schema.drop();
    }
  });
});
