/**
 * Errors as data: every error code hmac-kit knows, and for each one what the client is shown,
 * with which HTTP status and problem `type`, and whether it counts as a failed attempt for the
 * failure throttle. `toProblem`, the authenticator's throttle and the server all read these two
 * tables, so the answer to a failure is decided in one place.
 *
 * The union of codes is closed: a code that is not in {@link ERROR_TABLE} (a third-party
 * `HmacKitError` subclass, a code added without a row) is answered `500 internal_error` by
 * `toProblem`, never a silent 401, and the test that enumerates every exported error class
 * fails.
 */

/** Every `HmacKitError` code of the hmac-kit packages (core and keys). */
export type ErrorCode =
  | 'ERR_HMAC_KIT'
  | 'ERR_SIGNATURE_MISSING'
  | 'ERR_SIGNATURE_MALFORMED'
  | 'ERR_KEY_UNKNOWN'
  | 'ERR_KEY_INACTIVE'
  | 'ERR_KEY_REVOKED'
  | 'ERR_KEY_EXPIRED'
  | 'ERR_SIGNATURE_INVALID'
  | 'ERR_TIMESTAMP_OUT_OF_WINDOW'
  | 'ERR_SIGNATURE_EXPIRED'
  | 'ERR_SIGNATURE_FROM_FUTURE'
  | 'ERR_NONCE_MISSING'
  | 'ERR_NONCE_REPLAYED'
  | 'ERR_DIGEST_MISSING'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_COMPONENT_NOT_COVERED'
  | 'ERR_ALGORITHM_UNSUPPORTED'
  | 'ERR_TAG_NOT_ACCEPTED'
  | 'ERR_BODY_UNAVAILABLE'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_BODY_NOT_SIGNED'
  | 'ERR_BODY_AMBIGUOUS'
  | 'ERR_BODY_NOT_JSON'
  | 'ERR_CHARSET_UNSUPPORTED'
  | 'ERR_CONTENT_ENCODING_UNSUPPORTED'
  | 'ERR_DJANGO_BODY_UNPARSEABLE'
  | 'ERR_SCOPE_INSUFFICIENT'
  | 'ERR_RATE_LIMITED'
  | 'ERR_TOO_MANY_FAILURES'
  | 'ERR_STORE_UNAVAILABLE'
  // @hmac-kit/keys
  | 'ERR_MASTER_KEY_MISMATCH'
  | 'ERR_MASTER_KEY_UNKNOWN'
  | 'ERR_PRINCIPAL_NOT_FOUND'
  | 'ERR_PRINCIPAL_EXISTS'
  | 'ERR_PRINCIPAL_DISABLED'
  | 'ERR_KEY_NOT_FOUND'
  | 'ERR_KEY_NOT_ACTIVE'
  | 'ERR_KEY_LIMIT_EXCEEDED'
  | 'ERR_KEY_EXISTS';

/**
 * Every public problem code: what clients see in `code` (and as the last part of `type`).
 * Verification failures and the server's own answers (routing, request targets, the admin API)
 * share one list and one `type` style.
 */
export type ProblemCode =
  // verification
  | 'signature_missing'
  | 'signature_malformed'
  | 'signature_invalid'
  | 'signature_expired'
  | 'signature_from_future'
  | 'nonce_missing'
  | 'nonce_replayed'
  | 'digest_missing'
  | 'digest_mismatch'
  | 'component_not_covered'
  | 'algorithm_unsupported'
  | 'tag_not_accepted'
  | 'body_too_large'
  | 'body_unavailable'
  | 'body_not_signed'
  | 'body_ambiguous'
  | 'charset_unsupported'
  | 'content_encoding_unsupported'
  | 'scope_insufficient'
  | 'rate_limited'
  | 'too_many_failures'
  | 'store_unavailable'
  | 'internal_error'
  // the server's own answers
  | 'not_found'
  | 'method_not_allowed'
  | 'request_target_not_normal'
  | 'identity_header_lookalike'
  | 'authority_mismatch'
  | 'original_request_missing'
  | 'untrusted_proxy'
  | 'upstream_error'
  | 'upstream_timeout'
  | 'upstream_busy'
  | 'body_timeout'
  | 'body_not_allowed'
  | 'header_fields_too_large'
  | 'malformed_request'
  | 'request_head_timeout'
  | 'chunk_extensions_too_large'
  | 'invalid_request'
  | 'invalid_json'
  | 'invalid_credentials'
  | 'login_busy'
  | 'principal_not_found'
  | 'key_not_found'
  | 'principal_exists'
  | 'principal_disabled'
  | 'key_not_active'
  | 'key_limit_reached'
  | 'key_exists'
  // the console (a browser page served with the server)
  | 'console_signed_out'
  | 'cross_site_request'
  | 'csrf_token_invalid'
  | 'unsupported_media_type';

