import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { untilValue } from '../../../test-support/wait.js';
import { postHead, rawConnection } from './support/raw-connection.js';

// Review 20 (hmacAuth({ json }), helper review20): a refusal of json mode answered with
// `Connection: close` even when the refused request's body had fully arrived. On a keep-alive
// connection, node:http has then already parsed and handed the app the next pipelined request: it
// ran (its route, its side effects: an order placed) and its answer was never sent, the socket
// being closed after the refusal. The client cannot tell whether it ran, and may send it again
// (re-signed, so no replay check stops it). A refusal needs to close only while the request's body
// is still arriving (node:http cannot have parsed a request behind it then).

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

describe('review20: pipelined requests behind a refused json request', () => {
  it('a request pipelined behind a refused, fully received request is answered whenever its route ran', async () => {
    const routed: string[] = [];
    const app = express();
    app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: { limit: 64 } }));
    app.post('/{*any}', (req, res) => {
      routed.push(req.path);
      res.status(201).json({ placed: req.body });
    });
    const harness = await listening(createServer(app));
    running.push(harness);
    const { host } = new URL(harness.origin);
    const key = signingKey(keyRing.orders);
    const json = { 'content-type': 'application/json' };
    const head = (path: string, headers: Record<string, string>, length: number) =>
      postHead(host, path, headers, length);
    const order = '{"order":2}';

    // Each refusal of json mode, on a first request whose body arrived whole, then a signed order.
    const unsigned = '{"order":1}';
    const big = JSON.stringify({ order: 'x'.repeat(100) });
    const bigSigned = await signed(harness.origin, { method: 'POST', path: '/big', headers: json, body: big }, key);
    const firsts = [
      head('/unsigned', json, unsigned.length) + unsigned, // 401 from the head
      head('/big', bigSigned.headers, big.length) + big, // 413 from Content-Length
      head('/gzip', { ...json, 'content-encoding': 'gzip' }, unsigned.length) + unsigned, // 415
    ];
    for (const first of firsts) {
      const before = routed.length;
      const fresh = await signed(harness.origin, { method: 'POST', path: '/orders', headers: json, body: order }, key);
      const { socket, received, closed } = rawConnection(harness.origin);
      socket.write(first + head('/orders', fresh.headers, order.length) + order);
      await untilValue(() => (/^HTTP\/1\.1 4\d\d /.test(received()) ? true : undefined), 'the refusal');
      // Either the order was answered, or it never ran: wait for one of the two to be certain.
      await untilValue(
        () => (/HTTP\/1\.1 201 /.test(received()) || (received().length > 0 && socket.destroyed) ? true : undefined),
        'the order answered or the connection closed',
      );
      socket.end();
      await closed;
      const ran = routed.length > before;
      const answered = /HTTP\/1\.1 201 /.test(received());
      expect({ first: first.split(' ')[1], ran, answered }).toEqual({
        first: first.split(' ')[1],
        ran: answered,
        answered,
      });
    }
  });
});
