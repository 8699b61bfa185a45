import type { FailureThrottle, VerificationKey } from '@hmac-kit/core';
import { memoryFailureThrottle } from '@hmac-kit/limits';
import { createAuthenticator } from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import { describe, expect, it, vi } from 'vitest';
import { keyRing, resolveKey, signed, signingKey } from '../../../test-support/adapter-suite.js';
import { createFailureTally } from '../src/failure-tally.js';

// The per-process tally of failures the throttle's store has not recorded yet (src/failure-tally.ts):
// forged requests of one subject in flight together reach the MAC no more often than one at a time.
// (The tally is the throttle's escalation over this process's proven failures: src/failure-tally.ts.)
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
function remote(throttle: FailureThrottle): FailureThrottle & { calls: string[]; settled: number } {
  const calls: string[] = [];
  const state = { settled: 0 };
  const later = <T>(name: string, run: () => Promise<T>): Promise<T> => {
    calls.push(name);
    return new Promise((resolve, reject) =>
      setImmediate(() =>
        run().then((value) => {
          if (name === 'recordFailure') state.settled++;
          resolve(value);
        }, reject),
      ),
    );
  };
  return {
    calls,
    get settled() {
      return state.settled;
    },
    escalation: throttle.escalation,
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

describe('createFailureTally', () => {
  it("applies the throttle's own escalation, or the defaults when it does not say", () => {
    const strict = createFailureTally(memoryFailureThrottle({ freeFailures: 0, maxFailures: 2, slowdownSeconds: 5 }));
    expect(strict.recordFailureNow('s')).toBe(5);
    const unsaid = createFailureTally({ ...remote(memoryFailureThrottle()), escalation: undefined });
    expect([1, 2, 3].map(() => unsaid.recordFailureNow('s'))).toEqual([0, 0, 0]);
    expect(unsaid.recordFailureNow('s')).toBe(1);
    // An escalation the memory throttle refuses: the defaults, not a TypeError at construction.
    const odd = createFailureTally({
      ...remote(memoryFailureThrottle()),
      escalation: { maxFailures: 1, freeFailures: 5, windowSeconds: 1, blockSeconds: 1, slowdownSeconds: 1 },
    });
    expect(odd.recordFailureNow('s')).toBe(0);
  });

  it("reads the memory throttle's own clock (its `now` option), never Date.now", () => {
    let clock = 1_000_000;
    const now = vi.fn(() => clock);
    const throttle = memoryFailureThrottle({ freeFailures: 0, maxFailures: 2, slowdownSeconds: 5, now });
    const tally = createFailureTally(throttle);
    expect(tally.recordFailureNow('s')).toBe(5);
    expect(now).toHaveBeenCalled();
    // The fake clock moves on; the real one did not: the slowdown is over for the tally as for the store.
    clock += 5_000;
    expect(tally.blockedForNow('s')).toBe(0);
    // And the other way: the fake clock stands still while real time passes: still blocked.
    tally.recordFailureNow('t');
    const realNow = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 3_600_000);
    try {
      expect(tally.blockedForNow('t')).toBe(5);
    } finally {
      realNow.mockRestore();
    }
  });

  it('holds at most maxSubjects, the least recently failing out first', () => {
    const tally = createFailureTally(memoryFailureThrottle({ freeFailures: 0 }), 3);
    for (const subject of ['a', 'b', 'c', 'd']) tally.recordFailureNow(subject);
    expect(tally.blockedForNow('a')).toBe(0);
    expect(tally.blockedForNow('d')).toBeGreaterThan(0);
    tally.recordFailureNow('b');
    tally.recordFailureNow('e');
    expect([tally.blockedForNow('b'), tally.blockedForNow('c'), tally.blockedForNow('e')].map((s) => s > 0)).toEqual([
      true,
      false,
      true,
    ]);
  });
});

describe("authenticator: the failure tally keeps the throttle's clock", () => {
  it("a block that ran out on the throttle's fake clock refuses no valid request: the store and the tally agree", async () => {
    let clock = 1_700_000_000_000;
    const throttle = memoryFailureThrottle({ freeFailures: 1, maxFailures: 2, blockSeconds: 60, now: () => clock });
    const authenticator = createAuthenticator({
      crypto: nodeCryptoProvider,
      keys: resolveKey,
      failureThrottle: throttle,
    });
    const address = '192.0.2.40';
    // One after the other: the first is free, the second blocks for 60 s.
    for (let attempt = 0; attempt < 2; attempt++) {
      expect(await statusesOf(authenticator, [await forgery()], address)).toEqual([401]);
    }
    // Blocked, by the store (gate) and by the tally alike.
    expect(await statusesOf(authenticator, [await signedOrder(owner)], address)).toEqual([429]);
    // The throttle's clock passes the block and the window; the process's clock does not move.
    clock += 120_000;
    expect(await throttle.blockedFor('addr:192.0.2.40')).toBe(0);
    expect(await statusesOf(authenticator, [await signedOrder(owner)], address)).toEqual([200]);
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

  it('a gate read answered before free failures were recorded, a re-check after: still the bound', async () => {
    // Every key lookup waits for the test: all 20 forgeries pass the gate on a clean record; 3 of
    // them then fail and are recorded in the store; only then do the other 17 reach the re-check.
    // (A tally forgotten once the store has a failure let 4 more through here: 7.)
    const inner = memoryFailureThrottle();
    const throttle = remote(inner);
    const held: Array<() => void> = [];
    const heldKeys = (keyId: string) =>
      new Promise<VerificationKey | undefined>((resolve) => held.push(() => resolve(resolveKey(keyId))));
    const authenticator = createAuthenticator({
      crypto: nodeCryptoProvider,
      keys: heldKeys,
      failureThrottle: throttle,
    });
    const requests = await Promise.all(Array.from({ length: 20 }, () => forgery()));
    const outcomes = requests.map(({ message, body }) =>
      authenticator.authenticate(message, body, { sourceAddress: '192.0.2.19' }),
    );
    await vi.waitFor(() => expect(held).toHaveLength(20));
    for (const release of held.slice(0, 3)) release();
    await vi.waitFor(() => expect(throttle.settled).toBe(6));
    expect(await inner.blockedForOrUnrecorded('addr:192.0.2.19')).toBe(0);
    for (const release of held.slice(3)) release();
    const statuses = (await Promise.all(outcomes)).map((outcome) => (outcome.ok ? 200 : outcome.problem.status));
    expect(count(statuses, 401)).toBe(4);
    expect(count(statuses, 429)).toBe(16);
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
