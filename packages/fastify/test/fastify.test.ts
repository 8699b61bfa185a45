import { hmacAuth, requireScopes } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { sendOverHttp } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

async function listen(app: ReturnType<typeof Fastify>) {
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    origin: address,
    send: (request: Parameters<typeof sendOverHttp>[1]) => sendOverHttp(address, request),
    close: () => app.close(),
  };
}

// Fastify's default JSON parser stays installed: the plugin hands it the verified bytes.
describeAdapter('fastify (plugin, default JSON parser)', async (options: AuthenticatorOptions) => {
  const app = Fastify();
  await app.register(hmacAuth(options));
  app.post('/orders', { preHandler: requireScopes('orders:write') }, async (request, reply) => {
    const { principal, keyId, scopes, scheme } = request.hmac!;
    return reply.code(201).send({ principal, keyId, scopes, scheme, received: request.body });
  });
  app.get('/whoami', async (request) => request.hmac);
  app.post('/admin', { preHandler: requireScopes('admin') }, async () => ({ ok: true }));
  return listen(app);
});

describe('fastify plugin scoping', () => {
  it('covers only the context it is registered in', async () => {
    const app = Fastify();
    app.get('/health', async (request) => ({ ok: true, hmac: request.hmac }));
    await app.register(async (api) => {
      await api.register(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
      api.get('/api/whoami', async (request) => request.hmac);
    });
    const harness = await listen(app);
    try {
      const health = await harness.send({ method: 'GET', path: '/health', headers: {} });
      expect(health.status).toBe(200);
      expect(health.body).toEqual({ ok: true });
      const unsigned = await harness.send({ method: 'GET', path: '/api/whoami', headers: {} });
      expect(unsigned.status).toBe(401);
      const request = await signed(
        harness.origin,
        { method: 'GET', path: '/api/whoami', headers: {} },
        signingKey(keyRing.orders),
      );
      const ok = await harness.send(request);
      expect(ok.status).toBe(200);
      expect(ok.body.principal).toBe('billing-service');
    } finally {
      await harness.close();
    }
  });

  it('also works through app.inject()', async () => {
    const app = Fastify();
    await app.register(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/echo', async (request) => ({ body: request.body, by: request.hmac?.keyId }));
    const request = await signed(
      'http://localhost:80',
      { method: 'POST', path: '/echo', headers: { 'content-type': 'application/json' }, body: '{"n":1}' },
      signingKey(keyRing.reader),
    );
    const response = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: request.headers,
      payload: request.body,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ body: { n: 1 }, by: keyRing.reader.keyId });
    await app.close();
  });

  it('never runs the handler of a refused request, even with an async onSend hook in the app', async () => {
    const app = Fastify();
    const handled: string[] = [];
    app.addHook('onSend', async (_request, reply, payload) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      reply.header('x-on-send', 'ran');
      return payload;
    });
    await app.register(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.get('/whoami', async (request) => {
      handled.push('whoami');
      return request.hmac;
    });
    app.post('/admin', { preHandler: requireScopes('admin') }, async () => {
      handled.push('admin');
      return { ok: true };
    });
    const unsigned = await app.inject({ method: 'GET', url: '/whoami' });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.headers['x-on-send']).toBe('ran');
    expect(unsigned.json().code).toBe('signature_missing');
    const body = '{}';
    const request = await signed(
      'http://localhost:80',
      { method: 'POST', path: '/admin', headers: { 'content-type': 'application/json' }, body },
      signingKey(keyRing.orders),
    );
    const forbidden = await app.inject({ method: 'POST', url: '/admin', headers: request.headers, payload: body });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().code).toBe('scope_insufficient');
    expect(handled).toEqual([]);
    await app.close();
  });

  it('rejects misuse at construction with TypeError', () => {
    expect(() => hmacAuth({} as AuthenticatorOptions)).toThrow(TypeError);
    expect(() => requireScopes('')).toThrow(TypeError);
  });
});
