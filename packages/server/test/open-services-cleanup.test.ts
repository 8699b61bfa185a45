/**
 * `openServices` (session 23, helper fix23): a step of opening that throws after the key store (and
 * Redis) opened left them open: a SQLite handle (its `-wal` file never checkpointed away), Redis
 * connections with their reconnect timers, and so a process that did not exit after reporting the
 * error. Whatever opened is closed again, in reverse order, and the original error is rethrown
 * (an error while closing must not replace it).
 *
 * Against real stores: a SQLite file (closed, SQLite removes the `-wal` file) and a private
 * `redis-server` (its `CLIENT LIST` shows the connections still open).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test-support/processes.js';
import { type PrivateRedis, redisServerAvailable, startPrivateRedis } from '../../../test-support/redis-server.js';
import { until } from '../../../test-support/wait.js';
import { loadConfig, type ServerConfig, startServer } from '../src/index.js';
import { closeInReverse } from '../src/services.js';

const hasRedis = await redisServerAvailable();

function configFor(database: string, flags: Record<string, string> = {}): ServerConfig {
  return loadConfig({
    flags: {
      port: 0,
      database,
      masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
      logLevel: 'silent',
      ...flags,
    },
    env: {},
  });
}

describe('openServices closes what it opened when a later step throws', () => {
  it('closes the SQLite key store and rethrows the nonce store option refused after it opened', async () => {
    const database = join(tempDir(), 'keys.db');
    // An embedder's config (loadConfig refuses 0): the memory nonce store refuses it, after the key store opened.
    const config = { ...configFor(database), nonceCapacity: 0 };
    await expect(startServer(config)).rejects.toThrow(/maxEntries/);
    // The key store was opened (migrations ran, WAL on) and closed: the last connection's close
    // checkpoints and removes the -wal file.
    expect(existsSync(database)).toBe(true);
    expect(existsSync(`${database}-wal`)).toBe(false);
  });

  describe.skipIf(!hasRedis)('with Redis', () => {
    let redis: PrivateRedis;
    let admin: Redis;
    beforeAll(async () => {
      redis = await startPrivateRedis();
      admin = new Redis(redis.url);
      await admin.client('SETNAME', 'test-admin');
    });
    afterAll(async () => {
      admin?.disconnect();
      await redis?.stop();
    });

    /** Connections to the private Redis other than the test's own. */
    const others = async () =>
      String(await admin.client('LIST'))
        .trim()
        .split('\n')
        .filter((line) => line.length > 0 && !line.includes('name=test-admin')).length;

    it('closes the Redis connections and the key store, and rethrows the authenticator refusing its options', async () => {
      const database = join(tempDir(), 'keys.db');
      // Refused by createAuthenticator, the last step of opening: Redis and the key store are open by then.
      const config = { ...configFor(database, { redis: redis.url }), schemes: [] };
      await expect(startServer(config)).rejects.toThrow(/schemes must be a non-empty array/);
      expect(existsSync(`${database}-wal`)).toBe(false);
      await until(async () => (await others()) === 0);
    });
  });
});

describe('closeInReverse', () => {
  it('closes in reverse order, goes on past a closer that fails, and rethrows the original error', async () => {
    const order: string[] = [];
    const original = new Error('the step that failed');
    const closers = [
      () => order.push('first opened'),
      async () => {
        order.push('second opened');
        throw new Error('close failed');
      },
      () => {
        order.push('third opened');
        throw new Error('close failed synchronously');
      },
    ];
    await expect(closeInReverse(closers, { error: original })).rejects.toBe(original);
    expect(order).toEqual(['third opened', 'second opened', 'first opened']);
  });
});
