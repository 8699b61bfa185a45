import { randomUUID } from 'node:crypto';
import { recommendedRedisOptions } from '@hmac-kit/limits';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, it } from 'vitest';
import { type CuttableProxy, startCuttableProxy } from '../../../../test-support/cuttable-proxy.js';

/** Where the test Redis lives; `HMAC_KIT_TEST_REDIS_URL` overrides. */
export const redisUrl = process.env.HMAC_KIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix unique to this test run, so parallel runs never see each other's keys. */
export const runPrefix = `hmac-kit-test:${randomUUID()}:`;

/** One ioredis client with the options the server is told to use. */
export function createClient(options: RedisOptions = {}): Redis {
  return new Redis(redisUrl, { ...recommendedRedisOptions, ...options });
}

async function probeRedis(): Promise<string | undefined> {
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
}

const probe = await probeRedis();

/** Whether the Redis tests can run. */
export const redisReachable = probe === undefined;

/**
 * `describe` for suites that need Redis: runs them when Redis answers; when it does not,
 * fails under `CI=true` and elsewhere skips with a visible notice.
 */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisReachable) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs Redis', () => {
        throw new Error(`Redis at ${redisUrl} is unreachable (${probe}); CI requires it`);
      });
    });
    return;
  }
  console.warn(`\n[hmac-kit] SKIPPING "${name}": Redis at ${redisUrl} is unreachable (${probe}).\n`);
  describe.skip(name, body);
}

/** Deletes every key under `prefix` (SCAN, never KEYS). */
export async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

export type { CuttableProxy } from '../../../../test-support/cuttable-proxy.js';

/** A {@link CuttableProxy} in front of the test service. */
export function startProxy(): Promise<CuttableProxy> {
  const target = new URL(redisUrl);
  return startCuttableProxy(target.hostname, Number(target.port || 6379));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
