import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { MessageParts, Scheme, VerificationKey, VerifyOptions } from '@hmac-kit/core';
import {
  ComponentNotCovered,
  DigestMismatch,
  DigestMissing,
  HmacKitError,
  KeyUnknown,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
  sigv4,
  sigv4CanonicalQuery,
  sigv4CanonicalUri,
  sigv4Provider,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import aws4 from 'aws4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

/**
 * Runs the real AWS SDK v3 signer (`@smithy/signature-v4`) in a plain Node child
 * process: under vitest's export conditions its CJS build resolves @smithy/core's
 * ESM files, which use extension-less imports Node refuses.
 */
function smithySign(input: {
  mode: 'sign' | 'presign';
  request: Record<string, unknown>;
  region: string;
  applyChecksum?: boolean;
  expiresIn?: number;
}): { headers: Record<string, string>; query?: Record<string, string> } {
  const script = `
    const { createHash, createHmac } = require('node:crypto');
    const { HttpRequest } = require('@smithy/protocol-http');
    const { SignatureV4 } = require('@smithy/signature-v4');
    class Sha256 {
      constructor(secret) { this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret); }
      update(d) { this.h.update(d); }
      async digest() { return new Uint8Array(this.h.digest()); }
    }
    const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    const signer = new SignatureV4({ credentials: input.credentials, region: input.region, service: 'hmac-kit',
      sha256: Sha256, applyChecksum: input.applyChecksum ?? true });
    const request = new HttpRequest(input.request);
    const options = { signingDate: new Date(input.now * 1000), expiresIn: input.expiresIn };
    (input.mode === 'presign' ? signer.presign(request, options) : signer.sign(request, options))
      .then((out) => process.stdout.write(JSON.stringify({ headers: out.headers, query: out.query })));
  `;
  const output = execFileSync(process.execPath, ['-e', script], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    input: JSON.stringify({
      ...input,
      now: NOW,
      credentials: { accessKeyId: key.keyId, secretAccessKey: formatSecret(raw) },
    }),
  });
  return JSON.parse(output.toString('utf8'));
}

const NOW = 1_763_800_000;
/** The printable secret form (docs/protocol.md "Secrets"), spelled out so the test does not depend on secret.ts. */
const formatSecret = (bytes: Uint8Array) => `hks_${Buffer.from(bytes).toString('base64url')}`;
const raw = new Uint8Array(32).map((_, i) => i * 7 + 1);
const key: VerificationKey = { keyId: 'hk_sigv4test', secret: raw, algorithm: 'sha256' };
const keys = (id: string) => (id === key.keyId ? key : undefined);
const crypto = nodeCryptoProvider;
const baseOptions = (extra: Partial<VerifyOptions> = {}) => ({ keys, crypto, now: () => NOW, ...extra });

type Message = Omit<MessageParts, 'headers'> & { headers: Record<string, string>; body?: Uint8Array };

async function signed(scheme: Scheme, message: Message, signOptions: Record<string, unknown> = {}): Promise<Message> {
  const out = await scheme.sign(
    message,
    { keyId: key.keyId, secret: formatSecret(raw) },
    { crypto, now: () => NOW, ...signOptions },
  );
  return { ...message, url: out.url ?? message.url, headers: { ...message.headers, ...out.headers } };
}

async function verifyFully(scheme: Scheme, message: Message, extra: Partial<VerifyOptions> = {}) {
  const body = message.body ?? new Uint8Array(0);
  const check = await checkWith(scheme, message, { ...baseOptions(extra), hasBody: body.length > 0 });
  if (check.body) {
    check.body.update(body);
    await check.body.finish();
  }
  return check.result;
}

async function rejection(promise: Promise<unknown>): Promise<HmacKitError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HmacKitError);
    return error as HmacKitError;
  }
  throw new Error('expected a rejection');
}

const post = (): Message => ({
  method: 'POST',
  url: 'https://api.example.com/v1/orders?b=2&a=1',
  headers: { host: 'api.example.com', 'content-type': 'application/json' },
  body: new TextEncoder().encode('{"item":42}'),
});

