/**
 * The relay's one-write answer (gateway.ts `Relay.onData`/`onComplete`): an upstream answer whose
 * first body chunk is its whole declared `Content-Length` is written with `end(chunk)` instead of
 * `write(chunk)` then `end()`. Held to the general path: the client gets the same status, framing
 * and body bytes for any body, any split of the upstream's writes, Content-Length or chunked
 * (fast-check); a HEAD answer is unchanged; and an answer that declares its length but sends it in
 * parts is never held back: its first part reaches the client while the upstream still holds the rest.
 */
import { randomBytes } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueKey, startInProcess } from './support/in-process.js';

interface Answer {
  body: Buffer;
  /** Where the upstream splits its writes of the body. */
  cuts: number[];
  chunked: boolean;
}

const answers = new Map<string, Answer>();
/** Released by the test of an answer sent in parts: the upstream writes its second part then. */
let releaseRest: () => void = () => {};

async function answer(request: IncomingMessage, response: ServerResponse) {
  for await (const _ of request);
  const path = request.url ?? '';
  if (path.startsWith('/parts')) {
    response.writeHead(200, { 'content-length': '10' });
    response.write('01234');
    await new Promise<void>((resolve) => (releaseRest = resolve));
    response.end('56789');
    return;
  }
  const spec = answers.get(path);
  if (spec === undefined) {
    response.writeHead(200, { 'content-length': '1234' });
    response.end(request.method === 'HEAD' ? undefined : Buffer.alloc(1234, 0x61));
    return;
  }
  response.writeHead(200, spec.chunked ? {} : { 'content-length': String(spec.body.length) });
  let start = 0;
  for (const cut of [...spec.cuts, spec.body.length]) {
    if (cut > start) response.write(spec.body.subarray(start, cut));
    start = Math.max(start, cut);
    await new Promise((resolve) => setImmediate(resolve));
  }
  response.end();
}

describe('gateway relay: the whole answer in one write', () => {
  let upstream: Server;
  let server: RunningServer;
  let key: { keyId: string; secret: string };

  beforeAll(async () => {
    upstream = createServer((request, response) => void answer(request, response));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const { port } = upstream.address() as AddressInfo;
    server = await startInProcess({ upstream: `http://127.0.0.1:${port}`, schemes: 'rfc9421' });
    key = await issueKey(server, 'relay-hold');
  });

  afterAll(async () => {
    await server?.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** A signed request through the gateway; calls `onFirstData` with the first body bytes the client gets. */
  async function send(method: string, path: string, onFirstData?: (chunk: Buffer) => void) {
    const prepared = await signMessage({ method, url: `${server.url}${path}`, headers: {} }, key);
    const { port, hostname } = new URL(server.url);
    return new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>((resolve, reject) => {
      const client = httpRequest({ method, host: hostname, port, path, headers: prepared.headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => {
          if (chunks.length === 0) onFirstData?.(chunk);
          chunks.push(chunk);
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
        );
        response.on('error', reject);
      });
      client.on('error', reject);
      client.end();
    });
  }

  it('relays any body, split anyhow, Content-Length or chunked, byte for byte (fast-check)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 70_000 }),
        fc.array(fc.nat(), { maxLength: 3 }),
        fc.boolean(),
        async (length, cuts, chunked) => {
          const body = randomBytes(length);
          const path = `/case-${run++}`;
          answers.set(path, { body, cuts: cuts.map((cut) => cut % (length + 1)).sort((a, b) => a - b), chunked });
          const got = await send('GET', path);
          expect(got.status).toBe(200);
          expect(got.body.equals(body)).toBe(true);
          if (chunked) expect(got.headers['transfer-encoding']).toBe('chunked');
          else expect(got.headers['content-length']).toBe(String(length));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a HEAD answer keeps its Content-Length and has no body', async () => {
    const got = await send('HEAD', '/head');
    expect(got.status).toBe(200);
    expect(got.headers['content-length']).toBe('1234');
    expect(got.body.length).toBe(0);
  });

  it('an answer declaring its length but sent in parts is not held back', async () => {
    let first: Buffer | undefined;
    const done = send('GET', '/parts', (chunk) => {
      first = chunk;
      // Only now does the upstream send the rest: had the relay held the first part, this never ran.
      releaseRest();
    });
    const got = await done;
    expect(first?.toString()).toBe('01234');
    expect(got.body.toString()).toBe('0123456789');
  });
});
