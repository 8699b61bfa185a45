/**
 * Review 9, the bounded drain of 71c46d2 (listener.ts `ClosingServerResponse.end` / `boundDrain`):
 * a refused request whose body is still arriving 2 s after its response ended has its connection
 * destroyed. The attack: pipeline the refused request behind one whose answer is still pending
 * (here a signed GET the upstream holds; any slow answer does). Node queues the second response
 * until the first is out and gives it no socket meanwhile (`response.socket === null` when the
 * route calls `end()`), so the bound was never armed: the refused body was then drained for as long
 * as the client trickled it. The bound now takes the request's socket and starts once the queued
 * response is out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { issueKey, type RawUpstreamGateway, startInProcess } from '../support/in-process.js';
import { halfOpenConnection, keepWritingUntilClosed } from '../support/raw-http.js';

describe('review9: the bounded drain holds for a refused request pipelined behind a pending answer', () => {
  let upstream: Server;
  let upstreamUrl: string;
  const held: ServerResponse[] = [];
  let wake: () => void = () => {};
  let server: RunningServer;
  let key: RawUpstreamGateway['key'];
  let host: string;

  beforeAll(async () => {
    upstream = createServer((request: IncomingMessage, response: ServerResponse) => {
      request.resume();
      if (request.url?.startsWith('/slow')) {
        held.push(response);
        wake();
        return;
      }
      response.end('upstream ok');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    server = await startInProcess({ upstream: upstreamUrl, schemes: 'rfc9421', maxBody: '1kb' });
    key = await issueKey(server, 'review9-drain');
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await server?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  it('a refused body pipelined behind a slow answer and trickled after its 413 is cut off', async () => {
    const path = '/slow/review9';
    const { headers } = await signMessage({ method: 'GET', url: `${server.url}${path}`, headers: {} }, key);
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const connection = halfOpenConnection(server.url);
    connection.socket.write(
      `${lines.join('\r\n')}\r\n\r\n` +
        `POST /drain-pipelined HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${freshAddress()}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1000000000\r\n\r\nxxxx',
    );
    await new Promise<void>((resolve) => {
      wake = resolve;
      if (held.length > 0) resolve();
    });
    // The unsigned POST has been parsed and refused by now (it came in the same packet as the GET,
    // which had to reach the upstream first); its 413 (declared over --max-body) waits behind the GET's answer.
    held[0]?.end('slow ok');
    await connection.until(() => / 413 /.test(connection.received()) || connection.isClosed());
    expect(connection.received()).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 413 /);
    // Without the bound the server reads and drops these for as long as the client sends them.
    await keepWritingUntilClosed(connection, 'x'.repeat(64));
    expect(connection.isClosed()).toBe(true);
  }, 15_000);
});

describe('review9: the bounded drain leaves nothing behind on a keep-alive connection', () => {
  let server: RunningServer;
  let host: string;

  beforeAll(async () => {
    server = await startInProcess({ upstream: 'http://127.0.0.1:9', schemes: 'rfc9421', maxBody: '1kb' });
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await server?.close();
  });

  it('refused requests whose bodies arrive just after the answer add no listener per request to the socket', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const connection = halfOpenConnection(server.url);
      const address = freshAddress();
      const body = 'x'.repeat(100);
      // Each answer ends before its body arrives (a timer armed), then the body completes (the
      // timer cleared): without the listeners removed, the socket gains a 'close' listener holding
      // the request per refusal, for as long as the client keeps the connection.
      for (let index = 0; index < 15; index += 1) {
        const before = (connection.received().match(/HTTP\/1\.1 401 /g) ?? []).length;
        connection.socket.write(
          `POST /drain-leak-${index} HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${address}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        await connection.until(
          () => (connection.received().match(/HTTP\/1\.1 401 /g) ?? []).length > before || connection.isClosed(),
        );
        connection.socket.write(body);
      }
      // One more round trip: every body above has been read by now.
      connection.socket.write(`GET /drain-leak-last HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${address}\r\n\r\n`);
      await connection.until(() => (connection.received().match(/HTTP\/1\.1 401 /g) ?? []).length >= 16);
      await new Promise((resolve) => setImmediate(resolve));
      expect(connection.isClosed()).toBe(false);
      expect(warnings.filter((warning) => warning.includes('MaxListenersExceeded'))).toEqual([]);
      connection.socket.destroy();
    } finally {
      process.off('warning', onWarning);
    }
  });
});
