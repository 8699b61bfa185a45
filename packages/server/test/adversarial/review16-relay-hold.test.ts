/**
 * Review 16: the relay's one-write answer (gateway.ts `Relay.onData`/`onComplete`, 202bec6: an
 * upstream answer whose first chunk is its whole Content-Length body is held and written with
 * `end(chunk)`), attacked with what an upstream or a client can do around it: answers without a
 * body that still declare a length (204, 304), an upstream that writes more than it declared (a
 * second answer in the same packet: response desync), and a client that pipelines requests for
 * held answers and never reads (slow read: the held path bypasses write()'s backpressure signal).
 * Raw sockets at both ends. No defect found in the hold: no answer truncated, duplicated or
 * shifted onto the next request, and the slow reader's connection is closed by the slow-read sweep.
 * (Not the hold's, and not covered here: undici refuses a 304 that carries a Content-Length, which
 * RFC 9110 allows, so the gateway cuts the client's connection after the head: the same before
 * 202bec6.)
 */
import { connect } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { until } from '../../../../test-support/wait.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { recordingConnection, startRawUpstream } from '../support/raw-http.js';

const BIG = 40 * 1024;

function rawClient(origin: string) {
  const connection = recordingConnection(origin);
  return { ...connection, text: connection.received };
}

/** The answers in `text`, framed as a client must frame them: no body for 204/304 (and HEAD), else Content-Length. */
function answersOf(text: string, methods: string[]): Array<{ status: number; body: string }> {
  const answers: Array<{ status: number; body: string }> = [];
  let rest = text;
  for (const method of methods) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const head = rest.slice(0, end);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    const length =
      status === 204 || status === 304 || method === 'HEAD' ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    if (!Number.isFinite(length) || rest.length < end + 4 + length) break;
    answers.push({ status, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return answers;
}

describe('review16: the relay holds a whole one-chunk answer for end(chunk)', () => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  let host: string;

  beforeAll(async () => {
    upstream = await startRawUpstream((seen) => {
      const path = seen.requestLine.split(' ')[1] ?? '';
      if (path.startsWith('/r16-204')) return 'HTTP/1.1 204 No Content\r\n\r\n';
      if (path.startsWith('/r16-304')) return 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n';
      if (path.startsWith('/r16-zero')) return 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
      if (path.startsWith('/r16-extra')) {
        // Declares 5 bytes, sends a second answer right behind them in the same write.
        return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';
      }
      if (path.startsWith('/r16-big')) {
        return Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`),
          Buffer.alloc(BIG, 0x62),
        ]);
      }
      return `HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`;
    });
    server = await startInProcess({
      upstream: upstream.url,
      schemes: 'rfc9421',
      headersTimeout: '1s',
      keepAliveTimeout: '1s',
    });
    key = await issueKey(server, 'review16-relay');
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  async function signedHead(method: string, path: string, address = freshAddress()): Promise<string> {
    const prepared = await signMessage({ method, url: `${server.url}${path}`, headers: {} }, key);
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${address}`];
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  it('204, 304, HEAD and an empty Content-Length answer carry no body, and the next answer on the connection is its own', async () => {
    const methods = ['GET', 'GET', 'GET', 'HEAD', 'GET', 'GET'];
    const paths = ['/r16-204', '/r16-next-1', '/r16-304', '/r16-head', '/r16-zero', '/r16-next-2'];
    const heads = await Promise.all(paths.map((path, index) => signedHead(methods[index] as string, path)));
    const client = rawClient(server.url);
    client.socket.write(heads.join(''));
    await client.until(() => answersOf(client.text(), methods).length >= 6 || client.isClosed());

    expect(answersOf(client.text(), methods)).toEqual([
      { status: 204, body: '' },
      { status: 200, body: '/r16-next-1' },
      { status: 304, body: '' },
      { status: 200, body: '' },
      { status: 200, body: '' },
      { status: 200, body: '/r16-next-2' },
    ]);
    client.socket.destroy();
  });

  it('an upstream that sends more than it declared: the client gets the declared bytes, never the rest as a later answer', async () => {
    const methods = ['GET', 'GET', 'GET'];
    const paths = ['/r16-extra', '/r16-after-1', '/r16-after-2'];
    const client = rawClient(server.url);
    // One at a time, so that the next request is sent upstream right after the extra bytes came.
    for (const [index, path] of paths.entries()) {
      client.socket.write(await signedHead('GET', path));
      await client.until(() => answersOf(client.text(), methods).length > index || client.isClosed());
    }
    expect(answersOf(client.text(), methods)).toEqual([
      { status: 200, body: 'hello' },
      { status: 200, body: '/r16-after-1' },
      { status: 200, body: '/r16-after-2' },
    ]);
    expect(client.text()).not.toContain('smuggled');
    client.socket.destroy();
  });

  it('a client that pipelines requests for held answers and never reads is cut by the slow-read sweep', async () => {
    const count = 200;
    const before = upstream.seen.length;
    const address = freshAddress();
    const heads: string[] = [];
    for (let index = 0; index < count; index++) heads.push(await signedHead('GET', `/r16-big-${index}`, address));
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // 200 x 40 KB: far more than the kernel buffers of both ends hold on loopback.
    socket.write(heads.join(''));
    socket.pause();
    const openConnections = () =>
      new Promise<number>((resolve, reject) =>
        server.server.getConnections((error, open) => (error ? reject(error) : resolve(open))),
      );
    await until(async () => upstream.seen.length > before);
    await until(async () => (await openConnections()) === 0);
    // Node's parser hands the route every request of a read at once (a pipelined read of ~100 KB
    // here), so each of them is relayed and its answer queued: the same with write(chunk) + end()
    // (checked with 202bec6 reverted). The bound is the sweep, which closed the connection.
    expect(upstream.seen.length - before).toBeLessThanOrEqual(count);
    socket.destroy();
  }, 30_000);
});