/** The one `type` URI style of every problem hmac-kit sends. */
export type ProblemType = `urn:hmac-kit:problem:${ProblemCode}`;

/** How one error code is answered. */
export interface ErrorEntry {
  /** HTTP status of the answer. */
  readonly status: number;
  /** Problem `type` of the answer: `urn:hmac-kit:problem:<shownToClientAs>`. */
  readonly type: ProblemType;
  /**
   * Whether it is a failed attempt for the failure throttle: what an attacker guessing or replaying
   * produces. Missing credentials, limits, outages, oversized bodies and scope refusals are not.
   */
  readonly countsAsFailure: boolean;
  /** The public code the client sees; coarser than the error code (an unknown key reads as a wrong signature). */
  readonly shownToClientAs: ProblemCode;
}

/** Title, status and default detail of each public problem code. */
export interface ProblemEntry {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
}

/**
 * The problem `type` URI of a public code.
 *
 * @example
 * ```ts
 * problemType('signature_invalid'); // 'urn:hmac-kit:problem:signature_invalid'
 * ```
 */
export function problemType<C extends ProblemCode>(code: C): `urn:hmac-kit:problem:${C}` {
  return `urn:hmac-kit:problem:${code}`;
}

function entry(status: number, shownToClientAs: ProblemCode, countsAsFailure: boolean): ErrorEntry {
  return Object.freeze({ status, type: problemType(shownToClientAs), countsAsFailure, shownToClientAs });
}

/**
 * Error code → answer. Checked with `satisfies`: adding a code to {@link ErrorCode} without a row
 * here does not compile.
 */
export const ERROR_TABLE = Object.freeze({
  // A bare HmacKitError says nothing about the request: an internal error, not a guess.
  ERR_HMAC_KIT: entry(500, 'internal_error', false),
  ERR_SIGNATURE_MISSING: entry(401, 'signature_missing', false),
  ERR_SIGNATURE_MALFORMED: entry(400, 'signature_malformed', true),
  // Key-related failures all read as a wrong signature: key ids cannot be probed.
  ERR_KEY_UNKNOWN: entry(401, 'signature_invalid', true),
  ERR_KEY_INACTIVE: entry(401, 'signature_invalid', true),
  ERR_KEY_REVOKED: entry(401, 'signature_invalid', true),
  ERR_KEY_EXPIRED: entry(401, 'signature_invalid', true),
  ERR_SIGNATURE_INVALID: entry(401, 'signature_invalid', true),
  ERR_TIMESTAMP_OUT_OF_WINDOW: entry(401, 'signature_expired', true),
  ERR_SIGNATURE_EXPIRED: entry(401, 'signature_expired', true),
  ERR_SIGNATURE_FROM_FUTURE: entry(401, 'signature_from_future', true),
  ERR_NONCE_MISSING: entry(401, 'nonce_missing', true),
  ERR_NONCE_REPLAYED: entry(401, 'nonce_replayed', true),
  ERR_DIGEST_MISSING: entry(401, 'digest_missing', true),
  ERR_DIGEST_MISMATCH: entry(401, 'digest_mismatch', true),
  ERR_COMPONENT_NOT_COVERED: entry(401, 'component_not_covered', true),
  ERR_ALGORITHM_UNSUPPORTED: entry(401, 'algorithm_unsupported', true),
  ERR_TAG_NOT_ACCEPTED: entry(401, 'tag_not_accepted', true),
  ERR_BODY_UNAVAILABLE: entry(401, 'body_unavailable', false),
  ERR_BODY_TOO_LARGE: entry(413, 'body_too_large', false),
  ERR_BODY_NOT_SIGNED: entry(401, 'body_not_signed', true),
  ERR_BODY_AMBIGUOUS: entry(400, 'body_ambiguous', true),
  // Body parsing (@hmac-kit/express's json option): after verification (not a guess: the client is
  // authenticated), or refused from the head before anything is read.
  ERR_BODY_NOT_JSON: entry(400, 'invalid_json', false),
  ERR_CHARSET_UNSUPPORTED: entry(415, 'charset_unsupported', false),
  ERR_CONTENT_ENCODING_UNSUPPORTED: entry(415, 'content_encoding_unsupported', false),
  // DRF would answer 400 to this body; its signature cannot have been made over it.
  ERR_DJANGO_BODY_UNPARSEABLE: entry(401, 'signature_invalid', true),
  ERR_SCOPE_INSUFFICIENT: entry(403, 'scope_insufficient', false),
  ERR_RATE_LIMITED: entry(429, 'rate_limited', false),
  ERR_TOO_MANY_FAILURES: entry(429, 'too_many_failures', false),
  ERR_STORE_UNAVAILABLE: entry(503, 'store_unavailable', false),
  // @hmac-kit/keys: admin API errors (key material problems are the server's, hence 500).
  ERR_MASTER_KEY_MISMATCH: entry(500, 'internal_error', false),
  ERR_MASTER_KEY_UNKNOWN: entry(500, 'internal_error', false),
  ERR_PRINCIPAL_NOT_FOUND: entry(404, 'principal_not_found', false),
  ERR_PRINCIPAL_EXISTS: entry(409, 'principal_exists', false),
  ERR_PRINCIPAL_DISABLED: entry(409, 'principal_disabled', false),
  ERR_KEY_NOT_FOUND: entry(404, 'key_not_found', false),
  ERR_KEY_NOT_ACTIVE: entry(409, 'key_not_active', false),
  ERR_KEY_LIMIT_EXCEEDED: entry(409, 'key_limit_reached', false),
  ERR_KEY_EXISTS: entry(409, 'key_exists', false),
} satisfies Record<ErrorCode, ErrorEntry>);

