/**
 * django-hmac's timestamp parser is written by hand (issue #15); it must read exactly what the
 * pattern it replaced reads, with the same value.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDjangoTimestamp, parseDjangoTimestampFrom } from '../src/schemes/django-hmac/timestamp.js';

/** The regular-expression parser of session 5, as the reference. */
function referenceParse(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (new Date(ms).getUTCDate() !== day) return undefined;
  const fraction = m[7] ? Number(`0.${m[7]}`) : 0;
  let offset = 0;
  if (m[8] !== 'Z') {
    const sign = m[8]!.startsWith('-') ? -1 : 1;
    const digits = m[8]!.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2));
    if (hours > 23 || minutes > 59) return undefined;
    offset = sign * (hours * 3600 + minutes * 60);
  }
  return ms / 1000 + fraction - offset;
}

const digit = fc.constantFrom('0', '1', '2', '3', '5', '9');
const piece = (count: number) => fc.array(digit, { minLength: count, maxLength: count }).map((d) => d.join(''));
const timestamp = fc
  .tuple(
    fc.constantFrom('2023', '2024', '1900', '0099', '9999', '2000'),
    fc.oneof(piece(2), fc.constantFrom('01', '02', '04', '12', '13', '00')),
    fc.oneof(piece(2), fc.constantFrom('28', '29', '30', '31', '32', '00')),
    fc.constantFrom('T', ' ', 't', 'X'),
    piece(2),
    piece(2),
    piece(2),
    fc.option(fc.array(digit, { minLength: 0, maxLength: 8 }).map((d) => `.${d.join('')}`)),
    fc.constantFrom('Z', 'z', '+00:00', '-05:30', '+0200', '+23:59', '+24:00', '-00:60', '+1:00', '', '+00:000', 'Z '),
  )
  .map((parts) => parts.map((part) => part ?? '').join(''));

describe('parseDjangoTimestamp', () => {
  it('reads what the pattern read, to the same value', () => {
    fc.assert(
      fc.property(timestamp, (text) => {
        expect(parseDjangoTimestamp(text), text).toBe(referenceParse(text));
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        expect(parseDjangoTimestamp(text)).toBe(referenceParse(text));
      }),
    );
    for (const text of [
      '2024-02-29T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2023-05-07T14:15:37.862560+00:00',
      '2023-05-07 14:15:37.1-0130',
    ]) {
      expect(parseDjangoTimestamp(text)).toBe(referenceParse(text));
    }
  });

  it('dates every day of every year 0000-9999 as Date.UTC does (the calendar is computed, session 18)', () => {
    const pad = (value: number, width: number) => String(value).padStart(width, '0');
    const date = fc
      .tuple(
        fc.integer({ min: 0, max: 9999 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 0, max: 86_399 }),
      )
      .map(
        ([year, month, day, second]) =>
          `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(Math.floor(second / 3600), 2)}:` +
          `${pad(Math.floor(second / 60) % 60, 2)}:${pad(second % 60, 2)}.25+01:30`,
      );
    fc.assert(
      fc.property(date, (text) => {
        expect(parseDjangoTimestamp(text), text).toBe(referenceParse(text));
      }),
      { numRuns: 20_000 },
    );
    // Leap years and month ends at the edges of the rules (÷4, ÷100, ÷400; years 0-99 read as 1900-1999).
    for (const year of ['0000', '0004', '0099', '0100', '0400', '1900', '2000', '2100', '2400', '9996']) {
      for (const monthDay of ['01-01', '02-28', '02-29', '03-01', '04-30', '04-31', '12-31']) {
        const text = `${year}-${monthDay}T23:59:59Z`;
        expect(parseDjangoTimestamp(text), text).toBe(referenceParse(text));
      }
    }
  });
});

describe('parseDjangoTimestampFrom (session 20: the timestamp read in place at the end of the header)', () => {
  it('reads the tail after any prefix as parseDjangoTimestamp reads it alone (property)', () => {
    const prefix = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.constantFrom('HMAC-SHA256 hk_a;AQI=;', '2023-05-07T14:15:37', '0000-00-00T00:00:00.000000+00:00', ''),
    );
    fc.assert(
      fc.property(prefix, fc.oneof(timestamp, fc.string({ maxLength: 40 })), (before, text) => {
        const whole = `${before}${text}`;
        expect(parseDjangoTimestampFrom(whole, before.length), whole).toBe(parseDjangoTimestamp(text));
        expect(parseDjangoTimestampFrom(whole, before.length), whole).toBe(referenceParse(text));
      }),
      { numRuns: 5000 },
    );
  });
});
