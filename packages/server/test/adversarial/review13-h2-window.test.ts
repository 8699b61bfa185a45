/**
 * Review 13: HTTP/2 flow control as a slow read.
 *
 * The slow-read bound (session 12) counts bytes waiting in the TCP socket beneath TLS. An HTTP/2
 * client that keeps its flow-control windows closed (SETTINGS_INITIAL_WINDOW_SIZE 0, or never a
 * WINDOW_UPDATE after the first 64 KiB) leaves nothing there: every answer waits in its stream
 * (Node's stream queue, nghttp2), the TCP socket is empty, and the sweep never looked. A
 * WINDOW_UPDATE of a few bytes now and then (or a PING) kept the session's 120 s idle timeout
 * from firing, and an open stream exempts the session from the head bound: up to 128 answers
 * (51 KB each here) held per connection for as long as the client liked, at ~30 bytes/s.
 * Now the answers pending in the session's streams count as unsent: the connection is closed
 * when they get under 500 B/s out over a --headers-timeout window, as a socket that stops reading.
 *
 * A 1 s headers timeout keeps every wait short; every wait is for a condition.
 */

import { describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import { FLAG, FRAME, frame, framesOf, getRequests, rawH2, windowUpdate } from '../support/raw-h2.js';
import { http2Session, tlsServeSuite, trickleHttp2Body } from '../support/tls.js';

const INITIAL_WINDOW_SIZE = 4;

describe('review13: HTTP/2 windows kept closed', () => {
  const suite = tlsServeSuite();

  const openapiRequests = (count: number) =>
    getRequests(
      suite.port,
      '/openapi.json',
      Array.from({ length: count }, (_, index) => 1 + 2 * index),
    );

  /** DATA payload bytes the server sent on `streamId` so far. */
  const dataBytes = (all: Buffer, streamId: number) =>
    framesOf(all, FRAME.DATA, streamId).reduce((total, [, payload]) => total + payload.length, 0);

  // Before: still open when the test timed out (each WINDOW_UPDATE let 8 bytes out and reset the idle timeout).
  it('closes a connection whose client keeps its stream windows all but shut', async () => {
    const { socket } = await rawH2(suite.port, suite.certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
    suite.sockets.push(socket);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(openapiRequests(16));
    let updates = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      // 8 more bytes on stream 1 and a PING: ~30 bytes/s, the session is never idle.
      socket.write(windowUpdate(1, 8));
      socket.write(frame(FRAME.PING, 0, 0, Buffer.alloc(8)));
      updates++;
    }, 250);
    await closed;
    clearInterval(timer);
    expect(updates).toBeGreaterThan(0);
  }, 60_000);

  it('leaves a client alone that opens its small window at a fair pace', async () => {
    const { socket, received } = await rawH2(suite.port, suite.certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
    suite.sockets.push(socket);
    socket.write(openapiRequests(1));
    // 4 KiB per 250 ms (16 KiB/s): the whole answer in a few seconds, several sweeps with bytes pending.
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      socket.write(windowUpdate(1, 4_096));
      socket.write(windowUpdate(0, 4_096));
    }, 250);
    let length = 0;
    await until(() => {
      const all = received();
      // The answer's content-length is not parsed here: done once a DATA frame ends stream 1.
      if (framesOf(all, FRAME.DATA, 1).some(([flags]) => flags & FLAG.END_STREAM)) {
        length = dataBytes(all, 1);
        return true;
      }
      return socket.destroyed;
    });
    clearInterval(timer);
    expect(socket.destroyed).toBe(false);
    expect(length).toBeGreaterThan(40_000);
  }, 25_000);

  // Before: the stream's close ended the request, the whoami route verified the 13 bytes received
  // as the whole body, and logged (and tallied) a failed authentication for the key id and address.
  it('a body answered 408 never reaches the verifier as a complete body (HTTP/2)', async () => {
    const { session, socket } = await http2Session(suite.port, suite.certs.ca);
    suite.sockets.push(socket);
    const keyId = 'hk_review13_slow';
    const { status, answer } = await trickleHttp2Body(
      session,
      {
        ':method': 'POST',
        ':path': '/v1/whoami',
        'content-type': 'application/json',
        'content-length': '1000',
        'x-api-key': keyId,
        'x-api-timestamp': String(Math.floor(Date.now() / 1000)),
        'x-api-nonce': 'n'.repeat(24),
        'x-api-signature': '0'.repeat(64),
      },
      100,
    );
    expect(status).toBe(408);
    expect(JSON.parse(answer).code).toBe('body_timeout');
    // A request after it on the same session: its access line comes after anything the route did
    // with the first request's body once its stream closed.
    const probe = session.request({ ':path': '/healthz' });
    probe.resume();
    await new Promise<void>((resolve) => probe.once('close', () => resolve()));
    await until(() => suite.server.logs.some((line) => line.path === '/healthz' && line.msg === 'request'));
    // As on HTTP/1.1, the route sees a client gone (premature close: no guess tallied), never a
    // verification of the 13 bytes received (ERR_KEY_UNKNOWN here, a signature mismatch for a real key).
    const failures = suite.server.logs.filter((line) => line.msg === 'authentication failed');
    expect(failures.filter((line) => line.code !== 'ERR_STREAM_PREMATURE_CLOSE')).toEqual([]);
    session.close();
  }, 60_000);
});
