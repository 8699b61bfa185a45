/**
 * A database created before per-key scheme usage existed (migrations 0001-0002) gains the usage
 * table when a newer version opens it, keeping its keys; on SQLite and PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyService, type KeyStore, postgresKeyStore, sqliteKeyStore } from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres } from '../../../test-support/postgres.js';
import { testRing, testScrypt } from './conformance/key-store.js';

interface Backend {
  /** A store over the database (a new connection each time, as a restarted server opens it). */
  open(): KeyStore;
  /** Runs SQL on the database directly. */
  exec(statement: string): Promise<void>;
}

async function upgradesAnOlderDatabase(backend: Backend): Promise<void> {
  const ring = testRing();
  const before = await createKeyService({ store: backend.open(), masterKeys: ring, passwordHashing: testScrypt });
  await before.createPrincipal({ name: 'svc', kind: 'service' });
  const { key } = await before.createKey({ principal: 'svc' });
  await before.close();
  // Back to the schema of the release before the usage table.
  await backend.exec('drop table hk_key_usage');
  await backend.exec("delete from hk_migration where name = '0003_key_usage'");

  const store = backend.open();
  expect((await store.migrate()).applied).toEqual(['0003_key_usage']);
  const after = await createKeyService({ store, masterKeys: ring, passwordHashing: testScrypt });
  expect((await after.getKey(key.keyId))?.status).toBe('active');
  after.recordKeyUsage(key.keyId, 'x-api');
  await after.close();
  expect((await store.listKeyUsage()).map((u) => [u.keyId, u.scheme, u.count])).toEqual([[key.keyId, 'x-api', 1]]);
}

describe('key usage migration: SQLite', () => {
  it('adds the usage table to an existing database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-usage-'));
    const databases: Database.Database[] = [];
    const connect = () => {
      const database = new Database(join(dir, 'keys.db'));
      databases.push(database);
      return database;
    };
    try {
      await upgradesAnOlderDatabase({
        open: () => sqliteKeyStore({ database: connect() }),
        exec: async (statement) => {
          connect().exec(statement);
        },
      });
    } finally {
      for (const database of databases) database.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWithPostgres('key usage migration: PostgreSQL', () => {
  it('adds the usage table to an existing database', async () => {
    const schema = await createTestSchema();
    const stores: KeyStore[] = [];
    try {
      const admin = schema.pool();
      await upgradesAnOlderDatabase({
        open: () => {
          const store = postgresKeyStore({ pool: schema.pool(), notifyChannel: `hk_${schema.schema}` });
          stores.push(store);
          return store;
        },
        exec: async (statement) => {
          await admin.query(statement);
        },
      });
    } finally {
      for (const store of stores) await store.close();
      await schema.drop();
    }
  });
});
