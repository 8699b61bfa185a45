import { existsSync } from 'node:fs';
import type { RunningServer } from '@hmac-kit/server';
import { memoryLimitStores, shareLimitStores } from '@hmac-kit/server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshAddress } from '../../../test-support/cli-client.js';
import { runPrefix } from '../../../test-support/redis.js';
import { describeWithServices, redisUrl } from '../../../test-support/services.js';
import { startUpstream } from '../../../test-support/upstream.js';
import { inProcessWorkerStores } from '../../../test-support/worker-stores.js';
import { CONSOLE_ASSETS } from '../src/console.js';
import {
  type ConsoleSession,
  type ConsoleSessionStore,
  memoryConsoleSessionStore,
  redisConsoleSessionStore,
} from '../src/console-sessions.js';
import { startInProcess } from './support/in-process.js';

const session = (now: number, lifetimeMs = 3600_000): ConsoleSession => ({
  principal: 'root',
  csrfToken: 'c'.repeat(43),
  createdAt: now,
  absoluteExpiresAt: now + lifetimeMs,
});

/**
 * What every session store must do: a created session is found and extended by `touch`, found
 * without being extended by `peek`, a deleted one is gone, one past its absolute end is refused (and dropped), an unknown hash finds nothing.
 */
function describeSessionStoreConformance(
  name: string,
  open: () => ConsoleSessionStore,
  idle: { realTime?: (idHash: string) => Promise<void> } = {},
) {
  describe(`console session store: ${name}`, () => {
    const hash = () => `h-${Math.random().toString(36).slice(2)}`;

    it('finds a created session, and nothing for an unknown one', async () => {
      const store = open();
      const id = hash();
      await store.create(id, session(Date.now()), 60);
      expect(await store.touch(id, 60, Date.now())).toMatchObject({ principal: 'root', csrfToken: 'c'.repeat(43) });
      expect(await store.touch(hash(), 60, Date.now())).toBeUndefined();
    });

    it('forgets a deleted session (sign-out), idempotently', async () => {
      const store = open();
      const id = hash();
      await store.create(id, session(Date.now()), 60);
      await store.delete(id);
      await store.delete(id);
      expect(await store.touch(id, 60, Date.now())).toBeUndefined();
    });

    it('refuses a session past its absolute end, however recently it was used', async () => {
      const store = open();
      const id = hash();
      const now = Date.now();
      await store.create(id, session(now, 1000), 60);
      expect(await store.touch(id, 60, now + 999)).toBeDefined();
      expect(await store.touch(id, 60, now + 1000)).toBeUndefined();
      // Dropped: even an earlier clock no longer finds it.
      expect(await store.touch(id, 60, now)).toBeUndefined();
    });

    it('ends an idle session after its idle timeout, and each use extends it', async () => {
      const store = open();
      const id = hash();
      const start = Date.now();
      await store.create(id, session(start), 1);
      if (idle.realTime) {
        // Redis expires it by TTL: wait for the key to go (without touching it, which would extend it).
        await idle.realTime(id);
      } else {
        // Memory stores decide by the time they are given: used at 0.9 s, alive until 1.9 s.
        expect(await store.touch(id, 1, start + 900)).toBeDefined();
        expect(await store.touch(id, 1, start + 1800)).toBeDefined();
      }
      expect(await store.touch(id, 1, start + 3000)).toBeUndefined();
    });

    it('peek (a background read) finds a live session without extending its idle deadline', async () => {
      const store = open();
      const id = hash();
      const start = Date.now();
      await store.create(id, session(start), 1);
      if (idle.realTime) {
        // Redis: read it over and over while the TTL runs; the key still goes at its first deadline.
        await vi.waitFor(
          async () => {
            expect(await store.peek(id, Date.now())).toBeUndefined();
          },
          { timeout: 10_000, interval: 100 },
        );
        await idle.realTime(id);
      } else {
        expect(await store.peek(id, start + 500)).toMatchObject({ principal: 'root' });
        expect(await store.peek(id, start + 900)).toMatchObject({ principal: 'root' });
        // Created with 1 s idle: the peeks at 0.5 s and 0.9 s did not move the deadline past 1 s.
        expect(await store.peek(id, start + 1000)).toBeUndefined();
        // Dropped, as touch drops it.
        expect(await store.touch(id, 1, start + 500)).toBeUndefined();
      }
      expect(await store.peek(hash(), Date.now())).toBeUndefined();
    });

    it('peek refuses a session past its absolute end', async () => {
      const store = open();
      const id = hash();
      const now = Date.now();
      await store.create(id, session(now, 1000), 60);
      expect(await store.peek(id, now + 999)).toBeDefined();
      expect(await store.peek(id, now + 1000)).toBeUndefined();
      expect(await store.peek(id, now)).toBeUndefined();
    });
  });
}

