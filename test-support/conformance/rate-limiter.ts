import { randomUUID } from 'node:crypto';
import type { RateLimitDecision, RateLimiter } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { sleep } from '../services.js';

/** How a backend under test is built. */
export interface RateLimiterHarness {
  create(): RateLimiter | Promise<RateLimiter>;
  /** Another instance sharing the same state, when the backend is shared. */
  createSecondInstance?(): RateLimiter | Promise<RateLimiter>;
  /** A fresh instance reading the time (ms, like `Date.now`) from `now`, when the backend's clock is injectable. */
  createWithClock?(now: () => number): RateLimiter | Promise<RateLimiter>;
}

/**
 * Added to a wait the backend itself reported, for clocks that tick in coarser steps than the
 * timer (Redis TIME against Node's timers). A lower bound only: more time never changes the answer.
 */
const CLOCK_SLACK_MS = 50;

const unique = (label: string) => `${label}:${randomUUID()}`;

/** The behaviour every {@link RateLimiter} must have. */
export function describeRateLimiterConformance(name: string, harness: RateLimiterHarness): void {
  describe(`RateLimiter conformance: ${name}`, () => {
    it('allows `limit` requests, counting remaining down, then refuses', async () => {
      const limiter = await harness.create();
      const key = unique('key');
      const remaining: number[] = [];
      for (let index = 0; index < 5; index++) {
        const decision = await limiter.hit(key, 5, 60);
        expect(decision.allowed).toBe(true);
        expect(decision.limit).toBe(5);
        expect(decision.windowSeconds).toBe(60);
        expect(decision.resetSeconds).toBeGreaterThanOrEqual(1);
        expect(decision.resetSeconds).toBeLessThanOrEqual(60);
        remaining.push(decision.remaining);
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0]);
      const refused = await limiter.hit(key, 5, 60);
      expect(refused.allowed).toBe(false);
      expect(refused.remaining).toBe(0);
      expect(refused.resetSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.resetSeconds).toBeLessThanOrEqual(60);
    });

    it('reports when a refused request may be retried', async () => {
      const limiter = await harness.create();
      const key = unique('key');
      await limiter.hit(key, 1, 30);
      const refused = (await limiter.hit(key, 1, 30)) as { retryAfterSeconds?: number; allowed: boolean };
      expect(refused.allowed).toBe(false);
      if (refused.retryAfterSeconds !== undefined) {
        expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(refused.retryAfterSeconds).toBeLessThanOrEqual(30);
      }
    });

    it('keeps keys independent', async () => {
      const limiter = await harness.create();
      const first = unique('key');
      const second = unique('key');
      await limiter.hit(first, 1, 60);
      expect((await limiter.hit(first, 1, 60)).allowed).toBe(false);
      const other = await limiter.hit(second, 1, 60);
      expect(other.allowed).toBe(true);
    });

    it('applies the limit and window given on each call (per-key overrides)', async () => {
      const limiter = await harness.create();
      const small = unique('key');
      const large = unique('key');
      const allowedSmall = [];
      const allowedLarge = [];
      for (let index = 0; index < 8; index++) {
        allowedSmall.push((await limiter.hit(small, 2, 60)).allowed);
        allowedLarge.push((await limiter.hit(large, 6, 60)).allowed);
      }
      expect(allowedSmall.filter(Boolean)).toHaveLength(2);
      expect(allowedLarge.filter(Boolean)).toHaveLength(6);
    });

    it('allows requests again after the window', async () => {
      const key = unique('key');
      if (harness.createWithClock) {
        // A clock the test moves: the boundaries are exact, whatever the machine's load.
        let time = 1_700_000_000_000;
        const limiter = await harness.createWithClock(() => time);
        expect((await limiter.hit(key, 2, 1)).allowed).toBe(true);
        expect((await limiter.hit(key, 2, 1)).allowed).toBe(true);
        expect((await limiter.hit(key, 2, 1)).allowed).toBe(false);
        time += 499;
        expect((await limiter.hit(key, 2, 1)).allowed).toBe(false);
        time += 501;
        expect(await limiter.hit(key, 2, 1)).toMatchObject({ allowed: true, remaining: 1 });
        return;
      }
      // The backend keeps its own clock (Redis TIME, another process): no assumption about how
      // quickly hits follow each other. Hit until refused (one request refills every 500 ms, so a
      // slow machine may see more than two admitted), then wait for the full refill the refusal
      // itself reports — waiting longer than that changes nothing, so load cannot break this.
      const limiter = await harness.create();
      let refused: RateLimitDecision | undefined;
      for (let attempt = 0; attempt < 1000 && !refused; attempt++) {
        const decision = await limiter.hit(key, 2, 1);
        if (!decision.allowed) refused = decision;
      }
      expect(refused).toBeDefined();
      // Time until the bucket is full again, rounded up to whole seconds: the whole 1 s window.
      expect(refused!.resetSeconds).toBe(1);
      await sleep(refused!.resetSeconds * 1000 + CLOCK_SLACK_MS);
      const again = await limiter.hit(key, 2, 1);
      expect(again.allowed).toBe(true);
      expect(again.remaining).toBe(1);
    });

    it('admits exactly `limit` of 50 concurrent requests', async () => {
      const limiter = await harness.create();
      const key = unique('key');
      const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.hit(key, 10, 60)));
      expect(decisions.filter((decision) => decision.allowed)).toHaveLength(10);
      expect(
        decisions
          .filter((decision) => decision.allowed)
          .map((decision) => decision.remaining)
          .sort((a, b) => a - b),
      ).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('refuses malformed arguments with TypeError', async () => {
      const limiter = await harness.create();
      await expect(limiter.hit('key', 0, 60)).rejects.toThrow(TypeError);
      await expect(limiter.hit('key', 1.5, 60)).rejects.toThrow(TypeError);
      await expect(limiter.hit('key', 10, 0)).rejects.toThrow(TypeError);
      await expect(limiter.hit('', 10, 60)).rejects.toThrow(TypeError);
    });

    if (harness.createSecondInstance) {
      const createSecond = harness.createSecondInstance;
      it('admits exactly `limit` across two instances', async () => {
        const first = await harness.create();
        const second = await createSecond();
        const key = unique('key');
        const decisions = await Promise.all(
          Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? first : second).hit(key, 15, 60)),
        );
        expect(decisions.filter((decision) => decision.allowed)).toHaveLength(15);
      });
    }
  });
}
