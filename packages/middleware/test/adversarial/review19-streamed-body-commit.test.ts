/**
 * Adversarial (session 19 review, finding 1): a request committed before its body is known
 * (`commitBeforeBody()`: the gateway streaming a large body upstream) must not clear the
 * (address, key) failure record before the body's digest matched. On the previous code the commit
 * hook cleared it at `commitBeforeBody()`: a client holding a valid signed head (a captured or
 * leaked one) and sending any body wiped the pair's failures each time — a side effect before the
 * request was proven (docs/architecture.md). A body that fails counts as a failure like a wrong
 * signature (address and pair), and the nonce reservation is released (the documented rule: a
 * tampered copy cannot burn the genuine request; while the reservation is held, a copy of the head
 * is a replay).
 *
 * Each case runs both ways (the eager methods and the promise twins) and against a throttle with
 * the synchronous capabilities (the memory throttle) and one without (promises only).
 */
import type { FailureThrottle } from '@hmac-kit/core';
import {
  addressNameSubject,
  addressSubject,
  memoryFailureThrottle,
  memoryNonceStore,
  memoryRateLimiter,
} from '@hmac-kit/limits';
import type { Admission, Authenticator, AuthFailure, AuthOutcome } from '@hmac-kit/middleware';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { resolveKey, signedOrderMessage } from '../../../../test-support/adapter-suite.js';

const ADDRESS = '192.0.2.19';
const PAIR = addressNameSubject(ADDRESS, 'hk_test_orders');
const ADDR = addressSubject(ADDRESS);

interface Spy {
  throttle: FailureThrottle;
  /** Every store write, in order: `failure <subject>` / `success <subject>`. */
  writes: string[];
  /** Whether anything is recorded for `subject` (the memory throttle's own answer). */
  recorded(subject: string): boolean;
}

/** The memory throttle, recording its writes; `sync: false` leaves out the `*Now` capabilities. */
function spyThrottle(sync: boolean): Spy {
  const memory = memoryFailureThrottle();
  const writes: string[] = [];
  const base: FailureThrottle & Record<string, unknown> = {
    escalation: memory.escalation,
    clock: memory.clock,
    blockedFor: (subject) => memory.blockedFor(subject),
    blockedForOrUnrecorded: (subject: string) => memory.blockedForOrUnrecorded(subject),
    recordFailure: (subject) => {
      writes.push(`failure ${subject}`);
      return memory.recordFailure(subject);
    },
    recordSuccess: (subject) => {
      writes.push(`success ${subject}`);
      return memory.recordSuccess(subject);
    },
  };
  if (sync) {
    base.blockedForNow = (subject: string) => memory.blockedForNow(subject);
    base.blockedForOrUnrecordedNow = (subject: string) => memory.blockedForOrUnrecordedNow(subject);
    base.recordFailureNow = (subject: string) => {
      writes.push(`failure ${subject}`);
      return memory.recordFailureNow(subject);
    };
    base.recordSuccessNow = (subject: string) => {
      writes.push(`success ${subject}`);
      memory.recordSuccessNow(subject);
    };
  }
  return { throttle: base, writes, recorded: (subject) => memory.blockedForOrUnrecordedNow(subject) !== -1 };
}

type Way = 'eager' | 'promises';

async function admit(authenticator: Authenticator, message: Parameters<Authenticator['admit']>[0], way: Way) {
  const context = { sourceAddress: ADDRESS, hasBody: true };
  const admitted: Admission | AuthFailure =
    way === 'eager' ? await authenticator.admitEagerly!(message, context) : await authenticator.admit(message, context);
  if (!admitted.ok) throw new Error(`admission refused: ${(admitted.error as { code?: string }).code}`);
  expect(admitted.signatureVerified).toBe(true);
  expect(admitted.checksBody).toBe(true);
  return admitted;
}

const codeOf = (outcome: AuthOutcome) => (outcome.ok ? 'accepted' : (outcome.error as { code?: string }).code);

async function commitEarly(admission: Admission, way: Way): Promise<AuthOutcome> {
  return way === 'eager' ? await admission.commitBeforeBodyEagerly!() : await admission.commitBeforeBody();
}

async function finish(admission: Admission, way: Way): Promise<AuthOutcome> {
  return way === 'eager' ? await admission.finishEagerly!() : await admission.finish();
}

