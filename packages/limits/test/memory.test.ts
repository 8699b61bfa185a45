import type { NonceStore } from '@hmac-kit/core';
import { StoreUnavailable } from '@hmac-kit/core';
import type { MemoryFailureThrottle, MemoryNonceStore, ProbingFailureThrottle } from '@hmac-kit/limits';
import { memoryFailureThrottle, memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';
import { describeFailureThrottleConformance } from '../../../test-support/conformance/failure-throttle.js';
import { describeNonceStoreConformance } from '../../../test-support/conformance/nonce-store.js';
import { describeRateLimiterConformance } from '../../../test-support/conformance/rate-limiter.js';

// A process restart: the new process's store is empty and its epoch is its own start.
describeNonceStoreConformance('memory', {
  create: () => memoryNonceStore(),
  createWithClock: (now) => memoryNonceStore({ now }),
  afterLoss: async () => memoryNonceStore(),
});
describeRateLimiterConformance('memory', {
  create: () => memoryRateLimiter(),
  createWithClock: (now) => memoryRateLimiter({ now }),
});
describeFailureThrottleConformance('memory', {
  create: (options) => memoryFailureThrottle(options),
  createWithClock: (options, now) => memoryFailureThrottle({ ...options, now }),
});

// The synchronous capabilities (`checkAndStoreNow`, `hitNow`, `*Now` of the throttle) pass the same
// conformance suites: each async method below is answered by the synchronous one alone.
function settle<T>(answer: () => T): Promise<T> {
  try {
    return Promise.resolve(answer());
  } catch (error) {
    return Promise.reject(error);
  }
}
function nonceStoreThroughNow(store: MemoryNonceStore): NonceStore {
  return {
    epoch: store.epoch,
    release: store.release,
    checkAndStore: (keyId, nonce, ttl, epoch) => settle(() => store.checkAndStoreNow(keyId, nonce, ttl, epoch)),
  };
}
function throttleThroughNow(throttle: MemoryFailureThrottle): ProbingFailureThrottle {
  return {
    blockedFor: (subject) => settle(() => throttle.blockedForNow(subject)),
    blockedForOrUnrecorded: (subject) => settle(() => throttle.blockedForOrUnrecordedNow(subject)),
    recordFailure: (subject) => settle(() => throttle.recordFailureNow(subject)),
    recordSuccess: (subject) => settle(() => throttle.recordSuccessNow(subject)),
  };
}
describeNonceStoreConformance('memory, through checkAndStoreNow', {
  create: () => nonceStoreThroughNow(memoryNonceStore()),
  createWithClock: (now) => nonceStoreThroughNow(memoryNonceStore({ now })),
  afterLoss: async () => nonceStoreThroughNow(memoryNonceStore()),
});
describeRateLimiterConformance('memory, through hitNow', {
  create: () => {
    const limiter = memoryRateLimiter();
    return { hit: (key, limit, windowSeconds) => settle(() => limiter.hitNow(key, limit, windowSeconds)) };
  },
  createWithClock: (now) => {
    const limiter = memoryRateLimiter({ now });
    return { hit: (key, limit, windowSeconds) => settle(() => limiter.hitNow(key, limit, windowSeconds)) };
  },
});
describeFailureThrottleConformance('memory, through the *Now methods', {
  create: (options) => throttleThroughNow(memoryFailureThrottle(options)),
  createWithClock: (options, now) => throttleThroughNow(memoryFailureThrottle({ ...options, now })),
});

describe('synchronous capabilities of the memory stores', () => {
  it('share state with the promise methods and throw what those reject with', async () => {
    const store = memoryNonceStore();
    expect(store.checkAndStoreNow('k', 'n1', 60)).toBe(true);
    expect(await store.checkAndStore('k', 'n1', 60)).toBe(false);
    expect(await store.checkAndStore('k', 'n2', 60)).toBe(true);
    expect(store.checkAndStoreNow('k', 'n2', 60)).toBe(false);
    expect(() => store.checkAndStoreNow('k', 'n3', 60, (store.epoch!() as number) - 1)).toThrow(StoreUnavailable);
    await expect(store.checkAndStore('k', 'n3', 60, (store.epoch!() as number) - 1)).rejects.toBeInstanceOf(
      StoreUnavailable,
    );
    expect(() => store.checkAndStoreNow(5 as unknown as string, 'n', 60)).toThrow(TypeError);

    const limiter = memoryRateLimiter();
    expect(limiter.hitNow('k', 2, 60).allowed).toBe(true);
    expect((await limiter.hit('k', 2, 60)).allowed).toBe(true);
    expect(limiter.hitNow('k', 2, 60)).toMatchObject({ allowed: false, remaining: 0 });
    expect(() => limiter.hitNow('k', 0, 60)).toThrow(TypeError);

    // A still clock: the two reads of a block below happen at different real milliseconds.
    const throttle = memoryFailureThrottle({ freeFailures: 0, maxFailures: 5, now: () => 1_700_000_000_000 });
    expect(throttle.blockedForOrUnrecordedNow('s')).toBe(-1);
    expect(throttle.recordFailureNow('s')).toBeGreaterThan(0);
    expect(await throttle.blockedFor('s')).toBe(throttle.blockedForNow('s'));
    throttle.recordSuccessNow('s');
    expect(await throttle.blockedForOrUnrecorded('s')).toBe(-1);
    expect(() => throttle.blockedForNow('')).toThrow(TypeError);
  });
});

/** A clock the test moves by hand, in milliseconds. */
function manualClock(start = 1_700_000_000_000) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

describe('memoryNonceStore bounds', () => {
  it('fails closed when full of unexpired nonces instead of forgetting one', async () => {
    const clock = manualClock();
    const store = memoryNonceStore({ maxEntries: 3, now: clock.now });
    for (const nonce of ['a', 'b', 'c']) expect(await store.checkAndStore('k', nonce, 60)).toBe(true);
    await expect(store.checkAndStore('k', 'd', 60)).rejects.toBeInstanceOf(StoreUnavailable);
    // Nothing was evicted to make room: the stored nonces are still refused as replays.
    for (const nonce of ['a', 'b', 'c']) expect(await store.checkAndStore('k', nonce, 60)).toBe(false);
  });

  it('makes room by dropping expired nonces, whatever their insertion order', async () => {
    const clock = manualClock();
    const store = memoryNonceStore({ maxEntries: 3, now: clock.now });
    expect(await store.checkAndStore('k', 'long', 120)).toBe(true);
    expect(await store.checkAndStore('k', 'short-1', 10)).toBe(true);
    expect(await store.checkAndStore('k', 'short-2', 20)).toBe(true);
    clock.advance(15_000);
    expect(await store.checkAndStore('k', 'new-1', 60)).toBe(true);
    await expect(store.checkAndStore('k', 'new-2', 60)).rejects.toBeInstanceOf(StoreUnavailable);
    clock.advance(5_000);
    expect(await store.checkAndStore('k', 'new-2', 60)).toBe(true);
    // The unexpired entry inserted first survived both rounds of eviction.
    expect(await store.checkAndStore('k', 'long', 60)).toBe(false);
  });

  it('treats a nonce as expired exactly at the end of its time to live', async () => {
    const clock = manualClock();
    const store = memoryNonceStore({ now: clock.now });
    expect(await store.checkAndStore('k', 'n', 5)).toBe(true);
    clock.advance(4_999);
    expect(await store.checkAndStore('k', 'n', 5)).toBe(false);
    clock.advance(1);
    expect(await store.checkAndStore('k', 'n', 5)).toBe(true);
  });

  it('refuses bad options with TypeError', () => {
    expect(() => memoryNonceStore({ maxEntries: 0 })).toThrow(TypeError);
    expect(() => memoryNonceStore({ maxEntries: 1.5 })).toThrow(TypeError);
    expect(() => memoryNonceStore({ now: 5 as unknown as () => number })).toThrow(TypeError);
  });
});

describe('memoryRateLimiter with a manual clock', () => {
  it('refills one request per window / limit (GCRA)', async () => {
    const clock = manualClock();
    const limiter = memoryRateLimiter({ now: clock.now });
    for (let index = 0; index < 10; index++) expect((await limiter.hit('k', 10, 60)).allowed).toBe(true);
    const refused = await limiter.hit('k', 10, 60);
    expect(refused).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 6, resetSeconds: 60 });
    clock.advance(5_999);
    expect((await limiter.hit('k', 10, 60)).allowed).toBe(false);
    clock.advance(1);
    expect(await limiter.hit('k', 10, 60)).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 60 });
    clock.advance(60_000);
    expect(await limiter.hit('k', 10, 60)).toMatchObject({ allowed: true, remaining: 9, resetSeconds: 6 });
  });

  it('never lets a burst at a window boundary exceed the limit', async () => {
    const clock = manualClock();
    const limiter = memoryRateLimiter({ now: clock.now });
    let allowed = 0;
    // 100 requests spread over 2 s around any boundary: at most limit plus what refills in 2 s.
    for (let index = 0; index < 100; index++) {
      if ((await limiter.hit('k', 10, 60)).allowed) allowed++;
      clock.advance(20);
    }
    expect(allowed).toBe(10);
  });

  it('forgets the least recently used key beyond maxKeys, and only that', async () => {
    const clock = manualClock();
    const limiter = memoryRateLimiter({ maxKeys: 2, now: clock.now });
    await limiter.hit('a', 1, 60);
    await limiter.hit('b', 1, 60);
    await limiter.hit('a', 1, 60);
    await limiter.hit('c', 1, 60);
    expect((await limiter.hit('a', 1, 60)).allowed).toBe(false);
    expect((await limiter.hit('b', 1, 60)).allowed).toBe(true);
  });
});

