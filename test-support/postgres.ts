import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type CuttableProxy, startCuttableProxy } from './cuttable-proxy.js';
import { pgUrl } from './services.js';

/** PostgreSQL test helpers: a schema private to each test, and a cuttable proxy in front of the server. */

export type { CuttableProxy } from './cuttable-proxy.js';
export { describeWithPostgres, pgUrl, postgresReachable } from './services.js';

/** A schema private to one test, and pools whose search_path points at it. */
export interface TestSchema {
  schema: string;
  /** A new pool on this schema (the caller ends it, or `drop()` does). */
  pool(options?: pg.PoolConfig): pg.Pool;
  /** Ends every pool made here and drops the schema. */
  drop(): Promise<void>;
}

/**
 * Creates a schema with a random name on the test PostgreSQL, so parallel tests never share tables.
 *
 * @example
 * ```ts
 * const schema = await createTestSchema();
 * const store = postgresKeyStore(schema.pool());
 * afterAll(() => schema.drop());
 * ```
 */
export async function createTestSchema(): Promise<TestSchema> {
  const schema = `hk_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const pools: pg.Pool[] = [];
  return {
    schema,
    pool(options: pg.PoolConfig = {}) {
      const pool = new pg.Pool({ connectionString: pgUrl, options: `-c search_path=${schema}`, max: 10, ...options });
      // An idle client dropped by the server must not crash the test process.
      pool.on('error', () => undefined);
      pools.push(pool);
      return pool;
    },
    async drop() {
      for (const pool of pools.splice(0)) await pool.end().catch(() => undefined);
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

/** A {@link CuttableProxy} in front of the test PostgreSQL. */
export function startPostgresProxy(): Promise<CuttableProxy> {
  const target = new URL(pgUrl);
  return startCuttableProxy(target.hostname, Number(target.port || 5432));
}

/** The proxy's URL with the same credentials/database as `pgUrl`. */
export function proxiedUrl(port: number): string {
  const url = new URL(pgUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}
