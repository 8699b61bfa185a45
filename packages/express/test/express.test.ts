import { createServer } from 'node:http';
import { captureRawBody, hmacAuth, requireScopes } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import type { AuthenticatorOptions } from '@hmac-kit/middleware';
import type { Express } from 'express';
import { describe, expect, it } from 'vitest';
import {
  describeAdapter,
  keyRing,
  resolveKey,
  signed,
  signingKey,
} from '../../middleware/test/support/adapter-suite.js';
import { listening } from '../../middleware/test/support/http.js';
import { express } from './support/load-express.js';

function routes(app: Express): Express {
  app.post('/orders', requireScopes('orders:write'), (req, res) => {
    const { principal, keyId, scopes, scheme } = req.hmac!;
    res.status(201).json({ principal, keyId, scopes, scheme, received: req.body });
  });
  app.get('/whoami', (req, res) => {
    res.json(req.hmac);
  });
  app.post('/admin', requireScopes('admin'), (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}

// The documented set-up: the JSON parser keeps the raw bytes, hmacAuth() verifies them.
describeAdapter('express (express.json with captureRawBody, then hmacAuth)', async (options: AuthenticatorOptions) => {
  const app = express();
  app.use(express.json({ verify: captureRawBody }));
  app.use(hmacAuth(options));
  return listening(createServer(routes(app)));
});

describe('express body-parser placement', () => {
  it('verifies bodies no parser read (hmacAuth reads them itself) and exposes req.rawBody', async () => {
    const app = express();
    app.use(express.json({ verify: captureRawBody }));
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.post('/upload', (req, res) => {
      res.json({ rawBody: req.rawBody?.toString('utf8'), parsed: req.body ?? null });
    });
    const harness = await listening(createServer(app));
    try {
      const request = {
        method: 'POST',
        path: '/upload',
        headers: { 'content-type': 'text/plain' },
        body: 'plain bytes',
      };
      const response = await harness.send(await signed(harness.origin, request, signingKey(keyRing.orders)));
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ rawBody: 'plain bytes', parsed: null });
    } finally {
      await harness.close();
    }
  });

  it('refuses (500, fail closed) when a parser without captureRawBody consumed the body first', async () => {
    const codes: string[] = [];
    const app = express();
    app.use(express.json());
    app.use(
      hmacAuth({
        keys: resolveKey,
        nonceStore: memoryNonceStore(),
        onFailure: (error) => codes.push((error as Error).message),
      }),
    );
    app.post('/orders', (_req, res) => {
      res.status(201).end();
    });
    const harness = await listening(createServer(app));
    try {
      const request = {
        method: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      };
      const response = await harness.send(await signed(harness.origin, request, signingKey(keyRing.orders)));
      expect(response.status).toBe(500);
      expect(response.body.code).toBe('internal_error');
      expect(codes[0]).toMatch(/captureRawBody/);
    } finally {
      await harness.close();
    }
  });

  it('rejects misuse at construction with TypeError', () => {
    expect(() => hmacAuth({} as AuthenticatorOptions)).toThrow(TypeError);
    expect(() => hmacAuth({ keys: resolveKey, origin: 'not a url' })).toThrow(TypeError);
    expect(() => requireScopes()).toThrow(TypeError);
  });
});
