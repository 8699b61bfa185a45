/**
 * The request-target normal form of the gateway and forward-auth (issue #11 defect 4).
 *
 * A verifier and the service behind it must read one and the same request. The schemes do not
 * see the target as sent: RFC 9421 reads the path through WHATWG URL parsing (which resolves
 * `.`/`..` and `%2e`, turns `\` into `/` and re-encodes spaces, quotes, `<>{}` and non-ASCII),
 * and SigV4 canonicalises it (drops empty and dot segments, sorts and re-encodes the query). So a
 * signature for `/b/c` verifies `/a/../b/c` while the upstream is handed `/a/../b/c`, and a router
 * that does not resolve dot segments the WHATWG way (Tomcat's `..;`, a static file handler that
 * decodes `%2e`) serves something else. The fix is to forward only targets on which every such
 * rewriting is the identity: then what was verified is, byte for byte, what is forwarded.
 *
 * Normal form (checked before verification, for every scheme):
 * - origin-form: `/path` with an optional `?query`; never absolute-form (`http://host/x`, which
 *   the gateway would otherwise forward as is), authority-form or asterisk-form (`OPTIONS *`);
 * - no `#` (a fragment is not part of a request target and URL parsing drops it);
 * - every `%` starts a `%HH` escape;
 * - path: no `\`, no empty segment (`//`; a trailing `/` is fine), no dot segment, raw or
 *   percent-encoded, alone or before `;` parameters (`.`, `..`, `%2e`, `.%2E`, `..;x`), no byte
 *   WHATWG URL parsing would percent-encode (controls, space, `"`, `<`, `>`, `` ` ``, `{`, `}`,
 *   non-ASCII);
 * - query: not empty after `?`, no byte WHATWG URL parsing would percent-encode (controls, space,
 *   `"`, `'`, `<`, `>`, non-ASCII).
 * Empty segments are refused for every scheme (RFC 9421 signs them exactly, SigV4 does not):
 * one rule for every scheme is simpler to reason about, and no real API path needs `//`.
 *
 * Schemes that sign a *sorted* query (SigV4, X-API-*) do not sign the order of its parameters,
 * nor empty `&&` parts, and SigV4 does not sign the difference between `+`, `%2B` and `%20`. An
 * upstream that keeps the first of two `id=` values, or decodes `+` as a space, would read a
 * reordered copy differently. {@link sortedQueryDefect} therefore refuses, for those schemes,
 * repeated parameter names out of the scheme's canonical order, empty parts and (SigV4) a
 * literal `+`. Parameters with distinct names may come in any order: their meaning does not
 * depend on it. This is checked before verification ({@link sortedQueryDefectBeforeVerifying},
 * from the credentials' look, so a reordered copy cannot burn the genuine request's nonce) and
 * again on the scheme that verified the request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { sigv4CanonicalQuery, xApiCanonicalQuery } from '@hmac-kit/core';
import { type ServerProblem, serverProblem } from './http.js';

/** The stable problem code for a refused target. */
export const TARGET_NOT_NORMAL = 'request_target_not_normal';

