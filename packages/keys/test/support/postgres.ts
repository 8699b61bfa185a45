import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';
import { type CuttableProxy, startCuttableProxy } from '../../../../test-support/cuttable-proxy.js';

/** Where the test PostgreSQL lives; `HMAC_KIT_TEST_PG_URL` overrides. */
export const pgUrl = process.env.HMAC_KIT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const probe = await probePostgres();

/** Whether the PostgreSQL tests can run. */
export const postgresReachable = probe === undefined;

/**
 * `describe` for suites that need PostgreSQL: runs them when it answers; when it does not,
 * fails under `CI=true` and elsewhere skips with a visible notice.
 */
export function describeWithPostgres(name: string, body: () => void): void {
  if (postgresReachable) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs PostgreSQL', () => {
        throw new Error(`PostgreSQL at ${pgUrl} is unreachable (${probe}); CI requires it`);
      });
    });
    return;
  }
  console.warn(`\n[hmac-kit] SKIPPING "${name}": PostgreSQL at ${pgUrl} is unreachable (${probe}).\n`);
  describe.skip(name, body);
}

/** A schema private to one test, and pools whose search_path points at it. */
export interface TestSchema {
  schema: string;
  /** A new pool on this schema (the caller ends it, or `drop()` does). */
  pool(options?: pg.PoolConfig): pg.Pool;
  /** Ends every pool made here and drops the schema. */
  drop(): Promise<void>;
}

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

export type { CuttableProxy } from '../../../../test-support/cuttable-proxy.js';

/** A {@link CuttableProxy} in front of the test service. */
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
