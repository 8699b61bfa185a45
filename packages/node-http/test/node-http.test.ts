import { createServer } from 'node:http';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { hmacAuth, withHmacAuth } from '@hmac-kit/node-http';
import { describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

function json(res: import('node:http').ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

describeAdapter('node:http (hmacAuth(req, res))', async (options: AuthenticatorOptions) => {
  const auth = hmacAuth(options);
  const server = createServer(async (req, res) => {
    const result = await auth(req, res);
    if (!result) return;
    const { identity, rawBody } = result;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path === '/orders') {
      if (!auth.requireScopes(res, identity, 'orders:write')) return;
      const { principal, keyId, scopes, scheme } = identity;
      json(res, 201, { principal, keyId, scopes, scheme, received: JSON.parse(rawBody.toString('utf8')) });
    } else if (req.method === 'GET' && path === '/whoami') {
      json(res, 200, identity);
    } else if (req.method === 'POST' && path === '/admin') {
      if (!auth.requireScopes(res, identity, 'admin')) return;
      json(res, 200, { ok: true });
    } else {
      json(res, 404, {});
    }
  });
  return listening(server);
});

describe('withHmacAuth', () => {
  it('runs the handler only for authenticated requests and turns its errors into a 500 problem', async () => {
    const errors: unknown[] = [];
    const server = createServer(
      withHmacAuth(
        { keys: resolveKey, nonceStore: memoryNonceStore(), onError: (error) => errors.push(error) },
        (req, res, { identity }) => {
          if (req.url === '/boom') throw new Error('handler bug');
          res.end(`hello ${identity.principal}`);
        },
      ),
    );
    const harness = await listening(server);
    try {
      const hello = await harness.send(
        await signed(harness.origin, { method: 'GET', path: '/hello', headers: {} }, signingKey(keyRing.orders)),
      );
      expect(hello).toMatchObject({ status: 200, body: 'hello billing-service' });
      const boom = await harness.send(
        await signed(harness.origin, { method: 'GET', path: '/boom', headers: {} }, signingKey(keyRing.orders)),
      );
      expect(boom.status).toBe(500);
      expect(boom.body.code).toBe('internal_error');
      expect(JSON.stringify(boom.body)).not.toContain('handler bug');
      expect(errors).toHaveLength(1);
      const unsigned = await harness.send({ method: 'GET', path: '/hello', headers: {} });
      expect(unsigned.status).toBe(401);
    } finally {
      await harness.close();
    }
  });

  it('rejects misuse at construction with TypeError', () => {
    expect(() => hmacAuth({} as AuthenticatorOptions)).toThrow(TypeError);
    expect(() => withHmacAuth({ keys: resolveKey }, undefined as never)).toThrow(TypeError);
  });
});
