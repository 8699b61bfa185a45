/**
 * Whether a request carries a body, judged from its head alone: the one rule the core, the
 * framework adapters and the gateway share. It decides whether a signature has to cover the body,
 * so it must never say "no body" for a request whose framing delivers one (the gateway would then
 * verify a bodiless request and forward a body nobody signed). It follows HTTP's framing (RFC 9112
 * section 6.3): any `Transfer-Encoding` means a body; otherwise `Content-Length` decides, and only
 * a value that is zero as a decimal number (`0`, `00`, with the optional whitespace parsers strip)
 * means none, as every conforming parser (Node's included) reads zero bytes then.
 */
import type { HeadersInit, MessageParts } from '../types.js';
import { getHeaderOfLower } from './headers.js';

/** Methods whose requests are signed as carrying a body even when it is empty (Content-Digest covers it). */
export const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

// Content-Length = 1*DIGIT (RFC 9110 section 8.6), with the optional whitespace (SP, HTAB) that
// parsers strip around a field value. Anything else (`+0`, `0x0`, a list `0, 0`) is not a plain
// zero and counts as a body, which fails closed: the signature must then cover it.
const ZERO_LENGTH = /^[ \t]*0+[ \t]*$/;

/**
 * Whether the head's framing announces body bytes: any `Transfer-Encoding` (chunked has no
 * length), or a `Content-Length` other than zero. The method does not count (see
 * {@link messageHasBody}).
 *
 * @example
 * ```ts
 * framingDeclaresBody({ 'content-length': '00' }); // false: zero bytes
 * framingDeclaresBody({ 'transfer-encoding': 'chunked' }); // true
 * ```
 */
export function framingDeclaresBody(headers: HeadersInit): boolean {
  if (getHeaderOfLower(headers, 'transfer-encoding') !== undefined) return true;
  const length = getHeaderOfLower(headers, 'content-length');
  return length !== undefined && !ZERO_LENGTH.test(length);
}

/**
 * Whether a request carries a body, judged from its head alone: `Content-Length`
 * greater than 0, any `Transfer-Encoding`, or a POST/PUT/PATCH method (an empty
 * POST body is covered by a Content-Digest too).
 *
 * @example
 * ```ts
 * messageHasBody({ method: 'GET', url, headers: { 'content-length': '0' } }); // false
 * messageHasBody({ method: 'POST', url, headers: {} }); // true
 * ```
 */
export function messageHasBody(message: MessageParts): boolean {
  if (BODY_METHODS.has(String(message.method).toUpperCase())) return true;
  return framingDeclaresBody(message.headers ?? {});
}
