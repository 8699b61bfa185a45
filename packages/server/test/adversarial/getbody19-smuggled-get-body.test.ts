/**
 * Review 19, gateway level (helper "getbody19"): a key holder sends a signed GET (or HEAD) WITH a
 * body. The gateway verified it and forwarded the body with its Content-Length; an upstream that
 * reads no body on a GET (non-compliant, common in hand-written and legacy servers) then parsed the
 * body as a SECOND request on the same connection: a request that never went through verification,
 * carrying forged identity fields (another principal's), its answer possibly another client's.
 * RFC 9110 §9.3.1/§9.3.2: content in a GET/HEAD has no defined semantics and "might lead some
 * implementations to reject the request and close the connection because of its potential as a
 * request smuggling attack".
 *
 * The gateway now refuses such a request (`400 body_not_allowed`) before any verification and before
 * anything is sent upstream, unless `--upstream-allow-get-body` says the upstream reads them (the
 * opt-in cases below show the smuggle coming back with it, against the same lax upstream). Both
 * upstream clients (undici's Pool and `--upstream-client builtin`) are run: the refusal is the
 * gateway's, before either client is involved.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { signMessage } from '@hmac-kit/core';
import { createLogger, type RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { untilValue } from '../../../../test-support/wait.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { rawRequest, sendRawBytes } from '../support/raw-http.js';

const CLIENTS = ['undici', 'builtin'] as const;

/** One request as the lax upstream parsed it. */
interface LaxSeen {
  requestLine: string;
  headerLines: string[];
  /** Which connection carried it (numbered from 1 as accepted). */
  connection: number;
}

/**
 * A hand-written upstream that ignores the framing of a GET or HEAD: it reads the head and treats
 * whatever follows as the next request on the connection (a POST/PUT/... body is skipped by its
 * Content-Length). Every request it parses is recorded and answered `200 ok`.
 */
