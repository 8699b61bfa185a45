import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, it } from 'vitest';

/**
 * Whether the shared PostgreSQL and Redis the tests use answer, and `describe` variants for the
 * suites that need them: under `CI=true` a missing service fails the suite; elsewhere the suite
 * is skipped with a visible notice. One probe of each per test file (memoized).
 */

/** Where the test PostgreSQL lives; `HMAC_KIT_TEST_PG_URL` overrides. */
export const pgUrl = process.env.HMAC_KIT_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
/** Where the test Redis lives; `HMAC_KIT_TEST_REDIS_URL` overrides. */
export const redisUrl = process.env.HMAC_KIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let postgresProbe: Promise<string | undefined> | undefined;
let redisProbe: Promise<string | undefined> | undefined;

/** Why PostgreSQL at {@link pgUrl} does not answer `select 1`, or `undefined` when it does. */
export function postgresProblem(): Promise<string | undefined> {
  postgresProbe ??= (async () => {
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
  })();
  return postgresProbe;
}

/** Why Redis at {@link redisUrl} does not answer `PING`, or `undefined` when it does. */
export function redisProblem(): Promise<string | undefined> {
  redisProbe ??= (async () => {
    const client = new Redis(redisUrl, {
      lazyConnect: true,
      connectTimeout: 1000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    let connectionError: string | undefined;
    client.on('error', (error: Error) => {
      connectionError = error.message;
    });
    try {
      await client.connect();
      await client.ping();
      return undefined;
    } catch (error) {
      return connectionError ?? (error instanceof Error ? error.message : String(error));
    } finally {
      client.disconnect();
    }
  })();
  return redisProbe;
}

const postgres = await postgresProblem();
const redis = await redisProblem();

/** Whether the PostgreSQL tests can run. */
export const postgresReachable = postgres === undefined;
/** Whether the Redis tests can run. */
export const redisReachable = redis === undefined;

/** What a suite needs besides Node: the shared services, and tools a test found (or not) itself. */
export interface SuiteNeeds {
  postgres?: boolean;
  redis?: boolean;
  /** The nginx binary's path; `undefined` when the test found none. */
  nginx?: string | undefined;
}

/**
 * `describe` for suites that need real services: runs them when they answer; otherwise fails
 * under `CI=true` and elsewhere skips with a visible notice.
 *
 * @example
 * ```ts
 * describeWithServices('gateway over Redis', { redis: true }, () => { it('…', async () => {}); });
 * ```
 */
export function describeWithServices(name: string, needs: SuiteNeeds, body: () => void): void {
  const problems: string[] = [];
  if (needs.postgres && postgres !== undefined) problems.push(`PostgreSQL at ${pgUrl} (${postgres})`);
  if (needs.redis && redis !== undefined) problems.push(`Redis at ${redisUrl} (${redis})`);
  if ('nginx' in needs && !needs.nginx) problems.push('nginx (apt-get install -y nginx)');
  if (problems.length === 0) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs its services', () => {
        throw new Error(`unavailable: ${problems.join('; ')}; CI requires them`);
      });
    });
    return;
  }
  console.warn(`\n[hmac-kit] SKIPPING "${name}": unavailable: ${problems.join('; ')}.\n`);
  describe.skip(name, body);
}

/** {@link describeWithServices} for a suite that needs PostgreSQL. */
export function describeWithPostgres(name: string, body: () => void): void {
  describeWithServices(name, { postgres: true }, body);
}

/** {@link describeWithServices} for a suite that needs Redis. */
export function describeWithRedis(name: string, body: () => void): void {
  describeWithServices(name, { redis: true }, body);
}

/** Resolves after `ms` milliseconds (for tests of time windows, never as a wait for a condition). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
