/**
 * The throttle subjects the authenticator keeps for the last (source address, claimed key id)
 * (`ThrottleSubjectsCache`, side-effects.ts) answer, request after request, what
 * `throttleSubjects` builds afresh, whatever the order in which addresses and key ids follow each
 * other (absent, empty and over-long key ids, no address, an address getter), and through an
 * authenticator every failure is recorded under its own address and pair.
 */
import type { FailureThrottle, MessageParts } from '@hmac-kit/core';
import { addressNameSubject, addressSubject, memoryFailureThrottle, memoryNonceStore } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { ThrottleSubjectsCache, throttleSubjects } from '../src/side-effects.js';

const addresses = fc.constantFrom(undefined, '', '203.0.113.7', '203.0.113.8', '2001:db8::1', '203.0.113.7 ');
const keyIds = fc.oneof(
  fc.constantFrom(undefined, '', 'hk_a', 'hk_b', 'x'.repeat(200), 'x'.repeat(201)),
  fc.string({ maxLength: 3 }),
);

describe('ThrottleSubjectsCache', () => {
  it('answers what throttleSubjects builds, over random sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(addresses, keyIds, fc.boolean()), { maxLength: 40 }), (requests) => {
        const cache = new ThrottleSubjectsCache();
        for (const [address, keyId, getter] of requests) {
          // A fresh string of the same text, as each request's transport hands it over.
          const fresh = address === undefined ? undefined : [...address].join('');
          const context = getter
            ? {
                get sourceAddress() {
                  return fresh;
                },
              }
            : { sourceAddress: fresh };
          const kept = cache.of(context, keyId);
          expect({ ...kept }).toEqual(throttleSubjects({ sourceAddress: fresh }, keyId));
          expect(Object.isFrozen(kept)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('reuses the subjects while the address and key id stay the same', () => {
    const cache = new ThrottleSubjectsCache();
    const first = cache.of({ sourceAddress: '203.0.113.7' }, 'hk_a');
    expect(cache.of({ sourceAddress: '203.0.113.7' }, 'hk_a')).toBe(first);
    expect(cache.of({ sourceAddress: '203.0.113.7' }, 'hk_b').pair).toBe(addressNameSubject('203.0.113.7', 'hk_b'));
    expect(cache.of({ sourceAddress: '203.0.113.7' }, undefined).pair).toBeUndefined();
    expect(cache.of({ sourceAddress: '203.0.113.8' }, 'hk_b').address).toBe(addressSubject('203.0.113.8'));
  });
});

describe('the authenticator records each failure under its own subjects', () => {
  it('when addresses and key ids alternate', async () => {
    const inner = memoryFailureThrottle({ maxFailures: 1000, freeFailures: 999 });
    const recorded: string[] = [];
    const throttle: FailureThrottle = {
      blockedFor: (subject) => inner.blockedFor(subject),
      recordFailure: (subject) => {
        recorded.push(subject);
        return inner.recordFailure(subject);
      },
      recordSuccess: (subject) => inner.recordSuccess(subject),
    };
    const authenticator = createAuthenticator({
      keys: resolveKey,
      crypto: nodeCryptoProvider,
      nonceStore: memoryNonceStore(),
      failureThrottle: throttle,
    });
    const origin = 'https://api.example.com';
    const sent = await signed(origin, { method: 'GET', path: '/orders', headers: {} }, signingKey(keyRing.orders));
    const expected: string[] = [];
    const cases: [string, string][] = [
      ['203.0.113.7', keyRing.orders.keyId],
      ['203.0.113.7', keyRing.orders.keyId],
      ['203.0.113.8', keyRing.orders.keyId],
      ['203.0.113.8', 'hk_unknown'],
      ['203.0.113.7', 'hk_unknown'],
      ['203.0.113.7', keyRing.orders.keyId],
    ];
    for (const [address, keyId] of cases) {
      // A wrong signature under the claimed key id: a guess, recorded for the address and the pair.
      const headers: Record<string, string> = { host: 'api.example.com' };
      for (const [name, value] of Object.entries(sent.headers)) headers[name.toLowerCase()] = value;
      headers['signature-input'] = headers['signature-input']!.replace(keyRing.orders.keyId, keyId);
      headers.signature = headers.signature!.replace(
        /:([A-Za-z0-9+/])/,
        (_, first: string) => `:${first === 'A' ? 'B' : 'A'}`,
      );
      const message: MessageParts = { method: 'GET', url: `${origin}${sent.path}`, headers };
      const outcome = await authenticator.authenticate(message, null, { sourceAddress: address });
      expect(outcome.ok).toBe(false);
      expected.push(addressSubject(address), addressNameSubject(address, keyId));
    }
    expect(recorded).toEqual(expected);
  });
});
