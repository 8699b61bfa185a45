import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { djangoBodySerialization, djangoHmac, signMessage } from '@hmac-kit/core';
import { createLogger, loadConfig, type RunningServer, startServer } from '@hmac-kit/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { issueKey, testUpstreamClient } from '../support/in-process.js';
import { type RawSeenRequest, rawRequest, startRawUpstream } from '../support/raw-http.js';

// Issue #11 defect 5: django-hmac through the gateway forwarded bytes the signature never covered.
// A GET's signature was accepted on a POST with any body, `{}`'s signature on `{"amount":5}` (sent
// without a Content-Type, which the Django server ignores), and `{"amount":999,"amount":1}` passed as
// `{"amount":1}` while an upstream keeping the first duplicate read 999. Through the real gateway to
// a real upstream that records the raw bytes it receives.

describe('adversarial: django-hmac bodies through the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let gateway: RunningServer;
  let key: { keyId: string; secret: string };
  const log: Array<Record<string, unknown>> = [];
  const scheme = djangoHmac();

  beforeAll(async () => {
    upstream = await startRawUpstream();
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) log.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({
      flags: {
        ...testUpstreamClient(),
        port: 0,
        database: ':memory:',
        masterKeys: `mk-test:${randomBytes(32).toString('base64')}`,
        schemes: 'rfc9421,django-hmac',
        upstream: upstream.url,
      },
      env: {},
    });
    gateway = await startServer(config, { logger: createLogger('info', sink) });
    key = await issueKey(gateway, 'django-client');
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  /** The django-hmac Authorization header for `body` sent with `contentType`. */
  async function authorization(body: string, contentType?: string): Promise<string> {
    const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
    const signed = await signMessage(
      {
        method: 'POST',
        url: `${gateway.url}/orders`,
        headers,
        body: body === '' ? null : new TextEncoder().encode(body),
      },
      key,
      { scheme },
    );
    return signed.headers.Authorization as string;
  }

  async function send(method: string, headers: Record<string, string>, body = '') {
    const before = upstream.seen.length;
    const response = await rawRequest(
      gateway.url,
      method,
      '/orders',
      { ...headers, 'x-forwarded-for': freshAddress() },
      body,
    );
    const code = response.headers['content-type']?.startsWith('application/problem+json')
      ? (JSON.parse(response.body) as { code?: string }).code
      : undefined;
    return { status: response.status, code, forwarded: upstream.seen.slice(before) as RawSeenRequest[] };
  }

  const contentLength = (seen: RawSeenRequest) =>
    Number(seen.headerLines.find((line) => /^content-length:/i.test(line))?.split(':')[1]);

  it("refuses a GET's signature on a POST with a body the signature does not cover", async () => {
    const getSignature = await authorization('');
    const answer = await send('POST', { authorization: getSignature }, '{"amount":5}');
    expect(answer).toMatchObject({ status: 401, code: 'body_not_signed', forwarded: [] });
  });

  it('refuses `{}`\'s signature on {"amount":5}, with or without a Content-Type', async () => {
    const emptyObject = await authorization('{}', 'application/json');
    const withoutType = await send('POST', { authorization: emptyObject }, '{"amount":5}');
    expect(withoutType).toMatchObject({ status: 401, code: 'body_not_signed', forwarded: [] });
    const withType = await send(
      'POST',
      { authorization: await authorization('{}', 'application/json'), 'content-type': 'application/json' },
      '{"amount":5}',
    );
    expect(withType).toMatchObject({ status: 401, code: 'signature_invalid', forwarded: [] });
  });

  it('a falsy JSON body is signed as no body, so none is forwarded (not `[]` or `0` in place of `{}`)', async () => {
    const emptyObject = await authorization('{}', 'application/json');
    const answer = await send('POST', { authorization: emptyObject, 'content-type': 'application/json' }, '[]');
    expect(answer.status).toBe(200);
    expect(answer.forwarded).toHaveLength(1);
    expect(answer.forwarded[0]!.body.length).toBe(0);
    expect(contentLength(answer.forwarded[0]!)).toBe(0);
  });

  it('refuses JSON with a repeated name: {"amount":999,"amount":1} never reaches the upstream', async () => {
    const genuine = await authorization('{"amount":1}', 'application/json');
    const answer = await send(
      'POST',
      { authorization: genuine, 'content-type': 'application/json' },
      '{"amount":999,"amount":1}',
    );
    expect(answer).toMatchObject({ status: 400, code: 'body_ambiguous', forwarded: [] });
  });

  it('refuses a form that repeats a field (the signature covers only its last value)', async () => {
    const genuine = await authorization('amount=1', 'application/x-www-form-urlencoded');
    const answer = await send(
      'POST',
      { authorization: genuine, 'content-type': 'application/x-www-form-urlencoded' },
      'amount=999&amount=1',
    );
    expect(answer).toMatchObject({ status: 400, code: 'body_ambiguous', forwarded: [] });
  });

  it('forwards exactly the bytes that were hashed (JSON): the re-serialised body, its length', async () => {
    const sent = '{ "amount": 5, "note": "Jürgen", "ratio": 1.50 }';
    const signature = await authorization(sent, 'application/json');
    const answer = await send('POST', { authorization: signature, 'content-type': 'application/json' }, sent);
    expect(answer.status).toBe(200);
    const hashed = djangoBodySerialization(sent, 'application/json') as string;
    expect(hashed).toBe('{"amount":5,"note":"J\\u00fcrgen","ratio":1.5}');
    expect(answer.forwarded[0]!.body.toString('latin1')).toBe(hashed);
    expect(contentLength(answer.forwarded[0]!)).toBe(hashed.length);
  });

  it('forwards a form as the signed fields, each once, canonically encoded', async () => {
    const sent = 'note=x+y&name=J%C3%BCrgen;x';
    const signature = await authorization(sent, 'application/x-www-form-urlencoded');
    const answer = await send(
      'POST',
      { authorization: signature, 'content-type': 'application/x-www-form-urlencoded' },
      sent,
    );
    expect(answer.status).toBe(200);
    expect(answer.forwarded[0]!.body.toString('latin1')).toBe('note=x+y&name=J%C3%BCrgen%3Bx');
  });

  it('says at start what django-hmac cannot protect (method, path)', () => {
    const warnings = log.filter((line) => line.scheme === 'django-hmac' && line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toBe('weak scheme enabled');
    expect(String(warnings[0]?.unprotected)).toMatch(/neither the method, the path/);
  });
});
