/**
 * RFC 9457 problem details for every hmac-kit failure. What clients learn is
 * deliberately coarser than the error classes: an unknown or inactive key id and a
 * wrong signature give the same answer, so key ids cannot be probed; the full
 * `err.code` stays available to logs and metrics.
 */
import {
  AlgorithmUnsupported,
  BodyTooLarge,
  BodyUnavailable,
  ComponentNotCovered,
  DigestMismatch,
  DigestMissing,
  HmacKitError,
  KeyInactive,
  KeyUnknown,
  NonceMissing,
  NonceReplayed,
  RateLimited,
  ScopeInsufficient,
  SignatureExpired,
  SignatureFromFuture,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
  StoreUnavailable,
  TagNotAccepted,
  TimestampOutOfWindow,
  TooManyFailures,
} from './errors.js';
import { unixNow } from './policy.js';

/** Public problem codes (stable API). */
export type ProblemCode =
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
  | 'scope_insufficient'
  | 'rate_limited'
  | 'too_many_failures'
  | 'store_unavailable'
  | 'internal_error';

/** RFC 9457 problem details as hmac-kit sends them (`application/problem+json`). */
export interface ProblemDetails {
  /** `urn:hmac-kit:problem:<code>`. */
  type: string;
  title: string;
  status: number;
  detail?: string;
  code: ProblemCode;
  instance?: string;
  /** Server time (Unix seconds), on clock failures, so clients can correct skew. */
  server_time?: number;
  /** Seconds to wait, on 429. */
  retry_after?: number;
}

/** A ready-to-send response: status, headers and a JSON body. */
export interface Problem {
  status: number;
  headers: Record<string, string>;
  body: ProblemDetails;
}

export interface ProblemOptions {
  /** URI of this occurrence (e.g. a request id), copied to `instance`. */
  instance?: string;
  /** Current time in Unix seconds, for errors that do not carry one. */
  now?: () => number;
  /** `realm` of the `WWW-Authenticate` challenge. Default `hmac-kit`. */
  realm?: string;
}

interface Mapping {
  code: ProblemCode;
  status: number;
  title: string;
  detail: string;
}

const INVALID: Mapping = {
  code: 'signature_invalid',
  status: 401,
  title: 'Invalid signature',
  detail: 'The request signature could not be verified.',
};

