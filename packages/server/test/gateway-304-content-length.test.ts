/**
 * Upstream answers undici refuses or treats specially, through the gateway (gateway.ts `Relay` and
 * the streamed path), against real upstreams: what the client gets, and that its keep-alive
 * connection stays usable after.
 *
 * - A 304 with `Content-Length` (RFC 9110 §8.6: the length the 200 would have had) makes undici's
 *   parser fail the answer after its head (`ResponseContentLengthMismatchError`, it counts no body
 *   bytes against the declared length); the gateway had already written the head and dropped the
 *   client's connection. Relayed now: the 304 with its fields and `Content-Length` as sent, no body.
 * - A 204 with a non-zero `Content-Length` (which RFC 9110 §8.6 forbids) fails the same way: the
 *   204 is relayed without that `Content-Length`.
 * - HEAD answers, 1xx interim answers (102, 103) before the final one, a 304 with
 *   `Transfer-Encoding`, and trailers: relayed (trailers as trailers).
 * - An unsolicited `100 Continue` or `101 Switching Protocols`, which undici refuses before the
 *   gateway sees the answer, and a malformed answer: a 502 problem+json (`upstream_error`) and a
 *   log line naming the cause; never a dropped client connection.
 */
import { randomBytes } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { signMessage } from '@hmac-kit/core';
import { createLogger, type RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../test-support/processes.js';
import { issueKey, startInProcess } from './support/in-process.js';
import { startRawUpstream } from './support/raw-http.js';
import { http2Session, makeCertificates } from './support/tls.js';

/** Answers of the node:http upstream, by path. */
function answer(request: IncomingMessage, response: ServerResponse): void {
  const path = request.url ?? '';
  if (path === '/not-modified') {
    response.writeHead(304, { etag: '"v1"', 'content-length': '1234', 'cache-control': 'max-age=60' });
    response.end();
  } else if (path === '/head') {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1234' });
    response.end(request.method === 'HEAD' ? undefined : Buffer.alloc(1234, 0x61));
  } else if (path === '/no-content-0') {
    response.writeHead(204, { 'content-length': '0' });
    response.end();
  } else if (path === '/early-hints') {
    response.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    response.writeProcessing();
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    response.end('ok');
  } else if (path === '/trailers') {
    response.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    response.write('hello ');
    response.addTrailers({ 'x-checksum': 'abc123' });
    response.end('world');
  } else {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    response.end('ok');
  }
}

/** Raw answers (bytes node:http would not write), by path. */
function rawAnswer(requestLine: string): string {
  const path = requestLine.split(' ')[1] ?? '';
  const ok = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok';
  if (path === '/no-content-5') return 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kept: yes\r\n\r\n';
  if (path === '/not-modified-chunked')
    return 'HTTP/1.1 304 Not Modified\r\nETag: "v2"\r\nTransfer-Encoding: chunked\r\n\r\n';
  if (path === '/continue') return `HTTP/1.1 100 Continue\r\n\r\n${ok}`;
  if (path === '/switching')
    return 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n';
  if (path === '/malformed-head') return 'HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n';
  if (path === '/malformed') return 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok';
  return ok;
}

/** Called once the upstream has written the early hints of /early-hints-now (and 50 ms passed). */
let hintsSent: () => void = () => {};

interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: NodeJS.Dict<string>;
  body: string;
  /** Whether the request went on a connection an earlier request had used. */
  reused: boolean;
  /** Interim answers, as `status link`. */
  informational: string[];
}

