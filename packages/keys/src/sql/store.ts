/**
 * The SQL KeyStore: one Kysely implementation shared by SQLite (`sqlite.ts`) and PostgreSQL
 * (`postgres.ts`). The dialect is built from a structural driver object the caller passes
 * (`drivers.ts`), so this package never imports a driver.
 */
import { HmacKitError, StoreUnavailable } from '@hmac-kit/core';
import { auditLimit } from '../admin-rules.js';
import {
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
} from '../errors.js';
import type { AuditEntry, AuditEvent, AuditEventType, AuditQuery } from '../ports/audit.js';
import type { KeyStore } from '../ports/key-store.js';
import type { InsertKeyOptions, KeyListQuery, KeyRow, ResolvedKeyRow } from '../ports/keys.js';
import type { PrincipalListQuery } from '../ports/principals.js';
import type { KeyUsageDelta, KeyUsageListQuery } from '../ports/usage.js';
import { CompiledQuery, sql } from './kysely-runtime.js';
import { runMigrations, type SqlFlavor } from './migrations.js';
import {
  type Db,
  fromKeyRow,
  fromPrincipalRow,
  KEY_COLUMNS,
  n,
  nn,
  type Tx,
  toKeyRow,
  toPrincipalRow,
} from './schema.js';

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

/** What a dialect file (`sqlite.ts`, `postgres.ts`) hands the shared store. */
export interface SqlStoreConfig {
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

/**
 * The KeyStore over a Kysely instance, shared by SQLite and PostgreSQL; the dialect file adds
 * what differs (how a write transaction takes its lock, ordering and NOTIFY of the change feed).
 *
 * @example
 * ```ts
 * return createSqlKeyStore({ db, flavor: 'sqlite', autoMigrate: true, writeTransaction });
 * ```
 */
export function createSqlKeyStore(config: SqlStoreConfig): KeyStore {
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
  /** The change feed's query, compiled by the first `changesSince` (its two parameters: cursor, limit). */
  let changesQuery: CompiledQuery | undefined;
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
          .values(fromPrincipalRow(row))
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
        // Every key cache polls this (every 500 ms by default): its SQL is built by Kysely once
        // per store, each poll only binds its cursor and batch size (building and compiling the
        // query anew cost ~126k instructions per poll).
        changesQuery ??= db
          .selectFrom('hk_key_change')
          .select(['seq', 'key_id'])
          .where('seq', '>', 0)
          .orderBy('seq')
          .limit(1)
          .compile();
        const { rows } = await db.executeQuery<{ seq: number | string; key_id: string }>(
          CompiledQuery.raw(changesQuery.sql, [seq, limit]),
        );
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
              .values(principals.slice(i, i + 500).map(fromPrincipalRow))
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
