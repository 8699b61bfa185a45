/**
 * The request writer's head: the request line and fields as ONE latin1 string, every name checked
 * as an RFC 9110 token and every value for control characters.
 *
 * Measured (callgrind, `node --predictable`, a 15-field signed head of ~600 bytes): JS byte loops
 * over every value cost ~27k instructions per head (~30 per character: `charCodeAt` and the
 * compares), one regex test per value (irregexp's native scan) ~20k, and a name checked once and
 * then found in {@link CHECKED_NAMES} with a regex per value ~15k (building the string alone: ~5k).
 * So the writer uses the last; {@link isToken} and {@link isFieldValue} (byte loops) are the
 * general form it is held to (test/gateway-upstream-conformance.test.ts, fast-check).
 *
 * The relayed fields were already parsed by node's server (which refuses CR, LF and NUL in them),
 * and the gateway's own are built from checked parts: these checks are a guard, so that no field
 * that could split or end the head ever reaches the upstream whatever changes upstream of them.
 */
import { UpstreamRequestError } from './errors.js';

/** RFC 9110 §5.6.2 `tchar`: 1 for every byte allowed in a token. */
const TOKEN = new Uint8Array(256);
for (const char of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[char.charCodeAt(0)] = 1;
}

/**
 * Whether `text` is an RFC 9110 token (a field name, a method): one or more `tchar`.
 *
 * @example
 * ```ts
 * isToken('content-type'); // true
 * isToken('bad name'); // false
 * ```
 */
export function isToken(text: string): boolean {
  const length = text.length;
  if (length === 0) return false;
  for (let index = 0; index < length; index++) {
    const code = text.charCodeAt(index);
    if (code > 0xff || TOKEN[code] !== 1) return false;
  }
  return true;
}

/**
 * Whether `text` may be written as a field value: no control character (CR, LF, NUL, any other
 * below 0x20, DEL) but HTAB, and nothing outside latin1 (a field is written as latin1 bytes).
 *
 * @example
 * ```ts
 * isFieldValue('text/plain; charset=utf-8'); // true
 * isFieldValue('a\r\nInjected: 1'); // false
 * ```
 */
export function isFieldValue(text: string): boolean {
  const length = text.length;
  for (let index = 0; index < length; index++) {
    const code = text.charCodeAt(index);
    // Visible ASCII and SP (nearly every byte) pass with one unsigned comparison.
    if (code - 0x20 < 0x5f && code >= 0x20) continue;
    if (code === 0x09 || (code >= 0x80 && code <= 0xff)) continue;
    return false;
  }
  return true;
}

/** Any character that is not RFC 9110 field-value text (HTAB, SP to `~`, obs-text 0x80-0xff): {@link isFieldValue}'s negation. */
const NOT_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Field names that passed {@link isToken}, so that a name sent on every request is checked once.
 * Invariant: every string in the set is a token (only added after `isToken` said so), so `has()`
 * true implies `isToken()` true; bounded (cleared when full), so no client can grow it.
 */
const CHECKED_NAMES = new Set<string>();
const CHECKED_NAMES_MAX = 512;

function isCheckedToken(name: string): boolean {
  if (CHECKED_NAMES.has(name)) return true;
  if (!isToken(name)) return false;
  if (name.length <= 64) {
    if (CHECKED_NAMES.size >= CHECKED_NAMES_MAX) CHECKED_NAMES.clear();
    CHECKED_NAMES.add(name);
  }
  return true;
}

/** Whether `text` may be written as the request target: visible ASCII, no space, no controls. */
function isRequestTarget(text: string): boolean {
  const length = text.length;
  if (length === 0) return false;
  for (let index = 0; index < length; index++) {
    const code = text.charCodeAt(index);
    if (code <= 0x20 || code >= 0x7f) return false;
  }
  return true;
}

/**
 * Fields the writer sets itself or never sends (framing and connection management): a relayed
 * one is dropped (`host`, `content-length`, `transfer-encoding`: written by the writer from the
 * request) or refused (`connection`, `keep-alive`, `upgrade`, `expect`: as undici refuses them).
 */
const WRITER_SET: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding']);
const REFUSED: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'upgrade', 'expect', 'te']);

/** The first letters of the names in WRITER_SET and REFUSED (lower case). */
const FIRST_LETTERS = new Uint8Array(256);
for (const name of [...WRITER_SET, ...REFUSED]) FIRST_LETTERS[name.charCodeAt(0)] = 1;

/** How the body is framed on the wire. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

/** Methods whose request has a body by their semantics: a bodyless one says `content-length: 0` (as undici does). */
const EXPECTS_PAYLOAD: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'QUERY']);

/**
 * Whether `method`'s request has a body by its semantics (POST, PUT, PATCH, QUERY): a body on any
 * other method may go unread by the upstream (undici's `expectsPayload`).
 *
 * @example
 * ```ts
 * expectsPayload('POST'); // true
 * expectsPayload('GET'); // false
 * ```
 */
export function expectsPayload(method: string): boolean {
  return EXPECTS_PAYLOAD.has(method);
}

/**
 * The head of one request: `METHOD target HTTP/1.1`, `host`, the fields (`[name, value, ...]`, a
 * value array written as repeated fields), the framing field, and the blank line. Throws
 * {@link UpstreamRequestError} on a method, target, name or value that could not be written as
 * sent (nothing is written then).
 *
 * @example
 * ```ts
 * requestHead('GET', '/a', '127.0.0.1:3000', ['accept', '*\/*'], { kind: 'none' });
 * // 'GET /a HTTP/1.1\r\nhost: 127.0.0.1:3000\r\naccept: *\/*\r\n\r\n'
 * ```
 */
export function requestHead(
  method: string,
  target: string,
  host: string,
  fields: readonly (string | readonly string[])[],
  framing: BodyFraming,
): string {
  if (!isToken(method)) throw new UpstreamRequestError('an invalid request method');
  if (!isRequestTarget(target)) throw new UpstreamRequestError('an invalid request target');
  let head = `${method} ${target} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const name = fields[index] as string;
    const value = fields[index + 1] as string | readonly string[];
    if (typeof name !== 'string' || !isCheckedToken(name)) throw new UpstreamRequestError('an invalid header name');
    // Only a name starting with one of the letters of WRITER_SET's and REFUSED's names is looked up
    // (a token's first byte | 0x20 is its lower-case letter).
    if (FIRST_LETTERS[name.charCodeAt(0) | 0x20] === 1) {
      const lower = name.toLowerCase();
      if (WRITER_SET.has(lower)) continue;
      if (REFUSED.has(lower)) throw new UpstreamRequestError(`a ${lower} header the upstream client sets itself`);
    }
    if (typeof value === 'string') {
      if (NOT_FIELD_VALUE.test(value)) throw new UpstreamRequestError('an invalid header value');
      head += `${name}: ${value}\r\n`;
      continue;
    }
    for (const one of value) {
      if (typeof one !== 'string' || NOT_FIELD_VALUE.test(one))
        throw new UpstreamRequestError('an invalid header value');
      head += `${name}: ${one}\r\n`;
    }
  }
  if (framing.kind === 'length') {
    if (framing.length > 0 || EXPECTS_PAYLOAD.has(method)) head += `content-length: ${framing.length}\r\n`;
  } else if (framing.kind === 'chunked') {
    head += 'transfer-encoding: chunked\r\n';
  } else if (EXPECTS_PAYLOAD.has(method)) {
    head += 'content-length: 0\r\n';
  }
  return `${head}\r\n`;
}
