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

import { connect } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { until } from '../../../../test-support/wait.js';
import {
  FLAG,
  FRAME,
  frame,
  framesOf,
  getHead,
  getRequests,
  rawH2,
  trickleHead,
  windowUpdate,
} from '../support/raw-h2.js';
import { tlsServeSuite } from '../support/tls.js';

const INITIAL_WINDOW_SIZE = 4;

describe('review15: HTTP/2 slow peers', () => {
  const suite = tlsServeSuite();

  // Before: still open when the test timed out (~1.7 KB/s of PING ACKs, or ~0.9 KB/s of SETTINGS
  // ACKs and their TLS records, counted as the answers going out).
  it.each([
    ['PINGs', frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
    ['empty SETTINGS frames', frame(FRAME.SETTINGS, 0, 0)],
  ])(
    'closes a connection whose windows are shut however many %s its client sends',
    async (_what, control) => {
      const { socket } = await rawH2(suite.port, suite.certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
      suite.sockets.push(socket);
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // 16 answers of the 51 KB /openapi.json, all waiting for a window that never opens.
      socket.write(
        getRequests(suite.port, '/openapi.json', [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]),
      );
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
    const { socket, received } = await rawH2(suite.port, suite.certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
    suite.sockets.push(socket);
    socket.write(getRequests(suite.port, '/openapi.json', [1]));
    await until(() => socket.destroyed || framesOf(received(), FRAME.RST_STREAM, 1).length > 0);
    expect(socket.destroyed).toBe(false);
    const [[, code] = [0, Buffer.alloc(4)]] = framesOf(received(), FRAME.RST_STREAM, 1);
    expect(code.readUInt32BE(0)).toBe(0x8); // CANCEL
    // The next request on the same session, its window opened: answered in full.
    socket.write(Buffer.concat([getRequests(suite.port, '/healthz', [3]), windowUpdate(3, 65_535)]));
    await until(
      () => socket.destroyed || framesOf(received(), FRAME.DATA, 3).some(([flags]) => (flags & FLAG.END_STREAM) !== 0),
    );
    expect(socket.destroyed).toBe(false);
    const body = Buffer.concat(framesOf(received(), FRAME.DATA, 3).map(([, payload]) => payload)).toString('utf8');
    expect(JSON.parse(body)).toEqual({ status: 'ok' });
  }, 60_000);

  // Before: streams 3-17 kept their 51 KB answers waiting for as long as stream 1 took (~35 s
  // here): the sweep judged the connection as a whole, so one stream read at 500 B/s held up to 127
  // other answers, each in memory, at no further cost (HTTP/1.1 holds one answer per 500 B/s).
  it('keeps no more waiting answers than the connection reads minimums for; the stream being read goes on', async () => {
    const { socket, received } = await rawH2(suite.port, suite.certs.ca, [[INITIAL_WINDOW_SIZE, 0]]);
    suite.sockets.push(socket);
    const shut = [3, 5, 7, 9, 11, 13, 15, 17];
    socket.write(getRequests(suite.port, '/openapi.json', [1, ...shut]));
    // Stream 1 is read at ~1.5 KB/s (three minimums); the other streams' windows never open.
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(Buffer.concat([windowUpdate(1, 150), windowUpdate(0, 150)]));
    }, 100);
    const reset = () => shut.filter((streamId) => framesOf(received(), FRAME.RST_STREAM, streamId).length > 0);
    const ended = () => framesOf(received(), FRAME.DATA, 1).some(([flags]) => (flags & FLAG.END_STREAM) !== 0);
    try {
      await until(() => socket.destroyed || reset().length >= shut.length - 4 || ended());
    } finally {
      clearInterval(timer);
    }
    expect(socket.destroyed).toBe(false);
    expect(ended()).toBe(false);
    expect(reset().length).toBeGreaterThanOrEqual(shut.length - 4);
    expect(framesOf(received(), FRAME.RST_STREAM, 1)).toEqual([]);
  }, 90_000);

  // Before: the sweep that judged the connection stalled reset every stream with an answer
  // waiting, one queued a moment before it too; a stream now gets the connection's grace, one sweep
  // window (1 s here) of waiting before it is judged. A real client (node:http2) shuts its windows
  // (SETTINGS_INITIAL_WINDOW_SIZE 0) and opens a request every 500 ms: fewer response bytes than the
  // sweep's minimum, so the connection is judged stalled at each sweep; then it opens its windows.
  it('resets no stream whose answer started waiting since the last sweep; the others complete once the window opens', async () => {
    const client = connect(`https://localhost:${suite.port}`, {
      ca: suite.certs.ca,
      settings: { initialWindowSize: 0 },
    });
    const outcomes: Array<Promise<{ age: number; rstCode: number; length: number; status: number }>> = [];
    let closed = 0;
    const open = () => {
      const stream = client.request({ ':path': '/openapi.json' });
      const opened = Date.now();
      let length = 0;
      let status = 0;
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('data', (chunk: Buffer) => {
        length += chunk.length;
      });
      stream.on('error', () => {});
      outcomes.push(
        new Promise((resolve) =>
          stream.once('close', () => {
            closed++;
            resolve({ age: Date.now() - opened, rstCode: stream.rstCode ?? 0, length, status });
          }),
        ),
      );
    };
    try {
      await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
      open();
      const timer = setInterval(open, 500);
      try {
        // Several sweeps that reset streams: each had a younger stream waiting beside the one it reset.
        await until(() => closed >= 4 || client.destroyed);
      } finally {
        clearInterval(timer);
      }
      expect(client.destroyed).toBe(false);
      client.settings({ initialWindowSize: 65_535 });
      const all = await Promise.all(outcomes);
      const cancelled = all.filter((outcome) => outcome.rstCode !== 0);
      const answered = all.filter((outcome) => outcome.rstCode === 0);
      expect(cancelled.length).toBeGreaterThanOrEqual(4);
      expect(cancelled.every((outcome) => outcome.rstCode === 0x8)).toBe(true);
      // Before: a stream opened 0-500 ms before a stalling sweep was reset with the old ones.
      expect(cancelled.filter((outcome) => outcome.age < 700)).toEqual([]);
      // The streams that were still waiting when the window opened got their answers, whole.
      expect(answered.length).toBeGreaterThan(0);
      expect(answered.every((outcome) => outcome.status === 200 && outcome.length > 10_000)).toBe(true);
      expect(new Set(answered.map((outcome) => outcome.length)).size).toBe(1);
    } finally {
      client.close();
    }
  }, 60_000);

  // The rate per answer cuts no client that reads its answers: 32 concurrent /openapi.json on one
  // session, read as node:http2 reads (its windows opened as it consumes), all complete.
  it('resets no stream of a client reading many answers at once', async () => {
    const client = connect(`https://localhost:${suite.port}`, { ca: suite.certs.ca });
    try {
      const bodies = await Promise.all(
        Array.from(
          { length: 32 },
          () =>
            new Promise<number>((resolve, reject) => {
              const stream = client.request({ ':path': '/openapi.json' });
              let length = 0;
              stream.on('data', (chunk: Buffer) => {
                length += chunk.length;
              });
              stream.on('end', () => resolve(length));
              stream.on('error', reject);
              stream.on('close', () => {
                if (stream.rstCode !== 0) reject(new Error(`reset ${stream.rstCode}`));
              });
            }),
        ),
      );
      expect(new Set(bodies).size).toBe(1);
      expect(bodies[0]).toBeGreaterThan(10_000);
    } finally {
      client.close();
    }
  }, 60_000);

  // Before: the idle session got GOAWAY at the same sweep as the session with a head in progress
  // (or earlier), and its next request was refused.
  it('leaves an idle session alone that sent a WINDOW_UPDATE after reading its answer', async () => {
    const { socket, received } = await rawH2(suite.port, suite.certs.ca);
    suite.sockets.push(socket);
    const served = () => suite.server.logs.filter((line) => line.msg === 'request' && line.path === '/healthz').length;
    const before = served();
    socket.write(getRequests(suite.port, '/healthz', [1]));
    // The access line is written once the stream has closed on the server: the session is idle.
    await until(() => served() > before);
    socket.write(windowUpdate(0, 1_000));
    // A session whose head stays incomplete, opened after the WINDOW_UPDATE was sent: the head
    // bound cuts it at the sweep that would cut the idle session, or later.
    const sentinel = await rawH2(suite.port, suite.certs.ca);
    suite.sockets.push(sentinel.socket);
    sentinel.socket.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, getHead(suite.port, '/healthz').subarray(0, 10)));
    await until(() => sentinel.socket.destroyed || framesOf(sentinel.received(), FRAME.GOAWAY, 0).length > 0);
    socket.write(getRequests(suite.port, '/healthz', [3]));
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
    const { socket } = await rawH2(suite.port, suite.certs.ca);
    suite.sockets.push(socket);
    const { sent, length } = await trickleHead(socket, suite.port, windowUpdate(0, 1_000));
    expect(sent).toBeLessThan(length);
  }, 60_000);
});