// Bytes WHATWG URL parsing rewrites in a path of a special (http/https) URL: everything outside
// printable ASCII `!`..`~` (controls, space, DEL, non-ASCII: percent-encoded), `"#<>?`{}` (the
// path percent-encode set) and `\` (read as `/`). `#` and `?` are handled apart (they end the path).
const PATH_REWRITTEN = /[^!-~]|["<>`{}\\]/;
// The same for a query of a special URL: controls, space, DEL, non-ASCII, `"#<>'`.
const QUERY_REWRITTEN = /[^!-~]|["'<>]/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;
// A segment that URL parsing, SigV4 normalisation or a servlet container reads as `.` or `..`:
// one or two dots, each raw or `%2e`, alone or followed by `;parameters`.
const DOT_SEGMENT = /^(?:\.|%2e){1,2}(?:;.*)?$/i;

/**
 * Why `target` (a request target exactly as received: `request.url`, `X-Original-URI`,
 * `X-Forwarded-Uri`) is not in the gateway's normal form, or `undefined` when it is. The
 * answer is a sentence for the problem's `detail`.
 *
 * @example
 * ```ts
 * requestTargetDefect('/orders/7?expand=items'); // undefined
 * requestTargetDefect('/a/../b/c'); // 'the path has a dot segment ("..") ...'
 * requestTargetDefect('http://evil.example/x'); // 'absolute-form request targets are not accepted ...'
 * ```
 */
export function requestTargetDefect(target: string): string | undefined {
  // Every request of forward-auth and the gateway comes through here (regular expressions, a split
  // and a test per segment, ~0.7 µs, issue #15); the usual target is settled by one scan.
  return isPlainRequestTarget(target) ? undefined : requestTargetDefectGeneral(target);
}

// What a plain target may hold. In a path: printable ASCII but `"#%<>\`{}`, `.` (only a path segment can
// be a dot segment) and `?` (which ends it); `'` is rewritten by URL parsing in a query, not in a
// path. In a query: the same but `'`, with `.`, `/` and `?`. Anything else (controls, space,
// non-ASCII) sends the target down the general path, which decides.
const PATH_CHARS = "!$&'()*+,\\-0-9:;=@A-Z\\[\\]^_a-z|~";
const QUERY_CHARS = '!$&()*+,\\-./0-9:;=?@A-Z\\[\\]^_a-z|~';
/**
 * A plain target: `/`, segments of path characters each followed by one `/` (so no `//`), a last
 * segment (possibly empty), and a query of at least one character (a lone `?` verifies like no
 * query: refused by the general rules). No segment has a `/` in its class, so the match never
 * backtracks more than one character.
 */
const PLAIN_TARGET = new RegExp(`^\\/(?:[${PATH_CHARS}]+\\/)*[${PATH_CHARS}]*(?:\\?[${QUERY_CHARS}]+)?$`);

/**
 * Whether `target` is in the normal form by a single scan that looks at no rule's detail: an
 * origin-form target (`/` first) whose path has no `//`, no `.`, no `%` and none of the bytes URL
 * parsing rewrites, and whose query (if any) is not empty and has no `%` and none of the bytes URL
 * parsing rewrites there. Invariant (held by test/request-target-fast.test.ts against
 * {@link requestTargetDefectGeneral}, and against the byte loop it replaced): true only for targets
 * the general rules accept; false says nothing (the general rules decide). One regular expression
 * (irregexp's native code): the byte loop it replaced cost ~50 instructions per character under
 * callgrind (`charCodeAt` dispatching on the string's representation at every call), this ~20
 * (session 19, issue #15).
 *
 * @example
 * ```ts
 * isPlainRequestTarget('/v1/orders?customer=c_8f14&limit=20'); // true
 * isPlainRequestTarget('/v1/orders.json'); // false: a `.` in the path (the general rules accept it)
 * ```
 */
export function isPlainRequestTarget(target: string): boolean {
  return PLAIN_TARGET.test(target);
}

/**
 * {@link requestTargetDefect} by its rules one by one: the reference of the plain-target scan
 * ({@link isPlainRequestTarget}), and the answer (with its reason) for every other target.
 *
 * @example
 * ```ts
 * requestTargetDefectGeneral('/a/../b/c'); // 'the path has a dot segment ("..") ...'
 * ```
 */
export function requestTargetDefectGeneral(target: string): string | undefined {
  if (target === '*') return 'asterisk-form (OPTIONS *) is about the server itself and is not forwarded';
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)
      ? 'absolute-form request targets are not accepted: send the path (origin-form, /path?query)'
      : 'the request target must be a path (origin-form, /path?query)';
  }
  if (target.includes('#')) return 'the request target has a fragment (#)';
  if (BAD_ESCAPE.test(target)) return 'the request target has a % that does not start a %HH escape';
  const question = target.indexOf('?');
  const path = question === -1 ? target : target.slice(0, question);
  if (path.includes('\\')) return 'the path has a backslash, which URL parsing reads as /';
  if (PATH_REWRITTEN.test(path)) return 'the path has a character that must be percent-encoded';
  // Segments after the leading "/": an empty one other than the last is "//".
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment === '') {
      if (i < segments.length - 1) return 'the path has an empty segment (//)';
      continue;
    }
    if (DOT_SEGMENT.test(segment)) {
      return `the path has a dot segment (${JSON.stringify(segment)}), raw or percent-encoded: send the resolved path`;
    }
  }
  if (question !== -1) {
    const query = target.slice(question + 1);
    // URL parsing keeps "?" in href but not in search: "/a?" and "/a" would verify alike.
    if (query === '') return 'the request target ends with an empty query (?)';
    if (QUERY_REWRITTEN.test(query)) return 'the query has a character that must be percent-encoded';
  }
  return undefined;
}

