// The pure part of benchmark 3's paced comparison (bench/paced.js, used by bench/http.js): the rate a
// with/without pair is paced at, what its rounds add up to, and the PASS/FAIL line, including a pair
// whose rate was not held (not judged: FAIL). The figures are the session 12 close's saturating rows
// (docs/performance.md) and made-up paced rounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  busyFraction,
  comparePaced,
  lowerPacedRate,
  PACED_FRACTION,
  PACED_MAX_BUSY,
  PACED_RETRY_MARGIN,
  pacedRate,
  pacedRetries,
  pacedVerdict,
  RATE_TOLERANCE,
  rateHeld,
  roundDownTwoDigits,
} from '../bench/paced.js';

const express = { with: 'Express + @hmac-kit/express', without: 'Express, no auth' };
const gateway = { with: 'gateway route, verifying', without: 'gateway route, no verification' };
const rounds = (got: number, ...cpu: number[]) =>
  cpu.map((cpuMicrosPerRequest) => ({ requestsPerSecond: got, cpuMicrosPerRequest }));

describe('the paced rate', () => {
  it('is 60% of the slower row, rounded down to two significant digits', () => {
    expect(PACED_FRACTION).toBe(0.6);
    // Session 12 close, saturating req/s of each pair (slower row first).
    expect(pacedRate([5136, 5008])).toBe(3000); // Express: 3,004.8
    expect(pacedRate([15_090, 20_689])).toBe(9000); // Fastify: 9,054
    expect(pacedRate([7098, 7091])).toBe(4200); // gateway route: 4,254.6
    expect(pacedRate([13_586, 18_825])).toBe(8100); // forward-auth info vs silent: 8,151.6
    expect(pacedRate([5008, 5136], 0.5)).toBe(2500);
  });

  it('is 0 (not paced) when a row has no rate', () => {
    expect(pacedRate([])).toBe(0);
    expect(pacedRate([0, 5000])).toBe(0);
    expect(pacedRate([Number.NaN, 5000])).toBe(0);
  });

  it('rounds down to two significant digits', () => {
    expect(roundDownTwoDigits(3004.8)).toBe(3000);
    expect(roundDownTwoDigits(987)).toBe(980);
    expect(roundDownTwoDigits(99.9)).toBe(99);
    expect(roundDownTwoDigits(100)).toBe(100);
    expect(roundDownTwoDigits(42)).toBe(42);
    expect(roundDownTwoDigits(5.5)).toBe(5);
    expect(roundDownTwoDigits(0)).toBe(0);
    expect(roundDownTwoDigits(-3)).toBe(0);
  });

  it('is never above the fraction of the slower row, and at most 10% below it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 20, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 0.1, max: 1, noNaN: true }),
        (rates, fraction) => {
          const rate = pacedRate(rates, fraction);
          const ceiling = Math.min(...rates) * fraction;
          expect(rate).toBeLessThanOrEqual(ceiling);
          expect(rate).toBeGreaterThan(ceiling * 0.9 - 1);
          expect(Number.isInteger(rate)).toBe(true);
        },
      ),
    );
  });
});

describe('the paced rate lowered to leave a server headroom (session 19)', () => {
  it('keeps the rate when the busier row used at most 70% of a core in the probe', () => {
    expect(PACED_MAX_BUSY).toBe(0.7);
    // Forward-auth in the session 18 close run: 49 µs x 14,000 req/s = 69% of a core.
    expect(busyFraction({ cpuMicrosPerRequest: 49, requestsPerSecond: 14_000 })).toBeCloseTo(0.686, 3);
    expect(lowerPacedRate(14_000, 0.686)).toBe(14_000);
    expect(lowerPacedRate(14_000, 0.7)).toBe(14_000);
  });

  it('lowers it to where the busier row would be at 70%, rounded down to two digits', () => {
    // The Express row with authentication in the session 18 close run: 275 µs x 3,571 req/s = 98% of a core.
    const busy = busyFraction({ cpuMicrosPerRequest: 275, requestsPerSecond: 3571 });
    expect(busy).toBeCloseTo(0.982, 3);
    expect(lowerPacedRate(3800, busy)).toBe(2700);
    expect(lowerPacedRate(10_000, 0.94)).toBe(7400);
  });

  it('never raises the rate and lands at or below the ceiling for the CPU per request probed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 100_000 }),
        fc.double({ min: 0.01, max: 2, noNaN: true }),
        (rate, busy) => {
          const lowered = lowerPacedRate(rate, busy);
          expect(lowered).toBeLessThanOrEqual(rate);
          if (busy > PACED_MAX_BUSY) expect((lowered / rate) * busy).toBeLessThanOrEqual(PACED_MAX_BUSY + 1e-9);
          else expect(lowered).toBe(rate);
        },
      ),
    );
  });
});

describe('whether the rate was held', () => {
  it('allows 3% either way', () => {
    expect(RATE_TOLERANCE).toBe(0.03);
    expect(rateHeld(3000, 3000)).toBe(true);
    expect(rateHeld(3000, 2950)).toBe(true);
    expect(rateHeld(3000, 3080)).toBe(true);
    expect(rateHeld(3000, 2900)).toBe(false);
    expect(rateHeld(3000, 3100)).toBe(false);
    expect(rateHeld(0, 0)).toBe(false);
    expect(rateHeld(3000, 2900, 0.05)).toBe(true);
  });
});

