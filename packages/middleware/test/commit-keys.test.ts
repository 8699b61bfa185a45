/**
 * The commit's per-key strings (side-effects.ts): the rate limiter's `key:<key id>` kept for the last
 * key id charged, and the (address, key) pair the gate built reused to clear the pair's failures.
 * Their invariant: every key is charged under its own name and every pair cleared under its own
 * subject, whatever the order in which keys and addresses follow each other.
 */
import type { MessageParts, VerificationKey } from '@hmac-kit/core';
import { addressNameSubject, memoryFailureThrottle, memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

const origin = 'https://api.example.com';

async function signedGet(key: VerificationKey): Promise<MessageParts> {
  const sent = await signed(origin, { method: 'GET', path: '/orders', headers: {} }, signingKey(key));
  return { method: 'GET', url: `${origin}${sent.path}`, headers: { host: 'api.example.com', ...sent.headers } };
}

describe('the commit charges and clears per key', () => {
  it('charges each key under its own name when keys alternate', async () => {
    const limiter = memoryRateLimiter();
    const charged: string[] = [];
    const authenticator = createAuthenticator({
      keys: resolveKey,
      crypto: nodeCryptoProvider,
      nonceStore: memoryNonceStore(),
      rateLimiter: {
        hit: (name, limit, windowSeconds) => limiter.hit(name, limit, windowSeconds),
        hitNow(name, limit, windowSeconds) {
          charged.push(name);
          return limiter.hitNow(name, limit, windowSeconds);
        },
      },
      defaultRateLimit: { limit: 2, windowSeconds: 60 },
    });
    const order = [keyRing.orders, keyRing.reader, keyRing.orders, keyRing.reader, keyRing.orders, keyRing.reader];
    const outcomes = [];
    for (const key of order) outcomes.push(await authenticator.authenticate(await signedGet(key), new Uint8Array(0)));
    expect(charged).toEqual(order.map((key) => `key:${key.keyId}`));
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, true, true, true, false, false]);
  });

  it('clears the failures of the pair that was proven, for each address and key in turn', async () => {
    const throttle = memoryFailureThrottle({ maxFailures: 100 });
    const cleared: string[] = [];
    const authenticator = createAuthenticator({
      keys: resolveKey,
      crypto: nodeCryptoProvider,
      nonceStore: memoryNonceStore(),
      failureThrottle: {
        blockedFor: (subject) => throttle.blockedFor(subject),
        recordFailure: (subject) => throttle.recordFailure(subject),
        recordSuccess(subject) {
          cleared.push(subject);
          return throttle.recordSuccess(subject);
        },
      },
    });
    const cases = [
      ['192.0.2.1', keyRing.orders],
      ['192.0.2.2', keyRing.orders],
      ['192.0.2.2', keyRing.reader],
      ['192.0.2.1', keyRing.reader],
    ] as const;
    for (const [sourceAddress, key] of cases) {
      const outcome = await authenticator.authenticate(await signedGet(key), new Uint8Array(0), { sourceAddress });
      expect(outcome.ok).toBe(true);
    }
    expect(cleared).toEqual(cases.map(([sourceAddress, key]) => addressNameSubject(sourceAddress, key.keyId)));
  });
});
