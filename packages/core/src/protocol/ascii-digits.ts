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
