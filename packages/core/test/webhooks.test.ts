import type { MessageParts, VerificationKey, VerifyOptions } from '@hmac-kit/core';
import {
  HmacKitError,
  KeyUnknown,
  parseWebhookSecret,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
  signWebhook,
  standardWebhooks,
  verifyWebhook,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

const text = readPublishedVector('standard-webhooks.txt');
const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
const vector = {
  secret: /secret \(serialized\): (\S+)/.exec(text)?.[1] ?? '',
  id: field('webhook-id'),
  timestamp: field('webhook-timestamp'),
  body: field('body'),
  signature: field('webhook-signature'),
};

describe('published Standard Webhooks vector', () => {
  it('signs and verifies exactly as the reference libraries', async () => {
    expect(vector.secret.startsWith('whsec_')).toBe(true);
    expect(parseWebhookSecret(vector.secret)).toHaveLength(24);
    const now = () => Number(vector.timestamp) + 10;
    expect(await signWebhook(vector, vector.secret)).toBe(vector.signature);
    expect(await signWebhook(vector, vector.secret, { crypto: nodeCryptoProvider })).toBe(vector.signature);
    await expect(
      verifyWebhook({ ...vector, signatureHeader: vector.signature }, vector.secret, { now }),
    ).resolves.toEqual({
      id: vector.id,
      timestamp: Number(vector.timestamp),
    });
  });
});

const NOW = 1_763_800_000;
const secret = `whsec_${Buffer.from(new Uint8Array(32).map((_, i) => i + 100)).toString('base64')}`;
const oldSecret = `whsec_${Buffer.from(new Uint8Array(32).fill(7)).toString('base64')}`;
const base = { id: 'msg_2b3c4d', timestamp: NOW, body: '{"type":"invoice.paid","amount":1200}' };
const now = () => NOW;

describe('verifyWebhook / signWebhook', () => {
  it('accepts any of several space-separated v1 signatures (rotation) and ignores v1a', async () => {
    const current = await signWebhook(base, secret);
    const previous = await signWebhook(base, oldSecret);
    const header = `v1a,AAAA${'A'.repeat(82)}== ${previous} ${current}`;
    await verifyWebhook({ ...base, signatureHeader: header }, secret, { now });
    await verifyWebhook({ ...base, signatureHeader: header }, oldSecret, { now });
    await expect(
      verifyWebhook({ ...base, signatureHeader: `v1a,${current.slice(3)}` }, secret, { now }),
    ).rejects.toBeInstanceOf(SignatureMissing);
  });

  it('tamper matrix', async () => {
    const signatureHeader = await signWebhook(base, secret);
    const ok = { ...base, signatureHeader };
    await verifyWebhook(ok, secret, { now });
    await expect(verifyWebhook({ ...ok, id: 'msg_other' }, secret, { now })).rejects.toBeInstanceOf(SignatureInvalid);
    await expect(verifyWebhook({ ...ok, timestamp: NOW - 1 }, secret, { now })).rejects.toBeInstanceOf(
      SignatureInvalid,
    );
    await expect(verifyWebhook({ ...ok, body: `${base.body} ` }, secret, { now })).rejects.toBeInstanceOf(
      SignatureInvalid,
    );
    await expect(
      verifyWebhook({ ...ok, signatureHeader: signatureHeader.replace(/.(?==$)/, 'A') }, secret, { now }),
    ).rejects.toBeInstanceOf(SignatureInvalid);
    await expect(verifyWebhook(ok, oldSecret, { now })).rejects.toBeInstanceOf(SignatureInvalid);
    await expect(verifyWebhook({ ...ok, timestamp: 'soon' }, secret, { now })).rejects.toBeInstanceOf(
      SignatureMalformed,
    );
    await expect(verifyWebhook({ ...ok, signatureHeader: '' }, secret, { now })).rejects.toBeInstanceOf(
      SignatureMissing,
    );
  });

  it('5-minute tolerance in both directions', async () => {
    const signatureHeader = await signWebhook(base, secret);
    const ok = { ...base, signatureHeader };
    await verifyWebhook(ok, secret, { now: () => NOW + 300 });
    await verifyWebhook(ok, secret, { now: () => NOW - 300 });
    const old = await verifyWebhook(ok, secret, { now: () => NOW + 301 }).catch((e: unknown) => e);
    expect(old).toBeInstanceOf(SignatureExpired);
    expect((old as SignatureExpired).serverTime).toBe(NOW + 301);
    await expect(verifyWebhook(ok, secret, { now: () => NOW - 301 })).rejects.toBeInstanceOf(SignatureFromFuture);
    await verifyWebhook(ok, secret, { now: () => NOW + 3600, toleranceSeconds: 3600 });
  });

  it('accepts bytes bodies and raw-byte secrets', async () => {
    const bytes = new TextEncoder().encode(base.body);
    const signatureHeader = await signWebhook({ ...base, body: bytes }, parseWebhookSecret(secret));
    await verifyWebhook({ ...base, body: bytes, signatureHeader }, secret, { now });
  });

  it('malformed input only ever throws HmacKitError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 40 }),
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 200 }),
        async (id, ts, header) => {
          try {
            await verifyWebhook({ id, timestamp: ts, signatureHeader: header, body: 'x' }, secret, { now });
          } catch (error) {
            expect(error).toBeInstanceOf(HmacKitError);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('misuse is a TypeError', async () => {
    expect(() => parseWebhookSecret('whsec_***')).toThrow(TypeError);
    await expect(signWebhook({ ...base, id: 'has space' }, secret)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('standardWebhooks() scheme', () => {
  const key: VerificationKey = { keyId: 'hk_sender', secret: parseWebhookSecret(secret), algorithm: 'sha256' };
  const keys = (id: string) => (id === key.keyId ? key : undefined);
  type Message = Omit<MessageParts, 'headers'> & { headers: Record<string, string>; body: Uint8Array };

  async function deliver(scheme = standardWebhooks()): Promise<Message> {
    const message = {
      method: 'POST',
      url: 'https://hooks.example.com/in',
      headers: {},
      body: new TextEncoder().encode(base.body),
    };
    const out = await scheme.sign(message, { keyId: key.keyId, secret }, { now, crypto: nodeCryptoProvider });
    return { ...message, headers: out.headers };
  }

  async function verifyFully(message: Message, scheme = standardWebhooks(), extra: Partial<VerifyOptions> = {}) {
    const check = await checkWith(scheme, message, { keys, now, hasBody: message.body.length > 0, ...extra });
    if (check.body) {
      check.body.update(message.body);
      await check.body.finish();
    }
    return check.result;
  }

  it('round trip with the key id header; nonce is id.timestamp', async () => {
    const message = await deliver();
    expect(message.headers['webhook-key-id']).toBe('hk_sender');
    const scheme = standardWebhooks();
    expect(scheme.detect(message)).toBe(true);
    expect(claimedKeyId(scheme, message)).toBe('hk_sender');
    const result = await verifyFully(message);
    expect(result).toMatchObject({ scheme: 'standard-webhooks', keyId: 'hk_sender', created: NOW });
    expect(result.nonce).toBe(`${message.headers['webhook-id']}.${NOW}`);
  });

  it('verifies a delivery signed by the standalone signer with a fixed key id, and the svix- spelling', async () => {
    const signatureHeader = await signWebhook(base, secret);
    for (const prefix of ['webhook-', 'svix-'] as const) {
      const message: Message = {
        method: 'POST',
        url: 'https://hooks.example.com/in',
        headers: {
          [`${prefix}id`]: base.id,
          [`${prefix}timestamp`]: String(NOW),
          [`${prefix}signature`]: signatureHeader,
        },
        body: new TextEncoder().encode(base.body),
      };
      await verifyFully(message, standardWebhooks({ keyId: 'hk_sender', headerPrefix: prefix }));
    }
  });

  it('tamper matrix through the scheme', async () => {
    const message = await deliver();
    const cases: [Message, new (...args: never[]) => HmacKitError][] = [
      [{ ...message, body: new TextEncoder().encode('{}') }, SignatureInvalid],
      [{ ...message, headers: { ...message.headers, 'webhook-id': 'msg_x' } }, SignatureInvalid],
      [{ ...message, headers: { ...message.headers, 'webhook-timestamp': String(NOW - 2) } }, SignatureInvalid],
      [{ ...message, headers: { ...message.headers, 'webhook-key-id': 'hk_nobody' } }, KeyUnknown],
      [{ ...message, headers: { ...message.headers, 'webhook-timestamp': String(NOW - 400) } }, SignatureExpired],
      [{ ...message, headers: { ...message.headers, 'webhook-signature': 'v2,abc' } }, SignatureMissing],
    ];
    for (const [tampered, expected] of cases) await expect(verifyFully(tampered)).rejects.toBeInstanceOf(expected);
    await expect(
      verifyFully(message, standardWebhooks(), { keys: () => ({ ...key, algorithm: 'sha512' }) }),
    ).rejects.toBeInstanceOf(SignatureInvalid);
  });

  it('requires a key id source and validates options', async () => {
    const message = await deliver(standardWebhooks({ keyId: 'hk_sender' }));
    expect(message.headers['webhook-key-id']).toBeUndefined();
    expect(() => claimedKeyId(standardWebhooks(), message)).toThrow(SignatureMalformed);
    expect(() => standardWebhooks({ keyId: '' })).toThrow(TypeError);
    expect(() => standardWebhooks({ toleranceSeconds: -1 })).toThrow(TypeError);
  });
});
