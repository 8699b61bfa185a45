/**
 * The synchronous way through the authenticator (memory stores with their `*Now` capabilities,
 * `authenticateEagerly`, a body in memory) must take the same decisions with the same side effects
 * as the promise way (the same stores with only their promise methods): the nonce recorded only
 * after proof, the rate limit charged only after proof, failures counted only on failure, blocked
 * sources refused before anything is verified or read. Every attack case runs through both ways,
 * each with its own identically configured stores and the same fixed clock; the outcomes, the
 * failure reports, the body reads and the stores' state afterwards are compared field by field.
 */
import type { FailureThrottle, MessageParts, NonceStore, RateLimiter, VerificationKey } from '@hmac-kit/core';
import { isPromiseLike, StoreUnavailable } from '@hmac-kit/core';
import {
  addressNameSubject,
  addressSubject,
  memoryFailureThrottle,
  memoryNonceStore,
  memoryRateLimiter,
} from '@hmac-kit/limits';
import type { AuthOutcome } from '@hmac-kit/middleware';
import { createAuthenticator, deferredBody } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';

const origin = 'https://api.example.com';
const encoder = new TextEncoder();
const address = '192.0.2.44';

interface Sent {
  message: MessageParts;
  body: Uint8Array;
  keyId: string;
  nonce: string;
}

async function signedRequest(
  options: { body?: string; signBody?: string; key?: VerificationKey; claimedKeyId?: string } = {},
): Promise<Sent> {
  const { body = '{"quantity":1}', key = keyRing.orders } = options;
  const signingAs = options.claimedKeyId === undefined ? key : { ...key, keyId: options.claimedKeyId };
  const sent = await signed(
    origin,
    { method: 'POST', path: '/orders?x=1', headers: { 'content-type': 'application/json' }, body },
    signingKey(signingAs),
    options.signBody ?? body,
  );
  const input = Object.entries(sent.headers).find(([name]) => name.toLowerCase() === 'signature-input')?.[1];
  const nonce = /nonce="([^"]+)"/.exec(input ?? '')?.[1];
  if (nonce === undefined) throw new Error('no nonce in the signature');
  return {
    message: { method: 'POST', url: `${origin}${sent.path}`, headers: { host: 'api.example.com', ...sent.headers } },
    body: encoder.encode(body),
    keyId: signingAs.keyId,
    nonce,
  };
}

/** The same store with only its promise methods: the middleware and the pipeline take the promise way. */
function promisesOnly<T extends object>(store: T, synchronous: readonly string[]): T {
  const copy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(store)) if (!synchronous.includes(name)) copy[name] = value;
  return copy as T;
}

type Way = 'synchronous' | 'promises';

interface Case {
  name: string;
  /** Requests sent in order to the same authenticator. */
  requests: () => Promise<Sent[]>;
}

const genuine = () => signedRequest();
const cases: Case[] = [
  { name: 'a genuine request', requests: async () => [await genuine()] },
  { name: 'a replay', requests: async () => [await genuine()].flatMap((request) => [request, request]) },
  {
    name: 'a wrong signature (tampered body), then the genuine request with the same nonce',
    requests: async () => {
      const request = await genuine();
      return [{ ...request, body: encoder.encode('{"quantity":9}') }, request];
    },
  },
  {
    name: 'a wrong secret',
    requests: async () => [await signedRequest({ key: { ...keyRing.orders, secret: new Uint8Array(32).fill(7) } })],
  },
  { name: 'an unknown key id', requests: async () => [await signedRequest({ claimedKeyId: 'hk_test_nobody' })] },
  {
    name: 'a rate-limited key (limit 2)',
    requests: async () => [
      await signedRequest({ key: keyRing.limited }),
      await signedRequest({ key: keyRing.limited }),
      await signedRequest({ key: keyRing.limited }),
    ],
  },
  {
    name: 'a source throttled after repeated bad signatures, then its genuine request',
    requests: async () => {
      const forged: Sent[] = [];
      for (let index = 0; index < 4; index++) {
        forged.push(await signedRequest({ key: { ...keyRing.orders, secret: new Uint8Array(32).fill(index) } }));
      }
      return [...forged, await genuine()];
    },
  },
];

