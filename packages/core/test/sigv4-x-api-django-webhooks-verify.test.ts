// The four compatibility schemes through the core's verifyRequest(): scheme selection,
// body streaming, nonce recording (after the body when the signature covers it) and
// replay refusal, with fetch Request objects (which carry no Host header).
import type { NonceStore, Scheme, SigningKey, VerificationKey } from '@hmac-kit/core';
import {
  DigestMismatch,
  djangoHmac,
  NonceReplayed,
  SignatureInvalid,
  sigv4,
  standardWebhooks,
  verifyRequest,
  xApi,
} from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';

const NOW = 1_763_800_000;
const raw = new Uint8Array(32).map((_, i) => (i * 11 + 1) & 0xff);
const key: VerificationKey = { keyId: 'hk_compat', secret: raw, algorithm: 'sha256' };
const signingKey: SigningKey = { keyId: 'hk_compat', secret: `hks_${Buffer.from(raw).toString('base64url')}` };

/** A NonceStore honouring the contract (atomic check-and-store with TTL) in memory. */
function memoryNonceStore(): NonceStore & { size(): number } {
  const seen = new Map<string, number>();
  return {
    async checkAndStore(keyId, nonce, ttlSeconds) {
      const id = `${keyId}\n${nonce}`;
      const until = seen.get(id);
      if (until !== undefined && until > NOW) return false;
      seen.set(id, NOW + ttlSeconds);
      return true;
    },
    size: () => seen.size,
  };
}

const schemes: Scheme[] = [sigv4(), xApi(), djangoHmac(), standardWebhooks({ keyId: 'hk_compat' })];

async function signedRequest(scheme: Scheme, body: string, extraSign: Record<string, unknown> = {}) {
  const url = 'https://api.example.com/v1/orders?b=2&a=1';
  const headers = { 'content-type': 'application/json' };
  const out = await scheme.sign({ method: 'POST', url, headers, body: new TextEncoder().encode(body) }, signingKey, {
    now: () => NOW,
    ...extraSign,
  });
  return () => new Request(out.url ?? url, { method: 'POST', headers: { ...headers, ...out.headers }, body });
}

describe('compatibility schemes through verifyRequest()', () => {
  for (const scheme of schemes) {
    it(`${scheme.name}: verified once, then refused as a replay`, async () => {
      const nonceStore = memoryNonceStore();
      const options = {
        keys: (id: string) => (id === key.keyId ? key : undefined),
        schemes,
        nonceStore,
        now: () => NOW,
      };
      const request = await signedRequest(scheme, '{"item": 42}');
      const verified = await verifyRequest(request(), options);
      expect(verified).toMatchObject({ scheme: scheme.name, keyId: 'hk_compat' });
      expect(nonceStore.size()).toBe(1);
      await expect(verifyRequest(request(), options)).rejects.toBeInstanceOf(NonceReplayed);
    });

    it(`${scheme.name}: a changed body is refused`, async () => {
      const nonceStore = memoryNonceStore();
      const options = {
        keys: (id: string) => (id === key.keyId ? key : undefined),
        schemes,
        nonceStore,
        now: () => NOW,
      };
      const request = await signedRequest(scheme, '{"item": 42}');
      const original = request();
      const tampered = new Request(original.url, { method: 'POST', headers: original.headers, body: '{"item": 43}' });
      const error = await verifyRequest(tampered, options).catch((e: unknown) => e);
      // SigV4 proves the signature before the body (a declared payload hash), the others only with
      // it; either way the nonce is recorded in the commit stage, after the body passed: a tampered
      // copy sent first never burns the genuine request (issue #11, 3).
      expect(error).toBeInstanceOf(scheme.name === 'sigv4' ? DigestMismatch : SignatureInvalid);
      expect(nonceStore.size()).toBe(0);
      await verifyRequest(request(), options);
      expect(nonceStore.size()).toBe(1);
    });
  }

  it('sigv4 without a declared payload hash records the nonce only after the body verified', async () => {
    const nonceStore = memoryNonceStore();
    const options = { keys: () => key, schemes, nonceStore, now: () => NOW };
    const request = await signedRequest(sigv4(), '{"item": 42}');
    const original = request();
    const headers = new Headers(original.headers);
    headers.delete('x-amz-content-sha256');
    const error = await verifyRequest(
      new Request(original.url, { method: 'POST', headers, body: '{"item": 42}' }),
      options,
    ).catch((e: unknown) => e);
    // The signature covered the header that was removed: invalid, and no nonce was spent.
    expect(error).toBeInstanceOf(SignatureInvalid);
    expect(nonceStore.size()).toBe(0);
  });
});
