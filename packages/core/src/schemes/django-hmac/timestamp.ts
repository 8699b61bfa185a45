/**
 * django-hmac's timestamps: ISO-8601 with an offset, as Python's `datetime.isoformat()` writes
 * them and `datetime.fromisoformat` reads them.
 */
import { asciiDigitsAt } from '../../protocol/ascii-digits.js';

/**
 * Parses the timestamp forms `datetime.fromisoformat` reads and the clients send
 * (`2023-05-07T14:15:37.862560+00:00`, `...862+00:00`, `...Z`); an offset is
 * required (the Python server cannot compare naive times either). Unix seconds.
 * Read by hand: the pattern
 * `^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})$` costs ~1 µs as a
 * regular expression with its captures, a share of a verification (issue #15).
 *
 * @example
 * ```ts
 * parseDjangoTimestamp('2023-05-07T14:15:37.5+00:00'); // 1683468937.5
 * ```
 */
export function parseDjangoTimestamp(text: string): number | undefined {
  return parseDjangoTimestampFrom(text, 0);
}

/**
 * {@link parseDjangoTimestamp} of `text.slice(start)`, read in place (`0 <= start <= text.length`):
 * the django-hmac parser reads the timestamp at the end of the `Authorization` value, a flat string,
 * where the slice would be a sliced string whose every `charCodeAt` first finds its parent (issue
 * #15, session 20). The same reads with every index moved by `start`; the timestamp runs to the end
 * of `text` in both, so a read past it is past the end of `text` in both (`NaN`) and the tests
 * against `text.length` are the same. Held to each other in packages/core/test/django-timestamp.test.ts.
 */
export function parseDjangoTimestampFrom(text: string, start: number): number | undefined {
  if (text.length - start < 20) return undefined;
  const year = asciiDigitsAt(text, start, 4);
  const month = asciiDigitsAt(text, start + 5, 2);
  const day = asciiDigitsAt(text, start + 8, 2);
  const hour = asciiDigitsAt(text, start + 11, 2);
  const minute = asciiDigitsAt(text, start + 14, 2);
  const second = asciiDigitsAt(text, start + 17, 2);
  const separator = text.charCodeAt(start + 10);
  if (
    year < 0 ||
    month < 0 ||
    day < 0 ||
    hour < 0 ||
    minute < 0 ||
    second < 0 ||
    text.charCodeAt(start + 4) !== DASH ||
    text.charCodeAt(start + 7) !== DASH ||
    (separator !== LETTER_T && separator !== SPACE) ||
    text.charCodeAt(start + 13) !== COLON ||
    text.charCodeAt(start + 16) !== COLON
  ) {
    return undefined;
  }
  let index = start + 19;
  let fraction = 0;
  if (text.charCodeAt(index) === DOT) {
    let count = 0;
    let value = 0;
    for (index++; count < 7; index++, count++) {
      const digit = text.charCodeAt(index) - ZERO;
      if (!(digit >= 0 && digit <= 9)) break;
      value = value * 10 + digit;
    }
    if (count === 0 || count > 6) return undefined;
    // value / 10^count: both exact doubles, so the quotient is the correctly rounded decimal, as Number('0.' + digits).
    fraction = value / POWERS_OF_TEN[count]!;
  }
  let offset = 0;
  const zone = text.charCodeAt(index);
  if (zone === LETTER_Z) {
    if (index + 1 !== text.length) return undefined;
  } else if (zone === PLUS || zone === MINUS) {
    const hours = asciiDigitsAt(text, index + 1, 2);
    const colon = text.charCodeAt(index + 3) === COLON ? 1 : 0;
    const minutes = asciiDigitsAt(text, index + 3 + colon, 2);
    if (hours < 0 || minutes < 0 || index + 5 + colon !== text.length) return undefined;
    if (hours > 23 || minutes > 59) return undefined;
    offset = (zone === MINUS ? -1 : 1) * (hours * 3600 + minutes * 60);
  } else {
    return undefined;
  }
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  // Date.UTC's reading of the year, kept: years 0-99 stand for 1900-1999 (ECMAScript's MakeFullYear).
  const fullYear = year <= 99 ? 1900 + year : year;
  // The day exists in that month (Date.UTC would carry Feb 30 into March).
  if (day > daysInMonth(fullYear, month)) return undefined;
  const seconds = daysFromCivil(fullYear, month, day) * 86_400 + (hour * 60 + minute) * 60 + second;
  return seconds + fraction - offset;
}

/** 10^n for the fraction's 1-6 digits, without a `**` per call. */
const POWERS_OF_TEN = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The days of `month` (1-12) in the proleptic Gregorian `year`. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}

/**
 * Days from 1970-01-01 to `year`-`month`-`day` (proleptic Gregorian, `year` >= 0): what
 * `Date.UTC(year, month - 1, day) / 86_400_000` gives for a year of 100 or later, in integer
 * arithmetic instead of two calls into the runtime per timestamp (H. Hinnant's days_from_civil).
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

const ZERO = 0x30;
const DASH = 0x2d;
const DOT = 0x2e;
const COLON = 0x3a;
const SPACE = 0x20;
const PLUS = 0x2b;
const MINUS = 0x2d;
const LETTER_T = 0x54;
const LETTER_Z = 0x5a;

/**
 * `datetime.now(timezone.utc).isoformat()` for a Unix time: microseconds and `+00:00`.
 *
 * @example
 * ```ts
 * formatDjangoTimestamp(1683468937.5); // '2023-05-07T14:15:37.500000+00:00'
 * ```
 */
export function formatDjangoTimestamp(unixSeconds: number): string {
  const whole = Math.floor(unixSeconds);
  const micros = Math.round((unixSeconds - whole) * 1e6);
  const base = new Date(whole * 1000).toISOString().slice(0, 19);
  return micros === 0 ? `${base}+00:00` : `${base}.${String(micros).padStart(6, '0')}+00:00`;
}
