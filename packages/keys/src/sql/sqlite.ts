/** The SQLite dialect of the SQL KeyStore (better-sqlite3 or any driver with its `Database` shape). */
import type { SqliteDatabase } from 'kysely';
import type { KeyStore } from '../ports/key-store.js';
import type { SqliteDatabaseLike, SqliteStatementLike } from './drivers.js';
import { CompiledQuery, Kysely, SqliteDialect, sql } from './kysely-runtime.js';
import type { Db, Schema } from './schema.js';
import { createSqlKeyStore } from './store.js';

/** Options of {@link sqliteKeyStore}. */
export interface SqliteKeyStoreOptions {
  /** A better-sqlite3-like `Database` (the caller owns it and closes it). */
  database: SqliteDatabaseLike;
  /** Apply migrations on first use. Default true. */
  autoMigrate?: boolean;
  /** How long a writer waits for another process's write lock, in ms. Default 5000. */
  busyTimeoutMs?: number;
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
  const statements = new Map<string, SqliteStatementLike>();
  // Our structural type is handed to Kysely here: the compiler checks it still fits Kysely's.
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
