/**
 * Adversarial: parser fuzz (fast-check) over every built-in scheme's credentials. Whatever an
 * attacker puts in the signature headers (random text, a signed request's credentials with one
 * character changed, cut short, doubled, or spliced with another request's), the pipeline answers
 * with an HmacKitError (a 4xx problem, never a crash or a TypeError) and never accepts a request
 * whose credentials were changed. The genuine request is accepted first: a change that only
 * re-encodes the same credentials (a repeated Signature-Input member, base64 padding bits, a
 * repeated webhook signature) must then be refused as a replay, never accepted afresh.
 */
import { HmacKitError, toProblem, verifyMessage } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crypto, headerName, key, NOW, nonceStore, otherChar, SCHEMES, signedPost } from './support.js';

const CREDENTIAL_HEADERS: Record<string, readonly string[]> = {
  rfc9421: ['signature-input', 'signature'],
  sigv4: ['authorization', 'x-amz-date', 'x-amz-content-sha256'],
  'x-api': ['X-API-Key', 'X-API-Timestamp', 'X-API-Nonce', 'X-API-Signature'],
  'django-hmac': ['authorization'],
  'standard-webhooks': ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'webhook-key-id'],
};

/** Ways to change one header value; each result differs from the value it started from. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('replace-char' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('random' as const), text: fc.string({ maxLength: 200, unit: 'binary' }) }),
  fc.record({ kind: fc.constant('double' as const) }),
);

function mutate(value: string, change: { kind: string; at?: number; text?: string }): string {
  const at = typeof change.at === 'number' && value.length > 0 ? change.at % value.length : 0;
  switch (change.kind) {
    case 'replace-char':
      return value.length === 0 ? 'x' : value.slice(0, at) + otherChar(value[at]!) + value.slice(at + 1);
    case 'truncate':
      return value.slice(0, at);
    case 'insert':
      return value.slice(0, at) + String(change.text) + value.slice(at);
    case 'double':
      return `${value}, ${value}`;
    default:
      return String(change.text);
  }
}

describe('adversarial: parser fuzz, no crash and no forged acceptance', () => {
  for (const testCase of SCHEMES) {
    it(`${testCase.name}: changed credentials are refused with a problem, never accepted or crashed on`, async () => {
      const scheme = testCase.scheme();
      const signed = await signedPost(scheme);
      const names = CREDENTIAL_HEADERS[testCase.name]!.map((name) => headerName(signed.message.headers, name)).filter(
        (name): name is string => name !== undefined,
      );
      expect(names.length).toBeGreaterThan(0);
      const options = {
        keys: (id: string) => (id === key.keyId ? key : undefined),
        schemes: [scheme],
        nonceStore: nonceStore(),
        crypto,
        now: () => NOW,
      };
      await expect(verifyMessage(signed.message, signed.body, options)).resolves.toMatchObject({ keyId: key.keyId });
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...names), mutation, async (name, change) => {
          const original = signed.message.headers[name]!;
          const changed = mutate(original, change);
          fc.pre(changed.trim() !== original.trim());
          const headers = { ...signed.message.headers, [name]: changed };
          const outcome = await verifyMessage({ ...signed.message, headers }, signed.body, options).then(
            () => 'accepted',
            (error: unknown) => error,
          );
          expect(outcome, `${name}: ${JSON.stringify(changed)}`).toBeInstanceOf(HmacKitError);
          expect(toProblem(outcome).status).toBeLessThan(500);
        }),
        { numRuns: 400 },
      );
    });
  }

  it('every scheme together: random values in every credential header never crash the pipeline', async () => {
    const schemes = SCHEMES.map((testCase) => testCase.scheme());
    const allNames = [
      ...new Set(
        Object.values(CREDENTIAL_HEADERS)
          .flat()
          .map((name) => name.toLowerCase()),
      ),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...allNames), fc.string({ maxLength: 120, unit: 'binary' }), { minKeys: 1 }),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'),
        fc.uint8Array({ maxLength: 64 }),
        async (headers, method, body) => {
          const outcome = await verifyMessage({ method, url: 'https://api.example.com/x?y=1', headers }, body, {
            keys: (id: string) => (id === key.keyId ? key : undefined),
            schemes,
            crypto,
            now: () => NOW,
          }).then(
            () => 'accepted',
            (error: unknown) => error,
          );
          expect(outcome).toBeInstanceOf(HmacKitError);
          expect(toProblem(outcome).status).toBeLessThan(500);
        },
      ),
      { numRuns: 500 },
    );
  });
});
