import { redisFailureThrottle, redisNonceStore, redisRateLimiter } from '@hmac-kit/limits';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { describeFailureThrottleConformance } from '../../../test-support/conformance/failure-throttle.js';
import { describeNonceStoreConformance } from '../../../test-support/conformance/nonce-store.js';
import { describeRateLimiterConformance } from '../../../test-support/conformance/rate-limiter.js';
import { createClient, deleteKeys, describeWithRedis, runPrefix } from '../../../test-support/redis.js';

describeWithRedis('Redis backends', () => {
  // Two connections stand for two instances of a service sharing one Redis.
  let first: Redis;
  let second: Redis;
  const prefix = `${runPrefix}conformance:`;

  beforeAll(async () => {
    first = createClient();
    second = createClient();
    // enableOfflineQueue is off: wait until both connections are ready before testing.
    await Promise.all([first, second].map((client) => waitReady(client)));
  });

  afterAll(async () => {
    await deleteKeys(first, prefix);
    first.disconnect();
    second.disconnect();
  });

  describeNonceStoreConformance('redis', {
    create: () => redisNonceStore({ client: first, prefix }),
    createSecondInstance: () => redisNonceStore({ client: second, prefix }),
    // Redis lost every key under the prefix (a restart without persistence; the instance stays up).
    afterLoss: async (store) => {
      await deleteKeys(first, prefix);
      return store;
    },
  });
  describeRateLimiterConformance('redis', {
    create: () => redisRateLimiter({ client: first, prefix }),
    createSecondInstance: () => redisRateLimiter({ client: second, prefix }),
  });
  describeFailureThrottleConformance('redis', {
    create: (options) => redisFailureThrottle({ client: first, prefix, ...options }),
    createSecondInstance: (options) => redisFailureThrottle({ client: second, prefix, ...options }),
  });
});

function waitReady(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('end', () => reject(new Error('Redis connection ended before it was ready')));
  });
}
