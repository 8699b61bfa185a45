/**
 * Adversarial review of the nonce store gauges (session 22, helper review22).
 *
 * - `StartOptions.metrics` lets an embedder keep one registry across a restart of the server in the
 *   same process (a reload, a test harness): the second start registered
 *   `hmac_kit_nonce_store_entries` again and threw "already been registered" from inside
 *   `openServices`, after the key store had been opened. The gauges must follow the latest store.
 * - The gauges carry numbers only: no key id, no nonce, no label.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../../../test-support/redis-server.js';
import type { RunningServer } from '../src/app.js';
import { createMetrics } from '../src/metrics.js';
import { startInProcess } from './support/in-process.js';

const hasRedisServer = await redisServerAvailable();

const value = (text: string, name: string) =>
  Number(
    text
      .split('\n')
      .find((line) => line.startsWith(`${name} `))
      ?.split(' ')
      .pop(),
  );

describe('nonce store gauges (review22)', () => {
  const running: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.close()));
  });

  it('a restart with the same metrics starts, and the gauges read the new store', async () => {
    const metrics = createMetrics();
    const first = await startInProcess({ nonceCapacity: '7' }, {}, { metrics });
    await first.close();
    const second = await startInProcess({ nonceCapacity: '9' }, {}, { metrics });
    running.push(second);
    const text = await metrics.registry.metrics();
    expect(value(text, 'hmac_kit_nonce_store_capacity')).toBe(9);
    expect(value(text, 'hmac_kit_nonce_store_entries')).toBe(0);
    // One series each, no labels (nothing about a key or a nonce).
    expect(text.split('\n').filter((line) => line.startsWith('hmac_kit_nonce_store_'))).toEqual([
      'hmac_kit_nonce_store_entries 0',
      'hmac_kit_nonce_store_capacity 9',
    ]);
  });

  describe.skipIf(!hasRedisServer)('a restart that switches stores (session 23, fix23)', () => {
    let redis: PrivateRedis;
    beforeAll(async () => {
      redis = await startPrivateRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('memory, then --redis, then memory again on one registry: absent with Redis, the new store after', async () => {
      // Before: the second start (Redis) left the gauges reading the first start's memory store,
      // which no request reached any more (entries 1 and capacity 7 for a server without it).
      const metrics = createMetrics();
      const first = await startInProcess({ nonceCapacity: '7' }, {}, { metrics });
      await first.close();
      const second = await startInProcess({ redis: redis.url }, {}, { metrics });
      try {
        const text = await metrics.registry.metrics();
        expect(text).toContain('hmac_kit_connections_open');
        expect(text).not.toContain('hmac_kit_nonce_store');
      } finally {
        await second.close();
      }
      const third = await startInProcess({ nonceCapacity: '11' }, {}, { metrics });
      running.push(third);
      const text = await metrics.registry.metrics();
      expect(value(text, 'hmac_kit_nonce_store_capacity')).toBe(11);
      expect(value(text, 'hmac_kit_nonce_store_entries')).toBe(0);
    });
  });
});
