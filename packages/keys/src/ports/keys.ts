/**
 * The key rows (metadata plus the secret encrypted under a master key: a store never sees a
 * plaintext secret) and the store port that inserts, resolves, lists and revokes them. Times are epoch ms.
 */
import type { KeyAlgorithm, KeyFilter, KeyRateLimit } from '../model.js';
import type { PrincipalRow } from './principals.js';

/** A key row: metadata plus the secret encrypted under a master key. */
export interface KeyRow {
  keyId: string;
  principal: string;
  algorithm: KeyAlgorithm;
  scopes: string[];
  label: string | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  revokedReason: string | null;
  rateLimit: KeyRateLimit | null;
  rotatedFrom: string | null;
  /** Id of the master key the secret is encrypted under. */
  masterKeyId: string;
  /** base64url(iv || ciphertext || tag), AES-256-GCM, associated data binds keyId and masterKeyId. */
  secretCiphertext: string;
}

/** A key row joined with its principal's `disabled` flag: what the hot path reads. */
export interface ResolvedKeyRow extends KeyRow {
  principalDisabled: boolean;
}

/** Where a store-level key listing resumes: the last key of the previous page (exclusive). */
export interface KeyPosition {
  createdAt: number;
  keyId: string;
}

/** A store-level key listing: {@link KeyFilter} plus keyset position, size and direction. */
export interface KeyListQuery extends KeyFilter {
  /** Start after this key (in the listing order). */
  after?: KeyPosition;
  /** At most this many rows; all when omitted (internal callers with small, bounded sets). */
  limit?: number;
  /** Newest first instead of oldest first. */
  newestFirst?: boolean;
}

/** Options of {@link KeyRowStore.insertKey}. */
export interface InsertKeyOptions {
  /** Reject with `KeyLimitExceeded` when the principal already has this many active keys. */
  maxActiveKeys: number;
  /** "Now" for deciding which keys are active. */
  now: number;
  /**
   * Rotation: in the same transaction, set this key's `expiresAt` to
   * `min(its expiresAt, expiresAt)`, and do not count it against the limit.
   * Fails with `KeyNotActive` when it is no longer active, `KeyNotFound` when missing.
   */
  replaces?: { keyId: string; expiresAt: number };
}

/** Key rows: insert (with the per-principal limit), read, the hot-path resolve, list, revoke, bulk import. */
export interface KeyRowStore {
  /**
   * Inserts a key atomically with the active-key limit check (SQLite: `BEGIN IMMEDIATE`;
   * PostgreSQL: `SELECT ... FOR UPDATE` on the principal row). Throws `PrincipalNotFound`,
   * `PrincipalDisabled`, `KeyLimitExceeded`; with `replaces`, also `KeyNotFound`/`KeyNotActive`.
   * Appends a change for the new key (and the replaced one).
   */
  insertKey(row: KeyRow, options: InsertKeyOptions): Promise<void>;
  getKey(keyId: string): Promise<KeyRow | undefined>;
  /** The hot-path read: the key and whether its principal is disabled. */
  resolveKey(keyId: string): Promise<ResolvedKeyRow | undefined>;
  /**
   * Keys ordered by (`createdAt`, `keyId` in byte order), oldest first unless `newestFirst`, from
   * `after` on, at most `limit`. Keyset pagination served by an index: a page reads about `limit`
   * rows however deep it is (never OFFSET).
   */
  listKeys(query?: KeyListQuery): Promise<KeyRow[]>;
  /** Revokes (idempotent: an already revoked key keeps its first revocation); `undefined` when missing. Appends a change. */
  revokeKey(keyId: string, at: number, reason: string | null): Promise<KeyRow | undefined>;
  /**
   * Optional: inserts principals (skipping existing names) and keys in large batched
   * transactions without the active-key limit. For imports and benchmark seeding only.
   */
  importRows?(principals: readonly PrincipalRow[], keys: readonly KeyRow[]): Promise<void>;
}