describe('memoryFailureThrottle with a manual clock', () => {
  it('doubles the slowdown, caps it at the block, and drains failures at maxFailures per window', async () => {
    const clock = manualClock();
    const throttle = memoryFailureThrottle({
      maxFailures: 10,
      windowSeconds: 60,
      freeFailures: 3,
      slowdownSeconds: 1,
      blockSeconds: 300,
      now: clock.now,
    });
    const results = [];
    for (let failure = 1; failure <= 10; failure++) results.push(await throttle.recordFailure('s'));
    expect(results).toEqual([0, 0, 0, 1, 2, 4, 8, 16, 32, 300]);
    clock.advance(299_000);
    expect(await throttle.blockedFor('s')).toBe(1);
    clock.advance(1_000);
    expect(await throttle.blockedFor('s')).toBe(0);
    // 300 s drained 50 failures' worth: the subject starts over.
    expect(await throttle.recordFailure('s')).toBe(0);
  });

  it('forgets spent subjects and bounds the number tracked', async () => {
    const clock = manualClock();
    const throttle = memoryFailureThrottle({ maxSubjects: 2, freeFailures: 0, now: clock.now });
    expect(await throttle.recordFailure('a')).toBe(1);
    expect(await throttle.recordFailure('b')).toBe(1);
    expect(await throttle.recordFailure('c')).toBe(1);
    expect(await throttle.blockedFor('a')).toBe(0);
    expect(await throttle.blockedFor('c')).toBe(1);
  });
});