describe('gateway: bodiless and refused upstream answers', () => {
  let upstream: Server;
  let raw: Awaited<ReturnType<typeof startRawUpstream>>;
  let server: RunningServer;
  let rawServer: RunningServer;
  let key: { keyId: string; secret: string };
  let rawKey: { keyId: string; secret: string };
  const logLines: Record<string, unknown>[] = [];
  // One keep-alive connection per gateway: a dropped connection shows as an error, a kept one as reuse.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  beforeAll(async () => {
    // The request's body read whole first (the streamed path's upload), then answered.
    upstream = createServer((request, response) => {
      // Early hints as soon as the head arrived, before the body.
      if (request.url === '/early-hints-now')
        response.writeEarlyHints({ link: '</now.css>; rel=preload' }, () => setTimeout(hintsSent, 50));
      request.on('error', () => {});
      request.resume();
      request.on('end', () => answer(request, response));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
        done();
      },
    });
    server = await startInProcess(
      { upstream: `http://127.0.0.1:${port}`, schemes: 'rfc9421', logLevel: 'warn' },
      {},
      { logger: createLogger('warn', destination) },
    );
    key = await issueKey(server, 'bodiless');
    raw = await startRawUpstream(({ requestLine }) => rawAnswer(requestLine));
    rawServer = await startInProcess(
      { upstream: raw.url, schemes: 'rfc9421', logLevel: 'warn' },
      {},
      { logger: createLogger('warn', destination) },
    );
    rawKey = await issueKey(rawServer, 'refused');
  });

  afterAll(async () => {
    agent.destroy();
    await server?.close();
    await rawServer?.close();
    await raw?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** A signed request through `gateway` on the shared keep-alive agent. */
  async function send(
    method: string,
    path: string,
    gateway = server,
    body?: Buffer,
    sentBody: Buffer | undefined = body,
    /** Sends the second half of the body only once this settles. */
    gate?: Promise<void>,
  ): Promise<Got> {
    const signingKey = gateway === server ? key : rawKey;
    const prepared = await signMessage(
      {
        method,
        url: `${gateway.url}${path}`,
        headers: body ? { 'content-type': 'application/octet-stream' } : {},
        ...(body ? { body } : {}),
      },
      signingKey,
    );
    const { port, hostname } = new URL(gateway.url);
    return new Promise<Got>((resolve, reject) => {
      const informational: string[] = [];
      const client = httpRequest(
        {
          method,
          host: hostname,
          port,
          path,
          agent,
          headers: { ...prepared.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              trailers: response.trailers,
              body: Buffer.concat(chunks).toString('latin1'),
              reused: client.reusedSocket,
              informational,
            }),
          );
          response.on('error', reject);
        },
      );
      client.on('information', (info) => informational.push(`${info.statusCode} ${info.headers.link ?? ''}`.trim()));
      client.on('error', reject);
      if (gate === undefined || sentBody === undefined) client.end(sentBody);
      else {
        // Two parts a while apart (the gateway holds back the last chunk it has until the next
        // arrives: the first part reaches the upstream once the second came), then the rest.
        const quarter = sentBody.length >> 2;
        client.write(sentBody.subarray(0, quarter));
        setTimeout(() => client.write(sentBody.subarray(quarter, 2 * quarter)), 50);
        void gate.then(() => client.end(sentBody.subarray(2 * quarter)));
      }
    });
  }

  /** The answer, then a second request on the same connection (which must be reused and answered). */
  async function sendThenReuse(method: string, path: string, gateway = server, body?: Buffer): Promise<Got> {
    const got = await send(method, path, gateway, body);
    const next = await send('GET', '/plain', gateway);
    expect(next.status).toBe(200);
    expect(next.body).toBe('ok');
    expect(next.reused).toBe(true);
    return got;
  }

  it('relays a 304 with Content-Length (its fields, Content-Length as sent, no body) and keeps the connection', async () => {
    await send('GET', '/plain');
    const got = await sendThenReuse('GET', '/not-modified');
    expect(got.status).toBe(304);
    expect(got.headers['content-length']).toBe('1234');
    expect(got.headers.etag).toBe('"v1"');
    expect(got.headers['cache-control']).toBe('max-age=60');
    expect(got.headers['x-request-id']).toBeTruthy();
    expect(got.body).toBe('');
  });

  it('relays a 304 with Content-Length on the streamed-body path too', async () => {
    // Over the 64 KiB buffered size: the body streams to the upstream while its digest is checked.
    const got = await sendThenReuse('PUT', '/not-modified', server, randomBytes(100 * 1024));
    expect(got.status).toBe(304);
    expect(got.headers['content-length']).toBe('1234');
    expect(got.headers.etag).toBe('"v1"');
    expect(got.body).toBe('');
  });

  it('relays a HEAD answer (200 or 304) with its Content-Length and no body, and keeps the connection', async () => {
    const head = await sendThenReuse('HEAD', '/head');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1234');
    expect(head.body).toBe('');
    const notModified = await sendThenReuse('HEAD', '/not-modified');
    expect(notModified.status).toBe(304);
    expect(notModified.headers['content-length']).toBe('1234');
    expect(notModified.body).toBe('');
  });

  it('relays a 204: Content-Length 0 as sent; a non-zero one (RFC 9110 forbids it on 204) left out', async () => {
    const zero = await sendThenReuse('GET', '/no-content-0');
    expect(zero.status).toBe(204);
    expect(zero.body).toBe('');
    const five = await sendThenReuse('GET', '/no-content-5', rawServer);
    expect(five.status).toBe(204);
    expect(five.headers['content-length']).toBeUndefined();
    expect(five.headers['x-kept']).toBe('yes');
    expect(five.body).toBe('');
  });

  it('relays a 304 that names a Transfer-Encoding (no body, the hop-by-hop field left out)', async () => {
    const got = await sendThenReuse('GET', '/not-modified-chunked', rawServer);
    expect(got.status).toBe(304);
    expect(got.headers.etag).toBe('"v2"');
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(got.body).toBe('');
  });

  it('relays 1xx interim answers (103 with its Link, 102) before the final answer, on both paths', async () => {
    const hints = ['103 </style.css>; rel=preload; as=style', '102'];
    const got = await sendThenReuse('GET', '/early-hints');
    expect(got.informational).toEqual(hints);
    expect(got.status).toBe(200);
    expect(got.body).toBe('ok');
    const streamed = await sendThenReuse('PUT', '/early-hints', server, randomBytes(100 * 1024));
    expect(streamed.informational).toEqual(hints);
    expect(streamed.status).toBe(200);
  });

  it('attack: a streamed body that fails its digest gets no interim answer the upstream sent before it ended', async () => {
    const body = randomBytes(100 * 1024);
    const tampered = Buffer.from(body);
    tampered.writeUInt8((tampered.at(-1) ?? 0) ^ 1, tampered.length - 1);
    // The tampered last half is sent after the upstream's 103 reached the gateway.
    const gate = new Promise<void>((resolve) => (hintsSent = resolve));
    const got = await send('PUT', '/early-hints-now', server, body, tampered, gate);
    expect(got.status).toBe(401);
    expect((JSON.parse(got.body) as { code: string }).code).toBe('digest_mismatch');
    expect(got.informational).toEqual([]);
    // The genuine body: its early hints come.
    const genuine = await send('PUT', '/early-hints-now', server, randomBytes(100 * 1024));
    expect(genuine.informational).toEqual(['103 </now.css>; rel=preload']);
    expect(genuine.status).toBe(200);
  });

  it("relays an answer's trailers as trailers", async () => {
    const got = await sendThenReuse('GET', '/trailers');
    expect(got.status).toBe(200);
    expect(got.body).toBe('hello world');
    expect(got.trailers['x-checksum']).toBe('abc123');
    const streamed = await sendThenReuse('PUT', '/trailers', server, randomBytes(100 * 1024));
    expect(streamed.body).toBe('hello world');
    expect(streamed.trailers['x-checksum']).toBe('abc123');
  });

  /**
   * The upstream client under test (HMAC_KIT_TEST_UPSTREAM_CLIENT): builtin by default (`auto` takes
   * it for this plain-http upstream since session 21), undici when the variable names it.
   */
  const builtin = process.env.HMAC_KIT_TEST_UPSTREAM_CLIENT !== 'undici';

  it.each<[string, string, RegExp]>([
    // undici refuses an unsolicited 100 Continue; the builtin client skips it as RFC 9110 §15.2 has
    // a client do (gateway-upstream-conformance.test.ts holds both side by side).
    ...(builtin ? [] : [['/continue', 'an unsolicited 100 Continue', /100 Continue/] as [string, string, RegExp]]),
    ['/switching', 'an unsolicited 101 Switching Protocols', /protocol switch \(101\)/],
    // The cause names the parser's refusal: undici's error code, or llhttp's code and reason (builtin).
    [
      '/malformed',
      'conflicting Content-Length fields',
      /malformed answer \((UND_ERR_RES_CONTENT_LENGTH_MISMATCH|HPE_UNEXPECTED_CONTENT_LENGTH)/,
    ],
    ['/malformed-head', 'a header line without a colon', /malformed answer \(.*Invalid header token/],
  ])('answers 502 problem+json for %s (%s), logs the cause, keeps the connection', async (path, _what, cause) => {
    const before = logLines.length;
    const got = await sendThenReuse('GET', path, rawServer);
    expect(got.status).toBe(502);
    expect(got.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(got.body) as { code: string; detail: string };
    expect(problem.code).toBe('upstream_error');
    expect(problem.detail).toMatch(/answer could not be relayed/);
    expect(problem.detail).toMatch(cause);
    const line = logLines.slice(before).find((entry) => entry.msg === 'upstream answer refused');
    expect(line?.cause).toMatch(cause);
    expect(JSON.stringify(line)).not.toContain(rawKey.secret);
  });

  it.runIf(builtin)(
    'relays the final answer after an unsolicited 100 Continue (builtin client: RFC 9110 §15.2)',
    async () => {
      const got = await sendThenReuse('GET', '/continue', rawServer);
      expect(got.status).toBe(200);
      expect(got.informational).toEqual([]);
    },
  );
});

describe('gateway over HTTP/2 (TLS): the same answers to an HTTP/2 client', () => {
  let upstream: Server;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  let ca: Buffer;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    upstream = createServer((request, response) => {
      request.resume();
      request.on('end', () => answer(request, response));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const certs = makeCertificates(tempDir());
    ca = certs.ca;
    server = await startInProcess({
      upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      schemes: 'rfc9421',
      tlsCert: certs.first.certFile,
      tlsKey: certs.first.keyFile,
    });
    key = await issueKey(server, 'bodiless-h2');
    ({ session } = await http2Session(Number(new URL(server.url).port), ca));
  });

  afterAll(async () => {
    session?.close();
    await server?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** A signed request on the one HTTP/2 session: final status and fields, interim statuses, trailers, body. */
  async function send(method: string, path: string) {
    const url = `https://localhost:${new URL(server.url).port}${path}`;
    const prepared = await signMessage({ method, url, headers: {} }, key);
    return new Promise<{
      status: number;
      headers: Record<string, unknown>;
      interim: number[];
      trailers: Record<string, unknown>;
      body: string;
    }>((resolve, reject) => {
      const stream = session.request({ ':method': method, ':path': path, ...prepared.headers });
      const interim: number[] = [];
      let headers: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      const chunks: Buffer[] = [];
      stream.on('headers', (info) => interim.push(Number(info[':status'])));
      stream.on('response', (received) => (headers = received));
      stream.on('trailers', (received) => (trailers = received));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () =>
        resolve({
          status: Number(headers[':status']),
          headers,
          interim,
          trailers,
          body: Buffer.concat(chunks).toString('latin1'),
        }),
      );
      stream.on('error', reject);
    });
  }

  it('relays a 304 with its Content-Length, the 103 (not the 102), trailers; the session goes on', async () => {
    const notModified = await send('GET', '/not-modified');
    expect(notModified.status).toBe(304);
    expect(notModified.headers['content-length']).toBe('1234');
    expect(notModified.headers.etag).toBe('"v1"');
    expect(notModified.body).toBe('');
    const hinted = await send('GET', '/early-hints');
    expect(hinted.interim).toEqual([103]);
    expect(hinted.status).toBe(200);
    expect(hinted.body).toBe('ok');
    const trailed = await send('GET', '/trailers');
    expect(trailed.body).toBe('hello world');
    expect(trailed.trailers['x-checksum']).toBe('abc123');
    const head = await send('HEAD', '/head');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('1234');
    expect((await send('GET', '/plain')).body).toBe('ok');
  });
});
