import { StoreUnavailable } from '@hmac-kit/core';
import { memoryNonceStore, memoryRateLimiter } from '@hmac-kit/limits';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const start = 1_700_000_000_000;

describe('memoryNonceStore against a reference model', () => {
  const operation = fc.record({
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40_000 })),
    keyId: fc.constantFrom('a', 'b', 'a:b'),
    nonce: fc.constantFrom('1', '2', 'b:1', ''),
    ttlSeconds: fc.constantFrom(1, 5, 30, 0.5),
  });

  it('answers like a map of expiry times, and refuses only when full of unexpired pairs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(operation, { maxLength: 80 }),
        fc.integer({ min: 1, max: 8 }),
        async (ops, maxEntries) => {
          let now = start;
          const store = memoryNonceStore({ maxEntries, now: () => now });
          const model = new Map<string, number>();
          for (const op of ops) {
            now += op.advanceMs;
            for (const [slot, expiresAt] of model) if (expiresAt <= now) model.delete(slot);
            const slot = JSON.stringify([op.keyId, op.nonce]);
            const outcome = await store.checkAndStore(op.keyId, op.nonce, op.ttlSeconds).then(
              (fresh) => fresh,
              (error: unknown) => error,
            );
            if (model.has(slot)) {
              expect(outcome).toBe(false);
            } else if (model.size >= maxEntries) {
              expect(outcome).toBeInstanceOf(StoreUnavailable);
            } else {
              expect(outcome).toBe(true);
              model.set(slot, now + op.ttlSeconds * 1000);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('memoryRateLimiter (GCRA) properties', () => {
  const scenario = fc.record({
    limit: fc.integer({ min: 1, max: 20 }),
    windowSeconds: fc.constantFrom(1, 10, 60, 0.5),
    gapsMs: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 })), { minLength: 1, maxLength: 120 }),
  });

  it('never admits more than limit plus what refills over any span', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ limit, windowSeconds, gapsMs }) => {
        let now = start;
        const limiter = memoryRateLimiter({ now: () => now });
        const admitted: number[] = [];
        for (const gap of gapsMs) {
          now += gap;
          if ((await limiter.hit('k', limit, windowSeconds)).allowed) admitted.push(now);
        }
        const intervalMs = (windowSeconds * 1000) / limit;
        for (let first = 0; first < admitted.length; first++) {
          for (let last = first; last < admitted.length; last++) {
            const span = admitted[last]! - admitted[first]!;
            expect(last - first + 1).toBeLessThanOrEqual(limit + Math.floor(span / intervalMs + 1e-9));
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('means what it says: `remaining` more are admitted at once, then a refusal whose retry time is honoured', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ limit, windowSeconds, gapsMs }) => {
        let now = start;
        const limiter = memoryRateLimiter({ now: () => now });
        for (const gap of gapsMs) {
          now += gap;
          await limiter.hit('k', limit, windowSeconds);
        }
        const probe = await limiter.hit('k', limit, windowSeconds);
        const further = probe.allowed ? probe.remaining : 0;
        for (let index = 0; index < further; index++) {
          expect((await limiter.hit('k', limit, windowSeconds)).allowed).toBe(true);
        }
        const refused = await limiter.hit('k', limit, windowSeconds);
        expect(refused.allowed).toBe(false);
        expect(refused.remaining).toBe(0);
        expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        now += refused.retryAfterSeconds * 1000;
        expect((await limiter.hit('k', limit, windowSeconds)).allowed).toBe(true);
        now += refused.resetSeconds * 1000 + windowSeconds * 1000;
        expect((await limiter.hit('k', limit, windowSeconds)).remaining).toBe(limit - 1);
      }),
      { numRuns: 200 },
    );
  });
});
