import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

// Review 20 (hmacAuth({ json }), helper review20): json mode promises that "only a verified body
// reaches JSON.parse" and that req.rawBody is "the verified bytes". A signature that does not cover
// the body (RFC 9421 under a policy whose requiredComponents leave out content-digest, SigV4 with
// allowUnsignedPayload) admits the request with no body check at all (Admission.checksBody false):
// whoever sits on the path can then put any JSON into req.body of a request a legitimate client
// signed. json mode must refuse such a body (401 body_not_signed, from the head, before reading or
// parsing it), not parse it as if it were verified.
//
// OPEN (reported to the lead, not fixed here): refusing needs a decision, since the shared adapter
// suite (test-support/adapter-suite.ts "accepts other enabled schemes: SigV4, with a signed and with
// an unsigned payload") expects an operator's explicit sigv4({ allowUnsignedPayload: true }) to have
// its unsigned JSON body parsed, json mode included. Marked it.fails until then; docs/middleware.md
// states the current behaviour.

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

const HEAD_ONLY = ['@method', '@authority', '@path'];

describe('review20: hmacAuth({ json }) and a signature that does not bind the body', () => {
  it.fails('refuses a body no signature covers (401 body_not_signed) and never parses it', async () => {
    const routed: unknown[] = [];
    const codes: string[] = [];
    const app = express();
    app.use(
      hmacAuth({
        keys: resolveKey,
        nonceStore: memoryNonceStore(),
        policy: { requiredComponents: HEAD_ONLY },
        onFailure: (error) => codes.push((error as { code: string }).code),
        json: true,
      }),
    );
    app.post('/orders', (req, res) => {
      routed.push(req.body);
      res.status(201).json({ order: req.body });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const marker = 'unbound-7c1e';
    const parse = vi.spyOn(JSON, 'parse');

    // The client signed its head only (its body was {"amount":1}); the body sent is someone else's.
    const request = await signed(
      harness.origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"amount":1}' },
      signingKey(keyRing.orders),
      undefined,
      { components: HEAD_ONLY },
    );
    const forged = await harness.send({ ...request, body: JSON.stringify({ amount: 1_000_000, marker }) });

    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('body_not_signed');
    expect(routed).toEqual([]);
    expect(parse.mock.calls.filter(([text]) => String(text).includes(marker))).toEqual([]);
    expect(codes).toEqual(['ERR_BODY_NOT_SIGNED']);

    // A bodiless request under the same policy is still accepted (nothing to bind).
    const get = await signed(
      harness.origin,
      { method: 'GET', path: '/orders', headers: {} },
      signingKey(keyRing.orders),
      undefined,
      {
        components: HEAD_ONLY,
      },
    );
    app.get('/orders', (_req, res) => {
      res.json({ ok: true });
    });
    expect((await harness.send(get)).status).toBe(200);
  });
});
