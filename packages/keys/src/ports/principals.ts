/** The principal rows and the store port that inserts, reads, lists and updates them. Times are epoch ms. */
import type { PrincipalKind } from '../model.js';

/** A principal row. */
export interface PrincipalRow {
  name: string;
  kind: PrincipalKind;
  disabled: boolean;
  /** `scrypt$...` string (see password.ts), or null. */
  passwordHash: string | null;
  createdAt: number;
  disabledAt: number | null;
}

/** A store-level principal listing, by name in byte order. */
export interface PrincipalListQuery {
  /** Case-insensitive substring of the name. */
  nameContains?: string;
  /** Start after this name. */
  after?: string;
  /** At most this many rows; all when omitted. */
  limit?: number;
}

/** Principals: insert, read, list, update. */
export interface PrincipalStore {
  /** Inserts a principal; `PrincipalExists` when the name is taken. */
  insertPrincipal(row: PrincipalRow): Promise<void>;
  getPrincipal(name: string): Promise<PrincipalRow | undefined>;
  /** Principals by name (byte order), from `after` on, at most `limit`. Served by an index on the name. */
  listPrincipals(query?: PrincipalListQuery): Promise<PrincipalRow[]>;
  /**
   * Updates a principal; resolves `false` when there is none. Setting `disabled`
   * also appends a change for each of the principal's keys (so caches drop them).
   */
  updatePrincipal(
    name: string,
    patch: { disabled?: boolean; disabledAt?: number | null; passwordHash?: string | null },
  ): Promise<boolean>;
}
