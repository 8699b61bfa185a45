// @hmac-kit/axios: the interceptor reproduces the core's RFC 9421 vectors inside a real axios
// pipeline, then signs real requests that a running `hmac-kit serve` gateway accepts.
import { Readable } from 'node:stream';
import { hmacKitInterceptor, withHmacKit } from '@hmac-kit/axios';
import axios, { type AxiosAdapter, type InternalAxiosRequestConfig } from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientCases,
  type Echo,
  type LiveServer,
  sha256Hex,
  startLiveServer,
} from '../../../test-support/clients/harness.js';
import { loadProfileVectors, vectorBody, vectorSigningOptions } from '../../../test-support/clients/vectors.js';

describe('@hmac-kit/axios: known answers', () => {
  for (const vector of loadProfileVectors()) {
    it(`reproduces vector ${vector.name}`, async () => {
      let sent: InternalAxiosRequestConfig | undefined;
      // A capturing adapter: the whole axios pipeline runs, nothing goes on the wire.
      const adapter: AxiosAdapter = async (config) => {
        sent = config;
        return { data: '', status: 200, statusText: 'OK', headers: {}, config };
      };
      const api = axios.create({ adapter });
      api.interceptors.request.use(hmacKitInterceptor(vectorSigningOptions(vector)));
      const body = vectorBody(vector.request.body);
      await api.request({
        method: vector.request.method,
        url: vector.request.url,
        headers: vector.request.headers,
        data: body === null ? undefined : Buffer.from(body),
      });
      const headers = sent!.headers;
      for (const [name, value] of Object.entries(vector.expected.headers)) expect(headers.get(name)).toBe(value);
      if (!('Content-Digest' in vector.expected.headers)) expect(headers.has('content-digest')).toBe(false);
      // The bytes the adapter sends are the bytes that were digested.
      expect(sha256Hex(new Uint8Array((sent!.data as ArrayBuffer | undefined) ?? new ArrayBuffer(0)))).toBe(
        sha256Hex(body ?? new Uint8Array()),
      );
    });
  }

  it('validates options once, at construction', () => {
    expect(() => hmacKitInterceptor({ keyId: '', secret: 'hks_x' })).toThrow(TypeError);
    expect(() => hmacKitInterceptor({ keyId: 'hk_1', secret: 'not-a-secret' })).toThrow(TypeError);
    expect(() =>
      hmacKitInterceptor({ keyId: 'hk_1', secret: `hks_${'A'.repeat(43)}`, nonce: 'fixed' as never }),
    ).toThrow(TypeError);
  });
});

describe('@hmac-kit/axios: live server', () => {
  let server: LiveServer;
  beforeAll(async () => {
    server = await startLiveServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const client = () =>
    withHmacKit(axios.create({ baseURL: server.origin }), { keyId: server.keyId, secret: server.secret });

  for (const testCase of clientCases) {
    it(`signed request is accepted: ${testCase.name}`, async () => {
      const response = await client().request<Echo>({
        method: testCase.method,
        url: testCase.pathAndQuery,
        headers: testCase.contentType ? { 'Content-Type': testCase.contentType } : {},
        data: testCase.body ? Buffer.from(testCase.body) : undefined,
        validateStatus: () => true,
      });
      expect(response.status, JSON.stringify(response.data)).toBe(200);
      expect(response.data).toEqual({
        keyId: server.keyId,
        method: testCase.method,
        target: testCase.expectedTarget,
        bodyLength: testCase.body?.length ?? 0,
        bodySha256: sha256Hex(testCase.body ?? new Uint8Array()),
      });
    });
  }

  it('signs the JSON axios serializes from an object, and params axios appends', async () => {
    const payload = { name: 'José', items: [1, 2], note: '東京 🚀' };
    const response = await client().post<Echo>('/orders', payload, {
      params: { tag: ['a', 'b'], q: 'a b&c' },
      validateStatus: () => true,
    });
    expect(response.status).toBe(200);
    expect(response.data.bodySha256).toBe(sha256Hex(JSON.stringify(payload)));
    expect(response.data.target.startsWith('/orders?')).toBe(true);
  });

  it('signs string and Uint8Array bodies', async () => {
    const text = await client().put<Echo>('/text', 'naïve text', { headers: { 'Content-Type': 'text/plain' } });
    expect(text.data.bodySha256).toBe(sha256Hex('naïve text'));
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const binary = await client().post<Echo>('/bytes', bytes, {
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(binary.data.bodySha256).toBe(sha256Hex(bytes));
  });

  it('covers extra headers when asked (coveredHeaders)', async () => {
    const api = withHmacKit(axios.create({ baseURL: server.origin }), {
      keyId: server.keyId,
      secret: server.secret,
      coveredHeaders: ['content-type', 'x-request-id'],
    });
    const response = await api.post<Echo>('/orders', '{"a":1}', {
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'req-1' },
    });
    expect(response.status).toBe(200);
  });

  it('refuses streaming bodies with a clear TypeError instead of sending an unverifiable request', async () => {
    await expect(client().post('/upload', Readable.from(['a', 'b']))).rejects.toThrow(
      /streaming bodies cannot be signed/,
    );
  });

  it('a wrong secret is refused with signature_invalid', async () => {
    const api = withHmacKit(axios.create({ baseURL: server.origin }), {
      keyId: server.keyId,
      secret: `hks_${Buffer.alloc(32, 9).toString('base64url')}`,
    });
    const response = await api.get('/v1/whoami', { validateStatus: () => true });
    expect(response.status).toBe(401);
    expect(response.data).toMatchObject({ code: 'signature_invalid' });
  });
});
