/**
 * Session 23 (helper fix23): what the log says when nonces cannot be recorded.
 *
 * - The memory nonce store refusing because its arrays could not grow (memory refused) logged no
 *   episode line, only a warn line per refused request: it now has an episode of the same shape as
 *   "full" (one warn line when it starts, one info line with the count when it records again).
 * - A real store outage (Redis down) is not an episode: each refusal keeps its warn line
 *   `authentication failed` ERR_STORE_UNAVAILABLE (only the memory store's full episodes are logged
 *   once; nonce-capacity.test.ts holds that against the real process).
 */
import { Writable } from 'node:stream';
import { createLogger, memoryLimitStores } from '@hmac-kit/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress, send, signed } from '../../../test-support/cli-client.js';
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../../../test-support/redis-server.js';
import { until } from '../../../test-support/wait.js';
import { issueKey, startInProcess } from './support/in-process.js';

const RealFloat64Array = globalThis.Float64Array;
afterEach(() => {
  globalThis.Float64Array = RealFloat64Array;
});

/** A logger writing JSON lines into an array, parsed. */
function capturingLogger(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

describe('memory nonce store that could not grow', () => {
  it('logs one warn line when the episode starts and one info line with the count when it ends', async () => {
    const { logger, lines } = capturingLogger();
    const { nonceStore } = memoryLimitStores({ nonceCapacity: 10_000, logger });
    // 128 records fill the smallest table (256 slots) to half: the 129th makes it grow.
    for (let index = 0; index < 128; index++) expect(await nonceStore.checkAndStore('k', `n${index}`, 300)).toBe(true);
    globalThis.Float64Array = new Proxy(RealFloat64Array, {
      construct(target, args: unknown[]) {
        if (typeof args[0] === 'number' && args[0] >= 512) throw new RangeError('Array buffer allocation failed');
        return Reflect.construct(target, args);
      },
    });
    for (let index = 0; index < 5; index++) {
      await expect(nonceStore.checkAndStore('k', `x${index}`, 300)).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
    }
    // Written synchronously, when the store refuses (no timer runs while allocations are refused).
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', capacity: 10_000, reason: 'memory' });
    expect(String(lines[0]?.msg)).toMatch(/^nonce store could not grow \(memory refused\): /);
    // Memory again: the next record ends the episode, with the count.
    globalThis.Float64Array = RealFloat64Array;
    expect(await nonceStore.checkAndStore('k', 'y', 300)).toBe(true);
    expect(lines[1]).toMatchObject({
      level: 'info',
      capacity: 10_000,
      refused: 5,
      msg: 'nonce store has room again after refusing requests while full',
    });
    // Neither names a key or a nonce.
    expect(JSON.stringify(lines)).not.toMatch(/"k"|x0|"y"/);
  });
});

describe.skipIf(!(await redisServerAvailable()))('serve --redis with Redis down', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('still logs each refusal at warn as ERR_STORE_UNAVAILABLE (an outage, not a full episode)', async () => {
    const { logger, lines } = capturingLogger();
    const server = await startInProcess({ redis: redis.url }, {}, { logger });
    try {
      const key = await issueKey(server, 'outage');
      await until(async () => (await fetch(`${server.url}/readyz`)).status === 200);
      await redis.stop();
      for (let index = 0; index < 3; index++) {
        const answer = await send(await signed(key, 'GET', `${server.url}/v1/whoami`), {
          'x-forwarded-for': freshAddress(),
        });
        expect(answer).toMatchObject({ status: 503, body: { code: 'store_unavailable' } });
      }
      await until(
        () => lines.filter((line) => line.code === 'ERR_STORE_UNAVAILABLE' && line.level === 'warn').length >= 3,
      );
      expect(lines.filter((line) => String(line.msg).startsWith('nonce store'))).toEqual([]);
    } finally {
      await server.close();
      await redis.restart();
    }
  });
});