describeSessionStoreConformance('memory', () => memoryConsoleSessionStore());

/** Two workers of one supervisor (messages cloned and delivered on a later turn, as the IPC channel does). */
function workersOfOneSupervisor() {
  const shared = shareLimitStores(memoryLimitStores());
  return () => inProcessWorkerStores(shared).consoleSessions;
}

{
  const worker = workersOfOneSupervisor();
  describeSessionStoreConformance('a worker, through the supervisor', worker);
  it('a session made by one worker is seen, and its sign-out honoured, by another', async () => {
    const share = workersOfOneSupervisor();
    const [one, two] = [share(), share()];
    await one.create('cross', session(Date.now()), 60);
    expect(await two.touch('cross', 60, Date.now())).toMatchObject({ principal: 'root' });
    await two.delete('cross');
    expect(await one.touch('cross', 60, Date.now())).toBeUndefined();
  });
}

describeWithServices('console session store: Redis', { redis: true }, () => {
  const client = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
  afterAll(() => client.disconnect());
  const prefix = `${runPrefix}console:`;
  describeSessionStoreConformance('Redis', () => redisConsoleSessionStore({ client, prefix }), {
    realTime: (idHash) =>
      vi.waitFor(async () => expect(await client.exists(prefix + idHash)).toBe(0), { timeout: 10_000, interval: 100 }),
  });
  it('keeps only the hash as the key, with the idle timeout as its TTL', async () => {
    const prefix = `${runPrefix}console-ttl:`;
    const store = redisConsoleSessionStore({ client, prefix });
    await store.create('abc', session(Date.now()), 900);
    const ttl = await client.ttl(`${prefix}abc`);
    expect(ttl).toBeGreaterThan(890);
    expect(ttl).toBeLessThanOrEqual(900);
    await client.expire(`${prefix}abc`, 100);
    await store.touch('abc', 900, Date.now());
    expect(await client.ttl(`${prefix}abc`)).toBeGreaterThan(890);
    await store.delete('abc');
  });
  it('leaves the TTL alone on a background read (peek)', async () => {
    const prefix = `${runPrefix}console-peek:`;
    const store = redisConsoleSessionStore({ client, prefix });
    await store.create('abc', session(Date.now()), 900);
    await client.expire(`${prefix}abc`, 100);
    expect(await store.peek('abc', Date.now())).toMatchObject({ principal: 'root' });
    expect(await client.ttl(`${prefix}abc`)).toBeLessThanOrEqual(100);
    await store.delete('abc');
  });
  it('fails closed when Redis is unreachable', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    down.on('error', () => {});
    const store = redisConsoleSessionStore({ client: down });
    await expect(store.touch('x', 60, Date.now())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await expect(store.peek('x', Date.now())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    down.disconnect();
  });
});

describe('the console in gateway mode', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let server: RunningServer;

  beforeAll(async () => {
    upstream = await startUpstream();
    server = await startInProcess({ upstream: upstream.url });
    const keys = server.services.keyService;
    await keys.createPrincipal({ name: 'root', kind: 'user', password: 'root password', actor: 'test' });
    await keys.createKey({ principal: 'root', scopes: ['admin'], actor: 'test' });
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  it('lives under the admin prefix, with its cookie scoped there (never sent to the upstream)', async () => {
    const answer = await fetch(`${server.url}/_hmac-kit/console/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': freshAddress() },
      body: JSON.stringify({ username: 'root', password: 'root password' }),
    });
    expect(answer.status).toBe(201);
    expect(answer.headers.get('set-cookie')).toMatch(/; Path=\/_hmac-kit\/console;/);
    // /console without the prefix is the upstream's path: the gateway asks for a signature.
    const upstreamPath = await fetch(`${server.url}/console/api/session`);
    expect(upstreamPath.status).toBe(401);
    expect(upstreamPath.headers.get('content-type')).toBe('application/problem+json');
    const redirect = await fetch(`${server.url}/_hmac-kit/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/_hmac-kit/console/');
  });

  it.runIf(existsSync(new URL('index.html', CONSOLE_ASSETS)))(
    'serves the built page with a strict Content-Security-Policy',
    async () => {
      const page = await fetch(`${server.url}/_hmac-kit/console/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self';/);
      expect(page.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      const html = await page.text();
      const script = /src="\.\/(assets\/[\w.-]+\.js)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      const asset = await fetch(`${server.url}/_hmac-kit/console/${script}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toContain('immutable');
      // No way out of the assets folder.
      for (const path of ['assets/..%2F..%2Fpackage.json', 'assets/%2e%2e%2findex.html', 'assets/x.txt']) {
        expect((await fetch(`${server.url}/_hmac-kit/console/${path}`)).status, path).toBe(404);
      }
    },
  );
});
