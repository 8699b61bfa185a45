/**
 * Session 25 (helper review25b): parser25's 'clientError' listener in gateway mode. A signed
 * request whose body is large enough to be streamed (committed to the upstream before its digest
 * is known) has its chunked framing broken mid-body by the client: the upstream request must be
 * aborted (never complete), no success recorded for the unproven request, the client's connection
 * closed with at most one answer, and the server must still shut down (nothing left in flight).
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { memoryLimitStores } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream } from '../../../../test-support/upstream.js';
import { until } from '../../../../test-support/wait.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { recordSocket as recording } from '../support/raw-http.js';
import { spyThrottle } from '../support/spy-throttle.js';

describe('review25b: a streamed gateway body whose chunked framing breaks mid-body', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let server: RunningServer;
  let key: { keyId: string; secret: string };
  let writes: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    const spy = spyThrottle();
    writes = spy.writes;
    server = await startInProcess(
      { upstream: upstream.url, schemes: 'rfc9421', maxBody: '2mb', upstreamTimeout: '20s' },
      {},
      { limitStores: { ...memoryLimitStores(), failureThrottle: spy.throttle } },
    );
    key = await issueKey(server, 'review25b-mid-body');
  });

  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  it('aborts the upstream request, records no success, answers at most once, closes, and shuts down', async () => {
    const path = '/review25b-mid-body';
    const body = new Uint8Array(randomBytes(400 * 1024));
    const prepared = await signMessage(
      { method: 'POST', url: `${server.url}${path}`, headers: { 'content-type': 'application/octet-stream' }, body },
      { keyId: key.keyId, secret: key.secret, algorithm: 'sha256' },
    );
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const client = recording(socket);
    const fields = Object.entries({ 'content-type': 'application/octet-stream', ...prepared.headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nTransfer-Encoding: chunked\r\n${fields}\r\n`,
    );
    // 256 KiB of the body, in 16 KiB chunks: over the buffered size, so it is streamed upstream.
    for (let offset = 0; offset < 256 * 1024; offset += 16 * 1024) {
      socket.write(`4000\r\n`);
      socket.write(body.subarray(offset, offset + 16 * 1024));
      socket.write('\r\n');
    }
    await until(() => upstream.seen.some((entry) => entry.url === path));
    socket.write('zz\r\n');
    const text = await client.closed();
    const answers = text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    // The request's own framing broke before any answer: its one answer is the 400 problem.
    expect(answers).toEqual(['HTTP/1.1 400']);
    expect(text).toContain('malformed_request');
    const entry = upstream.seen.find((candidate) => candidate.url === path);
    await until(() => entry?.settled === true);
    expect(entry?.complete).toBe(false);
    expect(writes.filter((write) => write.startsWith('success'))).toEqual([]);
    // Nothing left in flight: the server still closes (afterAll would hang otherwise).
    await until(async () => (await new Promise<number>((r) => server.server.getConnections((_e, n) => r(n)))) === 0);
  });

  it('pipelined behind an answer still owed: the owed answer, the broken request cut without waiting for the upstream timeout', async () => {
    const host = new URL(server.url).host;
    const first = await signMessage(
      { method: 'GET', url: `${server.url}/review25b-first/delayed`, headers: {} },
      { keyId: key.keyId, secret: key.secret, algorithm: 'sha256' },
    );
    const path = '/review25b-pipelined';
    const body = new Uint8Array(randomBytes(400 * 1024));
    const second = await signMessage(
      { method: 'POST', url: `${server.url}${path}`, headers: { 'content-type': 'application/octet-stream' }, body },
      { keyId: key.keyId, secret: key.secret, algorithm: 'sha256' },
    );
    const fieldsOf = (headers: Record<string, string>) =>
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const client = recording(socket);
    const started = Date.now();
    socket.write(`GET /review25b-first/delayed HTTP/1.1\r\nHost: ${host}\r\n${fieldsOf(first.headers)}\r\n`);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n${fieldsOf({ 'content-type': 'application/octet-stream', ...second.headers })}\r\n`,
    );
    for (let offset = 0; offset < 256 * 1024; offset += 16 * 1024) {
      socket.write('4000\r\n');
      socket.write(body.subarray(offset, offset + 16 * 1024));
      socket.write('\r\n');
    }
    await until(() => upstream.seen.some((entry) => entry.url === path));
    socket.write('zz\r\n');
    const text = await client.closed();
    const answers = text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    expect(answers[0]).toBe('HTTP/1.1 200');
    expect(answers.length).toBeLessThanOrEqual(2);
    const entry = upstream.seen.find((candidate) => candidate.url === path);
    await until(() => entry?.settled === true);
    expect(entry?.complete).toBe(false);
    // Well under --upstream-timeout (20 s here): the broken request is not held until it.
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 30_000);
});
