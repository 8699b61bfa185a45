import { createServer } from 'node:http';
import { hmacAuth } from '@hmac-kit/express';
import { memoryNonceStore } from '@hmac-kit/limits';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { listening } from '../../../test-support/adapter-http.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { untilValue } from '../../../test-support/wait.js';
import { postHead, rawConnection } from './support/raw-connection.js';

// Session 21 (issue #15, helper express21): a keep-alive connection carries the next request after
// a body json mode read and accepted (taken from the stream's buffer or read through events, then
// handed on in a tick after its 'end'), or refused from the head unread: whole or split, below and
// above the request stream's buffer (16 KiB) and a socket read (64 KiB).

type Harness = Awaited<ReturnType<typeof listening>>;
const running: Harness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((harness) => harness.close()));
});

describe('keep-alive after json mode read or refused a body', () => {
  for (const size of [10, 1_000, 20_000, 60_000, 90_000]) {
    for (const kind of ['signed', 'unsigned'] as const) {
      for (const split of [false, true]) {
        it(`${kind} ${size}-byte body ${split ? 'split' : 'whole'}, then a second request on the connection`, async () => {
          let seenHeads = 0;
          const app = express();
          app.use((_req, _res, next) => {
            seenHeads += 1;
            next();
          });
          app.use(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), json: { limit: 200_000 } }));
          app.post('/{*any}', (req, res) => {
            res.status(201).json({ n: JSON.stringify(req.body).length });
          });
          const harness = await listening(createServer(app));
          running.push(harness);
          const { host } = new URL(harness.origin);
          const key = signingKey(keyRing.orders);
          const json = { 'content-type': 'application/json' };
          const head = (path: string, headers: Record<string, string>, length: number) =>
            postHead(host, path, headers, length);
          const body = JSON.stringify({ x: 'y'.repeat(Math.max(0, size - 8)) });
          const first =
            kind === 'signed'
              ? await signed(harness.origin, { method: 'POST', path: '/a', headers: json, body }, key)
              : { headers: json };
          const order = '{"order":2}';
          const second = await signed(harness.origin, { method: 'POST', path: '/b', headers: json, body: order }, key);
          const { socket, received } = rawConnection(harness.origin);
          const text = head('/a', first.headers, body.length) + body;
          if (split) {
            socket.write(text.slice(0, text.length - 5));
            // The rest once the first part is in the app (the body then arrives after the head's checks).
            await untilValue(() => (seenHeads > 0 ? true : undefined), 'the request in the app');
            socket.write(text.slice(text.length - 5));
          } else socket.write(text);
          await untilValue(() => (/^HTTP\/1\.1 \d{3} [\s\S]*\r\n\r\n/.test(received()) ? true : undefined), 'first');
          const firstStatus = received().slice(9, 12);
          expect(firstStatus).toBe(kind === 'signed' ? '201' : '401');
          if (/connection: close/i.test(received())) return;
          socket.write(head('/b', second.headers, order.length) + order);
          await untilValue(() => ((received().match(/HTTP\/1\.1 /g) ?? []).length >= 2 ? true : undefined), 'second');
          expect(received()).toMatch(/^HTTP\/1\.1 \d{3} [\s\S]*HTTP\/1\.1 201 /);
          socket.destroy();
        });
      }
    }
  }
});