async function run(testCase: Case, way: Way, deferred: boolean, now: number) {
  const nonces = memoryNonceStore({ now: () => now * 1000 });
  const limiter = memoryRateLimiter({ now: () => now * 1000 });
  const throttle = memoryFailureThrottle({ freeFailures: 1, maxFailures: 3, now: () => now * 1000 });
  const stores: { nonceStore: NonceStore; rateLimiter: RateLimiter; failureThrottle: FailureThrottle } =
    way === 'synchronous'
      ? { nonceStore: nonces, rateLimiter: limiter, failureThrottle: throttle }
      : {
          nonceStore: promisesOnly(nonces, ['checkAndStoreNow']),
          rateLimiter: promisesOnly(limiter, ['hitNow']),
          failureThrottle: promisesOnly(throttle, [
            'blockedForNow',
            'blockedForOrUnrecordedNow',
            'recordFailureNow',
            'recordSuccessNow',
          ]),
        };
  const reports: unknown[] = [];
  const authenticator = createAuthenticator({
    keys: resolveKey,
    // Synchronous primitives, as the Node adapters pass (the WebCrypto default answers with promises).
    crypto: nodeCryptoProvider,
    now: () => now,
    ...stores,
    defaultRateLimit: { limit: 100, windowSeconds: 60 },
    onFailure: (error, context) => reports.push({ code: (error as { code?: string }).code, context }),
  });
  const outcomes: unknown[] = [];
  let reads = 0;
  let synchronousAnswers = 0;
  const sent = await testCase.requests();
  for (const request of sent) {
    const body = deferred
      ? deferredBody(async () => {
          reads++;
          return request.body;
        })
      : request.body;
    const eager = authenticator.authenticateEagerly(request.message, body, { sourceAddress: address });
    if (!isPromiseLike(eager)) synchronousAnswers++;
    outcomes.push(describeOutcome(await eager));
  }
  // The stores afterwards, read through the synchronous capabilities of the memory stores underneath.
  const state = {
    // A nonce still absent from the store (true) was never recorded.
    noncesAbsent: sent.map((request) => nonces.checkAndStoreNow(request.keyId, request.nonce, 60)),
    // What one more hit leaves: the charges made so far.
    remaining: [...new Set(sent.map((request) => request.keyId))].map((keyId) => {
      const rule = resolveKey(keyId)?.rateLimit ?? { limit: 100, windowSeconds: 60 };
      return limiter.hitNow(`key:${keyId}`, rule.limit, rule.windowSeconds).remaining;
    }),
    throttled: [
      throttle.blockedForOrUnrecordedNow(addressSubject(address)),
      ...sent.map((request) => throttle.blockedForOrUnrecordedNow(addressNameSubject(address, request.keyId))),
    ],
  };
  return { outcomes, reports, reads, state, synchronousAnswers };
}

function describeOutcome(outcome: AuthOutcome) {
  if (outcome.ok) return { ok: true, identity: outcome.identity, headers: outcome.headers };
  const { name, code, message } = outcome.error as { name: string; code?: string; message: string };
  return { ok: false, error: { name, code, message }, problem: outcome.problem };
}

