/**
 * `admitEagerly()` and its admissions' `commitBeforeBodyEagerly()` / `finishEagerly()` (what
 * forward-auth runs, issue #15) are `admit()`, `commitBeforeBody()` and `finish()` without the
 * promises: the same stages in the same order, the same decisions and side effects. A property over
 * random sequences of requests (genuine, replayed, forged, unknown key id, rate limited, a throttled
 * source, with and without a body), each sequence sent through two authenticators with identical
 * fresh memory stores and one fixed clock, one taking each way: the outcomes, the failure reports
 * and the stores' state afterwards must be equal, and with the memory stores the eager way must
 * answer every step of an accepted request without a promise.
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
const address = '192.0.2.45';

interface Sent {
  message: MessageParts;
  hasBody: boolean;
  /** The body sent (what `complete()` is given): the signed one, or another for 'tampered'. */
  body: Uint8Array;
  keyId: string;
  nonce: string;
}

type Kind = 'genuine' | 'replay' | 'forged' | 'unknown' | 'limited' | 'bodiless' | 'tampered';

/** A request of `kind` signed at `created` (Unix seconds): the test's own clock, not the moment it ran. */
async function signedRequest(kind: Kind, created: number): Promise<Sent> {
  const key: VerificationKey =
    kind === 'forged'
      ? { ...keyRing.orders, secret: new Uint8Array(32).fill(9) }
      : kind === 'unknown'
        ? { ...keyRing.orders, keyId: 'hk_test_nobody' }
        : kind === 'limited'
          ? keyRing.limited
          : keyRing.orders;
  const hasBody = kind !== 'bodiless';
  const sent = await signed(
    origin,
    hasBody
      ? { method: 'POST', path: '/orders?x=1', headers: { 'content-type': 'application/json' }, body: '{"q":1}' }
      : { method: 'GET', path: '/orders?x=1', headers: {} },
    signingKey(key),
    undefined,
    { now: () => created },
  );
  const input = Object.entries(sent.headers).find(([name]) => name.toLowerCase() === 'signature-input')?.[1];
  const nonce = /nonce="([^"]+)"/.exec(input ?? '')?.[1];
  if (nonce === undefined) throw new Error('no nonce in the signature');
  return {
    message: {
      method: sent.method,
      url: `${origin}${sent.path}`,
      headers: { host: 'api.example.com', ...sent.headers },
    },
    hasBody,
    body: new TextEncoder().encode(hasBody ? (kind === 'tampered' ? '{"q":2}' : '{"q":1}') : ''),
    keyId: key.keyId,
    nonce,
  };
}

type Way = 'eager' | 'promises';
/** What follows a bodied request's admission: the early commit (forward-auth), or the whole body (the gateway, session 20). */
type BodyStep = 'commitBeforeBody' | 'complete';

