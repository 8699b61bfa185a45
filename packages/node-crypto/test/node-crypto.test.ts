import { DigestMismatch, signMessage, verifyMessage } from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { expect, it } from 'vitest';
import { cryptoProviderConformance } from '../../../test-support/conformance/crypto-provider.js';

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

const binary = (bytes: Uint8Array) => String.fromCharCode(...bytes);

it('hmacString and hashString give the same bytes as hmac and hash, as binary strings', () => {
  const key = new Uint8Array(32).map((_, index) => index * 7);
  // Every latin-1 character, so a wrong text encoding (UTF-8 instead of latin-1) would show.
  const text = Array.from({ length: 256 }, (_, code) => String.fromCharCode(code)).join('');
  const bytes = Uint8Array.from({ length: 256 }, (_, code) => code);
  for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
    expect(nodeCryptoProvider.hmacString!(algorithm, key, text)).toBe(
      binary(nodeCryptoProvider.hmac(algorithm, key, bytes) as Uint8Array),
    );
    expect(nodeCryptoProvider.hashString!(algorithm, bytes)).toBe(binary(nodeCryptoProvider.hash!(algorithm, bytes)));
    expect(nodeCryptoProvider.hashString!(algorithm, new Uint8Array(0))).toBe(
      binary(nodeCryptoProvider.createHash(algorithm).digest()),
    );
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
    expect(nodeCryptoProvider.hashString!(algorithm, bytes, 'hex')).toBe(
      hex(nodeCryptoProvider.hash!(algorithm, bytes)),
    );
    // A string stands for its UTF-8 bytes (lone surrogates as U+FFFD, as TextEncoder writes them).
    for (const value of ['', 'GET\n/v1/items\nx=1', 'caf\u00e9 \u20ac \ud83d\ude00', 'lone \ud800 surrogate']) {
      expect(nodeCryptoProvider.hashString!(algorithm, value, 'hex')).toBe(
        hex(nodeCryptoProvider.hash!(algorithm, new TextEncoder().encode(value))),
      );
    }
  }
});

it('verifies with and without the string fast paths alike (same answers, same error codes)', async () => {
  const { hmacString: _hmacString, hashString: _hashString, ...bytesOnly } = nodeCryptoProvider;
  const key = { keyId: 'k1', secret: new Uint8Array(32).fill(9), algorithm: 'sha256' as const };
  const keys = (id: string) => (id === 'k1' ? key : undefined);
  const body = new TextEncoder().encode('{"caf\u00e9": "na\u00efve"}');
  const message = {
    method: 'POST',
    url: 'https://api.example.com/v1/items?x=1',
    headers: { 'x-note': 'd\u00e9j\u00e0 vu' },
  };
  const signed = await signMessage({ ...message, body }, key, {
    crypto: nodeCryptoProvider,
    coveredHeaders: ['x-note'],
  });
  const headers: Record<string, string> = {
    ...message.headers,
    ...Object.fromEntries(Object.entries(signed.headers).map(([n, v]) => [n.toLowerCase(), v])),
  };
  const outcome = async (
    provider: typeof nodeCryptoProvider,
    requestBody: Uint8Array,
    requestHeaders: Record<string, string>,
  ) => {
    try {
      const verified = await verifyMessage({ ...message, headers: requestHeaders }, requestBody, {
        keys,
        crypto: provider,
      });
      return `ok ${verified.keyId}`;
    } catch (error) {
      return (error as { code?: string }).code;
    }
  };
  const tampered = {
    ...headers,
    signature: headers.signature!.replace(/[A-Z]/, (c: string) => (c === 'A' ? 'B' : 'A')),
  };
  const unknownKey = { ...headers, 'signature-input': headers['signature-input']!.replace('keyid="k1"', 'keyid="k2"') };
  const cases: [Uint8Array, Record<string, string>, string][] = [
    [body, headers, 'ok k1'],
    [new TextEncoder().encode('{"other": 1}'), headers, 'ERR_DIGEST_MISMATCH'],
    [body, tampered, 'ERR_SIGNATURE_INVALID'],
    [body, unknownKey, 'ERR_KEY_UNKNOWN'],
  ];
  for (const [requestBody, requestHeaders, expected] of cases) {
    expect(await outcome(nodeCryptoProvider, requestBody, requestHeaders)).toBe(expected);
    expect(await outcome(bytesOnly, requestBody, requestHeaders)).toBe(expected);
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
