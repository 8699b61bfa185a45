/**
 * Header access over every shape a request's headers arrive in (`Headers`, Node's
 * `IncomingHttpHeaders`, plain records), with RFC 9421 section 2.1 canonicalisation. The one
 * place that reads request headers: every scheme and the pipeline use these.
 */
import type { HeadersInit } from '../types.js';

/** Lines of one field, in order, from any supported header container; `undefined` when absent. */
export function headerLines(headers: HeadersInit, name: string): string[] | undefined {
  return headerLinesOfLower(headers, name.toLowerCase());
}

/**
 * {@link headerLines} for a name the caller knows is lower case already (`lower === lower.toLowerCase()`:
 * the verifier's constant names, and RFC 9421 component names its common-shape parser only accepts
 * in lower case). Not re-exported from the package: `headerLines(headers, name)` is exactly
 * `headerLinesOfLower(headers, name.toLowerCase())`, so a caller that skips the lower-casing
 * (~200 instructions per lookup, several lookups per verification) gets the same answer whenever the
 * invariant holds (held over random records and names in test/header-name-match.test.ts).
 */
export function headerLinesOfLower(headers: HeadersInit, lower: string): string[] | undefined {
  if (isHeadersObject(headers)) {
    if (lower === 'set-cookie' && typeof headers.getSetCookie === 'function') {
      const cookies = headers.getSetCookie();
      return cookies.length > 0 ? cookies : undefined;
    }
    const value = headers.get(lower);
    return value === null ? undefined : [value];
  }
  let lines: string[] | undefined;
  // for...in walks the object's cached key list without allocating an array (Object.keys did, once
  // per call and several calls per verification); hasOwn keeps it to own keys, as Object.keys was.
  for (const key in headers) {
    // Header names are ASCII and lower-casing never changes their length: skip other lengths
    // without lower-casing each name (this runs several times per verification).
    if (key.length !== lower.length || (key !== lower && !sameNameIgnoringCase(key, lower))) continue;
    if (!Object.hasOwn(headers, key)) continue;
    const value = (headers as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      // A field with no lines (an empty array) is absent, not present and empty.
      if (value.length === 0) continue;
      lines ??= [];
      lines.push(...value.map(String));
    } else {
      lines ??= [];
      lines.push(String(value));
    }
  }
  return lines;
}

/**
 * `key.toLowerCase() === lower` for a key as long as `lower` (a lower-cased name), without
 * lower-casing keys that differ in their last character (`content-length` when `content-digest` is
 * looked up): for an ASCII last character c, c.toLowerCase() is c | 0x20 for A-Z and c otherwise,
 * so when c | 0x20 and the name's last character | 0x20 differ the two cannot be equal. A key
 * ending in another character is lower-cased and compared as before.
 */
function sameNameIgnoringCase(key: string, lower: string): boolean {
  const last = key.length - 1;
  const c = key.charCodeAt(last);
  if (c < 0x80 && (c | 0x20) !== (lower.charCodeAt(last) | 0x20)) return false;
  return key.toLowerCase() === lower;
}

/**
 * Whether `headers` is a fetch `Headers` (read through `get`), told by its methods rather than
 * `instanceof`, so a `Headers` from another realm or a fetch polyfill reads the same as the global one.
 */
function isHeadersObject(headers: HeadersInit): headers is Headers {
  return typeof (headers as Headers).get === 'function' && typeof (headers as Headers).forEach === 'function';
}

/**
 * Every value of a header (case-insensitive), in arrival order; `[]` when absent.
 *
 * @example
 * ```ts
 * headerValues({ 'X-Amz-Date': '20240101T000000Z' }, 'x-amz-date'); // ['20240101T000000Z']
 * ```
 */
export function headerValues(headers: HeadersInit, name: string): string[] {
  return headerLines(headers, name) ?? [];
}

/**
 * A header's values without an array for the usual single value: `undefined` when absent, the
 * string when there is exactly one value, else every value in arrival order (as {@link headerValues}).
 *
 * @example
 * ```ts
 * headerField({ 'x-amz-date': ['a', 'b'] }, 'X-Amz-Date'); // ['a', 'b']: a repeated header, refused by callers
 * ```
 */
