/**
 * Review 20 (helper review20): `Admission.completeEagerly(body)` (new in session 20, what
 * `hmacAuth({ json })` runs) is `complete(body)` without the promise: the same decisions and side
 * effects. A property over random sequences of requests with bodies (genuine, replayed, forged,
 * unknown key id, rate limited, body tampered after signing, a body over the limit), each sequence
 * sent through two authenticators with identical fresh memory stores and one fixed clock, one
 * admitting eagerly and completing with `completeEagerly`, the other with `admit` and `complete`:
 * the outcomes, the failure reports and the stores' state afterwards must be equal, and the eager
 * way answers an accepted request without a promise.
 */
import type { MessageParts, VerificationKey } from '@hmac-kit/core';
import { isPromiseLike } from '@hmac-kit/core';
import {
  addressNameSubject,
  addressSubject,
  memoryFailureThrottle,
  memoryNonceStore,
  memoryRateLimiter,
} from '@hmac-kit/limits';
import type { Admission, AuthFailure, AuthOutcome } from '@hmac-kit/middleware';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

const origin = 'https://api.example.com';
const address = '192.0.2.46';
const BODY = '{"q":1}';

type Kind = 'genuine' | 'replay' | 'forged' | 'unknown' | 'limited' | 'tampered' | 'large';

interface Sent {
  message: MessageParts;
  body: Uint8Array;
  keyId: string;
  nonce: string;
}

/** A request of `kind` signed at `created` (Unix seconds): the case's one clock (see admit-eager.test.ts). */
async function signedRequest(kind: Kind, created: number): Promise<Sent> {
  const key: VerificationKey =
    kind === 'forged'
      ? { ...keyRing.orders, secret: new Uint8Array(32).fill(9) }
      : kind === 'unknown'
        ? { ...keyRing.orders, keyId: 'hk_test_nobody' }
        : kind === 'limited'
          ? keyRing.limited
          : keyRing.orders;
  const body = kind === 'large' ? JSON.stringify({ q: 'x'.repeat(300) }) : BODY;
  const sent = await signed(
    origin,
    { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body },
    signingKey(key),
    undefined,
    { now: () => created },
  );
  const input = Object.entries(sent.headers).find(([name]) => name.toLowerCase() === 'signature-input')?.[1];
  const nonce = /nonce="([^"]+)"/.exec(input ?? '')?.[1];
  if (nonce === undefined) throw new Error('no nonce in the signature');
  return {
    message: { method: 'POST', url: `${origin}/orders`, headers: { host: 'api.example.com', ...sent.headers } },
    body: new TextEncoder().encode(kind === 'tampered' ? '{"q":2}' : body),
    keyId: key.keyId,
    nonce,
  };
}

function describeOutcome(outcome: AuthOutcome) {
  if (outcome.ok) return { ok: true, identity: outcome.identity, headers: outcome.headers };
  const { name, code, message } = outcome.error as { name: string; code?: string; message: string };
  return { ok: false, error: { name, code, message }, problem: outcome.problem };
}

async function run(sent: readonly Sent[], way: 'eager' | 'promises', now: number) {
  const nonces = memoryNonceStore({ now: () => now * 1000 });
  const limiter = memoryRateLimiter({ now: () => now * 1000 });
  const throttle = memoryFailureThrottle({ freeFailures: 1, maxFailures: 3, now: () => now * 1000 });
  const reports: unknown[] = [];
  const authenticator = createAuthenticator({
    keys: resolveKey,
    crypto: nodeCryptoProvider,
    now: () => now,
    nonceStore: nonces,
    rateLimiter: limiter,
    failureThrottle: throttle,
    defaultRateLimit: { limit: 100, windowSeconds: 60 },
    maxBodyBytes: 200,
    onFailure: (error, context) => reports.push({ code: (error as { code?: string }).code, context }),
  });
  const outcomes: unknown[] = [];
  let promises = 0;
  for (const request of sent) {
    const context = { sourceAddress: address, hasBody: true };
    let admission: Admission | AuthFailure;
    if (way === 'eager') {
      const admitted = authenticator.admitEagerly?.(request.message, context);
      if (admitted === undefined) throw new Error('createAuthenticator() has no admitEagerly');
      admission = await admitted;
    } else admission = await authenticator.admit(request.message, context);
    if (!admission.ok) {
      outcomes.push(['admit', describeOutcome(admission)]);
      continue;
    }
    let outcome: AuthOutcome | Promise<AuthOutcome>;
    if (way === 'eager') {
      if (admission.completeEagerly === undefined) throw new Error('no completeEagerly');
      outcome = admission.completeEagerly(request.body);
      if (isPromiseLike(outcome)) promises++;
    } else outcome = admission.complete(request.body);
    const settled = await outcome;
    if (!settled.ok && isPromiseLike(outcome)) promises--;
    outcomes.push(['complete', describeOutcome(settled)]);
  }
  const state = {
    noncesAbsent: sent.map((request) => nonces.checkAndStoreNow(request.keyId, request.nonce, 60)),
    remaining: [...new Set(sent.map((request) => request.keyId))].map((keyId) => {
      const rule = resolveKey(keyId)?.rateLimit ?? { limit: 100, windowSeconds: 60 };
      return limiter.hitNow(`key:${keyId}`, rule.limit, rule.windowSeconds).remaining;
    }),
    throttled: [
      throttle.blockedForOrUnrecordedNow(addressSubject(address)),
      ...sent.map((request) => throttle.blockedForOrUnrecordedNow(addressNameSubject(address, request.keyId))),
    ],
  };
  return { outcomes, reports, state, promises };
}

describe('review20: completeEagerly agrees with complete', () => {
  const kinds: Kind[] = ['genuine', 'replay', 'forged', 'unknown', 'limited', 'tampered', 'large'];

  it('same outcomes, reports and store state for random sequences; no promise for an accepted request', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 10 }), async (sequence) => {
        const now = Math.floor(Date.now() / 1000);
        const sent: Sent[] = [];
        for (const kind of sequence) {
          const previous = sent.at(-1);
          sent.push(kind === 'replay' && previous !== undefined ? previous : await signedRequest(kind, now));
        }
        const eager = await run(sent, 'eager', now);
        const promised = await run(sent, 'promises', now);
        const { promises, ...decided } = eager;
        const { promises: _ignored, ...decidedToo } = promised;
        expect(decided).toEqual(decidedToo);
        expect(promises).toBe(0);
      }),
      { numRuns: 40 },
    );
  });
});
