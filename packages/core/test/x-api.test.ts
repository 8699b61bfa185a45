import { createHash, createHmac } from 'node:crypto';
import type { HashAlgorithm, MessageParts, VerificationKey, VerifyOptions } from '@hmac-kit/core';
import {
  HmacKitError,
  KeyUnknown,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
  xApi,
  xApiCanonicalQuery,
  xApiStringToSign,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

const NOW = 1_763_800_000;
const raw = new Uint8Array(32).map((_, i) => (i * 13 + 5) & 0xff);
const keyFor = (algorithm: HashAlgorithm): VerificationKey => ({ keyId: 'hk_xapi', secret: raw, algorithm });
const crypto = nodeCryptoProvider;
type Message = Omit<MessageParts, 'headers'> & { headers: Record<string, string>; body?: Uint8Array };
const scheme = xApi();

async function signed(message: Message, algorithm: HashAlgorithm = 'sha256', nonce?: string): Promise<Message> {
  const out = await scheme.sign(
    message,
    { keyId: 'hk_xapi', secret: `hks_${Buffer.from(raw).toString('base64url')}`, algorithm },
    { crypto, now: () => NOW, ...(nonce ? { nonce } : {}) },
  );
  return { ...message, headers: { ...message.headers, ...out.headers } };
}

async function verifyFully(message: Message, extra: Partial<VerifyOptions> = {}, algorithm: HashAlgorithm = 'sha256') {
  const key = keyFor(algorithm);
  const body = message.body ?? new Uint8Array(0);
  const check = await checkWith(scheme, message, {
    keys: (id) => (id === key.keyId ? key : undefined),
    crypto,
    now: () => NOW,
    hasBody: body.length > 0,
    ...extra,
  });
  if (check.body) {
    check.body.update(body);
    await check.body.finish();
  }
  return check.result;
}

const post = (): Message => ({
  method: 'POST',
  url: 'https://api.example.com/v1/orders?b=2&a=1',
  headers: { 'content-type': 'application/json' },
  body: new TextEncoder().encode('{"item":42}'),
});

describe('string to sign', () => {
  it('is the documented seven lines, independently recomputed with node:crypto', async () => {
    const message = await signed(post(), 'sha256', '0123456789abcdef0123456789abcdef');
    const bodyHash = createHash('sha256').update('{"item":42}').digest('hex');
    const expected = `hmac-kit-x-api-v1\nPOST\n/v1/orders\na=1&b=2\n${NOW}\n0123456789abcdef0123456789abcdef\n${bodyHash}`;
    expect(
      xApiStringToSign({
        method: 'post',
        path: '/v1/orders',
        query: 'b=2&a=1',
        timestamp: String(NOW),
        nonce: '0123456789abcdef0123456789abcdef',
        bodyHash,
      }),
    ).toBe(expected);
    expect(message.headers['X-API-Signature']).toBe(createHmac('sha256', raw).update(expected).digest('hex'));
  });

  it('sorts raw query pieces by byte value and drops empty ones', () => {
    expect(xApiCanonicalQuery('z=1&&a=%2F&a-b=2&A=3&a=1')).toBe('A=3&a-b=2&a=%2F&a=1&z=1');
    expect(xApiCanonicalQuery(null)).toBe('');
  });
});

describe('xApi() round trips', () => {
  for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
    it(`${algorithm}: POST with body, GET without`, async () => {
      const result = await verifyFully(await signed(post(), algorithm), {}, algorithm);
      expect(result).toMatchObject({ scheme: 'x-api', keyId: 'hk_xapi', created: NOW });
      expect(result.nonce).toMatch(/^[0-9a-f]{32}$/);
      const get = await signed({ method: 'GET', url: 'https://api.example.com/v1/items', headers: {} }, algorithm);
      expect(get.headers['X-API-Signature']).toHaveLength({ sha256: 64, sha384: 96, sha512: 128 }[algorithm]);
      await verifyFully(get, {}, algorithm);
    });
  }

  it('verifies with the default WebCrypto provider and a Headers object', async () => {
    const message = await signed(post());
    const key = keyFor('sha256');
    const check = await checkWith(
      scheme,
      { method: 'POST', url: message.url, headers: new Headers(message.headers) },
      { keys: () => key, now: () => NOW, hasBody: true },
    );
    check.body!.update(message.body!);
    await check.body!.finish();
  });

  it('detects only requests that carry a key and a signature', async () => {
    expect(scheme.detect(await signed(post()))).toBe(true);
    expect(scheme.detect({ method: 'GET', url: 'https://x/', headers: { 'x-api-key': 'a' } })).toBe(false);
    expect(() => claimedKeyId(scheme, { method: 'GET', url: 'https://x/', headers: {} })).toThrow(SignatureMissing);
  });
});

