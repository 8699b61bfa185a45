/**
 * Header access over every shape a request's headers arrive in (`Headers`, Node's
 * `IncomingHttpHeaders`, plain records), with RFC 9421 section 2.1 canonicalisation.
 */
import type { HeadersInit } from '../types.js';

/** Lines of one field, in order, from any supported header container; `undefined` when absent. */
export function headerLines(headers: HeadersInit, name: string): string[] | undefined {
  const lower = name.toLowerCase();
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
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
    if (key.length !== lower.length || (key !== lower && key.toLowerCase() !== lower)) continue;
    if (!Object.hasOwn(headers, key)) continue;
    const value = (headers as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    lines ??= [];
    if (Array.isArray(value)) lines.push(...value.map(String));
    else lines.push(String(value));
  }
  return lines;
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

/** {@link canonicalHeader} over lines already read (RFC 9421 section 2.1). */
export function canonicalLines(lines: readonly string[]): string {
  if (lines.length === 1) {
    // The usual single clean line needs neither regex nor a join.
    const line = lines[0]!;
    const first = line.charCodeAt(0);
    const last = line.charCodeAt(line.length - 1);
    if (line.indexOf('\n') === -1 && first !== 0x20 && first !== 0x09 && last !== 0x20 && last !== 0x09) return line;
  }
  return lines.map((line) => line.replace(/[ \t]*\r?\n[ \t]+/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '')).join(', ');
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
  const lines = headerLines(headers, name);
  return lines === undefined ? undefined : lines.join(', ');
}