function problem(status: number, title: string, detail: string): ProblemEntry {
  return Object.freeze({ status, title, detail });
}

/** Public code → status, title and default detail (`detail` never carries request data). */
export const PROBLEM_TABLE = Object.freeze({
  signature_missing: problem(401, 'Signature missing', 'The request is not signed.'),
  signature_malformed: problem(400, 'Malformed signature', 'The signature headers could not be parsed.'),
  signature_invalid: problem(401, 'Invalid signature', 'The request signature could not be verified.'),
  signature_expired: problem(
    401,
    'Signature expired',
    'The signature is older than allowed or past its expiry; check the client clock against server_time.',
  ),
  signature_from_future: problem(
    401,
    'Signature from the future',
    'The signature was created ahead of the server clock; check the client clock against server_time.',
  ),
  nonce_missing: problem(401, 'Nonce missing', 'The signature must carry a nonce.'),
  nonce_replayed: problem(401, 'Nonce replayed', 'This signature has already been used.'),
  digest_missing: problem(
    401,
    'Content digest missing',
    'The request has a body but the signature does not cover a sha-256 or sha-512 Content-Digest.',
  ),
  digest_mismatch: problem(401, 'Content digest mismatch', 'The body does not match its Content-Digest.'),
  component_not_covered: problem(
    401,
    'Component not covered',
    'The signature does not cover every component this server requires.',
  ),
  algorithm_unsupported: problem(401, 'Algorithm not supported', 'The signature algorithm is not accepted here.'),
  tag_not_accepted: problem(401, 'Tag not accepted', 'The signature tag is not accepted here.'),
  body_too_large: problem(413, 'Body too large', 'The request body exceeds the size limit.'),
  body_unavailable: problem(
    401,
    'Body needed to verify',
    'This signature scheme signs the body, which this endpoint cannot see: use the gateway, or a scheme whose signature covers a body digest header (RFC 9421 with Content-Digest, SigV4 with x-amz-content-sha256).',
  ),
  body_not_signed: problem(
    401,
    'Body not signed',
    'The request has a body that its signature does not cover; sign the request with its body.',
  ),
  body_ambiguous: problem(
    400,
    'Ambiguous body',
    'The body can be read in more than one way (for example a JSON object with a repeated name); send it without the ambiguity.',
  ),
  charset_unsupported: problem(
    415,
    'Charset not supported',
    'The body is declared in a charset other than utf-8 (Content-Type charset parameter); send it as utf-8.',
  ),
  content_encoding_unsupported: problem(
    415,
    'Content-Encoding not supported',
    'The body has a Content-Encoding (gzip, br, deflate...) this endpoint does not accept; send it uncompressed (identity).',
  ),
  scope_insufficient: problem(403, 'Insufficient scope', 'The key lacks a scope this route requires.'),
  rate_limited: problem(429, 'Rate limited', 'Rate limit exceeded; retry after retry_after seconds.'),
  too_many_failures: problem(429, 'Too many failures', 'Too many failed attempts; retry after retry_after seconds.'),
  store_unavailable: problem(
    503,
    'Service unavailable',
    'A backing store is unreachable; the request was not authenticated.',
  ),
  internal_error: problem(500, 'Internal error', 'The request could not be processed.'),
  not_found: problem(404, 'Not found', 'No route answers this path.'),
  method_not_allowed: problem(405, 'Method not allowed', 'The path does not answer this method; see Allow.'),
  request_target_not_normal: problem(
    400,
    'Request target not in normal form',
    'The request target must be an origin-form path without dot segments, empty segments, backslashes or characters that parsers rewrite.',
  ),
  identity_header_lookalike: problem(
    400,
    'Identity header look-alike',
    'The request carries a header that upstreams read as an identity header the proxy sets.',
  ),
  authority_mismatch: problem(400, 'Authority mismatch', 'The Host header and :authority name different hosts.'),
  original_request_missing: problem(
    400,
    'Original request missing',
    'forward-auth needs the original URI and method from the proxy.',
  ),
  untrusted_proxy: problem(403, 'Untrusted proxy', 'forward-auth answers only configured trusted proxies.'),
  upstream_error: problem(502, 'Bad gateway', 'The upstream could not be reached.'),
  upstream_timeout: problem(504, 'Gateway timeout', 'The upstream did not answer in time.'),
  upstream_busy: problem(
    503,
    'Upstream busy',
    'Every connection to the upstream is in use and the queue of waiting requests is full; retry after the Retry-After header. Nothing was sent upstream.',
  ),
  body_timeout: problem(
    408,
    'Request body timeout',
    'The request body arrived too slowly (under 500 bytes/s); the connection is closed.',
  ),
  body_not_allowed: problem(
    400,
    'Body not allowed',
    'A GET or HEAD request carries a body (Content-Length above 0 or Transfer-Encoding), which the gateway does not forward (RFC 9110 section 9.3.1); send it without one.',
  ),
  header_fields_too_large: problem(
    431,
    'Request header fields too large',
    'The request head is larger than the server accepts (--max-http-header-size); the connection is closed.',
  ),
  malformed_request: problem(
    400,
    'Malformed request',
    'The request is not valid HTTP/1.1 (a header line without a colon, a bad method, version or framing); the connection is closed.',
  ),
  request_head_timeout: problem(
    408,
    'Request head timeout',
    'The request head was not complete within --headers-timeout; the connection is closed.',
  ),
  chunk_extensions_too_large: problem(
    413,
    'Chunk extensions too large',
    'The chunked body carries more chunk-extension bytes than the server accepts; the connection is closed.',
  ),
  invalid_request: problem(400, 'Invalid request', 'The request is not valid for this route.'),
  invalid_json: problem(400, 'Invalid JSON', 'The body is not valid JSON.'),
  invalid_credentials: problem(401, 'Invalid credentials', 'Wrong username or password.'),
  login_busy: problem(
    503,
    'Too many logins in progress',
    'Every password check slot is busy; retry after the Retry-After header. Nothing was checked.',
  ),
  principal_not_found: problem(404, 'Principal not found', 'No principal has this name.'),
  key_not_found: problem(404, 'Key not found', 'No key has this id.'),
  principal_exists: problem(409, 'Principal exists', 'A principal with this name already exists.'),
  principal_disabled: problem(409, 'Principal disabled', 'The principal is disabled.'),
  key_not_active: problem(409, 'Key not active', 'The key is revoked or expired.'),
  key_limit_reached: problem(409, 'Key limit reached', 'The principal already has the maximum number of active keys.'),
  key_exists: problem(409, 'Key exists', 'A key with this id already exists.'),
  console_signed_out: problem(401, 'Signed out', 'Sign in to the console.'),
  cross_site_request: problem(403, 'Cross-site request', 'The console and the logins do not answer other sites.'),
  csrf_token_invalid: problem(403, 'CSRF token invalid', 'The x-csrf-token header is missing or wrong.'),
  unsupported_media_type: problem(415, 'Unsupported media type', 'Send application/json.'),
} satisfies Record<ProblemCode, ProblemEntry>);

const ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(ERROR_TABLE));
const PROBLEM_CODES: ReadonlySet<string> = new Set(Object.keys(PROBLEM_TABLE));

/** Whether `code` is one of the closed set of error codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && ERROR_CODES.has(code);
}

/** Whether `code` is one of the public problem codes. */
export function isProblemCode(code: unknown): code is ProblemCode {
  return typeof code === 'string' && PROBLEM_CODES.has(code);
}
