/**
 * Fixed-width decimal fields read in place (the dates of SigV4's `X-Amz-Date` and django-hmac's
 * ISO timestamps): no slice, no regular expression, no allocation, on the verification hot path.
 */

/**
 * The value of the `count` ASCII digits of `text` at `start`, or -1 when one of them is not a
 * digit (a position past the end reads NaN, which is not one either).
 *
 * @example
 * ```ts
 * asciiDigitsAt('20240102T030405Z', 0, 4); // 2024
 * asciiDigitsAt('2024-01-02', 4, 2); // -1
 * ```
 */
export function asciiDigitsAt(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Whether `text` from `start` to its end is exactly `count` lower-case hex digits: what
 * `/^[0-9a-f]{count}$/` says of `text.slice(start)`, read in place (a regular expression over a
 * slice cost SigV4's parser twice as much, per signature and per declared payload hash); false for
 * a `start` outside the text. The digits checked are public (a signature or a digest as sent): the early exit reveals nothing.
 *
 * @example
 * ```ts
 * isLowerHexTail('Signature=0a1b', 10, 4); // true
 * isLowerHexTail('Signature=0A1B', 10, 4); // false: upper case
 * ```
 */
export function isLowerHexTail(text: string, start: number, count: number): boolean {
  if (start < 0 || text.length - start !== count) return false;
  for (let i = start; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // `0`-`9` or `a`-`f`: unsigned differences, one comparison each.
    if (!((code - 0x30) >>> 0 < 10 || (code - 0x61) >>> 0 < 6)) return false;
  }
  return true;
}
