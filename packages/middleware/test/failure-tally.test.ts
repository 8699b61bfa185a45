import type { FailureThrottle, VerificationKey } from '@hmac-kit/core';
import { memoryFailureThrottle } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { FailureTally } from '../src/failure-tally.js';

// The per-process tally of failures the throttle's store has not recorded yet (src/failure-tally.ts):
// forged requests of one subject in flight together reach the MAC no more often than one at a time.
// With a synchronous MAC (node:crypto, what the server and the Node adapters use): nothing runs
// between the re-check and the tally of a failed MAC. (With WebCrypto the MACs of requests in flight
// together are computed together, before any of them failed: docs/limits.md.)

const origin = 'https://api.example.com';
const owner = keyRing.orders;

async function signedOrder(key: VerificationKey) {
  const request = await signed(
    origin,
    { method: 'POST', path: '/orders', headers: { 'content-type': 'application/json' }, body: '{"quantity":1}' },
    signingKey(key),
  );
  return {
    message: { method: request.method, url: `${origin}${request.path}`, headers: request.headers },
    body: new TextEncoder().encode(request.body as string),
  };
}

const forgery = (keyId = owner.keyId) =>
  signedOrder({ ...owner, keyId, secret: crypto.getRandomValues(new Uint8Array(32)) });

/**
 * The memory throttle behind an asynchronous channel (what `serve --workers` and Redis are): every
 * call is answered a macrotask later, and nothing synchronous is offered.
 */
function remote(throttle: FailureThrottle): FailureThrottle & { calls: string[] } {
  const calls: string[] = [];
  const later = <T>(name: string, run: () => Promise<T>): Promise<T> => {
    calls.push(name);
    return new Promise((resolve, reject) => setImmediate(() => run().then(resolve, reject)));
  };
  return {
    calls,
    freeFailures: throttle.freeFailures,
    blockedFor: (subject) => later('blockedFor', () => throttle.blockedFor(subject)),
    recordFailure: (subject) => later('recordFailure', () => throttle.recordFailure(subject)),
    recordSuccess: (subject) => later('recordSuccess', () => throttle.recordSuccess(subject)),
  };
}

/** Resolves keys a macrotask later (a key store read). */
const slowKeys = (keyId: string) =>
  new Promise<VerificationKey | undefined>((r) => setImmediate(() => r(resolveKey(keyId))));

async function statusesOf(
  authenticator: ReturnType<typeof createAuthenticator>,
  requests: Array<Awaited<ReturnType<typeof signedOrder>>>,
  sourceAddress: string,
) {
  const outcomes = await Promise.all(
    requests.map(({ message, body }) => authenticator.authenticate(message, body, { sourceAddress })),
  );
  return outcomes.map((outcome) => (outcome.ok ? 200 : outcome.problem.status));
}

const count = (statuses: number[], status: number) => statuses.filter((value) => value === status).length;

describe('FailureTally', () => {
  it('refuses a subject with `budget` unrecorded failures, reads only, and forgets them once recorded', () => {
    const tally = new FailureTally({ budget: 2, now: () => 1000 });
    expect(tally.refusal('s')).toBe(0);
    tally.add('s');
    expect(tally.refusal('s')).toBe(0);
    tally.add('s');
    expect(tally.refusal('s')).toBe(1);
    expect(tally.refusal('other')).toBe(0);
    tally.settle('s', 0);
    expect(tally.refusal('s')).toBe(0);
    tally.settle('s', 0);
    expect(tally.size).toBe(0);
  });

  it('keeps a block the store answered until it runs out, then forgets the subject', () => {
    let now = 1000;
    const tally = new FailureTally({ budget: 4, now: () => now });
    tally.add('s');
    tally.settle('s', 2);
    expect(tally.refusal('s')).toBe(2);
    now += 1500;
    expect(tally.refusal('s')).toBe(0.5);
    now += 500;
    expect(tally.refusal('s')).toBe(0);
    // Forgotten at the next failure of any subject (the sweep), or at the next settle of its own.
    tally.add('t');
    expect(tally.size).toBe(1);
    // A failed write (undefined) or a NaN answer keeps no block.
    tally.add('u');
    tally.settle('u', undefined);
    tally.add('v');
    tally.settle('v', Number.NaN);
    expect(tally.refusal('u') + tally.refusal('v')).toBe(0);
  });

  it('drops unrecorded failures that never settled after staleMs (a lost answer blocks no one for long)', () => {
    let now = 0;
    const tally = new FailureTally({ budget: 1, staleMs: 100, now: () => now });
    tally.add('s');
    expect(tally.refusal('s')).toBe(1);
    now = 100;
    expect(tally.refusal('s')).toBe(0);
    tally.add('s');
    expect(tally.refusal('s')).toBe(1);
  });

  it('holds at most maxSubjects, the least recently failing out first', () => {
    const tally = new FailureTally({ budget: 1, maxSubjects: 3, now: () => 0 });
    for (const subject of ['a', 'b', 'c', 'd']) tally.add(subject);
    expect(tally.size).toBe(3);
    expect(tally.refusal('a')).toBe(0);
    expect(tally.refusal('d')).toBe(1);
    tally.add('b');
    tally.add('e');
    expect([tally.refusal('b'), tally.refusal('c'), tally.refusal('e')]).toEqual([1, 0, 1]);
  });
});

