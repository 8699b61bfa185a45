import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey, send, signed } from '../../../test-support/cli-client.js';
import { startTcpProxy, type TcpProxy } from '../../../test-support/cuttable-proxy.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../test-support/processes.js';
import { describeWithServices, pgUrl, redisUrl } from '../../../test-support/services.js';

const ORIGIN = 'https://api.example.com';

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await probe();
  }
  return value;
}

// Two real `hmac-kit serve` processes sharing one PostgreSQL database and one Redis, each
// reached through a TCP proxy the tests can cut to take a store down.
describeWithServices('two instances on PostgreSQL + Redis', { postgres: true, redis: true }, () => {
  const databaseName = `hmac_kit_server_${randomBytes(6).toString('hex')}`;
  const masterKeys = `mk-test:${randomBytes(32).toString('base64')}`;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;
  let databaseUrl: string;
  let a: ServeProcess;
  let b: ServeProcess;
  let admin: IssuedKey;
  let alice: IssuedKey;
  const env = () => ({ HMAC_KIT_MASTER_KEYS: masterKeys });

  beforeAll(async () => {
    buildOnce();
    const admin_ = new pg.Client({ connectionString: pgUrl });
    await admin_.connect();
    await admin_.query(`create database ${databaseName}`);
    await admin_.end();
    const pgTarget = new URL(pgUrl);
    const redisTarget = new URL(redisUrl);
    pgProxy = await startTcpProxy(pgTarget.hostname, Number(pgTarget.port || 5432));
    redisProxy = await startTcpProxy(redisTarget.hostname, Number(redisTarget.port || 6379));
    const direct = new URL(pgUrl);
    direct.pathname = `/${databaseName}`;
    const proxied = new URL(direct);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(pgProxy.port);
    databaseUrl = proxied.toString();
    admin = await createKeyWithCli(databaseUrl, 'root', ['--scope', 'admin'], env());
    alice = await createKeyWithCli(databaseUrl, 'alice', [], env());
    const args = [
      '--db',
      databaseUrl,
      '--redis',
      `redis://127.0.0.1:${redisProxy.port}`,
      '--schemes',
      'rfc9421',
      '--public-origin',
      ORIGIN,
    ];
    const cwd = tempDir();
    [a, b] = await Promise.all([startServe(args, { cwd, env: env() }), startServe(args, { cwd, env: env() })]);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await pgProxy?.close();
    await redisProxy?.close();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop database if exists ${databaseName} with (force)`);
    await client.end();
  });

  /** Signs for the public origin and sends to one instance. */
  async function call(instance: ServeProcess, key: IssuedKey, method = 'GET', path = '/v1/whoami', body?: unknown) {
    const request = await signed(
      key,
      method,
      `${ORIGIN}${path}`,
      body === undefined ? {} : { body: JSON.stringify(body) },
    );
    request.url = `${instance.url}${path}`;
    return send(request, { 'x-forwarded-for': freshAddress() });
  }

  it('verifies on both instances and reports both stores ready', async () => {
    expect((await call(a, alice)).status).toBe(200);
    expect((await call(b, alice)).status).toBe(200);
    const ready = (await (await fetch(`${a.url}/readyz`)).json()) as { checks: Record<string, string> };
    expect(ready.checks).toEqual({ database: 'ok', redis: 'ok' });
  });

  it('lets exactly one of two identical requests sent at the same moment to both instances pass', async () => {
    for (let round = 0; round < 5; round++) {
      const request = await signed(alice, 'GET', `${ORIGIN}/v1/whoami`);
      const results = await Promise.all(
        [a, b].map((instance) =>
          send({ ...request, url: `${instance.url}/v1/whoami` }, { 'x-forwarded-for': freshAddress() }),
        ),
      );
      const statuses = results.map((result) => result.status).sort();
      expect(statuses).toEqual([200, 401]);
      expect(results.find((result) => result.status === 401)?.body.code).toBe('nonce_replayed');
    }
  });

  it('refuses on instance B a key revoked through the admin API of instance A', async () => {
    const bob = await createKeyWithCli(databaseUrl, 'bob', [], env());
    expect((await call(b, bob)).status).toBe(200);
    const revoked = await call(a, admin, 'POST', `/v1/admin/keys/${bob.keyId}/revoke`, {});
    expect(revoked.status).toBe(200);
    const started = Date.now();
    const onB = await until(
      () => call(b, bob),
      (result) => result.status === 401,
      3000,
    );
    expect(onB.status).toBe(401);
    console.info(`[hmac-kit] revocation seen on instance B after ${Date.now() - started} ms`);
  });

  it('shares rate limits between instances', async () => {
    const limited = await createKeyWithCli(databaseUrl, 'carol', ['--rate-limit', '3/1m'], env());
    const statuses = [];
    for (const instance of [a, b, a, b]) statuses.push((await call(instance, limited)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('answers 503 store_unavailable while Redis is down and recovers by itself', async () => {
    await redisProxy.down();
    try {
      const down = await call(a, alice);
      expect(down.status).toBe(503);
      expect(down.body.code).toBe('store_unavailable');
      expect((await fetch(`${a.url}/readyz`)).status).toBe(503);
    } finally {
      await redisProxy.up();
    }
    const recovered = await until(
      () => call(a, alice),
      (result) => result.status === 200,
      10_000,
    );
    expect(recovered.status).toBe(200);
  });

  it('answers 503 store_unavailable while PostgreSQL is down and recovers by itself', async () => {
    const dave = await createKeyWithCli(databaseUrl, 'dave', [], env());
    await pgProxy.down();
    try {
      // An uncached key must be looked up: refused at once. Cached keys stop being trusted
      // once the change feed is stale, so every request fails closed shortly after.
      const uncached = await call(b, dave);
      expect(uncached.status).toBe(503);
      expect(uncached.body.code).toBe('store_unavailable');
      const cached = await until(
        () => call(a, alice),
        (result) => result.status === 503,
        15_000,
      );
      expect(cached.status).toBe(503);
      expect((await fetch(`${b.url}/readyz`)).status).toBe(503);
    } finally {
      await pgProxy.up();
    }
    const recovered = await until(
      () => call(b, dave),
      (result) => result.status === 200,
      15_000,
    );
    expect(recovered.status).toBe(200);
  });
});