export function headerField(headers: HeadersInit, name: string): string | string[] | undefined {
  if (isHeadersObject(headers)) {
    const lines = headerLines(headers, name);
    return lines?.length === 1 ? lines[0] : lines;
  }
  const lower = name.toLowerCase();
  const record = headers as Record<string, unknown>;
  let found: string | undefined;
  for (const key in record) {
    if (key.length !== lower.length || (key !== lower && !sameNameIgnoringCase(key, lower))) continue;
    if (!Object.hasOwn(record, key)) continue;
    const value = record[key];
    if (value === undefined || value === null) continue;
    if (found !== undefined || typeof value !== 'string') {
      const values = headerValues(headers, name);
      return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
    }
    found = value;
  }
  return found;
}

/**
 * Canonical value of a header field per RFC 9421 section 2.1: each line stripped of
 * leading and trailing whitespace, obsolete line folding replaced by a single space,
 * and multiple lines joined with ", ". `undefined` when the field is absent.
 *
 * @example
 * ```ts
 * canonicalHeader({ 'X-Example': ['  a ', 'b\r\n   c'] }, 'x-example'); // 'a, b c'
 * ```
 */
export function canonicalHeader(headers: HeadersInit, name: string): string | undefined {
  const lines = headerLines(headers, name);
  return lines === undefined ? undefined : canonicalLines(lines);
}

/**
 * {@link canonicalHeader} for a lower-case name (the invariant of {@link headerLinesOfLower}).
 *
 * A plain record whose field is one string value (node:http's headers, the usual case) is read
 * without the lines array `headerLinesOfLower` builds (a JSArray and its 17-slot backing store per
 * lookup, ~0.2 KB: the RFC 9421 verifier looks up every covered field). Invariant: when the scan
 * below finds exactly one own matching key with a value that is not undefined or null, and that
 * value is a string, `headerLinesOfLower(headers, lower)` is `[value]` (the same keys, the same
 * name test, the same skips, and `String(value)` is `value`), so the answer is
 * `canonicalLines([value])`, which is `canonicalLine(value)`; no match at all is `undefined` as
 * there. Anything else (a second match, an array or another type) takes the general path. Held
 * to `canonicalHeader` over random records in packages/core/test/header-name-match.test.ts.
 */
export function canonicalHeaderOfLower(headers: HeadersInit, lower: string): string | undefined {
  if (!isHeadersObject(headers)) {
    let found: string | undefined;
    let simple = true;
    for (const key in headers) {
      if (key.length !== lower.length || (key !== lower && !sameNameIgnoringCase(key, lower))) continue;
      if (!Object.hasOwn(headers, key)) continue;
      const value = (headers as Record<string, unknown>)[key];
      if (value === undefined || value === null) continue;
      if (found !== undefined || typeof value !== 'string') {
        simple = false;
        break;
      }
      found = value;
    }
    if (simple) return found === undefined ? undefined : canonicalLine(found);
  }
  const lines = headerLinesOfLower(headers, lower);
  return lines === undefined ? undefined : canonicalLines(lines);
}

/** {@link canonicalHeader} over lines already read (RFC 9421 section 2.1). */
export function canonicalLines(lines: readonly string[]): string {
  // The usual single line needs no array and no join.
  if (lines.length === 1) return canonicalLine(lines[0]!);
  return lines.map(canonicalOneLine).join(', ');
}

/** `canonicalLines([line])` without the array: one field line canonicalised. */
export function canonicalLine(line: string): string {
  // The usual clean line needs no regex.
  const first = line.charCodeAt(0);
  const last = line.charCodeAt(line.length - 1);
  if (line.indexOf('\n') === -1 && first !== 0x20 && first !== 0x09 && last !== 0x20 && last !== 0x09) return line;
  return canonicalOneLine(line);
}

