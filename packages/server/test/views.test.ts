import type { ApiKey, Principal } from '@hmac-kit/keys';
import { issuedKeyView, keyView, principalView } from '@hmac-kit/server/views';
import { describe, expect, it } from 'vitest';

const created = new Date('2026-01-02T03:04:05.000Z');
const key: ApiKey = {
  keyId: 'hk_0123456789abcdefghijkl',
  principal: 'billing',
  algorithm: 'sha256',
  scopes: ['orders:read'],
  createdAt: created,
  status: 'active',
  revokedReason: 'never shown',
};

describe('keyView / issuedKeyView / principalView (admin API and `hmac-kit --json`)', () => {
  it('writes dates as ISO 8601 and absent fields as null, and leaves out what the contract does not list', () => {
    expect(keyView(key)).toEqual({
      keyId: key.keyId,
      principal: 'billing',
      algorithm: 'sha256',
      scopes: ['orders:read'],
      label: null,
      status: 'active',
      createdAt: '2026-01-02T03:04:05.000Z',
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
      rateLimit: null,
      rotatedFrom: null,
    });
    const full = keyView({
      ...key,
      label: 'ci',
      expiresAt: new Date('2026-02-01T00:00:00.000Z'),
      lastUsedAt: created,
      revokedAt: created,
      rateLimit: { limit: 100, windowSeconds: 60 },
      rotatedFrom: 'hk_zzzzzzzzzzzzzzzzzzzzzz',
    });
    expect(full).toMatchObject({
      label: 'ci',
      expiresAt: '2026-02-01T00:00:00.000Z',
      lastUsedAt: '2026-01-02T03:04:05.000Z',
      revokedAt: '2026-01-02T03:04:05.000Z',
      rateLimit: { limit: 100, windowSeconds: 60 },
      rotatedFrom: 'hk_zzzzzzzzzzzzzzzzzzzzzz',
    });
    expect(full.scopes).not.toBe(key.scopes);
  });

  it('carries a secret only in the view of a key just issued', () => {
    expect(Object.keys(keyView(key))).not.toContain('secret');
    expect(issuedKeyView({ key, secret: 'hks_example' })).toEqual({ ...keyView(key), secret: 'hks_example' });
  });

  it('maps a principal without anything password-related but the flag', () => {
    const principal: Principal = {
      name: 'billing',
      kind: 'service',
      disabled: false,
      hasPassword: true,
      createdAt: created,
    };
    expect(principalView(principal)).toEqual({
      name: 'billing',
      kind: 'service',
      disabled: false,
      hasPassword: true,
      createdAt: '2026-01-02T03:04:05.000Z',
      disabledAt: null,
    });
  });
});
