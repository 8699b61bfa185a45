import { type HmacEnv, hmacAuth, requireScopes } from '@hmac-kit/hono';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { describeAdapter, resolveKey } from '../../middleware/test/support/adapter-suite.js';
import { received } from '../../middleware/test/support/http.js';

// Requests go through app.request(): Hono's own in-process entry point.
describeAdapter('hono (middleware, c.req.json())', async (options: AuthenticatorOptions) => {
  const app = new Hono<HmacEnv>();
  app.use('*', hmacAuth(options));
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

describe('hono options', () => {
  it('rejects misuse at construction with TypeError', () => {
    expect(() => hmacAuth({} as AuthenticatorOptions)).toThrow(TypeError);
    expect(() => hmacAuth({ keys: resolveKey, origin: 'https://api.example.com/path' })).toThrow(TypeError);
    expect(() => requireScopes()).toThrow(TypeError);
  });
});
