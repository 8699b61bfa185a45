/**
 * Review of the check-phase batches (f2506a8): one client pipelining thousands of signed GETs in
 * one write. node:http stops reading a socket (`socket.pause()`) once the answers it holds for it
 * pass the socket's high-water mark, which bounds how many requests one client has parsed and held
 * at once. Verification waiting for the check phase answers nothing during the poll phase, so that
 * bound no longer applied within a poll phase: libuv reads a socket up to 32 times 64 KiB per poll
 * phase, all of it parsed into requests held at once. Before the fix (at most 64 runs wait): 760
 * held at once on loopback (3 reads; the kernel's buffer the only limit), against 255 (one read)
 * before the batches; after: 314 (at most two reads' worth and 64 waiting runs).
 */
import type { VerificationKey } from '@hmac-kit/core';
import { hmacAuth } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { clients, rawRequest, writeInOneTurn } from '../../../test-support/same-turn.js';

const key: VerificationKey = {
  keyId: 'rb-depth',
  secret: crypto.getRandomValues(new Uint8Array(32)),
  algorithm: 'sha256',
  scopes: [],
};

it('review-batch: 6000 pipelined signed GETs in one write: requests held at once', async () => {
  const app = Fastify();
  let parsed = 0;
  let answered = 0;
  let held = 0;
  app.addHook('onRequest', (_request, _reply, done) => {
    parsed++;
    held = Math.max(held, parsed - answered);
    done();
  });
  app.addHook('onResponse', (_request, _reply, done) => {
    answered++;
    done();
  });
  await app.register(hmacAuth({ keys: (id) => (id === key.keyId ? key : undefined), nonceStore: memoryNonceStore() }));
  app.get('/whoami', async (request) => ({ keyId: request.hmac?.keyId }));
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const signing = { keyId: key.keyId, secret: key.secret, algorithm: 'sha256' as const };
    const parts: string[] = [];
    for (let i = 0; i < 6000; i++) parts.push(await rawRequest(origin, { method: 'GET', path: '/whoami' }, signing));
    const [client] = await clients(origin, 1, app.server);
    writeInOneTurn([[client!, parts.join('')]], 300);
    const answers = await client!.waitFor(6000, 60_000);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(6000);
    const perRead = Math.ceil(65_536 / parts[0]!.length);
    expect(held).toBeLessThanOrEqual(2 * perRead + 64);
  } finally {
    await app.close();
  }
}, 120_000);
