/**
 * A key store forgets a key's prepared material (`forgetPreparedKey`) when the key leaves its cache:
 * revoked, rotated out, evicted by capacity or age. Forgetting wipes the HMAC pads and the SigV4
 * derived signing keys at once. A request that resolved the key before then may still hold them: a
 * SigV4 request without x-amz-content-sha256 holds its derived key while its body arrives, and an
 * async provider derives it across turns. Forgetting must never fail such a request (nor let a wiped,
 * all-zero key be used): the request derives its key again from the secret it resolved.
 */
import { checkSignature, forgetPreparedKey, formatSecret, type VerificationKey, verifyRequest } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import aws4 from 'aws4';
import { describe, expect, it } from 'vitest';
import { BODY_PENDING_BODY, sigV4BodyPendingMessage } from '../../../../test-support/sigv4-body-pending.js';
import { sigv4 } from '../../src/index.js';

const raw = new Uint8Array(32).map((_, i) => i * 7 + 1);
const key: VerificationKey = { keyId: 'hk_forgetInFlight', secret: raw, algorithm: 'sha256' };
const keys = (id: string) => (id === key.keyId ? key : undefined);
const body = BODY_PENDING_BODY;

/** A SigV4 request over `body` (without x-amz-content-sha256: the verifier hashes the body itself). */
const sigV4Message = (secretAccessKey = formatSecret(raw)) => sigV4BodyPendingMessage(key.keyId, secretAccessKey);

describe('forgetting prepared key material under a request in flight', () => {
  for (const crypto of [nodeCryptoProvider, undefined]) {
    const provider = crypto ? 'node' : 'WebCrypto';

    it(`a SigV4 request whose body is still to come verifies when its key is forgotten meanwhile (${provider} provider)`, async () => {
      const options = { keys, schemes: [sigv4()], ...(crypto ? { crypto } : {}) };
      // The header stages pass with the derived signing key in hand; the body is still to come.
      const check = await checkSignature(sigV4Message(), { ...options, hasBody: true });
      forgetPreparedKey(key.secret);
      check.body?.update(new TextEncoder().encode(body));
      await check.body?.finish();
      expect(check.result.keyId).toBe(key.keyId);
      // A forged request is still refused after the key was derived again (no wiped, all-zero key is used).
      const forged = await checkSignature(sigV4Message(formatSecret(new Uint8Array(32).fill(9))), {
        ...options,
        hasBody: true,
      });
      forgetPreparedKey(key.secret);
      forged.body?.update(new TextEncoder().encode(body));
      await expect(forged.body?.finish()).rejects.toThrow('signature does not match');
    });

    it(`a SigV4 request whose signing key is being derived verifies when its key is forgotten meanwhile (${provider} provider)`, async () => {
      const options = { keys, schemes: [sigv4()], ...(crypto ? { crypto } : {}) };
      // A scope no earlier test used: the derivation starts with this request.
      const signed = aws4.sign(
        {
          host: 'api.example.com',
          path: '/v1/items',
          method: 'GET',
          service: 'hmac-kit',
          region: `eu-forget-${provider}`,
        },
        { accessKeyId: key.keyId, secretAccessKey: formatSecret(raw) },
      );
      const request = new Request('https://api.example.com/v1/items', {
        headers: signed.headers as Record<string, string>,
      });
      const verifying = verifyRequest(request, options);
      // The derivation (four HMACs through the provider) is under way: forgotten before it ends.
      await Promise.resolve();
      forgetPreparedKey(key.secret);
      expect((await verifying).keyId).toBe(key.keyId);
    });
  }
});
