import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkSignature,
  createSignedFetch,
  framingDeclaresBody,
  type MessageParts,
  messageHasBody,
  type Scheme,
  signRequest,
  toProblem,
  verifyingStream,
  verifyMessage,
  verifyRequest,
} from '@hmac-kit/core';
import { memoryNonceStore } from '@hmac-kit/limits';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { utf8 } from '../src/primitives/encoding.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const key = makeKey('hk_req', 'sha256', 9);
const keys = resolverOf(key);

describe('signRequest / verifyRequest', () => {
  it('signs a Request into a new Request that verifies, leaving both bodies readable', async () => {
    const original = new Request('https://api.example.com/v1/orders?x=1', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"qty":1}',
    });
    const signed = await signRequest(
      original,
      { keyId: key.keyId, secret: key.printable },
      { coveredHeaders: ['content-type'], now: () => NOW },
    );
    expect(signed.headers.get('signature-input')).toContain('"content-type"');
    expect(signed.headers.get('content-digest')).toMatch(/^sha-256=:/);
    expect(await original.text()).toBe('{"qty":1}');
    const verified = await verifyRequest(signed, { keys, now: () => NOW });
    expect(verified.coveredComponents).toContain('content-digest');
    expect(await signed.text()).toBe('{"qty":1}');
  });

  it('fails promptly when the signature is rejected before the body is read (tee branch cancelled)', async () => {
    const signed = await signRequest(
      new Request('https://a.example/x', { method: 'POST', body: 'abc' }),
      { keyId: key.keyId, secret: key.printable },
      { now: () => NOW },
    );
    const moved = new Request('https://a.example/elsewhere', { method: 'POST', headers: signed.headers, body: 'abc' });
    await expect(verifyRequest(moved, { keys, now: () => NOW })).rejects.toMatchObject({
      code: 'ERR_SIGNATURE_INVALID',
    });
    // The caller's request is still readable afterwards.
    expect(await moved.text()).toBe('abc');
  });

  it('verifyRequest rejects tampered bodies and non-Requests', async () => {
    const signed = await signRequest(
      new Request('https://a.example/x', { method: 'PUT', body: 'abc' }),
      { keyId: key.keyId, secret: key.printable },
      { now: () => NOW },
    );
    const tampered = new Request(signed.url, { method: 'PUT', headers: signed.headers, body: 'abd' });
    await expect(verifyRequest(tampered, { keys, now: () => NOW })).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
    await expect(verifyRequest({} as Request, { keys })).rejects.toThrow(TypeError);
  });
});

describe('hasBody rule', () => {
  const m = (method: string, headers: Record<string, string> = {}): MessageParts => ({
    method,
    url: 'https://a.example/',
    headers,
  });
  it('Content-Length > 0, Transfer-Encoding, or POST/PUT/PATCH', () => {
    expect(messageHasBody(m('GET'))).toBe(false);
    expect(messageHasBody(m('GET', { 'content-length': '0' }))).toBe(false);
    expect(messageHasBody(m('GET', { 'content-length': '12' }))).toBe(true);
    expect(messageHasBody(m('DELETE', { 'transfer-encoding': 'chunked' }))).toBe(true);
    for (const method of ['POST', 'put', 'PATCH']) expect(messageHasBody(m(method))).toBe(true);
  });
  it('Content-Length is zero only as a plain decimal zero (00, " 0"); anything else counts as a body', () => {
    for (const zero of ['0', '00', ' 0', '0\t']) {
      expect(messageHasBody(m('GET', { 'content-length': zero }))).toBe(false);
      expect(framingDeclaresBody({ 'content-length': zero })).toBe(false);
    }
    for (const other of ['+0', '0x0', '0, 0', '', '1', '0\v']) {
      expect(messageHasBody(m('GET', { 'content-length': other }))).toBe(true);
    }
    expect(framingDeclaresBody({})).toBe(false);
    expect(framingDeclaresBody({ 'transfer-encoding': 'chunked' })).toBe(true);
    // The method does not count for the framing (a POST may arrive with no bytes at all).
    expect(framingDeclaresBody({ 'content-length': '0' })).toBe(false);
  });
});

