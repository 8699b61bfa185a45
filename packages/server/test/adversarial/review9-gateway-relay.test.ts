/**
 * Review 9, the gateway's relay of a proven request (perf-gateway 983e3a4: undici dispatch handler,
 * flat header lists both ways, a complete body taken with read()). The invariants attacked, on raw
 * sockets at both ends (no client library to normalise a byte): the upstream gets exactly the bytes
 * and headers that were verified (a body in one packet, in several, pipelined requests), forged
 * identity and hop-by-hop fields are dropped both ways, a repeated Set-Cookie stays repeated, an
 * upstream's own X-Request-Id / RateLimit never replace the gateway's, HEAD and 1xx answers,
 * an upstream cut off mid-answer, a client that leaves mid-answer (the upstream request is aborted)
 * and a client that stops reading (the upstream is paused: memory bounded). Each holds on main's
 * request()+pipe() path too: they guard the relay against it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { type RawSeenRequest, startRawUpstream } from '../support/raw-http.js';

/** A client connection that records every byte the gateway sends back. */
function rawClient(origin: string) {
  const { hostname, port } = new URL(origin);
  const socket = connect(Number(port), hostname);
  let received = Buffer.alloc(0);
  let closed = false;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  return {
    socket,
    received: () => received,
    text: () => received.toString('latin1'),
    isClosed: () => closed,
    until: async (ready: () => boolean) => {
      while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
    },
  };
}

const headLines = (text: string) => (text.split('\r\n\r\n')[0] ?? '').split('\r\n').slice(1);
const valuesOf = (lines: string[], name: string) =>
  lines
    .filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    .map((line) => line.slice(name.length + 1).trim());

