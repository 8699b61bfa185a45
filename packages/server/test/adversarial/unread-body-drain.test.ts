/**
 * A refusal before the body stage answers at once and leaves the rest of the request body to be
 * read and dropped. The attack: declare a body of any length (over `--max-body`, or under it with
 * a bad signature) and trickle it, holding the connection open for as long as the client likes
 * (`requestTimeout` is off so that long authenticated uploads are not cut). The drain is bounded
 * (listener.ts `boundDrain`): a body still arriving 2 s after its response ends has its connection
 * destroyed. A refused body that arrives in full keeps the connection usable.
 */
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { halfOpenConnection, keepWritingUntilClosed } from '../support/raw-http.js';

describe('the drain of a refused, unread request body is bounded', () => {
  let gateway: RawUpstreamGateway | undefined;
  let upstream: RawUpstreamGateway['upstream'];
  let server: RunningServer;
  let key: RawUpstreamGateway['key'];
  let host: string;

  beforeAll(async () => {
    gateway = await startRawUpstreamGateway('unread-body-drain', { maxBody: '1kb' });
    ({ upstream, server, key } = gateway);
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** Sends `head` (a request head and maybe part of its body) and waits for the whole response head. */
  async function refused(head: string, status: number) {
    const connection = halfOpenConnection(server.url);
    connection.socket.write(head);
    await connection.until(() => connection.received().includes('\r\n\r\n') || connection.isClosed());
    expect(connection.received()).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    return connection;
  }

  it('a body declared over --max-body and trickled after the 413 is cut off', async () => {
    const connection = await refused(
      `POST /drain-over-limit HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${freshAddress()}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1000000000\r\n\r\nxxxx',
      413,
    );
    // Without the bound the server reads and drops these for as long as the client sends them.
    await keepWritingUntilClosed(connection, 'x'.repeat(64));
    expect(connection.isClosed()).toBe(true);
    expect(upstream.seen.filter((seen) => seen.requestLine.includes('/drain-over-limit'))).toEqual([]);
  });

  it('an unsigned body under the limit, trickled after the 401, is cut off', async () => {
    const connection = await refused(
      `POST /drain-unsigned HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${freshAddress()}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\nx',
      401,
    );
    await keepWritingUntilClosed(connection, 'x');
    expect(connection.isClosed()).toBe(true);
  });

  it('a refused body that arrives in full leaves the connection usable for the next request', async () => {
    const path = '/drain-then-signed';
    const { headers } = await signMessage({ method: 'GET', url: `${server.url}${path}`, headers: {} }, key);
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const connection = await refused(
      `POST /drain-small HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${freshAddress()}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n0123456789',
      401,
    );
    expect(connection.received()).not.toMatch(/\r\nconnection: close\r\n/i);
    connection.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    await connection.until(() => /\r\n\r\nupstream ok/.test(connection.received()) || connection.isClosed());
    expect(connection.received()).toMatch(/\r\n\r\nupstream ok/);
    expect(connection.isClosed()).toBe(false);
    connection.socket.destroy();
  });
});
