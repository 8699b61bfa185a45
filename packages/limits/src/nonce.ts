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
export interface RedisNonceStoreOptions extends RedisBackendOptions {
  /**
   * Awaited after a nonce is recorded and before it counts as new, with the nonce's Redis key:
   * the place to make sure the record survives a failover (Redis replicates asynchronously, so a
   * master that dies right after the write can take the nonce with it, and the promoted replica
   * would accept the replay). Typically `WAIT` for a replica on the key's node, checking the key is
   * still there. A rejection (or no answer within `timeoutMs`) fails closed: `StoreUnavailable`.
   */
  confirmDurable?: (key: string) => Promise<void>;
}

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
  const { confirmDurable } = options;
  if (confirmDurable !== undefined && typeof confirmDurable !== 'function') {
    throw new TypeError('redisNonceStore: options.confirmDurable must be a function');
  }
  return {
    async checkAndStore(keyId, nonce, ttlSeconds) {
      checkArguments(keyId, nonce, ttlSeconds);
      const ttlMs = Math.max(1, Math.ceil(ttlSeconds * 1000));
      const key = keyPrefix + nonceSlot(keyId, nonce);
      const reply = await callRedis(backend, 'SET NX', () => backend.client.set(key, '1', 'PX', ttlMs, 'NX'));
      if (reply === 'OK') {
        if (confirmDurable) await callRedis(backend, 'replica confirmation', () => confirmDurable(key));
        return true;
      }
      if (reply === null) return false;
      throw new StoreUnavailable('Redis SET NX returned an unexpected reply');
    },
  };
}
