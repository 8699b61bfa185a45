/**
 * The SQL schema as Kysely sees it (tables and columns the migrations create, see
 * `migrations.ts`), and the one mapping between its rows and the store contract's rows.
 */
import type { ColumnType, Generated, Insertable, Kysely, Selectable } from 'kysely';
import type { KeyAlgorithm, PrincipalKind } from '../model.js';
import type { KeyRow } from '../ports/keys.js';
import type { PrincipalRow } from '../ports/principals.js';

/** bigint columns: PostgreSQL hands them back as strings. */
type Int = ColumnType<number | string, number, number>;
type NullableInt = ColumnType<number | string | null, number | null, number | null>;

export interface Schema {
  hk_principal: {
    name: string;
    kind: string;
    disabled: number;
    password_hash: string | null;
    created_at: Int;
    disabled_at: NullableInt;
  };
  hk_key: {
    key_id: string;
    principal: string;
    algorithm: string;
    scopes: string;
    label: string | null;
    created_at: Int;
    expires_at: NullableInt;
    last_used_at: NullableInt;
    revoked_at: NullableInt;
    revoked_reason: string | null;
    rate_limit: number | null;
    rate_window_seconds: number | null;
    rotated_from: string | null;
    master_key_id: string;
    secret_ciphertext: string;
  };
  hk_master_key_check: { master_key_id: string; check_value: string; created_at: Int };
  hk_audit: {
    id: Generated<number | string>;
    at: Int;
    type: string;
    principal: string | null;
    key_id: string | null;
    actor: string | null;
    source: string | null;
    code: string | null;
    detail: string | null;
  };
  hk_key_change: { seq: Generated<number | string>; key_id: string; at: Int };
  hk_key_usage: { key_id: string; scheme: string; uses: Int; first_used_at: Int; last_used_at: Int };
}

export type Db = Kysely<Schema>;
/** A transaction or a connection pinned for one (both are Kysely instances). */
export type Tx = Kysely<Schema>;

export const n = (value: number | string): number => (typeof value === 'number' ? value : Number(value));
export const nn = (value: number | string | null): number | null => (value === null ? null : n(value));

/** A `hk_key` row as the store contract's {@link KeyRow}. */
export function toKeyRow(row: Selectable<Schema['hk_key']>): KeyRow {
  return {
    keyId: row.key_id,
    principal: row.principal,
    algorithm: row.algorithm as KeyAlgorithm,
    scopes: JSON.parse(row.scopes) as string[],
    label: row.label,
    createdAt: n(row.created_at),
    expiresAt: nn(row.expires_at),
    lastUsedAt: nn(row.last_used_at),
    revokedAt: nn(row.revoked_at),
    revokedReason: row.revoked_reason,
    rateLimit:
      row.rate_limit === null || row.rate_window_seconds === null
        ? null
        : { limit: n(row.rate_limit), windowSeconds: n(row.rate_window_seconds) },
    rotatedFrom: row.rotated_from,
    masterKeyId: row.master_key_id,
    secretCiphertext: row.secret_ciphertext,
  };
}

/** A {@link KeyRow} as a `hk_key` row to insert. */
export function fromKeyRow(row: KeyRow): Insertable<Schema['hk_key']> {
  return {
    key_id: row.keyId,
    principal: row.principal,
    algorithm: row.algorithm,
    scopes: JSON.stringify(row.scopes),
    label: row.label,
    created_at: row.createdAt,
    expires_at: row.expiresAt,
    last_used_at: row.lastUsedAt,
    revoked_at: row.revokedAt,
    revoked_reason: row.revokedReason,
    rate_limit: row.rateLimit?.limit ?? null,
    rate_window_seconds: row.rateLimit?.windowSeconds ?? null,
    rotated_from: row.rotatedFrom,
    master_key_id: row.masterKeyId,
    secret_ciphertext: row.secretCiphertext,
  };
}

/** A `hk_principal` row as the store contract's {@link PrincipalRow}. */
export function toPrincipalRow(row: {
  name: string;
  kind: string;
  disabled: number | string | boolean;
  password_hash: string | null;
  created_at: number | string;
  disabled_at: number | string | null;
}): PrincipalRow {
  return {
    name: row.name,
    kind: row.kind as PrincipalKind,
    disabled: Number(row.disabled) === 1,
    passwordHash: row.password_hash,
    createdAt: n(row.created_at),
    disabledAt: nn(row.disabled_at),
  };
}

/** A {@link PrincipalRow} as a `hk_principal` row to insert (the one mapping for single and bulk inserts). */
export function fromPrincipalRow(row: PrincipalRow): Insertable<Schema['hk_principal']> {
  return {
    name: row.name,
    kind: row.kind,
    disabled: row.disabled ? 1 : 0,
    password_hash: row.passwordHash,
    created_at: row.createdAt,
    disabled_at: row.disabledAt,
  };
}

/** The `hk_key` columns a key read selects (joined reads add the principal's `disabled`). */
export const KEY_COLUMNS = [
  'hk_key.key_id',
  'hk_key.principal',
  'hk_key.algorithm',
  'hk_key.scopes',
  'hk_key.label',
  'hk_key.created_at',
  'hk_key.expires_at',
  'hk_key.last_used_at',
  'hk_key.revoked_at',
  'hk_key.revoked_reason',
  'hk_key.rate_limit',
  'hk_key.rate_window_seconds',
  'hk_key.rotated_from',
  'hk_key.master_key_id',
  'hk_key.secret_ciphertext',
] as const;