/** The schemes whose signature covers a sorted query (not the order sent). */
const SORTED_QUERY_SCHEMES: ReadonlyMap<string, (parts: string) => string> = new Map([
  ['sigv4', (parts: string) => sigv4CanonicalQuery(parts)],
  ['x-api', (parts: string) => xApiCanonicalQuery(parts)],
]);

/**
 * For a scheme that signs a sorted query (SigV4, X-API-*): why the query of `target` could be
 * reordered or re-spelled without the signature noticing in a way an upstream may read
 * differently, or `undefined`. Other schemes sign the query as sent (or not at all) and always
 * get `undefined`.
 *
 * @example
 * ```ts
 * sortedQueryDefect('sigv4', '/items?id=1&id=2&a=x'); // undefined (repeated name in canonical order)
 * sortedQueryDefect('sigv4', '/items?id=2&id=1'); // 'the query repeats "id" out of ...'
 * sortedQueryDefect('rfc9421', '/items?id=2&id=1'); // undefined (RFC 9421 signs the order)
 * ```
 */
export function sortedQueryDefect(scheme: string, target: string): string | undefined {
  const canonical = SORTED_QUERY_SCHEMES.get(scheme);
  if (canonical === undefined) return undefined;
  const question = target.indexOf('?');
  if (question === -1) return undefined;
  const query = target.slice(question + 1);
  if (query === '') return undefined;
  if (scheme === 'sigv4' && query.includes('+')) {
    return 'a literal + in a SigV4 query is signed like %2B and %20: send %2B or %20';
  }
  const byName = new Map<string, string[]>();
  for (const part of query.split('&')) {
    if (part === '') return `the query has an empty parameter (&&), which ${scheme} does not sign`;
    const equals = part.indexOf('=');
    const name = equals === -1 ? part : part.slice(0, equals);
    const parts = byName.get(name);
    if (parts === undefined) byName.set(name, [part]);
    else parts.push(part);
  }
  for (const [name, parts] of byName) {
    if (parts.length < 2) continue;
    // In canonical order when canonicalising them together changes nothing but each one's spelling.
    const together = canonical(parts.join('&'));
    const inOrder = parts.map((part) => canonical(part)).join('&');
    if (together !== inOrder) {
      return `the query repeats ${JSON.stringify(name)} out of ${scheme}'s canonical order, which its signature does not cover: sort the values`;
    }
  }
  return undefined;
}

// What SigV4 and X-API-* credentials look like (the server's configuration of those schemes): an
// `Authorization: <PROVIDER>4-HMAC-SHA256 ...` header or a presigned `X-<Provider>-Signature=`
// query parameter; an `X-API-Signature` header.
const SIGV4_AUTHORIZATION = /^[A-Za-z0-9]+4-HMAC-SHA256\s/;
const SIGV4_PRESIGNED = /(?:^|[?&])X-[A-Za-z0-9]+-Signature=/i;

/**
 * {@link sortedQueryDefect} for the sorted-query schemes whose credentials the request appears to
 * carry, before anything is verified: a refusal here has no side effect (no nonce recorded, no
 * failure counted), so an attacker's reordered copy cannot use up the genuine request's nonce.
 *
 * @example
 * ```ts
 * sortedQueryDefectBeforeVerifying({ 'x-api-signature': '...' }, '/a?id=2&id=1'); // 'the query repeats "id" ...'
 * ```
 */
export function sortedQueryDefectBeforeVerifying(headers: IncomingHttpHeaders, target: string): string | undefined {
  if (target.indexOf('?') === -1) return undefined;
  const authorization = headers.authorization;
  if ((typeof authorization === 'string' && SIGV4_AUTHORIZATION.test(authorization)) || SIGV4_PRESIGNED.test(target)) {
    const defect = sortedQueryDefect('sigv4', target);
    if (defect !== undefined) return defect;
  }
  return headers['x-api-signature'] !== undefined ? sortedQueryDefect('x-api', target) : undefined;
}

/**
 * The 400 problem for a target that is not in normal form, with the reason as its detail.
 *
 * @example
 * ```ts
 * const defect = requestTargetDefect(request.url ?? '/');
 * if (defect) sendProblem(response, targetProblem(defect), context.id);
 * ```
 */
export function targetProblem(detail: string): ServerProblem {
  return serverProblem(TARGET_NOT_NORMAL, detail);
}
