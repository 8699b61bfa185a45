import type { AddressInfo } from 'node:net';
import type { FailureThrottle } from '@hmac-kit/core';
import { type HmacEnv, hmacAuth, requireScopes } from '@hmac-kit/hono';
import { memoryFailureThrottle, memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { received, sendOverHttp } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

// Requests go through app.request(): Hono's own in-process entry point.
describeAdapter('hono (middleware, c.req.json())', async (options: AuthenticatorOptions) => {
  const app = new Hono<HmacEnv>();
  // app.request() has no socket: name the sender so the failure throttle (which blocks sources,
  // never key ids alone) has a source to block.
  app.use('*', hmacAuth({ ...options, sourceAddress: () => '198.51.100.21' }));
  app.post('/orders', requireScopes('orders:write'), async (c) => {
    const { principal, keyId, scopes, scheme } = c.var.hmac;
    return c.json({ principal, keyId, scopes, scheme, received: await c.req.json() }, 201);
  });
  app.get('/whoami', (c) => c.json(c.get('hmac')));
  app.post('/admin', requireScopes('admin'), (c) => c.json({ ok: true }));
  const origin = 'http://localhost';
  return {
    origin,
    send: async (request) =>
      received(
        await app.request(`${origin}${request.path}`, {
          method: request.method,
          headers: request.headers,
          body: request.body ?? null,
        }),
      ),
    close: async () => {},
  };
});

describe('hono under @hono/node-server', () => {
  it('reads the client address from the socket for the failure throttle', async () => {
    const real = memoryFailureThrottle();
    const subjects: string[] = [];
    const throttle: FailureThrottle = {
      blockedFor: (subject) => real.blockedFor(subject),
      recordSuccess: (subject) => real.recordSuccess(subject),
      recordFailure: (subject) => {
        subjects.push(subject);
        return real.recordFailure(subject);
      },
    };
    const app = new Hono<HmacEnv>();
    app.use('*', hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), failureThrottle: throttle }));
    app.get('/whoami', (c) => c.json(c.var.hmac));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const listening = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(listening));
    });
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const wrong = { keyId: 'hk_test_unknown', secret: new Uint8Array(32), algorithm: 'sha256' as const };
      const refused = await sendOverHttp(
        origin,
        await signed(origin, { method: 'GET', path: '/whoami', headers: {} }, wrong),
      );
      expect(refused.status).toBe(401);
      expect(subjects).toContainEqual(expect.stringMatching(/^addr:(::ffff:)?127\.0\.0\.1$/));
      // The pair (address, key id), never the key id alone.
      expect(subjects).toContainEqual(expect.stringMatching(/^addr\+name:\d+:(::ffff:)?127\.0\.0\.1:hk_test_unknown$/));
      expect(subjects.filter((subject) => subject.includes('hk_test_unknown'))).toHaveLength(1);
      const ok = await sendOverHttp(
        origin,
        await signed(origin, { method: 'GET', path: '/whoami', headers: {} }, signingKey(keyRing.orders)),
      );
      expect(ok).toMatchObject({ status: 200, body: { principal: 'billing-service' } });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('hono body handling', () => {
  it('refuses (500, fail closed) when a middleware read the body before hmacAuth', async () => {
    const messages: string[] = [];
    const app = new Hono<HmacEnv>();
    app.use('*', async (c, next) => {
      await c.req.raw.clone().text();
      await c.req.raw.text();
      await next();
    });
    app.use(
      '*',
      hmacAuth({
        keys: resolveKey,
        nonceStore: memoryNonceStore(),
        onFailure: (error) => messages.push((error as Error).message),
      }),
    );
    app.post('/orders', (c) => c.json({ ok: true }));
    const origin = 'http://localhost';
    const request = await signed(
      origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{}' },
      signingKey(keyRing.orders),
    );
    const response = await app.request(`${origin}/orders`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
    });
    expect(response.status).toBe(500);
    expect(messages[0]).toMatch(/read before it could be verified/);
  });
});

describe('hono options', () => {
  it('rejects misuse at construction with TypeError', () => {
    expect(() => hmacAuth({} as AuthenticatorOptions)).toThrow(TypeError);
    expect(() => hmacAuth({ keys: resolveKey, origin: 'https://api.example.com/path' })).toThrow(TypeError);
    expect(() => requireScopes()).toThrow(TypeError);
  });
});
