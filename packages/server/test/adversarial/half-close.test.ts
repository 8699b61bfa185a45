/**
 * A client that half-closes its side right after its request (`shutdown(SHUT_WR)`: `nc -N`,
 * `printf ... | nc`, some health checkers, HTTP/1.0-style clients) still reads the answer. Node's
 * HTTP server, by default, aborts the request and ends the connection as soon as the client's FIN
 * arrives, so an answer not written in that same turn was lost: the gateway's relayed answer never
 * reached such a client, which saw an empty reply (the first test failed before). Over TLS the same
 * holds for HTTP/1.1; there the socket is asked to stay writable per HTTP/1.1 connection only, so
 * that a FIN on an HTTP/2 session or during the handshake still closes the connection at once
 * instead of holding it (and a slot of the connection caps) until a timeout: the servers here are
 * started with a 10-minute head timeout, so a held connection fails its test by the test's timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signed } from '../../../../test-support/cli-client.js';
import { takeFramed } from '../../../../test-support/http-framing.js';
import { forwardAuthCheck, requestBytes } from '../support/concurrent.js';
import { issueKey, type RawUpstreamGateway, startInProcess, startRawUpstreamGateway } from '../support/in-process.js';
import { recordingConnection } from '../support/raw-http.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';

/** A head timeout long enough that a connection held to it outlives the test. */
const LONG_TIMEOUTS = { headersTimeout: '10m' };

/** Resolves with all `socket` received once it has closed (both sides). */
function receivedUntilClosed(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.on('close', () => resolve(Buffer.concat(chunks))));
}

/** Writes `bytes` and half-closes at once; the one answer read before the server closed. */
async function halfClosedExchange(origin: string, bytes: string) {
  const connection = recordingConnection(origin, { allowHalfOpen: true });
  connection.socket.end(bytes);
  await connection.until(() => connection.isClosed());
  return takeFramed(Buffer.from(connection.received(), 'latin1'));
}

/** A signed 1-line JSON POST to the gateway's /orders, as raw bytes. */
async function signedOrder(gateway: RawUpstreamGateway): Promise<{ bytes: string; body: string }> {
  const url = new URL(gateway.server.url);
  const body = '{"quantity":1}';
  const request = await signed(gateway.key, 'POST', `${gateway.server.url}/orders`, { body });
  return { bytes: requestBytes(url, { method: 'POST', path: '/orders', headers: request.init.headers, body }), body };
}

describe('adversarial: a client that half-closes after its request', () => {
  let running: RawUpstreamGateway | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('gets the gateway’s relayed answer, and the upstream saw the request once', async () => {
    running = await startRawUpstreamGateway('half-close-gateway');
    const { bytes, body } = await signedOrder(running);
    const framed = await halfClosedExchange(running.server.url, bytes);
    expect(framed?.startLine).toBe('HTTP/1.1 200 OK');
    expect(framed?.body.toString()).toBe('upstream ok');
    expect(running.upstream.seen.map((seen) => seen.body.toString())).toEqual([body]);
  });

  it('gets forward-auth’s verdict', async () => {
    const server = await startInProcess({ schemes: 'rfc9421' });
    try {
      const key = await issueKey(server, 'half-close-verify');
      const check = await forwardAuthCheck(key, '198.51.100.7');
      const framed = await halfClosedExchange(server.url, requestBytes(new URL(server.url), check));
      expect(framed?.startLine).toBe('HTTP/1.1 200 OK');
    } finally {
      await server.close();
    }
  });

  it('gets a refusal as problem+json, and nothing is relayed', async () => {
    running = await startRawUpstreamGateway('half-close-refused');
    const url = new URL(running.server.url);
    const framed = await halfClosedExchange(
      running.server.url,
      requestBytes(url, {
        method: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
    );
    expect(framed?.startLine).toMatch(/^HTTP\/1\.1 401 /);
    expect(JSON.parse(framed?.body.toString() ?? '').code).toBe('signature_missing');
    expect(running.upstream.seen).toHaveLength(0);
  });

  it('a half-closed idle connection is closed at once, not held to the head timeout', async () => {
    running = await startRawUpstreamGateway('half-close-idle', LONG_TIMEOUTS);
    const { hostname, port } = new URL(running.server.url);
    const socket = netConnect({ host: hostname, port: Number(port), allowHalfOpen: true });
    const received = receivedUntilClosed(socket);
    socket.on('connect', () => socket.end());
    expect((await received).length).toBe(0);
  });
});

describe('adversarial: half-close over TLS', () => {
  let dir: string;
  let certs: TestCertificates;
  let running: RawUpstreamGateway;
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hmac-kit-half-close-'));
    certs = makeCertificates(dir);
    running = await startRawUpstreamGateway('half-close-tls', {
      tlsCert: certs.first.certFile,
      tlsKey: certs.first.keyFile,
      ...LONG_TIMEOUTS,
    });
    port = Number(new URL(running.server.url).port);
  });
  afterAll(async () => {
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A TLS connection that stays readable after its own FIN, with `alpn` offered; `ready` runs once secure. */
  function tlsHalfOpen(alpn: string[], ready: (socket: Socket) => void): Promise<Buffer> {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: certs.ca,
      ALPNProtocols: alpn,
      allowHalfOpen: true,
    } as ConnectionOptions);
    const received = receivedUntilClosed(socket);
    socket.once('secureConnect', () => ready(socket));
    return received;
  }

  it('HTTP/1.1: gets the gateway’s relayed answer', async () => {
    const { bytes } = await signedOrder(running);
    const received = await tlsHalfOpen(['http/1.1'], (socket) => socket.end(bytes));
    const framed = takeFramed(received);
    expect(framed?.startLine).toBe('HTTP/1.1 200 OK');
    expect(framed?.body.toString()).toBe('upstream ok');
  });

  it('HTTP/1.1: a half-closed idle connection is closed at once', async () => {
    const received = await tlsHalfOpen(['http/1.1'], (socket) => socket.end());
    expect(received.length).toBe(0);
  });

  it('HTTP/2: a FIN after the session started closes the connection at once', async () => {
    await tlsHalfOpen(['h2'], (socket) => {
      const session = http2Connect(`https://localhost:${port}`, { createConnection: () => socket });
      session.on('error', () => {});
      session.once('remoteSettings', () => socket.end());
    });
  });

  it('a FIN before any TLS byte closes the connection at once, not after the handshake timeout', async () => {
    const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const received = receivedUntilClosed(socket);
    socket.on('connect', () => socket.end());
    expect((await received).length).toBe(0);
  });
});
