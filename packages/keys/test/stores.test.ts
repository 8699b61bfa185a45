import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryKeyStore, postgresKeyStore, sqliteKeyStore } from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import { createTestSchema, describeWithPostgres } from '../../../test-support/postgres.js';
import { describeKeyStoreConformance } from './conformance/key-store.js';

describeKeyStoreConformance('memory', async () => {
  const store = memoryKeyStore();
  return { store, openAnother: async () => store, cleanup: async () => store.close() };
});

describeKeyStoreConformance('sqlite (temp file, WAL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-keys-'));
  const databases: Database.Database[] = [];
  const open = () => {
    const database = new Database(join(dir, 'keys.db'));
    databases.push(database);
    return sqliteKeyStore({ database });
  };
  const store = open();
  return {
    store,
    openAnother: async () => open(),
    concurrentConnectionsInProcess: false,
    cleanup: async () => {
      for (const database of databases) database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describeKeyStoreConformance(
  'postgresql (private schema)',
  async () => {
    const schema = await createTestSchema();
    const channel = `hk_${schema.schema}`;
    const stores = [postgresKeyStore({ pool: schema.pool(), notifyChannel: channel })];
    return {
      store: stores[0]!,
      openAnother: async () => {
        const store = postgresKeyStore({ pool: schema.pool(), notifyChannel: channel });
        stores.push(store);
        return store;
      },
      cleanup: async () => {
        for (const store of stores) await store.close();
        await schema.drop();
      },
    };
  },
  { describe: describeWithPostgres },
);
