import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { callRedis, type RedisBackendOptions, resolveRedisBackend } from './redis-client.js';
import { requireClock, requirePositiveInteger, requirePositiveNumber, requireString } from './validate.js';

/** Options of {@link memoryNonceStore}. */
export interface MemoryNonceStoreOptions {
  /**
   * Most (key id, nonce) pairs held at once. Size it above peak requests per second
   * times the acceptance window. Default 100 000.
   */
  maxEntries?: number;
  /** Current time in milliseconds (like `Date.now`); injectable for tests. */
  now?: () => number;
}

/**
 * The one key a (key id, nonce) pair is stored under. The key id is length-prefixed so
 * that `("a:b", "c")` and `("a", "b:c")` never collide.
 */
function nonceSlot(keyId: string, nonce: string): string {
  return `${keyId.length}:${keyId}:${nonce}`;
}

function checkArguments(keyId: unknown, nonce: unknown, ttlSeconds: unknown): void {
  requireString('checkAndStore: keyId', keyId);
  requireString('checkAndStore: nonce', nonce);
  requirePositiveNumber('checkAndStore: ttlSeconds', ttlSeconds);
}

/**
 * A {@link NonceStore} in process memory, for a single instance. Entries expire after
 * `ttlSeconds`; expired entries are dropped first. When the store is full of entries that
 * are all still inside their window it throws `StoreUnavailable` rather than evicting one:
 * forgetting an unexpired nonce would let that request be replayed.
 *
 * @example
 * const nonces = memoryNonceStore({ maxEntries: 50_000 });
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300); // true
 * await nonces.checkAndStore('hk_live_1', 'b3k2...', 300); // false: replayed
 */
export function memoryNonceStore(options: MemoryNonceStoreOptions = {}): NonceStore {
  const maxEntries = requirePositiveInteger('memoryNonceStore: options.maxEntries', options.maxEntries ?? 100_000);
  const now = requireClock('memoryNonceStore: options.now', options.now ?? Date.now);
  const expiries = new Map<string, number>();
  // A binary min-heap on expiry so that dropping expired entries costs O(log n) each.
  const heapExpiry: number[] = [];
  const heapSlot: string[] = [];

  function heapPush(expiresAt: number, slot: string): void {
    let index = heapExpiry.length;
    heapExpiry.push(expiresAt);
    heapSlot.push(slot);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heapExpiry[parent]! <= expiresAt) break;
      heapExpiry[index] = heapExpiry[parent]!;
      heapSlot[index] = heapSlot[parent]!;
      index = parent;
    }
    heapExpiry[index] = expiresAt;
    heapSlot[index] = slot;
  }

  function heapPop(): void {
    const lastExpiry = heapExpiry.pop()!;
    const lastSlot = heapSlot.pop()!;
    const size = heapExpiry.length;
    if (size === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && heapExpiry[right]! < heapExpiry[left]! ? right : left;
      if (heapExpiry[child]! >= lastExpiry) break;
      heapExpiry[index] = heapExpiry[child]!;
      heapSlot[index] = heapSlot[child]!;
      index = child;
    }
    heapExpiry[index] = lastExpiry;
    heapSlot[index] = lastSlot;
  }

  function dropExpired(at: number): void {
    while (heapExpiry.length > 0 && heapExpiry[0]! <= at) {
      expiries.delete(heapSlot[0]!);
      heapPop();
    }
  }

  return {
    async checkAndStore(keyId, nonce, ttlSeconds) {
      checkArguments(keyId, nonce, ttlSeconds);
      const at = now();
      dropExpired(at);
      const slot = nonceSlot(keyId, nonce);
      // Every entry left after dropExpired is unexpired, so presence means replay.
      if (expiries.has(slot)) return false;
      if (expiries.size >= maxEntries) {
        throw new StoreUnavailable(`memory nonce store is full (${maxEntries} unexpired entries)`);
      }
      const expiresAt = at + ttlSeconds * 1000;
      expiries.set(slot, expiresAt);
      heapPush(expiresAt, slot);
      return true;
    },
  };
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
