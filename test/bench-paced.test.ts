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
  pacedRate,
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
