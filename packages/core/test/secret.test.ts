import { formatSecret, parseSecret } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('secrets (hks_ + base64url)', () => {
  it('round-trips any >= 32 raw bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 96 }), (raw) => {
        const printable = formatSecret(raw);
        expect(printable).toMatch(/^hks_[A-Za-z0-9_-]+$/);
        expect(parseSecret(printable)).toEqual(raw);
      }),
    );
  });

  it('formats 32 bytes as 47 characters, matching Node base64url', () => {
    const raw = new Uint8Array(32).map((_, i) => i * 8);
    expect(formatSecret(raw)).toBe(`hks_${Buffer.from(raw).toString('base64url')}`);
    expect(formatSecret(raw)).toHaveLength(47);
  });

  it('returns a copy of raw bytes', () => {
    const raw = new Uint8Array([1, 2, 3]);
    const parsed = parseSecret(raw);
    expect(parsed).toEqual(raw);
    expect(parsed).not.toBe(raw);
  });

  it('rejects malformed secrets with TypeError, never echoing them', () => {
    const bad = [
      '',
      'hks_',
      'sk_abc',
      `hks_${'A'.repeat(20)}`,
      `hks_${'A'.repeat(42)}=`,
      `hks_${'A'.repeat(42)}+`,
      `hks_${'A'.repeat(41)}`,
    ];
    for (const secret of bad) {
      let thrown: unknown;
      try {
        parseSecret(secret);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, secret).toBeInstanceOf(TypeError);
      if (secret.length > 4) expect((thrown as Error).message).not.toContain(secret.slice(4));
    }
    expect(() => parseSecret(new Uint8Array(0))).toThrow(TypeError);
    expect(() => parseSecret(42 as never)).toThrow(TypeError);
    expect(() => formatSecret(new Uint8Array(16))).toThrow(TypeError);
  });
});
