/**
 * Durations have a ceiling (session 26, helper fix26). `--expires 100000w` was accepted (a key
 * expiring in the year ~3900), and a larger one (`1000000000w`, or 400 digits of seconds) made
 * an expiry past what a JavaScript Date holds: the key was stored, then printing it threw a
 * RangeError (Invalid Date). Every duration a person types (CLI, admin API, server config) is now
 * at most {@link MAX_DURATION_SECONDS} (10 years); a key that should live longer is made without
 * an expiry. The key service refuses a lifetime or overlap over the same bound from any caller.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DURATION_SECONDS, parseDuration } from '../src/units.js';
import { memoryKeyServices } from './support/memory-keys.js';

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

describe('parseDuration: bounds', () => {
  it('the ceiling is 10 years (3650 days), exactly', () => {
    expect(MAX_DURATION_SECONDS).toBe(3650 * 86_400);
    expect(parseDuration('3650d')).toBe(MAX_DURATION_SECONDS);
    expect(parseDuration('521w')).toBe(521 * 604_800);
    expect(parseDuration(MAX_DURATION_SECONDS)).toBe(MAX_DURATION_SECONDS);
  });

  it.each([
    ['100000w'],
    ['3651d'],
    ['522w'],
    ['1000000000w'],
    ['9'.repeat(400)],
    [`${'9'.repeat(400)}w`],
    ['315360001'],
  ])('refuses %s with one line naming the ceiling', (text) => {
    expect(() => parseDuration(text, 'duration')).toThrow(TypeError);
    try {
      parseDuration(text, 'duration');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).not.toContain('\n');
      expect(message).toMatch(/^invalid duration "[^"]{1,40}(\.\.\.)?": at most 3650d \(10 years\)/);
    }
  });

  it.each([[MAX_DURATION_SECONDS + 1], [1e300], [Number.MAX_VALUE], [Number.POSITIVE_INFINITY]])(
    'refuses the number %s',
    (value) => {
      expect(() => parseDuration(value)).toThrow(/at most 3650d \(10 years\)|non-negative number of seconds/);
    },
  );

  it('property: a parsed duration is a whole number of seconds from 0 to the ceiling, or a TypeError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.constantFrom(...Object.keys(UNITS))),
          fc.tuple(fc.bigInt({ min: 0n, max: 600_000_000n }), fc.constantFrom(...Object.keys(UNITS))),
        ),
        ([count, unit]) => {
          const exact = count * BigInt(UNITS[unit] as number);
          const text = `${count}${unit}`;
          if (exact <= BigInt(MAX_DURATION_SECONDS)) {
            expect(parseDuration(text)).toBe(Number(exact));
          } else {
            expect(() => parseDuration(text)).toThrow(TypeError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: fractions and numbers obey the same ceiling', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        fc.constantFrom(...Object.keys(UNITS)),
        (value, unit) => {
          const seconds = value * (UNITS[unit] as number);
          const number = () => parseDuration(value * (UNITS[unit] as number));
          if (seconds <= MAX_DURATION_SECONDS) {
            expect(number()).toBe(Math.floor(seconds));
            expect(Number.isSafeInteger(number())).toBe(true);
          } else {
            expect(number).toThrow(TypeError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('any expiry within the ceiling is a valid Date a bigint column holds', () => {
    const latest = Date.now() + MAX_DURATION_SECONDS * 1000;
    expect(new Date(latest).toISOString()).toMatch(/^20[3-4]\d-/);
    expect(latest).toBeLessThan(2 ** 53);
  });
});

describe('the key service refuses a lifetime or overlap past the ceiling, from any caller', () => {
  const service = memoryKeyServices();

  it.each([[MAX_DURATION_SECONDS + 1], [1e20], [604_800 * 1_000_000_000]])(
    'createKey expiresInSeconds %s: TypeError, nothing stored',
    async (seconds) => {
      const keys = await service();
      await expect(keys.createKey({ principal: 'alice', expiresInSeconds: seconds })).rejects.toThrow(TypeError);
      expect((await keys.listKeys({ principal: 'alice' })).items).toEqual([]);
    },
  );

  it('createKey at the ceiling works and its expiry prints', async () => {
    const keys = await service();
    const issued = await keys.createKey({ principal: 'alice', expiresInSeconds: MAX_DURATION_SECONDS });
    expect(issued.key.expiresAt?.toISOString()).toMatch(/^\d{4}-/);
  });

  it('rotateKey overlapSeconds past the ceiling: TypeError, the key stays as it was', async () => {
    const keys = await service();
    const issued = await keys.createKey({ principal: 'alice' });
    await expect(keys.rotateKey(issued.key.keyId, { overlapSeconds: MAX_DURATION_SECONDS + 1 })).rejects.toThrow(
      TypeError,
    );
    expect((await keys.listKeys({ principal: 'alice' })).items).toHaveLength(1);
  });

  it('createKey with an expiresAt Date past the ceiling: TypeError', async () => {
    const keys = await service();
    const far = new Date(Date.now() + (MAX_DURATION_SECONDS + 86_400) * 1000);
    await expect(keys.createKey({ principal: 'alice', expiresAt: far })).rejects.toThrow(TypeError);
  });
});

it('the parser and the key service share one ceiling', async () => {
  const { MAX_KEY_LIFETIME_SECONDS } = await import('@hmac-kit/keys');
  expect(MAX_KEY_LIFETIME_SECONDS).toBe(MAX_DURATION_SECONDS);
});

describe('serve settings that arm a timer stay within a Node timer (24 days)', () => {
  // setTimeout takes at most 2^31-1 ms (~24.8 days); more is a TimeoutOverflowWarning and a 1 ms
  // timer: `--upstream-timeout 30d` made every gateway request time out at once.
  const base = { masterKeys: `mk-test:${Buffer.alloc(32, 1).toString('base64')}`, database: ':memory:' };

  it.each([['upstreamTimeout'], ['shutdownTimeout'], ['drainPeriod']])('%s: 24d taken, 25d refused', async (name) => {
    const { loadConfig } = await import('../src/config.js');
    expect(() => loadConfig({ flags: { ...base, [name]: '24d' } })).not.toThrow();
    expect(() => loadConfig({ flags: { ...base, [name]: '25d' } })).toThrow(/at most 24d/);
    expect(() => loadConfig({ flags: { ...base, [name]: '100000w' } })).toThrow(/at most 3650d \(10 years\)/);
  });
});
