/**
 * The X-API-* verifier's fast paths against the general code: the already-sorted query shortcut,
 * HMAC-SHA256 from cached key pads, the one-shot body digest (`complete`) against the streamed
 * one (`update`/`finish`), and the parse memo.
 */
import { createHmac } from 'node:crypto';
import type { HashAlgorithm, MessageParts, VerificationKey } from '@hmac-kit/core';
import {
  HmacKitError,
  KeyUnknown,
  SignatureInvalid,
  SignatureMalformed,
  verifyMessage,
  webCryptoProvider,
  xApi,
  xApiCanonicalQuery,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacSha256OfText } from '../src/primitives/hmac-sha256.js';
import { preparedKey } from '../src/primitives/prepared-key.js';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

/** The canonical query as documented: split on `&`, empty parts dropped, sorted by UTF-8 bytes. */
function referenceQuery(query: string | null): string {
  if (!query) return '';
  const bytes = (text: string) => Buffer.from(text, 'utf8');
  return query
    .split('&')
    .filter((part) => part !== '')
    .sort((a, b) => Buffer.compare(bytes(a), bytes(b)))
    .join('&');
}

describe('xApiCanonicalQuery', () => {
  it('equals the documented byte-order sort on any input (sorted shortcut included)', () => {
    const part = fc.oneof(
      fc.constantFrom('a=1', 'a=2', 'b=', 'A=3', 'a-b=2', '', 'a', 'a=%2F', 'é=1', '😀=2', '\uffff=1', 'z'),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), fc.boolean(), (parts, sortFirst) => {
        const list = sortFirst ? [...parts].sort() : parts;
        const query = list.join('&');
        expect(xApiCanonicalQuery(query)).toBe(referenceQuery(query));
      }),
      { numRuns: 5000 },
    );
    expect(xApiCanonicalQuery('customer=c_1&expand=items&limit=20')).toBe('customer=c_1&expand=items&limit=20');
    expect(xApiCanonicalQuery('a=1&&b=2')).toBe('a=1&b=2');
    expect(xApiCanonicalQuery('a=1&')).toBe('a=1');
    expect(xApiCanonicalQuery('\uffff=1&😀=2')).toBe('\uffff=1&😀=2'); // UTF-8 order, not UTF-16
  });
});

describe('HMAC-SHA256 from cached key pads', () => {
  it('is the HMAC of the text, and notices a secret array changed in place', () => {
    const secret = new Uint8Array(32).fill(1);
    const mac = (text: string) =>
      Buffer.from(hmacSha256OfText(nodeCryptoProvider, preparedKey(secret).hmacSha256Pads(), text));
    expect(mac('abc').toString('hex')).toBe(createHmac('sha256', secret).update('abc').digest('hex'));
    secret[0] = 2;
    expect(mac('abc').toString('hex')).toBe(createHmac('sha256', secret).update('abc').digest('hex'));
  });
});

const NOW = 1_763_800_000;
const raw = new Uint8Array(32).map((_, i) => (i * 11 + 7) & 0xff);
const printable = `hks_${Buffer.from(raw).toString('base64url')}`;
const keyFor = (algorithm: HashAlgorithm): VerificationKey => ({ keyId: 'hk_xfast', secret: raw, algorithm });

async function signedMessage(
  algorithm: HashAlgorithm,
  url = 'https://api.example.com/v1/orders?customer=c_1&expand=items&limit=20',
  body = '{"a":1}',
) {
  const scheme = xApi();
  const out = await scheme.sign(
    { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: new TextEncoder().encode(body) },
    { keyId: 'hk_xfast', secret: printable, algorithm },
    { crypto: nodeCryptoProvider, now: () => NOW },
  );
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(out.headers)) headers[name.toLowerCase()] = value;
  return { message: { method: 'POST', url, headers }, body: new TextEncoder().encode(body) };
}

