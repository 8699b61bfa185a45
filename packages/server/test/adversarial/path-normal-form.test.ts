import { join } from 'node:path';
import { djangoHmac, type Scheme, signMessage, sigv4, standardWebhooks, xApi } from '@hmac-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyWithCli, freshAddress, type IssuedKey } from '../../../../test-support/cli-client.js';
import { buildOnce, type ServeProcess, startServe, tempDir } from '../../../../test-support/processes.js';
import { type RawSeenRequest, rawRequest, startRawUpstream } from '../support/raw-http.js';

// Issue #11 defect 4: the gateway verified one path and forwarded another. Each attack takes a
// request signed for /b/c and sends it with another spelling of the target, over a raw socket (a
// client library would normalise the target first), to a gateway in front of an upstream that
// records the raw request line. Every spelling must be refused with 400 before verification (so
// the genuine request still goes through afterwards), and the upstream must receive exactly the
// request line that was verified.

/** Spellings of /b/c that some verifier or some upstream reads as /b/c (or as something else). */
const PATH_VARIANTS = [
  '/a/../b/c',
  '/./b/c',
  '/b/./c',
  '/b/c/.',
  '/a/%2e%2e/b/c',
  '/a/%2E%2e/b/c',
  '/a/.%2e/b/c',
  '/a/..;/b/c',
  '/a\\..\\b/c',
  '/b\\c',
  '//b/c',
  '/b//c',
  '/x/y/../../b/c',
  '/b/c#frag',
  'http://evil.example/b/c',
];

const SCHEMES: Array<[name: string, scheme: Scheme | undefined]> = [
  ['rfc9421', undefined],
  ['sigv4', sigv4()],
  ['x-api', xApi()],
  ['django-hmac', djangoHmac()],
  ['standard-webhooks', standardWebhooks()],
];

describe('adversarial: request-target normal form through the gateway (real upstream, raw request lines)', () => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let gateway: ServeProcess;
  let key: IssuedKey;

  beforeAll(async () => {
    buildOnce();
    const dir = tempDir();
    const db = join(dir, 'hmac-kit.db');
    key = await createKeyWithCli(db, 'path-client');
    upstream = await startRawUpstream();
    gateway = await startServe(
      ['--db', db, '--schemes', 'rfc9421,sigv4,x-api,django-hmac,standard-webhooks', '--upstream', upstream.url],
      { cwd: dir },
    );
  });

  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
  });

  /** Signs `method url` with a scheme; returns the headers to send (x-forwarded-for: a fresh source). */
  async function signedHeaders(scheme: Scheme | undefined, method: string, path: string) {
    const signed = await signMessage(
      { method, url: `${gateway.url}${path}`, headers: {}, body: null },
      key,
      scheme ? { scheme } : {},
    );
    const headers: Record<string, string> = { ...signed.headers, 'x-forwarded-for': freshAddress() };
    if (scheme?.name === 'standard-webhooks') headers['webhook-key-id'] = key.keyId;
    return headers;
  }

  const newRequestLines = (before: number): string[] =>
    upstream.seen.slice(before).map((entry: RawSeenRequest) => entry.requestLine);

  for (const [name, scheme] of SCHEMES) {
    it(`${name}: refuses every other spelling of a signed /b/c with 400, then forwards /b/c byte for byte`, async () => {
      const headers = await signedHeaders(scheme, 'GET', '/b/c');
      const before = upstream.seen.length;
      const answers: Record<string, string> = {};
      for (const variant of PATH_VARIANTS) {
        const response = await rawRequest(gateway.url, 'GET', variant, headers);
        answers[variant] = `${response.status} ${(JSON.parse(response.body || '{}') as { code?: string }).code}`;
      }
      expect(answers).toEqual(Object.fromEntries(PATH_VARIANTS.map((v) => [v, '400 request_target_not_normal'])));
      expect(newRequestLines(before)).toEqual([]);
      // Refused before verification: the genuine request (same nonce) is still accepted.
      const genuine = await rawRequest(gateway.url, 'GET', '/b/c', headers);
      expect(genuine.status).toBe(200);
      expect(newRequestLines(before)).toEqual(['GET /b/c HTTP/1.1']);
    });
  }

  for (const [name, scheme] of SCHEMES.filter(([name]) => name === 'sigv4' || name === 'x-api')) {
    it(`${name}: refuses a reordered repeated query parameter and an inserted empty one (the signature does not cover order)`, async () => {
      const headers = await signedHeaders(scheme, 'GET', '/b/c?id=1&id=2');
      const before = upstream.seen.length;
      for (const variant of ['/b/c?id=2&id=1', '/b/c?id=1&&id=2']) {
        const response = await rawRequest(gateway.url, 'GET', variant, headers);
        expect(response.status, variant).toBe(400);
        expect(JSON.parse(response.body).code).toBe('request_target_not_normal');
      }
      expect(newRequestLines(before)).toEqual([]);
      const fresh = await signedHeaders(scheme, 'GET', '/b/c?id=1&id=2');
      const genuine = await rawRequest(gateway.url, 'GET', '/b/c?id=1&id=2', fresh);
      expect(genuine.status).toBe(200);
      expect(newRequestLines(before)).toEqual(['GET /b/c?id=1&id=2 HTTP/1.1']);
    });
  }

  it('answers a signed OPTIONS * with 400 and a code, not 502 (issue #11 defect 9)', async () => {
    const headers = await signedHeaders(undefined, 'OPTIONS', '/*');
    const before = upstream.seen.length;
    const response = await rawRequest(gateway.url, 'OPTIONS', '*', headers);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'request_target_not_normal', status: 400 });
    expect(newRequestLines(before)).toEqual([]);
  });

  it('refuses the same spellings in X-Original-URI at forward-auth', async () => {
    const headers = await signedHeaders(undefined, 'GET', '/b/c');
    for (const variant of PATH_VARIANTS) {
      const response = await rawRequest(gateway.url, 'GET', '/_hmac-kit/verify', {
        ...headers,
        'x-original-uri': variant,
        'x-original-method': 'GET',
      });
      expect(`${variant} ${response.status}`).toBe(`${variant} 400`);
      expect(JSON.parse(response.body).code).toBe('request_target_not_normal');
    }
    const genuine = await rawRequest(gateway.url, 'GET', '/_hmac-kit/verify', {
      ...headers,
      'x-original-uri': '/b/c',
      'x-original-method': 'GET',
    });
    expect(genuine.status).toBe(200);
    expect(genuine.headers['x-authenticated-principal']).toBe('path-client');
  });
});