describe('tamper matrix', () => {
  const cases: [string, (m: Message) => Message, new (...args: never[]) => HmacKitError][] = [
    ['method', (m) => ({ ...m, method: 'PUT' }), SignatureInvalid],
    ['path', (m) => ({ ...m, url: String(m.url).replace('/orders', '/orders/1') }), SignatureInvalid],
    ['query value', (m) => ({ ...m, url: String(m.url).replace('a=1', 'a=2') }), SignatureInvalid],
    ['query added', (m) => ({ ...m, url: `${m.url}&c=1` }), SignatureInvalid],
    ['timestamp', (m) => ({ ...m, headers: { ...m.headers, 'X-API-Timestamp': String(NOW - 1) } }), SignatureInvalid],
    [
      'nonce',
      (m) => ({ ...m, headers: { ...m.headers, 'X-API-Nonce': 'ffffffffffffffffffffffffffffffff' } }),
      SignatureInvalid,
    ],
    ['body', (m) => ({ ...m, body: new TextEncoder().encode('{"item":43}') }), SignatureInvalid],
    ['body removed', (m) => ({ ...m, body: new Uint8Array(0) }), SignatureInvalid],
    [
      'signature',
      (m) => ({
        ...m,
        headers: {
          ...m.headers,
          'X-API-Signature': m.headers['X-API-Signature']!.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')),
        },
      }),
      SignatureInvalid,
    ],
    [
      'signature truncated',
      (m) => ({ ...m, headers: { ...m.headers, 'X-API-Signature': m.headers['X-API-Signature']!.slice(0, 40) } }),
      SignatureInvalid,
    ],
    ['key id', (m) => ({ ...m, headers: { ...m.headers, 'X-API-Key': 'hk_other' } }), KeyUnknown],
    [
      'timestamp not a number',
      (m) => ({ ...m, headers: { ...m.headers, 'X-API-Timestamp': '17638e5' } }),
      SignatureMalformed,
    ],
    ['nonce too short', (m) => ({ ...m, headers: { ...m.headers, 'X-API-Nonce': 'abc' } }), SignatureMalformed],
    ['signature not hex', (m) => ({ ...m, headers: { ...m.headers, 'X-API-Signature': 'zz' } }), SignatureMalformed],
  ];
  for (const [part, tamper, expected] of cases) {
    it(`${part} -> ${expected.name}`, async () => {
      const message = await signed(post());
      await verifyFully(message);
      await expect(verifyFully(tamper(message))).rejects.toBeInstanceOf(expected);
    });
  }

  it('a key of another algorithm, or of an algorithm the policy refuses, answers as a wrong signature', async () => {
    const message = await signed(post(), 'sha256');
    await expect(verifyFully(message, {}, 'sha512')).rejects.toBeInstanceOf(SignatureInvalid);
    // X-API claims no algorithm: the key's decides, so refusing it must not tell that the key exists.
    await expect(verifyFully(message, { policy: { algorithms: ['sha512'] } })).rejects.toBeInstanceOf(SignatureInvalid);
  });

  it('host is not covered: a policy requiring @authority refuses the scheme', async () => {
    const message = await signed(post());
    await expect(verifyFully(message, { policy: { requiredComponents: ['@authority'] } })).rejects.toHaveProperty(
      'code',
      'ERR_COMPONENT_NOT_COVERED',
    );
  });
});

describe('time window', () => {
  it('accepts [now - 300, now + 5] by default and honours the policy', async () => {
    const message = await signed(post());
    await verifyFully(message, { now: () => NOW + 300 });
    await verifyFully(message, { now: () => NOW - 5 });
    const expired = await verifyFully(message, { now: () => NOW + 301 }).catch((e: unknown) => e);
    expect(expired).toBeInstanceOf(SignatureExpired);
    expect((expired as SignatureExpired).serverTime).toBe(NOW + 301);
    await expect(verifyFully(message, { now: () => NOW - 6 })).rejects.toBeInstanceOf(SignatureFromFuture);
    await expect(verifyFully(message, { now: () => NOW + 61, policy: { maxAgeSeconds: 60 } })).rejects.toBeInstanceOf(
      SignatureExpired,
    );
  });
});

describe('malformed headers only ever produce HmacKitError', () => {
  it('random header values', async () => {
    const key = keyFor('sha256');
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          'x-api-key': fc.string({ maxLength: 40 }),
          'x-api-timestamp': fc.oneof(fc.string({ maxLength: 20 }), fc.constant(String(NOW))),
          'x-api-nonce': fc.string({ maxLength: 140 }),
          'x-api-signature': fc.oneof(fc.string({ maxLength: 140 }), fc.stringMatching(/^[0-9a-f]{64}$/)),
        }),
        fc.string({ maxLength: 60 }),
        async (headers, query) => {
          const message = { method: 'GET', url: `https://api.example.com/p?${query}`, headers };
          for (const run of [
            async () => claimedKeyId(scheme, message),
            () => checkWith(scheme, message, { keys: () => key, crypto, now: () => NOW, hasBody: false }),
          ]) {
            try {
              await run();
            } catch (error) {
              expect(error).toBeInstanceOf(HmacKitError);
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('misuse is a TypeError', () => {
    expect(() => xApi({ headers: { keyId: 'bad header' } })).toThrow(TypeError);
  });
});
