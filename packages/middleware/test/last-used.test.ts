/**
 * "Last used" is a side effect like the nonce and the rate-limit charge: it may only follow a fully
 * proven request. It used to be written when the key was LOOKED UP, so anyone who knows a key id
 * (they are not secret) could keep an abandoned, stolen key looking alive with forged signatures,
 * and a replay, a rate-limited request or a body failing its digest moved it too. The attacks below
 * go through the real pipeline: first against a resolver with the `proven` capability (what the
 * pipeline tells it), then against a key service as the resolver (what lands in the store).
 */
import { randomBytes } from 'node:crypto';
import { type KeyResolver, signMessage, type VerificationKey, type VerifiedRequest, xApi } from '@hmac-kit/core';
import { hmacAuth } from '@hmac-kit/fetch';
import { createKeyService, createMasterKeyRing, type KeyService, memoryKeyStore } from '@hmac-kit/keys';
import { memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { afterEach, describe, expect, it, vi } from 'vitest';

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
    // X-API-* signs the body itself: the tampered copy is refused by the body stage. (The
    // authenticator exists before the signature: its replay store refuses signatures created before
    // the second it began, which would refuse this one for another reason.)
    const withXApi = createAuthenticator({ keys, schemes: [xApi()] });
    const xapi = await signedPost(signingKey('k-proven'), '{"order":3}', { xApi: true });
    const tamperedXApi = await withXApi.authenticate(xapi.message, bytes('{"order":4}'));
    expect(tamperedXApi.ok || tamperedXApi.problem.body.code).toBe('signature_invalid');
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

describe('hmacAuth() with a key service as the resolver: lastUsedAt follows proven requests only', () => {
  let service: KeyService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('forged, tampered, replayed and rate-limited requests leave lastUsedAt alone; a genuine one moves it', async () => {
    const store = memoryKeyStore();
    let now = Date.parse('2026-12-05T12:00:00Z');
    // Every proven use is due for a write (interval 0) and the batch is flushed every 20 ms: a touch
    // at lookup would show at once. The clock is the service's only (business) clock.
    service = await createKeyService({
      store,
      masterKeys: createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]),
      pollIntervalMs: 20,
      lastUsedIntervalMs: 0,
      clock: () => now,
    });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const victim = await service.createKey({ principal: 'svc' });
    const sentinel = await service.createKey({ principal: 'svc' });
    const other = await service.createKey({ principal: 'svc' });
    const victimKey = { keyId: victim.key.keyId, secret: victim.secret };
    const sentinelKey = { keyId: sentinel.key.keyId, secret: sentinel.secret };

    const auth = hmacAuth({
      keys: service.resolver,
      nonceStore: memoryNonceStore(),
      rateLimiter: memoryRateLimiter(),
      defaultRateLimit: { limit: 1, windowSeconds: 3600 },
    });
    const handler = auth(async () => new Response('ok'));
    const send = (signed: Awaited<ReturnType<typeof signedPost>>, body = signed.body) =>
      handler(new Request(signed.message.url, { method: 'POST', headers: signed.message.headers, body }));
    // Status and problem code: each refusal below must be refused for its own reason.
    const outcome = async (response: Response) =>
      response.status === 200 ? '200' : `${response.status} ${(await response.json()).code}`;
    const lastUsedOf = async (keyId: string) => (await store.getKey(keyId))?.lastUsedAt ?? null;
    // The sentinel requests go through their own verifier, without the rate limit of `auth`. It is
    // created once, before any sentinel request is signed: its (default, in-memory) replay store
    // refuses signatures created before the second the store began (signature_expired: they may
    // have been accepted by a previous incarnation), so a verifier created after signing failed
    // this test whenever a second boundary fell in between (CI, loaded machine).
    const sentinelHandler = hmacAuth({ keys: service.resolver })(async () => new Response('ok'));
    /**
     * Sends a genuine request for a fresh sentinel use and waits until it is in the store: the
     * batch that carries it would carry any touch the attacks before it caused.
     */
    const flushedAt = async (at: number) => {
      now = at;
      const signed = await signedPost(sentinelKey, `{"sentinel":${at}}`);
      const response = await sentinelHandler(
        new Request(signed.message.url, { method: 'POST', headers: signed.message.headers, body: signed.body }),
      );
      expect(response.status, await response.clone().text()).toBe(200);
      await vi.waitFor(async () => expect(await lastUsedOf(sentinelKey.keyId)).toBe(at), {
        timeout: 20_000,
        interval: 10,
      });
    };

    // Attacks before the key was ever used: a forged signature for its (public) key id, and a
    // genuine signature sent with another body (the MAC passes, the digest fails).
    now += 1_000;
    const forged = await signedPost({ keyId: victimKey.keyId, secret: other.secret });
    expect(await outcome(await send(forged))).toBe('401 signature_invalid');
    const genuine = await signedPost(victimKey);
    expect(await outcome(await send(genuine, '{"order":2}'))).toBe('401 digest_mismatch');
    await flushedAt(now + 1);
    expect(await lastUsedOf(victimKey.keyId)).toBeNull();

    // The genuine request moves it.
    now += 1_000;
    const usedAt = now;
    expect(await outcome(await send(genuine))).toBe('200');
    await vi.waitFor(async () => expect(await lastUsedOf(victimKey.keyId)).toBe(usedAt), {
      timeout: 20_000,
      interval: 10,
    });

    // Later: a replay of it, a forged one, a tampered one and a genuine one over the rate limit.
    now += 60_000;
    expect(await outcome(await send(genuine))).toBe('401 nonce_replayed');
    expect(await outcome(await send(forged))).toBe('401 signature_invalid');
    const later = await signedPost(victimKey);
    expect(await outcome(await send(later, '{"order":3}'))).toBe('401 digest_mismatch');
    expect(await outcome(await send(later))).toBe('429 rate_limited');
    await flushedAt(now + 1);
    expect(await lastUsedOf(victimKey.keyId)).toBe(usedAt);
  });
});
