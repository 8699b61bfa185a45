/**
 * The check-phase batches (`inCheckPhase`) and request-scoped async context: a batch is one
 * check-phase callback, so without care every request of a batch would continue (the adapter's
 * `next()`/`done()`, the app's handlers) in the AsyncLocalStorage context of the request that
 * scheduled the batch: a request-scoped logger, tenant or trace span of another request. Each app
 * here puts its request's own id in an AsyncLocalStorage before hmacAuth(), and its handler answers
 * with what it finds there; the requests are written so that they are verified in one batch.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AddressInfo } from 'node:net';
import { hmacAuth as expressHmac } from '@hmac-kit/express';
import { hmacAuth as fastifyHmac } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import { inCheckPhase } from '@hmac-kit/middleware/node';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signingKey } from '../test-support/adapter-suite.js';
import { type AcceptingServer, clients, rawRequest, writeInOneTurn } from '../test-support/same-turn.js';

const requestId = new AsyncLocalStorage<string>();
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function expressApp(): Promise<{ origin: string; server: AcceptingServer }> {
  const app = express();
  app.use((req, _res, next) => requestId.run(String(req.headers['x-test-id']), next));
  app.use(expressHmac({ keys: resolveKey, nonceStore: memoryNonceStore() }));
  app.get('/whoami', (req, res) => {
    res.json({ sent: req.headers['x-test-id'], seen: requestId.getStore() ?? null });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function fastifyApp(): Promise<{ origin: string; server: AcceptingServer }> {
  const app = Fastify();
  app.addHook('onRequest', (request, _reply, done) => requestId.run(String(request.headers['x-test-id']), done));
  await app.register(fastifyHmac({ keys: resolveKey, nonceStore: memoryNonceStore() }));
  app.get('/whoami', async (request) => ({ sent: request.headers['x-test-id'], seen: requestId.getStore() ?? null }));
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  return { origin, server: app.server };
}

describe('check-phase batches keep each request in its own async context', () => {
  it('runs each queued run in the context it was queued in', async () => {
    const seen: Array<string | undefined> = [];
    for (const id of ['a', 'b', 'c']) requestId.run(id, () => inCheckPhase(() => seen.push(requestId.getStore())));
    inCheckPhase(() => seen.push(requestId.getStore()));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['a', 'b', 'c', undefined]);
  });

  for (const [name, start] of [
    ['express', expressApp],
    ['fastify', fastifyApp],
  ] as const) {
    it(`${name}: every request of one batch reaches its handler with its own context`, async () => {
      const { origin, server } = await start();
      const sockets = await clients(origin, 6, server);
      const requests = await Promise.all(
        sockets.map((_, index) =>
          rawRequest(
            origin,
            { method: 'GET', path: '/whoami', headers: { 'x-test-id': `request-${index}` } },
            signingKey(keyRing.orders),
          ),
        ),
      );
      writeInOneTurn(sockets.map((socket, index) => [socket, requests[index] as string]));
      const answers = await Promise.all(sockets.map((socket) => socket.waitFor(1)));
      for (const [index, [answer]] of answers.entries()) {
        expect(answer?.status).toBe(200);
        expect(answer?.body).toEqual({ sent: `request-${index}`, seen: `request-${index}` });
      }
      for (const socket of sockets) socket.socket.destroy();
    });
  }
});
