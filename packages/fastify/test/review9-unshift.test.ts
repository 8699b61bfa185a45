/**
 * Review 9, 6539a7c (the Fastify plugin takes the complete body from request.raw and puts it back
 * with unshift()). The attacks, over one raw socket: pipelined requests in one packet (each body is
 * taken from its own request; a tampered one among them never reaches a handler; no body crosses to
 * the next request), a body over the plugin's limit that arrived whole (taken, then refused), and a
 * route's own content-type parser reading request.raw (it gets exactly the verified bytes).
 */
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { hmacAuth } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { SentRequest } from '../../../test-support/adapter-suite.js';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

function rawRequest(port: number, request: SentRequest, body = Buffer.from(request.body ?? '')): Buffer {
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: 127.0.0.1:${port}`];
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${body.length}`, '', '');
  return Buffer.concat([Buffer.from(lines.join('\r\n')), body]);
}

/** Writes `bytes` in one write and collects what comes back until `count` responses have arrived in full. */
async function exchange(port: number, bytes: Buffer, count: number): Promise<{ status: number; body: string }[]> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  const parse = () => {
    const out: { status: number; body: string }[] = [];
    let rest = text;
    while (out.length < count) {
      const split = rest.indexOf('\r\n\r\n');
      if (split === -1) return undefined;
      const head = rest.slice(0, split);
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      if (Buffer.byteLength(rest.slice(split + 4)) < length) return undefined;
      const body = Buffer.from(rest.slice(split + 4))
        .subarray(0, length)
        .toString('utf8');
      out.push({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body });
      rest = Buffer.from(rest.slice(split + 4))
        .subarray(length)
        .toString('utf8');
    }
    return out;
  };
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const done = parse();
      if (done) {
        socket.destroy();
        resolve(done);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(parse() ?? []));
    socket.write(bytes);
  });
}

describe('review9: the Fastify plugin puts back only the verified body of each request', () => {
  async function start() {
    const app = Fastify();
    const handled: unknown[] = [];
    await app.register(hmacAuth({ keys: resolveKey, nonceStore: memoryNonceStore(), maxBodyBytes: 2048 }));
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });
    app.post('/orders', async (request) => {
      handled.push(request.body);
      return { received: request.body, by: request.hmac?.keyId };
    });
    app.post('/bytes', async (request) => {
      handled.push(request.body);
      return { hex: (request.body as Buffer).toString('hex'), by: request.hmac?.keyId };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { app, port, handled };
  }

  it('pipelined requests in one packet: each handler sees its own verified body, a tampered one none', async () => {
    const { app, port, handled } = await start();
    try {
      const origin = `http://127.0.0.1:${port}`;
      const sign = (body: string) =>
        signed(
          origin,
          { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
          signingKey(keyRing.orders),
        );
      const first = await sign('{"n":1}');
      const second = await sign('{"n":2}');
      const third = await sign('{"n":3}');
      const fourth = await sign('{"n":4}');
      const answers = await exchange(
        port,
        Buffer.concat([
          rawRequest(port, first),
          rawRequest(port, second),
          // Same length, other bytes.
          rawRequest(port, third, Buffer.from('{"n":7}')),
          rawRequest(port, fourth),
        ]),
        4,
      );
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 401, 200]);
      expect(JSON.parse(answers[0]?.body ?? '{}').received).toEqual({ n: 1 });
      expect(JSON.parse(answers[1]?.body ?? '{}').received).toEqual({ n: 2 });
      expect(JSON.parse(answers[3]?.body ?? '{}').received).toEqual({ n: 4 });
      expect(handled).toEqual([{ n: 1 }, { n: 2 }, { n: 4 }]);
    } finally {
      await app.close();
    }
  });

  it('a body over the limit that arrived whole is refused, and its handler never runs', async () => {
    const { app, port, handled } = await start();
    try {
      const body = JSON.stringify({ pad: 'x'.repeat(4000) });
      const request = await signed(
        `http://127.0.0.1:${port}`,
        { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
        signingKey(keyRing.orders),
      );
      const [answer] = await exchange(port, rawRequest(port, request), 1);
      expect(answer?.status).toBe(413);
      expect(handled).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it("a route's own buffer parser reads exactly the verified bytes (control bytes, one packet)", async () => {
    const { app, port } = await start();
    try {
      const bytes = Buffer.from(Array.from({ length: 128 }, (_, index) => index));
      const request = await signed(
        `http://127.0.0.1:${port}`,
        {
          method: 'POST',
          path: '/bytes',
          headers: { 'content-type': 'application/octet-stream' },
          // ASCII: the signing helper takes a string and signs its UTF-8 bytes.
          body: bytes.toString('latin1'),
        },
        signingKey(keyRing.orders),
      );
      const [answer] = await exchange(port, rawRequest(port, request, Buffer.from(request.body ?? '', 'latin1')), 1);
      expect(answer?.status, answer?.body).toBe(200);
      expect(JSON.parse(answer?.body ?? '{}')).toEqual({ hex: bytes.toString('hex'), by: keyRing.orders.keyId });
    } finally {
      await app.close();
    }
  });
});
