/**
 * Review 15: HTTP/2 slow peers, frame by frame (a raw h2 client over TLS).
 *
 * - PING ACKs as send progress: the slow-read sweep counted every byte the server got into the
 *   kernel, its own PING ACKs included, so a client that kept its flow-control windows shut and sent
 *   PINGs (each answered with a 17-byte ACK in a TLS record) made the 500 B/s the sweep asks for and
 *   held its pending answers, and its connection slot, for as long as it liked.
 *
 * - One stalled stream closed the whole connection: a client that reads its connection but keeps
 *   one stream's window shut lost every other stream of the session with it. Now the stalled
 *   streams are reset (RST_STREAM CANCEL) and the session goes on; a client that stops reading the
 *   connection itself still loses it (slow-peers-tls.test.ts).
 *
 * - A trailing WINDOW_UPDATE made an idle session a slow head: the head bound takes bytes from the
 *   client with no stream open for a request head in progress, and a client that sent the
 *   WINDOW_UPDATE for the connection after reading its last answer (as clients do) got GOAWAY
 *   once the headers timeout ran out, instead of keeping its idle session as others do.
 *
 * A 1 s headers timeout keeps every wait short; every wait is for a condition.
 */

import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeProcess } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { FLAG, FRAME, frame, headerBlock, rawH2, windowUpdate } from '../support/raw-h2.js';
import { startTlsServe, type TestCertificates } from '../support/tls.js';

const INITIAL_WINDOW_SIZE = 4;

describe('review15: HTTP/2 slow peers', () => {
  let certs: TestCertificates;
  let server: ServeProcess;
  let port: number;
  const sockets: TLSSocket[] = [];

  beforeAll(async () => {
    ({ certs, server, port } = await startTlsServe());
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.stop();
  });

  /** The frames of `type` the server sent on `streamId`, as [flags, payload]. */
  function framesOf(all: Buffer, type: number, streamId: number): Array<[number, Buffer]> {
    const found: Array<[number, Buffer]> = [];
    for (let at = 0; at + 9 <= all.length; at += 9 + all.readUIntBE(at, 3)) {
      if (all[at + 3] === type && all.readUInt32BE(at + 5) === streamId) {
        found.push([all[at + 4] ?? 0, all.subarray(at + 9, at + 9 + all.readUIntBE(at, 3))]);
      }
    }
    return found;
  }

  function requests(path: string, streamIds: number[]): Buffer {
    return Buffer.concat(
      streamIds.map((streamId) =>
        frame(
          FRAME.HEADERS,
          FLAG.END_HEADERS | FLAG.END_STREAM,
          streamId,
          headerBlock([
            [':method', 'GET'],
            [':scheme', 'https'],
            [':path', path],
            [':authority', `localhost:${port}`],
          ]),
        ),
      ),
    );
  }

  // Before: still open when the test timed out (~1.7 KB/s of PING ACKs, or ~0.9 KB/s of SETTINGS
  // ACKs and their TLS records, counted as the answers going out).
  it.each([
    ['PINGs', frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
    ['empty SETTINGS frames', frame(FRAME.SETTINGS, 0, 0)],
  ])(
    'closes a connection whose windows are shut however many %s its client sends',
    async (_what, control) => {
      const { socket } = await rawH2(port, certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
      sockets.push(socket);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // 16 answers of the 51 KB /openapi.json, all waiting for a window that never opens.
      socket.write(requests('/openapi.json', [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]));
      let pings = 0;
      const burst = Buffer.concat(Array.from({ length: 10 }, () => control));
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        socket.write(burst);
        pings += 10;
      }, 100);
      await closed;
      clearInterval(timer);
      expect(pings).toBeGreaterThan(0);
    },
    60_000,
  );

  // Before: the connection was closed, and every other stream of the session with it.
  it('resets only the stream whose window stays shut; the session serves its next request', async () => {
    const { socket, received } = await rawH2(port, certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
    sockets.push(socket);
    socket.write(requests('/openapi.json', [1]));
    await until(() => socket.destroyed || framesOf(received(), FRAME.RST_STREAM, 1).length > 0);
    expect(socket.destroyed).toBe(false);
    const [[, code] = [0, Buffer.alloc(4)]] = framesOf(received(), FRAME.RST_STREAM, 1);
    expect(code.readUInt32BE(0)).toBe(0x8); // CANCEL
    // The next request on the same session, its window opened: answered in full.
    socket.write(Buffer.concat([requests('/healthz', [3]), windowUpdate(3, 65_535)]));
    await until(
      () => socket.destroyed || framesOf(received(), FRAME.DATA, 3).some(([flags]) => (flags & FLAG.END_STREAM) !== 0),
    );
    expect(socket.destroyed).toBe(false);
    const body = Buffer.concat(framesOf(received(), FRAME.DATA, 3).map(([, payload]) => payload)).toString('utf8');
    expect(JSON.parse(body)).toEqual({ status: 'ok' });
  }, 60_000);

  // Before: the idle session got GOAWAY at the same sweep as the session with a head in progress
  // (or earlier), and its next request was refused.
  it('leaves an idle session alone that sent a WINDOW_UPDATE after reading its answer', async () => {
    const { socket, received } = await rawH2(port, certs.ca);
    sockets.push(socket);
    const served = () => server.logs.filter((line) => line.msg === 'request' && line.path === '/healthz').length;
    const before = served();
    socket.write(requests('/healthz', [1]));
    // The access line is written once the stream has closed on the server: the session is idle.
    await until(() => served() > before);
    socket.write(windowUpdate(0, 1_000));
    // A session whose head stays incomplete, opened after the WINDOW_UPDATE was sent: the head
    // bound cuts it at the sweep that would cut the idle session, or later.
    const sentinel = await rawH2(port, certs.ca);
    sockets.push(sentinel.socket);
    const block = headerBlock([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/healthz'],
      [':authority', `localhost:${port}`],
    ]);
    sentinel.socket.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 10)));
    await until(() => sentinel.socket.destroyed || framesOf(sentinel.received(), FRAME.GOAWAY, 0).length > 0);
    socket.write(requests('/healthz', [3]));
    await until(
      () =>
        socket.destroyed ||
        framesOf(received(), FRAME.GOAWAY, 0).length > 0 ||
        framesOf(received(), FRAME.DATA, 3).some(([flags]) => (flags & FLAG.END_STREAM) !== 0),
    );
    expect(framesOf(received(), FRAME.GOAWAY, 0)).toEqual([]);
    expect(socket.destroyed).toBe(false);
  }, 60_000);

  // What the WINDOW_UPDATE excuses is the bytes read with it: a head trickled after one is cut as before.
  it('still closes a session that trickles a head after a WINDOW_UPDATE for the connection', async () => {
    const { socket } = await rawH2(port, certs.ca);
    sockets.push(socket);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const block = headerBlock([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/healthz'],
      [':authority', `localhost:${port}`],
      ['x-padding', 'p'.repeat(16_000)],
    ]);
    const continuation = frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(40));
    socket.write(
      Buffer.concat([
        windowUpdate(0, 1_000),
        frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 40)),
        continuation.subarray(0, 10),
      ]),
    );
    let sent = 10;
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= continuation.length) return clearInterval(timer);
      socket.write(continuation.subarray(sent, sent + 1));
      sent++;
    }, 100);
    await closed;
    clearInterval(timer);
    expect(sent).toBeLessThan(continuation.length);
  }, 60_000);
});