async function* chunks(body: Uint8Array) {
  for (let offset = 0; offset < body.length; offset += 3) yield body.subarray(offset, offset + 3);
  if (body.length === 0) yield body;
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(HmacKitError);
    return (error as Error).constructor.name;
  }
}

describe('xApi() one-shot and streamed bodies agree', () => {
  const providers = [
    ['node:crypto', nodeCryptoProvider],
    ['WebCrypto', webCryptoProvider],
  ] as const;
  for (const [providerName, crypto] of providers) {
    for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
      it(`${providerName}, ${algorithm}: accepted, tampered, unknown key`, async () => {
        const key = keyFor(algorithm);
        for (const url of [
          'https://api.example.com/v1/orders?customer=c_1&expand=items&limit=20',
          'https://api.example.com/v1/orders?limit=20&customer=c_1&&x',
          'https://api.example.com/',
        ]) {
          const { message, body } = await signedMessage(algorithm, url);
          const variants: [MessageParts, Uint8Array][] = [
            [message, body],
            [message, new TextEncoder().encode('{"a":2}')],
            [{ ...message, headers: { ...message.headers, 'x-api-key': 'hk_other' } }, body],
            [{ ...message, url: `${url}${url.includes('?') ? '&' : '?'}z=1` }, body],
          ];
          const answers = [];
          for (const [variant, bytes] of variants) {
            for (const keys of [
              (id: string) => (id === key.keyId ? key : undefined),
              async (id: string) => (id === key.keyId ? key : undefined),
            ]) {
              const options = { keys, crypto, now: () => NOW, schemes: [xApi()] };
              const oneShot = await outcome(verifyMessage(variant, bytes, options));
              const streamed = await outcome(verifyMessage(variant, chunks(bytes), options));
              expect(streamed).toBe(oneShot);
              answers.push(oneShot);
            }
          }
          expect(answers).toEqual([
            'accepted',
            'accepted',
            SignatureInvalid.name,
            SignatureInvalid.name,
            KeyUnknown.name,
            KeyUnknown.name,
            SignatureInvalid.name,
            SignatureInvalid.name,
          ]);
        }
      });
    }
  }

  it('the parse memo (keyIdOf, then verify) never serves another request', async () => {
    const scheme = xApi();
    const key = keyFor('sha256');
    const options = { keys: () => key, crypto: nodeCryptoProvider, now: () => NOW, schemes: [scheme] };
    const { message, body } = await signedMessage('sha256');
    expect(claimedKeyId(scheme, message)).toBe('hk_xfast');
    await verifyMessage(message, body, options);
    const otherNonce = { ...message, headers: { ...message.headers, 'x-api-nonce': 'f'.repeat(32) } };
    expect(claimedKeyId(scheme, otherNonce)).toBe('hk_xfast');
    expect(await outcome(verifyMessage(otherNonce, body, options))).toBe(SignatureInvalid.name);
    const badNonce = { ...message, headers: { ...message.headers, 'x-api-nonce': 'short' } };
    expect(await outcome(verifyMessage(badNonce, body, options))).toBe(SignatureMalformed.name);
    const twoSignatures = {
      ...message,
      headers: { ...message.headers, 'x-api-signature': [message.headers['x-api-signature']!, 'ab'] },
    };
    expect(await outcome(verifyMessage(twoSignatures, body, options))).toBe(SignatureMalformed.name);
    const emptySignature = { ...message, headers: { ...message.headers, 'x-api-signature': '' } };
    expect(await outcome(verifyMessage(emptySignature, body, options))).toBe(SignatureMalformed.name);
    await verifyMessage(message, body, options);
  });

  it('finish() twice is a TypeError, after complete() too', async () => {
    const scheme = xApi();
    const key = keyFor('sha256');
    const { message, body } = await signedMessage('sha256');
    const check = await checkWith(scheme, message, {
      keys: () => key,
      crypto: nodeCryptoProvider,
      now: () => NOW,
      hasBody: true,
    });
    await check.body!.complete!(body);
    await expect(check.body!.finish()).rejects.toBeInstanceOf(TypeError);
  });
});
