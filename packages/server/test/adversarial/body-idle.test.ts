/**
 * A declared request body that never comes (or trickles) on the routes that read a body before
 * answering: `/v1/whoami`, the signed admin API and the login route (found by serve-conn, session 11).
 *
 * - Stalled: a head declaring `Content-Length` and then nothing. The signed routes used to read the
 *   whole body (up to `--max-body`) before looking at the signature, with no time bound, so such a
 *   connection was neither answered nor closed. Now an unsigned (or badly signed) request is refused
 *   from its head, before any body byte is read, and the refused body is drained for 2 s at most;
 *   a body the server waits for (the login's, a body-signed scheme's) is held to the minimum rate
 *   over each `--headers-timeout` window (review12-slow-body.test.ts), so the connection is closed.
 * - Slow but moving, and proven: a request whose head signature covers the body's digest is proven
 *   before its body is read, so its body may arrive below the minimum rate (a long authenticated
 *   upload must not be cut). Before, the signed routes read the body first, and cut it.
 *
 * Against the real process, raw sockets, a 1 s headers timeout; every wait is for a condition.
 */

import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { signMessage } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, type IssuedKey } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';

/** Everything the server sent until it closed the connection, and how long after `since` it closed. */
function untilClosed(socket: Socket, since: number): Promise<{ received: string; afterMs: number }> {
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve({ received, afterMs: Date.now() - since })));
}

describe('declared request bodies that stall', () => {
  let dir: string;
  let db: string;
  let key: IssuedKey;
  let server: ServeProcess;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    buildOnce();
    dir = tempDir();
    db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'body-idle', ['--scope', 'admin']);
    server = await startServe(['--db', db, '--headers-timeout', '1s'], { cwd: dir });
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.stop();
  });

  function open(): Socket {
    const { hostname, port } = new URL(server.url);
    const socket = connect({ host: hostname, port: Number(port) });
    sockets.push(socket);
    return socket;
  }

  it.each([
    ['whoami', '/v1/whoami', 100_000],
    ['an admin route', '/v1/admin/principals', 100_000],
  ])(
    '%s: an unsigned request declaring a body it never sends is refused from its head, then closed',
    async (_name, path, length) => {
      const { host } = new URL(server.url);
      const socket = open();
      const started = Date.now();
      const closed = untilClosed(socket, started);
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
      );
      const { received, afterMs } = await closed;
      // Before: no answer and no close (the body was awaited, up to --max-body, for ever).
      expect(received).toMatch(/^HTTP\/1\.1 401 /);
      expect(received).toContain('application/problem+json');
      // The refused body is drained for 2 s after the answer, then the connection is closed.
      expect(afterMs).toBeLessThan(8_000);
    },
    60_000,
  );

  it('the login route: a declared body that never comes has its connection closed', async () => {
    const { host } = new URL(server.url);
    const socket = open();
    const started = Date.now();
    const closed = untilClosed(socket, started);
    socket.write(
      `POST /v1/keys HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
    );
    const { received, afterMs } = await closed;
    // Answered 408 (the head was complete and nothing had been answered), then closed. Before
    // session 12 (sec-slow): closed without an answer.
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(received).toContain('application/problem+json');
    expect(received).toContain('"code":"body_timeout"');
    expect(received.toLowerCase()).toContain('connection: close');
    // Judged after one 1 s window (checked each window): well within 8 s.
    expect(afterMs).toBeLessThan(8_000);
  }, 60_000);

  it('whoami: a badly signed request with a stalled body is refused from its head', async () => {
    const { host } = new URL(server.url);
    const prepared = await signMessage(
      {
        method: 'POST',
        // Signed for another path: the signature does not hold for the request sent.
        url: `${server.url}/v1/whoamx`,
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(Buffer.from('b'.repeat(300))),
      },
      key,
    );
    const lines = ['POST /v1/whoami HTTP/1.1', `Host: ${host}`, 'Content-Type: application/octet-stream'];
    lines.push('Content-Length: 300');
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    const socket = open();
    const started = Date.now();
    const closed = untilClosed(socket, started);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    const { received, afterMs } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 401 /);
    expect(afterMs).toBeLessThan(8_000);
  }, 60_000);

  it('whoami: a signed body arriving below the minimum rate is not cut (the sender is proven by its head)', async () => {
    const { host } = new URL(server.url);
    // 300 bytes over ~3 s (100 B/s, below the 500 B/s an unproven body must keep up).
    const body = Buffer.from('b'.repeat(300));
    const prepared = await signMessage(
      {
        method: 'POST',
        url: `${server.url}/v1/whoami`,
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(body),
      },
      key,
    );
    const lines = ['POST /v1/whoami HTTP/1.1', `Host: ${host}`, 'Connection: close'];
    lines.push('Content-Type: application/octet-stream', `Content-Length: ${body.length}`);
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    const socket = open();
    const closed = untilClosed(socket, Date.now());
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let sent = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= body.length) return clearInterval(timer);
      socket.write(body.subarray(sent, sent + 10));
      sent += 10;
    }, 100);
    const { received } = await closed;
    clearInterval(timer);
    // Before: '' (the body was read before the signature was checked, and held to the minimum rate).
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toContain('"principal":"body-idle"');
  }, 20_000);
  it('whoami: a signed chunked body over --max-body is still refused 413 after the head is admitted', async () => {
    const small = await startServe(['--db', db, '--headers-timeout', '1s', '--max-body', '1kb'], { cwd: dir });
    try {
      const { host, hostname, port } = new URL(small.url);
      const body = Buffer.from('b'.repeat(2000));
      const prepared = await signMessage(
        {
          method: 'POST',
          url: `${small.url}/v1/whoami`,
          headers: { 'content-type': 'application/octet-stream' },
          body: new Uint8Array(body),
        },
        key,
      );
      const lines = ['POST /v1/whoami HTTP/1.1', `Host: ${host}`, 'Connection: close'];
      lines.push('Content-Type: application/octet-stream', 'Transfer-Encoding: chunked');
      for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
      const socket = connect({ host: hostname, port: Number(port) });
      sockets.push(socket);
      const closed = untilClosed(socket, Date.now());
      socket.write(`${lines.join('\r\n')}\r\n\r\n${body.length.toString(16)}\r\n${body.toString()}\r\n0\r\n\r\n`);
      const { received } = await closed;
      expect(received).toMatch(/^HTTP\/1\.1 413 /);
      expect(received).toContain('application/problem+json');
    } finally {
      await small.stop();
    }
  }, 20_000);
});
