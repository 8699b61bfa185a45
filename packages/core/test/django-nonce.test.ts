/**
 * django-hmac has no nonce: the signature serves as one, in canonical base64, so that spellings
 * differing only in the bits the padding leaves over are one nonce. `canonicalBase64` keeps the
 * header's own spelling when it is already canonical instead of encoding the bytes again.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../src/primitives/encoding.js';
import { canonicalBase64 } from '../src/schemes/django-hmac/scheme.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

describe('django-hmac nonce: canonical base64 of the signature', () => {
  it('is toBase64 of the decoded bytes for every strict spelling (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), fc.nat({ max: 15 }), (bytes, leftOverBits) => {
        const canonical = toBase64(bytes);
        // The same bytes with the bits the padding leaves over set: another strict spelling.
        let spelling = canonical;
        const padding = canonical.endsWith('==') ? 2 : canonical.endsWith('=') ? 1 : 0;
        if (padding > 0) {
          const at = canonical.length - padding - 1;
          const value = ALPHABET.indexOf(canonical[at] as string) | (leftOverBits & (padding === 2 ? 0x0f : 0x03));
          spelling = canonical.slice(0, at) + ALPHABET[value] + canonical.slice(at + 1);
        }
        for (const text of [canonical, spelling]) {
          const decoded = fromBase64(text, { strict: true });
          expect(decoded).toEqual(bytes);
          expect(canonicalBase64(text, decoded as Uint8Array)).toBe(canonical);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a canonical spelling as it is and re-encodes another', () => {
    const bytes = fromBase64('QQ==', { strict: true }) as Uint8Array;
    expect(canonicalBase64('QQ==', bytes)).toBe('QQ==');
    expect(canonicalBase64('QR==', fromBase64('QR==', { strict: true }) as Uint8Array)).toBe('QQ==');
    expect(canonicalBase64('QUI=', fromBase64('QUI=', { strict: true }) as Uint8Array)).toBe('QUI=');
    expect(canonicalBase64('QUJ=', fromBase64('QUJ=', { strict: true }) as Uint8Array)).toBe('QUI=');
    expect(canonicalBase64('QUJD', fromBase64('QUJD', { strict: true }) as Uint8Array)).toBe('QUJD');
    expect(canonicalBase64('', new Uint8Array(0))).toBe('');
  });
});
