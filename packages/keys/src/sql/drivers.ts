/**
 * The parts of the database drivers this package uses, declared here as structural types so that
 * neither the drivers nor Kysely's own driver interfaces are part of @hmac-kit/keys' public API: a
 * Kysely upgrade that changes its `SqliteDatabase` or `PostgresPool` types changes nothing for
 * callers (kysely's `src/dialect/sqlite/sqlite-dialect-config.ts` does the same for better-sqlite3).
 * `sqlite.ts` and `postgres.ts` hand these objects to Kysely's dialects; the compiler checks there
 * that they still fit.
 */

/**
 * The subset of better-sqlite3's `Database` the SQLite store uses (a `new Database(path)` fits).
 *
 * https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#class-database
 */
export interface SqliteDatabaseLike {
  close(): void;
  prepare(sql: string): SqliteStatementLike;
}

/**
 * The subset of better-sqlite3's `Statement` the SQLite store uses.
 *
 * https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#class-statement
 */
export interface SqliteStatementLike {
  readonly reader: boolean;
  all(parameters: ReadonlyArray<unknown>): unknown[];
  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint };
  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown>;
}

/** What a query answers, as node-postgres reports it (https://node-postgres.com/apis/result). */
export interface PgQueryResultLike<R> {
  command: 'UPDATE' | 'DELETE' | 'INSERT' | 'SELECT' | 'MERGE';
  rowCount: number;
  rows: R[];
}

/**
 * The subset of node-postgres' pooled `Client` the PostgreSQL store uses (https://node-postgres.com/apis/pool#releasing-clients).
 * `release(true)` destroys the connection instead of returning it to the pool.
 */
export interface PgPoolClientLike {
  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PgQueryResultLike<R>>;
  release(destroy?: boolean | Error): void;
}

/**
 * A pooled client as the LISTEN connection needs it: node-postgres' `Client` events
 * (https://node-postgres.com/apis/client#events). Without `on()` the store polls the change feed.
 */
export interface PgListenClient extends PgPoolClientLike {
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (error?: Error) => void): unknown;
}

/** The subset of node-postgres' `Pool` the PostgreSQL store uses (https://node-postgres.com/apis/pool); a `pg.Pool` fits. */
export interface PgPoolLike {
  connect(): Promise<PgPoolClientLike>;
  end(): Promise<void>;
}
