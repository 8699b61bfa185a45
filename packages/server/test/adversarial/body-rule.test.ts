import { request as httpRequest } from 'node:http';
import { messageHasBody, signMessage } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { requestHasBody } from '../../src/message.js';
import { type RawUpstreamGateway, startRawUpstreamGateway } from '../support/in-process.js';
import { rawRequest } from '../support/raw-http.js';

// Issue #16: the "request has a body" rule had four copies that disagreed (`Content-Length: 00` was no
// body for the core, a body for the gateway). The attack the rule must stop: the gateway verifies a
// request as bodiless (so the signature need not cover a body) and then forwards a body. One rule now
// (core's messageHasBody); it follows HTTP framing, so "no body" only where Node reads zero bytes.

const FRAMINGS: [what: string, headers: Record<string, string>, hasBody: boolean][] = [
  ['no Content-Length', {}, false],
  ['Content-Length: 0', { 'content-length': '0' }, false],
  ['Content-Length: 00 (zero as a decimal number)', { 'content-length': '00' }, false],
  ['Content-Length: " 0" (optional whitespace)', { 'content-length': ' 0' }, false],
  ['Content-Length: 5', { 'content-length': '5' }, true],
  ['Transfer-Encoding: chunked', { 'transfer-encoding': 'chunked' }, true],
  [
    'Transfer-Encoding: chunked with Content-Length: 0',
    { 'transfer-encoding': 'chunked', 'content-length': '0' },
    true,
  ],
  // Not a plain zero: fail closed (the signature must then cover the body).
  ['Content-Length: +0', { 'content-length': '+0' }, true],
  ['Content-Length: 0x0', { 'content-length': '0x0' }, true],
  ['two Content-Length lines', { 'content-length': ['0', '0'] as unknown as string }, true],
];

describe('one "has a body" rule for the core and the gateway', () => {
  it.each(FRAMINGS)('GET with %s', (_what, headers, hasBody) => {
    expect(messageHasBody({ method: 'GET', url: 'https://api.example/', headers })).toBe(hasBody);
    expect(requestHasBody('GET', headers)).toBe(hasBody);
  });

  it('POST, PUT and PATCH always carry one (an empty body is still signed)', () => {
    for (const method of ['POST', 'PUT', 'PATCH']) {
      for (const [, headers] of FRAMINGS) {
        expect(messageHasBody({ method, url: 'https://api.example/', headers })).toBe(true);
        expect(requestHasBody(method, headers)).toBe(true);
      }
    }
  });
});

describe('the gateway never verifies "no body" and then forwards one', () => {
  let gateway: RawUpstreamGateway | undefined;
  let upstream: RawUpstreamGateway['upstream'];
  let server: RunningServer;
  let key: RawUpstreamGateway['key'];

  beforeAll(async () => {
    gateway = await startRawUpstreamGateway('body-rule');
    ({ upstream, server, key } = gateway);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** A GET (or another method) signed as bodiless: no content-digest among the covered components. */
  async function signedGet(path: string, method = 'GET'): Promise<Record<string, string>> {
    const { headers } = await signMessage({ method, url: `${server.url}${path}`, headers: {} }, key);
    expect(headers['Signature-Input'] ?? headers['signature-input']).not.toContain('content-digest');
    return { ...headers, 'x-forwarded-for': freshAddress() };
  }

  it.each(['0', '00', ' 0'])(
    'Content-Length: "%s" is zero bytes: accepted, and the upstream gets no body',
    async (length) => {
      const path = `/zero-${encodeURIComponent(length.trim())}-${length.length}`;
      const before = upstream.seen.length;
      const response = await rawRequest(server.url, 'GET', path, {
        ...(await signedGet(path)),
        'Content-Length': length,
      });
      expect(response.status).toBe(200);
      const forwarded = upstream.seen.slice(before).filter((seen) => seen.requestLine.startsWith(`GET ${path} `));
      expect(forwarded).toHaveLength(1);
      expect(forwarded[0]!.body.length).toBe(0);
    },
  );

  // A GET is refused 400 body_not_allowed before it is verified (getbody19); a DELETE keeps its
  // body, and is refused 401 by the body rule (a body its signature does not cover).
  it.each([
    ['GET', 400],
    ['DELETE', 401],
  ])('a chunked body on a %s signed as bodiless is refused and never forwarded', async (method, expected) => {
    const path = `/chunked-${method.toLowerCase()}`;
    const headers = await signedGet(path, method);
    const before = upstream.seen.length;
    const { hostname, port } = new URL(server.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: hostname, port, method, path, headers: { ...headers, 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end('{"smuggled":true}');
    });
    expect(status).toBe(expected);
    expect(upstream.seen.slice(before).some((seen) => seen.requestLine.includes(path))).toBe(false);
  });
});
