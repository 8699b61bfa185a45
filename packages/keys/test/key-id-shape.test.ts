import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatSecret,
  generateKeyId,
  hasKeyIdShape,
  isPlausibleKeyId,
  keyIdLogFields,
  looksLikeSecret,
} from '../src/ids.js';

/** Every printable form a 16..64-byte secret takes when pasted somewhere. */
const secretForms = fc.uint8Array({ minLength: 16, maxLength: 64 }).chain((bytes) => {
  const buffer = Buffer.from(bytes);
  return fc.constantFrom(
    `hks_${buffer.toString('base64url')}`,
    `whsec_${buffer.toString('base64')}`,
    buffer.toString('hex'),
    buffer.toString('hex').toUpperCase(),
    buffer.toString('base64'),
    buffer.toString('base64url'),
  );
});

describe('the shape of a key id', () => {
  it('is the shape of every issued id and every imported (UUID) id', () => {
    for (let i = 0; i < 500; i++) {
      const issued = generateKeyId();
      expect(hasKeyIdShape(issued), issued).toBe(true);
      expect(looksLikeSecret(issued), issued).toBe(false);
      expect(keyIdLogFields(issued)).toEqual({ keyId: issued });
      const imported = randomUUID();
      expect(hasKeyIdShape(imported)).toBe(true);
      expect(hasKeyIdShape(imported.toUpperCase())).toBe(true);
    }
  });

  it('is never the shape of a secret, which is logged by length and short hash only (property)', () => {
    fc.assert(
      fc.property(secretForms, (secret) => {
        // base64 of random bytes can, rarely, lack one of upper/lower/digit: looksLikeSecret is a heuristic
        // for the CLI; the log rule below holds for every value.
        expect(hasKeyIdShape(secret)).toBe(false);
        const fields = keyIdLogFields(secret);
        expect(fields).toEqual({ keyIdLength: secret.length, keyIdHash: expect.stringMatching(/^[0-9a-f]{8}$/) });
        expect(JSON.stringify(fields)).not.toContain(secret.slice(0, 12));
      }),
      { numRuns: 2_000 },
    );
  });

  it('recognises the usual pasted secrets as secrets', () => {
    const bytes = new Uint8Array(randomBytes(32));
    expect(looksLikeSecret(formatSecret(bytes))).toBe(true);
    expect(looksLikeSecret(Buffer.from(bytes).toString('hex'))).toBe(true);
    expect(looksLikeSecret('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe(true); // an AWS secret access key
    expect(looksLikeSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toBe(true);
  });

  it('does not take ordinary key ids, access key ids or names for secrets', () => {
    for (const value of [
      'AKIAIOSFODNN7EXAMPLE',
      'billing-service',
      'client-42',
      'hk_test',
      'my-service-production-key-2024',
    ]) {
      expect(looksLikeSecret(value), value).toBe(false);
    }
  });

  it('logs nothing for no key id', () => {
    expect(keyIdLogFields(undefined)).toEqual({});
    expect(keyIdLogFields('')).toEqual({});
  });
});

describe('isPlausibleKeyId keeps the id it accepted last (issue #15, session 23)', () => {
  /** The checks alone, as isPlausibleKeyId made them before it kept an id. */
  const reference = (keyId: unknown) =>
    typeof keyId === 'string' &&
    /^[A-Za-z0-9._:@+=/-]{1,128}$/.test(keyId) &&
    !['hks_', 'whsec_'].some((prefix) => keyId.startsWith(prefix));

  it('answers as the checks, for any sequence of ids, repeated or not (fast-check)', () => {
    const ids = fc.oneof(
      fc.constantFrom('hk_', 'hk_3nR0bqYJ1xT9dW2mKp7sLa', 'hks_abc', 'whsec_abc', '', 'a b', 'x'.repeat(129)),
      fc.stringMatching(/^[A-Za-z0-9._:@+=/-]{0,130}$/),
      fc.string({ maxLength: 20 }),
      secretForms,
      fc.constantFrom(undefined, null, 5, ['hk_']),
    );
    fc.assert(
      fc.property(fc.array(ids, { minLength: 1, maxLength: 20 }), (sequence) => {
        for (const keyId of sequence) {
          expect(isPlausibleKeyId(keyId as string)).toBe(reference(keyId));
          expect(isPlausibleKeyId(keyId as string)).toBe(reference(keyId));
        }
      }),
      { numRuns: 300 },
    );
  });
});
