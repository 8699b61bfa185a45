import { describe, expect, it } from 'vitest';
import { decodeSecretText } from '../src/units.js';

// The one rule for an imported secret written as hex or base64 (`hmac-kit keys import` and
// `POST /v1/admin/keys/import` both decode with it; their own tests cover the wording of refusals).
describe('decodeSecretText', () => {
  it('decodes an even count of hex digits, either case', () => {
    expect([...decodeSecretText('00fFa1', 'hex')!]).toEqual([0x00, 0xff, 0xa1]);
  });

  it('refuses hex that is odd, empty or not hex', () => {
    for (const text of ['abc', '', '0g', '00 ff']) expect(decodeSecretText(text, 'hex')).toBeUndefined();
  });

  it('decodes standard and URL-safe base64, padded or not, to the same bytes', () => {
    const bytes = [0xfb, 0xff, 0xbf];
    for (const text of ['+/+/', '-_-_']) expect([...decodeSecretText(text, 'base64')!]).toEqual(bytes);
    expect(decodeSecretText('c2VjcmV0', 'base64')?.toString('utf8')).toBe('secret');
    expect(decodeSecretText('c2VjcmV0MQ==', 'base64')?.toString('utf8')).toBe('secret1');
    expect(decodeSecretText('c2VjcmV0MQ', 'base64')?.toString('utf8')).toBe('secret1');
  });

  it('refuses base64 with a stray character, a lone last character or too much padding', () => {
    for (const text of ['', 'c2Vj cmV0', 'c2VjcmV0M', 'c2Vj===', 'c2Vj*']) {
      expect(decodeSecretText(text, 'base64')).toBeUndefined();
    }
  });
});