describe('sigv4Provider', () => {
  it('derives the names curl derives from provider0:provider1', () => {
    expect(sigv4Provider('aws:amz')).toMatchObject({
      algorithm: 'AWS4-HMAC-SHA256',
      keyPrefix: 'AWS4',
      terminator: 'aws4_request',
      headerPrefix: 'x-amz-',
      queryPrefix: 'X-Amz-',
    });
    expect(sigv4Provider('hmackit')).toMatchObject({
      algorithm: 'HMACKIT4-HMAC-SHA256',
      keyPrefix: 'HMACKIT4',
      terminator: 'hmackit4_request',
      headerPrefix: 'x-hmackit-',
      queryPrefix: 'X-Hmackit-',
    });
  });
  it('throws TypeError on misuse', () => {
    expect(() => sigv4Provider('')).toThrow(TypeError);
    expect(() => sigv4({ services: [] })).toThrow(TypeError);
    expect(() => sigv4({ regions: [] })).toThrow(TypeError);
    expect(() => sigv4({ maxPresignedExpiresSeconds: 604_801 })).toThrow(TypeError);
    expect(() => sigv4({ providers: ['a:b:c'] })).toThrow(TypeError);
  });
});

describe('canonical forms', () => {
  it('encodes the wire path once more and normalises it', () => {
    expect(sigv4CanonicalUri('/a%20b/./c//d/')).toBe('/a%2520b/c/d/');
    expect(sigv4CanonicalUri('/a%20b', { normalize: false, encode: false })).toBe('/a%20b');
  });
  it('sorts and re-encodes the query; + is literal unless curl-8 style', () => {
    expect(sigv4CanonicalQuery('z=1&a=x%2fy&a=%41&flag&b=a+b')).toBe('a=A&a=x%2Fy&b=a%2Bb&flag=&z=1');
    expect(sigv4CanonicalQuery('b=a+b', { plusAsSpace: true })).toBe('b=a%20b');
    expect(sigv4CanonicalQuery('X-Amz-Signature=ab&x=1', { exclude: 'X-Amz-Signature' })).toBe('x=1');
  });
});

describe('sigv4() round trips', () => {
  for (const provider of ['aws:amz', 'hmackit:hmackit']) {
    const scheme = sigv4({ providers: [provider] });

    it(`${provider}: POST with body and query`, async () => {
      const message = await signed(scheme, post());
      expect(scheme.detect(message)).toBe(true);
      expect(claimedKeyId(scheme, message)).toBe(key.keyId);
      const result = await verifyFully(scheme, message);
      expect(result).toMatchObject({ scheme: 'sigv4', keyId: key.keyId, created: NOW });
      expect(result.nonce).toMatch(/^[0-9a-f]{64}$/);
      expect(result.coveredComponents).toEqual(
        expect.arrayContaining(['@method', '@path', '@query', 'content-digest']),
      );
    });

    it(`${provider}: GET without body`, async () => {
      const message = await signed(scheme, { method: 'GET', url: 'https://api.example.com/x?q=1', headers: {} });
      const check = await checkWith(scheme, message, { ...baseOptions(), hasBody: false });
      expect(check.body).toBeNull();
    });

    it(`${provider}: presigned URL`, async () => {
      const message = await signed(
        scheme,
        { method: 'GET', url: 'https://api.example.com/files/a%20b.txt?v=2', headers: {} },
        { presignExpiresInSeconds: 600 },
      );
      expect(message.url).toContain(`${sigv4Provider(provider).queryPrefix}Signature=`);
      expect(message.headers['Authorization']).toBeUndefined();
      const result = await verifyFully(scheme, message, { now: () => NOW + 550 });
      expect(result.expires).toBe(NOW + 600);
      await expect(verifyFully(scheme, message, { now: () => NOW + 601 })).rejects.toBeInstanceOf(SignatureExpired);
    });
  }

  it('verifies with the default WebCrypto provider too', async () => {
    const scheme = sigv4();
    const message = await signed(scheme, post());
    const check = await checkWith(scheme, message, { keys, now: () => NOW, hasBody: true });
    check.body!.update(message.body!);
    await check.body!.finish();
  });

  it('accepts requests without a declared payload hash once the body is read (deferred check)', async () => {
    const scheme = sigv4();
    const message = await signed(scheme, post());
    // Re-sign by hand without x-amz-content-sha256, as curl and the AWS SDK do for non-S3 services.
    const out = smithySign({
      mode: 'sign',
      region: 'eu-west-1',
      applyChecksum: false,
      request: {
        method: 'POST',
        protocol: 'https:',
        hostname: 'api.example.com',
        path: '/v1/orders',
        query: { b: '2', a: '1' },
        headers: { host: 'api.example.com', 'content-type': 'application/json' },
        body: '{"item":42}',
      },
    });
    const sdkMessage: Message = {
      method: 'POST',
      url: message.url,
      headers: out.headers,
      body: message.body!,
    };
    expect(sdkMessage.headers['x-amz-content-sha256']).toBeUndefined();
    await verifyFully(scheme, sdkMessage);
    const check = await checkWith(scheme, sdkMessage, { ...baseOptions(), hasBody: true });
    check.body!.update(new TextEncoder().encode('{"item":43}'));
    await expect(check.body!.finish()).rejects.toBeInstanceOf(SignatureInvalid);
  });
});

