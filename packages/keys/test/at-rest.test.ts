/**
 * Secrets must never reach the database in plaintext: not in the SQLite file, not in its
 * WAL, not in any PostgreSQL table, in any encoding a secret is commonly written in.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyService, createMasterKeyRing, parseSecret, postgresKeyStore, sqliteKeyStore } from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres } from '../../../test-support/postgres.js';
import { testScrypt } from './conformance/key-store.js';

/** Every form of a secret worth searching for. */
function forms(secret: string): Buffer[] {
  const raw = Buffer.from(parseSecret(secret));
  return [
    raw,
    Buffer.from(secret),
    Buffer.from(secret.slice(4)),
    Buffer.from(raw.toString('base64')),
    Buffer.from(raw.toString('base64url')),
    Buffer.from(raw.toString('hex')),
    // UTF-16 as some tools store text.
    Buffer.from(secret.slice(4), 'utf16le'),
  ];
}

describe('SQLite at rest', () => {
  it('neither the database file nor the WAL contains a created secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-at-rest-'));
    try {
      const path = join(dir, 'keys.db');
      const database = new Database(path);
      const masterKey = randomBytes(32);
      const service = await createKeyService({
        store: sqliteKeyStore({ database }),
        masterKeys: createMasterKeyRing([{ id: 'mk', key: masterKey }]),
        passwordHashing: testScrypt,
      });
      await service.createPrincipal({ name: 'svc', kind: 'service', password: 'pw-not-stored-in-clear' });
      const secrets: string[] = [];
      for (let i = 0; i < 5; i++) secrets.push((await service.createKey({ principal: 'svc', scopes: ['x'] })).secret);
      const rotated = await service.rotateKey((await service.listKeys({ principal: 'svc' })).items[0]!.keyId, {
        overlapSeconds: 60,
      });
      secrets.push(rotated.secret);
      await service.recordAuthFailure({ code: 'ERR_SIGNATURE_INVALID', keyId: rotated.key.keyId, source: '192.0.2.1' });
      for (const key of (await service.listKeys()).items) expect(await service.resolver(key.keyId)).toBeDefined();
      // Inspect while open (data still in the WAL) ...
      expect(existsSync(`${path}-wal`)).toBe(true);
      const check = () => {
        const files = [path, `${path}-wal`, `${path}-shm`].filter(existsSync).map((file) => readFileSync(file));
        expect(files.reduce((sum, file) => sum + file.length, 0)).toBeGreaterThan(0);
        for (const file of files) {
          expect(file.includes(Buffer.from('pw-not-stored-in-clear'))).toBe(false);
          for (const form of [
            masterKey,
            Buffer.from(masterKey.toString('base64')),
            Buffer.from(masterKey.toString('hex')),
          ]) {
            expect(file.includes(form)).toBe(false);
          }
          for (const secret of secrets) for (const form of forms(secret)) expect(file.includes(form)).toBe(false);
        }
      };
      check();
      // ... and after a checkpoint moved it into the main file.
      await service.close();
      database.pragma('wal_checkpoint(TRUNCATE)');
      database.close();
      check();
      // The key ids themselves are stored (they are public): the search does look at real content.
      expect(readFileSync(path).includes(Buffer.from(rotated.key.keyId))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWithPostgres('PostgreSQL at rest', () => {
  it('no table contains a created secret', async () => {
    const schema = await createTestSchema();
    try {
      const pool = schema.pool();
      const service = await createKeyService({
        store: postgresKeyStore({ pool, notifyChannel: `hk_${schema.schema}` }),
        masterKeys: createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]),
        passwordHashing: testScrypt,
      });
      await service.createPrincipal({ name: 'svc', kind: 'service', password: 'pw-not-stored-in-clear' });
      const secrets: string[] = [];
      let last = '';
      for (let i = 0; i < 5; i++) {
        const issued = await service.createKey({ principal: 'svc' });
        secrets.push(issued.secret);
        last = issued.key.keyId;
      }
      secrets.push((await service.rotateKey(last, { overlapSeconds: 60 })).secret);
      await service.revokeKey(last, { reason: 'test' });
      await service.close();
      const tables = await pool.query<{ table_name: string }>(
        'select table_name from information_schema.tables where table_schema = $1 order by table_name',
        [schema.schema],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(['hk_audit', 'hk_key', 'hk_key_change', 'hk_master_key_check', 'hk_principal']),
      );
      let dump = '';
      for (const { table_name } of tables.rows) {
        // Whole rows as text cover every column type we use (text, bigint, integer).
        const rows = await pool.query<{ row: string }>(`select t::text as row from "${table_name}" t`);
        dump += rows.rows.map((r) => r.row).join('\n');
      }
      expect(dump).toContain(last); // key ids are public and present
      expect(dump).not.toContain('pw-not-stored-in-clear');
      const dumpBytes = Buffer.from(dump);
      for (const secret of secrets) for (const form of forms(secret)) expect(dumpBytes.includes(form)).toBe(false);
    } finally {
      await schema.drop();
    }
  });
});
