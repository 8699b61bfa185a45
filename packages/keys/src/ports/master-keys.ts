/** The master key port: which master key encrypts each secret, re-encryption, and the check records of the ring. */

/** Progress of one re-encryption pass (see `rotateMasterKey`). */
export interface ReencryptCandidate {
  keyId: string;
  masterKeyId: string;
  secretCiphertext: string;
}

/** Master keys: which keys each one encrypts, re-encryption, and the check records that detect a wrong ring. */
export interface MasterKeyStore {
  /** Number of keys per master key id (for `rotateMasterKey` and the startup check). */
  countKeysByMasterKey(): Promise<Record<string, number>>;
  /** Up to `limit` keys not encrypted under `masterKeyId`, ordered by key id, after `afterKeyId`. */
  listKeysNotUnderMasterKey(
    masterKeyId: string,
    afterKeyId: string | null,
    limit: number,
  ): Promise<ReencryptCandidate[]>;
  /**
   * Compare-and-set of the ciphertext: only replaces when the row is still under
   * `expected.masterKeyId` with `expected.secretCiphertext`. Resolves whether it replaced.
   */
  replaceSecretCiphertext(
    keyId: string,
    expected: ReencryptCandidate,
    next: { masterKeyId: string; secretCiphertext: string },
  ): Promise<boolean>;
  /** Verification record per master key id (an AES-GCM ciphertext of a constant) so a wrong key is detected at startup. */
  getMasterKeyCheck(masterKeyId: string): Promise<string | undefined>;
  /** Inserts the check if none exists for this id; resolves the stored one (which may be another writer's). */
  putMasterKeyCheck(masterKeyId: string, check: string, at: number): Promise<string>;
}
