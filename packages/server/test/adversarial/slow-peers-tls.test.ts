/**
 * Session 12 (sec-slow): what a slow peer could still hold of `hmac-kit serve` over TLS.
 *
 * - Slow read over TLS: a client that stops reading its answers was closed on plain HTTP (below
 *   500 B/s out over a --headers-timeout window), but over TLS only the 120 s inactivity timeout
 *   bounded it, and reading a byte now and then reset that. HTTP/1.1 over TLS and HTTP/2 (the
 *   client having opened its flow-control windows wide) alike.
 * - HTTP/2 request head trickled: a HEADERS frame without END_HEADERS, then a CONTINUATION frame
 *   sent a byte at a time. --headers-timeout bounds an HTTP/1.1 head; on HTTP/2 nothing did
 *   (node:http2 shows no partial frame to JavaScript, and the session's idle timeout sends GOAWAY
 *   but leaves the connection open while the header block is in progress).
 *
 * A 1 s headers timeout keeps every wait short; every wait is for a condition.
 */

import { request as httpsRequest } from 'node:https';
import { describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import {
  FLAG,
  FRAME,
  frame,
  framesOf,
  getHead,
  getRequests,
  MAX_WINDOW,
  rawH2,
  trickleHead,
  windowUpdate,
} from '../support/raw-h2.js';
import { tlsServeSuite, tlsSocket } from '../support/tls.js';

describe('slow peers over TLS', () => {
  const suite = tlsServeSuite(['--keep-alive-timeout', '1s']);

  /**
   * hmac_kit_connections_open, scraped over a TLS connection of its own (which counts itself); NaN
   * when the scrape fails (on a loaded machine its handshake can outlast the 1 s bound: polled again).
   */
  function scrapeOpenConnections(): Promise<number> {
    return new Promise((resolve) => {
      const request = httpsRequest(
        {
          host: '127.0.0.1',
          port: suite.port,
          path: '/metrics',
          servername: 'localhost',
          ca: suite.certs.ca,
          agent: false,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () => {
            const line = text.split('\n').find((candidate) => candidate.startsWith('hmac_kit_connections_open '));
            resolve(Number(line?.split(' ')[1]));
          });
        },
      );
      request.setHeader('connection', 'close');
      request.on('error', () => resolve(Number.NaN));
      request.end();
    });
  }

  async function openConnections(): Promise<number> {
    let open = Number.NaN;
    await until(async () => {
      open = await scrapeOpenConnections();
      return !Number.isNaN(open);
    });
    return open;
  }

  // Before: still open when the test timed out (the 120 s inactivity timeout was the only bound).
  it('closes an HTTP/1.1-over-TLS connection whose client stops reading its answers', async () => {
    const socket = await tlsSocket(suite.port, suite.certs.ca, { alpn: ['http/1.1'] });
    suite.sockets.push(socket);
    socket.on('error', () => {});
    // 400 x 51 KB: more than the kernel buffers of both ends hold on loopback.
    socket.write('GET /openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(400));
    socket.pause();
    await until(async () => (await openConnections()) === 2);
    await until(async () => (await openConnections()) === 1);
  }, 60_000);

  it('closes an HTTP/2 connection whose client opened its windows and stopped reading', async () => {
    const { socket } = await rawH2(suite.port, suite.certs.ca, [[4 /* INITIAL_WINDOW_SIZE */, MAX_WINDOW]]);
    suite.sockets.push(socket);
    socket.write(windowUpdate(0, MAX_WINDOW - 65_535));
    socket.write(
      getRequests(
        suite.port,
        '/openapi.json',
        Array.from({ length: 400 }, (_, index) => 1 + 2 * index),
      ),
    );
    socket.pause();
    await until(async () => (await openConnections()) === 2);
    await until(async () => (await openConnections()) === 1);
  }, 60_000);

  // Before: the connection stayed open for as long as the bytes kept coming (the session's 120 s
  // idle timeout sent GOAWAY, but Node does not close a session whose header block is in progress:
  // still open after 200 s, a byte per 100 ms); an HTTP/1.1 head is cut after 1 s here.
  it('closes an HTTP/2 connection whose request head is trickled in a CONTINUATION frame', async () => {
    const { socket } = await rawH2(suite.port, suite.certs.ca);
    suite.sockets.push(socket);
    // The head's CONTINUATION frame is sent a byte at a time after its first 10 bytes (trickleHead).
    const { sent, length } = await trickleHead(socket, suite.port);
    expect(sent).toBeLessThan(length);
  }, 60_000);

  it('leaves an HTTP/2 session alone that sends a head in one go, then idles', async () => {
    const before = await openConnections();
    const { socket, received } = await rawH2(suite.port, suite.certs.ca);
    suite.sockets.push(socket);
    const block = getHead(suite.port, '/healthz');
    socket.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 10)));
    socket.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(10)));
    // A HEADERS frame on stream 1 answers it: the head was taken whole, in two frames.
    await until(() => framesOf(received(), FRAME.HEADERS, 1).length > 0);
    // Still open a while later (several headers-timeout sweeps): idle without a pending head.
    expect(await openConnections()).toBe(before + 1);
    const started = Date.now();
    await until(() => Date.now() - started > 3_000 || socket.destroyed);
    expect(socket.destroyed).toBe(false);
  }, 60_000);
});
