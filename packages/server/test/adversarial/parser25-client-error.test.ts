/**
 * Session 25 (helper parser25): what node:http's parser refuses, against a real in-process
 * `hmac-kit serve`, plain and over TLS (HTTP/1.1 by ALPN). Before: Node's bare status line (431,
 * 400, 408) with no body, no x-request-id, no log line. Now: the same statuses, each an RFC 9457
 * problem with a stable code, `Connection: close` and a request id; nothing of the refused bytes
 * (a header value could be a secret) in the answer or the log; and a connection that already
 * carried an answer gets nothing more written (bytes after an answer would be read as the answer
 * to a request the client never sent).
 */
import { openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headersOf } from '../../../../test-support/http-framing.js';
import { tempDir } from '../../../../test-support/processes.js';
import { until } from '../../../../test-support/wait.js';
import { batchedStdout, createLogger } from '../../src/logger.js';
import { startInProcess } from '../support/in-process.js';
import { makeCertificates, recordedHttp1Connection } from '../support/tls.js';

const SECRET = 'sk_live_parser25_0123456789abcdef';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Bytes after the answer's Content-Length. */
  rest: string;
}

function parseAnswer(text: string): Answer {
  const headEnd = text.indexOf('\r\n\r\n');
  expect(headEnd).toBeGreaterThan(0);
  const [statusLine = '', ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers = headersOf(lines);
  const length = Number(headers['content-length']);
  const after = text.slice(headEnd + 4);
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: after.slice(0, length),
    rest: after.slice(length),
  };
}

