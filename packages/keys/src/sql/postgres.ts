/**
 * The PostgreSQL dialect of the SQL KeyStore (node-postgres' `pg.Pool` or any pool with its
 * shape): row locks for key creation, an advisory lock that orders the change feed, NOTIFY, and
 * LISTEN through `pg-listen.ts`.
 */
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type { KeyStore } from '../ports/key-store.js';
import type { PgListenClient, PgPoolClientLike, PgPoolLike } from './drivers.js';
import { Kysely, PostgresDialect, sql } from './kysely-runtime.js';
import { pgListenFeed } from './pg-listen.js';
import type { Db, Schema } from './schema.js';
import { createSqlKeyStore } from './store.js';

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

/** Advisory lock key of the change feed (ASCII "hkfe"). */
const CHANGE_FEED_LOCK = 0x686b6665;

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
  // Our structural pool is handed to Kysely here. Kysely's client type also has a cursor form of
  // query(), used only for streaming, which this store never does.
  const dialectPool: PostgresPool = {
    async connect() {
      const client = (await pool.connect()) as PgPoolClientLike & Partial<Pick<PgListenClient, 'on'>>;
      // A connection lost while Kysely holds the client between two statements of a transaction
      // is emitted as an 'error' event with no listener, which would crash the process. The
      // statement in flight (or the next one) rejects anyway and surfaces as StoreUnavailable.
      if (typeof client.on === 'function' && !guarded.has(client)) {
        guarded.add(client);
        client.on('error', () => undefined);
      }
      return client as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
  const db: Db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool: dialectPool }) });
  const watchers = new Set<() => Promise<void>>();

  const watchChanges = pgListenFeed(pool, channel, watchers);

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
