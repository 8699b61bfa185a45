/**
 * Bulk seeding for benchmarks and imports: many principals and keys in large batched
 * transactions, bypassing the per-key transaction and the active-key limit.
 */
import type { HashAlgorithm } from '@hmac-kit/core';
import { generateKeyId, generateSecretBytes } from './ids.js';
import { encryptSecret, type MasterKeyRing } from './master-keys.js';
import type { KeyRow, KeyRowStore } from './ports/keys.js';
import type { PrincipalRow } from './ports/principals.js';

/** Options of {@link seedKeys}. */
export interface SeedKeysOptions {
  store: Pick<KeyRowStore, 'importRows'>;
  masterKeys: MasterKeyRing;
  /** Number of keys to create. */
  count: number;
  /** Keys per principal (principals are named `${principalPrefix}-<n>`). Default 10. */
  keysPerPrincipal?: number;
  principalPrefix?: string;
  /** Rows per transaction. Default 5000. */
  batchSize?: number;
  algorithm?: HashAlgorithm;
  scopes?: string[];
  /** Called after each batch with the number of keys written so far. */
  onProgress?: (written: number) => void;
}

/**
 * Inserts `count` keys quickly and returns their ids and raw secrets (for signing in benchmarks).
 * Needs a store with `importRows` (all built-in stores have it).
 *
 * @example
 * ```ts
 * const keys = await seedKeys({ store, masterKeys: ring, count: 100_000 });
 * const key = await service.resolver(keys[0].keyId);
 * ```
 */
export async function seedKeys(options: SeedKeysOptions): Promise<{ keyId: string; secret: Uint8Array }[]> {
  const { store, masterKeys, count } = options;
  if (!store.importRows) throw new TypeError('seedKeys: this store cannot import rows');
  if (!Number.isInteger(count) || count < 0) throw new TypeError('count must be a non-negative integer');
  const perPrincipal = options.keysPerPrincipal ?? 10;
  const batchSize = options.batchSize ?? 5000;
  const prefix = options.principalPrefix ?? 'seed';
  const now = Date.now();
  const out: { keyId: string; secret: Uint8Array }[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const principals: PrincipalRow[] = [];
    const keys: KeyRow[] = [];
    for (let i = start; i < Math.min(count, start + batchSize); i++) {
      const principal = `${prefix}-${Math.floor(i / perPrincipal)}`;
      if (i % perPrincipal === 0 || i === start) {
        principals.push({
          name: principal,
          kind: 'service',
          disabled: false,
          passwordHash: null,
          createdAt: now,
          disabledAt: null,
        });
      }
      const keyId = generateKeyId();
      const secret = generateSecretBytes();
      const { masterKeyId, ciphertext } = encryptSecret(masterKeys, keyId, secret);
      keys.push({
        keyId,
        principal,
        algorithm: options.algorithm ?? 'sha256',
        scopes: options.scopes ?? [],
        label: null,
        createdAt: now,
        expiresAt: null,
        lastUsedAt: null,
        revokedAt: null,
        revokedReason: null,
        rateLimit: null,
        rotatedFrom: null,
        masterKeyId,
        secretCiphertext: ciphertext,
      });
      out.push({ keyId, secret });
    }
    await store.importRows(principals, keys);
    options.onProgress?.(out.length);
  }
  return out;
}
