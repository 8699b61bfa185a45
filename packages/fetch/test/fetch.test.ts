import { getIdentity, hmacAuth, requireScopes } from '@hmac-kit/fetch';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import { describe, expect, it } from 'vitest';
import { received } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

function router(options: AuthenticatorOptions) {
  // In-process requests have no peer: say who sends them, as a Workers app reads CF-Connecting-IP,
  // so the failure throttle (which blocks sources, never key ids alone) has a source to block.
  const auth = hmacAuth({ ...options, sourceAddress: () => '198.51.100.20' });
  const createOrder = requireScopes('orders:write')(async (request: Request) => {
    const { principal, keyId, scopes, scheme } = getIdentity(request);
    return Response.json({ principal, keyId, scopes, scheme, received: await request.json() }, { status: 201 });
  });
  const admin = requireScopes('admin')(async () => Response.json({ ok: true }));
  return auth(async (request: Request) => {
    const { pathname } = new URL(request.url);
    if (request.method === 'POST' && pathname === '/orders') return createOrder(request);
    if (request.method === 'POST' && pathname === '/admin') return admin(request);
    if (request.method === 'GET' && pathname === '/whoami') return Response.json(getIdentity(request));
    return new Response(null, { status: 404 });
  });
}

// The wrapped handler is called with Request objects, as Workers, Deno and Bun call it.
describeAdapter('fetch (handler wrapper)', async (options: AuthenticatorOptions) => {
  const handler = router(options);
  const origin = 'https://api.example.com';
  return {
    origin,
    send: async (request) =>
      received(
        await handler(
          new Request(`${origin}${request.path}`, {
            method: request.method,
            headers: request.headers,
            body: request.body ?? null,
          }),
        ),
      ),
    close: async () => {},
  };
});

describe('fetch adapter details', () => {
  it('passes extra handler arguments through and verifies against the configured origin', async () => {
    const auth = hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), origin: 'https://api.example.com' });
    const handler = auth(
      async (request: Request, env: { greeting: string }) =>
        new Response(`${env.greeting} ${getIdentity(request).principal}`),
    );
    const request = await signed(
      'https://api.example.com',
      { method: 'GET', path: '/hi?x=1', headers: {} },
      signingKey(keyRing.orders),
    );
    // The runtime sees an internal address (behind a proxy); the client signed the public one.
    const response = await handler(new Request('http://10.0.0.5:8080/hi?x=1', { headers: request.headers }), {
      greeting: 'hello',
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello billing-service');
  });

  it('throws TypeError from getIdentity for a request that was not authenticated', () => {
    expect(() => getIdentity(new Request('https://x.example/'))).toThrow(TypeError);
  });

  it('refuses requireScopes without hmacAuth in front (fail closed)', async () => {
    const handler = requireScopes('orders:write')(async () => new Response('should not run'));
    const response = await handler(new Request('https://x.example/'));
    expect(response.status).toBe(500);
  });
});
