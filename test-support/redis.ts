import { randomUUID } from 'node:crypto';
import { recommendedRedisOptions } from '@hmac-kit/limits';
import { Redis, type RedisOptions } from 'ioredis';
import { type CuttableProxy, startCuttableProxy } from './cuttable-proxy.js';
import { redisUrl } from './services.js';

/** Redis test helpers: clients, a key prefix per run, clean-up, and a cuttable proxy in front of the server. */

export type { CuttableProxy } from './cuttable-proxy.js';
export { describeWithRedis, redisReachable, redisUrl, sleep } from './services.js';

/** A key prefix unique to this test run, so parallel runs never see each other's keys. */
export const runPrefix = `hmac-kit-test:${randomUUID()}:`;

/** One ioredis client with the options the server is told to use. */
export function createClient(options: RedisOptions = {}): Redis {
  return new Redis(redisUrl, { ...recommendedRedisOptions, ...options });
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

/** A {@link CuttableProxy} in front of the test Redis. */
export function startProxy(): Promise<CuttableProxy> {
  const target = new URL(redisUrl);
  return startCuttableProxy(target.hostname, Number(target.port || 6379));
}