describe('review9: the gateway relays exactly what it verified, both ways', () => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  let host: string;

  beforeAll(async () => {
    upstream = await startRawUpstream((seen) => {
      const path = seen.requestLine.split(' ')[1] ?? '';
      if (path.startsWith('/head')) {
        return 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n';
      }
      if (path.startsWith('/early')) {
        return 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
      }
      if (path.startsWith('/cut')) {
        return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789', thenClose: true };
      }
      const payload = `echo ${createHash('sha256').update(seen.body).digest('hex')}`;
      return Buffer.concat([
        Buffer.from(
          'HTTP/1.1 200 OK\r\n' +
            'Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\n' +
            'X-Request-Id: forged-by-upstream\r\nRateLimit: "forged";r=999\r\nRateLimit-Policy: "forged";q=999\r\n' +
            'Connection: x-upstream-hop, keep-alive\r\nX-Upstream-Hop: internal\r\nKeep-Alive: timeout=5\r\n' +
            'Proxy-Authenticate: Basic\r\nX-Bytes: ',
          'latin1',
        ),
        Buffer.from([0xc3, 0xa9, 0x20, 0xff]),
        Buffer.from(`\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`, 'latin1'),
      ]);
    });
    server = await startInProcess({ upstream: upstream.url, schemes: 'rfc9421', maxBody: '1mb' });
    key = await issueKey(server, 'review9-relay');
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  /** A signed request as raw bytes (head and body), with `extra` header lines the signature does not cover. */
  async function signed(method: string, path: string, body?: Buffer, extra: string[] = []) {
    const prepared = await signMessage(
      {
        method,
        url: `${server.url}${path}`,
        headers: body ? { 'content-type': 'application/octet-stream' } : {},
        ...(body ? { body: new Uint8Array(body) } : {}),
      },
      key,
    );
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`, ...extra];
    if (body) lines.push('Content-Type: application/octet-stream', `Content-Length: ${body.length}`);
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    return { head: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body: body ?? Buffer.alloc(0) };
  }

  const forged = [
    'X-Authenticated-Principal: admin',
    'X_Authenticated_Principal: admin',
    'X-Authenticated-Scopes: *',
    'Forwarded: for=1.2.3.4',
    'X-Real-Ip: 1.2.3.4',
    'Proxy-Authorization: Basic Zm9vOmJhcg==',
    'Connection: keep-alive, x-client-hop',
    'X-Client-Hop: internal',
  ];

  function expectForwardedCleanly(entry: RawSeenRequest | undefined, body: Buffer) {
    expect(entry).toBeDefined();
    const lines = entry?.headerLines ?? [];
    expect(entry?.body.equals(body)).toBe(true);
    expect(valuesOf(lines, 'x-authenticated-principal')).toEqual(['review9-relay']);
    expect(valuesOf(lines, 'x-authenticated-scopes')).toEqual(['']);
    expect(valuesOf(lines, 'x-authenticated-key-id')).toEqual([key.keyId]);
    for (const name of ['x_authenticated_principal', 'forwarded', 'x-real-ip', 'proxy-authorization', 'x-client-hop']) {
      expect(valuesOf(lines, name), name).toEqual([]);
    }
    expect(valuesOf(lines, 'x-forwarded-host')).toEqual([host]);
    expect(valuesOf(lines, 'x-request-id')).toHaveLength(1);
    expect(valuesOf(lines, 'signature')).toEqual([]);
    expect(valuesOf(lines, 'content-length')).toEqual(body.length > 0 ? [String(body.length)] : []);
  }

  function expectAnsweredCleanly(text: string, body: Buffer) {
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const lines = headLines(text);
    expect(valuesOf(lines, 'set-cookie')).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(valuesOf(lines, 'x-request-id')).toHaveLength(1);
    expect(valuesOf(lines, 'x-request-id')).not.toContain('forged-by-upstream');
    // The gateway's own RateLimit fields, and only them: the upstream's forged ones (any case) are
    // left out (review 9 found them passed on beside the gateway's, on both paths).
    expect(valuesOf(lines, 'ratelimit')).toHaveLength(1);
    expect(valuesOf(lines, 'ratelimit')[0]).toMatch(/^"default"/);
    expect(valuesOf(lines, 'ratelimit-policy')).toHaveLength(1);
    expect(valuesOf(lines, 'ratelimit-policy')[0]).toMatch(/^"default"/);
    expect(valuesOf(lines, 'x-upstream-hop')).toEqual([]);
    expect(valuesOf(lines, 'proxy-authenticate')).toEqual([]);
    expect(valuesOf(lines, 'keep-alive')).not.toContain('timeout=5');
    // The upstream's bytes, byte for byte (latin1 in, latin1 out).
    expect(valuesOf(lines, 'x-bytes')).toEqual(['\u00c3\u00a9 \u00ff']);
    expect(text).toContain(`echo ${createHash('sha256').update(body).digest('hex')}`);
  }

  it('a signed POST sent in one packet: upstream gets the verified bytes, forged and hop-by-hop fields dropped both ways', async () => {
    const body = randomBytes(300);
    const request = await signed('POST', '/one-packet', body, forged);
    const client = rawClient(server.url);
    client.socket.write(Buffer.concat([request.head, request.body]));
    await client.until(() => /echo [0-9a-f]{64}/.test(client.text()) || client.isClosed());
    expectAnsweredCleanly(client.text(), body);
    expectForwardedCleanly(
      upstream.seen.find((entry) => entry.requestLine.startsWith('POST /one-packet ')),
      body,
    );
    client.socket.destroy();
  });

  it('a signed POST whose body arrives in several packets', async () => {
    const body = randomBytes(3000);
    const request = await signed('POST', '/several-packets', body, forged);
    const client = rawClient(server.url);
    client.socket.write(request.head);
    for (let offset = 0; offset < body.length; offset += 700) {
      await new Promise<void>((resolve) => client.socket.write(body.subarray(offset, offset + 700), () => resolve()));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await client.until(() => /echo [0-9a-f]{64}/.test(client.text()) || client.isClosed());
    expectAnsweredCleanly(client.text(), body);
    expectForwardedCleanly(
      upstream.seen.find((entry) => entry.requestLine.startsWith('POST /several-packets ')),
      body,
    );
    client.socket.destroy();
  });

  it('pipelined signed requests: each body goes with its own request, a tampered one is not forwarded', async () => {
    const first = await signed('POST', '/pipelined-1', randomBytes(200));
    const second = await signed('POST', '/pipelined-2', randomBytes(200));
    const tampered = await signed('POST', '/pipelined-3', randomBytes(200));
    const tamperedBody = Buffer.from(tampered.body);
    tamperedBody[0] = (tamperedBody[0] ?? 0) ^ 1;
    const bodyless = await signed('GET', '/pipelined-4');
    const client = rawClient(server.url);
    client.socket.write(
      Buffer.concat([first.head, first.body, second.head, second.body, tampered.head, tamperedBody, bodyless.head]),
    );
    await client.until(() => (client.text().match(/HTTP\/1\.1 \d{3} /g) ?? []).length >= 4 || client.isClosed());
    const statuses = (client.text().match(/HTTP\/1\.1 \d{3}/g) ?? []).map((line) => line.slice(9));
    expect(statuses).toEqual(['200', '200', '401', '200']);
    expect(upstream.seen.find((entry) => entry.requestLine.startsWith('POST /pipelined-1 '))?.body).toEqual(first.body);
    expect(upstream.seen.find((entry) => entry.requestLine.startsWith('POST /pipelined-2 '))?.body).toEqual(
      second.body,
    );
    expect(upstream.seen.find((entry) => entry.requestLine.startsWith('POST /pipelined-3 '))).toBeUndefined();
    expect(upstream.seen.find((entry) => entry.requestLine.startsWith('GET /pipelined-4 '))?.body).toEqual(
      Buffer.alloc(0),
    );
    client.socket.destroy();
  });

  it('HEAD: the upstream Content-Length is passed on, no body, the connection carries the next request', async () => {
    const head = await signed('HEAD', '/head');
    const next = await signed('GET', '/after-head');
    const client = rawClient(server.url);
    client.socket.write(head.head);
    await client.until(() => client.text().includes('\r\n\r\n') || client.isClosed());
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 /);
    expect(valuesOf(headLines(client.text()), 'content-length')).toEqual(['1234']);
    const afterHead = client.text().length;
    client.socket.write(next.head);
    await client.until(() => /echo [0-9a-f]{64}/.test(client.text()) || client.isClosed());
    expect(client.text().slice(afterHead)).toMatch(/^HTTP\/1\.1 200 /);
    client.socket.destroy();
  });

  it('a 103 interim answer is passed on (RFC 9110 §15.2) with its Link alone, then the final answer', async () => {
    // Not passed on until gw-304: a proxy forwards 1xx answers it did not ask for itself.
    const request = await signed('GET', '/early');
    const client = rawClient(server.url);
    client.socket.write(request.head);
    await client.until(() => client.text().endsWith('\r\n\r\nok') || client.isClosed());
    const [interim, final] = client.text().split(/(?<=\r\n\r\n)(?=HTTP\/1\.1 )/);
    expect(interim).toBe('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
    expect(final).toMatch(/^HTTP\/1\.1 200 /);
    client.socket.destroy();
  });

  it('an upstream cut off mid-answer: the client never sees a complete answer', async () => {
    const request = await signed('GET', '/cut');
    const client = rawClient(server.url);
    client.socket.write(request.head);
    await client.until(() => client.isClosed());
    const text = client.text();
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text.split('\r\n\r\n')[1]?.length ?? 0).toBeLessThan(1000);
  });
});

describe('review9: a relayed answer follows the client (abort, backpressure)', () => {
  let upstream: HttpServer;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  let host: string;
  const streams = new Map<string, { written: number; blocked: boolean; closed: boolean; response: ServerResponse }>();
  let wake: () => void = () => {};

  beforeAll(async () => {
    upstream = createHttpServer((request, response) => {
      request.resume();
      const path = request.url ?? '';
      const state = { written: 0, blocked: false, closed: false, response };
      streams.set(path, state);
      response.on('close', () => {
        state.closed = true;
        wake();
      });
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const limit = 256 * 1024 * 1024;
      const pump = () => {
        while (state.written < limit && !state.closed) {
          state.written += chunk.length;
          wake();
          if (!response.write(chunk)) {
            state.blocked = true;
            response.once('drain', () => {
              state.blocked = false;
              pump();
            });
            return;
          }
        }
        if (!state.closed) response.end();
      };
      if (path.startsWith('/abort')) {
        response.write(chunk);
        state.written = chunk.length;
        wake();
        return;
      }
      pump();
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    server = await startInProcess({ upstream: upstreamUrl, schemes: 'rfc9421' });
    key = await issueKey(server, 'review9-follow');
    host = new URL(server.url).host;
  });

  afterAll(async () => {
    await server?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  async function signedGet(path: string) {
    const prepared = await signMessage({ method: 'GET', url: `${server.url}${path}`, headers: {} }, key);
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, `X-Forwarded-For: ${freshAddress()}`];
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    return `${lines.join('\r\n')}\r\n\r\n`;
  }

  const until = async (ready: () => boolean) => {
    while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
  };

  it('a client that leaves mid-answer has its upstream request aborted', async () => {
    const client = rawClient(server.url);
    client.socket.write(await signedGet('/abort-mid-answer'));
    await client.until(() => client.received().length > 1024 || client.isClosed());
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 /);
    client.socket.destroy();
    await until(() => streams.get('/abort-mid-answer')?.closed === true);
    expect(streams.get('/abort-mid-answer')?.closed).toBe(true);
  });

  it('a client that stops reading pauses the upstream: the gateway does not buffer the answer', async () => {
    const client = rawClient(server.url);
    client.socket.write(await signedGet('/slow-reader'));
    await client.until(() => client.received().length > 0 || client.isClosed());
    client.socket.pause();
    // The upstream blocks once the socket buffers between it and the paused client are full.
    await until(() => streams.get('/slow-reader')?.blocked === true && (streams.get('/slow-reader')?.written ?? 0) > 0);
    let last = -1;
    let steady = 0;
    while (steady < 20) {
      const written = streams.get('/slow-reader')?.written ?? 0;
      steady = written === last ? steady + 1 : 0;
      last = written;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // 256 MiB would be written (and held by the gateway) without backpressure; kernel and stream
    // buffers on loopback hold a few MiB.
    expect(streams.get('/slow-reader')?.written ?? 0).toBeLessThan(64 * 1024 * 1024);
    expect(streams.get('/slow-reader')?.closed).toBe(false);
    client.socket.destroy();
    await until(() => streams.get('/slow-reader')?.closed === true);
  }, 30_000);
});
