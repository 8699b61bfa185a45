import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeyService,
  createMasterKeyRing,
  type KeyStore,
  type MasterKeyRotationProgress,
  memoryKeyStore,
  parseSecret,
  postgresKeyStore,
  rotateMasterKey,
  sqliteKeyStore,
} from '@hmac-kit/keys';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createTestSchema, describeWithPostgres } from '../../../test-support/postgres.js';

type Backend = { store: KeyStore; cleanup(): Promise<void> };

function rotationSuite(
  name: string,
  open: () => Promise<Backend>,
  describeFn: (name: string, body: () => void) => void = describe,
) {
  describeFn(`rotateMasterKey on ${name}`, () => {
    it('re-encrypts online, stops midway, resumes idempotently, reports progress', async () => {
      const { store, cleanup } = await open();
      try {
        const k1 = { id: 'mk-1', key: randomBytes(32) };
        const k2 = { id: 'mk-2', key: randomBytes(32) };
        const before = createMasterKeyRing([k1]);
        const service = await createKeyService({ store, masterKeys: before });
        const issued = new Map<string, string>();
        for (let p = 0; p < 5; p++) {
          await service.createPrincipal({ name: `svc-${p}`, kind: 'service' });
          for (let i = 0; i < 5; i++) {
            const { key, secret } = await service.createKey({ principal: `svc-${p}` });
            issued.set(key.keyId, secret);
          }
        }
        await service.close();

        const during = createMasterKeyRing([k1, k2]);
        // The serving instance runs with the two-key ring throughout.
        const serving = await createKeyService({ store, masterKeys: during });
        const seen: MasterKeyRotationProgress[] = [];
        const interrupted = await rotateMasterKey(store, during, {
          batchSize: 4,
          onProgress(progress) {
            seen.push(progress);
            if (seen.length === 3) throw new Error('operator pressed ctrl-c');
          },
        }).catch((e: unknown) => e);
        expect((interrupted as Error).message).toBe('operator pressed ctrl-c');
        expect(seen.map((p) => p.reencrypted)).toEqual([4, 8, 12]);
        expect(seen.every((p) => p.total === 25 && p.targetMasterKeyId === 'mk-2' && !p.done)).toBe(true);
        expect(await store.countKeysByMasterKey()).toEqual({ 'mk-1': 13, 'mk-2': 12 });
        // Mixed state: every key still resolves to its original secret.
        for (const [keyId, secret] of issued) {
          expect(Buffer.from((await serving.resolver(keyId))!.secret).equals(Buffer.from(parseSecret(secret)))).toBe(
            true,
          );
        }
        // A key created mid-rotation is already under the newest master key.
        const { key: fresh, secret: freshSecret } = await serving.createKey({ principal: 'svc-0' });
        issued.set(fresh.keyId, freshSecret);
        expect((await store.getKey(fresh.keyId))?.masterKeyId).toBe('mk-2');

        const resumed: MasterKeyRotationProgress[] = [];
        const result = await rotateMasterKey(store, during, { batchSize: 4, onProgress: (p) => void resumed.push(p) });
        expect(result).toMatchObject({ total: 13, reencrypted: 13, skipped: 0, done: true });
        expect(resumed.at(-1)?.done).toBe(true);
        expect(await store.countKeysByMasterKey()).toEqual({ 'mk-2': 26 });
        expect(await rotateMasterKey(store, during)).toMatchObject({ total: 0, reencrypted: 0, done: true });
        expect((await store.queryAudit({ types: ['master_key.rotated'] })).length).toBe(2);
        await serving.close();

        // The old key can now be dropped from the ring.
        const after = createMasterKeyRing([k2]);
        const later = await createKeyService({ store, masterKeys: after });
        for (const [keyId, secret] of issued) {
          expect(Buffer.from((await later.resolver(keyId))!.secret).equals(Buffer.from(parseSecret(secret)))).toBe(
            true,
          );
        }
        await later.close();
        // Before the rotation, dropping it would have been refused at startup.
        await expect(
          rotateMasterKey(store, createMasterKeyRing([{ id: 'mk-2', key: randomBytes(32) }])),
        ).rejects.toMatchObject({
          code: 'ERR_MASTER_KEY_MISMATCH',
        });
      } finally {
        await cleanup();
      }
    });
  });
}

rotationSuite('memory', async () => ({ store: memoryKeyStore(), cleanup: async () => undefined }));

rotationSuite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hmac-kit-rot-'));
  const database = new Database(join(dir, 'keys.db'));
  return {
    store: sqliteKeyStore({ database }),
    cleanup: async () => {
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

rotationSuite(
  'postgresql',
  async () => {
    const schema = await createTestSchema();
    const store = postgresKeyStore({ pool: schema.pool(), notifyChannel: `hk_${schema.schema}` });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await schema.drop();
      },
    };
  },
  describeWithPostgres,
);
