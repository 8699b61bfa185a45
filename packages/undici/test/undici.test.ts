// @hmac-kit/undici: the interceptor reproduces the core's RFC 9421 vectors on what it would
// dispatch, then signs real requests (request(), fetch(), stream bodies) that a running
// `hmac-kit serve` gateway accepts.
import { Readable } from 'node:stream';
import { SignatureInvalid, verifyMessage } from '@hmac-kit/core';
import { hmacKitInterceptor, withHmacKit } from '@hmac-kit/undici';
import { Agent, type Dispatcher, fetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientCases,
  type Echo,
  type LiveServer,
  sha256Hex,
  startLiveServer,
} from '../../../test-support/clients/harness.js';
import { loadProfileVectors, vectorBody, vectorSigningOptions } from '../../../test-support/clients/vectors.js';

/** Runs the interceptor in front of a dispatch that only records what it was handed. */
function interceptOnce(
  interceptor: Dispatcher.DispatcherComposeInterceptor,
  opts: Dispatcher.DispatchOptions,
): Promise<Dispatcher.DispatchOptions> {
  return new Promise((resolve, reject) => {
    const dispatch = interceptor((signed) => {
      resolve(signed);
      return true;
    });
    dispatch(opts, { onResponseError: (_controller, error) => reject(error) });
  });
}

describe('@hmac-kit/undici: known answers', () => {
  for (const vector of loadProfileVectors()) {
    it(`reproduces vector ${vector.name}`, async () => {
      const interceptor = hmacKitInterceptor(vectorSigningOptions(vector));
      const url = new URL(vector.request.url);
      const body = vectorBody(vector.request.body);
      const signed = await interceptOnce(interceptor, {
        origin: url.origin,
        path: url.pathname + url.search,
        method: vector.request.method as Dispatcher.HttpMethod,
        headers: vector.request.headers,
        body: body === null ? null : Buffer.from(body),
      });
      const headers = signed.headers as Record<string, string>;
      for (const [name, value] of Object.entries(vector.expected.headers)) expect(headers[name]).toBe(value);
      expect(signed.path).toBe(url.pathname + url.search);
    });
  }

  it('signs the authority of a Host header the caller sets, not the address it connects to', async () => {
    const interceptor = hmacKitInterceptor({ keyId: 'hk_host', secret: `hks_${'A'.repeat(43)}` });
    const signed = await interceptOnce(interceptor, {
      origin: 'http://10.0.0.7:8080',
      path: '/v1/items',
      method: 'GET',
      headers: { Host: 'API.example.com' },
    });
    const headers = signed.headers as Record<string, string>;
    const options = { keys: () => ({ keyId: 'hk_host', secret: new Uint8Array(32), algorithm: 'sha256' as const }) };
    await expect(
      verifyMessage({ method: 'GET', url: 'http://api.example.com/v1/items', headers }, null, options),
    ).resolves.toMatchObject({ keyId: 'hk_host' });
    await expect(
      verifyMessage({ method: 'GET', url: 'http://10.0.0.7:8080/v1/items', headers }, null, options),
    ).rejects.toThrow(SignatureInvalid);
  });

  it('validates options once, at construction', () => {
    const secret = `hks_${'A'.repeat(43)}`;
    expect(() => hmacKitInterceptor({ keyId: '', secret })).toThrow(TypeError);
    expect(() => hmacKitInterceptor({ keyId: 'hk_1', secret: 'nope' })).toThrow(TypeError);
    expect(() => hmacKitInterceptor({ keyId: 'hk_1', secret, streamingBodies: 'stream' as never })).toThrow(TypeError);
    expect(() => hmacKitInterceptor({ keyId: 'hk_1', secret, maxBufferedBodyBytes: -1 })).toThrow(TypeError);
  });
});

describe('@hmac-kit/undici: live server', () => {
  let server: LiveServer;
  let agent: Agent;
  let dispatcher: Dispatcher;
  beforeAll(async () => {
    server = await startLiveServer();
    agent = new Agent();
    dispatcher = agent.compose(hmacKitInterceptor({ keyId: server.keyId, secret: server.secret }));
  });
  afterAll(async () => {
    await agent?.close();
    await server?.close();
  });

  for (const testCase of clientCases) {
    it(`request(): ${testCase.name}`, async () => {
      const response = await request(server.origin + testCase.pathAndQuery, {
        dispatcher,
        method: testCase.method as Dispatcher.HttpMethod,
        headers: testCase.contentType ? { 'content-type': testCase.contentType } : {},
        body: testCase.body ? Buffer.from(testCase.body) : undefined,
      });
      const text = await response.body.text();
      expect(response.statusCode, text).toBe(200);
      expect(JSON.parse(text)).toEqual({
        keyId: server.keyId,
        method: testCase.method,
        target: testCase.expectedTarget,
        bodyLength: testCase.body?.length ?? 0,
        bodySha256: sha256Hex(testCase.body ?? new Uint8Array()),
      });
    });

    it(`fetch() through withHmacKit(): ${testCase.name}`, async () => {
      const wrapped = withHmacKit(new Agent(), { keyId: server.keyId, secret: server.secret });
      try {
        const response = await fetch(server.origin + testCase.pathAndQuery, {
          dispatcher: wrapped,
          method: testCase.method,
          headers: testCase.contentType ? { 'content-type': testCase.contentType } : {},
          body: testCase.body ?? (['POST', 'PUT', 'PATCH'].includes(testCase.method) ? '' : undefined),
        });
        const text = await response.text();
        expect(response.status, text).toBe(200);
        const echo = JSON.parse(text) as Echo;
        expect(echo.target).toBe(testCase.expectedTarget);
        expect(echo.bodySha256).toBe(sha256Hex(testCase.body ?? new Uint8Array()));
      } finally {
        await wrapped.close();
      }
    });
  }

  it('buffers a Node stream body (default) and signs it', async () => {
    const response = await request(`${server.origin}/upload`, {
      dispatcher,
      method: 'PUT',
      body: Readable.from([Buffer.from('chunk one, '), Buffer.from('chunk two')]),
    });
    const echo = (await response.body.json()) as Echo;
    expect(response.statusCode).toBe(200);
    expect(echo.bodySha256).toBe(sha256Hex('chunk one, chunk two'));
  });

  it("streamingBodies: 'reject' refuses stream bodies with a TypeError", async () => {
    const strict = new Agent().compose(
      hmacKitInterceptor({ keyId: server.keyId, secret: server.secret, streamingBodies: 'reject' }),
    );
    await expect(
      request(`${server.origin}/upload`, { dispatcher: strict, method: 'PUT', body: Readable.from(['x']) }),
    ).rejects.toThrow(/streaming bodies cannot be signed/);
  });

  it('a stream larger than maxBufferedBodyBytes fails with a RangeError, before anything is sent', async () => {
    const small = new Agent().compose(
      hmacKitInterceptor({ keyId: server.keyId, secret: server.secret, maxBufferedBodyBytes: 8 }),
    );
    await expect(
      request(`${server.origin}/upload`, { dispatcher: small, method: 'PUT', body: Readable.from(['0123456789']) }),
    ).rejects.toThrow(RangeError);
  });

  it('a wrong secret is refused with signature_invalid', async () => {
    const wrong = new Agent().compose(
      hmacKitInterceptor({ keyId: server.keyId, secret: `hks_${Buffer.alloc(32, 3).toString('base64url')}` }),
    );
    const response = await request(`${server.origin}/v1/whoami`, { dispatcher: wrong });
    expect(response.statusCode).toBe(401);
    expect(await response.body.json()).toMatchObject({ code: 'signature_invalid' });
  });
});
