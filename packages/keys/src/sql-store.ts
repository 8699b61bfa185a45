/**
 * The SQL KeyStore: one Kysely implementation shared by SQLite and PostgreSQL. The
 * dialect is built from a structural driver object the caller passes (a better-sqlite3
 * `Database`, a `pg.Pool`), so this package never imports a driver.
 */

import { HmacKitError, StoreUnavailable } from '@hmac-kit/core';
import {
  type ColumnType,
  CompiledQuery,
  type Generated,
  type Insertable,
  Kysely,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type Selectable,
  type SqliteDatabase,
  SqliteDialect,
  sql,
} from 'kysely';
import {
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
} from './errors.js';
import { auditLimit } from './memory-store.js';
import { runMigrations, type SqlFlavor } from './migrations.js';
import type {
  AuditEntry,
  AuditEvent,
  AuditEventType,
  AuditQuery,
  InsertKeyOptions,
  KeyAlgorithm,
  KeyListQuery,
  KeyRow,
  KeyStore,
  KeyUsageDelta,
  KeyUsageListQuery,
  PrincipalKind,
  PrincipalListQuery,
  PrincipalRow,
  ResolvedKeyRow,
} from './types.js';

/** bigint columns: PostgreSQL hands them back as strings. */
type Int = ColumnType<number | string, number, number>;
type NullableInt = ColumnType<number | string | null, number | null, number | null>;