describe('interoperability with real SigV4 signers', () => {
  const scheme = sigv4();

  it('verifies @smithy/signature-v4 (the AWS SDK v3 signer), header form with a path needing encoding', async () => {
    const out = smithySign({
      mode: 'sign',
      region: 'ap-south-1',
      request: {
        method: 'PUT',
        protocol: 'https:',
        hostname: 'api.example.com',
        path: '/v1/items/a%20b',
        query: { z: 'last', a: 'x/y', e: '' },
        headers: { host: 'api.example.com', 'x-custom': '  spaced   value ' },
        body: 'payload',
      },
    });
    const message: Message = {
      method: 'PUT',
      url: 'https://api.example.com/v1/items/a%20b?z=last&a=x%2Fy&e=',
      headers: out.headers,
      body: new TextEncoder().encode('payload'),
    };
    await verifyFully(scheme, message);
  });

  it('verifies @smithy/signature-v4 presigned URLs', async () => {
    const out = smithySign({
      mode: 'presign',
      region: 'us-east-1',
      expiresIn: 900,
      request: {
        method: 'GET',
        protocol: 'https:',
        hostname: 'api.example.com',
        path: '/download',
        query: { file: 'report 1.csv' },
        headers: { host: 'api.example.com' },
      },
    });
    const query = Object.entries(out.query ?? {})
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    const message: Message = {
      method: 'GET',
      url: `https://api.example.com/download?${query}`,
      headers: { host: 'api.example.com' },
    };
    await verifyFully(scheme, message, { now: () => NOW + 800 });
  });

  it('verifies the aws4 package', async () => {
    const signedOptions = aws4.sign(
      {
        host: 'api.example.com',
        path: '/v1/things?b=2&a=1',
        method: 'POST',
        service: 'hmac-kit',
        region: 'us-west-2',
        body: 'x=1',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      },
      { accessKeyId: key.keyId, secretAccessKey: formatSecret(raw) },
    );
    const headers = signedOptions.headers as Record<string, string>;
    const amzDate = headers['X-Amz-Date']!;
    const created =
      Date.UTC(
        +amzDate.slice(0, 4),
        +amzDate.slice(4, 6) - 1,
        +amzDate.slice(6, 8),
        +amzDate.slice(9, 11),
        +amzDate.slice(11, 13),
        +amzDate.slice(13, 15),
      ) / 1000;
    const message: Message = {
      method: 'POST',
      url: 'https://api.example.com/v1/things?b=2&a=1',
      headers,
      body: new TextEncoder().encode('x=1'),
    };
    await verifyFully(scheme, message, { now: () => created });
  });
});

