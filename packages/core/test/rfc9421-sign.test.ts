/**
 * The RFC 9421 signer's fast path (covered components compiled once per list; the signature base
 * and Signature-Input written as text for plain component names) against the general code: for
 * any request, covered headers, key id, nonce, tag, label and hash, the headers it writes are what
 * the structured-field parser and serialiser and the general signature-base builder make of them,
 * and the signature is the HMAC of that base (node:crypto as the reference).
 */
import { createHash, createHmac } from 'node:crypto';
import { type HashAlgorithm, rfc9421, signatureBase, signMessage, verifyMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { webCryptoProvider } from '../src/primitives/crypto.js';
import { parseDictionary, serializeDictionary } from '../src/protocol/structured-fields.js';
import { NOW, rawSecret } from './support/fixtures.js';

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 24,
});
const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const latin1Value = fc.string({
  unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
  maxLength: 30,
});

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'get'),
  host: fc.constantFrom('api.example.com', 'API.Example.com:8443', 'localhost:3000', 'example.com:443'),
  path: fc.constantFrom('/', '/v1/orders', '/a%20b/c', '/caf%C3%A9', '/x/../y', ''),
  query: fc.constantFrom('', '?a=1', '?b=2&a=1', '?q=%20+x', '?'),
  headers: fc.dictionary(
    token.filter((name) => !name.startsWith('signature') && name !== 'content-digest'),
    latin1Value,
    { maxKeys: 3 },
  ),
  body: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null }),
});

const signing = fc.record({
  keyId: printable,
  nonce: fc.option(fc.oneof(printable, fc.constant(false as const)), { nil: undefined }),
  tag: fc.option(printable, { nil: undefined }),
  expiresInSeconds: fc.option(fc.integer({ min: 1, max: 10_000 }), { nil: undefined }),
  includeAlg: fc.option(fc.boolean(), { nil: undefined }),
  label: fc.option(fc.stringMatching(/^[a-z][a-z0-9_.-]{0,6}$/), { nil: undefined }),
  algorithm: fc.constantFrom<HashAlgorithm>('sha256', 'sha384', 'sha512'),
  coverHeaders: fc.boolean(),
  extraComponents: fc.subarray(['@target-uri', '@scheme', '@request-target', '"@method"', 'content-type;bs']),
  digest: fc.constantFrom<'sha-256' | 'sha-512'>('sha-256', 'sha-512'),
  webCrypto: fc.boolean(),
});

describe('rfc9421 sign: fast path = the general structured-field code', () => {
  it('writes canonical Signature-Input / Signature / Content-Digest, MACs the general signature base, verifies', async () => {
    await fc.assert(
      fc.asyncProperty(request, signing, async (req, s) => {
        const url = `https://${req.host}${req.path}${req.query}`;
        const headers: Record<string, string> = { ...req.headers };
        const covered = s.coverHeaders ? Object.keys(headers) : [];
        const useComponents = s.extraComponents.length > 0;
        if (s.extraComponents.includes('content-type;bs')) headers['content-type'] = 'text/plain';
        const components = useComponents ? ['@method', '@authority', ...s.extraComponents, ...covered] : undefined;
        const key = { keyId: s.keyId, secret: rawSecret(3), algorithm: s.algorithm };
        const scheme = rfc9421({ digestAlgorithm: s.digest });
        const crypto = s.webCrypto ? webCryptoProvider : nodeCryptoProvider;
        const signed = await signMessage({ method: req.method, url, headers, body: req.body }, key, {
          scheme,
          crypto,
          now: () => NOW,
          coveredHeaders: covered,
          components,
          nonce: s.nonce,
          tag: s.tag,
          expiresInSeconds: s.expiresInSeconds,
          includeAlg: s.includeAlg,
          label: s.label,
        });
        const label = s.label ?? 'sig';
        const input = signed.headers['Signature-Input']!;
        // Canonical: the structured-field serialiser writes the parsed header back unchanged.
        expect(serializeDictionary(parseDictionary(input, 'Signature-Input'))).toBe(input);
        expect(serializeDictionary(parseDictionary(signed.headers.Signature!, 'Signature'))).toBe(
          signed.headers.Signature,
        );
        const received = { method: req.method, url, headers: { ...headers } as Record<string, string> };
        for (const [name, value] of Object.entries(signed.headers)) received.headers[name.toLowerCase()] = value;
        if (signed.headers['Content-Digest'] !== undefined) {
          const digest = signed.headers['Content-Digest'];
          const hash = createHash(s.digest === 'sha-256' ? 'sha256' : 'sha512');
          expect(digest).toBe(`${s.digest}=:${hash.update(req.body ?? new Uint8Array(0)).digest('base64')}:`);
          expect(serializeDictionary(parseDictionary(digest, 'Content-Digest'))).toBe(digest);
        }
        // The signature is the HMAC of the base the general builder makes of the Signature-Input.
        const base = signatureBase(received, input, label);
        const mac = createHmac(s.algorithm, key.secret).update(base, 'latin1').digest('base64');
        expect(signed.headers.Signature).toBe(`${label}=:${mac}:`);
        const verified = await verifyMessage(received, req.body ?? new Uint8Array(0), {
          keys: (id) => (id === key.keyId ? key : undefined),
          schemes: [rfc9421({ label })],
          crypto: nodeCryptoProvider,
          now: () => NOW,
          policy: { requiredComponents: [], requireNonce: false },
        });
        expect(verified.keyId).toBe(key.keyId);
      }),
      { numRuns: 300 },
    );
  });
});
