import fc from 'fast-check';
import { expect, it } from 'vitest';
import { parseAmzDate } from '../src/schemes/sigv4/parse.js';

/** The reference: the regular expression and a Date of the whole timestamp (the earlier implementation). */
function reference(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  return ms / 1000;
}

const digits = (length: number) => fc.stringMatching(new RegExp(`^[0-9]{${length}}$`));

it('parseAmzDate (character reads, start of day kept) = the regular-expression reference', () => {
  const plausible = fc
    .tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2))
    .map(([y, mo, d, h, mi, s]) => `${y}${mo}${d}T${h}${mi}${s}Z`);
  const nearValid = fc
    .record({
      year: fc.integer({ min: 0, max: 9999 }),
      month: fc.integer({ min: 0, max: 13 }),
      day: fc.integer({ min: 0, max: 32 }),
      hour: fc.integer({ min: 0, max: 25 }),
      minute: fc.integer({ min: 0, max: 61 }),
      second: fc.integer({ min: 0, max: 61 }),
    })
    .map(
      ({ year, month, day, hour, minute, second }) =>
        `${String(year).padStart(4, '0')}${[month, day].map((n) => String(n).padStart(2, '0')).join('')}T` +
        `${[hour, minute, second].map((n) => String(n).padStart(2, '0')).join('')}Z`,
    );
  const mangled = fc
    .tuple(nearValid, fc.nat(15), fc.constantFrom('', 'x', ' ', '\n', '٣', '-', 'Z', 'T'))
    .map(([text, at, insert]) => text.slice(0, at) + insert + text.slice(at + (insert === '' ? 1 : 0)));
  fc.assert(
    fc.property(fc.oneof(plausible, nearValid, nearValid, mangled, fc.string({ maxLength: 20 })), (value) => {
      expect(parseAmzDate(value)).toBe(reference(value));
    }),
    { numRuns: 5_000 },
  );
  // Leap days, the 0-99 years Date.UTC maps to 19xx, and the day memo across different days.
  for (const value of [
    '20240229T120000Z',
    '20230229T120000Z',
    '00000229T000000Z',
    '19000229T000000Z',
    '20001231T235959Z',
    '20240229T120000Z\n',
  ]) {
    expect(parseAmzDate(value)).toBe(reference(value));
  }
});
