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
      // Named, so that the test can see its own sessions wait (pg_stat_activity) among other runs'.
      const pool = schema.pool({ application_name: schema.schema });
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

      const writerA = ((await a.query('select pg_backend_pid() as pid')).rows[0] as { pid: number }).pid;

      // Writer B: a revocation started afterwards must not commit before A does.
      let revoked = false;
      const revocation = service.revokeKey(second.keyId).then(() => {
        revoked = true;
      });
      // Waited for, not assumed after a fixed time: B is seen blocked behind A (or, wrongly, done).
      const blockedBehindA = async () =>
        (
          await pool.query(
            'select count(*)::int as n from pg_stat_activity where application_name = $1 and $2 = any(pg_blocking_pids(pid))',
            [schema.schema, writerA],
          )
        ).rows[0].n > 0;
      while (!revoked && !(await blockedBehindA())) await new Promise((resolve) => setTimeout(resolve, 10));
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
