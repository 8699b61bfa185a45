/**
 * Review 12: what one client could still hold of `hmac-kit serve` under the connection caps.
 *
 * - Slow POST ("R-U-Dead-Yet"): `--headers-timeout` bounds the request head, but a client that sent
 *   a complete head declaring a body and then trickled it (one byte now and then) held its
 *   connection for ever on any route that reads a body before the sender is proven (the logins
 *   here; the signed admin API; the gateway's body-signed schemes). With `--max-connections` four
 *   addresses held every slot of a process, and everyone else was refused. Now each
 *   `--headers-timeout` window in which the server waits for an unproven body must bring
 *   MIN_BODY_BYTES_PER_SECOND, or the connection (HTTP/1.1) or stream (HTTP/2) is cut.
 * - HTTP/2 streams: Node's default SETTINGS_MAX_CONCURRENT_STREAMS is 2^32 - 1, so one connection
 *   (one slot of the cap) carried any number of requests in flight. Now 128 (landed by serve-conn meanwhile).
 *
 * A 1 s headers timeout keeps every wait short; every wait is for a condition. The plain-HTTP tests share
 * one server (`plain()`, started once): each waits until its own connection is closed or answered, and
 * the slow-read test counts open connections only once the earlier ones are gone (`until`).
 */

import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { startRawUpstream } from '../support/raw-http.js';
import { http2Session, makeCertificates, type TestCertificates, trickleHttp2Body } from '../support/tls.js';

const TRICKLE_MS = 100;

/** Sends `head`, then `body` one byte per TRICKLE_MS while the socket is open. */
function trickle(socket: Socket, head: string, body: string): { stop: () => void } {
  socket.write(head);
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= body.length) return;
    socket.write(body[sent++] ?? '');
  }, TRICKLE_MS);
  socket.once('close', () => clearInterval(timer));
  return { stop: () => clearInterval(timer) };
}

function closedOrAnswered(socket: Socket): Promise<string> {
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(received)));
}