function canonicalOneLine(line: string): string {
  return line.replace(/[ \t]*\r?\n[ \t]+/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * Raw value of a header (lines joined with ", ", untrimmed), or `undefined`.
 *
 * @example
 * ```ts
 * getHeader(request.headers, 'Signature-Input');
 * ```
 */
export function getHeader(headers: HeadersInit, name: string): string | undefined {
  return getHeaderOfLower(headers, name.toLowerCase());
}

/**
 * {@link getHeader} for a name the caller knows is lower case already (the invariant of
 * {@link headerLinesOfLower}): `getHeader(headers, name)` is `getHeaderOfLower(headers, name.toLowerCase())`.
 * Not re-exported from the package.
 */
export function getHeaderOfLower(headers: HeadersInit, lower: string): string | undefined {
  if (isHeadersObject(headers)) {
    const lines = headerLinesOfLower(headers, lower);
    return lines === undefined ? undefined : lines.join(', ');
  }
  // A plain record (node:http's headers): the lines joined as they are found, without the array
  // headerLines() builds and join() reads (several lookups per verification). The usual field, one
  // line, is returned as it is.
  //
  // Invariant: the result is `headerLines(headers, name)?.join(', ')`: the same keys are taken
  // (same name test, own keys only, undefined and null values skipped, an empty array absent) in
  // the same order, each line is `String()` of its value as `value.map(String)` makes it, and a hole
  // in an array value is an empty line, as join() prints the undefined that spreading the mapped
  // array leaves there. Held to headerLines() + join() over random records in
  // packages/core/test/header-name-match.test.ts.
  let joined: string | undefined;
  for (const key in headers) {
    if (key.length !== lower.length || (key !== lower && !sameNameIgnoringCase(key, lower))) continue;
    if (!Object.hasOwn(headers, key)) continue;
    const value = (headers as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const line = index in value ? String(value[index]) : '';
        joined = joined === undefined ? line : `${joined}, ${line}`;
      }
    } else {
      const line = String(value);
      joined = joined === undefined ? line : `${joined}, ${line}`;
    }
  }
  return joined;
}

/** What {@link getHeadersOfLower} found: read right after the call (the object is reused). */
export interface TwoHeaders {
  first: string | undefined;
  second: string | undefined;
}
const twoHeaders: TwoHeaders = { first: undefined, second: undefined };

/**
 * {@link getHeaderOfLower} of two different lower-case names (the invariant of
 * {@link headerLinesOfLower}) in one pass over a plain record's keys instead of two: RFC 9421's
 * `signature-input` and `signature`, read by its detect and parse for every request (~0.3k
 * instructions per pass over node:http's headers). The answer is a reused object: read it before
 * the next call. Not re-exported from the package.
 *
 * Invariant: `first` is `getHeaderOfLower(headers, a)` and `second` `getHeaderOfLower(headers, b)`.
 * A key equal to a name ignoring case is never equal to the other (two different lower-case names),
 * so each key goes to at most one of them, and each is joined from the same keys, in the same order,
 * with the same value rules as the one-name loop. Held to two getHeaderOfLower() calls over random
 * records (own and inherited keys, names in any case, array values with holes, null and undefined)
 * and fetch Headers in packages/core/test/header-name-match.test.ts.
 *
 * @example
 * ```ts
 * const { first: input, second: signature } = getHeadersOfLower(headers, 'signature-input', 'signature');
 * ```
 */
export function getHeadersOfLower(headers: HeadersInit, a: string, b: string): TwoHeaders {
  const out = twoHeaders;
  if (isHeadersObject(headers)) {
    out.first = getHeaderOfLower(headers, a);
    out.second = getHeaderOfLower(headers, b);
    return out;
  }
  let first: string | undefined;
  let second: string | undefined;
  for (const key in headers) {
    let isFirst: boolean;
    if (key.length === a.length && (key === a || sameNameIgnoringCase(key, a))) isFirst = true;
    else if (key.length === b.length && (key === b || sameNameIgnoringCase(key, b))) isFirst = false;
    else continue;
    if (!Object.hasOwn(headers, key)) continue;
    const value = (headers as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    let joined = isFirst ? first : second;
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) {
        const line = index in value ? String(value[index]) : '';
        joined = joined === undefined ? line : `${joined}, ${line}`;
      }
    } else {
      const line = String(value);
      joined = joined === undefined ? line : `${joined}, ${line}`;
    }
    if (isFirst) first = joined;
    else second = joined;
  }
  out.first = first;
  out.second = second;
  return out;
}
