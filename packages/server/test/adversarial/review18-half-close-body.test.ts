/**
 * Review 18: the half-close support of b1fd4ea (`httpAllowHalfOpen`: a client's FIN no longer ends
 * the connection while an answer is in flight), attacked where a FIN could make the gateway verify
 * one thing and forward another, or keep an upstream request alive for a client that is gone.
 * A FIN in the middle of a declared body is a parse error to Node's parser
 * (`HPE_INVALID_EOF_STATE` in socketOnEnd, before httpAllowHalfOpen is read), so the request is
 * destroyed and answered 400, and nothing of a body cut short is relayed whole, buffered (verified
 * before forwarding) or streamed (the last chunk held until the digest matched); a client that
 * resets its connection while the gateway waits for the upstream aborts the upstream request.
 * The review's finding: a client that closes its connection normally (a FIN) while the gateway waits
 * for the upstream cannot be told from a half-close, so with b1fd4ea that upstream request ran on
 * until it answered or `--upstream-timeout`. Gateway mode now leaves half-close support off, as
 * nginx and Go's reverse proxy do: half-close.test.ts pins that the FIN cancels the upstream request.
 */

import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signed } from '../../../../test-support/cli-client.js';
import { until } from '../../../../test-support/wait.js';
import { requestBytes } from '../support/concurrent.js';
import { issueKey, type RawUpstreamGateway, startInProcess, startRawUpstreamGateway } from '../support/in-process.js';
import { recordingConnection } from '../support/raw-http.js';

/** A signed JSON POST to the gateway's /orders as raw bytes, with a body of about `size` bytes. */
async function signedPost(origin: string, key: { keyId: string; secret: string }, size: number) {
  const body = JSON.stringify({ data: 'x'.repeat(size) });
  const request = await signed(key, 'POST', `${origin}/orders`, { body });
  return requestBytes(new URL(origin), { method: 'POST', path: '/orders', headers: request.init.headers, body });
}

describe('review18: a FIN and the gateway', () => {
  let running: RawUpstreamGateway | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it.each([
    ['buffered (verified before forwarding)', 200],
    ['streamed (over 64 KiB, the last chunk held for the digest)', 200_000],
  ])('a %s body cut short by the FIN is answered 400 and never relayed whole', async (_name, size) => {
    running = await startRawUpstreamGateway('review18-cut-body');
    const bytes = await signedPost(running.server.url, running.key, size);
    const connection = recordingConnection(running.server.url, { allowHalfOpen: true });
    // The whole head, all of the declared body but its last 10 bytes, then the FIN.
    connection.socket.end(bytes.slice(0, bytes.length - 10));
    await connection.until(() => connection.isClosed());
    expect(connection.received()).toMatch(/^HTTP\/1\.1 400 /);
    // The upstream has received whatever was relayed once no connection to it is open (the bytes
    // arrive before the close), or it parsed a request: a condition, not a fixed 200 ms.
    const { upstream } = running;
    await until(() => upstream.open() === 0 || upstream.seen.length > 0);
    expect(upstream.seen).toEqual([]);
  });

  it('a client that resets its connection while the gateway waits for the upstream aborts the upstream request', async () => {
    // An upstream that reads the request and never answers.
    const sockets: Socket[] = [];
    let received = '';
    let closed = 0;
    const silent: Server = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.on('close', () => closed++);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const server = await startInProcess({ upstream: `http://127.0.0.1:${port}`, schemes: 'rfc9421' });
    try {
      const key = await issueKey(server, 'review18-reset');
      const bytes = await signedPost(server.url, key, 100);
      const connection = recordingConnection(server.url);
      await new Promise<void>((resolve) => connection.socket.once('connect', () => resolve()));
      connection.socket.write(bytes);
      // The upstream has the whole relayed request, its body last.
      await until(() => received.endsWith(JSON.stringify({ data: 'x'.repeat(100) })));
      connection.socket.resetAndDestroy();
      await until(() => closed === 1);
      expect(connection.received()).toBe('');
    } finally {
      await server.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
