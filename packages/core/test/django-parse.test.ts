/**
 * The django-hmac `Authorization` reader compares the method in place and finds the two `;` with
 * indexOf (no regular expression, no split array): held here to the former reading,
 * `/^HMAC-SHA(256|384|512) /` for detection and `value.slice(space + 1).split(';')` into exactly
 * three parts, over values built from the pieces that matter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignatureMalformed } from '../src/errors.js';
import { djangoHmac } from '../src/schemes/django-hmac/scheme.js';

const METHODS: Record<string, string> = { 'HMAC-SHA256': 'sha256', 'HMAC-SHA384': 'sha384', 'HMAC-SHA512': 'sha512' };

/** The former reading: what detect() said, and the parts parse() went on with (or `malformed`). */
function formerReading(value: string): { detected: boolean; parts?: string[]; algorithm?: string } {
  if (!/^HMAC-SHA(256|384|512) /.test(value)) return { detected: false };
  const space = value.indexOf(' ');
  const parts = value.slice(space + 1).split(';');
  return { detected: true, algorithm: METHODS[value.slice(0, space)], ...(parts.length === 3 ? { parts } : {}) };
}

describe('django-hmac Authorization reading', () => {
  it('detects and splits as the regular expression and split(";") did', () => {
    const scheme = djangoHmac();
    const piece = fc.constantFrom(
      'HMAC-SHA256',
      'HMAC-SHA384',
      'HMAC-SHA512',
      'HMAC-SHA1',
      'HMAC-SHA2566',
      'hmac-sha256',
      ' ',
      ';',
      'hk_key',
      'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
      '2026-12-06T17:45:00.123456+00:00',
      '',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const value = pieces.join('');
        const message = { method: 'POST', url: 'http://a/', headers: { authorization: value } };
        const former = formerReading(value);
        expect(scheme.detect(message), value).toBe(former.detected);
        if (!former.detected) return;
        let parsed: { keyId: string; timestamp?: string } | undefined;
        let error: unknown;
        try {
          parsed = scheme.parse(message, { hasBody: false }) as { keyId: string };
        } catch (caught) {
          error = caught;
        }
        if (former.parts === undefined) {
          expect(error, value).toBeInstanceOf(SignatureMalformed);
          expect((error as Error).message).toBe('expected <key id>;<signature>;<timestamp>');
          return;
        }
        // Three parts: whatever the later checks say, they say it of the same key id, signature and timestamp.
        if (parsed !== undefined) {
          expect(parsed.keyId).toBe(former.parts[0]);
          expect((parsed as unknown as { algorithm: string }).algorithm).toBe(former.algorithm);
        } else {
          expect((error as Error).message).not.toBe('expected <key id>;<signature>;<timestamp>');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads a well-formed value', () => {
    const value = 'HMAC-SHA384 hk_key;AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=;2026-12-06T17:45:00.123456+00:00';
    const parsed = djangoHmac().parse(
      { method: 'POST', url: 'http://a/', headers: { authorization: value } },
      {
        hasBody: true,
      },
    ) as unknown as { keyId: string; algorithm: string; timestamp: string };
    expect(parsed.keyId).toBe('hk_key');
    expect(parsed.algorithm).toBe('sha384');
    expect(parsed.timestamp).toBe('2026-12-06T17:45:00.123456+00:00');
  });
});