describe('review12: slow bodies and HTTP/2 streams under the connection caps', () => {
  let dir: string;
  let certs: TestCertificates;
  const servers: ServeProcess[] = [];
  const sockets: Socket[] = [];

  beforeAll(() => {
    buildOnce();
    dir = tempDir();
    certs = makeCertificates(dir);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => server.stop()));
  });

  async function serve(args: string[]): Promise<ServeProcess> {
    const server = await startServe(['--db', join(dir, 'hmac-kit.db'), '--headers-timeout', '1s', ...args], {
      cwd: dir,
    });
    servers.push(server);
    return server;
  }

  let plainServer: Promise<ServeProcess> | undefined;
  /**
   * The plain-HTTP server of the tests below, started by the first that needs it. `--keep-alive-timeout 1s`
   * is the slow-read test's; the login tests send one request per connection (cut, or `Connection: close`).
   */
  function plain(): Promise<ServeProcess> {
    plainServer ??= serve(['--keep-alive-timeout', '1s']);
    return plainServer;
  }

  /**
   * A connection to the plain server and a login request for it (a ~900-byte JSON body, not sent
   * yet): its head and body, and what the connection received once closed.
   */
  async function slowLogin(): Promise<{ socket: Socket; head: string; body: string; done: Promise<string> }> {
    const server = await plain();
    const { hostname, port } = new URL(server.url);
    const body = `{"username":"${'u'.repeat(900)}","password":"x"}`;
    const head = `POST /v1/keys HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const socket = connect({ host: hostname, port: Number(port) });
    sockets.push(socket);
    return { socket, head, body, done: closedOrAnswered(socket) };
  }

  it('cuts an unproven request body trickled below the minimum rate (the login route)', async () => {
    const { socket, head, body, done } = await slowLogin();
    trickle(socket, head, body);
    // Before: the connection stayed open as long as the bytes kept coming (90 s for this body),
    // well past the test's timeout. Then (review12) closed without an answer; now (sec-slow)
    // answered 408 body_timeout first, and closed.
    const answer = await done;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"body_timeout"');
  }, 60_000);

  it('cuts a trickled body whose first bytes came with the head (the rate watch is armed a microtask later)', async () => {
    const { socket, head, body, done } = await slowLogin();
    // All but one byte in the head's packet: the watch must not take the body for arrived.
    trickle(socket, head + body.slice(0, -1), '');
    setTimeout(() => {
      if (!socket.destroyed) socket.write(body.slice(-1));
    }, 30_000).unref();
    const answer = await done;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"body_timeout"');
  }, 60_000);

  it('cuts an HTTP/2 stream whose unproven body is trickled, and advertises at most 128 streams', async () => {
    const server = await serve(['--tls-cert', certs.first.certFile, '--tls-key', certs.first.keyFile]);
    const port = Number(new URL(server.url).port);
    const { session, socket } = await http2Session(port, certs.ca);
    sockets.push(socket);
    // nghttp2 assumes 100 until the server's SETTINGS arrive: wait for them.
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) =>
      session.once('remoteSettings', resolve),
    );
    expect(settings.maxConcurrentStreams).toBe(128);

    const { status, answer } = await trickleHttp2Body(
      session,
      {
        ':method': 'POST',
        ':path': '/v1/keys',
        'content-type': 'application/json',
        'content-length': '1000',
      },
      TRICKLE_MS,
    );
    // Answered 408 body_timeout, then the stream is reset (review12: reset with CANCEL, no answer);
    // the session (other streams) stays open.
    expect(status).toBe(408);
    expect(JSON.parse(answer).code).toBe('body_timeout');
    expect(session.closed || session.destroyed).toBe(false);
    session.close();
  }, 60_000);

  it('leaves a body that arrives at a fair pace alone', async () => {
    const server = await plain();
    const { hostname, port } = new URL(server.url);
    // 2.5 s for 2,600 bytes: slow, but above the minimum rate in every 1 s window.
    const body = `{"username":"${'u'.repeat(2560)}","password":"x"}`;
    const head = `POST /v1/keys HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    const socket = connect({ host: hostname, port: Number(port) });
    sockets.push(socket);
    const done = closedOrAnswered(socket);
    socket.write(head);
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= body.length) return clearInterval(timer);
      socket.write(body.slice(sent, sent + 100));
      sent += 100;
    }, TRICKLE_MS);
    const answer = await done;
    // An answer (the login fails: there is no such user), not a cut connection.
    expect(answer).toMatch(/^HTTP\/1\.1 (400|401|403|404|422)/);
  }, 60_000);

  it('gateway: a signed upload may arrive slowly; a body-signed claim trickled is cut', async () => {
    const upstream = await startRawUpstream(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const server = await startInProcess({
      upstream: upstream.url,
      schemes: 'rfc9421,x-api',
      headersTimeout: '1s',
    });
    try {
      const key = await issueKey(server, 'review12-slow-upload');
      const { hostname, port } = new URL(server.url);
      // 300 bytes over 3 s (100 B/s, below the minimum rate): proven by the head's signature, so left alone.
      const body = Buffer.from('b'.repeat(300));
      const prepared = await signMessage(
        {
          method: 'POST',
          url: `${server.url}/upload`,
          headers: { 'content-type': 'application/octet-stream' },
          body: new Uint8Array(body),
        },
        key,
      );
      const lines = ['POST /upload HTTP/1.1', `Host: ${hostname}:${port}`, 'Connection: close'];
      lines.push('Content-Type: application/octet-stream', `Content-Length: ${body.length}`);
      for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
      const signed = connect({ host: hostname, port: Number(port) });
      sockets.push(signed);
      const answer = closedOrAnswered(signed);
      signed.write(`${lines.join('\r\n')}\r\n\r\n`);
      let sent = 0;
      const timer = setInterval(() => {
        if (signed.destroyed || sent >= body.length) return clearInterval(timer);
        signed.write(body.subarray(sent, sent + 10));
        sent += 10;
      }, TRICKLE_MS);
      expect(await answer).toMatch(/^HTTP\/1\.1 200 /);

      // X-API signs the body itself: nothing is proven until it is read, so it is held to the rate.
      const claim = [
        'POST /upload HTTP/1.1',
        `Host: ${hostname}:${port}`,
        'Content-Type: application/json',
        'Content-Length: 1000',
        `X-API-Key: ${key.keyId}`,
        `X-API-Timestamp: ${Math.floor(Date.now() / 1000)}`,
        `X-API-Nonce: ${'n'.repeat(24)}`,
        `X-API-Signature: ${'0'.repeat(64)}`,
      ];
      const forged = connect({ host: hostname, port: Number(port) });
      sockets.push(forged);
      const cut = closedOrAnswered(forged);
      trickle(forged, `${claim.join('\r\n')}\r\n\r\n`, 'x'.repeat(1000));
      const refused = await cut;
      expect(refused).toMatch(/^HTTP\/1\.1 408 /);
      expect(refused).toContain('"code":"body_timeout"');
    } finally {
      await server.close();
      await upstream.close();
    }
  }, 20_000);

  // Slow read: a client that pipelines requests for a large answer (GET /openapi.json, 51 KB,
  // unauthenticated) and never reads held a plain-HTTP connection for ever: the response never
  // finishes, so neither --keep-alive-timeout nor --headers-timeout starts, and plain HTTP had no
  // socket timeout at all (before: still open after 10 s with both at 1 s). Now a connection whose
  // pending answer gets under 500 B/s into the kernel over a --headers-timeout window is closed.
  it('closes a connection whose client stops reading its answers (slow read)', async () => {
    const server = await plain();
    const { hostname, port } = new URL(server.url);
    /** hmac_kit_connections_open, scraped on a connection of its own (which counts itself). */
    const openConnections = async () => {
      const text = await (await fetch(`${server.url}/metrics`, { headers: { connection: 'close' } })).text();
      const line = text.split('\n').find((candidate) => candidate.startsWith('hmac_kit_connections_open '));
      return Number(line?.split(' ')[1]);
    };
    const socket = connect({ host: hostname, port: Number(port) });
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // 400 x 51 KB: more than the kernel buffers of both ends hold on loopback, so the server's writes stall.
    socket.write(`GET /openapi.json HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`.repeat(400));
    socket.pause();
    await until(async () => (await openConnections()) === 2);
    // The server closes its end (the paused client only sees it once it reads again).
    await until(async () => (await openConnections()) === 1);
  }, 60_000);
});
