/**
 * Review 16: the Fastify plugin's buffered-body test (6638f3f `declaredLengthIs`) and the
 * middleware's IdentityCache (62ec2c1 compare-first, 771f8f3 KeptFrozenList), attacked end to end
 * over real HTTP. Identity: can a kept scopes list leak from one key or request to another, or
 * outlive a scope change? A key whose scopes array is changed in place between requests, a key
 * whose frozen scopes are replaced by others, two keys with different scopes answered in
 * interleaved concurrent requests (each identity its own key id and scopes, `requireScopes` decided
 * on its own). Body: a Content-Length with leading zeros, and pipelined signed POSTs in one write
 * (the next request right after a body; one carrying the previous request's body): the bytes
 * verified are the bytes Fastify parses, or the request is refused. No defect found (review16).
 */
import { connect } from 'node:net';
import { signMessage, type VerificationKey } from '@hmac-kit/core';
import { hmacAuth, requireScopes } from '@hmac-kit/fastify';
import { memoryNonceStore } from '@hmac-kit/limits';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendOverHttp } from '../../../test-support/adapter-http.js';
import { type SentRequest, signed } from '../../../test-support/adapter-suite.js';

const secret = () => crypto.getRandomValues(new Uint8Array(32));
/** Changed in place by the tests: the resolver hands out this very array. */
const mutableScopes = ['admin', 'read'];
const keys: Record<string, VerificationKey> = {
  mutable: { keyId: 'r16-mutable', secret: secret(), algorithm: 'sha256', scopes: mutableScopes },
  frozen: { keyId: 'r16-frozen', secret: secret(), algorithm: 'sha256', scopes: Object.freeze(['admin']) },
  reader: { keyId: 'r16-reader', secret: secret(), algorithm: 'sha256', scopes: ['read'] },
  admin: { keyId: 'r16-admin', secret: secret(), algorithm: 'sha256', scopes: ['admin', 'read'] },
};
/** A JSON answer body. */
type Body = Record<string, unknown>;
const signingKey = (key: VerificationKey) => ({ keyId: key.keyId, secret: key.secret, algorithm: key.algorithm });