describe('a paced pair', () => {
  it('compares the median rounds and gives the spread of the per-round differences', () => {
    const comparison = comparePaced({
      rate: 3000,
      withRounds: rounds(2995, 250, 262, 241),
      withoutRounds: rounds(2998, 243, 250, 236),
    });
    expect(comparison.with.cpu).toBe(250);
    expect(comparison.without.cpu).toBe(243);
    expect(comparison.added).toBe(7);
    expect(comparison.addedRange).toEqual([5, 12]);
    expect(comparison.ratio).toBeCloseTo(250 / 243, 10);
    expect(comparison.with.cpuRange).toEqual([241, 262]);
    expect(comparison.held).toBe(true);
    expect(comparison.short).toEqual([]);
  });

  it('is held only when both rows got the rate asked (median round)', () => {
    const comparison = comparePaced({
      rate: 3000,
      withRounds: [
        { requestsPerSecond: 2990, cpuMicrosPerRequest: 250 },
        { requestsPerSecond: 2600, cpuMicrosPerRequest: 240 },
        { requestsPerSecond: 2995, cpuMicrosPerRequest: 260 },
      ],
      withoutRounds: rounds(2700, 243, 250, 236),
    });
    expect(comparison.with.got).toBe(2990);
    expect(comparison.with.gotRange).toEqual([2600, 2995]);
    expect(comparison.held).toBe(false);
    expect(comparison.short).toEqual(['without']);
  });

  it('needs the same number of rounds on both sides', () => {
    expect(() => comparePaced({ rate: 3000, withRounds: rounds(3000, 1, 2), withoutRounds: rounds(3000, 1) })).toThrow(
      TypeError,
    );
    expect(() => comparePaced({ rate: 3000, withRounds: [], withoutRounds: [] })).toThrow(TypeError);
  });
});

describe('the PASS/FAIL line', () => {
  const label = 'Express + @hmac-kit/express, added server CPU per request over HTTP';

  it('judges the added µs at the paced rate and says the rate', () => {
    const comparison = comparePaced({
      rate: 3000,
      withRounds: rounds(3000, 250, 251),
      withoutRounds: rounds(2999, 242, 243),
    });
    expect(pacedVerdict({ label, comparison, measure: 'added', threshold: 12, names: express })).toEqual({
      passed: true,
      line: `PASS  ${label} at 3,000 req/s both (paced): 8.0 µs (target <= 12 µs)`,
    });
    const over = comparePaced({ rate: 3000, withRounds: rounds(3000, 260), withoutRounds: rounds(3000, 240) });
    expect(pacedVerdict({ label, comparison: over, measure: 'added', threshold: 12, names: express })).toEqual({
      passed: false,
      line: `FAIL  ${label} at 3,000 req/s both (paced): 20.0 µs (target <= 12 µs)`,
    });
  });

  it('judges a ratio with both figures in the line', () => {
    const comparison = comparePaced({ rate: 4200, withRounds: rounds(4200, 136), withoutRounds: rounds(4190, 131) });
    const gatewayLabel = 'gateway route verifying vs not verifying, CPU per request';
    expect(
      pacedVerdict({ label: gatewayLabel, comparison, measure: 'ratio', threshold: 1.25, names: gateway }),
    ).toEqual({
      passed: true,
      line: `PASS  ${gatewayLabel} at 4,200 req/s both (paced) (136 vs 131 µs): 1.04x (target <= 1.25x)`,
    });
  });

  it('does not judge a pair whose rate was not held: FAIL, naming the row and what it got', () => {
    const comparison = comparePaced({
      rate: 3000,
      withRounds: rounds(2990, 245),
      withoutRounds: rounds(2700, 243),
    });
    const { passed, line } = pacedVerdict({ label, comparison, measure: 'added', threshold: 12, names: express });
    expect(passed).toBe(false);
    expect(line).toBe(
      `FAIL  ${label} at 3,000 req/s asked (paced): rate not held (Express, no auth got 2,700 req/s, -10.0%; ` +
        'tolerance 3%): 2.0 µs not judged (target <= 12 µs)',
    );
  });

  it('names both rows when neither held the rate, and a rate above the asked one too', () => {
    const comparison = comparePaced({ rate: 1000, withRounds: rounds(1100, 300), withoutRounds: rounds(800, 280) });
    const { passed, line } = pacedVerdict({ label, comparison, measure: 'added', threshold: 12, names: express });
    expect(passed).toBe(false);
    expect(line).toContain(
      'rate not held (Express + @hmac-kit/express got 1,100 req/s, +10.0%; Express, no auth got 800 req/s, -20.0%;',
    );
  });
});

