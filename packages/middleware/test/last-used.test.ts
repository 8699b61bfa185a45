import { type KeyResolver, signMessage, type VerificationKey, type VerifiedRequest, xApi } from '@hmac-kit/core';
import { memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { describe, expect, it } from 'vitest';

const origin = 'https://api.example.com';
const encoder = new TextEncoder();

interface SigningSecret {
  keyId: string;
  secret: string | Uint8Array;
}

/** A signed POST with a JSON body (RFC 9421 covers its Content-Digest), as parts and bytes. */
async function signedPost(key: SigningSecret, body = '{"order":1}', options: { xApi?: boolean } = {}) {
  const headers = { 'content-type': 'application/json' };
  const url = `${origin}/orders`;
  const signed = await signMessage({ method: 'POST', url, headers, body }, key, options.xApi ? { scheme: xApi() } : {});
  return { message: { method: 'POST', url: signed.url, headers: { ...headers, ...signed.headers } }, body };
}

const bytes = (text: string) => encoder.encode(text);

describe('the resolver’s `proven` capability: told after the commit, never for a refused request', () => {
  const secretOf = (keyId: string) =>
    new Uint8Array(Buffer.from(`${keyId}-secret-that-is-32-bytes-long!!`).subarray(0, 32));
  const stored = new Map<string, VerificationKey>(
    ['k-proven', 'k-other'].map((keyId) => [
      keyId,
      { keyId, secret: secretOf(keyId), algorithm: 'sha256', principal: keyId, scopes: [] } as VerificationKey,
    ]),
  );
  const signingKey = (keyId: string) => ({ keyId, secret: secretOf(keyId) });

  function spyingResolver() {
    const proven: VerifiedRequest[] = [];
    const keys: KeyResolver = Object.assign((keyId: string) => stored.get(keyId), {
      proven: (request: VerifiedRequest) => {
        proven.push(request);
      },
    });
    return { keys, proven };
  }

  it('forged, replayed, rate-limited and tampered requests for a known key id are never reported', async () => {
    const { keys, proven } = spyingResolver();
    const authenticator = createAuthenticator({
      keys,
      nonceStore: memoryNonceStore(),
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 2, windowSeconds: 3600 },
    });
    // A forged signature for the known id: the key is looked up, the MAC does not match.
    const forged = await signedPost({ keyId: 'k-proven', secret: signingKey('k-other').secret });
    expect((await authenticator.authenticate(forged.message, bytes(forged.body))).ok).toBe(false);
    // A genuine signature over another body: the MAC matches in the header stages, the digest fails.
    const genuine = await signedPost(signingKey('k-proven'));
    expect((await authenticator.authenticate(genuine.message, bytes('{"order":2}'))).ok).toBe(false);
    // X-API-* signs the body itself: the tampered copy is refused by the body stage.
    const xapi = await signedPost(signingKey('k-proven'), '{"order":3}', { xApi: true });
    const withXApi = createAuthenticator({ keys, schemes: [xApi()] });
    expect((await withXApi.authenticate(xapi.message, bytes('{"order":4}'))).ok).toBe(false);
    expect(proven).toEqual([]);

    // The genuine request: reported once, with what was proven.
    const accepted = await authenticator.authenticate(genuine.message, bytes(genuine.body));
    expect(accepted.ok).toBe(true);
    expect(proven.map((request) => [request.keyId, request.scheme])).toEqual([['k-proven', 'rfc9421']]);
    // Its replay passes every header stage and is refused at the commit stage (the nonce).
    expect((await authenticator.authenticate(genuine.message, bytes(genuine.body))).ok).toBe(false);
    // A second genuine request uses up the limit; the third is refused by the commit hook.
    const second = await signedPost(signingKey('k-proven'));
    expect((await authenticator.authenticate(second.message, bytes(second.body))).ok).toBe(true);
    const third = await signedPost(signingKey('k-proven'));
    const limited = await authenticator.authenticate(third.message, bytes(third.body));
    expect(limited.ok).toBe(false);
    expect(!limited.ok && limited.problem.status).toBe(429);
    expect(proven.map((request) => request.keyId)).toEqual(['k-proven', 'k-proven']);
  });

  it('a streamed body committed before it is known is reported by finish(), and not when its digest fails', async () => {
    const { keys, proven } = spyingResolver();
    const authenticator = createAuthenticator({ keys, nonceStore: memoryNonceStore() });
    const tampered = await signedPost(signingKey('k-proven'));
    const admitted = await authenticator.admit(tampered.message, { hasBody: true });
    if (!admitted.ok) throw new Error('the genuine headers must be admitted');
    expect((await admitted.commitBeforeBody()).ok).toBe(true);
    expect(proven).toEqual([]); // committed, but the body is still unproven
    admitted.update(bytes('{"order":9}'));
    expect((await admitted.finish()).ok).toBe(false);
    expect(proven).toEqual([]);

    const genuine = await signedPost(signingKey('k-proven'));
    const admission = await authenticator.admit(genuine.message, { hasBody: true });
    if (!admission.ok) throw new Error('the genuine headers must be admitted');
    expect((await admission.commitBeforeBody()).ok).toBe(true);
    admission.update(bytes(genuine.body));
    expect((await admission.finish()).ok).toBe(true);
    expect(proven.map((request) => request.keyId)).toEqual(['k-proven']);
  });

  it('a `proven` that throws leaves the proven request accepted', async () => {
    const keys: KeyResolver = Object.assign((keyId: string) => stored.get(keyId), {
      proven: () => {
        throw new Error('last-used bookkeeping broke');
      },
    });
    const authenticator = createAuthenticator({ keys });
    const genuine = await signedPost(signingKey('k-other'));
    expect((await authenticator.authenticate(genuine.message, bytes(genuine.body))).ok).toBe(true);
  });
});
