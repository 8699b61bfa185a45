import { StoreUnavailable } from '@hmac-kit/core';
import { recommendedRedisOptions, redisFailureThrottle, redisNonceStore, redisRateLimiter } from '@hmac-kit/limits';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailureThrottleConformance } from '../../../test-support/conformance/failure-throttle.js';
import { describeNonceStoreConformance } from '../../../test-support/conformance/nonce-store.js';
import { describeRateLimiterConformance } from '../../../test-support/conformance/rate-limiter.js';
import { runPrefix } from '../../../test-support/redis.js';
import {
  describeWithRedisBinaries,
  type RedisCluster,
  startRedisCluster,
  waitFor,
} from '../../../test-support/redis-cluster.js';
import { hashTagOf, luaScript, resolveRedisBackend } from '../src/redis-client.js';

describe('scripts keep their keys in one Redis Cluster slot', () => {
  it('reads the hash tag Redis Cluster hashes', () => {
    expect(hashTagOf('p:nonce:{7}:abc')).toBe('7');
    expect(hashTagOf('p:{}:x')).toBe('p:{}:x');
    expect(hashTagOf('p:{a}{b}')).toBe('a');
    expect(hashTagOf('plain')).toBe('plain');
  });

  it('refuses to run a script whose keys would land on different slots', () => {
    const script = luaScript('return 1');
    const backend = resolveRedisBackend(
      { client: { set: async () => 'OK', eval: async () => 1, del: async () => 1 } },
      'test',
    );
    expect(() => script.run(backend, 'test', ['a', 'b'], [])).toThrow(TypeError);
    expect(() => script.run(backend, 'test', ['{t}a', 'b'], [])).toThrow(TypeError);
    return expect(script.run(backend, 'test', ['{t}a', 'x{t}b'], [])).resolves.toBe(1);
  });
});

// Every Redis backend of @hmac-kit/limits, unchanged, on a real Redis Cluster of three masters
// (one replica each): a script whose keys spanned slots would fail here with CROSSSLOT.
describeWithRedisBinaries('Redis backends on a Redis Cluster', () => {
  let cluster: RedisCluster;
  let first: Cluster;
  let second: Cluster;
  const prefix = `${runPrefix}cluster:`;
  const connect = (ports: readonly number[]) =>
    new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      {
        enableOfflineQueue: false,
        scaleReads: 'master',
        redisOptions: {
          maxRetriesPerRequest: recommendedRedisOptions.maxRetriesPerRequest,
          autoResendUnfulfilledCommands: false,
          commandTimeout: recommendedRedisOptions.commandTimeout,
        },
      },
    );

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    const ports = await cluster.masterPorts();
    first = connect(ports);
    second = connect(ports.slice().reverse());
    await waitFor('cluster clients ready', async () => first.status === 'ready' && second.status === 'ready');
  }, 120_000);

  afterAll(async () => {
    first?.disconnect();
    second?.disconnect();
    await cluster?.stop();
  });

  describeNonceStoreConformance('redis cluster', {
    create: () => redisNonceStore({ client: first, prefix }),
    createSecondInstance: () => redisNonceStore({ client: second, prefix }),
    // Every master lost its keys under the prefix (restarted without persistence).
    afterLoss: async (store) => {
      const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
      for (const node of first.nodes('master')) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          for (const key of keys) await node.del(key);
        } while (cursor !== '0');
      }
      return store;
    },
  });
  describeRateLimiterConformance('redis cluster', {
    create: () => redisRateLimiter({ client: first, prefix }),
    createSecondInstance: () => redisRateLimiter({ client: second, prefix }),
  });
  describeFailureThrottleConformance('redis cluster', {
    create: (options) => redisFailureThrottle({ client: first, prefix, ...options }),
    createSecondInstance: (options) => redisFailureThrottle({ client: second, prefix, ...options }),
  });

  it('spreads nonces over every master', async () => {
    const store = redisNonceStore({ client: first, prefix: `${prefix}spread:` });
    for (let index = 0; index < 64; index++) await store.checkAndStore('key', `n${index}`, 60);
    const counts = await Promise.all(first.nodes('master').map((node) => node.dbsize()));
    expect(counts.every((count) => count > 0)).toBe(true);
  });

  it('counts a nonce only once a replica confirms it (confirmDurable), failing closed otherwise', async () => {
    const confirmed: string[] = [];
    const store = redisNonceStore({
      client: first,
      prefix: `${prefix}durable:`,
      confirmDurable: async (key) => {
        const results = await first.pipeline().exists(key).wait(1, 1000).exec();
        confirmed.push(key);
        expect(results?.[0]?.[1]).toBe(1);
        expect(results?.[1]?.[1]).toBeGreaterThanOrEqual(1);
      },
    });
    expect(await store.checkAndStore('key', 'confirmed', 60)).toBe(true);
    expect(confirmed).toHaveLength(1);
    expect(await store.checkAndStore('key', 'confirmed', 60)).toBe(false);
    // A replayed nonce is refused without asking replicas.
    expect(confirmed).toHaveLength(1);

    const unconfirmed = redisNonceStore({
      client: first,
      prefix: `${prefix}durable:`,
      confirmDurable: async () => {
        throw new Error('0 of 1 replicas acknowledged');
      },
    });
    await expect(unconfirmed.checkAndStore('key', 'unconfirmed', 60)).rejects.toBeInstanceOf(StoreUnavailable);
    // Refused (503), so never served: the record is taken back and a retry of the same request is
    // judged afresh — accepted once, then a replay like any other.
    expect(await store.checkAndStore('key', 'unconfirmed', 60)).toBe(true);
    expect(await store.checkAndStore('key', 'unconfirmed', 60)).toBe(false);
  });
});
