// The key service and @hmac-kit/core's prepared key material (one PreparedKey per secret: HMAC
// pads, CryptoKeys, SigV4 signing keys). A key that leaves the service's cache (revoked, rotated out,
// its principal disabled, evicted) has that material wiped at once through `forgetPreparedKey`,
// observed here by wrapping the real function. A request that resolved the key before keeps working:
// the key object it holds keeps its secret, and the SigV4 verifier derives a signing key it held again.
import { randomBytes } from 'node:crypto';
import * as core from '@hmac-kit/core';
import { checkSignature, sigv4, type VerificationKey } from '@hmac-kit/core';
import { createKeyService, createMasterKeyRing, type KeyService, memoryKeyStore } from '@hmac-kit/keys';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BODY_PENDING_BODY, sigV4BodyPendingMessage } from '../../../test-support/sigv4-body-pending.js';

vi.mock('@hmac-kit/core', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@hmac-kit/core')>();
  return { ...actual, forgetPreparedKey: vi.fn(actual.forgetPreparedKey) };
});

const masterKeys = createMasterKeyRing([{ id: 'mk', key: randomBytes(32) }]);
const forgotten = vi.mocked(core.forgetPreparedKey);
const services: KeyService[] = [];
afterEach(async () => {
  for (const service of services.splice(0)) await service.close();
  forgotten.mockClear();
});

async function openService(): Promise<KeyService> {
  const service = await createKeyService({ store: memoryKeyStore(), masterKeys, pollIntervalMs: 60_000 });
  services.push(service);
  await service.createPrincipal({ name: 'svc', kind: 'service' });
  return service;
}

/** The resolved key of `keyId` (a miss loads it; later lookups hit the same object). */
async function resolved(service: KeyService, keyId: string): Promise<VerificationKey> {
  const key = await service.resolver(keyId);
  if (!key) throw new Error(`${keyId} did not resolve`);
  return key;
}

describe('prepared key material of keys leaving the key service cache', () => {
  it('is forgotten when a key is revoked, rotated out or its principal disabled, never on a hit', async () => {
    const service = await openService();
    const revoked = (await service.createKey({ principal: 'svc' })).key.keyId;
    const rotated = (await service.createKey({ principal: 'svc' })).key.keyId;
    const ofDisabled = (await service.createKey({ principal: 'svc' })).key.keyId;
    const keys = [
      await resolved(service, revoked),
      await resolved(service, rotated),
      await resolved(service, ofDisabled),
    ];
    for (let i = 0; i < 5; i++) service.resolver(revoked);
    expect(forgotten).not.toHaveBeenCalled();

    await service.revokeKey(revoked);
    expect(forgotten).toHaveBeenLastCalledWith(keys[0]!.secret);
    await service.rotateKey(rotated);
    expect(forgotten).toHaveBeenLastCalledWith(keys[1]!.secret);
    await service.disablePrincipal('svc');
    expect(forgotten).toHaveBeenLastCalledWith(keys[2]!.secret);
    expect(forgotten).toHaveBeenCalledTimes(3);
    // Only the material derived from the secrets is wiped: a holder of the key object still has its secret.
    for (const key of keys) expect(key.secret.some((byte) => byte !== 0)).toBe(true);
  });

  it('is forgotten when a key is evicted for a newer one, and when the service closes', async () => {
    const service = await createKeyService({ store: memoryKeyStore(), masterKeys, cache: { maxEntries: 1 } });
    await service.createPrincipal({ name: 'svc', kind: 'service' });
    const first = await resolved(service, (await service.createKey({ principal: 'svc' })).key.keyId);
    const second = await resolved(service, (await service.createKey({ principal: 'svc' })).key.keyId);
    expect(forgotten).toHaveBeenCalledExactlyOnceWith(first.secret);
    await service.close();
    expect(forgotten).toHaveBeenLastCalledWith(second.secret);
  });

  for (const crypto of [nodeCryptoProvider, undefined]) {
    it(`does not fail a SigV4 request in flight whose key is revoked meanwhile (${crypto ? 'node' : 'WebCrypto'} provider)`, async () => {
      const service = await openService();
      const { key, secret } = await service.createKey({ principal: 'svc' });
      const body = BODY_PENDING_BODY;
      // Without x-amz-content-sha256: the signing key is used once the body is read.
      const message = sigV4BodyPendingMessage(key.keyId, secret);
      const options = { keys: service.resolver, schemes: [sigv4()], ...(crypto ? { crypto } : {}) };
      const check = await core.checkSignature(message, { ...options, hasBody: true });
      await service.revokeKey(key.keyId);
      expect(forgotten).toHaveBeenCalledTimes(1);
      check.body?.update(new TextEncoder().encode(body));
      await check.body?.finish();
      expect(check.result.keyId).toBe(key.keyId);
      // The same request after the revocation is refused, as before (once its body is read: the key
      // is unknown now; toProblem() shows it to the client as a bad signature).
      const after = await checkSignature(message, { ...options, hasBody: true });
      after.body?.update(new TextEncoder().encode(body));
      await expect(after.body?.finish()).rejects.toThrow('no key with this key id');
    });
  }
});
