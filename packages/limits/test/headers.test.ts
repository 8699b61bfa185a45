import type { RateLimitDecision } from '@hmac-kit/core';
import { memoryRateLimiter, rateLimitHeaders, retryAfterHeader } from '@hmac-kit/limits';
import { describe, expect, it } from 'vitest';

const decision = (overrides: Partial<RateLimitDecision> = {}): RateLimitDecision => ({
  allowed: true,
  limit: 100,
  remaining: 42,
  resetSeconds: 17,
  windowSeconds: 60,
  ...overrides,
});

describe('rateLimitHeaders (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  it('reports one decision under the "default" policy', () => {
    expect(rateLimitHeaders(decision())).toEqual({
      'RateLimit-Policy': '"default";q=100;w=60',
      RateLimit: '"default";r=42;t=17',
    });
  });

  it('adds Retry-After and reports the retry time as the effective window when refused', () => {
    const headers = rateLimitHeaders({
      ...decision({ allowed: false, remaining: 0, resetSeconds: 60 }),
      retryAfterSeconds: 6,
    });
    expect(headers).toEqual({
      'RateLimit-Policy': '"default";q=100;w=60',
      RateLimit: '"default";r=0;t=6',
      'Retry-After': '6',
    });
  });

  it('falls back to resetSeconds for Retry-After when a decision has no retry time', () => {
    expect(rateLimitHeaders(decision({ allowed: false, remaining: 0, resetSeconds: 9 }))['Retry-After']).toBe('9');
  });

  it('lists several policies in one field and retries after the longest refusal', () => {
    const headers = rateLimitHeaders([
      { policy: 'key', decision: decision({ limit: 10, windowSeconds: 1, remaining: 3, resetSeconds: 1 }) },
      { policy: 'addr', decision: { ...decision({ allowed: false, remaining: 0 }), retryAfterSeconds: 30 } },
      { policy: 'burst', decision: { ...decision({ allowed: false, remaining: 0 }), retryAfterSeconds: 2 } },
    ]);
    expect(headers).toEqual({
      'RateLimit-Policy': '"key";q=10;w=1, "addr";q=100;w=60, "burst";q=100;w=60',
      RateLimit: '"key";r=3;t=1, "addr";r=0;t=30, "burst";r=0;t=2',
      'Retry-After': '30',
    });
  });

  it('writes integers only: windows and times round up, windows are never 0', () => {
    const headers = rateLimitHeaders(decision({ windowSeconds: 0.2, resetSeconds: 0.4, remaining: 2 }));
    expect(headers).toEqual({ 'RateLimit-Policy': '"default";q=100;w=1', RateLimit: '"default";r=2;t=1' });
  });

  it('escapes policy names as Structured Field Strings and refuses non-printable ones', () => {
    expect(rateLimitHeaders([{ policy: 'a"b\\c', decision: decision() }]).RateLimit).toBe('"a\\"b\\\\c";r=42;t=17');
    expect(() => rateLimitHeaders([{ policy: 'line\nbreak', decision: decision() }])).toThrow(TypeError);
  });

  it('serialises a policy name the same way when it was serialised before (the kept names)', () => {
    for (const policy of ['a"b\\c', 'key', 'addr']) {
      const first = rateLimitHeaders([{ policy, decision: decision() }]);
      expect(rateLimitHeaders([{ policy, decision: decision() }])).toEqual(first);
    }
    expect(rateLimitHeaders([{ policy: 'a"b\\c', decision: decision() }]).RateLimit).toBe('"a\\"b\\\\c";r=42;t=17');
    // A refused name is never kept: refused again.
    expect(() => rateLimitHeaders([{ policy: 'line\nbreak', decision: decision() }])).toThrow(TypeError);
    expect(() => rateLimitHeaders([{ policy: 'line\nbreak', decision: decision() }])).toThrow(TypeError);
  });

  it('emits nothing for no decisions', () => {
    expect(rateLimitHeaders([])).toEqual({});
  });

  it('matches what a limiter decided', async () => {
    let now = 1_700_000_000_000;
    const limiter = memoryRateLimiter({ now: () => now });
    expect(rateLimitHeaders(await limiter.hit('k', 3, 30))).toEqual({
      'RateLimit-Policy': '"default";q=3;w=30',
      RateLimit: '"default";r=2;t=10',
    });
    await limiter.hit('k', 3, 30);
    await limiter.hit('k', 3, 30);
    now += 4_000;
    expect(rateLimitHeaders(await limiter.hit('k', 3, 30))).toEqual({
      'RateLimit-Policy': '"default";q=3;w=30',
      RateLimit: '"default";r=0;t=6',
      'Retry-After': '6',
    });
  });
});

describe('retryAfterHeader', () => {
  it('rounds up to whole seconds, at least 1', () => {
    expect(retryAfterHeader(0.25)).toBe('1');
    expect(retryAfterHeader(17.2)).toBe('18');
    expect(retryAfterHeader(300)).toBe('300');
    expect(retryAfterHeader(0)).toBe('1');
  });
});

describe('rateLimitHeaders fast path for one decision', () => {
  // Invariant of the branch for a single decision: the same fields, values and field order as the
  // general path gives for the same decision listed under the policy name `default`.
  it('answers as the general path does, for allowed and refused decisions and odd numbers', () => {
    const numbers = [0, 0.4, 1, 1.5, 7, 60, 3600, -3, Number.NaN, Number.POSITIVE_INFINITY];
    let compared = 0;
    for (const allowed of [true, false]) {
      for (const limit of numbers) {
        for (const windowSeconds of [0, 0.5, 1, 60, Number.NaN]) {
          for (const remaining of [0, 2.7, -1, 99]) {
            for (const resetSeconds of numbers) {
              for (const retryAfterSeconds of [undefined, 0, 2.2, 30]) {
                const one = { allowed, limit, remaining, resetSeconds, windowSeconds, retryAfterSeconds };
                const fast = rateLimitHeaders(one);
                const general = rateLimitHeaders([{ policy: 'default', decision: one }]);
                expect(fast).toStrictEqual(general);
                expect(Object.keys(fast)).toEqual(Object.keys(general));
                compared++;
              }
            }
          }
        }
      }
    }
    expect(compared).toBe(2 * 10 * 5 * 4 * 10 * 4);
  });

  it('builds RateLimit-Policy again when the limit or the window changes', () => {
    expect(rateLimitHeaders(decision({ limit: 5 }))['RateLimit-Policy']).toBe('"default";q=5;w=60');
    expect(rateLimitHeaders(decision({ limit: 5, windowSeconds: 1 }))['RateLimit-Policy']).toBe('"default";q=5;w=1');
    expect(rateLimitHeaders(decision({ limit: 6, windowSeconds: 1 }))['RateLimit-Policy']).toBe('"default";q=6;w=1');
  });
});
