import { StoreUnavailable } from '@hmac-kit/core';
import {
  type RedisClientLike,
  recommendedRedisOptions,
  redisFailureThrottle,
  redisNonceStore,
  redisRateLimiter,
} from '@hmac-kit/limits';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { refusedPort } from '../../../test-support/ports.js';
import {
  type CuttableProxy,
  createClient,
  deleteKeys,
  describeWithRedis,
  runPrefix,
  sleep,
  startProxy,
} from '../../../test-support/redis.js';

/** The three Redis backends over one client, each exercised once. */
function operations(client: RedisClientLike, prefix: string) {
  const nonces = redisNonceStore({ client, prefix });
  const limiter = redisRateLimiter({ client, prefix });
  const throttle = redisFailureThrottle({ client, prefix });
  let counter = 0;
  return {
    nonce: () => nonces.checkAndStore('key', `nonce-${counter++}`, 60),
    rateLimit: () => limiter.hit('key:recovery', 1000, 60),
    failure: () => throttle.recordFailure('addr:recovery'),
    blocked: () => throttle.blockedFor('addr:recovery'),
    success: () => throttle.recordSuccess('addr:recovery'),
  };
}

describe('Redis unreachable', () => {
  it('fails closed with StoreUnavailable at once when nothing listens', async () => {
    const client = new Redis(await refusedPort(), '127.0.0.1', { ...recommendedRedisOptions });
    client.on('error', () => {});
    try {
      const ops = operations(client, `${runPrefix}down:`);
      for (const operation of Object.values(ops)) {
        const error = await operation().then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(StoreUnavailable);
        expect((error as StoreUnavailable).code).toBe('ERR_STORE_UNAVAILABLE');
        expect((error as StoreUnavailable).cause).toBeInstanceOf(Error);
      }
    } finally {
      client.disconnect();
    }
  });

  it('fails closed after timeoutMs when a client never answers', async () => {
    // A client as a misconfigured server might pass: it queues commands forever.
    const neverAnswers: RedisClientLike = {
      set: () => new Promise(() => {}),
      eval: () => new Promise(() => {}),
      del: () => new Promise(() => {}),
    };
    const nonces = redisNonceStore({ client: neverAnswers, timeoutMs: 50 });
    const limiter = redisRateLimiter({ client: neverAnswers, timeoutMs: 50 });
    const throttle = redisFailureThrottle({ client: neverAnswers, timeoutMs: 50 });
    await expect(nonces.checkAndStore('k', 'n', 60)).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(limiter.hit('k', 10, 60)).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(throttle.blockedFor('s')).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(throttle.recordSuccess('s')).rejects.toBeInstanceOf(StoreUnavailable);
  });

  it('refuses a client without the needed methods with TypeError', () => {
    expect(() => redisNonceStore({ client: {} as RedisClientLike })).toThrow(TypeError);
    expect(() => redisRateLimiter({ client: null as unknown as RedisClientLike })).toThrow(TypeError);
    expect(() =>
      redisFailureThrottle({ client: { set() {}, eval() {} } as unknown as RedisClientLike, maxFailures: 3 }),
    ).toThrow(TypeError);
  });
});

describeWithRedis('Redis lost and regained', () => {
  let proxy: CuttableProxy;
  let client: Redis;
  const prefix = `${runPrefix}recovery:`;

  afterAll(async () => {
    client?.disconnect();
    await proxy?.close();
    const cleaner = createClient();
    await deleteKeys(cleaner, prefix).catch(() => {});
    cleaner.disconnect();
  });

  it('fails closed while the connection is cut and recovers by itself once it is back', async () => {
    proxy = await startProxy();
    client = new Redis(proxy.port, '127.0.0.1', { ...recommendedRedisOptions, retryStrategy: () => 50 });
    client.on('error', () => {});
    await waitFor(() => client.status === 'ready');
    const ops = operations(client, prefix);

    expect(await ops.nonce()).toBe(true);
    expect((await ops.rateLimit()).allowed).toBe(true);
    expect(await ops.failure()).toBe(0);

    proxy.cut();
    await waitFor(() => client.status !== 'ready');
    for (const operation of Object.values(ops)) {
      await expect(operation()).rejects.toBeInstanceOf(StoreUnavailable);
    }

    proxy.heal();
    // No test code reconnects: the client's retry strategy does, and the backends just work again.
    await waitFor(async () => {
      try {
        return (await ops.nonce()) === true;
      } catch {
        return false;
      }
    });
    expect((await ops.rateLimit()).allowed).toBe(true);
    // State written before the cut survived it (Redis itself never went away).
    expect(await ops.failure()).toBe(0);
    await ops.success();
    expect(await ops.blocked()).toBe(0);
  });

  it('fails the commands in flight when the connection drops instead of hanging', async () => {
    proxy ??= await startProxy();
    proxy.heal();
    const local = new Redis(proxy.port, '127.0.0.1', { ...recommendedRedisOptions, retryStrategy: () => 50 });
    local.on('error', () => {});
    try {
      await waitFor(() => local.status === 'ready');
      const ops = operations(local, prefix);
      // Cut in the same tick the commands are written: their replies cannot have arrived.
      const inFlight = local.ping();
      const nonce = ops.nonce();
      proxy.cut();
      await expect(inFlight).rejects.toThrow();
      await expect(nonce).rejects.toBeInstanceOf(StoreUnavailable);
    } finally {
      local.disconnect();
      proxy.heal();
    }
  });
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}