describe('authenticator: failures of one subject in flight together (failure tally)', () => {
  for (const [name, keys] of [
    ['keys answered synchronously', resolveKey],
    ['keys answered a macrotask later', slowKeys],
  ] as const) {
    it(`an asynchronous throttle, ${name}: 40 forgeries at once reach the MAC freeFailures + 1 times, the rest 429`, async () => {
      const throttle = remote(memoryFailureThrottle());
      const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, keys, failureThrottle: throttle });
      const statuses = await statusesOf(
        authenticator,
        await Promise.all(Array.from({ length: 40 }, () => forgery())),
        '192.0.2.10',
      );
      expect(count(statuses, 401)).toBe(4);
      expect(count(statuses, 429)).toBe(36);
      // Then the store has them: a later one is refused at the gate.
      const [later] = await statusesOf(authenticator, [await forgery()], '192.0.2.10');
      expect(later).toBe(429);
    });

    it(`an asynchronous throttle, ${name}: an unknown key id is held to the same bound, with the same answers`, async () => {
      const throttle = remote(memoryFailureThrottle());
      const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, keys, failureThrottle: throttle });
      const requests = await Promise.all(Array.from({ length: 40 }, () => forgery('hk_test_unknown_id')));
      const statuses = await statusesOf(authenticator, requests, '192.0.2.11');
      expect(count(statuses, 401)).toBe(4);
      expect(count(statuses, 429)).toBe(36);
    });

    it(`an asynchronous throttle, ${name}: 64 valid requests of one subject at once all pass`, async () => {
      const throttle = remote(memoryFailureThrottle());
      const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, keys, failureThrottle: throttle });
      const requests = await Promise.all(Array.from({ length: 64 }, () => signedOrder(owner)));
      expect(await statusesOf(authenticator, requests, '192.0.2.12')).toEqual(Array(64).fill(200));
    });
  }

  it('the memory throttle with keys answered later: the same bound (its own state answers the re-check too)', async () => {
    const authenticator = createAuthenticator({
      crypto: nodeCryptoProvider,
      keys: slowKeys,
      failureThrottle: memoryFailureThrottle(),
    });
    const statuses = await statusesOf(
      authenticator,
      await Promise.all(Array.from({ length: 40 }, () => forgery())),
      '192.0.2.13',
    );
    expect(count(statuses, 401)).toBe(4);
  });

  it("the throttle's freeFailures sets the bound", async () => {
    const throttle = remote(memoryFailureThrottle({ freeFailures: 0, maxFailures: 2 }));
    const authenticator = createAuthenticator({
      crypto: nodeCryptoProvider,
      keys: resolveKey,
      failureThrottle: throttle,
    });
    const statuses = await statusesOf(
      authenticator,
      await Promise.all(Array.from({ length: 20 }, () => forgery())),
      '192.0.2.14',
    );
    expect(count(statuses, 401)).toBe(1);
  });

  it('a subject with free failures in flight: its valid requests at once still pass; other subjects are untouched', async () => {
    const throttle = remote(memoryFailureThrottle());
    const authenticator = createAuthenticator({
      crypto: nodeCryptoProvider,
      keys: resolveKey,
      failureThrottle: throttle,
    });
    const requests = [
      ...(await Promise.all(Array.from({ length: 3 }, () => forgery()))),
      ...(await Promise.all(Array.from({ length: 32 }, () => signedOrder(owner)))),
    ];
    const statuses = await statusesOf(authenticator, requests, '192.0.2.15');
    expect(statuses).toEqual([401, 401, 401, ...Array(32).fill(200)]);
    // Another address, during an attack from one: never refused.
    const attack = statusesOf(
      authenticator,
      await Promise.all(Array.from({ length: 20 }, () => forgery())),
      '192.0.2.16',
    );
    const genuine = statusesOf(
      authenticator,
      await Promise.all(Array.from({ length: 16 }, () => signedOrder(owner))),
      '192.0.2.17',
    );
    expect(await genuine).toEqual(Array(16).fill(200));
    expect(count(await attack, 401)).toBe(4);
  });

  it('fails closed when the store is unreachable, tallied failures or not', async () => {
    const down: FailureThrottle = {
      blockedFor: () => Promise.reject(new Error('connection refused')),
      recordFailure: () => Promise.reject(new Error('connection refused')),
      recordSuccess: () => Promise.reject(new Error('connection refused')),
    };
    const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, keys: resolveKey, failureThrottle: down });
    const statuses = await statusesOf(authenticator, [await forgery(), await signedOrder(owner)], '192.0.2.18');
    expect(statuses.every((status) => status >= 500)).toBe(true);
  });
});
