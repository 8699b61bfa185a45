import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { hmacAuth, requireScopes } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { sendOverHttp, sendRawTarget } from '../../../test-support/adapter-http.js';
import type { SentRequest } from '../../../test-support/adapter-suite.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

async function listen(app: ReturnType<typeof Fastify>) {
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    origin: address,
    send: (request: Parameters<typeof sendOverHttp>[1]) => sendOverHttp(address, request),
    sendRawTarget: (request: Parameters<typeof sendOverHttp>[1], target: string) =>
      sendRawTarget(address, request, target),
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

/**
 * One HTTP/1.1 exchange over a bare socket: the head and body in one write (node:http has the
 * whole body buffered when the plugin looks: it is taken and put back), or the body only once the
 * app has the head (`arrived`: the plugin then reads it off the stream and replays it).
 */
async function exchange(
  port: number,
  request: SentRequest,
  split: { arrived: Promise<void> } | undefined,
): Promise<{ status: number; body: string }> {
  const body = Buffer.from(request.body ?? '');
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close'];
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${body.length}`, '', '');
  const head = Buffer.from(lines.join('\r\n'));
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve, reject) => {
    socket.on('end', () => resolve());
    socket.on('error', reject);
  });
  if (split === undefined) socket.write(Buffer.concat([head, body]));
  else {
    socket.write(head);
    await split.arrived;
    socket.write(body);
  }
  await closed;
  const text = Buffer.concat(chunks).toString('utf8');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

describe('fastify plugin: the body taken from the complete request vs read off the stream', () => {
  async function start(options: Partial<AuthenticatorOptions> = {}) {
    const app = Fastify();
    const paths: string[] = [];
    const handled: unknown[] = [];
    let onArrival: () => void = () => {};
    app.addHook('onRequest', (_request, _reply, done) => {
      onArrival();
      done();
    });
    await app.register(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), ...options }));
    // Which way the plugin got the body: left in (or taken from and put back in) request.raw, which
    // Fastify's parser then reads, or read off it and handed on as a replacement payload stream.
    app.addHook('preParsing', (request, _reply, payload, done) => {
      paths.push(payload === request.raw ? 'taken' : 'read');
      done(null, payload);
    });
    app.post('/orders', async (request) => {
      handled.push(request.body);
      return { received: request.body, by: request.hmac?.keyId };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const arrival = () => ({
      arrived: new Promise<void>((resolve) => {
        onArrival = resolve;
      }),
    });
    return { app, port, paths, handled, arrival };
  }

  it('hands the parser exactly the verified body either way, and refuses a tampered one either way', async () => {
    const { app, port, paths, handled, arrival } = await start();
    try {
      const body = JSON.stringify({ quantity: 3, note: 'ünïcödé', items: Array.from({ length: 40 }, (_, i) => i) });
      const sign = () =>
        signed(
          `http://127.0.0.1:${port}`,
          { method: 'POST', path: '/orders?x=1', headers: { 'content-type': 'application/json' }, body },
          signingKey(keyRing.orders),
        );
      const whole = await exchange(port, await sign(), undefined);
      const streamed = await exchange(port, await sign(), arrival());
      expect(whole.status).toBe(200);
      expect(streamed.status).toBe(200);
      expect(JSON.parse(whole.body)).toEqual({ received: JSON.parse(body), by: keyRing.orders.keyId });
      expect(JSON.parse(streamed.body)).toEqual(JSON.parse(whole.body));
      expect(paths).toEqual(['taken', 'read']);

      // Same length, other bytes: the digest no longer matches; the handler never sees them.
      const tampered = async () => ({ ...(await sign()), body: body.replace('"quantity":3', '"quantity":9') });
      const wholeTampered = await exchange(port, await tampered(), undefined);
      const streamedTampered = await exchange(port, await tampered(), arrival());
      expect(wholeTampered.status).toBe(401);
      expect(streamedTampered.status).toBe(401);
      expect(JSON.parse(wholeTampered.body).code).toBe(JSON.parse(streamedTampered.body).code);
      expect(handled).toHaveLength(2);
    } finally {
      await app.close();
    }
  });
  describe('fastify plugin: the refusals, the body taken vs read off the stream', () => {
    const body = JSON.stringify({ quantity: 3, items: Array.from({ length: 40 }, (_, i) => i) });
    const request = (port: number, key = keyRing.orders, text = body) =>
      signed(
        `http://127.0.0.1:${port}`,
        { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: text },
        signingKey(key),
      );

    /** Sends `make()` both ways (whole, then the body after the head) and returns both answers. */
    async function bothWays(
      maxBodyBytes: number | undefined,
      make: (port: number) => Promise<SentRequest>,
      throttled = false,
    ) {
      const options: Partial<AuthenticatorOptions> = maxBodyBytes === undefined ? {} : { maxBodyBytes };
      if (throttled) {
        // Every source blocked: the gate refuses before anything else.
        options.failureThrottle = {
          blockedFor: async () => 30,
          recordFailure: async () => 30,
          recordSuccess: async () => {},
        };
      }
      const { app, port, paths, handled, arrival } = await start(options);
      try {
        const whole = await exchange(port, await make(port), undefined);
        const streamed = await exchange(port, await make(port), arrival());
        expect(handled).toHaveLength(0);
        return { whole, streamed, paths };
      } finally {
        await app.close();
      }
    }

    it('answers an unknown key id, an over-long body and a blocked source the same either way', async () => {
      const unknownKey = { ...keyRing.orders, keyId: 'hk_nobody_knows_this' };
      const cases = [
        { name: 'unknown key', max: undefined, make: (port: number) => request(port, unknownKey), status: 401 },
        { name: 'over the limit', max: 64, make: (port: number) => request(port), status: 413 },
        { name: 'blocked source', max: undefined, make: (port: number) => request(port), status: 429, throttled: true },
      ];
      for (const { name, max, make, status, throttled } of cases) {
        const { whole, streamed } = await bothWays(max, make, throttled);
        expect([name, whole.status]).toEqual([name, status]);
        expect([name, streamed.status]).toEqual([name, status]);
        expect(JSON.parse(whole.body)).toEqual(JSON.parse(streamed.body));
      }
    });
  });
});

describe('fastify plugin: the request target', () => {
  it('verifies an absolute-form target against the configured origin, not the authority the client wrote', async () => {
    const app = Fastify();
    await app.register(
      hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), origin: 'https://api.example.com' }),
    );
    app.get('/whoami', async (request) => ({ by: request.hmac?.keyId }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    try {
      const request = { method: 'GET', path: '/whoami', headers: {} };
      // Signed for another service that accepts the same key: its signature must not verify here,
      // whatever authority the request line names.
      const elsewhere = await signed('https://other.example', request, signingKey(keyRing.orders));
      const replayed = await exchange(port, { ...elsewhere, path: 'https://other.example/whoami' }, undefined);
      expect(replayed.status).toBe(401);
      // A client that writes the absolute form of this service's own URL is served as usual.
      const here = await signed('https://api.example.com', request, signingKey(keyRing.orders));
      const absolute = await exchange(port, { ...here, path: 'https://api.example.com/whoami' }, undefined);
      expect(absolute.status).toBe(200);
      expect(JSON.parse(absolute.body)).toEqual({ by: keyRing.orders.keyId });
      const origin = await exchange(
        port,
        await signed('https://api.example.com', request, signingKey(keyRing.orders)),
        undefined,
      );
      expect(origin.status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
