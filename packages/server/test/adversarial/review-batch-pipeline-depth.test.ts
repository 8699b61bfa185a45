/**
 * Review of the check-phase batches in `hmac-kit serve` (batch-serve 4a5559d, with the bound of at
 * most 64 waiting runs in inCheckPhase): one client pipelining 2000 signed forward-auth checks in
 * one write. node:http stops reading a socket once the answers it holds for it pass the socket's
 * high-water mark; a check whose verification waits for the batch answers nothing, so without the
 * bound every request of up to 32 reads of 64 KiB (libuv's reads of one socket per poll phase) was
 * parsed and held at once. Without the bound: 465 held at once on loopback (the kernel's
 * buffer the limit; bound asserted 378); with it: 211.
 */
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { clients, writeInOneTurn } from '../../../../test-support/same-turn.js';
import { forwardAuthCheck, requestBytes } from '../support/concurrent.js';
import { issueKey, startInProcess } from '../support/in-process.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startInProcess({ schemes: 'rfc9421' });
});
afterAll(async () => {
  await server?.close();
});

it('review-batch: 2000 pipelined forward-auth checks in one write: requests held at once', async () => {
  const key = await issueKey(server, 'review-batch-depth');
  const url = new URL(server.url);
  const address = freshAddress();
  const parts: string[] = [];
  for (let index = 0; index < 2000; index++) {
    parts.push(requestBytes(url, await forwardAuthCheck(key, address)));
  }
  let parsed = 0;
  let answered = 0;
  let held = 0;
  const onRequest = (_request: unknown, response: import('node:http').ServerResponse) => {
    parsed++;
    held = Math.max(held, parsed - answered);
    response.once('finish', () => answered++);
  };
  server.server.prependListener('request', onRequest);
  try {
    const [client] = await clients(server.url, 1, server.server);
    writeInOneTurn([[client!, parts.join('')]], 300);
    const answers = await client!.waitFor(2000, 60_000);
    expect(answers).toHaveLength(2000);
    expect(answers.filter((answer) => answer.status === 200).length).toBeGreaterThan(0);
    const perRead = Math.ceil(65_536 / parts[0]!.length);
    expect(held).toBeLessThanOrEqual(2 * perRead + 64);
    client!.socket.destroy();
  } finally {
    server.server.off('request', onRequest);
  }
}, 120_000);