describe('checkSignature + verifyingStream (gateway path)', () => {
  async function signedParts(body: string) {
    const request = await signRequest(
      new Request('https://gw.example/upload', { method: 'POST', body }),
      { keyId: key.keyId, secret: key.printable },
      { now: () => NOW },
    );
    return { message: { method: request.method, url: request.url, headers: request.headers }, request };
  }

  it('streams the body through the digest and passes bytes on unchanged', async () => {
    const { message, request } = await signedParts('streamed body');
    // The store's clock is the verifier's: its epoch (its creation) must not postdate the signature.
    const nonceStore = memoryNonceStore({ now: () => NOW * 1000 });
    const check = await checkSignature(message, { keys, now: () => NOW, nonceStore, hasBody: true });
    expect(check.body).not.toBeNull();
    const out = await new Response(request.body!.pipeThrough(verifyingStream(check.body))).text();
    expect(out).toBe('streamed body');
    // The nonce is recorded once the body passed (the commit stage): a replay is refused there.
    const replay = await checkSignature(message, { keys, now: () => NOW, nonceStore, hasBody: true });
    replay.body!.update(utf8('streamed body'));
    await expect(replay.body!.finish()).rejects.toMatchObject({ code: 'ERR_NONCE_REPLAYED' });
  });

  it('errors the stream with DigestMismatch or BodyTooLarge', async () => {
    const { message } = await signedParts('original');
    const check = await checkSignature(message, { keys, now: () => NOW, hasBody: true });
    const altered = new Response('altered!').body!.pipeThrough(verifyingStream(check.body));
    await expect(new Response(altered).text()).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    const big = new Response('x'.repeat(100)).body!.pipeThrough(verifyingStream(null, { maxBodyBytes: 10 }));
    await expect(new Response(big).text()).rejects.toMatchObject({ code: 'ERR_BODY_TOO_LARGE' });
    expect(() => verifyingStream(null, { maxBodyBytes: -1 })).toThrow(TypeError);
  });

  it('records nonces of schemes that verify the signature only with the body after finish()', async () => {
    const recorded: string[] = [];
    let bodyBytes = '';
    const deferred: Scheme = {
      name: 'deferred-test',
      detect: () => true,
      parse: () => ({ keyId: 'hk_req', algorithm: undefined, coveredComponents: [], nonce: 'n1', created: NOW }),
      sign: async () => ({ headers: {} }),
      verify: () => ({
        signatureMatches: undefined,
        body: {
          update: (chunk) => {
            bodyBytes += new TextDecoder().decode(chunk);
          },
          finish: async () => {
            if (bodyBytes !== 'good') throw new (await import('@hmac-kit/core')).SignatureInvalid('bad body');
          },
        },
      }),
    };
    const nonceStore = {
      checkAndStore: async (_k: string, nonce: string) => {
        recorded.push(nonce);
        return true;
      },
    };
    await expect(
      verifyMessage({ method: 'POST', url: 'https://a.example/', headers: {} }, utf8('bad'), {
        keys,
        schemes: [deferred],
        nonceStore,
        now: () => NOW,
      }),
    ).rejects.toMatchObject({ code: 'ERR_SIGNATURE_INVALID' });
    expect(recorded).toEqual([]);
    bodyBytes = '';
    await verifyMessage({ method: 'POST', url: 'https://a.example/', headers: {} }, utf8('good'), {
      keys,
      schemes: [deferred],
      nonceStore,
      now: () => NOW,
    });
    expect(recorded).toEqual(['n1']);
  });
});

describe('createSignedFetch against a real Node HTTP server', () => {
  let server: Server;
  let origin: string;
  const nonceStore = memoryNonceStore();

  beforeAll(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      try {
        const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
        const verified = await verifyMessage({ method: req.method ?? 'GET', url, headers: req.headers }, req, {
          keys,
          nonceStore,
          crypto: nodeCryptoProvider,
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keyId: verified.keyId, covered: verified.coveredComponents }));
      } catch (error) {
        const problem = toProblem(error);
        res.writeHead(problem.status, problem.headers);
        res.end(JSON.stringify({ ...problem.body, internal: (error as { code?: string }).code }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('signs GET and POST requests that the server verifies (streamed IncomingMessage body)', async () => {
    const signedFetch = createSignedFetch({
      keyId: key.keyId,
      secret: key.printable,
      coveredHeaders: ['content-type'],
    });
    const get = await signedFetch(`${origin}/v1/items?limit=5&q=caf%C3%A9`, {
      headers: { 'content-type': 'text/plain' },
    });
    expect(get.status).toBe(200);
    expect(await get.json()).toMatchObject({ keyId: 'hk_req' });
    const body = 'x'.repeat(200_000);
    const post = await signedFetch(`${origin}/v1/upload`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
    expect(post.status).toBe(200);
    expect((await post.json()).covered).toContain('content-digest');
    const empty = await signedFetch(new Request(`${origin}/v1/jobs/1/cancel`, { method: 'POST' }));
    expect(empty.status).toBe(200);
  });

  it('a replayed request is refused', async () => {
    const signed = await signRequest(new Request(`${origin}/v1/once`), { keyId: key.keyId, secret: key.printable });
    expect((await fetch(signed.clone())).status).toBe(200);
    const replay = await fetch(signed);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'nonce_replayed' });
  });

  it('a wrong secret gets the same problem as an unknown key', async () => {
    const other = makeKey('hk_req', 'sha256', 99);
    const wrong = await createSignedFetch({ keyId: key.keyId, secret: other.printable })(`${origin}/x`);
    const unknown = await createSignedFetch({ keyId: 'hk_nobody', secret: key.printable })(`${origin}/x`);
    const [a, b] = [await wrong.json(), await unknown.json()];
    expect(a.internal).toBe('ERR_SIGNATURE_INVALID');
    expect(b.internal).toBe('ERR_KEY_UNKNOWN');
    delete a.internal;
    delete b.internal;
    expect(a).toEqual(b);
    expect(wrong.status).toBe(unknown.status);
    expect(wrong.headers.get('www-authenticate')).toBe(unknown.headers.get('www-authenticate'));
  });

  it('uses an injected fetch and validates options at construction', async () => {
    const seen: Request[] = [];
    const signedFetch = createSignedFetch({
      keyId: 'k',
      secret: key.printable,
      fetch: async (input) => {
        seen.push(input as Request);
        return new Response('ok');
      },
    });
    await signedFetch('https://a.example/x');
    expect(seen[0]!.headers.get('signature')).toMatch(/^sig=:/);
    expect(() => createSignedFetch({ keyId: '', secret: key.printable })).toThrow(TypeError);
    expect(() => createSignedFetch({ keyId: 'k', secret: 'hks_short' })).toThrow(TypeError);
    expect(() => createSignedFetch({ keyId: 'k', secret: key.printable, algorithm: 'md5' as never })).toThrow(
      TypeError,
    );
  });
});