async function startLaxUpstream(): Promise<{
  url: string;
  seen: LaxSeen[];
  /** Connections the gateway ended (its FIN, or a reset). */
  ended: Set<number>;
  close(): Promise<void>;
}> {
  const seen: LaxSeen[] = [];
  const ended = new Set<number>();
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createNetServer({ allowHalfOpen: true }, (socket) => {
    const connection = ++accepted;
    sockets.add(socket);
    socket.on('end', () => {
      ended.add(connection);
      socket.end();
    });
    socket.on('close', () => {
      ended.add(connection);
      sockets.delete(socket);
    });
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const [requestLine = '', ...headerLines] = buffered.slice(0, end).split('\r\n');
        const method = requestLine.split(' ')[0] ?? '';
        const lengthLine = headerLines.find((line) => /^content-length:/i.test(line));
        // The defect: no body read on GET or HEAD, whatever the framing says.
        const bodyLength =
          method === 'GET' || method === 'HEAD' || lengthLine === undefined ? 0 : Number(lengthLine.split(':')[1]);
        if (buffered.length < end + 4 + bodyLength) return;
        buffered = buffered.slice(end + 4 + bodyLength);
        seen.push({ requestLine, headerLines, connection });
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    ended,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The request smuggled in the GET's body: another principal's identity, as the gateway would write it. */
const SMUGGLED = [
  'GET /admin/delete-everything HTTP/1.1',
  'Host: upstream',
  'X-Authenticated-Key-Id: hk_victim0000000000000000',
  'X-Authenticated-Principal: victim',
  'X-Authenticated-Scopes: admin',
  'X-Authenticated-Scheme: rfc9421',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

function smuggledSeen(seen: readonly LaxSeen[]): LaxSeen | undefined {
  return seen.find((entry) => entry.requestLine.startsWith('GET /admin/delete-everything'));
}

describe.each(CLIENTS)('getbody19: a body on a signed GET/HEAD through the gateway (upstream client %s)', (client) => {
  let upstream: Awaited<ReturnType<typeof startLaxUpstream>>;
  let server: RunningServer;
  let allowing: RunningServer;
  let key: { keyId: string; secret: string };
  let allowingKey: { keyId: string; secret: string };
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    upstream = await startLaxUpstream();
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
        done();
      },
    });
    server = await startInProcess(
      { upstream: upstream.url, schemes: 'rfc9421', upstreamClient: client, logLevel: 'info' },
      {},
      { logger: createLogger('info', destination) },
    );
    allowing = await startInProcess({
      upstream: upstream.url,
      schemes: 'rfc9421',
      upstreamClient: client,
      upstreamAllowGetBody: 'true',
    });
    key = await issueKey(server, 'mallory');
    allowingKey = await issueKey(allowing, 'mallory');
  });

  afterAll(async () => {
    await server?.close();
    await allowing?.close();
    await upstream?.close();
  });

  async function send(
    gateway: RunningServer,
    signingKey: { keyId: string; secret: string },
    method: string,
    path: string,
    body: string,
    extra: Record<string, string> = {},
  ) {
    const signed = await signMessage(
      { method, url: `${gateway.url}${path}`, headers: {}, ...(body ? { body } : {}) },
      signingKey,
    );
    return rawRequest(
      gateway.url,
      method,
      path,
      { ...signed.headers, 'x-forwarded-for': freshAddress(), ...extra },
      body,
    );
  }

  function expectRefused(answer: { status: number; headers: Record<string, string>; body: string }): void {
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(answer.body) as { code: string; type: string };
    expect(problem.code).toBe('body_not_allowed');
    expect(problem.type).toBe('urn:hmac-kit:problem:body_not_allowed');
  }

  it('attack: a signed GET whose body is a forged request never reaches the upstream (400 body_not_allowed)', async () => {
    const before = upstream.seen.length;
    const answer = await send(server, key, 'GET', '/public', SMUGGLED);
    expectRefused(answer);
    expect(answer.headers['x-request-id']).toBeTruthy();
    // Nothing at all went upstream: neither the GET nor what its body smuggled.
    expect(upstream.seen.slice(before)).toEqual([]);
    expect(smuggledSeen(upstream.seen)).toBeUndefined();
    // The access log shows the refusal.
    const line = await untilValue(
      () => logLines.find((entry) => entry.reqId === answer.headers['x-request-id'] && entry.status !== undefined),
      'the access log line',
    );
    expect(line.status).toBe(400);
    expect(line.code).toBe('body_not_allowed');
  });

  it('attack: the same as a HEAD is refused too', async () => {
    const before = upstream.seen.length;
    const answer = await send(server, key, 'HEAD', '/public', SMUGGLED);
    expect(answer.status).toBe(400);
    expect(upstream.seen.slice(before)).toEqual([]);
  });

  it('attack: a chunked GET body (Transfer-Encoding) is refused before the upstream, signed or not', async () => {
    const before = upstream.seen.length;
    const { host } = new URL(server.url);
    const chunk = Buffer.byteLength(SMUGGLED).toString(16);
    const text = await sendRawBytes(
      server.url,
      `GET /public HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    );
    expect(text).toMatch(/^HTTP\/1\.1 400 /);
    expect(text).toContain('"code":"body_not_allowed"');
    expect(upstream.seen.slice(before)).toEqual([]);
  });

  it('closes the connection after the refusal (the body is not read on)', async () => {
    const answer = await send(server, key, 'GET', '/public', SMUGGLED, { connection: 'keep-alive' });
    expectRefused(answer);
    expect(answer.headers.connection).toBe('close');
  });

  it('a GET with Content-Length: 0 is no body: verified and forwarded as before', async () => {
    const before = upstream.seen.length;
    const answer = await send(server, key, 'GET', '/empty', '', { 'content-length': '0' });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('ok');
    expect(upstream.seen.slice(before).map((entry) => entry.requestLine)).toEqual(['GET /empty HTTP/1.1']);
  });

  it.each(['DELETE', 'OPTIONS'])('%s with a body is still forwarded (APIs use DELETE bodies)', async (method) => {
    const before = upstream.seen.length;
    const answer = await send(server, key, method, '/items', '{"ids":[1,2]}');
    expect(answer.status).toBe(200);
    const forwarded = upstream.seen.slice(before)[0];
    expect(forwarded?.requestLine).toBe(`${method} /items HTTP/1.1`);
    // Both clients then close that upstream connection (undici: a body on a method outside its
    // expectsPayload list resets the socket; builtin: closeAfter): an upstream that did not read the
    // body cannot answer a later client with what it parsed from it.
    await untilValue(
      () => (upstream.ended.has(forwarded?.connection ?? -1) ? true : undefined),
      'the upstream connection closed',
    );
  });

  it('opt-in (--upstream-allow-get-body): the body is forwarded again, and a lax upstream reads the smuggled request', async () => {
    // What the option is for: an upstream that reads GET bodies. In front of one that does not,
    // the smuggle is back: the attack as it stood before the refusal.
    const answer = await send(allowing, allowingKey, 'GET', '/public', SMUGGLED);
    expect(answer.status).toBe(200);
    const smuggled = await untilValue(() => smuggledSeen(upstream.seen), 'the smuggled request upstream');
    expect(smuggled.headerLines).toContain('X-Authenticated-Principal: victim');
  });
});

describe('getbody19 / final19: forward-auth refuses a GET with a body as the proxy reports it', () => {
  let server: RunningServer;
  let key: { keyId: string; secret: string };

  beforeAll(async () => {
    server = await startInProcess({ schemes: 'rfc9421' });
    key = await issueKey(server, 'mallory');
  });

  afterAll(async () => {
    await server?.close();
  });

  it('a signed GET whose subrequest carries the body is refused body_not_allowed', async () => {
    const body = 'a body the proxy never forwards';
    const signed = await signMessage({ method: 'GET', url: `${server.url}/orders`, headers: {}, body }, key);
    const answer = await rawRequest(
      server.url,
      'GET',
      '/verify',
      {
        ...signed.headers,
        'x-forwarded-method': 'GET',
        'x-forwarded-uri': '/orders',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': new URL(server.url).host,
      },
      body,
    );
    // Refused (final19): approved, the proxy would relay the GET with its body to the upstream
    // itself, and an upstream that reads no body on a GET would parse the body as a request of its
    // own (the gateway's smuggle, on the proxy's hop).
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'body_not_allowed' });
  });

  /** An nginx `auth_request` subrequest: no body, the client's length in X-Original-Content-Length. */
  async function nginxCheck(originalLength: string | undefined, method = 'GET') {
    const body = originalLength && originalLength !== '0' ? 'x'.repeat(Number(originalLength)) : undefined;
    const signed = await signMessage(
      { method, url: `${server.url}/orders`, headers: {}, ...(body === undefined ? {} : { body }) },
      key,
    );
    return rawRequest(server.url, 'GET', '/verify', {
      ...signed.headers,
      'x-original-method': method,
      'x-original-uri': '/orders',
      ...(originalLength === undefined ? {} : { 'x-original-content-length': originalLength }),
    });
  }

  it('behind nginx: a GET or HEAD whose client length is above 0 is refused; length 0 or none is verified', async () => {
    const refused = await nginxCheck('42');
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'body_not_allowed' });
    const head = await nginxCheck('42', 'HEAD');
    expect(JSON.parse(head.body)).toMatchObject({ code: 'body_not_allowed' });
    expect((await nginxCheck('0')).status).toBe(200);
    expect((await nginxCheck(undefined)).status).toBe(200);
    // DELETE keeps its body (as in gateway mode): verified, its Content-Digest required and checked.
    expect((await nginxCheck('42', 'DELETE')).status).toBe(200);
  });
});