describe('adversarial (review19): commitBeforeBody() leaves the failure record alone until the body is proven', () => {
  for (const way of ['eager', 'promises'] as const) {
    for (const sync of [true, false]) {
      const named = `(${way}, ${sync ? 'synchronous throttle' : 'promise-only throttle'})`;

      it(`a valid head with a wrong body does not clear the (address, key) failures ${named}`, async () => {
        const spy = spyThrottle(sync);
        const limiter = memoryRateLimiter();
        const authenticator = createAuthenticator({
          keys: resolveKey,
          crypto: nodeCryptoProvider,
          nonceStore: memoryNonceStore(),
          failureThrottle: spy.throttle,
          rateLimiter: limiter,
          defaultRateLimit: { limit: 100, windowSeconds: 60 },
        });
        // Two forged requests for the key from the address: the pair has failures on record.
        for (const fill of [1, 2]) {
          const forged = await signedOrderMessage(new Uint8Array(32).fill(fill));
          const refused = await authenticator.admit(forged.message, { sourceAddress: ADDRESS, hasBody: true });
          expect(refused.ok).toBe(false);
        }
        expect(spy.recorded(PAIR)).toBe(true);
        spy.writes.length = 0;

        // The attack: the genuine head, committed before the body, then a body it does not sign.
        const genuine = await signedOrderMessage();
        const admission = await admit(authenticator, genuine.message, way);
        expect(codeOf(await commitEarly(admission, way))).toBe('accepted');
        expect(spy.writes, 'nothing written before the body is proven').toEqual([]);
        expect(spy.recorded(PAIR)).toBe(true);
        admission.update(new TextEncoder().encode('{"quantity":1000}'));
        expect(codeOf(await finish(admission, way))).toBe('ERR_DIGEST_MISMATCH');
        await new Promise((resolve) => setImmediate(resolve));
        // Counted as a failure like a wrong signature, and nothing cleared.
        expect(spy.writes).toEqual([`failure ${ADDR}`, `failure ${PAIR}`]);
        expect(spy.recorded(PAIR)).toBe(true);
      });

      it(`the genuine body clears the pair once it is proven, not at the early commit ${named}`, async () => {
        const spy = spyThrottle(sync);
        const authenticator = createAuthenticator({
          keys: resolveKey,
          crypto: nodeCryptoProvider,
          nonceStore: memoryNonceStore(),
          failureThrottle: spy.throttle,
        });
        const forged = await signedOrderMessage(new Uint8Array(32).fill(7));
        expect((await authenticator.admit(forged.message, { sourceAddress: ADDRESS, hasBody: true })).ok).toBe(false);
        spy.writes.length = 0;

        const genuine = await signedOrderMessage();
        const admission = await admit(authenticator, genuine.message, way);
        expect(codeOf(await commitEarly(admission, way))).toBe('accepted');
        expect(spy.writes).toEqual([]);
        admission.update(genuine.body);
        expect(codeOf(await finish(admission, way))).toBe('accepted');
        expect(spy.writes).toEqual([`success ${PAIR}`]);
        expect(spy.recorded(PAIR)).toBe(false);
        // The address's own failures stay: one valid key does not launder an address's guesses.
        expect(spy.recorded(ADDR)).toBe(true);
      });

      it(`the nonce: held while the body streams, released when it fails, then the genuine passes ${named}`, async () => {
        const spy = spyThrottle(sync);
        const authenticator = createAuthenticator({
          keys: resolveKey,
          crypto: nodeCryptoProvider,
          nonceStore: memoryNonceStore(),
          failureThrottle: spy.throttle,
        });
        const genuine = await signedOrderMessage();
        const tampered = await admit(authenticator, genuine.message, way);
        expect(codeOf(await commitEarly(tampered, way))).toBe('accepted');
        // While the reservation is held, another copy of the head is a replay.
        const copy = await admit(authenticator, genuine.message, way);
        expect(codeOf(await commitEarly(copy, way))).toBe('ERR_NONCE_REPLAYED');
        tampered.update(new TextEncoder().encode('{"quantity":2}'));
        expect(codeOf(await finish(tampered, way))).toBe('ERR_DIGEST_MISMATCH');
        // Released: the genuine request, sent after the tampered copy, is not burnt.
        const real = await admit(authenticator, genuine.message, way);
        expect(codeOf(await commitEarly(real, way))).toBe('accepted');
        real.update(genuine.body);
        expect(codeOf(await finish(real, way))).toBe('accepted');
        // And once proven, the head is spent for good.
        const again = await admit(authenticator, genuine.message, way);
        expect(codeOf(await commitEarly(again, way))).toBe('ERR_NONCE_REPLAYED');
      });
    }
  }
});
