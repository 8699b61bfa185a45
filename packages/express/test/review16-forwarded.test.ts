/**
 * Review 16: the Express middleware's request reads (176f190 `field()` through Reflect.get, d1b30fb
 * `protocolOf()` without Express's getter when the peer is not a trusted proxy) attacked end to end
 * over real HTTP: can X-Forwarded-Proto or X-Forwarded-Host change the URL that is verified? A
 * signature made for another scheme or authority than the request arrived with must fail unless a
 * trusted proxy says so (X-Forwarded-Proto only; the authority is always the Host header), with
 * `trust proxy` off, on for loopback, and a function that trusts another address; two apps with
 * opposite settings answered alternately in one process (the module's per-prototype cache); and an
 * own `protocol` defined on the request by an earlier middleware. No defect found (review16):
 * request-fields.test.ts holds protocolOf to req.protocol on synthetic requests; this holds the
 * verified URL on real ones.
 */
import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express, { type Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { type Harness, resolveKey, signedWhoamiWithScheme } from '../../../test-support/adapter-suite.js';

function appWith(trust: unknown, ownProtocol?: string): Express {
  const app = express();
  if (trust !== undefined) app.set('trust proxy', trust);
  if (ownProtocol !== undefined) {
    app.use((req, _res, next) => {
      Object.defineProperty(req, 'protocol', { value: ownProtocol, configurable: true });
      next();
    });
  }
  app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
  app.get('/whoami', (req, res) => {
    res.json({ keyId: req.hmac?.keyId });
  });
  return app;
}

describe('review16: X-Forwarded-* never moves the verified URL unless a trusted proxy sends it', () => {
  const harnesses: Record<string, Harness> = {};

  beforeAll(async () => {
    harnesses.off = await listening(createServer(appWith(undefined)));
    harnesses.loopback = await listening(createServer(appWith('loopback')));
    harnesses.elsewhere = await listening(createServer(appWith((address: string) => address === '10.1.2.3')));
    harnesses.own = await listening(createServer(appWith(undefined, 'https')));
  });

  afterAll(async () => {
    await Promise.all(Object.values(harnesses).map((harness) => harness.close()));
  });

  /**
   * Sends GET /whoami to `harness`, signed for `signedOrigin` (scheme and authority), with the
   * `forwarded` header lines added (unsigned, as a client or proxy adds them); answers the status.
   */
  async function status(harness: Harness, signedOrigin: string, forwarded: Record<string, string> = {}) {
    // The scheme is covered too (the default list covers @authority, not @scheme).
    const request = await signedWhoamiWithScheme(signedOrigin);
    const response = await (harness.sendRawTarget as NonNullable<Harness['sendRawTarget']>)(
      { ...request, headers: { ...request.headers, ...forwarded } },
      '/whoami',
    );
    return response.status;
  }

  const authority = (harness: Harness) => new URL(harness.origin).host;

  it('trust proxy off: X-Forwarded-Proto and X-Forwarded-Host are not the client’s to set', async () => {
    const harness = harnesses.off as Harness;
    const host = authority(harness);
    expect(await status(harness, `http://${host}`)).toBe(200);
    expect(await status(harness, `http://${host}`, { 'x-forwarded-proto': 'https' })).toBe(200);
    expect(await status(harness, `https://${host}`, { 'x-forwarded-proto': 'https' })).toBe(401);
    expect(await status(harness, 'http://internal.example', { 'x-forwarded-host': 'internal.example' })).toBe(401);
  });

  it('trust proxy loopback: the proxy’s X-Forwarded-Proto counts, X-Forwarded-Host still does not', async () => {
    const harness = harnesses.loopback as Harness;
    const host = authority(harness);
    expect(await status(harness, `https://${host}`, { 'x-forwarded-proto': 'https' })).toBe(200);
    expect(await status(harness, `http://${host}`, { 'x-forwarded-proto': 'https' })).toBe(401);
    expect(await status(harness, `http://${host}`)).toBe(200);
    expect(
      await status(harness, 'https://internal.example', {
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'internal.example',
      }),
    ).toBe(401);
  });

  it('a trust function for another address: the loopback peer’s X-Forwarded-Proto is ignored', async () => {
    const harness = harnesses.elsewhere as Harness;
    const host = authority(harness);
    expect(await status(harness, `https://${host}`, { 'x-forwarded-proto': 'https' })).toBe(401);
    expect(await status(harness, `http://${host}`, { 'x-forwarded-proto': 'https' })).toBe(200);
  });

  it('two apps with opposite settings answered alternately keep their own answers', async () => {
    const off = harnesses.off as Harness;
    const on = harnesses.loopback as Harness;
    for (let round = 0; round < 3; round++) {
      expect(await status(off, `https://${authority(off)}`, { 'x-forwarded-proto': 'https' })).toBe(401);
      expect(await status(on, `https://${authority(on)}`, { 'x-forwarded-proto': 'https' })).toBe(200);
    }
  });

  it('an own protocol set by an earlier middleware is what is verified', async () => {
    const harness = harnesses.own as Harness;
    const host = authority(harness);
    expect(await status(harness, `https://${host}`)).toBe(200);
    expect(await status(harness, `http://${host}`)).toBe(401);
  });
});
