/**
 * The two character tests of the django-hmac `Authorization` reader, by hand instead of a regular
 * expression per request (issue #15, session 18): whether a key id holds whitespace (`/\s/`) and
 * the strict base64 of the signature (`fromBase64(text, { strict: true })`). The tests in
 * packages/core/test/django-header-text.test.ts hold both to the expressions they replace.
 */

/**
 * Whether `text` holds a character `/\s/` matches: ECMAScript's WhiteSpace and LineTerminator
 * (tab, line feed, vertical tab, form feed, carriage return, space, U+00A0, U+1680, U+2000-U+200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF).
 *
 * @example
 * ```ts
 * hasWhitespace('hk_abc'); // false
 * hasWhitespace('hk abc'); // true
 * ```
 */
export function hasWhitespace(text: string): boolean {
  return hasWhitespaceIn(text, 0, text.length);
}

/**
 * {@link hasWhitespace} of `text.slice(start, end)`, read in place (`0 <= start <= end <=
 * text.length`): the django-hmac parser reads the key id inside the `Authorization` value, a flat
 * string, where a slice is a sliced string whose every `charCodeAt` first finds its parent (issue
 * #15, session 20). The same loop over the same characters, so the same answer
 * (packages/core/test/django-header-text.test.ts holds the two to each other).
 */
export function hasWhitespaceIn(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    // Printable ASCII but the space, the usual key id: one comparison per character.
    if (code > 0x20 && code < 0x7f) continue;
    if (isWhitespace(code)) return true;
  }
  return false;
}

function isWhitespace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/** The value of each character of the standard base64 alphabet, -1 for every other code below 128. */
const BASE64_VALUES = new Int8Array(128).fill(-1);
{
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) BASE64_VALUES[alphabet.charCodeAt(i)] = i;
}

/**
 * The bytes of `text` read as strict base64, or `undefined`: exactly what
 * `fromBase64(text, { strict: true })` answers (a length that is a multiple of 4, the standard
 * alphabet, at most two `=` and only at the end; bits left over by the padding are not checked),
 * in one loop without its regular expression.
 *
 * @example
 * ```ts
 * strictBase64Bytes('AQI='); // Uint8Array [1, 2]
 * strictBase64Bytes('AQI');  // undefined (not a multiple of 4)
 * ```
 */
export function strictBase64Bytes(text: string): Uint8Array | undefined {
  return strictBase64BytesIn(text, 0, text.length);
}

/**
 * {@link strictBase64Bytes} of `text.slice(start, stop)`, read in place (`0 <= start <= stop <=
 * text.length`), as {@link hasWhitespaceIn}: the same loop with every index moved by `start`, so the
 * same answer (held to each other in packages/core/test/django-header-text.test.ts).
 */
export function strictBase64BytesIn(text: string, start: number, stop: number): Uint8Array | undefined {
  const length = stop - start;
  if (length % 4 !== 0) return undefined;
  let end = stop;
  if (end > start && text.charCodeAt(end - 1) === 0x3d) {
    end--;
    if (end > start && text.charCodeAt(end - 1) === 0x3d) end--;
  }
  const out = new Uint8Array(((end - start) * 3) >> 2);
  const values = BASE64_VALUES;
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? values[code]! : -1;
    if (value < 0) return undefined;
    buffer = ((buffer << 6) | value) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}
