// The key service's admin rules on their own: the checks every admin call runs on its input, and
// the mapping of stored rows to what callers see. The service tests show them behind its methods.
import { describe, expect, it } from 'vitest';
import {
  checkRateLimit,
  checkScopes,
  futureTime,
  keyCursor,
  keyPositionOf,
  pageLimit,
  positiveInteger,
  principalAfter,
  toApiKey,
  toPrincipal,
} from '../src/admin-rules.js';
import type { KeyRow } from '../src/ports/keys.js';

const row: KeyRow = {
  keyId: 'hk_AAAAAAAAAAAAAAAAAAAAAA',
  principal: 'billing',
  algorithm: 'sha256',
  scopes: ['a'],
  label: null,
  createdAt: 1_000,
  expiresAt: 5_000,
  lastUsedAt: null,
  revokedAt: null,
  revokedReason: null,
  rateLimit: null,
  rotatedFrom: null,
  masterKeyId: 'mk1',
  secretCiphertext: 'never shown',
};

describe('admin rules', () => {
  it('checks numbers, scopes, rate limits, page sizes and expiry with one-line TypeErrors', () => {
    expect(positiveInteger(3, 'n')).toBe(3);
    expect(() => positiveInteger(0, 'n')).toThrow('n must be a positive integer');
    expect(positiveInteger(0, 'n', true)).toBe(0);
    expect(checkScopes(['a', 'a', 'b'])).toEqual(['a', 'b']);
    expect(() => checkScopes(['has space'])).toThrow(TypeError);
    expect(checkRateLimit(undefined)).toBeNull();
    expect(() => checkRateLimit({ limit: 0, windowSeconds: 60 })).toThrow('rateLimit.limit');
    expect(pageLimit(undefined)).toBe(100);
    expect(() => pageLimit(1001)).toThrow('limit must be an integer from 1 to 1000');
    expect(futureTime(new Date(2_000), 1_000)).toBe(2_000);
    expect(() => futureTime(new Date(1_000), 1_000)).toThrow('expiresAt must be in the future');
    expect(() => futureTime(new Date(Number.NaN), 0)).toThrow('expiresAt must be a valid Date');
  });

  it('round-trips listing cursors and refuses one from another listing or order', () => {
    const cursor = keyCursor({ createdAt: 1_000, keyId: row.keyId }, 'oldest');
    expect(keyPositionOf(cursor, 'oldest')).toEqual({ createdAt: 1_000, keyId: row.keyId });
    expect(() => keyPositionOf(cursor, 'newest')).toThrow('it continues a listing in oldest order');
    expect(() => principalAfter(cursor)).toThrow('not a principal listing cursor');
    expect(() => principalAfter('not base64url!')).toThrow('invalid cursor');
  });

  it('maps rows to what callers see: status at read time, no ciphertext, copies of arrays', () => {
    expect(toApiKey(row, 4_999).status).toBe('active');
    expect(toApiKey(row, 5_000).status).toBe('expired');
    expect(toApiKey({ ...row, revokedAt: 2_000 }, 0).status).toBe('revoked');
    const key = toApiKey(row, 0);
    expect(key).not.toHaveProperty('secretCiphertext');
    expect(key.scopes).not.toBe(row.scopes);
    expect(
      toPrincipal({ name: 'p', kind: 'user', disabled: false, passwordHash: 'x', createdAt: 0, disabledAt: null }),
    ).toEqual({ name: 'p', kind: 'user', disabled: false, hasPassword: true, createdAt: new Date(0) });
  });
});
