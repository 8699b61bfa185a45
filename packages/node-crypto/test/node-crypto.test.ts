import { DigestMismatch, signMessage, verifyMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { expect, it } from 'vitest';
import { cryptoProviderConformance } from '../../core/test/support/crypto-conformance.js';

cryptoProviderConformance('nodeCryptoProvider', nodeCryptoProvider);

it('answers hmac synchronously (no promise), which is why servers inject it', () => {
  const out = nodeCryptoProvider.hmac('sha256', new Uint8Array([1]), new Uint8Array([2]));
  expect(out).toBeInstanceOf(Uint8Array);
  expect(out).not.toBeInstanceOf(Promise);
});

it('hashes in-memory bytes one-shot with the same digest as the incremental hash', () => {
  const data = new TextEncoder().encode('{"hello": "world"}');
  for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
    const incremental = nodeCryptoProvider.createHash(algorithm);
    incremental.update(data.subarray(0, 5));
    incremental.update(data.subarray(5));
    expect(nodeCryptoProvider.hash!(algorithm, data)).toEqual(incremental.digest());
    expect(nodeCryptoProvider.hash!(algorithm, new Uint8Array(0))).toEqual(
      nodeCryptoProvider.createHash(algorithm).digest(),
    );
  }
});

it('verifies an in-memory body (one-shot hash) and a chunked one alike, and refuses an altered body', async () => {
  const body = new TextEncoder().encode('{"hello": "world"}');
  const key = { keyId: 'k1', secret: new Uint8Array(32).fill(7), algorithm: 'sha256' as const };
  const message = { method: 'POST', url: 'https://api.example.com/v1/items?x=1', headers: {} };
  const signed = await signMessage({ ...message, body }, key, { crypto: nodeCryptoProvider });
  const options = { keys: (id: string) => (id === key.keyId ? key : undefined), crypto: nodeCryptoProvider };
  const signedMessage = { ...message, url: signed.url, headers: signed.headers };
  await expect(verifyMessage(signedMessage, body, options)).resolves.toMatchObject({ keyId: 'k1' });
  async function* chunks() {
    yield body.subarray(0, 4);
    yield body.subarray(4);
  }
  await expect(verifyMessage(signedMessage, chunks(), options)).resolves.toMatchObject({ keyId: 'k1' });
  const altered = body.slice();
  altered[2] = 0x58;
  await expect(verifyMessage(signedMessage, altered, options)).rejects.toBeInstanceOf(DigestMismatch);
});
