/**
 * RFC 9457 problem details for every hmac-kit failure. What clients learn is
 * deliberately coarser than the error classes: an unknown or inactive key id and a
 * wrong signature give the same answer, so key ids cannot be probed; the full
 * `err.code` stays available to logs and metrics.
 */
import { ERROR_TABLE, type ErrorEntry, PROBLEM_TABLE, type ProblemCode, problemType } from './error-table.js';
import { errorEntry, RateLimited, TimestampOutOfWindow } from './errors.js';
import { unixNow } from './pipeline/policy.js';
import { type SignatureBaseReport, signatureBaseOf } from './pipeline/signature-base.js';

export type { ProblemCode } from './error-table.js';

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
  /**
   * Only with `debugSignatures` on, on `signature_invalid`: what the server MACed, rebuilt from
   * the request alone (never a MAC or a secret), to compare with what the client signed.
   */
  signature_base?: SignatureBaseReport;
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

/** What anything outside the closed set of codes is answered with: never a silent 401. */
const INTERNAL: ErrorEntry = ERROR_TABLE.ERR_HMAC_KIT;

/**
 * The table row an error is answered by: its code's row for an {@link HmacKitError} whose code is
 * in the table, else `internal_error` (500). Exported for logs and metrics that want the status.
 *
 * @example
 * ```ts
 * answerOf(new KeyRevoked('revoked')).shownToClientAs; // 'signature_invalid'
 * ```
 */
export function answerOf(error: unknown): ErrorEntry {
  return errorEntry(error) ?? INTERNAL;
}

/**
 * The body of a problem with a public code: `type`, `title`, `status`, `code` and the table's
 * detail (or `detail` when given; it must never carry secrets or request data).
 *
 * @example
 * ```ts
 * problemBody('not_found'); // { type: 'urn:hmac-kit:problem:not_found', title: 'Not found', status: 404, ... }
 * ```
 */
export function problemBody(code: ProblemCode, detail?: string): ProblemDetails {
  const row = PROBLEM_TABLE[code];
  return { type: problemType(code), title: row.title, status: row.status, detail: detail ?? row.detail, code };
}

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
  const answer = answerOf(error);
  const body = problemBody(answer.shownToClientAs);
  // The status is the error's row's (the public code's is the same for every row that shows it).
  body.status = answer.status;
  if (options.instance !== undefined) body.instance = options.instance;
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json', 'Cache-Control': 'no-store' };
  if (answer.status === 401) headers['WWW-Authenticate'] = `Signature realm=${quoted(options.realm ?? 'hmac-kit')}`;
  if (error instanceof TimestampOutOfWindow) {
    const serverTime = Number.isFinite(error.serverTime) ? error.serverTime : Math.floor((options.now ?? unixNow)());
    body.server_time = serverTime;
    headers['Date'] = new Date(serverTime * 1000).toUTCString();
  }
  // Attached by the pipeline only in debug mode (debugSignatures), and only to signature_invalid.
  const signatureBase = signatureBaseOf(error);
  if (signatureBase !== undefined && body.code === 'signature_invalid') body.signature_base = signatureBase;
  if (error instanceof RateLimited) {
    const retryAfter = Math.max(1, Math.ceil(Number.isFinite(error.retryAfter) ? error.retryAfter : 1));
    body.retry_after = retryAfter;
    headers['Retry-After'] = String(retryAfter);
  }
  return { status: answer.status, headers, body };
}