describe('the synchronous way agrees with the promise way', () => {
  const now = Math.floor(Date.now() / 1000);

  it.each(cases.map((testCase) => [testCase.name, testCase] as const))(
    '%s: same outcomes, reports, reads and store state (body in memory and deferred)',
    async (_name, testCase) => {
      for (const deferred of [false, true]) {
        const synchronous = await run(testCase, 'synchronous', deferred, now);
        const promises = await run(testCase, 'promises', deferred, now);
        const { synchronousAnswers, ...decided } = synchronous;
        const { synchronousAnswers: none, ...decidedToo } = promises;
        expect(decided, `deferred: ${deferred}`).toEqual(decidedToo);
        // The promise way never answers synchronously (with a nonce store, every request has a promise).
        expect(none).toBe(0);
        // The synchronous way answers every accepted request with a body in memory without a promise.
        const accepted = decided.outcomes.filter((outcome) => (outcome as { ok: boolean }).ok).length;
        expect(synchronousAnswers, `deferred: ${deferred}`).toBe(deferred ? 0 : accepted);
      }
    },
  );

  it('records what each attack must leave behind', async () => {
    const [replay, forged, unknown, limited, throttled] = await Promise.all(
      [cases[1]!, cases[2]!, cases[4]!, cases[5]!, cases[6]!].map((testCase) =>
        run(testCase, 'synchronous', false, now),
      ),
    );
    const codes = (result: { outcomes: unknown[] }) =>
      result.outcomes.map(
        (outcome) => (outcome as { ok: boolean; problem?: { body: { code: string } } }).problem?.body.code ?? 'ok',
      );
    // A replay: refused, the nonce recorded once, the rate limit charged once.
    expect(codes(replay!)).toEqual(['ok', 'nonce_replayed']);
    expect(replay!.state.remaining).toEqual([98]);
    // A forged body: refused, its nonce NOT recorded (the genuine request with it passes), no charge for it.
    expect(codes(forged!)).toEqual(['digest_mismatch', 'ok']);
    expect(forged!.state.noncesAbsent).toEqual([false, false]);
    expect(forged!.state.remaining).toEqual([98]);
    // An unknown key id answers as a wrong signature, and records nothing but the failure.
    expect(codes(unknown!)).toEqual(['signature_invalid']);
    expect(unknown!.state.noncesAbsent).toEqual([true]);
    expect(unknown!.state.throttled[0]).not.toBe(-1);
    // Rate limited: the third request is refused (429) after its nonce was recorded; nothing counts as a failure.
    expect(codes(limited!)).toEqual(['ok', 'ok', 'rate_limited']);
    expect(limited!.state.throttled[0]).toBe(-1);
    // Throttled: once blocked, the genuine request is refused before anything is verified or recorded.
    expect(codes(throttled!).slice(-1)).toEqual(['too_many_failures']);
    expect(throttled!.state.noncesAbsent.slice(-1)).toEqual([true]);
    expect(throttled!.state.remaining).toEqual([99]);
  });

  it('never reads the deferred body of a blocked source, either way', async () => {
    for (const way of ['synchronous', 'promises'] as const) {
      const result = await run(cases[6]!, way, true, now);
      // The forged requests' bodies are read (they pass the gate until the block starts); the blocked ones are not.
      expect(result.reads, way).toBeLessThan(5);
    }
  });

  it('fails closed (503) when a synchronous capability throws, as when the promise rejects', async () => {
    const broken = (): never => {
      throw new StoreUnavailable('store down');
    };
    // recordSuccessNow is only called when something is recorded for the pair: record a failure first.
    const recorded = { ...memoryFailureThrottle(), recordSuccessNow: broken };
    recorded.recordFailureNow(addressNameSubject(address, keyRing.orders.keyId));
    for (const store of [
      { nonceStore: { ...memoryNonceStore(), checkAndStoreNow: broken } },
      { rateLimiter: { ...memoryRateLimiter(), hitNow: broken }, defaultRateLimit: { limit: 5, windowSeconds: 60 } },
      { failureThrottle: { ...memoryFailureThrottle(), blockedForNow: broken, blockedForOrUnrecordedNow: broken } },
      { failureThrottle: recorded },
    ]) {
      const authenticator = createAuthenticator({
        keys: resolveKey,
        crypto: nodeCryptoProvider,
        ...store,
        onFailure: () => {},
      });
      const request = await genuine();
      const outcome = await authenticator.authenticateEagerly(request.message, request.body, {
        sourceAddress: address,
      });
      expect(outcome.ok || outcome.problem.status, Object.keys(store).join()).toBe(503);
    }
  });
});
