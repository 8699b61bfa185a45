/**
 * Review (session 5), `--debug-signatures` through the gateway for the schemes whose MAC covers
 * the body itself (X-API-*, django-hmac, SigV4 without x-amz-content-sha256, Standard Webhooks):
 * there the key + MAC stage waits for the body, so a key id that exists and one that does not
 * could part ways (a base with the body for one, none for the other; a field more; a longer
 * answer). Attack: the same request, byte for byte, once with a known key id and a wrong secret,
 * once with an unknown key id; the answers must be the same apart from the key id they echo.
 */
import { randomBytes } from 'node:crypto';
import { djangoHmac, signMessage, standardWebhooks, xApi } from '@hmac-kit/core';
import type { RunningServer } from '@hmac-kit/server';
import aws4 from 'aws4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshAddress } from '../../../../test-support/cli-client.js';
import { issueKey, startInProcess } from '../support/in-process.js';
import { startRawUpstream } from '../support/raw-http.js';

interface Answer {
  status: number;
  body: Record<string, unknown>;
  length: number;
}

describe('review5: debug signatures tell no known key id from an unknown one (body-signing schemes, gateway)', () => {
  let upstream: Awaited<ReturnType<typeof startRawUpstream>>;
  let gateway: RunningServer;
  let known: string;
  const unknown = 'hk_review5NoSuchKey00000';
  const wrongSecret = `hks_${Buffer.alloc(32, 5).toString('base64url')}`;

  beforeAll(async () => {
    upstream = await startRawUpstream();
    gateway = await startInProcess({
      debugSignatures: true,
      upstream: upstream.url,
      schemes: 'rfc9421,x-api,django-hmac,sigv4,standard-webhooks',
    });
    known = (await issueKey(gateway, 'review5-debug-oracle')).keyId;
  });

  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  async function send(path: string, headers: Record<string, string>, body: string): Promise<Answer> {
    const response = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers, 'x-forwarded-for': freshAddress() },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, length: text.length };
  }

  /** The answer with the per-request id removed and the key id it echoes replaced. */
  function comparable(answer: Answer, keyId: string): unknown {
    const { instance: _instance, ...rest } = answer.body;
    return JSON.parse(JSON.stringify(rest).replaceAll(keyId, 'KEY'));
  }

  type Signer = (keyId: string, path: string, body: string, fixedNow: number) => Promise<Record<string, string>>;
  const signers: [scheme: string, sign: Signer][] = [
    [
      'x-api',
      async (keyId, path, body, fixedNow) =>
        (
          await signMessage(
            { method: 'POST', url: `${gateway.url}${path}`, headers: { 'content-type': 'application/json' }, body },
            { keyId, secret: wrongSecret },
            { scheme: xApi(), now: () => fixedNow, nonce: 'review5-nonce-0001' } as never,
          )
        ).headers,
    ],
    [
      'django-hmac',
      async (keyId, path, body, fixedNow) =>
        (
          await signMessage(
            { method: 'POST', url: `${gateway.url}${path}`, headers: { 'content-type': 'application/json' }, body },
            { keyId, secret: wrongSecret },
            { scheme: djangoHmac(), now: () => fixedNow } as never,
          )
        ).headers,
    ],
    [
      'standard-webhooks',
      async (keyId, path, body, fixedNow) => ({
        ...(
          await signMessage(
            {
              method: 'POST',
              url: `${gateway.url}${path}`,
              headers: { 'content-type': 'application/json', 'webhook-id': 'msg_review5' },
              body,
            },
            { keyId, secret: wrongSecret },
            { scheme: standardWebhooks(), now: () => fixedNow } as never,
          )
        ).headers,
        'webhook-id': 'msg_review5',
        'webhook-key-id': keyId,
      }),
    ],
    [
      'sigv4 (no declared payload hash)',
      async (keyId, path, body, fixedNow) => {
        const { host } = new URL(gateway.url);
        const signed = aws4.sign(
          {
            host,
            path,
            method: 'POST',
            service: 'hmac-kit',
            region: 'us-east-1',
            body,
            // One signing time for both requests (aws4 reads the clock otherwise).
            headers: { 'X-Amz-Date': new Date(fixedNow * 1000).toISOString().replace(/[:-]|\.\d{3}/g, '') },
          },
          { accessKeyId: keyId, secretAccessKey: wrongSecret },
        );
        const headers = { ...(signed.headers as Record<string, string>) };
        delete headers.Host;
        delete headers['Content-Length'];
        return headers;
      },
    ],
  ];

  for (const [scheme, sign] of signers) {
    for (const [size, body] of [
      ['small', '{"amount": 1, "to": "review5"}'],
      ['large (past the buffered size)', JSON.stringify({ blob: randomBytes(96 * 1024).toString('base64') })],
    ] as const) {
      it(`${scheme}, ${size} body: the same answer, field for field and byte for byte`, async () => {
        const path = `/review5-oracle/${scheme.split(' ')[0]}`;
        const now = Math.floor(Date.now() / 1000);
        const withKnown = await send(path, await sign(known, path, body, now), body);
        const withUnknown = await send(path, await sign(unknown, path, body, now), body);
        expect(withKnown.status).toBe(401);
        expect(withKnown.body.code, JSON.stringify(withKnown.body).slice(0, 400)).toBe('signature_invalid');
        // Not vacuous: both carry a base (the body-signing schemes rebuild it once the body is read).
        const report = withKnown.body.signature_base as { sections: unknown[] } | undefined;
        expect(report?.sections.length).toBeGreaterThan(0);
        expect(withUnknown.status).toBe(withKnown.status);
        expect(comparable(withUnknown, unknown)).toEqual(comparable(withKnown, known));
        expect(withUnknown.length - unknown.length * countOf(withUnknown, unknown)).toBe(
          withKnown.length - known.length * countOf(withKnown, known),
        );
      });
    }
  }
});

function countOf(answer: Answer, keyId: string): number {
  return JSON.stringify(answer.body).split(keyId).length - 1;
}
