/** The change feed port that keeps every instance's key cache coherent (change-feed.ts follows it). */

/** A change to a key that caches elsewhere must learn about (revocation, rotation, disabled principal...). */
export interface KeyChange {
  seq: number;
  keyId: string;
}

/** The change feed that keeps every instance's key cache coherent. */
export interface KeyChangeFeed {
  /** Highest change sequence number so far (0 when none). */
  latestChange(): Promise<number>;
  /** Changes after `seq`, oldest first, at most `limit`. */
  changesSince(seq: number, limit: number): Promise<KeyChange[]>;
  /** Appends a change record without modifying a key (e.g. after an out-of-band edit). */
  appendChange(keyIds: readonly string[], at: number): Promise<void>;
  /** Deletes change records older than `olderThan`. */
  pruneChanges(olderThan: number): Promise<number>;

  /**
   * Optional: pushes changed key ids as they commit (PostgreSQL LISTEN/NOTIFY).
   * `onStatus(false)` reports the push channel broke (the service then trusts polling only).
   * Resolves an unsubscribe function.
   */
  watchChanges?(listener: (keyId: string) => void, onStatus?: (healthy: boolean) => void): Promise<() => Promise<void>>;
}
