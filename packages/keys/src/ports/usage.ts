/** The use of keys as stored (last-used times, per-scheme counts) and the port that writes and lists it. Times are epoch ms. */

/** Usage of one (key, scheme) pair as stored (times are epoch ms); `principal` is the key's, joined on read. */
export interface KeyUsageRow {
  keyId: string;
  principal: string;
  scheme: string;
  count: number;
  firstUsedAt: number;
  lastUsedAt: number;
}

/** Usage collected in memory since the last write, added to the stored pair by {@link KeyUsageStore.addKeyUsage}. */
export type KeyUsageDelta = Omit<KeyUsageRow, 'principal'>;

/** A store-level usage listing, by (key id, scheme) in byte order. */
export interface KeyUsageListQuery {
  principal?: string;
  keyId?: string;
  keyIds?: readonly string[];
  scheme?: string;
  /** Start after this pair. */
  after?: { keyId: string; scheme: string };
  /** At most this many rows; all when omitted. */
  limit?: number;
}

/** Use of keys: last-used times and per-scheme usage counts, written in batches. */
export interface KeyUsageStore {
  /** Records use of several keys at once (never moves `lastUsedAt` backwards); best effort. */
  touchKeys(keyIds: readonly string[], at: number): Promise<void>;
  /**
   * Adds usage atomically per pair (count summed, first use the earliest, last use the latest), so
   * instances writing the same pair at once lose nothing. Pairs of keys that do not exist are ignored.
   */
  addKeyUsage(deltas: readonly KeyUsageDelta[]): Promise<void>;
  /** Usage pairs of existing keys by (key id, scheme) in byte order, from `after` on, at most `limit`. */
  listKeyUsage(query?: KeyUsageListQuery): Promise<KeyUsageRow[]>;
}