describe('tamper matrix: every covered part', () => {
  const scheme = sigv4();
  const cases: [string, (m: Message) => Message, new (...args: never[]) => HmacKitError][] = [
    ['method', (m) => ({ ...m, method: 'PUT' }), SignatureInvalid],
    ['path', (m) => ({ ...m, url: String(m.url).replace('/orders', '/orderz') }), SignatureInvalid],
    ['query value', (m) => ({ ...m, url: String(m.url).replace('a=1', 'a=9') }), SignatureInvalid],
    ['query added', (m) => ({ ...m, url: `${m.url}&c=3` }), SignatureInvalid],
    ['host', (m) => ({ ...m, headers: { ...m.headers, host: 'evil.example.com' } }), SignatureInvalid],
    [
      'signed content-type',
      (m) => ({ ...m, headers: { ...m.headers, 'content-type': 'text/plain' } }),
      SignatureInvalid,
    ],
    [
      'x-amz-date',
      (m) => ({ ...m, headers: { ...m.headers, 'X-Amz-Date': '20251122T082639Z' /* NOW - 1 s */ } }),
      SignatureInvalid,
    ],
    ['body', (m) => ({ ...m, body: new TextEncoder().encode('{"item":43}') }), DigestMismatch],
    [
      'body and its declared hash',
      (m) => ({
        ...m,
        body: new TextEncoder().encode('{"item":43}'),
        headers: { ...m.headers, 'x-amz-content-sha256': createHash('sha256').update('{"item":43}').digest('hex') },
      }),
      SignatureInvalid,
    ],
    [
      'signature',
      (m) => ({
        ...m,
        headers: {
          ...m.headers,
          Authorization: m.headers['Authorization']!.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
        },
      }),
      SignatureInvalid,
    ],
    [
      'key id (unknown)',
      (m) => ({
        ...m,
        headers: { ...m.headers, Authorization: m.headers['Authorization']!.replace('hk_sigv4test', 'hk_other') },
      }),
      KeyUnknown,
    ],
    [
      'region',
      (m) => ({
        ...m,
        headers: { ...m.headers, Authorization: m.headers['Authorization']!.replace('/us-east-1/', '/eu-west-1/') },
      }),
      SignatureInvalid,
    ],
    [
      'service (not accepted)',
      (m) => ({
        ...m,
        headers: { ...m.headers, Authorization: m.headers['Authorization']!.replace('/hmac-kit/', '/s3/') },
      }),
      SignatureInvalid,
    ],
    [
      'host removed from SignedHeaders',
      (m) => ({ ...m, headers: { ...m.headers, Authorization: m.headers['Authorization']!.replace('host;', '') } }),
      ComponentNotCovered,
    ],
    [
      'UNSIGNED-PAYLOAD (not allowed)',
      (m) => ({ ...m, headers: { ...m.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }),
      DigestMissing,
    ],
  ];

  for (const [part, tamper, expected] of cases) {
    it(`${part} -> ${expected.name}`, async () => {
      const message = await signed(scheme, post());
      await verifyFully(scheme, message);
      const error = await rejection(verifyFully(scheme, tamper(message)));
      expect(error).toBeInstanceOf(expected);
    });
  }

  it('refuses keys whose algorithm is not sha256 as a wrong signature (no oracle on known key ids)', async () => {
    const message = await signed(scheme, post());
    const sha512Key = { ...key, algorithm: 'sha512' as const };
    await expect(verifyFully(scheme, message, { keys: () => sha512Key })).rejects.toBeInstanceOf(SignatureInvalid);
  });

  it('rejects a wrong secret', async () => {
    const message = await signed(scheme, post());
    const other = { ...key, secret: new Uint8Array(32).fill(9) };
    await expect(verifyFully(scheme, message, { keys: () => other })).rejects.toBeInstanceOf(SignatureInvalid);
  });

  it('accepts UNSIGNED-PAYLOAD only with allowUnsignedPayload, and then does not bind the body', async () => {
    const lenient = sigv4({ allowUnsignedPayload: true });
    const message = await signed(lenient, post(), { unsignedPayload: true });
    await expect(verifyFully(scheme, message)).rejects.toBeInstanceOf(DigestMissing);
    const result = await verifyFully(lenient, { ...message, body: new TextEncoder().encode('anything') });
    expect(result.coveredComponents).not.toContain('content-digest');
  });

  it('restricts regions when configured', async () => {
    const message = await signed(sigv4({ regions: ['eu-central-1'] }), post());
    await verifyFully(sigv4({ regions: ['eu-central-1'] }), message);
    await expect(verifyFully(sigv4({ regions: ['us-east-2'] }), message)).rejects.toBeInstanceOf(SignatureInvalid);
  });

  it('presigned: tampered query, oversize expiry, unsigned host', async () => {
    const message = await signed(
      scheme,
      { method: 'GET', url: 'https://api.example.com/f?v=1', headers: {} },
      { presignExpiresInSeconds: 60 },
    );
    await expect(
      verifyFully(scheme, { ...message, url: String(message.url).replace('v=1', 'v=2') }),
    ).rejects.toBeInstanceOf(SignatureInvalid);
    const longLived = String(message.url).replace('X-Amz-Expires=60', 'X-Amz-Expires=604801');
    await expect(verifyFully(scheme, { ...message, url: longLived })).rejects.toBeInstanceOf(SignatureMalformed);
    const noHost = String(message.url).replace('X-Amz-SignedHeaders=host', 'X-Amz-SignedHeaders=x-other');
    await expect(verifyFully(scheme, { ...message, url: noHost })).rejects.toBeInstanceOf(ComponentNotCovered);
  });
});

describe('time window', () => {
  const scheme = sigv4();
  it('accepts inside [now - maxAge, now + skew] and reports the server time outside', async () => {
    const message = await signed(scheme, post());
    await verifyFully(scheme, message, { now: () => NOW + 300 });
    await verifyFully(scheme, message, { now: () => NOW - 5 });
    const old = await rejection(verifyFully(scheme, message, { now: () => NOW + 301 }));
    expect(old).toBeInstanceOf(SignatureExpired);
    expect((old as SignatureExpired).serverTime).toBe(NOW + 301);
    await expect(verifyFully(scheme, message, { now: () => NOW - 6 })).rejects.toBeInstanceOf(SignatureFromFuture);
    await verifyFully(scheme, message, { now: () => NOW + 900, policy: { maxAgeSeconds: 900 } });
  });
});

describe('malformed input never escapes as anything but HmacKitError', () => {
  const scheme = sigv4();
  const assertTyped = async (message: MessageParts) => {
    for (const run of [
      () => Promise.resolve(claimedKeyId(scheme, message)),
      () => checkWith(scheme, message, { ...baseOptions(), hasBody: false }),
    ]) {
      try {
        await run();
      } catch (error) {
        expect(error).toBeInstanceOf(HmacKitError);
      }
    }
  };

  it('random Authorization values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), fc.string({ maxLength: 40 }), async (rest, date) => {
        await assertTyped({
          method: 'GET',
          url: 'https://api.example.com/',
          headers: { authorization: `AWS4-HMAC-SHA256 ${rest}`, 'x-amz-date': date },
        });
      }),
      { numRuns: 300 },
    );
  });

  it('structured-looking but wrong Authorization values', async () => {
    const part = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom('', 'hk_sigv4test', '20251122', 'aws4_request'),
    );
    await fc.assert(
      fc.asyncProperty(part, part, part, part, fc.string({ maxLength: 70 }), async (a, b, c, d, sig) => {
        await assertTyped({
          method: 'GET',
          url: 'https://api.example.com/',
          headers: {
            authorization: `AWS4-HMAC-SHA256 Credential=${a}/${b}/${c}/hmac-kit/${d}, SignedHeaders=host;x-amz-date, Signature=${sig}`,
            'x-amz-date': `${b}T000000Z`,
          },
        });
      }),
      { numRuns: 300 },
    );
  });

  it('random presigned query strings and URLs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (query) => {
        await assertTyped({
          method: 'GET',
          url: `https://api.example.com/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&${query}`,
          headers: {},
        });
      }),
      { numRuns: 300 },
    );
  });

  it('says SignatureMissing when there is no SigV4 at all', async () => {
    const message = { method: 'GET', url: 'https://api.example.com/', headers: {} };
    expect(scheme.detect(message)).toBe(false);
    expect(() => claimedKeyId(scheme, message)).toThrow(SignatureMissing);
  });
});