interface Schema {
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

type Db = Kysely<Schema>;
/** A transaction or a connection pinned for one (both are Kysely instances). */
type Tx = Kysely<Schema>;

/** A pg client as the LISTEN connection needs it (pg's `PoolClient` fits). */
export interface PgListenClient extends PostgresPoolClient {
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
  release(destroy?: boolean | Error): void;
}

/** The `pg.Pool` subset used: Kysely's needs; a client with `on()` enables LISTEN/NOTIFY. */
export interface PgPoolLike extends PostgresPool {}

/** Options of {@link sqliteKeyStore}. */
export interface SqliteKeyStoreOptions {
  /** A better-sqlite3-like `Database` (the caller owns it and closes it). */
  database: SqliteDatabase;
  /** Apply migrations on first use. Default true. */
  autoMigrate?: boolean;
  /** How long a writer waits for another process's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

/** Options of {@link postgresKeyStore}. */
export interface PostgresKeyStoreOptions {
  /** A pg.Pool-like object (the caller owns it and ends it). */
  pool: PgPoolLike;
  /** Apply migrations on first use. Default true. */
  autoMigrate?: boolean;
  /** LISTEN/NOTIFY channel for key changes. Default `hmac_kit_key_changes`. */
  notifyChannel?: string;
  /** Use LISTEN/NOTIFY when the pool's clients support it. Default true. */
  listen?: boolean;
}

const n = (value: number | string): number => (typeof value === 'number' ? value : Number(value));
const nn = (value: number | string | null): number | null => (value === null ? null : n(value));

function toKeyRow(row: Selectable<Schema['hk_key']>): KeyRow {
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

function fromKeyRow(row: KeyRow): Insertable<Schema['hk_key']> {
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

function toPrincipalRow(row: {
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

function describeDriverError(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(code) ? code : ((error as Error)?.name ?? 'error');
}

/**
 * Driver failures (connection refused, pool exhausted, database locked...) become the core's
 * `StoreUnavailable` so verification fails closed with 503. Our own typed errors pass through.
 */
function wrap<T>(operation: string, run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    if (error instanceof HmacKitError) throw error;
    throw new StoreUnavailable(`key store unavailable during ${operation} (${describeDriverError(error)})`, {
      cause: error,
    });
  });
}

const KEY_COLUMNS = [
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

interface SqlStoreConfig {
  db: Db;
  flavor: SqlFlavor;
  /** PostgreSQL: the schema the migration bookkeeping lives in (the current schema by default). */
  migrationSchema?: () => Promise<string | undefined>;
  autoMigrate: boolean;
  /** Runs `work` in a write transaction that serialises concurrent writers for the principal. */
  writeTransaction<T>(work: (trx: Tx) => Promise<T>): Promise<T>;
  /** Called inside the write transaction before change rows are added (PostgreSQL: ordering lock). */
  beforeChanges?(trx: Tx): Promise<void>;
  /** Called inside the write transaction after change rows are added (PostgreSQL: NOTIFY). */
  notify?(trx: Tx, keyIds: readonly string[]): Promise<void>;
  watchChanges?: KeyStore['watchChanges'];
  onClose?(): Promise<void>;
}

function createSqlKeyStore(config: SqlStoreConfig): KeyStore {
  const { db, flavor } = config;
  let migrated: Promise<unknown> | undefined;
  const migrateNow = async () => runMigrations(db, flavor, await config.migrationSchema?.());
  const ready = (): Promise<unknown> => {
    if (!config.autoMigrate) return Promise.resolve();
    migrated ??= migrateNow().catch((error: unknown) => {
      migrated = undefined; // retry on the next call once the database is reachable again
      throw error;
    });
    return migrated;
  };
  const op = <T>(operation: string, run: () => Promise<T>): Promise<T> =>
    wrap(operation, async () => {
      await ready();
      return run();
    });

  const addChanges = async (trx: Tx | Db, keyIds: readonly string[], at: number) => {
    if (keyIds.length === 0) return;
    if (config.beforeChanges) await config.beforeChanges(trx);
    for (let i = 0; i < keyIds.length; i += 500) {
      await trx
        .insertInto('hk_key_change')
        .values(keyIds.slice(i, i + 500).map((keyId) => ({ key_id: keyId, at })))
        .execute();
    }
    if (config.notify) await config.notify(trx, keyIds);
  };

  // Byte order for ids and names on both backends (the 0002 migration's indexes use the same expressions).
  const keyIdBytes = sql.raw(flavor === 'postgres' ? 'hk_key.key_id collate "C"' : 'hk_key.key_id');
  const nameBytes = sql.raw(flavor === 'postgres' ? 'name collate "C"' : 'name');

  const activeCondition = (now: number) =>
    sql<boolean>`hk_key.revoked_at is null and (hk_key.expires_at is null or hk_key.expires_at > ${now})`;

  return {
    kind: flavor,
    migrate: () =>
      wrap('migrate', async () => {
        const summary = await migrateNow();
        migrated = Promise.resolve(summary);
        return summary;
      }),
    async close() {
      await config.onClose?.();
      // Kysely's destroy() would close the caller's driver (pool.end / database.close): not ours to close.
    },

    insertPrincipal: (row) =>
      op('insertPrincipal', async () => {
        const result = await db
          .insertInto('hk_principal')
          .values({
            name: row.name,
            kind: row.kind,
            disabled: row.disabled ? 1 : 0,
            password_hash: row.passwordHash,
            created_at: row.createdAt,
            disabled_at: row.disabledAt,
          })
          .onConflict((oc) => oc.column('name').doNothing())
          .executeTakeFirst();
        if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0)
          throw new PrincipalExists(`principal "${row.name}" already exists`);
      }),
    getPrincipal: (name) =>
      op('getPrincipal', async () => {
        const row = await db.selectFrom('hk_principal').selectAll().where('name', '=', name).executeTakeFirst();
        return row ? toPrincipalRow(row) : undefined;
      }),
    listPrincipals: (query: PrincipalListQuery = {}) =>
      op('listPrincipals', async () => {
        let select = db.selectFrom('hk_principal').selectAll().orderBy(nameBytes);
        if (query.after !== undefined) select = select.where(sql<boolean>`${nameBytes} > ${query.after}`);
        if (query.nameContains !== undefined) {
          const pattern = `%${query.nameContains.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          select = select.where(sql<boolean>`lower(name) like ${pattern} escape '\\'`);
        }
        if (query.limit !== undefined) select = select.limit(query.limit);
        return (await select.execute()).map(toPrincipalRow);
      }),
    updatePrincipal: (name, patch) =>
      op('updatePrincipal', () =>
        config.writeTransaction(async (trx) => {
          const values: { disabled?: number; disabled_at?: number | null; password_hash?: string | null } = {};
          if (patch.disabled !== undefined) values.disabled = patch.disabled ? 1 : 0;
          if (patch.disabledAt !== undefined) values.disabled_at = patch.disabledAt;
          if (patch.passwordHash !== undefined) values.password_hash = patch.passwordHash;
          if (Object.keys(values).length === 0) {
            return (
              (await trx.selectFrom('hk_principal').select('name').where('name', '=', name).executeTakeFirst()) !==
              undefined
            );
          }
          const result = await trx.updateTable('hk_principal').set(values).where('name', '=', name).executeTakeFirst();
          if (Number(result.numUpdatedRows) === 0) return false;
          if (patch.disabled !== undefined) {
            const keys = await trx.selectFrom('hk_key').select('key_id').where('principal', '=', name).execute();
            await addChanges(
              trx,
              keys.map((k) => k.key_id),
              Date.now(),
            );
          }
          return true;
        }),
      ),

    insertKey: (row: KeyRow, options: InsertKeyOptions) =>
      op('insertKey', () =>
        config.writeTransaction(async (trx) => {
          let principalQuery = trx
            .selectFrom('hk_principal')
            .select(['name', 'disabled'])
            .where('name', '=', row.principal);
          // PostgreSQL: the principal row lock serialises concurrent creations for this principal.
          if (flavor === 'postgres') principalQuery = principalQuery.forUpdate();
          const principal = await principalQuery.executeTakeFirst();
          if (!principal) throw new PrincipalNotFound(`principal "${row.principal}" does not exist`);
          if (Number(principal.disabled) === 1) throw new PrincipalDisabled(`principal "${row.principal}" is disabled`);
          const replaces = options.replaces;
          if (replaces) {
            const old = await trx
              .selectFrom('hk_key')
              .select(['key_id', 'principal', 'revoked_at', 'expires_at'])
              .where('key_id', '=', replaces.keyId)
              .executeTakeFirst();
            if (!old || old.principal !== row.principal) throw new KeyNotFound(`key ${replaces.keyId} does not exist`);
            const oldExpires = nn(old.expires_at);
            if (old.revoked_at !== null || (oldExpires !== null && oldExpires <= options.now)) {
              throw new KeyNotActive(`key ${replaces.keyId} is revoked or expired`);
            }
          }
          let countQuery = trx
            .selectFrom('hk_key')
            .select((eb) => eb.fn.countAll<number | string>().as('active'))
            .where('principal', '=', row.principal)
            .where(activeCondition(options.now));
          if (replaces) countQuery = countQuery.where('key_id', '!=', replaces.keyId);
          const active = n((await countQuery.executeTakeFirstOrThrow()).active);
          if (active >= options.maxActiveKeys) {
            throw new KeyLimitExceeded(
              `principal "${row.principal}" already has ${active} active keys`,
              options.maxActiveKeys,
            );
          }
          if (replaces) {
            await trx
              .updateTable('hk_key')
              .set({
                expires_at: sql<number>`case when expires_at is null or expires_at > ${replaces.expiresAt} then ${replaces.expiresAt} else expires_at end`,
              })
              .where('key_id', '=', replaces.keyId)
              .execute();
          }
          await trx.insertInto('hk_key').values(fromKeyRow(row)).execute();
          await addChanges(trx, replaces ? [row.keyId, replaces.keyId] : [row.keyId], options.now);
        }),
      ),
    getKey: (keyId) =>
      op('getKey', async () => {
        const row = await db.selectFrom('hk_key').select(KEY_COLUMNS).where('key_id', '=', keyId).executeTakeFirst();
        return row ? toKeyRow(row) : undefined;
      }),
    resolveKey: (keyId) =>
      op('resolveKey', async (): Promise<ResolvedKeyRow | undefined> => {
        const row = await db
          .selectFrom('hk_key')
          .leftJoin('hk_principal', 'hk_principal.name', 'hk_key.principal')
          .select([...KEY_COLUMNS, 'hk_principal.disabled as principal_disabled'])
          .where('hk_key.key_id', '=', keyId)
          .executeTakeFirst();
        if (!row) return undefined;
        return {
          ...toKeyRow(row),
          principalDisabled: row.principal_disabled === null || Number(row.principal_disabled) === 1,
        };
      }),
    listKeys: (query: KeyListQuery = {}) =>
      op('listKeys', async () => {
        const direction = query.newestFirst ? 'desc' : 'asc';
        let select = db
          .selectFrom('hk_key')
          .select(KEY_COLUMNS)
          .orderBy('hk_key.created_at', direction)
          .orderBy(sql`${keyIdBytes} ${sql.raw(direction)}`);
        if (query.principal !== undefined) select = select.where('hk_key.principal', '=', query.principal);
        if (query.keyId !== undefined) select = select.where('hk_key.key_id', '=', query.keyId);
        // Written exactly as the partial index's predicate, so the planner can use it.
        if (!query.includeRevoked) select = select.where('hk_key.revoked_at', 'is', null);
        if (query.after) {
          // A row-value comparison: one index seek to the position, whatever the page number.
          select = select.where(
            sql<boolean>`(hk_key.created_at, ${keyIdBytes}) ${sql.raw(query.newestFirst ? '<' : '>')} (${query.after.createdAt}, ${query.after.keyId})`,
          );
        }
        if (query.limit !== undefined) select = select.limit(query.limit);
        return (await select.execute()).map(toKeyRow);
      }),
    revokeKey: (keyId, at, reason) =>
      op('revokeKey', () =>
        config.writeTransaction(async (trx) => {
          await trx
            .updateTable('hk_key')
            .set({ revoked_at: at, revoked_reason: reason })
            .where('key_id', '=', keyId)
            .where('revoked_at', 'is', null)
            .execute();
          const row = await trx.selectFrom('hk_key').select(KEY_COLUMNS).where('key_id', '=', keyId).executeTakeFirst();
          if (!row) return undefined;
          await addChanges(trx, [keyId], at);
          return toKeyRow(row);
        }),
      ),
    touchKeys: (keyIds, at) =>
      op('touchKeys', async () => {
        for (let i = 0; i < keyIds.length; i += 500) {
          await db
            .updateTable('hk_key')
            .set({ last_used_at: at })
            .where('key_id', 'in', keyIds.slice(i, i + 500))
            .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
            .execute();
        }
      }),
    addKeyUsage: (deltas: readonly KeyUsageDelta[]) =>
      op('addKeyUsage', async () => {
        // One order for every writer: concurrent upserts of the same pairs cannot deadlock.
        const sorted = [...deltas].sort((a, b) =>
          a.keyId !== b.keyId ? (a.keyId < b.keyId ? -1 : 1) : a.scheme < b.scheme ? -1 : a.scheme > b.scheme ? 1 : 0,
        );
        for (let i = 0; i < sorted.length; i += 500) {
          const batch = sorted.slice(i, i + 500);
          // Only pairs of existing keys (keys are never deleted: no orphan rows, no foreign key needed).
          const known = new Set(
            (
              await db
                .selectFrom('hk_key')
                .select('key_id')
                .where('key_id', 'in', [...new Set(batch.map((d) => d.keyId))])
                .execute()
            ).map((row) => row.key_id),
          );
          const values = batch
            .filter((delta) => known.has(delta.keyId))
            .map((d) => ({
              key_id: d.keyId,
              scheme: d.scheme,
              uses: d.count,
              first_used_at: d.firstUsedAt,
              last_used_at: d.lastUsedAt,
            }));
          if (values.length === 0) continue;
          await db
            .insertInto('hk_key_usage')
            .values(values)
            .onConflict((oc) =>
              oc.columns(['key_id', 'scheme']).doUpdateSet({
                uses: sql`hk_key_usage.uses + excluded.uses`,
                first_used_at: sql`case when excluded.first_used_at < hk_key_usage.first_used_at then excluded.first_used_at else hk_key_usage.first_used_at end`,
                last_used_at: sql`case when excluded.last_used_at > hk_key_usage.last_used_at then excluded.last_used_at else hk_key_usage.last_used_at end`,
              }),
            )
            .execute();
        }
      }),
    listKeyUsage: (query: KeyUsageListQuery = {}) =>
      op('listKeyUsage', async () => {
        let select = db
          .selectFrom('hk_key_usage')
          .innerJoin('hk_key', 'hk_key.key_id', 'hk_key_usage.key_id')
          .select([
            'hk_key_usage.key_id',
            'hk_key.principal',
            'hk_key_usage.scheme',
            'hk_key_usage.uses',
            'hk_key_usage.first_used_at',
            'hk_key_usage.last_used_at',
          ])
          .orderBy('hk_key_usage.key_id')
          .orderBy('hk_key_usage.scheme');
        if (query.principal !== undefined) select = select.where('hk_key.principal', '=', query.principal);
        if (query.keyId !== undefined) select = select.where('hk_key_usage.key_id', '=', query.keyId);
        if (query.keyIds !== undefined) {
          select =
            query.keyIds.length === 0
              ? select.where(sql<boolean>`1 = 0`)
              : select.where('hk_key_usage.key_id', 'in', [...query.keyIds]);
        }
        if (query.scheme !== undefined) select = select.where('hk_key_usage.scheme', '=', query.scheme);
        if (query.after) {
          select = select.where(
            sql<boolean>`(hk_key_usage.key_id, hk_key_usage.scheme) > (${query.after.keyId}, ${query.after.scheme})`,
          );
        }
        if (query.limit !== undefined) select = select.limit(query.limit);
        return (await select.execute()).map((row) => ({
          keyId: row.key_id,
          principal: row.principal,
          scheme: row.scheme,
          count: n(row.uses),
          firstUsedAt: n(row.first_used_at),
          lastUsedAt: n(row.last_used_at),
        }));
      }),

    countKeysByMasterKey: () =>
      op('countKeysByMasterKey', async () => {
        const rows = await db
          .selectFrom('hk_key')
          .select(['master_key_id', (eb) => eb.fn.countAll<number | string>().as('count')])
          .groupBy('master_key_id')
          .execute();
        return Object.fromEntries(rows.map((row) => [row.master_key_id, n(row.count)]));
      }),
    listKeysNotUnderMasterKey: (masterKeyId, afterKeyId, limit) =>
      op('listKeysNotUnderMasterKey', async () => {
        let query = db
          .selectFrom('hk_key')
          .select(['key_id', 'master_key_id', 'secret_ciphertext'])
          .where('master_key_id', '!=', masterKeyId)
          .orderBy('key_id')
          .limit(limit);
        if (afterKeyId !== null) query = query.where('key_id', '>', afterKeyId);
        const rows = await query.execute();
        return rows.map((row) => ({
          keyId: row.key_id,
          masterKeyId: row.master_key_id,
          secretCiphertext: row.secret_ciphertext,
        }));
      }),
    replaceSecretCiphertext: (keyId, expected, next) =>
      op('replaceSecretCiphertext', async () => {
        const result = await db
          .updateTable('hk_key')
          .set({ master_key_id: next.masterKeyId, secret_ciphertext: next.secretCiphertext })
          .where('key_id', '=', keyId)
          .where('master_key_id', '=', expected.masterKeyId)
          .where('secret_ciphertext', '=', expected.secretCiphertext)
          .executeTakeFirst();
        return Number(result.numUpdatedRows) === 1;
      }),
    getMasterKeyCheck: (masterKeyId) =>
      op('getMasterKeyCheck', async () => {
        const row = await db
          .selectFrom('hk_master_key_check')
          .select('check_value')
          .where('master_key_id', '=', masterKeyId)
          .executeTakeFirst();
        return row?.check_value;
      }),
    putMasterKeyCheck: (masterKeyId, check, at) =>
      op('putMasterKeyCheck', async () => {
        await db
          .insertInto('hk_master_key_check')
          .values({ master_key_id: masterKeyId, check_value: check, created_at: at })
          .onConflict((oc) => oc.column('master_key_id').doNothing())
          .execute();
        const row = await db
          .selectFrom('hk_master_key_check')
          .select('check_value')
          .where('master_key_id', '=', masterKeyId)
          .executeTakeFirstOrThrow();
        return row.check_value;
      }),

    appendAudit: (events: readonly AuditEvent[]) =>
      op('appendAudit', async () => {
        if (events.length === 0) return;
        await db
          .insertInto('hk_audit')
          .values(
            events.map((event) => ({
              at: event.at.getTime(),
              type: event.type,
              principal: event.principal ?? null,
              key_id: event.keyId ?? null,
              actor: event.actor ?? null,
              source: event.source ?? null,
              code: event.code ?? null,
              detail: event.detail ? JSON.stringify(event.detail) : null,
            })),
          )
          .execute();
      }),
    queryAudit: (query: AuditQuery) =>
      op('queryAudit', async () => {
        let q = db.selectFrom('hk_audit').selectAll().orderBy('id', 'desc').limit(auditLimit(query.limit));
        if (query.types)
          q = query.types.length === 0 ? q.where(sql<boolean>`1 = 0`) : q.where('type', 'in', [...query.types]);
        if (query.principal !== undefined) q = q.where('principal', '=', query.principal);
        if (query.keyId !== undefined) q = q.where('key_id', '=', query.keyId);
        if (query.since) q = q.where('at', '>=', query.since.getTime());
        if (query.until) q = q.where('at', '<', query.until.getTime());
        if (query.beforeId !== undefined) q = q.where('id', '<', query.beforeId);
        const rows = await q.execute();
        return rows.map((row): AuditEntry => {
          const entry: AuditEntry = { id: n(row.id), type: row.type as AuditEventType, at: new Date(n(row.at)) };
          if (row.principal !== null) entry.principal = row.principal;
          if (row.key_id !== null) entry.keyId = row.key_id;
          if (row.actor !== null) entry.actor = row.actor;
          if (row.source !== null) entry.source = row.source;
          if (row.code !== null) entry.code = row.code;
          if (row.detail !== null) entry.detail = JSON.parse(row.detail) as AuditEntry['detail'];
          return entry;
        });
      }),
    pruneAudit: (olderThan) =>
      op('pruneAudit', async () => {
        const result = await db.deleteFrom('hk_audit').where('at', '<', olderThan).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),

    latestChange: () =>
      op('latestChange', async () => {
        const row = await db
          .selectFrom('hk_key_change')
          .select((eb) => eb.fn.max('seq').as('seq'))
          .executeTakeFirst();
        return row?.seq === null || row?.seq === undefined ? 0 : n(row.seq as number | string);
      }),
    changesSince: (seq, limit) =>
      op('changesSince', async () => {
        const rows = await db
          .selectFrom('hk_key_change')
          .select(['seq', 'key_id'])
          .where('seq', '>', seq)
          .orderBy('seq')
          .limit(limit)
          .execute();
        return rows.map((row) => ({ seq: n(row.seq), keyId: row.key_id }));
      }),
    appendChange: (keyIds, at) =>
      op('appendChange', () => config.writeTransaction((trx) => addChanges(trx, keyIds, at))),
    pruneChanges: (olderThan) =>
      op('pruneChanges', async () => {
        const result = await db.deleteFrom('hk_key_change').where('at', '<', olderThan).executeTakeFirst();
        return Number(result.numDeletedRows);
      }),
    importRows: (principals, keys) =>
      op('importRows', () =>
        config.writeTransaction(async (trx) => {
          // 500 rows x 15 columns stays under SQLite's and PostgreSQL's bound-parameter limits.
          for (let i = 0; i < principals.length; i += 500) {
            await trx
              .insertInto('hk_principal')
              .values(
                principals.slice(i, i + 500).map((row) => ({
                  name: row.name,
                  kind: row.kind,
                  disabled: row.disabled ? 1 : 0,
                  password_hash: row.passwordHash,
                  created_at: row.createdAt,
                  disabled_at: row.disabledAt,
                })),
              )
              .onConflict((oc) => oc.column('name').doNothing())
              .execute();
          }
          for (let i = 0; i < keys.length; i += 500) {
            await trx
              .insertInto('hk_key')
              .values(keys.slice(i, i + 500).map(fromKeyRow))
              .execute();
          }
        }),
      ),
    ...(config.watchChanges ? { watchChanges: config.watchChanges } : {}),
  };
}

/**
 * A KeyStore on SQLite through a better-sqlite3-like `Database`. Turns on WAL (readers
 * never block the writer) and a busy timeout; key creation runs in `BEGIN IMMEDIATE`
 * so the per-principal limit holds across processes sharing the file.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * const store = sqliteKeyStore({ database: new Database('hmac-kit.db') });
 * ```
 */
export function sqliteKeyStore(options: SqliteKeyStoreOptions): KeyStore {
  const database = options?.database;
  if (!database || typeof database.prepare !== 'function')
    throw new TypeError('sqliteKeyStore: database must be a better-sqlite3-like Database');
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw new TypeError('sqliteKeyStore: busyTimeoutMs must be a non-negative integer');
  // Kysely prepares every statement afresh; on the cold lookup path preparing costs more than
  // running the query, so prepared statements are reused per SQL text (bounded: IN lists vary).
  // Safe because Kysely's SQLite driver runs one statement at a time and never streams ours.
  const statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  const cachingDatabase: SqliteDatabase = {
    close: () => database.close(),
    prepare(text) {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = database.prepare(text);
        if (statements.size >= 200) statements.delete(statements.keys().next().value as string);
        statements.set(text, statement);
      }
      return statement;
    },
  };
  const db: Db = new Kysely<Schema>({
    dialect: new SqliteDialect({
      database: cachingDatabase,
      async onCreateConnection(connection) {
        await connection.executeQuery(CompiledQuery.raw('pragma journal_mode = wal'));
        await connection.executeQuery(CompiledQuery.raw(`pragma busy_timeout = ${busyTimeoutMs}`));
        await connection.executeQuery(CompiledQuery.raw('pragma foreign_keys = on'));
      },
    }),
  });
  return createSqlKeyStore({
    db,
    flavor: 'sqlite',
    autoMigrate: options.autoMigrate ?? true,
    writeTransaction: (work) =>
      // Kysely's own transactions issue a deferred BEGIN; IMMEDIATE takes the write lock up
      // front so two processes cannot both read "9 active keys" and both insert.
      db.connection().execute(async (connection) => {
        await sql`begin immediate`.execute(connection);
        try {
          const result = await work(connection);
          await sql`commit`.execute(connection);
          return result;
        } catch (error) {
          await sql`rollback`.execute(connection).catch(() => undefined);
          throw error;
        }
      }),
  });
}

/** Advisory lock key of the change feed (ASCII "hkfe"). */
const CHANGE_FEED_LOCK = 0x686b6665;

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A KeyStore on PostgreSQL through a pg.Pool-like object. Key creation locks the principal
 * row (`SELECT ... FOR UPDATE`); key changes are announced with NOTIFY and, when the pool's
 * clients support `on('notification')`, pushed to other instances through one dedicated
 * LISTEN connection.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * const store = postgresKeyStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * ```
 */
export function postgresKeyStore(options: PostgresKeyStoreOptions): KeyStore {
  const pool = options?.pool;
  if (!pool || typeof pool.connect !== 'function')
    throw new TypeError('postgresKeyStore: pool must be a pg.Pool-like object');
  const channel = options.notifyChannel ?? 'hmac_kit_key_changes';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel))
    throw new TypeError('postgresKeyStore: notifyChannel must be a lower-case SQL identifier');
  const guarded = new WeakSet<object>();
  const dialectPool: PostgresPool = {
    async connect() {
      const client = (await pool.connect()) as PostgresPoolClient & Partial<Pick<PgListenClient, 'on'>>;
      // A connection lost while Kysely holds the client between two statements of a transaction
      // is emitted as an 'error' event with no listener, which would crash the process. The
      // statement in flight (or the next one) rejects anyway and surfaces as StoreUnavailable.
      if (typeof client.on === 'function' && !guarded.has(client)) {
        guarded.add(client);
        client.on('error', () => undefined);
      }
      return client;
    },
    end: () => pool.end(),
  };
  const db: Db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: dialectPool }) });
  const watchers = new Set<() => Promise<void>>();

  const watchChanges: KeyStore['watchChanges'] = async (listener, onStatus) => {
    let stopped = false;
    let client: PgListenClient | undefined;
    let retryTimer: NodeJS.Timeout | undefined;
    let delay = 100;
    const drop = (error?: Error) => {
      if (!client) return;
      const broken = client;
      client = undefined;
      try {
        broken.release(error ?? true);
      } catch {}
      onStatus?.(false);
      schedule();
    };
    const schedule = () => {
      if (stopped || retryTimer) return;
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        void connect();
      }, delay);
      retryTimer.unref?.();
      delay = Math.min(delay * 2, 5000);
    };
    const connect = async () => {
      if (stopped) return;
      let next: PgListenClient;
      try {
        next = (await pool.connect()) as PgListenClient;
      } catch {
        onStatus?.(false);
        schedule();
        return;
      }
      if (typeof next.on !== 'function') {
        // Optional capability: without notifications the service relies on polling the feed.
        next.release();
        stopped = true;
        return;
      }
      next.on('notification', (message) => {
        if (message.channel === channel && message.payload) listener(message.payload);
      });
      next.on('error', (error) => {
        if (client === next) drop(error ?? new Error('listen connection error'));
      });
      next.on('end', () => {
        if (client === next) drop(new Error('listen connection ended'));
      });
      try {
        await next.query(`LISTEN ${quoteIdentifier(channel)}`, []);
      } catch (error) {
        try {
          next.release(error as Error);
        } catch {}
        onStatus?.(false);
        schedule();
        return;
      }
      if (stopped) {
        next.release(true);
        return;
      }
      client = next;
      delay = 100;
      onStatus?.(true);
    };
    await connect();
    const stop = async () => {
      stopped = true;
      watchers.delete(stop);
      if (retryTimer) clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      if (current) {
        await current.query(`UNLISTEN ${quoteIdentifier(channel)}`, []).catch(() => undefined);
        // Destroy rather than return it to the pool: it carried a LISTEN.
        current.release(true);
      }
    };
    watchers.add(stop);
    return stop;
  };

  let currentSchema: string | undefined;
  return createSqlKeyStore({
    db,
    flavor: 'postgres',
    async migrationSchema() {
      currentSchema ??= (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema;
      return currentSchema;
    },
    autoMigrate: options.autoMigrate ?? true,
    writeTransaction: (work) => db.transaction().execute(work),
    async beforeChanges(trx) {
      // Sequence values are handed out at insert time but become visible at commit, so two
      // writers could commit seq 11 before seq 10 and a poller past 11 would never see 10.
      // Holding this lock until commit makes sequence order equal commit order. It is taken
      // last in every transaction (after any row lock), so it cannot deadlock; only changes
      // (admin operations) are serialised by it.
      await sql`select pg_advisory_xact_lock(${CHANGE_FEED_LOCK}::bigint)`.execute(trx);
    },
    async notify(trx, keyIds) {
      for (const keyId of keyIds) await sql`select pg_notify(${channel}, ${keyId})`.execute(trx);
    },
    ...(options.listen === false ? {} : { watchChanges }),
    async onClose() {
      for (const stop of [...watchers]) await stop();
    },
  });
}