async function run(sent: readonly Sent[], way: Way, now: number, bodyStep: BodyStep = 'commitBeforeBody') {
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
    onFailure: (error, context) => reports.push({ code: (error as { code?: string }).code, context }),
  });
  const outcomes: Array<[string, unknown]> = [];
  let promises = 0;
  for (const request of sent) {
    const context = { sourceAddress: address, hasBody: request.hasBody };
    let admission: Admission | AuthFailure;
    let steps = 0;
    if (way === 'eager') {
      const admitted = authenticator.admitEagerly?.(request.message, context);
      if (admitted === undefined) throw new Error('createAuthenticator() has no admitEagerly');
      if (isPromiseLike(admitted)) steps++;
      admission = await admitted;
    } else admission = await authenticator.admit(request.message, context);
    if (!admission.ok) {
      outcomes.push(['admit', describeOutcome(admission)]);
      continue;
    }
    let outcome: AuthOutcome | Promise<AuthOutcome>;
    const step = !admission.checksBody ? 'finish' : bodyStep;
    if (step === 'commitBeforeBody') {
      outcome = way === 'eager' ? (admission.commitBeforeBodyEagerly?.() as never) : admission.commitBeforeBody();
    } else if (step === 'complete') {
      outcome =
        way === 'eager' ? (admission.completeEagerly?.(request.body) as never) : admission.complete(request.body);
    } else outcome = way === 'eager' ? (admission.finishEagerly?.() as never) : admission.finish();
    if (way === 'eager' && isPromiseLike(outcome)) steps++;
    const settled = await outcome;
    // A refusal is recorded by the core's async failure path (a promise either way, for an unknown
    // key id as for a forged signature); an accepted request needs none.
    if (settled.ok) promises += steps;
    outcomes.push([step, describeOutcome(settled)]);
  }
  const state = {
    // A nonce still absent from the store (true) was never recorded.
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

function describeOutcome(outcome: AuthOutcome) {
  if (outcome.ok) return { ok: true, identity: outcome.identity, headers: outcome.headers };
  const { name, code, message } = outcome.error as { name: string; code?: string; message: string };
  return { ok: false, error: { name, code, message }, problem: outcome.problem };
}

/**
 * The one clock of a case: its requests are signed at it and verified at it. (The verifiers' clock
 * was read after signing: a second that ended between the two made every signature older than the
 * memory nonce store's epoch, its creation, and refused signature_expired: failed at load 25.)
 */
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('admitEagerly agrees with admit', () => {
  const kinds: Kind[] = ['genuine', 'replay', 'forged', 'unknown', 'limited', 'bodiless', 'tampered'];

  it('same outcomes, reports and store state for random request sequences; no promise for an accepted request', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 12 }), async (sequence) => {
        await agree(sequence, 'commitBeforeBody');
      }),
      { numRuns: 60 },
    );
  });

  it('the same with the whole body: completeEagerly() agrees with complete() (the gateway, session 20)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 12 }), async (sequence) => {
        await agree(sequence, 'complete');
      }),
      { numRuns: 60 },
    );
  });

  it('completeEagerly() refuses a tampered body as complete() does, and records nothing for it', async () => {
    const now = nowSeconds();
    const tampered = await signedRequest('tampered', now);
    const genuine = await signedRequest('genuine', now);
    const result = await run([tampered, genuine], 'eager', now, 'complete');
    const codes = result.outcomes.map(
      ([, outcome]) => (outcome as { problem?: { body: { code: string } } }).problem?.body.code ?? 'ok',
    );
    expect(codes).toEqual(['digest_mismatch', 'ok']);
    expect(result.state.noncesAbsent).toEqual([true, false]);
  });

  async function agree(sequence: readonly Kind[], bodyStep: BodyStep): Promise<void> {
    const now = nowSeconds();
    const sent: Sent[] = [];
    for (const kind of sequence) {
      // A replay resends the previous request (or, first in line, is a genuine request).
      const previous = sent.at(-1);
      sent.push(kind === 'replay' && previous !== undefined ? previous : await signedRequest(kind, now));
    }
    const eager = await run(sent, 'eager', now, bodyStep);
    const promised = await run(sent, 'promises', now, bodyStep);
    const { promises, ...decided } = eager;
    const { promises: _ignored, ...decidedToo } = promised;
    expect(decided).toEqual(decidedToo);
    expect(promises).toBe(0);
  }

  it('covers what forward-auth relies on: a replay and a forged request leave no nonce, charge or success behind', async () => {
    const now = nowSeconds();
    const genuine = await signedRequest('genuine', now);
    const forged = await signedRequest('forged', now);
    const result = await run([genuine, genuine, forged], 'eager', now);
    const codes = result.outcomes.map(
      ([, outcome]) => (outcome as { problem?: { body: { code: string } } }).problem?.body.code ?? 'ok',
    );
    expect(codes).toEqual(['ok', 'nonce_replayed', 'signature_invalid']);
    // The forged request's nonce was never recorded; the key was charged once.
    expect(result.state.noncesAbsent).toEqual([false, false, true]);
    expect(result.state.remaining[0]).toBe(98);
  });

  it('is left out by a wrapper, and admit() still answers with a promise', async () => {
    const authenticator = createAuthenticator({ keys: resolveKey, crypto: nodeCryptoProvider, onFailure: () => {} });
    const { admitEagerly: _left, ...wrapped } = authenticator;
    expect('admitEagerly' in wrapped).toBe(false);
    const request = await signedRequest('genuine', nowSeconds());
    const admitted = authenticator.admit(request.message, { sourceAddress: address, hasBody: true });
    expect(isPromiseLike(admitted)).toBe(true);
    const admission = await admitted;
    expect(admission.ok).toBe(true);
    if (admission.ok) expect(isPromiseLike(admission.commitBeforeBody())).toBe(true);
  });
});
