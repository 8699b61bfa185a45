/**
 * Review 8, the lingering close of 131a9cb: a response whose request body was cut off part-way says
 * `Connection: close`, and Node's parser goes on reading the connection until it closes. The
 * attacks, on raw sockets through the gateway (the login route's readBody is the cut-off an
 * unauthenticated client reaches; the signed admin API now verifies the head before reading a
 * body, so an unsigned request never reaches its readBody): bytes sent after the refused body that form a new request (RFC
 * 9112 9.6: no further request on a connection the server said it closes; before the fix the
 * gateway verified and forwarded it upstream, and its answer was never written), bytes inside the
 * rest of the body that look like a request (the body's own framing must hold), and a client that
 * keeps trickling body bytes to hold the connection open (the lingering close is bounded).
 */
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { halfOpenConnection, keepWritingUntilClosed } from '../support/raw-http.js';

const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

describe('review8: after a body cut off part-way, the connection closes and carries no further request', () => {
  let gateway: RawUpstreamGateway | undefined;
  let upstream: RawUpstreamGateway['upstream'];
  let server: RunningServer;
  let key: RawUpstreamGateway['key'];
  let host: string;

  beforeAll(async () => {
    gateway = await startRawUpstreamGateway('review8-lingering', { maxBody: '1kb' });
    ({ upstream, server, key } = gateway);
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** A signed bodiless GET of `path`, as raw bytes: the gateway forwards it if it ever parses it. */
  async function signedGet(path: string): Promise<string> {
    const { headers } = await signMessage({ method: 'GET', url: `${server.url}${path}`, headers: {} }, key);
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  /** Opens a connection, sends a login body over its limit (64 KiB) in part, and waits for the 413. */
  async function refusedMidBody() {
    const connection = halfOpenConnection(server.url);
    connection.socket.write(
      `POST /_hmac-kit/v1/keys HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `X-Forwarded-For: ${freshAddress()}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk('a'.repeat(70_000))}`,
    );
    await connection.until(() => connection.received().includes('\r\n\r\n{') || connection.isClosed());
    const head = connection.received().split('\r\n\r\n')[0] ?? '';
    expect(head).toMatch(/^HTTP\/1\.1 413 /);
    expect(head).toMatch(/\r\ncontent-type: application\/problem\+json\r\n/i);
    expect(head).toMatch(/\r\nconnection: close(\r\n|$)/i);
    return connection;
  }

  const forwarded = (path: string) => upstream.seen.filter((seen) => seen.requestLine.split(' ')[1] === path);

  /** Proves the gateway is done with everything sent before: a later request on a new connection is forwarded. */
  async function sentinel(path: string): Promise<void> {
    const connection = halfOpenConnection(server.url);
    connection.socket.end(await signedGet(path));
    await connection.until(() => connection.isClosed() || /\r\n\r\nupstream ok/.test(connection.received()));
    connection.socket.destroy();
    expect(forwarded(path)).toHaveLength(1);
  }

  it('a signed request sent after the refused body is neither forwarded nor answered', async () => {
    const connection = await refusedMidBody();
    const answered = connection.received();
    // The rest of the body, its end, then a complete, validly signed request; the connection kept
    // open (a FIN would end it at once) until the server closes it, CRLFs (which a parser skips
    // between requests) written meanwhile so the client sees the close.
    connection.socket.write(`${chunk('b'.repeat(2000))}0\r\n\r\n${await signedGet('/review8-after-close')}`);
    await keepWritingUntilClosed(connection, '\r\n');
    expect(connection.received()).toBe(answered);
    await sentinel('/review8-sentinel-after');
    expect(forwarded('/review8-after-close')).toEqual([]);
  });

  it('a signed request inside the rest of the body stays body: the framing holds', async () => {
    const connection = await refusedMidBody();
    const answered = connection.received();
    connection.socket.end(`${chunk(`\r\n${await signedGet('/review8-inside-body')}`)}0\r\n\r\n`);
    await connection.until(() => connection.isClosed());
    expect(connection.received()).toBe(answered);
    await sentinel('/review8-sentinel-inside');
    expect(forwarded('/review8-inside-body')).toEqual([]);
  });

  it('a client that keeps sending body bytes after the 413 is cut off (the lingering close is bounded)', async () => {
    const connection = await refusedMidBody();
    // One small chunk every 50 ms, never the end of the body: without a bound the server would read
    // and drop them for as long as the client cares to send.
    await keepWritingUntilClosed(connection, chunk('c'.repeat(16)));
    expect(connection.isClosed()).toBe(true);
  });
});