describe('review16: identities and buffered bodies through the Fastify plugin', () => {
  let origin: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const app = Fastify();
    await app.register(
      hmacAuth({
        keys: (keyId) => Object.values(keys).find((key) => key.keyId === keyId),
        nonceStore: memoryNonceStore(),
      }),
    );
    app.get('/whoami', async (request) => request.hmac);
    app.post('/admin', { preHandler: requireScopes('admin') }, async (request) => ({ keyId: request.hmac?.keyId }));
    app.post('/echo', async (request) => ({ keyId: request.hmac?.keyId, received: request.body }));
    origin = await app.listen({ port: 0, host: '127.0.0.1' });
    close = () => app.close();
  });

  afterAll(async () => {
    await close?.();
  });

  async function send(key: VerificationKey, method: string, path: string): Promise<{ status: number; body: Body }> {
    const request: SentRequest = { method, path, headers: {} };
    return (await sendOverHttp(origin, await signed(origin, request, signingKey(key)))) as {
      status: number;
      body: Body;
    };
  }

  it('a scopes array changed in place between requests: the next request has the new scopes', async () => {
    const key = keys.mutable as VerificationKey;
    expect((await send(key, 'POST', '/admin')).status).toBe(200);
    mutableScopes.splice(0, mutableScopes.length, 'read');
    expect((await send(key, 'POST', '/admin')).status).toBe(403);
    expect((await send(key, 'GET', '/whoami')).body.scopes).toEqual(['read']);
    // Same length, other strings.
    mutableScopes.splice(0, mutableScopes.length, 'admix');
    expect((await send(key, 'POST', '/admin')).status).toBe(403);
    mutableScopes.splice(0, mutableScopes.length, 'admin');
    expect((await send(key, 'POST', '/admin')).status).toBe(200);
  });

  it('frozen scopes replaced by other frozen scopes: the kept list is not reused', async () => {
    const key = keys.frozen as VerificationKey;
    expect((await send(key, 'POST', '/admin')).status).toBe(200);
    (key as { scopes: readonly string[] }).scopes = Object.freeze(['read']);
    expect((await send(key, 'POST', '/admin')).status).toBe(403);
    (key as { scopes: readonly string[] }).scopes = Object.freeze(['admin']);
    expect((await send(key, 'POST', '/admin')).status).toBe(200);
  });

  it('two keys in interleaved concurrent requests: each identity is its own, and so is the scope decision', async () => {
    const reader = keys.reader as VerificationKey;
    const admin = keys.admin as VerificationKey;
    const order = Array.from({ length: 24 }, (_, index) => (index % 3 === 0 ? reader : admin));
    const answers = await Promise.all(
      order.flatMap((key) => [send(key, 'GET', '/whoami'), send(key, 'POST', '/admin')]),
    );
    for (const [index, key] of order.entries()) {
      const whoami = answers[2 * index];
      const guarded = answers[2 * index + 1];
      expect(whoami?.body).toMatchObject({ keyId: key.keyId, scopes: key.scopes });
      expect(guarded?.status).toBe(key === admin ? 200 : 403);
      if (key === admin) expect(guarded?.body).toEqual({ keyId: admin.keyId });
    }
  });

  /** A signed POST /echo as raw bytes, its Content-Length written as `length` (default: the digits). */
  async function signedPost(body: string, length?: string): Promise<{ head: string; body: string }> {
    const headers = { 'content-type': 'application/json' };
    const prepared = await signMessage(
      { method: 'POST', url: `${origin}/echo`, headers, body: new TextEncoder().encode(body) },
      signingKey(keys.reader as VerificationKey),
    );
    const lines = [
      'POST /echo HTTP/1.1',
      `Host: ${new URL(origin).host}`,
      'Content-Type: application/json',
      `Content-Length: ${length ?? String(Buffer.byteLength(body))}`,
    ];
    for (const [name, value] of Object.entries(prepared.headers)) lines.push(`${name}: ${value}`);
    return { head: `${lines.join('\r\n')}\r\n\r\n`, body };
  }

  /** Writes `bytes` in one write and resolves with the `count` answers' statuses and JSON bodies. */
  function exchange(bytes: string, count: number): Promise<Array<{ status: number; body: Body }>> {
    const { hostname, port } = new URL(origin);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let buffered = '';
      const answers: Array<{ status: number; body: Body }> = [];
      socket.on('error', reject);
      socket.on('close', () => resolve(answers));
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        for (;;) {
          const end = buffered.indexOf('\r\n\r\n');
          if (end === -1) return;
          const head = buffered.slice(0, end);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < end + 4 + length) return;
          answers.push({
            status: Number(head.slice(9, 12)),
            body: JSON.parse(buffered.slice(end + 4, end + 4 + length) || 'null'),
          });
          buffered = buffered.slice(end + 4 + length);
          if (answers.length === count) socket.end();
        }
      });
      socket.write(bytes);
    });
  }

  it('a Content-Length with leading zeros: the verified body is the parsed one', async () => {
    const request = await signedPost('{"amount":1}', '0012');
    const [answer] = await exchange(request.head + request.body, 1);
    expect(answer).toEqual({ status: 200, body: { keyId: 'r16-reader', received: { amount: 1 } } });
  });

  it('pipelined signed POSTs in one write: each body goes with its own signature; a swapped body is refused', async () => {
    const first = await signedPost('{"n":1}');
    const second = await signedPost('{"n":2}');
    const swapped = await signedPost('{"n":3}');
    const answers = await exchange(first.head + first.body + second.head + second.body + swapped.head + first.body, 3);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 401]);
    expect(answers[0]?.body.received).toEqual({ n: 1 });
    expect(answers[1]?.body.received).toEqual({ n: 2 });
  });
});