// Most specific classes first: SignatureExpired before TimestampOutOfWindow, TooManyFailures before RateLimited.
const MAPPINGS: ReadonlyArray<readonly [abstract new (...args: never[]) => HmacKitError, Mapping]> = [
  [
    SignatureMissing,
    { code: 'signature_missing', status: 401, title: 'Signature missing', detail: 'The request is not signed.' },
  ],
  [
    SignatureMalformed,
    {
      code: 'signature_malformed',
      status: 400,
      title: 'Malformed signature',
      detail: 'The signature headers could not be parsed.',
    },
  ],
  [KeyUnknown, INVALID],
  [KeyInactive, INVALID],
  [SignatureInvalid, INVALID],
  [
    SignatureExpired,
    {
      code: 'signature_expired',
      status: 401,
      title: 'Signature expired',
      detail: 'The signature is older than allowed or past its expiry; check the client clock against server_time.',
    },
  ],
  [
    SignatureFromFuture,
    {
      code: 'signature_from_future',
      status: 401,
      title: 'Signature from the future',
      detail: 'The signature was created ahead of the server clock; check the client clock against server_time.',
    },
  ],
  [
    TimestampOutOfWindow,
    {
      code: 'signature_expired',
      status: 401,
      title: 'Signature expired',
      detail: 'The signature time is outside the accepted window.',
    },
  ],
  [
    NonceMissing,
    { code: 'nonce_missing', status: 401, title: 'Nonce missing', detail: 'The signature must carry a nonce.' },
  ],
  [
    NonceReplayed,
    { code: 'nonce_replayed', status: 401, title: 'Nonce replayed', detail: 'This signature has already been used.' },
  ],
  [
    DigestMissing,
    {
      code: 'digest_missing',
      status: 401,
      title: 'Content digest missing',
      detail: 'The request has a body but the signature does not cover a sha-256 or sha-512 Content-Digest.',
    },
  ],
  [
    DigestMismatch,
    {
      code: 'digest_mismatch',
      status: 401,
      title: 'Content digest mismatch',
      detail: 'The body does not match its Content-Digest.',
    },
  ],
  [
    ComponentNotCovered,
    {
      code: 'component_not_covered',
      status: 401,
      title: 'Component not covered',
      detail: 'The signature does not cover every component this server requires.',
    },
  ],
  [
    AlgorithmUnsupported,
    {
      code: 'algorithm_unsupported',
      status: 401,
      title: 'Algorithm not supported',
      detail: 'The signature algorithm is not accepted for this key.',
    },
  ],
  [
    TagNotAccepted,
    {
      code: 'tag_not_accepted',
      status: 401,
      title: 'Tag not accepted',
      detail: 'The signature tag is not accepted here.',
    },
  ],
  [
    BodyUnavailable,
    {
      code: 'body_unavailable',
      status: 401,
      title: 'Body needed to verify',
      detail:
        'This signature scheme signs the body, which this endpoint cannot see: use the gateway, or a scheme whose signature covers a body digest header (RFC 9421 with Content-Digest, SigV4 with x-amz-content-sha256).',
    },
  ],
  [
    BodyTooLarge,
    {
      code: 'body_too_large',
      status: 413,
      title: 'Body too large',
      detail: 'The request body exceeds the size limit.',
    },
  ],
  [
    ScopeInsufficient,
    {
      code: 'scope_insufficient',
      status: 403,
      title: 'Insufficient scope',
      detail: 'The key lacks a scope this route requires.',
    },
  ],
  [
    TooManyFailures,
    {
      code: 'too_many_failures',
      status: 429,
      title: 'Too many failures',
      detail: 'Too many failed attempts; retry after retry_after seconds.',
    },
  ],
  [
    RateLimited,
    {
      code: 'rate_limited',
      status: 429,
      title: 'Rate limited',
      detail: 'Rate limit exceeded; retry after retry_after seconds.',
    },
  ],
  [
    StoreUnavailable,
    {
      code: 'store_unavailable',
      status: 503,
      title: 'Service unavailable',
      detail: 'A backing store is unreachable; the request was not authenticated.',
    },
  ],
];

const INTERNAL: Mapping = {
  code: 'internal_error',
  status: 500,
  title: 'Internal error',
  detail: 'The request could not be processed.',
};

function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * Maps any error to an RFC 9457 problem response. Unknown errors become a 500
 * `internal_error` without details; nothing from `error.message` reaches the client.
 *
 * @example
 * ```ts
 * try {
 *   await verifyRequest(request, options);
 * } catch (error) {
 *   logger.warn({ code: (error as HmacKitError).code }, 'request refused');
 *   const { status, headers, body } = toProblem(error, { instance: requestId });
 *   return new Response(JSON.stringify(body), { status, headers });
 * }
 * ```
 */
export function toProblem(error: unknown, options: ProblemOptions = {}): Problem {
  const mapping =
    error instanceof HmacKitError ? (MAPPINGS.find(([type]) => error instanceof type)?.[1] ?? INVALID) : INTERNAL;
  const body: ProblemDetails = {
    type: `urn:hmac-kit:problem:${mapping.code}`,
    title: mapping.title,
    status: mapping.status,
    detail: mapping.detail,
    code: mapping.code,
  };
  if (options.instance !== undefined) body.instance = options.instance;
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store' };
  if (mapping.status === 401) headers['WWW-Authenticate'] = `Signature realm=${quoted(options.realm ?? 'hmac-kit')}`;
  if (error instanceof TimestampOutOfWindow) {
    const serverTime = Number.isFinite(error.serverTime) ? error.serverTime : Math.floor((options.now ?? unixNow)());
    body.server_time = serverTime;
    headers['Date'] = new Date(serverTime * 1000).toUTCString();
  }
  if (error instanceof RateLimited) {
    const retryAfter = Math.max(1, Math.ceil(Number.isFinite(error.retryAfter) ? error.retryAfter : 1));
    body.retry_after = retryAfter;
    headers['Retry-After'] = String(retryAfter);
  }
  return { status: mapping.status, headers, body };
}
