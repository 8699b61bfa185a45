/**
 * Re-encrypts every stored secret under the ring's newest master key. Online: each row
 * is replaced with a compare-and-set, so the service keeps serving (it can decrypt with
 * any key in the ring) and concurrent writers are never overwritten. Resumable and
 * idempotent: rows already under the newest key are never selected again.
 */

import { verifyMasterKeyRing } from './master-key-check.js';
import { decryptSecret, encryptSecret, type MasterKeyRing } from './master-keys.js';
import type { AuditStore } from './ports/audit.js';
import type { MasterKeyStore } from './ports/master-keys.js';

/** Progress of {@link rotateMasterKey}. */
export interface MasterKeyRotationProgress {
  /** The key everything is being moved to (the ring's newest). */
  targetMasterKeyId: string;
  /** Keys not under the target when this run started. */
  total: number;
  /** Re-encrypted by this run so far. */
  reencrypted: number;
  /** Changed concurrently (e.g. by another rotation run) and left alone. */
  skipped: number;
  done: boolean;
}

/** Options of {@link rotateMasterKey}. */
export interface RotateMasterKeyOptions {
  /** Rows per batch. Default 500. */
  batchSize?: number;
  /** Called after each batch (and at the end). Throwing stops the run; run again to resume. */
  onProgress?: (progress: MasterKeyRotationProgress) => void | Promise<void>;
  /** Stops between batches; run again to resume. */
  signal?: AbortSignal;
  /** Recorded in the audit trail. */
  actor?: string;
}

/**
 * Moves every secret to the newest master key of `ring`.
 *
 * @example
 * ```ts
 * const { ring } = await addMasterKeyToFile(keyFile);
 * await rotateMasterKey(store, ring, { onProgress: (p) => console.error(`${p.reencrypted}/${p.total}`) });
 * ```
 */
export async function rotateMasterKey(
  store: MasterKeyStore & Pick<AuditStore, 'appendAudit'>,
  ring: MasterKeyRing,
  options: RotateMasterKeyOptions = {},
): Promise<MasterKeyRotationProgress> {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TypeError('batchSize must be a positive integer');
  // Refuse to write anything if the ring disagrees with the database (wrong key, missing key).
  await verifyMasterKeyRing(store, ring);
  const target = ring.currentId;
  const counts = await store.countKeysByMasterKey();
  const progress: MasterKeyRotationProgress = {
    targetMasterKeyId: target,
    total: Object.entries(counts).reduce((sum, [id, count]) => (id === target ? sum : sum + count), 0),
    reencrypted: 0,
    skipped: 0,
    done: false,
  };
  let after: string | null = null;
  for (;;) {
    options.signal?.throwIfAborted();
    const batch = await store.listKeysNotUnderMasterKey(target, after, batchSize);
    if (batch.length === 0) break;
    for (const candidate of batch) {
      const secret = decryptSecret(ring, candidate.keyId, candidate.masterKeyId, candidate.secretCiphertext);
      const next = encryptSecret(ring, candidate.keyId, secret);
      secret.fill(0);
      const replaced = await store.replaceSecretCiphertext(candidate.keyId, candidate, {
        masterKeyId: next.masterKeyId,
        secretCiphertext: next.ciphertext,
      });
      if (replaced) progress.reencrypted++;
      else progress.skipped++;
    }
    after = batch[batch.length - 1]!.keyId;
    await options.onProgress?.({ ...progress });
  }
  progress.done = true;
  await store.appendAudit([
    {
      type: 'master_key.rotated',
      at: new Date(),
      ...(options.actor ? { actor: options.actor } : {}),
      detail: { targetMasterKeyId: target, reencrypted: progress.reencrypted, skipped: progress.skipped },
    },
  ]);
  await options.onProgress?.({ ...progress });
  return progress;
}