describe('a second attempt at a lower rate for a pair whose rate was not held (session 22)', () => {
  const fastify = { with: 'Fastify + @hmac-kit/fastify', without: 'Fastify, no auth' };
  // Session 21's quiet run: Fastify paced at 14,000 req/s, the no-auth row's median round got 13,496 (-3.6%).
  const notHeld = comparePaced({
    rate: 14_000,
    withRounds: rounds(13_950, 60, 62, 58),
    withoutRounds: rounds(13_496, 41, 66, 55),
  });
  const held = comparePaced({ rate: 3000, withRounds: rounds(3000, 250), withoutRounds: rounds(2990, 240) });

  it('runs again a not-held "added" pair, below what its slower row got, and says from where', () => {
    expect(PACED_RETRY_MARGIN).toBe(0.05);
    const retries = pacedRetries([{ id: 'fastify', measure: 'added', comparison: notHeld, attempts: 1 }]);
    expect(retries).toHaveLength(1);
    const [retry] = retries as [(typeof retries)[number]];
    expect(retry.id).toBe('fastify');
    expect(retry.from).toBe(14_000);
    expect(retry.got).toEqual({ with: 13_950, without: 13_496 });
    // 13,496 x 0.95 = 12,821, rounded down to two digits (the busier row was at 0.84 of a core: the probe's rule
    // gives 14,000 x 0.7 / 0.84 = 11,700 -> 11,000, the lower of the two).
    expect(retry.busy.with).toBeCloseTo((60 * 13_950) / 1e6, 6);
    expect(retry.rate).toBe(Math.min(12_000, lowerPacedRate(14_000, retry.busy.with)));
    expect(retry.rate).toBe(11_000);
  });

  it('also gives an info pair (no target) its second attempt', () => {
    expect(pacedRetries([{ id: 'log', comparison: notHeld, attempts: 1 }]).map((r) => r.id)).toEqual(['log']);
  });

  it('never runs again a pair judged on a ratio (a lower rate would flatter it)', () => {
    expect(pacedRetries([{ id: 'gateway', measure: 'ratio', comparison: notHeld, attempts: 1 }])).toEqual([]);
  });

  it('never runs again a pair whose rate was held', () => {
    expect(pacedRetries([{ id: 'express', measure: 'added', comparison: held, attempts: 1 }])).toEqual([]);
  });

  it('runs a pair again at most once', () => {
    expect(pacedRetries([{ id: 'fastify', measure: 'added', comparison: notHeld, attempts: 2 }])).toEqual([]);
  });

  it('decides on the rates got and how busy, not on the difference between the rows', () => {
    const a = comparePaced({ rate: 5000, withRounds: rounds(4800, 100), withoutRounds: rounds(4990, 90) });
    const b = comparePaced({ rate: 5000, withRounds: rounds(4800, 100), withoutRounds: rounds(4990, 99) });
    const rateOf = (comparison: typeof a) =>
      pacedRetries([{ id: 'p', measure: 'added', comparison, attempts: 1 }])[0]?.rate;
    // The without row's CPU differs (so does "added") but it is not the busier row: the same rate.
    expect(rateOf(a)).toBe(rateOf(b));
  });

  it('never raises the rate, even for a row that got more than asked', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 60_000 }),
        fc.double({ min: 0.5, max: 1.5, noNaN: true }),
        fc.double({ min: 0.5, max: 1.5, noNaN: true }),
        fc.double({ min: 5, max: 400, noNaN: true }),
        fc.double({ min: 5, max: 400, noNaN: true }),
        (rate, withShare, withoutShare, withCpu, withoutCpu) => {
          const comparison = comparePaced({
            rate,
            withRounds: rounds(rate * withShare, withCpu),
            withoutRounds: rounds(rate * withoutShare, withoutCpu),
          });
          const retries = pacedRetries([{ id: 'p', measure: 'added', comparison, attempts: 1 }]);
          if (comparison.held) return retries.length === 0;
          return retries.every((r) => r.rate > 0 && r.rate < rate && r.rate <= rate * (1 - PACED_RETRY_MARGIN));
        },
      ),
    );
  });

  it('prints a tolerance below 1% as it is (HMAC_KIT_BENCH_PACED_TOLERANCE), not as 0%', () => {
    const strict = comparePaced({
      rate: 9200,
      withRounds: rounds(8830, 45),
      withoutRounds: rounds(8778, 44),
      tolerance: 0.001,
    });
    const label = 'Fastify + @hmac-kit/fastify, added server CPU per request over HTTP';
    expect(pacedVerdict({ label, comparison: strict, measure: 'added', threshold: 12, names: fastify }).line).toContain(
      'tolerance 0.1%)',
    );
  });

  it('says in the verdict line that it is the second attempt and the first rate', () => {
    const label = 'Fastify + @hmac-kit/fastify, added server CPU per request over HTTP';
    const second = comparePaced({ rate: 11_000, withRounds: rounds(11_000, 70), withoutRounds: rounds(10_990, 62) });
    expect(
      pacedVerdict({ label, comparison: second, measure: 'added', threshold: 12, names: fastify, retriedFrom: 14_000 })
        .line,
    ).toBe(
      `PASS  ${label} at 11,000 req/s both (paced, second attempt: 14,000 req/s asked first was not held): ` +
        '8.0 µs (target <= 12 µs)',
    );
  });
});
