import { type RedisClientLike, redisFailureThrottle, redisNonceStore, redisRateLimiter } from '@hmac-kit/limits';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient, deleteKeys, describeWithRedis, runPrefix, sleep } from '../../../test-support/redis.js';

describeWithRedis('Redis Lua scripts', () => {
  let client: Redis;
  const prefix = `${runPrefix}scripts:`;

  beforeAll(async () => {
    client = createClient();
    while (client.status !== 'ready') await sleep(10);
  });

  afterAll(async () => {
    await deleteKeys(client, prefix);
    client.disconnect();
  });

  it('runs scripts by SHA1 when the client offers EVALSHA', async () => {
    const calls = { evalsha: 0, eval: 0 };
    const counting: RedisClientLike = {
      set: (...args) => client.set(...args),
      del: (...keys) => client.del(...keys),
      eval: (...args) => {
        calls.eval++;
        return client.eval(...args);
      },
      evalsha: (...args) => {
        calls.evalsha++;
        return client.evalsha(...args);
      },
    };
    const limiter = redisRateLimiter({ client: counting, prefix });
    for (let index = 0; index < 5; index++) await limiter.hit('key:sha', 10, 60);
    // At most the first call has to load the script; every later one goes by SHA1.
    expect(calls.evalsha).toBe(5);
    expect(calls.eval).toBeLessThanOrEqual(1);
    expect((await limiter.hit('key:sha', 10, 60)).remaining).toBe(4);
  });

  it('falls back to EVAL when Redis does not know the script (NOSCRIPT)', async () => {
    // Asking for an unknown SHA1 gets a real NOSCRIPT reply from Redis, as after SCRIPT FLUSH or a failover.
    const forgetful: RedisClientLike = {
      set: (...args) => client.set(...args),
      del: (...keys) => client.del(...keys),
      eval: (...args) => client.eval(...args),
      evalsha: (_sha1, ...rest) => client.evalsha('0'.repeat(40), ...rest),
    };
    const throttle = redisFailureThrottle({ client: forgetful, prefix, freeFailures: 1, maxFailures: 5 });
    expect(await throttle.recordFailure('addr:noscript')).toBe(0);
    expect(await throttle.recordFailure('addr:noscript')).toBeGreaterThan(0);
    expect(await throttle.blockedFor('addr:noscript')).toBeGreaterThan(0);
  });

  it('works with a client that has no EVALSHA at all', async () => {
    const minimal: RedisClientLike = {
      set: (...args) => client.set(...args),
      del: (...keys) => client.del(...keys),
      eval: (...args) => client.eval(...args),
    };
    const limiter = redisRateLimiter({ client: minimal, prefix });
    expect((await limiter.hit('key:minimal', 2, 60)).remaining).toBe(1);
    expect((await limiter.hit('key:minimal', 2, 60)).remaining).toBe(0);
    expect((await limiter.hit('key:minimal', 2, 60)).allowed).toBe(false);
  });

  it('lays keys out under the prefix with the documented names and lifetimes', async () => {
    const layoutPrefix = `${prefix}layout:`;
    const limiter = redisRateLimiter({ client, prefix: layoutPrefix });
    const throttle = redisFailureThrottle({ client, prefix: layoutPrefix });
    await limiter.hit('key:hk_1', 10, 60);
    await throttle.recordFailure('addr:192.0.2.1');
    await redisNonceStore({ client, prefix: layoutPrefix }).checkAndStore('hk_1', 'n0nce', 300);
    // Nonce keys live in one of 16 hash tags, each beside its epoch marker (no expiry: it dates the data).
    const nonceKeys = await client.keys(`${layoutPrefix}nonce:{*}:4:hk_1:n0nce`);
    expect(nonceKeys).toHaveLength(1);
    const tag = /nonce:\{(\d+)\}:/.exec(nonceKeys[0]!)?.[1];
    expect(Number(tag)).toBeLessThan(16);
    expect(await client.pttl(`${layoutPrefix}nonce:{${tag}}:epoch`)).toBe(-1);
    const nonceTtl = await client.pttl(nonceKeys[0]!);
    expect(nonceTtl).toBeGreaterThan(0);
    expect(nonceTtl).toBeLessThanOrEqual(300_000);
    const rateTtl = await client.pttl(`${layoutPrefix}rate:key:hk_1`);
    expect(rateTtl).toBeGreaterThan(0);
    expect(rateTtl).toBeLessThanOrEqual(6_000);
    const failTtl = await client.pttl(`${layoutPrefix}fail:addr:192.0.2.1`);
    expect(failTtl).toBeGreaterThan(0);
    expect(failTtl).toBeLessThanOrEqual(6_001);
    expect(await client.hkeys(`${layoutPrefix}fail:addr:192.0.2.1`)).toEqual(
      expect.arrayContaining(['level', 'updated', 'until']),
    );
  });
});
