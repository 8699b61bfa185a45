/**
 * Review 19 (helper "getbody19") reported that a client which stops reading its answer holds an
 * upstream connection with no limit, through both upstream clients: the gateway holds the upstream
 * back while the client's socket is full (backpressure), and neither client's body timeout runs
 * while it is held back (undici's does not, the builtin one stops it: review19 #4).
 *
 * Checked, and not so: the listener's slow-read bound (listener.ts `boundStalledWrites`, nginx's
 * `send_timeout` with a rate: a connection with unsent bytes that got under 500 bytes/s into the
 * kernel over a `--headers-timeout` window is destroyed) sees a held-back relay like any other
 * pending answer, and destroying the client's connection aborts the upstream request (the relay's
 * `close` listeners). So the hold is bounded by one to two `--headers-timeout` windows (30 to 60 s
 * by default). An extra per-answer `--send-timeout` was built and dropped: it duplicated that bound
 * with a second knob (docs/server.md argues the same against a separate body timeout).
 *
 * These tests hold the bound for both relay paths (the whole-answer relay of a request without a
 * body or a small one, and the piped answer of a streamed request body) and both upstream clients,
 * with `--headers-timeout 1s`; they wait for the upstream to see its connection close, with
 * `--upstream-timeout 2s` below the wait (it is not what ends them).
 */
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { untilValue } from '../../../../test-support/wait.js';
import { issueKey, startInProcess } from '../support/in-process.js';

const CLIENTS = ['undici', 'builtin'] as const;

/** An upstream that answers every request with an endless body, written as fast as it is taken. */
async function startEndlessUpstream(): Promise<{ url: string; closed: Set<string>; close(): Promise<void> }> {
  const closed = new Set<string>();
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server: Server = createServer((request, response) => {
    request.resume();
    const path = request.url ?? '';
    response.on('close', () => closed.add(path));
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = () => {
      while (!response.destroyed && response.write(chunk)) {}
      if (!response.destroyed) response.once('drain', pump);
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    closed,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.each(CLIENTS)('getbody19: a client that stops reading its answer (upstream client %s)', (client) => {
  let upstream: Awaited<ReturnType<typeof startEndlessUpstream>>;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  const clients: Socket[] = [];

  beforeAll(async () => {
    upstream = await startEndlessUpstream();
    server = await startInProcess({
      upstream: upstream.url,
      schemes: 'rfc9421',
      upstreamClient: client,
      // The slow-read sweep's window (and the headers bound), short for the test.
      headersTimeout: '1s',
      // Shorter than the tests' wait: neither client's upstream timeout ends a held-back answer.
      upstreamTimeout: '2s',
    });
    key = await issueKey(server, 'slow-reader');
  });

  afterAll(async () => {
    for (const socket of clients) socket.destroy();
    await server?.close();
    await upstream?.close();
  });

  // The waits below last one to two slow-read windows (1-2 s): polled every 20 ms (untilValue's
  // pollMs), not on every event-loop turn, which kept a core busy for the whole wait.

  /** Sends a signed request, takes the first bytes of the answer, then reads nothing more. */
  async function stopReading(method: string, path: string, body = ''): Promise<Socket> {
    const { host, hostname, port } = new URL(server.url);
    const signed = await signMessage(
      { method, url: `${server.url}${path}`, headers: {}, ...(body ? { body } : {}) },
      key,
    );
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`];
    for (const [name, value] of Object.entries(signed.headers)) lines.push(`${name}: ${value}`);
    if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    const socket = connect(Number(port), hostname);
    clients.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => {
      socket.once('data', () => {
        socket.pause();
        resolve();
      });
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    });
    return socket;
  }

  it('the whole-answer relay (a GET): the slow-read bound closes the client and aborts the upstream request', async () => {
    await stopReading('GET', '/endless-get');
    await untilValue(
      () => (upstream.closed.has('/endless-get') ? true : undefined),
      'the upstream exchange to end',
      20_000,
      20,
    );
  });

  it('the piped relay (a streamed request body): the slow-read bound closes the client and aborts the upstream request', async () => {
    // Over 64 KiB and signed with its digest: forwarded as it streams, the answer piped back.
    await stopReading('POST', '/endless-post', 'b'.repeat(100 * 1024));
    await untilValue(
      () => (upstream.closed.has('/endless-post') ? true : undefined),
      'the upstream exchange to end',
      20_000,
      20,
    );
  });

  it('the gateway still answers other clients', async () => {
    expect((await fetch(`${server.url}/_hmac-kit/healthz`)).status).toBe(200);
  });
});
