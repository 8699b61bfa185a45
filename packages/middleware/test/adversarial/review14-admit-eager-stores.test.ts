/**
 * Review (session 13, review14): `admitEagerly()` and its admissions' `commitBeforeBodyEagerly()` /
 * `finishEagerly()` (forward-auth's synchronous route, issue #15) take the stores' synchronous
 * capabilities at their word, as `authenticateEagerly` does (review 6). The attacks of review 6,
 * sent through the new entry points, each way against the promise way (`admit`, `commitBeforeBody`,
 * `finish`): a `*Now` that answers with a promise must not read as "nonce fresh" or "source not
 * blocked"; a store that throws is a refusal (fail closed), never a synchronous throw out of the
 * eager methods (the route no longer runs in a promise chain that would catch it), and a rate
 * limiter failing after the nonce was reserved releases the nonce (the genuine request can retry).
 */
import type { MessageParts, NonceStore, RateLimiter } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import type { Admission, AuthenticatorOptions, AuthFailure, AuthOutcome } from '@hmac-kit/middleware';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import {
  keyRing,
  promisingNonceStore,
  promisingThrottle,
  resolveKey,
  signed,
  signedOrderMessage,
  signingKey,
} from '../../../../test-support/adapter-suite.js';

type Way = 'eager' | 'promises';
type Last = 'commitBeforeBody' | 'finish';

/** One request through admit and the admission's last step, each way; nothing may throw synchronously. */
async function send(
  options: Partial<AuthenticatorOptions>,
  request: { message: MessageParts },
  way: Way,
  last: Last,
  authenticator = createAuthenticator({ keys: resolveKey, crypto: nodeCryptoProvider, ...options }),
): Promise<string> {
  const context = { sourceAddress: '192.0.2.77', hasBody: last === 'commitBeforeBody' };
  let admitted: Admission | AuthFailure | Promise<Admission | AuthFailure>;
  if (way === 'eager') {
    expect(authenticator.admitEagerly).toBeTypeOf('function');
    admitted = authenticator.admitEagerly!(request.message, context);
  } else admitted = authenticator.admit(request.message, context);
  const admission = await admitted;
  if (!admission.ok) return (admission.error as { code?: string }).code ?? 'failed';
  let outcome: AuthOutcome | Promise<AuthOutcome>;
  if (last === 'commitBeforeBody') {
    expect(admission.checksBody).toBe(true);
    outcome = way === 'eager' ? admission.commitBeforeBodyEagerly!() : admission.commitBeforeBody();
  } else {
    outcome = way === 'eager' ? admission.finishEagerly!() : admission.finish();
  }
  const settled = await outcome;
  return settled.ok ? 'accepted' : ((settled.error as { code?: string }).code ?? 'failed');
}

/** A bodiless request for `finish()` (no body check), a signed body for `commitBeforeBody()`. */
async function requestFor(last: Last, secret?: Uint8Array): Promise<{ message: MessageParts }> {
  if (last === 'commitBeforeBody') return signedOrderMessage(secret);
  const origin = 'https://api.example.com';
  const key = secret === undefined ? keyRing.orders : { ...keyRing.orders, secret };
  const sent = await signed(origin, { method: 'GET', path: '/orders', headers: {} }, signingKey(key));
  return {
    message: { method: 'GET', url: `${origin}${sent.path}`, headers: { host: 'api.example.com', ...sent.headers } },
  };
}

describe('adversarial (review14): the stores under admitEagerly and its eager admission methods', () => {
  for (const way of ['eager', 'promises'] as const) {
    for (const last of ['commitBeforeBody', 'finish'] as const) {
      const named = `(${way}, ${last})`;

      it(`a replay is refused when checkAndStoreNow answers with a promise ${named}`, async () => {
        const authenticator = createAuthenticator({
          keys: resolveKey,
          crypto: nodeCryptoProvider,
          nonceStore: promisingNonceStore(),
        });
        const request = await requestFor(last);
        expect(await send({}, request, way, last, authenticator)).toBe('accepted');
        expect(await send({}, request, way, last, authenticator)).toBe('ERR_NONCE_REPLAYED');
      });

      it(`a source is blocked when the throttle's *Now answer with promises ${named}`, async () => {
        const authenticator = createAuthenticator({
          keys: resolveKey,
          crypto: nodeCryptoProvider,
          nonceStore: memoryNonceStore(),
          failureThrottle: promisingThrottle(),
        });
        const codes: string[] = [];
        for (let attempt = 0; attempt < 30 && codes.at(-1) !== 'ERR_TOO_MANY_FAILURES'; attempt++) {
          codes.push(
            await send({}, await requestFor(last, new Uint8Array(32).fill(attempt + 1)), way, last, authenticator),
          );
        }
        expect(codes).not.toContain('accepted');
        expect(codes.at(-1)).toBe('ERR_TOO_MANY_FAILURES');
      });

      it(`a checkAndStoreNow that throws is a refusal, no synchronous throw, no rate charge ${named}`, async () => {
        const memory = memoryNonceStore();
        const limiter = memoryRateLimiter();
        const failing: NonceStore = {
          epoch: memory.epoch,
          checkAndStore: () => Promise.reject(new StoreUnavailable('down')),
          checkAndStoreNow: () => {
            throw new StoreUnavailable('down');
          },
        };
        const options = {
          nonceStore: failing,
          rateLimiter: limiter,
          defaultRateLimit: { limit: 5, windowSeconds: 60 },
        };
        expect(await send(options, await requestFor(last), way, last)).toBe('ERR_STORE_UNAVAILABLE');
        // Nothing charged: the first hit of the key's window still has every request but one left.
        expect(limiter.hitNow!('key:hk_test_orders', 5, 60).remaining).toBe(4);
      });

      it(`a rate limiter failing after the nonce was recorded refuses, and releases the nonce ${named}`, async () => {
        const nonces = memoryNonceStore();
        let down = true;
        const memoryLimiter = memoryRateLimiter();
        const limiter: RateLimiter = {
          hit: (key, limit, window) =>
            down ? Promise.reject(new StoreUnavailable('down')) : memoryLimiter.hit(key, limit, window),
          hitNow: (key, limit, window) => {
            if (down) throw new StoreUnavailable('down');
            return memoryLimiter.hitNow!(key, limit, window);
          },
        };
        const authenticator = createAuthenticator({
          keys: resolveKey,
          crypto: nodeCryptoProvider,
          nonceStore: nonces,
          rateLimiter: limiter,
          defaultRateLimit: { limit: 5, windowSeconds: 60 },
        });
        const request = await requestFor(last);
        expect(await send({}, request, way, last, authenticator)).toBe('ERR_STORE_UNAVAILABLE');
        // The store is back: the genuine request, retried, is not refused as a replay of itself.
        down = false;
        expect(await send({}, request, way, last, authenticator)).toBe('accepted');
        expect(await send({}, request, way, last, authenticator)).toBe('ERR_NONCE_REPLAYED');
      });
    }
  }
});
