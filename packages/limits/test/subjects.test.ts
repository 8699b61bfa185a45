import { addressNameSubject, addressSubject } from '@hmac-kit/limits';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('failure-throttle subjects', () => {
  it('name the address alone, or the address with a name; never the name alone', () => {
    expect(addressSubject('203.0.113.7')).toBe('addr:203.0.113.7');
    expect(addressNameSubject('203.0.113.7', 'hk_live_1')).toBe('addr+name:11:203.0.113.7:hk_live_1');
    expect(addressNameSubject('::1', 'hk_live_1')).toBe('addr+name:3:::1:hk_live_1');
  });

  it('never give two different (address, name) pairs the same subject', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (a1, n1, a2, n2) => {
        fc.pre(a1 !== a2 || n1 !== n2);
        expect(addressNameSubject(a1, n1)).not.toBe(addressNameSubject(a2, n2));
        expect(addressNameSubject(a1, n1)).not.toBe(addressSubject(a2));
      }),
    );
    // The classic ambiguity: an IPv6 address's colons against a key id's.
    expect(addressNameSubject('::1', 'a:b')).not.toBe(addressNameSubject('::1:a', 'b'));
  });
});
