import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { nonceSlot } from './memory-nonce.js';
import { callRedis, type RedisBackendOptions, resolveRedisBackend } from './redis-client.js';
import { requirePositiveNumber, requireString } from './validate.js';

function checkArguments(keyId: unknown, nonce: unknown, ttlSeconds: unknown): void {
  requireString('checkAndStore: keyId', keyId);
  requireString('checkAndStore: nonce', nonce);
  requirePositiveNumber('checkAndStore: ttlSeconds', ttlSeconds);
}

/** Options of {@link redisNonceStore}. */
export type RedisNonceStoreOptions = RedisBackendOptions;

/**
 * A {@link NonceStore} in Redis, shared by every instance of a service. Each pair is one
 * key written with `SET key 1 PX ttl NX`, which is atomic: of any number of concurrent
 * callers on any number of instances exactly one sees `true`. Redis errors and timeouts
 * throw `StoreUnavailable` (fail closed).
 *
 * @example
 * import { Redis } from 'ioredis';
 * const client = new Redis(process.env.REDIS_URL!, { ...recommendedRedisOptions });
 * const nonces = redisNonceStore({ client, prefix: 'api:' });
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300);
 */
export function redisNonceStore(options: RedisNonceStoreOptions): NonceStore {
  const backend = resolveRedisBackend(options, 'redisNonceStore');
  const keyPrefix = `${backend.prefix}nonce:`;
  return {
    async checkAndStore(keyId, nonce, ttlSeconds) {
      checkArguments(keyId, nonce, ttlSeconds);
      const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
      const key = keyPrefix + nonceSlot(keyId, nonce);
      const reply = await callRedis(backend, 'SET NX', () => backend.client.set(key, '1', 'PX', ttlMs, 'NX'));
      if (reply === 'OK') return true;
      if (reply === null) return false;
      throw new StoreUnavailable('Redis SET NX returned an unexpected reply');
    },
  };
}
