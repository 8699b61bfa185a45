/**
 * The startup check of a master key ring against the store's check records: a wrong key file is
 * refused before anything is decrypted or written (see master-keys.ts for the records themselves).
 */
import { MasterKeyUnknown } from './errors.js';
import { type MasterKeyRing, masterKeyCheck, verifyMasterKeyCheck } from './master-keys.js';
import type { MasterKeyStore } from './ports/master-keys.js';

/**
 * Checks the ring against the store: each master key id that has a verification record
 * must decrypt it (else `MasterKeyMismatch`), ids without one get one, and no stored
 * secret may use an id missing from the ring (else `MasterKeyUnknown`).
 *
 * @example
 * ```ts
 * await verifyMasterKeyRing(store, ring); // throws MasterKeyMismatch for a wrong key
 * ```
 */
export async function verifyMasterKeyRing(
  store: MasterKeyStore,
  ring: MasterKeyRing,
  now: number = Date.now(),
): Promise<void> {
  // Everything that can refuse the ring is checked before a new key's check row is written: a
  // refused ring (a wrong key file) must leave nothing behind in the database.
  const counts = await store.countKeysByMasterKey();
  for (const [id, count] of Object.entries(counts)) {
    if (count > 0 && !ring.has(id)) {
      throw new MasterKeyUnknown(
        `${count} stored secret(s) are encrypted under master key "${id}", which is not in the configured key ring`,
        id,
      );
    }
  }
  const checks: Array<[id: string, check: string | undefined]> = [];
  for (const id of ring.ids) {
    const existing = await store.getMasterKeyCheck(id);
    if (existing !== undefined) verifyMasterKeyCheck(ring, id, existing);
    checks.push([id, existing]);
  }
  for (const [id, existing] of checks) {
    if (existing === undefined)
      verifyMasterKeyCheck(ring, id, await store.putMasterKeyCheck(id, masterKeyCheck(ring, id), now));
  }
}
