import {
  type CryptoProvider,
  type HashAlgorithm,
  KeyInactive,
  SignatureInvalid,
  signMessage,
  toProblem,
  verifyMessage,
  webCryptoProvider,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cryptoProviderConformance } from '../../../test-support/conformance/crypto-provider.js';
import { toHex } from '../src/primitives/encoding.js';
import { makeKey, NOW, resolverOf } from './support/fixtures.js';

const providers: Array<[string, CryptoProvider]> = [
  ['web', webCryptoProvider],
  ['node', nodeCryptoProvider],
];
const algorithm = fc.constantFrom<HashAlgorithm>('sha256', 'sha384', 'sha512');

describe('crypto providers agree', () => {
  it('hmac, createHash and createHmac give identical bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        algorithm,
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.uint8Array({ maxLength: 3000 }),
        async (alg, key, data) => {
          const [web, node] = [webCryptoProvider, nodeCryptoProvider];
          expect(toHex(await web.hmac(alg, key, data))).toBe(toHex(await node.hmac(alg, key, data)));
          const hashes = [web.createHash(alg), node.createHash(alg)];
          const macs = [web.createHmac(alg, key), node.createHmac(alg, key)];
          for (const part of [data.subarray(0, data.length >> 1), data.subarray(data.length >> 1)]) {
            for (const h of [...hashes, ...macs]) h.update(part);
          }
          expect(toHex(hashes[0]!.digest())).toBe(toHex(hashes[1]!.digest()));
          expect(toHex(macs[0]!.digest())).toBe(toHex(macs[1]!.digest()));
          expect(web.timingSafeEqual(data, data.slice())).toBe(node.timingSafeEqual(data, data.slice()));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('signatures made with either provider are identical and verify with the other', async () => {
    const key = makeKey('hk_prov', 'sha384', 3);
    const message = {
      method: 'POST',
      url: 'https://a.example/p?q=1',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    };
    const signOptions = { now: () => NOW, nonce: 'fixed', coveredHeaders: ['content-type'] };
    const [web, node] = await Promise.all(
      providers.map(([, crypto]) =>
        signMessage(
          message,
          { keyId: key.keyId, secret: key.printable, algorithm: 'sha384' },
          { ...signOptions, crypto },
        ),
      ),
    );
    expect(web).toEqual(node);
    for (const [, crypto] of providers) {
      await expect(
        verifyMessage(
          { ...message, headers: { ...message.headers, ...web!.headers } },
          new TextEncoder().encode('hello'),
          {
            keys: resolverOf(key),
            now: () => NOW,
            crypto,
          },
        ),
      ).resolves.toMatchObject({ keyId: 'hk_prov' });
    }
  });
});

describe('unknown key vs bad signature', () => {
  it('are indistinguishable to clients (same problem), distinct in logs (err.code), with either provider', async () => {
    const key = makeKey('hk_known', 'sha256', 4);
    const { headers } = await signMessage(
      { method: 'GET', url: 'https://a.example/x', headers: {} },
      { keyId: key.keyId, secret: key.printable },
      { now: () => NOW },
    );
    for (const [, crypto] of providers) {
      const unknown = await verifyMessage({ method: 'GET', url: 'https://a.example/x', headers }, null, {
        keys: () => undefined,
        now: () => NOW,
        crypto,
      }).catch((e: unknown) => e);
      const wrong = await verifyMessage({ method: 'GET', url: 'https://a.example/y', headers }, null, {
        keys: resolverOf(key),
        now: () => NOW,
        crypto,
      }).catch((e: unknown) => e);
      expect((unknown as { code: string }).code).toBe('ERR_KEY_UNKNOWN');
      expect((wrong as { code: string }).code).toBe('ERR_SIGNATURE_INVALID');
      expect(toProblem(unknown)).toEqual(toProblem(wrong));
      expect(toProblem(new KeyInactive('revoked'))).toEqual(toProblem(new SignatureInvalid('x')));
      expect(toProblem(unknown).body.code).toBe('signature_invalid');
    }
  });
});

cryptoProviderConformance('webCryptoProvider', webCryptoProvider);
