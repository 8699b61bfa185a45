/**
 * Review of the check-phase batches (f2506a8): a client whose request and FIN arrive in one poll
 * phase. libuv reads a socket again in the same poll phase when a read filled its 64 KiB buffer, so
 * a request of exactly 64 KiB followed by the client's FIN is read with its end before the batch
 * verifies it; could the request be destroyed first, and a reader listening for 'data'/'end' on a
 * destroyed stream wait forever? No: node:http (20) only ends its side of the socket on a FIN
 * (`httpAllowHalfOpen` false), the request is verified and handled; a body cut short by the FIN
 * fails the parse, the request is destroyed after the check phase, and the hook settles with the
 * reader's error. Noticed, not changed: the answer to the whole request is lost (the server ended
 * its side before the batch ran); verified in a microtask before the batches, it was written
 * first. Only a client that half-closes right after a request ending on a 64 KiB boundary of its
 * stream is affected, as every client already was with an asynchronous key resolver or nonce store.
 */
import type { VerificationKey } from '@hmac-kit/core';
import { hmacAuth } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import Fastify from 'fastify';
import { expect, it, vi } from 'vitest';
import { clients, rawRequest, writeInOneTurn } from '../../../test-support/same-turn.js';

const key: VerificationKey = {
  keyId: 'rb-abort',
  secret: crypto.getRandomValues(new Uint8Array(32)),
  algorithm: 'sha256',
  scopes: [],
};
const TOTAL = 65_536;
const signing = { keyId: key.keyId, secret: key.secret, algorithm: 'sha256' as const };

it('review-batch: a request whose FIN is read with it, whole or cut short: the hook settles', async () => {
  const events: string[] = [];
  const app = Fastify({ bodyLimit: 1 << 20 });
  await app.register(
    hmacAuth({
      keys: (id) => (id === key.keyId ? key : undefined),
      nonceStore: memoryNonceStore(),
      maxBodyBytes: 1 << 20,
      onFailure: (error) => events.push(`failure: ${(error as Error).message}`),
    }),
  );
  app.addHook('onRequestAbort', async (_request) => {
    events.push('aborted');
  });
  app.addHook('onError', async (_request, _reply, error) => {
    events.push(`error: ${error.message}`);
  });
  app.post('/echo', async (request) => {
    events.push('handler');
    return { got: (request.body as { pad: string }).pad.length };
  });
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  const [whole, cut] = await clients(origin, 2, app.server);
  try {
    const sized = async (pad: number) =>
      rawRequest(
        origin,
        {
          method: 'POST',
          path: '/echo',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ pad: 'x'.repeat(pad) }),
        },
        signing,
      );
    let pad = 60_000;
    let request = await sized(pad);
    while (Buffer.byteLength(request) !== TOTAL) {
      pad += TOTAL - Buffer.byteLength(request);
      request = await sized(pad);
    }

    writeInOneTurn([[whole!, request, true]], 100);
    await whole!.waitFor(1, 2000);
    await vi.waitFor(() => expect(events).toEqual(['handler']));
    events.length = 0;
    writeInOneTurn([[cut!, request.slice(0, -10), true]], 100);
    await cut!.waitFor(1, 2000);
    await vi.waitFor(() => expect(events.some((event) => event.startsWith('failure:'))).toBe(true));
    expect(events).not.toContain('handler');
  } finally {
    whole!.socket.destroy();
    cut!.socket.destroy();
    await app.close();
  }
}, 20_000);
