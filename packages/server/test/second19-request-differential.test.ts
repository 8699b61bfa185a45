/**
 * Second review of `--upstream-client builtin` (session 19, helper "second19"): a differential
 * fast-check property over REQUEST shapes. The same signed request (method, body sized or chunked,
 * small or over the writer's 16 KiB join limit, a header set with repeats, odd case, hop-by-hop
 * fields and a `Connection`-listed one) goes through a gateway on undici and one on the builtin
 * client to the same recording upstream (node:http: its raw header list, in order and case, and
 * the body). Property: the upstream sees the same request from both (but undici's `connection:
 * keep-alive`, and the per-gateway key id and signature values), and the client gets the same
 * answer. `SECOND19_RUNS=200` for a longer run.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../test-support/cli-client.js';
import { issueKey, startInProcess } from './support/in-process.js';
import { sendRawBytes } from './support/raw-http.js';

const RUNS = Number(process.env.SECOND19_RUNS ?? 25);

interface Seen {
  line: string;
  headers: string[];
  body: string;
}

const EXTRA: [string, string][] = [
  ['X-Custom', 'one'],
  ['x-dup', 'a'],
  ['X-Dup', 'b'],
  ['Accept', '*/*'],
  ['Connection', 'X-Hop'],
  ['X-Hop', 'dropped'],
  ['TE', 'trailers'],
  ['Keep-Alive', 'timeout=5'],
  ['Cache-Control', 'no-cache'],
  ['X-Empty', ''],
  ['Content-Type', 'application/json'],
  ['x-MiXeD-CaSe', 'v'],
];

const requestShape = fc.record({
  method: fc.constantFrom('GET', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH'),
  body: fc.constantFrom('', 'x', '{"a":1}', 'a'.repeat(20 * 1024), 'b'.repeat(300 * 1024)),
  chunked: fc.boolean(),
  extra: fc.subarray(EXTRA),
});

describe('second19: request shapes, undici and builtin side by side', () => {
  let upstream: Server;
  let upstreamUrl = '';
  const seen: Seen[] = [];
  const gateways: Record<'undici' | 'builtin', { server: RunningServer; key: { keyId: string; secret: string } }> =
    {} as never;

  beforeAll(async () => {
    upstream = createServer((request: IncomingMessage, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({
          line: `${request.method} ${request.url} HTTP/${request.httpVersion}`,
          headers: request.rawHeaders,
          body: body.toString('latin1'),
        });
        const digest = createHash('sha256').update(body).digest('hex');
        response.setHeader('x-body-sha256', digest);
        response.end(`${request.method} ${body.length}`);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as { port: number }).port}`;
    for (const client of ['undici', 'builtin'] as const) {
      const server = await startInProcess({
        upstream: upstreamUrl,
        schemes: 'rfc9421',
        upstreamClient: client,
        upstreamTimeout: '5s',
      });
      gateways[client] = { server, key: await issueKey(server, 'second19') };
    }
  });

  afterAll(async () => {
    for (const gateway of Object.values(gateways)) await gateway.server.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  /** One request through one gateway: the answer (normalised) and what the upstream saw (normalised). */
  async function through(
    client: 'undici' | 'builtin',
    shape: { method: string; body: string; chunked: boolean; extra: [string, string][] },
    address: string,
  ): Promise<{ answer: string; seen: Seen | undefined }> {
    const { server, key } = gateways[client];
    const path = '/shape?q=1';
    const signed = await signMessage(
      { method: shape.method, url: `${server.url}${path}`, headers: {}, ...(shape.body ? { body: shape.body } : {}) },
      key,
    );
    const { host } = new URL(server.url);
    const lines = [`${shape.method} ${path} HTTP/1.1`, `Host: ${host}`];
    for (const [name, value] of Object.entries({ ...signed.headers, 'x-forwarded-for': address }))
      lines.push(`${name}: ${value}`);
    for (const [name, value] of shape.extra) if (name !== 'Connection') lines.push(`${name}: ${value}`);
    const connection = shape.extra.some(([name]) => name === 'Connection') ? 'close, X-Hop' : 'close';
    let payload = '';
    if (shape.chunked && shape.body) {
      lines.push('Transfer-Encoding: chunked');
      for (let at = 0; at < shape.body.length; at += 7000) {
        const part = shape.body.slice(at, at + 7000);
        payload += `${part.length.toString(16)}\r\n${part}\r\n`;
      }
      payload += '0\r\n\r\n';
    } else if (shape.body || shape.method === 'POST' || shape.method === 'PUT' || shape.method === 'PATCH') {
      lines.push(`Content-Length: ${shape.body.length}`);
      payload = shape.body;
    }
    lines.push(`Connection: ${connection}`, '', '');
    const before = seen.length;
    const text = await sendRawBytes(server.url, lines.join('\r\n') + payload);
    const recorded = seen.length > before ? seen[seen.length - 1] : undefined;
    const answer = text
      .split('\r\n')
      .filter((line) => !/^(date|x-request-id|ratelimit):/i.test(line))
      .join('\r\n')
      .replace(/"instance":"[^"]*"/g, '"instance":"-"');
    if (recorded === undefined) return { answer, seen: undefined };
    const headers: string[] = [];
    for (let index = 0; index + 1 < recorded.headers.length; index += 2) {
      const name = recorded.headers[index] as string;
      let value = recorded.headers[index + 1] as string;
      // undici's own `connection: keep-alive` (the builtin client relies on HTTP/1.1's default).
      if (name.toLowerCase() === 'connection' && value === 'keep-alive') continue;
      // Per gateway: its signature values, its port, its request id.
      if (/^(signature|signature-input|x-forwarded-host|x-request-id)$/i.test(name)) value = '-';
      value = value.split(key.keyId).join('KEY');
      headers.push(`${name}: ${value}`);
    }
    return { answer, seen: { ...recorded, headers } };
  }

  it('the upstream sees the same request and the client the same answer from either client', async () => {
    await fc.assert(
      fc.asyncProperty(requestShape, async (shape) => {
        const address = freshAddress();
        const viaUndici = await through('undici', shape, address);
        const viaBuiltin = await through('builtin', shape, address);
        expect(viaBuiltin.seen).toEqual(viaUndici.seen);
        expect(viaBuiltin.answer).toBe(viaUndici.answer);
      }),
      { numRuns: RUNS },
    );
    // The requests reached the upstream (not all refused by the gateway), bodies among them.
    expect(seen.some((request) => request.body.length > 0)).toBe(true);
  }, 300_000);
});
