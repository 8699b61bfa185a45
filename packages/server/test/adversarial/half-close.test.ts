/**
 * A client that half-closes its side right after its request (`shutdown(SHUT_WR)`: `nc -N`,
 * `printf ... | nc`, some health checkers, HTTP/1.0-style clients) still reads the answer of a route
 * hmac-kit answers itself (forward-auth, the API). Node's HTTP server, by default, aborts the request
 * and ends the connection as soon as the client's FIN arrives, so an answer not written in that
 * same turn was lost: a forward-auth verdict after a Redis round trip never reached such a client
 * (the verdict tests failed before). Over TLS the same holds for HTTP/1.1; there the socket is asked
 * to stay writable per HTTP/1.1 connection only, so that a FIN on an HTTP/2 session or during the
 * handshake still closes the connection at once instead of holding it (and a slot of the connection
 * caps) until a timeout: the servers here are started with a 10-minute head timeout, so a held
 * connection fails its test by the test's timeout.
 *
 * In gateway mode it is the other way round, on purpose: a FIN while the gateway waits for the
 * upstream cancels the upstream request, as nginx (Kong, APISIX) and Go's reverse proxy (Tyk) do. A FIN
 * cannot be told from an ordinary close (`close()` sends one too), and answering half-closed clients
 * there let every abandoned request run on upstream until it answered or `--upstream-timeout`
 * (review18).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signed } from '../../../../test-support/cli-client.js';
import { takeFramed } from '../../../../test-support/http-framing.js';
import { redisUrl } from '../../../../test-support/services.js';
import { until } from '../../../../test-support/wait.js';
import { forwardAuthCheck, requestBytes } from '../support/concurrent.js';
import { issueKey, startInProcess } from '../support/in-process.js';
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

/**
 * forward-auth with its replay and rate-limit stores in Redis: the verdict waits for a Redis round
 * trip, so it is never written in the turn the FIN arrives in.
 */
async function startForwardAuth(flags: Record<string, string> = {}) {
  const server = await startInProcess({ schemes: 'rfc9421', redis: redisUrl, ...flags });
  const key = await issueKey(server, `half-close-${Math.random().toString(36).slice(2)}`);
  return { server, key };
}

describe('adversarial: a client that half-closes after its request, no upstream', () => {
  let server: RunningServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('gets forward-auth’s verdict, written after a Redis round trip', async () => {
    const started = await startForwardAuth();
    server = started.server;
    const check = await forwardAuthCheck(started.key, '198.51.100.7');
    const framed = await halfClosedExchange(server.url, requestBytes(new URL(server.url), check));
    expect(framed?.startLine).toBe('HTTP/1.1 200 OK');
  });

  it('gets a refusal as problem+json (an unknown key id)', async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    const check = await forwardAuthCheck({ keyId: 'hk_unknown', secret: `hks_${'A'.repeat(43)}` }, '198.51.100.9');
    const framed = await halfClosedExchange(server.url, requestBytes(new URL(server.url), check));
    expect(framed?.startLine).toMatch(/^HTTP\/1\.1 401 /);
    expect(JSON.parse(framed?.body.toString() ?? '').code).toBe('signature_invalid');
  });

  it('a half-closed idle connection is closed at once, not held to the head timeout', async () => {
    server = await startInProcess({ schemes: 'rfc9421', ...LONG_TIMEOUTS });
    const { hostname, port } = new URL(server.url);
    const socket = netConnect({ host: hostname, port: Number(port), allowHalfOpen: true });
    const received = receivedUntilClosed(socket);
    socket.on('connect', () => socket.end());
    expect((await received).length).toBe(0);
  });
});

describe('adversarial: half-close over TLS, no upstream', () => {
  let dir: string;
  let certs: TestCertificates;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  let port: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hmac-kit-half-close-'));
    certs = makeCertificates(dir);
    ({ server, key } = await startForwardAuth({
      tlsCert: certs.first.certFile,
      tlsKey: certs.first.keyFile,
      ...LONG_TIMEOUTS,
    }));
    port = Number(new URL(server.url).port);
  });
  afterAll(async () => {
    await server?.close();
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

  it('HTTP/1.1: gets forward-auth’s verdict', async () => {
    const check = await forwardAuthCheck(key, '198.51.100.8');
    const bytes = requestBytes(new URL(`https://localhost:${port}`), check);
    const framed = takeFramed(await tlsHalfOpen(['http/1.1'], (socket) => socket.end(bytes)));
    expect(framed?.startLine).toBe('HTTP/1.1 200 OK');
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

describe('adversarial: gateway mode, a FIN while the gateway waits for the upstream', () => {
  let silent: Server | undefined;
  const upstreamSockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of upstreamSockets.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
    silent = undefined;
  });

  it('cancels the upstream request (its connection closed), and no answer is sent', async () => {
    // An upstream that reads the request and never answers.
    let received = '';
    let closed = 0;
    silent = createServer((socket) => {
      upstreamSockets.push(socket);
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
      });
      socket.on('close', () => closed++);
    });
    const listening = silent;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    const upstreamPort = (listening.address() as { port: number }).port;
    const server = await startInProcess({ upstream: `http://127.0.0.1:${upstreamPort}`, schemes: 'rfc9421' });
    try {
      const key = await issueKey(server, 'half-close-gateway');
      const body = '{"quantity":1}';
      const request = await signed(key, 'POST', `${server.url}/orders`, { body });
      const connection = recordingConnection(server.url, { allowHalfOpen: true });
      await new Promise<void>((resolve) => connection.socket.once('connect', () => resolve()));
      connection.socket.write(
        requestBytes(new URL(server.url), { method: 'POST', path: '/orders', headers: request.init.headers, body }),
      );
      // The upstream has the whole relayed request, its body last; then the client's FIN.
      await until(() => received.endsWith(body));
      connection.socket.end();
      await until(() => closed === 1);
      await connection.until(() => connection.isClosed());
      expect(connection.received()).toBe('');
    } finally {
      await server.close();
    }
  });
});