describe.each(['plain', 'tls'] as const)('parser25: refused request heads (%s)', (transport) => {
  let server: RunningServer;
  let file: string;
  let destination: ReturnType<typeof batchedStdout>;
  let ca: Buffer | undefined;

  beforeAll(async () => {
    const dir = tempDir();
    file = join(dir, 'server.log');
    destination = batchedStdout(openSync(file, 'w'));
    const tlsFlags: Record<string, string> = {};
    if (transport === 'tls') {
      const certs = makeCertificates(dir);
      ca = certs.ca;
      tlsFlags.tlsCert = certs.first.certFile;
      tlsFlags.tlsKey = certs.first.keyFile;
    }
    server = await startInProcess(
      { logLevel: 'info', headersTimeout: '1s', ...tlsFlags },
      {},
      { logger: createLogger('info', destination as unknown as NodeJS.WritableStream) },
    );
  });

  afterAll(async () => {
    await server?.close();
    rmSync(file, { force: true });
  });

  async function open() {
    const client = await recordedHttp1Connection(server.url, ca);
    if (transport === 'tls') expect((client.socket as TLSSocket).alpnProtocol).toBe('http/1.1');
    return client;
  }

  const logLines = () => {
    destination.flush();
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0);
  };

  /** The problem answer, checked for the common shape; the connection must be closed after it. */
  async function refused(bytes: string[], status: number, code: string): Promise<Answer> {
    const client = await open();
    for (const piece of bytes) client.socket.write(piece);
    const answer = parseAnswer(await client.closed());
    expect(answer.status).toBe(status);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    expect(answer.headers.connection).toBe('close');
    expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(answer.rest).toBe('');
    const body = JSON.parse(answer.body) as Record<string, unknown>;
    expect(body).toMatchObject({ status, code, type: `urn:hmac-kit:problem:${code}` });
    expect(body.instance).toBe(answer.headers['x-request-id']);
    expect(client.received()).not.toContain(SECRET);
    // One info line for it (by the request id), nothing of the refused bytes in the log.
    const id = answer.headers['x-request-id'] as string;
    await until(() => logLines().some((line) => line.includes(id)));
    const line = JSON.parse(logLines().find((candidate) => candidate.includes(id)) as string);
    expect(line).toMatchObject({ level: 'info', status, code });
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
    return answer;
  }

  it('a head over --max-http-header-size: 431 header_fields_too_large', async () => {
    await refused(
      [`GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${SECRET}\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`],
      431,
      'header_fields_too_large',
    );
  });

  it('a head that is not HTTP: 400 malformed_request', async () => {
    await refused([`GET / HTTP/1.1\r\nX-Token: ${SECRET}\r\nbad header line\r\n\r\n`], 400, 'malformed_request');
  });

  it('a head never finished: 408 request_head_timeout after --headers-timeout', async () => {
    await refused([`GET / HTTP/1.1\r\nHost: x\r\nX-Token: ${SECRET}\r\n`], 408, 'request_head_timeout');
  });

  it("a chunked body whose chunk extensions overflow Node's 16 KiB bound: 413 chunk_extensions_too_large", async () => {
    // A route still reading the body (the login's JSON), so no answer has started when the
    // framing breaks: the refusal answers this request (session 26, helper fix26: no test reached it).
    const extension = `;x=${SECRET}${'a'.repeat(20 * 1024)}`;
    await refused(
      [
        'POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        `2${extension}\r\n{}\r\n0\r\n\r\n`,
      ],
      413,
      'chunk_extensions_too_large',
    );
  });

  it('chunk extensions overflowing in the same packet as the head: the same 413', async () => {
    await refused(
      [
        `POST /v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;${'b'.repeat(20 * 1024)}\r\n{}\r\n0\r\n\r\n`,
      ],
      413,
      'chunk_extensions_too_large',
    );
  });

  it('a malformed head pipelined behind an answer still owed: that full answer, then nothing, closed', async () => {
    const client = await open();
    // /readyz answers after asking the database (a promise): its answer is owed when the parser
    // reaches the second head. Node wrote its 400 ahead of it (read as /readyz's answer) and dropped it.
    client.socket.write(
      `GET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nX-Token: ${SECRET}\r\nbad line\r\n\r\n`,
    );
    const answer = parseAnswer(await client.closed());
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 'ready' });
    expect(answer.rest).toBe('');
  });

  it('a malformed head on a kept-alive connection after a finished answer: one problem answer after it', async () => {
    const client = await open();
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => client.received().includes('{"status":"ok"}'));
    client.socket.write(`GET / HTTP/1.1\r\nX-Token: ${SECRET}\r\nbad line\r\n\r\n`);
    const first = parseAnswer(await client.closed());
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual({ status: 'ok' });
    // At the message boundary: the 400 answers the second request, whole, and nothing follows it.
    const second = parseAnswer(first.rest);
    expect(second.status).toBe(400);
    expect(JSON.parse(second.body)).toMatchObject({ code: 'malformed_request' });
    expect(second.rest).toBe('');
    expect(client.received()).not.toContain(SECRET);
  });

  it('a connection reset mid-head: no error-level line, the server keeps serving', async () => {
    const client = await open();
    client.socket.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Token: ${SECRET}\r\n`);
    const connections = () =>
      new Promise<number>((resolve) => server.server.getConnections((_error, count) => resolve(count)));
    await until(async () => (await connections()) > 0);
    // A TCP RST (ECONNRESET on the server's side); a TLS socket has no RST of its own to send.
    if (transport === 'plain') client.socket.resetAndDestroy();
    else client.socket.destroy();
    await client.closed();
    const next = await open();
    next.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(parseAnswer(await next.closed()).status).toBe(200);
    const errors = logLines().filter((line) => (JSON.parse(line) as { level: string }).level === 'error');
    expect(errors).toEqual([]);
    expect(readFileSync(file, 'utf8')).not.toContain(SECRET);
  });

  it('counts the refusals in hmac_kit_requests_total{route="none"}', async () => {
    const text = await server.metrics.registry.metrics();
    for (const code of ['header_fields_too_large', 'request_head_timeout']) {
      expect(text).toContain(`hmac_kit_requests_total{outcome="rejected",code="${code}",route="none"} 1`);
    }
    expect(text).toContain(
      'hmac_kit_requests_total{outcome="rejected",code="chunk_extensions_too_large",route="none"} 2',
    );
    // The malformed head and the kept-alive one; the pipelined one wrote nothing, and the reset
    // connection's head cut short is no request (an EOF mid-head over TLS used to count as one:
    // fix26-client-left-mid-head.test.ts).
    expect(text).toContain('hmac_kit_requests_total{outcome="rejected",code="malformed_request",route="none"} 2\n');
  });
});
