/**
 * The Express middleware's `protocolOf()` (request-fields.ts) remembers per request prototype that
 * `protocol` is Express's own getter, to answer it from the socket without running the getter. An
 * app that changes its mind after the first request must be honoured: `app.set('trust proxy', ...)`
 * set later, and `protocol` defined on `app.request` later (TLS terminated by something that is not a
 * proxy Express knows: the app says every request is https). Before, the later override was never
 * run once the prototype's answer was cached: requests signed for https were refused 401
 * signature_invalid. Over real HTTP, with the scheme covered by the signature.
 */
import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { type Harness, resolveKey, signedWhoamiWithScheme } from '../../../test-support/adapter-suite.js';

const running: Harness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

async function start() {
  const app = express();
  app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
  app.get('/whoami', (req, res) => {
    res.json({ keyId: req.hmac?.keyId, protocol: req.protocol });
  });
  const harness = await listening(createServer(app));
  running.push(harness);
  return { app, harness, host: new URL(harness.origin).host };
}

/** GET /whoami signed for `scheme://host` (the scheme covered), with unsigned `extra` headers: the status. */
async function status(harness: Harness, signedOrigin: string, extra: Record<string, string> = {}) {
  const request = await signedWhoamiWithScheme(signedOrigin);
  const response = await harness.send({ ...request, headers: { ...request.headers, ...extra } });
  return response.status;
}

describe('express: protocol decided after the first request', () => {
  it("honours app.set('trust proxy') set after requests were verified", async () => {
    const { app, harness, host } = await start();
    expect(await status(harness, `http://${host}`)).toBe(200);
    expect(await status(harness, `https://${host}`, { 'x-forwarded-proto': 'https' })).toBe(401);
    app.set('trust proxy', 'loopback');
    expect(await status(harness, `https://${host}`, { 'x-forwarded-proto': 'https' })).toBe(200);
    app.set('trust proxy', false);
    expect(await status(harness, `https://${host}`, { 'x-forwarded-proto': 'https' })).toBe(401);
    expect(await status(harness, `http://${host}`)).toBe(200);
  });

  it('honours a protocol getter defined on app.request after requests were verified, and its removal', async () => {
    const { app, harness, host } = await start();
    expect(await status(harness, `http://${host}`)).toBe(200);
    Object.defineProperty(app.request, 'protocol', { get: () => 'https', configurable: true });
    expect(await status(harness, `https://${host}`)).toBe(200);
    expect(await status(harness, `http://${host}`)).toBe(401);
    delete (app.request as { protocol?: string }).protocol;
    expect(await status(harness, `http://${host}`)).toBe(200);
    expect(await status(harness, `https://${host}`)).toBe(401);
  });

  it('honours a protocol value defined on app.request after requests were verified', async () => {
    const { app, harness, host } = await start();
    expect(await status(harness, `http://${host}`)).toBe(200);
    Object.defineProperty(app.request, 'protocol', { value: 'https', configurable: true });
    expect(await status(harness, `https://${host}`)).toBe(200);
  });
});
