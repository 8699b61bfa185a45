import { createHash } from 'node:crypto';
import { rfc9421, signMessage, verifyMessage } from '@hmac-kit/core';
import { createSigner, createVerifier, httpbis } from 'http-message-signatures';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../src/primitives/encoding.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

// The interoperability partner: dhensby/node-http-message-signatures (npm http-message-signatures).
const key = makeKey('hk_interop', 'sha256', 21);
const secret = Buffer.from(key.secret);

const requests = [
  {
    method: 'POST',
    url: 'https://api.example.com/v1/orders?dry_run=1&x=a%20b',
    headers: { 'content-type': 'application/json' } as Record<string, string>,
    body: '{"item":"widget","quantity":3}',
  },
  { method: 'GET', url: 'https://API.example.com:443/v1/items', headers: {} as Record<string, string>, body: null },
  { method: 'PUT', url: 'http://localhost:8080/caf%C3%A9?q=%E2%9C%93', headers: { 'x-tenant': ' acme ' }, body: 'é ✓' },
];

describe('interop with http-message-signatures (hmac-sha256)', () => {
  for (const request of requests) {
    it(`their signature verifies with our core: ${request.method} ${request.url}`, async () => {
      const headers: Record<string, string> = { ...request.headers };
      const fields = ['@method', '@authority', '@path', '@query', ...Object.keys(request.headers)];
      if (request.body !== null || request.method !== 'GET') {
        headers['content-digest'] = `sha-256=:${createHash('sha256')
          .update(request.body ?? '')
          .digest('base64')}:`;
        fields.push('content-digest');
      }
      const signed = await httpbis.signMessage(
        {
          key: createSigner(secret, 'hmac-sha256', key.keyId),
          fields,
          params: ['created', 'expires', 'nonce', 'keyid', 'alg'],
          paramValues: { created: new Date(NOW * 1000), expires: new Date((NOW + 60) * 1000), nonce: 'their-nonce-1' },
        },
        { method: request.method, url: request.url, headers },
      );
      const verified = await verifyMessage(
        { method: request.method, url: request.url, headers: signed.headers as Record<string, string> },
        request.body === null ? null : utf8(request.body),
        { keys: resolverOf(key), now: () => NOW + 1 },
      );
      expect(verified).toMatchObject({ keyId: key.keyId, nonce: 'their-nonce-1', created: NOW, expires: NOW + 60 });
    });

    // Theirs checks created/expires against the real clock, so these signatures use it too.
    it(`our signature verifies with theirs: ${request.method} ${request.url}`, async () => {
      const { headers } = await signMessage(
        { ...request },
        { keyId: key.keyId, secret: key.printable },
        { coveredHeaders: Object.keys(request.headers), expiresInSeconds: 300 },
      );
      const keyLookup = async (params: { keyid?: string }) =>
        params.keyid === key.keyId
          ? { id: key.keyId, algs: ['hmac-sha256'], verify: createVerifier(secret, 'hmac-sha256') }
          : null;
      const ok = await httpbis.verifyMessage(
        { keyLookup, tolerance: 5 },
        { method: request.method, url: request.url, headers: { ...request.headers, ...headers } },
      );
      expect(ok).toBe(true);

      // And a tampered request fails with theirs too, so the check above is meaningful.
      const tampered = await httpbis
        .verifyMessage(
          { keyLookup, tolerance: 5 },
          {
            method: request.method,
            url: `${request.url}${request.url.includes('?') ? '&' : '?'}evil=1`,
            headers: { ...request.headers, ...headers },
          },
        )
        .catch(() => false);
      expect(tampered).toBe(false);
    });
  }

  it('our sha-512 digest + label options stay interoperable', async () => {
    const { headers } = await signMessage(
      { method: 'POST', url: 'https://a.example/x', headers: {}, body: 'x' },
      { keyId: key.keyId, secret: key.printable },
      { scheme: rfc9421({ label: 'hk', digestAlgorithm: 'sha-512' }), expiresInSeconds: 300 },
    );
    expect(headers['Signature']).toMatch(/^hk=:/);
    const ok = await httpbis.verifyMessage(
      {
        keyLookup: async () => ({
          id: key.keyId,
          algs: ['hmac-sha256'],
          verify: createVerifier(secret, 'hmac-sha256'),
        }),
      },
      { method: 'POST', url: 'https://a.example/x', headers },
    );
    expect(ok).toBe(true);
  });
});
