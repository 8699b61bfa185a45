/**
 * review17: protocolOf() (request-fields.ts) remembers per request prototype that `protocol` resolves
 * to Express's own getter, and checks per request that no prototype *below* it gained one. The getter
 * itself lives on `express.request` (shared by every app): replaced there after the first request
 * (a library that patches Express's request, TLS terminated by something Express does not know), the
 * cached answer kept reading the socket, and the app and the verifier disagreed on the scheme.
 */
import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { type Harness, resolveKey, signedWhoamiWithScheme } from '../../../test-support/adapter-suite.js';

const running: Harness[] = [];
const expressRequest = (express as unknown as { request: object }).request;
const original = Object.getOwnPropertyDescriptor(expressRequest, 'protocol')!;
afterEach(async () => {
  Object.defineProperty(expressRequest, 'protocol', original);
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

async function status(harness: Harness, signedOrigin: string) {
  const request = await signedWhoamiWithScheme(signedOrigin);
  return (await harness.send(request)).status;
}

describe("review17: express's own protocol getter replaced after the first request", () => {
  it.each([
    ['a value', { value: 'https', configurable: true, writable: true }],
    ['another getter', { get: () => 'https', configurable: true }],
  ])('replaced by %s on express.request: the verifier follows req.protocol', async (_name, descriptor) => {
    const app = express();
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore() }));
    app.get('/whoami', (req, res) => {
      res.json({ protocol: req.protocol });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const host = new URL(harness.origin).host;
    expect(await status(harness, `http://${host}`)).toBe(200);
    Object.defineProperty(expressRequest, 'protocol', descriptor);
    expect(await status(harness, `https://${host}`)).toBe(200);
    expect(await status(harness, `http://${host}`)).toBe(401);
    Object.defineProperty(expressRequest, 'protocol', original);
    expect(await status(harness, `http://${host}`)).toBe(200);
  });
});
