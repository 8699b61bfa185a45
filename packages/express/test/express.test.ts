import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { signMessage } from '@hmac-kit/core';
import { captureRawBody, hmacAuth, requireScopes } from '@hmac-kit/express';
import { memoryFailureThrottle, memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import express, { type Express, type RequestHandler } from 'express';
import { describe, expect, it, vi } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { adapterRoutes } from './support/adapter-routes.js';

/** Serves `app` on a free port for `use`, then closes it. */
async function served(app: Express, use: (harness: Awaited<ReturnType<typeof listening>>) => Promise<void>) {
  const harness = await listening(createServer(app));
  try {
    await use(harness);
  } finally {
    await harness.close();
  }
}

/** A POST of `body` as `contentType` to `path`, signed with the orders key, through `harness`. */
async function signedPost(
  harness: Awaited<ReturnType<typeof listening>>,
  path: string,
  contentType: string,
  body: string,
) {
  return harness.send(
    await signed(
      harness.origin,
      { method: 'POST', path, headers: { 'content-type': contentType }, body },
      signingKey(keyRing.orders),
    ),
  );
}

/** An app with `parser` before hmacAuth() and POST /orders (201); `failures`: what onFailure was told. */
function ordersAppFailing(parser: RequestHandler): { app: Express; failures: string[] } {
  const failures: string[] = [];
  const app = express();
  app.use(parser);
  app.use(
    hmacAuth({
      keys: resolveKey,
      nonceStore: memoryNonceStore(),
      onFailure: (error) => failures.push((error as Error).message),
    }),
  );
  app.post('/orders', (_req, res) => {
    res.status(201).end();
  });
  return { app, failures };
}

// The documented set-up: the JSON parser keeps the raw bytes, hmacAuth() verifies them.
describeAdapter('express (express.json with captureRawBody, then hmacAuth)', async (options: AuthenticatorOptions) => {
  const app = express();
  app.use(express.json({ verify: captureRawBody }));
  app.use(hmacAuth(options));
  return listening(createServer(adapterRoutes(app)));
});

describe('express body-parser placement', () => {
  it('verifies bodies no parser read (hmacAuth reads them itself) and exposes req.rawBody', async () => {
    const app = express();
    app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/upload', (req, res) => {
      res.json({ rawBody: req.rawBody?.toString('utf8'), parsed: req.body ?? null });
    });
    await served(app, async (harness) => {
      const response = await signedPost(harness, '/upload', 'text/plain', 'plain bytes');
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ rawBody: 'plain bytes', parsed: null });
    });
  });

  it('refuses (500, fail closed) when a parser without captureRawBody consumed the body first', async () => {
    const { app, failures: codes } = ordersAppFailing(express.json());
    await served(app, async (harness) => {
      const response = await signedPost(harness, '/orders', 'application/json', '{"a":1}');
      expect(response.status).toBe(500);
      expect(response.body.code).toBe('internal_error');
      expect(codes[0]).toMatch(/captureRawBody/);
    });
  });

  it('works with no body parser at all: req.rawBody holds the verified bytes', async () => {
    const app = express();
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/orders', (req, res) => {
      res.status(201).json({ received: JSON.parse(req.rawBody!.toString('utf8')), body: req.body ?? null });
    });
    await served(app, async (harness) => {
      const response = await signedPost(harness, '/orders', 'application/json', '{"n":2}');
      expect(response).toMatchObject({ status: 201, body: { received: { n: 2 }, body: null } });
    });
  });

  it('refuses a body the parser decompressed (the digest covers the compressed bytes)', async () => {
    const { app, failures: messages } = ordersAppFailing(express.json({ verify: captureRawBody }));
    await served(app, async (harness) => {
      const compressed = gzipSync('{"n":3}');
      const url = `${harness.origin}/orders`;
      const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' };
      const { headers: signature } = await signMessage(
        { method: 'POST', url, headers, body: new Uint8Array(compressed) },
        signingKey(keyRing.orders),
      );
      const response = await fetch(url, { method: 'POST', headers: { ...headers, ...signature }, body: compressed });
      expect(response.status).toBe(500);
      expect(messages[0]).toMatch(/decompression/);
    });
  });

  it('throttles per source address across key ids, and names the realm in the challenge', async () => {
    // One clock, moved on by hand past each 1 ms slowdown (no sleeping), for the throttle and for
    // the middleware's per-process tally of failures alike (failure-tally.ts: Date.now). With the
    // throttle alone on a hand-moved clock, the tally's real-time 2 ms slowdown after the second
    // failure refused the third guess when it came within 2 ms (429, not counted), and the fourth
    // was then the third failure (401): 3 of 30 runs.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
    try {
      await throttlesAcrossKeyIds();
    } finally {
      vi.useRealTimers();
    }
  });

  async function throttlesAcrossKeyIds() {
    const app = express();
    app.use(express.json({ verify: captureRawBody }));
    app.use(
      hmacAuth({
        keys: resolveKey,
        nonceStore: memoryNonceStore(),
        realm: 'orders-api',
        failureThrottle: memoryFailureThrottle({ maxFailures: 3, freeFailures: 0, slowdownSeconds: 0.001 }),
      }),
    );
    app.get('/whoami', (req, res) => {
      res.json(req.hmac);
    });
    await served(app, async (harness) => {
      const guess = (n: number) => ({
        keyId: `hk_guess_${n}`,
        secret: new Uint8Array(32),
        algorithm: 'sha256' as const,
      });
      const first = await harness.send(
        await signed(harness.origin, { method: 'GET', path: '/whoami', headers: {} }, guess(1)),
      );
      expect(first.status).toBe(401);
      expect(first.headers.get('www-authenticate')).toBe('Signature realm="orders-api"');
      let last = first;
      for (let n = 2; n <= 4; n++) {
        vi.setSystemTime(Date.now() + 5);
        last = await harness.send(
          await signed(harness.origin, { method: 'GET', path: '/whoami', headers: {} }, guess(n)),
        );
      }
      expect(last.status).toBe(429);
      // A different, valid key from the same address is blocked too: the address is the subject.
      const valid = await harness.send(
        await signed(harness.origin, { method: 'GET', path: '/whoami', headers: {} }, signingKey(keyRing.reader)),
      );
      expect(valid.status).toBe(429);
      expect(valid.body.code).toBe('too_many_failures');
    });
  }

  it('requireScopes() refuses a request hmacAuth() did not authenticate, even with a look-alike req.hmac', async () => {
    const app = express();
    app.use('/forged', (req, _res, next) => {
      req.hmac = { principal: 'x', keyId: 'x', scopes: ['admin'], scheme: 'rfc9421', coveredComponents: [] };
      next();
    });
    app.get('/forged', requireScopes('admin'), (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/bare', requireScopes('admin'), (_req, res) => {
      res.json({ ok: true });
    });
    await served(app, async (harness) => {
      for (const path of ['/forged', '/bare']) {
        const response = await harness.send({ method: 'GET', path, headers: {} });
        expect(response.status, path).toBe(500);
      }
    });
  });

  it('requireScopes() accepts only the identity hmacAuth() verified on that very request', async () => {
    // The attack: code between hmacAuth() and requireScopes() hands one request's verified identity
    // (a key with more scopes) to another request, or swaps a verified request's identity for
    // another request's. Each request's own verification decides, never an identity seen before.
    const app = express();
    let admitted: unknown;
    app.get('/keep', hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }), (req, res) => {
      admitted = req.hmac;
      res.json({ ok: true });
    });
    const protectedRoute = hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() });
    // Puts the identity /keep admitted on this request.
    const borrow: RequestHandler = (req, _res, next) => {
      req.hmac = admitted as typeof req.hmac;
      next();
    };
    const ok: RequestHandler = (_req, res) => {
      res.json({ ok: true });
    };
    app.get('/borrowed', borrow, requireScopes('orders:write'), ok);
    app.get('/swapped', protectedRoute, borrow, requireScopes('orders:write'), ok);
    app.get('/own', protectedRoute, requireScopes('orders:read'), (req, res) => {
      res.json({ by: req.hmac!.keyId });
    });
    await served(app, async (harness) => {
      const keep = await signed(
        harness.origin,
        { method: 'GET', path: '/keep', headers: {} },
        signingKey(keyRing.orders),
      );
      expect((await harness.send(keep)).status).toBe(200);
      expect(admitted).toBeDefined();
      // An unauthenticated request carrying another request's verified identity.
      expect((await harness.send({ method: 'GET', path: '/borrowed', headers: {} })).status).toBe(500);
      // A request verified for a key without orders:write, its identity swapped for the one that has it.
      const swapped = await signed(
        harness.origin,
        { method: 'GET', path: '/swapped', headers: {} },
        signingKey(keyRing.reader),
      );
      expect((await harness.send(swapped)).status).toBe(500);
      // Its own identity still works.
      const own = await signed(
        harness.origin,
        { method: 'GET', path: '/own', headers: {} },
        signingKey(keyRing.reader),
      );
      const answer = await harness.send(own);
      expect(answer.status).toBe(200);
      expect((answer.body as { by: string }).by).toBe(keyRing.reader.keyId);
    });
  });

  it('request slots: req.hmac and req.rawBody read as own properties did, without adding one per request', async () => {
    const seen: unknown[] = [];
    const api = express();
    api.use(express.json({ verify: captureRawBody }));
    api.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    const app = express();
    // A sub-app: Express gives the request the parent's prototype back once the sub-app calls next().
    app.use('/api', api);
    app.use((req, _res, next) => {
      // Code that sets the properties itself (tests, other middleware) reads back what it wrote.
      if (req.path === '/api/assigned') {
        req.rawBody = Buffer.from('replaced');
        req.hmac = undefined;
      }
      next();
    });
    app.all(/.*/, (req, res) => {
      seen.push({ ownHmac: Object.hasOwn(req, 'hmac'), ownRawBody: Object.hasOwn(req, 'rawBody') });
      res.json({ keyId: req.hmac?.keyId ?? null, rawBody: req.rawBody?.toString('utf8') ?? null });
    });
    await served(app, async (harness) => {
      const body = '{"n":1}';
      const post = (path: string) =>
        signed(
          harness.origin,
          { method: 'POST', path, headers: { 'content-type': 'application/json' }, body },
          signingKey(keyRing.orders),
        );
      const verified = await harness.send(await post('/api/verified'));
      expect(verified.body).toEqual({ keyId: keyRing.orders.keyId, rawBody: body });
      const assigned = await harness.send(await post('/api/assigned'));
      expect(assigned.body).toEqual({ keyId: null, rawBody: 'replaced' });
      // Outside the sub-app nothing verified the request: nothing is left over from the others.
      const outside = await harness.send({ method: 'GET', path: '/elsewhere', headers: {} });
      expect(outside.body).toEqual({ keyId: null, rawBody: null });
      expect(seen).toEqual(Array(3).fill({ ownHmac: false, ownRawBody: false }));
    });
  });

  it('request slots: a request that already has an own rawBody keeps it (an own property shadows the slot)', async () => {
    const app = express();
    app.use((req, _res, next) => {
      Object.defineProperty(req, 'rawBody', { value: undefined, writable: true, enumerable: true });
      next();
    });
    app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/own', (req, res) => {
      res.json({ own: Object.hasOwn(req, 'rawBody'), rawBody: req.rawBody?.toString('utf8'), by: req.hmac?.keyId });
    });
    await served(app, async (harness) => {
      const body = '{"n":2}';
      const response = await signedPost(harness, '/own', 'application/json', body);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ own: true, rawBody: body, by: keyRing.orders.keyId });
    });
  });

  it('request slots: an app prototype with its own rawBody accessor gets the bytes through it (no direct write)', async () => {
    const app = express();
    const written: unknown[] = [];
    // Between the request and Express's shared prototype: it shadows the slot, so the adapter must
    // assign (running this setter) rather than write its own store.
    Object.defineProperty(app.request, 'rawBody', {
      configurable: true,
      get(this: { stored?: unknown }) {
        return this.stored;
      },
      set(this: { stored?: unknown }, value: unknown) {
        written.push(value);
        this.stored = value;
      },
    });
    app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/shadowed', (req, res) => {
      res.json({ rawBody: req.rawBody?.toString('utf8'), by: req.hmac?.keyId });
    });
    await served(app, async (harness) => {
      const body = '{"n":3}';
      const response = await signedPost(harness, '/shadowed', 'application/json', body);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ rawBody: body, by: keyRing.orders.keyId });
      expect(written).toHaveLength(1);
    });
  });

  it('rejects misuse at construction with TypeError', () => {
    expect(() => hmacAuth({} as AuthenticatorOptions)).toThrow(TypeError);
    expect(() => hmacAuth({ keys: resolveKey, origin: 'not a url' })).toThrow(TypeError);
    expect(() => requireScopes()).toThrow(TypeError);
  });
});
