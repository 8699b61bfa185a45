/**
 * Mismatch diagnostics (`debugSignatures`, issue #12): a `signature_invalid` refusal carries the
 * server's signature base, rebuilt from the request alone. The attacks, as tests:
 * - the body never holds the secret, the expected signature (in any encoding) or the HMAC of the
 *   base under the real key;
 * - an unknown key id gets exactly the same body as a wrong signature for a known key id (no
 *   key-existence oracle), also for a key bound to another algorithm;
 * - it is off by default, and only `signature_invalid` carries it;
 * - it is the same base the client's own scheme rebuilds from what it sent (what `hmac-kit request -v` diffs).
 */
import { createHmac } from 'node:crypto';
import {
  admitRequest,
  buildSignatureBaseReport,
  type DeclarativeSchemeDefinition,
  declarativeScheme,
  djangoHmac,
  type HashAlgorithm,
  type KeyResolver,
  type MessageParts,
  rfc9421,
  type Scheme,
  sigv4,
  standardWebhooks,
  toProblem,
  type VerificationKey,
  verifyMessage,
  xApi,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { NOW } from './support/fixtures.js';

const realSecret = new TextEncoder().encode('the-real-secret-0123456789abcdef');
const wrongSecret = new TextEncoder().encode('an-attacker-guess-0123456789abcd');
const KEY_ID = 'svc-debug';

const declared: DeclarativeSchemeDefinition = {
  name: 'x-hmac-signature',
  signature: { header: 'x-hmac-signature', encoding: 'hex' },
  keyId: { header: 'x-key' },
  message: ['method', { literal: ' ' }, 'path', { literal: '\n' }, { header: 'x-time' }, { literal: '\n' }, 'body'],
  timestamp: { header: 'x-time', format: 'unix' },
};

interface Case {
  name: string;
  scheme: () => Scheme;
  signOptions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

const cases: Case[] = [
  { name: 'rfc9421', scheme: () => rfc9421(), signOptions: { nonce: 'n-0123456789abcdef' } },
  { name: 'sigv4', scheme: () => sigv4() },
  { name: 'x-api', scheme: () => xApi(), signOptions: { nonce: '0123456789abcdef0123' } },
  { name: 'django-hmac', scheme: () => djangoHmac() },
  { name: 'standard-webhooks', scheme: () => standardWebhooks(), signOptions: { id: 'msg_debug' } },
  { name: 'declared', scheme: () => declarativeScheme(declared) },
];

const url = 'https://api.example.com/v1/orders?b=2&a=1';
const body = new TextEncoder().encode('{"amount":5,"currency":"EUR"}');

async function signedWith(scheme: Scheme, secret: Uint8Array, testCase: Case): Promise<MessageParts> {
  const headers: Record<string, string> = { 'content-type': 'application/json', host: 'api.example.com' };
  const { headers: added } = await scheme.sign(
    { method: 'POST', url, headers, body },
    { keyId: KEY_ID, secret, algorithm: 'sha256' },
    { crypto: nodeCryptoProvider, now: () => NOW, ...testCase.signOptions },
  );
  return { method: 'POST', url, headers: { ...headers, ...lower(added) } };
}

function lower(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

const keyResolver =
  (algorithm: HashAlgorithm = 'sha256'): KeyResolver =>
  (keyId) =>
    keyId === KEY_ID ? ({ keyId, secret: realSecret, algorithm } satisfies VerificationKey) : undefined;
const noKeys: KeyResolver = () => undefined;

async function refusal(scheme: Scheme, message: MessageParts, keys: KeyResolver, debugSignatures = true) {
  const error = await verifyMessage(message, body, {
    keys,
    schemes: [scheme],
    crypto: nodeCryptoProvider,
    now: () => NOW,
    debugSignatures,
  }).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeDefined();
  return toProblem(error);
}

/** Every spelling of a MAC or a secret someone could look for in the body. */
function spellings(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes);
  const out = [
    buffer.toString('hex'),
    buffer.toString('hex').toUpperCase(),
    buffer.toString('base64'),
    buffer.toString('base64url'),
    buffer.toString('base64').replace(/=+$/, ''),
  ];
  const text = buffer.toString('utf8');
  if (/^[\x20-\x7e]+$/.test(text)) out.push(text);
  return out;
}

describe('debug signature base: what a failed request is told', () => {
  for (const testCase of cases) {
    it(`${testCase.name}: the base of what was sent, and never the secret or the expected MAC`, async () => {
      const scheme = testCase.scheme();
      // The attacker signs with a guess: the server refuses, and shows what it MACed.
      const sent = await signedWith(scheme, wrongSecret, testCase);
      const problem = await refusal(scheme, sent, keyResolver());
      expect(problem.status).toBe(401);
      expect(problem.body.code).toBe('signature_invalid');
      const report = problem.body.signature_base;
      expect(report?.scheme).toBe(scheme.name);
      // The same base the client's own scheme rebuilds from what it sent (what `request -v` diffs).
      const credentials = scheme.parse(sent, { hasBody: true });
      const clientSide = buildSignatureBaseReport(scheme, credentials, {
        message: sent,
        hasBody: true,
        body,
        crypto: nodeCryptoProvider,
      });
      expect(report).toEqual(clientSide);
      expect(report!.sections.length).toBeGreaterThan(0);

      const json = JSON.stringify(problem.body);
      // (a) The secret, in any spelling.
      for (const spelling of spellings(realSecret)) expect(json).not.toContain(spelling);
      // The expected signature: what a signer holding the real secret sends for this very request.
      const genuine = await signedWith(scheme, realSecret, testCase);
      for (const [name, value] of Object.entries(genuine.headers as Record<string, string>)) {
        if ((sent.headers as Record<string, string>)[name] === value) continue; // not secret-derived
        for (const token of value.match(/[A-Za-z0-9+/_=-]{40,}/g) ?? []) {
          expect(json, `${name} of the genuine request`).not.toContain(token);
          const bytes = /^[0-9a-f]+$/i.test(token) ? Buffer.from(token, 'hex') : Buffer.from(token, 'base64');
          for (const spelling of spellings(bytes)) expect(json).not.toContain(spelling);
        }
      }
      // The HMAC of every section under the real secret, for every hash.
      for (const section of report!.sections) {
        const bytes = section.text !== undefined ? Buffer.from(section.text) : Buffer.from(section.base64!, 'base64');
        for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
          for (const spelling of spellings(createHmac(algorithm, realSecret).update(bytes).digest())) {
            expect(json).not.toContain(spelling);
          }
        }
      }
    });

    it(`${testCase.name}: an unknown key id is answered exactly as a wrong signature (no key oracle)`, async () => {
      const scheme = testCase.scheme();
      const sent = await signedWith(scheme, wrongSecret, testCase);
      const known = await refusal(scheme, sent, keyResolver());
      const unknown = await refusal(scheme, sent, noKeys);
      expect(unknown).toEqual(known);
      expect(known.body.signature_base).toBeDefined();
      // A known key of another algorithm (one the request may not use) answers the same too.
      const otherAlgorithm = await refusal(scheme, sent, keyResolver('sha512'));
      expect(otherAlgorithm).toEqual(known);
    });

    it(`${testCase.name}: off by default`, async () => {
      const scheme = testCase.scheme();
      const sent = await signedWith(scheme, wrongSecret, testCase);
      const problem = await refusal(scheme, sent, keyResolver(), false);
      expect(problem.body.code).toBe('signature_invalid');
      expect(problem.body.signature_base).toBeUndefined();
      expect(JSON.stringify(problem.body)).not.toContain('signature_base');
    });
  }

  it('x-api: the body hash line (under the key algorithm) is left out, for a sha512 key and an unknown key alike', async () => {
    const scheme = xApi();
    const testCase = cases.find((entry) => entry.name === 'x-api')!;
    const sent = await signedWith(scheme, wrongSecret, testCase);
    const sha512Key = await refusal(scheme, sent, keyResolver('sha512'));
    const unknown = await refusal(scheme, sent, noKeys);
    expect(sha512Key).toEqual(unknown);
    const text = sha512Key.body.signature_base!.sections[0]!.text!;
    expect(text.split('\n')).toHaveLength(7);
    expect(text.split('\n')[6]).toMatch(/not shown/);
    const digests = ['sha256', 'sha384', 'sha512'].map((algorithm) =>
      Buffer.from(nodeCryptoProvider.hash!(algorithm as HashAlgorithm, body)).toString('hex'),
    );
    expect(text).not.toContain(digests[1]);
    expect(text).not.toContain(digests[2]);
  });

  it('only signature_invalid carries it (a stale signature after a matched MAC does not)', async () => {
    const scheme = rfc9421();
    const sent = await signedWith(scheme, realSecret, cases[0]!);
    const error = await verifyMessage(sent, body, {
      keys: keyResolver(),
      schemes: [scheme],
      crypto: nodeCryptoProvider,
      now: () => NOW + 3600,
      debugSignatures: true,
    }).catch((failure: unknown) => failure);
    const problem = toProblem(error);
    expect(problem.body.code).toBe('signature_expired');
    expect(problem.body.signature_base).toBeUndefined();
  });

  it('a body streamed into an admission (the gateway) is kept for a body-signed scheme', async () => {
    const scheme = declarativeScheme(declared);
    const sent = await signedWith(scheme, wrongSecret, cases.at(-1)!);
    const config = { keys: keyResolver(), schemes: [scheme], crypto: nodeCryptoProvider, now: () => NOW };
    const admission = await admitRequest({ ...config, debugSignatures: true }, sent, { hasBody: true }, undefined);
    admission.update(body.subarray(0, 7));
    admission.update(body.subarray(7));
    const error = await admission.finish().catch((failure: unknown) => failure);
    const problem = toProblem(error);
    expect(problem.body.code).toBe('signature_invalid');
    const text = problem.body.signature_base!.sections[0]!.text!;
    expect(text).toBe(`POST /v1/orders\n${NOW}\n{"amount":5,"currency":"EUR"}`);
  });
});
