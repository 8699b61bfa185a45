import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

// Review 20 (hmacAuth({ json }), helper review20): json mode parses only what it verified, and it
// verifies the body when the signature binds it. Under the default policy a bodied request must
// cover content-digest: a head-only signature with someone else's body is refused from the head and
// the body is never parsed (first case). An operator who lists requiredComponents without
// content-digest (or SigV4's allowUnsignedPayload) opts out of body binding on purpose: the body is
// then parsed as received, and req.hmac.coveredComponents says it was not covered (second case;
// documented in docs/middleware.md, "Only a body the signature binds is verified"). Lead's decision
// (session 20): keep the operator's explicit opt-out, as the captureRawBody set-up and the gateway do.

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

const HEAD_ONLY = ['@method', '@authority', '@path'];

describe('review20: hmacAuth({ json }) and a signature that does not bind the body', () => {
  it('the default policy refuses a head-only signature over a body, and never parses that body', async () => {
    const routed: unknown[] = [];
    const app = express();
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: true }));
    app.post('/orders', (req, res) => {
      routed.push(req.body);
      res.status(201).json({ order: req.body });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const marker = 'unbound-default-3f9a';
    const parse = vi.spyOn(JSON, 'parse');
    const request = await signed(
      harness.origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"amount":1}' },
      signingKey(keyRing.orders),
      undefined,
      { components: HEAD_ONLY },
    );
    const forged = await harness.send({ ...request, body: JSON.stringify({ amount: 1_000_000, marker }) });
    expect(forged.status).toBe(401);
    expect(routed).toEqual([]);
    expect(parse.mock.calls.filter(([text]) => String(text).includes(marker))).toEqual([]);
  });

  it('a policy without content-digest is an explicit opt-out: the body is parsed as received, coveredComponents shows it', async () => {
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
    const identities: unknown[] = [];
    app.post('/orders', (req, res) => {
      routed.push(req.body);
      identities.push(req.hmac?.coveredComponents);
      res.status(201).json({ order: req.body });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const marker = 'unbound-7c1e';

    // The client signed its head only (its body was {"amount":1}); the body sent is someone else's.
    const request = await signed(
      harness.origin,
      { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"amount":1}' },
      signingKey(keyRing.orders),
      undefined,
      { components: HEAD_ONLY },
    );
    const forged = await harness.send({ ...request, body: JSON.stringify({ amount: 1_000_000, marker }) });

    // Parsed as received (the operator's opt-out), and the identity says the body was not covered.
    expect(forged.status).toBe(201);
    expect(routed).toEqual([{ amount: 1_000_000, marker }]);
    expect(identities).toEqual([HEAD_ONLY]);
    expect(codes).toEqual([]);
  });
});
