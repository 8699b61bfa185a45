/**
 * Review (session 5), PreparedKey (d3a5a31, 64c9b7c): SigV4 keeps at most 16 derived signing keys
 * per secret and wipes the oldest when a 17th scope comes. The scope (date, region) is the
 * client's choice and the derivation runs at the key + MAC stage, before the policy refuses a
 * region: anyone who knows a key id (it travels in every request) can make the server derive 16
 * fresh scopes for that key, without its secret. A genuine request whose body is still arriving
 * holds its derived key across that time (SigV4 without x-amz-content-sha256 MACs once the body
 * is read); wiping that key under it must not turn the genuine request into a failure: that
 * would let a stranger lock a client out by key id alone.
 *
 * Two mechanisms hold this, and the test judges the outcome, not either one: eviction drops a derived
 * key without wiping it (primitives/prepared-key.ts `derived`), and the verifier derives a wiped key
 * again before it MACs (schemes/sigv4/verify.ts `liveSigningKey`). Checked by mutation (session 7):
 * with eviction wiping and the re-derivation removed, both cases fail; with either one in place they pass.
 */
import { formatSecret, type VerificationKey, verifyRequest } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import aws4 from 'aws4';
import { describe, expect, it } from 'vitest';
import { BODY_PENDING_BODY, sigV4BodyPendingMessage } from '../../../../test-support/sigv4-body-pending.js';
import { sigv4 } from '../../src/index.js';

const raw = new Uint8Array(32).map((_, i) => i * 11 + 3);
const key: VerificationKey = { keyId: 'hk_review5Eviction', secret: raw, algorithm: 'sha256' };
const keys = (id: string) => (id === key.keyId ? key : undefined);

/** A request the attacker can send: the victim's key id, a scope of its choice, a signature made with a guess. */
function strangerRequest(region: string): Request {
  const signed = aws4.sign(
    { host: 'api.example.com', path: '/v1/anything', method: 'GET', service: 'hmac-kit', region },
    { accessKeyId: key.keyId, secretAccessKey: 'not the secret' },
  );
  return new Request('https://api.example.com/v1/anything', {
    method: 'GET',
    headers: signed.headers as Record<string, string>,
  });
}

describe('review5: SigV4 derived keys wiped under a request still reading its body', () => {
  for (const crypto of [nodeCryptoProvider, undefined]) {
    it(`a stranger naming 17 other scopes for the key id does not fail the genuine request (${crypto ? 'node' : 'WebCrypto'} provider)`, async () => {
      const scheme = sigv4();
      const body = BODY_PENDING_BODY;
      const { headers } = sigV4BodyPendingMessage(key.keyId, formatSecret(raw));

      let controller!: ReadableStreamDefaultController<Uint8Array>;
      let bodyAsked!: () => void;
      const asked = new Promise<void>((resolve) => {
        bodyAsked = resolve;
      });
      const stream = new ReadableStream<Uint8Array>(
        {
          start(c) {
            controller = c;
            // The first bytes come at once: the pipeline reads them before the header stages.
            c.enqueue(new TextEncoder().encode(body.slice(0, 7)));
          },
          pull() {
            bodyAsked();
          },
        },
        // Pulled only when the pipeline reads (not at once to fill a queue).
        { highWaterMark: 0 },
      );
      const genuine = new Request('https://api.example.com/v1/payments', {
        method: 'POST',
        headers,
        body: stream,
        duplex: 'half',
      } as RequestInit);
      const options = { keys, schemes: [scheme], ...(crypto ? { crypto } : {}) };
      const verifying = verifyRequest(genuine, options);
      verifying.catch(() => {});
      // The header stages are done (its derived key is in hand) once the pipeline asks for more body.
      await asked;

      // Meanwhile: 17 other scopes for the same key id, each refused (wrong secret).
      for (let i = 0; i < 17; i++) {
        await expect(verifyRequest(strangerRequest(`xx-review-${i}`), options)).rejects.toThrow();
      }

      controller.enqueue(new TextEncoder().encode(body.slice(7)));
      controller.close();
      const verified = await verifying;
      expect(verified.keyId).toBe(key.keyId);
    });
  }
});
