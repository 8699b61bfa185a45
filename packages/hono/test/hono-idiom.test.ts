import { type HmacAuthOptions, type HmacEnv, type HmacIdentity, hmacAuth, requireScopes } from '@hmac-kit/hono';
import { memoryNonceStore } from '@hmac-kit/limits';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

// Issue #16, Hono's idiom (its bearer-auth middleware is the model): the middleware is generic over
// the app's Env and fails with HTTPException({ res }), so app.onError sees every refusal.

const origin = 'http://localhost';

interface AppEnv {
  Bindings: { PUBLIC_ORIGIN: string };
  Variables: { requestId: string };
}

describe('hono refusals are HTTPExceptions that app.onError sees', () => {
  function appWithOnError(seen: HTTPException[]) {
    const app = new Hono<HmacEnv>();
    app.use('*', hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), sourceAddress: () => '198.51.100.40' }));
    app.post('/orders', requireScopes('orders:write'), (c) => c.json({ by: c.var.hmac.principal }, 201));
    app.onError((error, c) => {
      if (error instanceof HTTPException) {
        seen.push(error);
        // The app decides: here it adds a header and sends the problem+json response as it is.
        const response = error.getResponse();
        response.headers.set('x-seen-by', 'onError');
        return response;
      }
      return c.text('unexpected', 500);
    });
    return app;
  }

  it('an unsigned request: onError gets a 401 HTTPException whose response is the problem+json answer', async () => {
    const seen: HTTPException[] = [];
    const response = await appWithOnError(seen).request(`${origin}/orders`, { method: 'POST', body: '{}' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.status).toBe(401);
    expect(response.status).toBe(401);
    expect(response.headers.get('x-seen-by')).toBe('onError');
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.headers.get('www-authenticate')).toMatch(/^Signature /);
    expect(await response.json()).toMatchObject({ status: 401, code: 'signature_missing' });
  });

  it('a key without the scope: onError gets the 403 from requireScopes', async () => {
    const seen: HTTPException[] = [];
    // The app (and its replay store) exists before the request is signed, as a running server does:
    // a memory replay store refuses signatures created before the second it began (signature_expired,
    // a possible replay from before a restart), which a second boundary between the signature and the
    // store's creation made this test meet now and then.
    const app = appWithOnError(seen);
    const request = await signed(
      origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{}' },
      signingKey(keyRing.reader),
    );
    const response = await app.request(`${origin}/orders`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
    });
    expect(seen.map((error) => error.status)).toEqual([403]);
    expect(await response.json()).toMatchObject({ status: 403, code: 'scope_insufficient' });
  });

  it('without onError, Hono sends the same problem+json response (the default handler)', async () => {
    const app = new Hono<HmacEnv>();
    app.use('*', hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), sourceAddress: () => '198.51.100.41' }));
    app.get('/whoami', (c) => c.json(c.var.hmac));
    const response = await app.request(`${origin}/whoami`);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ code: 'signature_missing' });
  });

  it("the callbacks get the app's context: typed bindings reach origin()", async () => {
    const app = new Hono<AppEnv & HmacEnv>();
    app.use(
      '*',
      hmacAuth<AppEnv>({
        keys: resolveKey,
        nonceStore: memoryNonceStore(),
        origin: (c) => c.env.PUBLIC_ORIGIN,
        sourceAddress: () => '198.51.100.42',
      }),
    );
    app.get('/whoami', (c) => c.json({ principal: c.var.hmac.principal }));
    const publicOrigin = 'https://api.example.com';
    const request = await signed(
      publicOrigin,
      { method: 'GET', path: '/whoami', headers: {} },
      signingKey(keyRing.orders),
    );
    const response = await app.request(
      `${origin}/whoami`,
      { headers: request.headers },
      { PUBLIC_ORIGIN: publicOrigin },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ principal: 'billing-service' });
  });
});

describe('hono types', () => {
  it("hmacAuth() is generic over the app's Env and adds c.var.hmac", () => {
    const middleware = hmacAuth<AppEnv>({ keys: resolveKey });
    expectTypeOf(middleware).toEqualTypeOf<MiddlewareHandler<AppEnv & HmacEnv>>();
    expectTypeOf(hmacAuth({ keys: resolveKey })).toMatchTypeOf<MiddlewareHandler<HmacEnv>>();
    expectTypeOf<HmacEnv['Variables']['hmac']>().toEqualTypeOf<HmacIdentity>();
    expectTypeOf(requireScopes<AppEnv>('orders:write')).toEqualTypeOf<MiddlewareHandler<AppEnv & HmacEnv>>();
  });

  it("infers the Env from a callback's Context annotation, as bearer-auth does", () => {
    const middleware = hmacAuth({ keys: resolveKey, origin: (c: Context<AppEnv>) => c.env.PUBLIC_ORIGIN });
    expectTypeOf(middleware).toEqualTypeOf<MiddlewareHandler<AppEnv & HmacEnv>>();
  });

  it('options: the callbacks see Context<E>; keys is required', () => {
    expectTypeOf<HmacAuthOptions<AppEnv>['origin']>().toEqualTypeOf<
      string | ((c: Context<AppEnv>) => string) | undefined
    >();
    expectTypeOf<HmacAuthOptions<AppEnv>['sourceAddress']>().toEqualTypeOf<
      ((c: Context<AppEnv>) => string | undefined) | undefined
    >();
    // @ts-expect-error keys is required
    expectTypeOf(hmacAuth).toBeCallableWith({});
    // @ts-expect-error origin is a string or a function of the context, not a URL
    expectTypeOf(hmacAuth).toBeCallableWith({ keys: resolveKey, origin: new URL('https://a.example') });
  });

  it('the identity handlers read', () => {
    const app = new Hono<HmacEnv>();
    app.get('/', (c) => {
      expectTypeOf(c.var.hmac).toEqualTypeOf<HmacIdentity>();
      expectTypeOf(c.var.hmac.principal).toEqualTypeOf<string>();
      expectTypeOf(c.var.hmac.scopes).toEqualTypeOf<readonly string[]>();
      return c.text('ok');
    });
  });
});
