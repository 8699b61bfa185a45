// Hardening of the schemes whose signature covers the body itself (found in review):
// replay by re-spelling a base64 signature, webhook nonces outliving the policy window,
// and unknown key ids answered only after the same work as a wrong signature.
import type { NonceStore, Scheme, SigningKey, VerificationKey } from '@hmac-kit/core';
import {
  djangoHmac,
  KeyUnknown,
  NonceReplayed,
  signMessage,
  sigv4,
  standardWebhooks,
  verifyMessage,
  xApi,
} from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';

const raw = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
const key: VerificationKey = { keyId: 'hk_hardening', secret: raw, algorithm: 'sha256' };
const signingKey: SigningKey = { keyId: key.keyId, secret: `hks_${Buffer.from(raw).toString('base64url')}` };
const keys = (id: string) => (id === key.keyId ? key : undefined);

/** Contract-honouring in-memory nonce store on an injectable clock (seconds). */
function clockedNonceStore(clock: { now: number }): NonceStore {
  const seen = new Map<string, number>();
  return {
    async checkAndStore(keyId, nonce, ttlSeconds) {
      const id = `${keyId}\n${nonce}`;
      const until = seen.get(id);
      if (until !== undefined && until > clock.now) return false;
      seen.set(id, clock.now + ttlSeconds);
      return true;
    },
  };
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('django-hmac replay protection', () => {
  it('treats base64 spellings of one signature that differ only in padding bits as the same nonce', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = '{"a":1}';
    const url = 'https://api.example.com/orders';
    const signed = await signMessage(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body },
      signingKey,
      { scheme: djangoHmac(), now: () => now },
    );
    const authorization = signed.headers.authorization ?? signed.headers.Authorization;
    expect(authorization).toMatch(/=;/);
    const [head, signature, timestamp] = (authorization as string).split(';') as [string, string, string];
    // SHA-256 in base64 ends in one data character carrying 2 padding bits: flip them.
    const last = signature.at(-2) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const respelled = `${signature.slice(0, -2)}${alphabet[alphabet.indexOf(last) ^ 1]}=`;
    const nonceStore = clockedNonceStore({ now });
    const options = { keys, schemes: [djangoHmac()], nonceStore, now: () => now };
    const send = (auth: string) =>
      verifyMessage(
        { method: 'POST', url, headers: { 'content-type': 'application/json', authorization: auth } },
        bytes(body),
        options,
      );
    await expect(send(authorization as string)).resolves.toMatchObject({ keyId: key.keyId });
    await expect(send(`${head};${respelled};${timestamp}`)).rejects.toBeInstanceOf(NonceReplayed);
  });
});

describe('Standard Webhooks nonces live as long as the webhook tolerance', () => {
  it('refuses a replay after the policy max age but inside the tolerance', async () => {
    const clock = { now: 1_800_000_000 };
    const scheme = standardWebhooks({ keyId: key.keyId });
    const body = '{"event":"paid"}';
    const signed = await signMessage(
      { method: 'POST', url: 'https://hooks.example.com/in', headers: {}, body },
      signingKey,
      {
        scheme,
        now: () => clock.now,
      },
    );
    const options = {
      keys,
      schemes: [scheme],
      nonceStore: clockedNonceStore(clock),
      policy: { maxAgeSeconds: 60 },
      now: () => clock.now,
    };
    const deliver = () =>
      verifyMessage(
        { method: 'POST', url: 'https://hooks.example.com/in', headers: signed.headers },
        bytes(body),
        options,
      );
    await expect(deliver()).resolves.toMatchObject({ scheme: 'standard-webhooks' });
    clock.now += 100; // past maxAge + skew (65 s), still inside the 300 s tolerance
    await expect(deliver()).rejects.toBeInstanceOf(NonceReplayed);
    clock.now += 200;
    await expect(deliver()).rejects.toBeInstanceOf(NonceReplayed);
  });
});

describe('unknown key ids in schemes that sign the body', () => {
  const cases: [string, Scheme][] = [
    ['x-api', xApi()],
    ['django-hmac', djangoHmac()],
    ['sigv4 (no payload hash header)', sigv4()],
    ['standard-webhooks', standardWebhooks({ keyIdHeader: 'webhook-key-id' })],
  ];
  for (const [name, scheme] of cases) {
    it(`${name}: the header phase admits nothing and the body check refuses with KeyUnknown after hashing`, async () => {
      const body = '{"n":1}';
      const stranger: SigningKey = { keyId: 'hk_nobody_here', secret: signingKey.secret };
      const signed = await signMessage(
        {
          method: 'POST',
          url: 'https://api.example.com/x',
          headers: { 'content-type': 'application/json', 'webhook-key-id': stranger.keyId },
          body,
        },
        stranger,
        { scheme },
      );
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'webhook-key-id': stranger.keyId,
        ...signed.headers,
      };
      delete headers['x-amz-content-sha256'];
      const { checkSignature } = await import('@hmac-kit/core');
      const check = await checkSignature(
        { method: 'POST', url: signed.url, headers },
        { keys, schemes: [scheme], hasBody: true },
      );
      expect(check.signatureVerified).not.toBe(true);
      expect(check.body).not.toBeNull();
      check.body?.update(bytes(body));
      await expect(check.body?.finish()).rejects.toBeInstanceOf(KeyUnknown);
    });
  }
});
