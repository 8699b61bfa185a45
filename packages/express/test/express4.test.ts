import { createServer } from 'node:http';
import { captureRawBody, hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import express4 from 'express4';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { describeAdapter, keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { adapterRoutes } from './support/adapter-routes.js';

// @hmac-kit/express declares express >=4.18 as its peer; everything else here runs on Express 5.
// Express 4 differs where the adapter cares: it does not await middleware (a rejection must reach
// next() through the adapter), its router is path-to-regexp 0.1, and body-parser 1 skips a request
// by `req._body` (Express 5's body-parser 2 looks at whether the stream finished). The shared
// adapter suite runs on it in both documented set-ups, and body-parser 1 after json mode is checked.

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

it('runs on Express 4 (the alias resolves to express 4.x)', async () => {
  const { createRequire } = await import('node:module');
  const version = createRequire(import.meta.url)('express4/package.json').version as string;
  expect(version).toMatch(/^4\./);
});

describeAdapter('express 4 (hmacAuth({ json: true }), no express.json)', async (options: AuthenticatorOptions) => {
  const app = express4();
  app.use(hmacAuth({ ...options, json: true }));
  return listening(createServer(adapterRoutes(app)));
});

describeAdapter(
  'express 4 (express.json with captureRawBody, then hmacAuth)',
  async (options: AuthenticatorOptions) => {
    const app = express4();
    app.use(express4.json({ verify: captureRawBody }));
    app.use(hmacAuth(options));
    return listening(createServer(adapterRoutes(app)));
  },
);

describe('express 4: body-parser 1 mounted after hmacAuth({ json })', () => {
  it('skips the body json mode read (req._body): no second read, no hang, req.body stays the verified parse', async () => {
    const app = express4();
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: true }));
    const parserRan = vi.fn();
    const json = express4.json();
    app.use((req, res, next) => {
      parserRan();
      json(req, res, next);
    });
    app.use((req, res) => {
      res.status(201).json({ body: req.body, raw: req.rawBody?.toString('utf8') ?? null, by: req.hmac?.principal });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const body = '{"items":[1,2]}';
    const request = await signed(
      harness.origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
      signingKey(keyRing.orders),
      body,
    );
    const response = await harness.send(request);
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ body: { items: [1, 2] }, raw: body, by: keyRing.orders.principal });
    expect(parserRan).toHaveBeenCalledTimes(1);
  });

  it('an unsigned body is refused before any parser sees it', async () => {
    const app = express4();
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: true }));
    app.use(express4.json());
    const reached = vi.fn();
    app.use((_req, res) => {
      reached();
      res.status(200).end();
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const parse = vi.spyOn(JSON, 'parse');
    const response = await harness.send({
      method: 'POST',
      path: '/orders',
      headers: { 'content-type': 'application/json' },
      body: '{"marker":"e4-unsigned"}',
    });
    expect(response.status).toBe(401);
    expect(reached).not.toHaveBeenCalled();
    expect(parse.mock.calls.filter(([text]) => String(text).includes('e4-unsigned'))).toEqual([]);
  });
});
