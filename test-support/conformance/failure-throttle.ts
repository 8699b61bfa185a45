import { randomUUID } from 'node:crypto';
import type { FailureThrottle } from '@hmac-kit/core';
import type { FailureThrottleOptions } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';
import { sleep } from '../services.js';

/** How a backend under test is built. */
export interface FailureThrottleHarness {
  create(options: FailureThrottleOptions): FailureThrottle | Promise<FailureThrottle>;
  /** Another instance sharing the same state, when the backend is shared. */
  createSecondInstance?(options: FailureThrottleOptions): FailureThrottle | Promise<FailureThrottle>;
  /** A fresh instance reading the time (ms, like `Date.now`) from `now`, when the backend's clock is injectable. */
  createWithClock?(options: FailureThrottleOptions, now: () => number): FailureThrottle | Promise<FailureThrottle>;
}

const unique = (label: string) => `${label}:${randomUUID()}`;

/** The behaviour every {@link FailureThrottle} must have. */
export function describeFailureThrottleConformance(name: string, harness: FailureThrottleHarness): void {
  describe(`FailureThrottle conformance: ${name}`, () => {
    const escalating: FailureThrottleOptions = {
      maxFailures: 6,
      windowSeconds: 60,
      freeFailures: 2,
      slowdownSeconds: 1,
      blockSeconds: 300,
    };

    it('says how it escalates, when it says so (the middleware applies it to the failures it proves)', async () => {
      const throttle = await harness.create(escalating);
      if (throttle.escalation !== undefined) expect({ ...throttle.escalation }).toEqual(escalating);
      // And escalates so: freeFailures without a delay, then the first slowdown.
      const subject = unique('addr');
      for (let failure = 0; failure < (throttle.escalation?.freeFailures ?? 2); failure++) {
        expect(await throttle.recordFailure(subject)).toBe(0);
      }
      expect(await throttle.recordFailure(subject)).toBeGreaterThan(0);
    });

    it('lets an unknown subject through', async () => {
      const throttle = await harness.create(escalating);
      expect(await throttle.blockedFor(unique('addr'))).toBe(0);
    });

    it('tolerates a few failures, then slows down with growing delays, then blocks', async () => {
      const throttle = await harness.create(escalating);
      const subject = unique('addr');
      expect(await throttle.recordFailure(subject)).toBe(0);
      expect(await throttle.recordFailure(subject)).toBe(0);
      expect(await throttle.blockedFor(subject)).toBe(0);

      const delays = [];
      for (let failure = 3; failure < 6; failure++) delays.push(await throttle.recordFailure(subject));
      expect(delays[0]).toBeGreaterThan(0);
      expect(delays[0]).toBeLessThanOrEqual(1);
      expect(delays[1]).toBeGreaterThan(delays[0]!);
      expect(delays[2]).toBeGreaterThan(delays[1]!);
      expect(delays[2]).toBeLessThanOrEqual(4);
      const blockedDuringSlowdown = await throttle.blockedFor(subject);
      expect(blockedDuringSlowdown).toBeGreaterThan(0);
      expect(blockedDuringSlowdown).toBeLessThanOrEqual(delays[2]!);

      const block = await throttle.recordFailure(subject);
      expect(block).toBeGreaterThan(200);
      expect(block).toBeLessThanOrEqual(300);
      const remaining = await throttle.blockedFor(subject);
      expect(remaining).toBeGreaterThan(200);
      expect(remaining).toBeLessThanOrEqual(block);
    });

    it('clears a subject on success', async () => {
      const throttle = await harness.create(escalating);
      const subject = unique('key');
      for (let failure = 0; failure < 6; failure++) await throttle.recordFailure(subject);
      expect(await throttle.blockedFor(subject)).toBeGreaterThan(0);
      await throttle.recordSuccess(subject);
      expect(await throttle.blockedFor(subject)).toBe(0);
      expect(await throttle.recordFailure(subject)).toBe(0);
    });

    it('blockedForOrUnrecorded(): -1 while nothing is recorded, else what blockedFor answers', async () => {
      const throttle = (await harness.create(escalating)) as FailureThrottle & {
        blockedForOrUnrecorded?: (subject: string) => Promise<number>;
      };
      if (typeof throttle.blockedForOrUnrecorded !== 'function') return;
      const subject = unique('key');
      expect(await throttle.blockedForOrUnrecorded(subject)).toBe(-1);
      expect(await throttle.blockedFor(subject)).toBe(0);
      // Recorded but not yet slowed down: 0, not -1 (a success has something to clear).
      await throttle.recordFailure(subject);
      expect(await throttle.blockedForOrUnrecorded(subject)).toBe(0);
      for (let failure = 1; failure < 6; failure++) await throttle.recordFailure(subject);
      const blocked = await throttle.blockedFor(subject);
      const probed = await throttle.blockedForOrUnrecorded(subject);
      expect(probed).toBeGreaterThan(200);
      expect(Math.abs(probed - blocked)).toBeLessThan(1);
      await throttle.recordSuccess(subject);
      expect(await throttle.blockedForOrUnrecorded(subject)).toBe(-1);
      await expect(throttle.blockedForOrUnrecorded('')).rejects.toThrow(TypeError);
      await expect(throttle.blockedFor('')).rejects.toThrow(TypeError);
      await expect(throttle.recordSuccess('')).rejects.toThrow(TypeError);
    });

    it('keeps subjects independent', async () => {
      const throttle = await harness.create(escalating);
      const noisy = unique('addr');
      const quiet = unique('addr');
      for (let failure = 0; failure < 6; failure++) await throttle.recordFailure(noisy);
      expect(await throttle.blockedFor(noisy)).toBeGreaterThan(0);
      expect(await throttle.blockedFor(quiet)).toBe(0);
      expect(await throttle.recordFailure(quiet)).toBe(0);
    });

    it('lifts a block once it has run out, and re-blocks a subject that keeps failing', async () => {
      const options: FailureThrottleOptions = {
        maxFailures: 3,
        freeFailures: 1,
        windowSeconds: 60,
        slowdownSeconds: 0.05,
        blockSeconds: 1,
      };
      const subject = unique('addr');
      if (harness.createWithClock) {
        // A clock the test moves: the block's end is exact, whatever the machine's load.
        let time = 1_700_000_000_000;
        const throttle = await harness.createWithClock(options, () => time);
        expect(await throttle.recordFailure(subject)).toBe(0);
        expect(await throttle.recordFailure(subject)).toBeGreaterThan(0);
        expect(await throttle.recordFailure(subject)).toBe(1);
        time += 999;
        expect(await throttle.blockedFor(subject)).toBeGreaterThan(0);
        time += 1;
        expect(await throttle.blockedFor(subject)).toBe(0);
        expect(await throttle.recordFailure(subject)).toBe(1);
        return;
      }
      // The backend keeps its own clock: the answers of recordFailure are computed atomically at
      // the moment of the failure, so they hold however slowly the calls follow each other; the
      // block's end is then waited for (blockedFor has no side effect), never assumed.
      const throttle = await harness.create(options);
      expect(await throttle.recordFailure(subject)).toBe(0);
      expect(await throttle.recordFailure(subject)).toBeGreaterThan(0);
      const block = await throttle.recordFailure(subject);
      expect(block).toBeGreaterThan(0.05);
      expect(block).toBeLessThanOrEqual(1);
      let blocked = await throttle.blockedFor(subject);
      expect(blocked).toBeLessThanOrEqual(block);
      while (blocked > 0) {
        await sleep(Math.min(blocked * 1000, 100));
        const next = await throttle.blockedFor(subject);
        // The block only ever runs down while nothing else happens to the subject.
        expect(next).toBeLessThanOrEqual(blocked);
        blocked = next;
      }
      expect(await throttle.recordFailure(subject)).toBeGreaterThan(0.05);
    });

    it('forgets failures spread out over more than the window', async () => {
      const options: FailureThrottleOptions = { maxFailures: 3, freeFailures: 2, windowSeconds: 0.3, blockSeconds: 60 };
      const subject = unique('addr');
      if (harness.createWithClock) {
        // A clock the test moves: exactly one window later, not a moment sooner.
        let time = 1_700_000_000_000;
        const throttle = await harness.createWithClock(options, () => time);
        expect(await throttle.recordFailure(subject)).toBe(0);
        expect(await throttle.recordFailure(subject)).toBe(0);
        time += 300;
        expect(await throttle.recordFailure(subject)).toBe(0);
        expect(await throttle.blockedFor(subject)).toBe(0);
        return;
      }
      const throttle = await harness.create(options);
      // The window's passing, on the backend's own clock: a probe subject blocked for exactly one
      // window from just after the second failure (blockedFor has no side effect, so it is polled).
      const probeThrottle = await harness.create({
        maxFailures: 1,
        freeFailures: 0,
        windowSeconds: 0.3,
        blockSeconds: 0.3,
      });
      const probe = unique('probe');
      expect(await throttle.recordFailure(subject)).toBe(0);
      expect(await throttle.recordFailure(subject)).toBe(0);
      expect(await probeThrottle.recordFailure(probe)).toBeGreaterThan(0);
      while ((await probeThrottle.blockedFor(probe)) > 0) await sleep(20);
      expect(await throttle.recordFailure(subject)).toBe(0);
      expect(await throttle.blockedFor(subject)).toBe(0);
    });

    it('counts every one of 50 concurrent failures exactly once', async () => {
      const options = { maxFailures: 40, freeFailures: 7, windowSeconds: 600, slowdownSeconds: 1, blockSeconds: 300 };
      const throttle = await harness.create(options);
      const subject = unique('addr');
      const results = await Promise.all(Array.from({ length: 50 }, () => throttle.recordFailure(subject)));
      expect(results.filter((seconds) => seconds === 0)).toHaveLength(7);
      expect(await throttle.blockedFor(subject)).toBeGreaterThan(200);
    });

    it('refuses bad options and subjects with TypeError', async () => {
      await expect(async () => harness.create({ maxFailures: 0 })).rejects.toThrow(TypeError);
      await expect(async () => harness.create({ maxFailures: 3, freeFailures: 3 })).rejects.toThrow(TypeError);
      await expect(async () => harness.create({ blockSeconds: -1 })).rejects.toThrow(TypeError);
      const throttle = await harness.create({});
      await expect(throttle.recordFailure('')).rejects.toThrow(TypeError);
    });

    if (harness.createSecondInstance) {
      const createSecond = harness.createSecondInstance;
      it('shares failures between two instances', async () => {
        const options = { maxFailures: 30, freeFailures: 9, windowSeconds: 600, slowdownSeconds: 1, blockSeconds: 300 };
        const first = await harness.create(options);
        const second = await createSecond(options);
        const subject = unique('key');
        const results = await Promise.all(
          Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? first : second).recordFailure(subject)),
        );
        expect(results.filter((seconds) => seconds === 0)).toHaveLength(9);
        expect(await first.blockedFor(subject)).toBeGreaterThan(200);
        expect(await second.blockedFor(subject)).toBeGreaterThan(200);
        await first.recordSuccess(subject);
        expect(await second.blockedFor(subject)).toBe(0);
      });
    }
  });
}
