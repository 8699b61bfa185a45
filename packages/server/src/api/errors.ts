/**
 * How the JSON API answers a failure: client errors raised by its handlers ({@link HttpError}),
 * key-service refusals meant for the admin, oversized bodies and the core's errors, each as
 * problem+json with its stable code. Shared by the logins, whoami and the admin API.
 */
import type { ServerResponse } from 'node:http';
import { answerOf, HmacKitError, type ProblemCode, StoreUnavailable, toProblem } from '@hmac-kit/core';
import {
  KeyExists,
  KeyLimitExceeded,
  KeyNotActive,
  KeyNotFound,
  PrincipalDisabled,
  PrincipalExists,
  PrincipalNotFound,
} from '@hmac-kit/keys';
import { PayloadTooLarge, sendProblem, serverProblem } from '../http.js';
import type { ServerMetrics } from '../metrics.js';
import type { RequestContext } from '../request-context.js';

/** Thrown inside handlers for a client error that is not an authentication failure. */
export class HttpError extends Error {
  constructor(
    readonly code: ProblemCode,
    detail: string,
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

/**
 * Key-service errors whose message is meant for the admin (which principal, which key): their
 * status and code come from the error table, their detail is the message.
 */
const ADMIN_ERRORS = [
  PrincipalNotFound,
  KeyNotFound,
  PrincipalExists,
  PrincipalDisabled,
  KeyNotActive,
  KeyLimitExceeded,
  KeyExists,
] as const;

/** Maps key-service errors to HTTP answers; anything else is rethrown. */
function keyServiceProblem(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (ADMIN_ERRORS.some((type) => error instanceof type)) {
    return new HttpError(answerOf(error).shownToClientAs, (error as Error).message);
  }
  if (error instanceof TypeError) return new HttpError('invalid_request', error.message);
  return undefined;
}

/**
 * The codes a request body read fails with when the client is gone: `ECONNRESET` (Node's
 * `aborted`, the connection closed mid-body) and `ERR_STREAM_PREMATURE_CLOSE` (the request
 * destroyed: a 408 body_timeout, listener.ts).
 */
const CLIENT_GONE_CODES: ReadonlySet<unknown> = new Set(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Whether `error` is the client leaving rather than a server failure: one of
 * {@link CLIENT_GONE_CODES} while the answer can no longer be written as the route's own (its
 * connection gone, or a 408 already sent in its place).
 */
function clientGone(response: ServerResponse, error: unknown): boolean {
  if (!CLIENT_GONE_CODES.has((error as { code?: unknown } | null)?.code)) return false;
  return response.headersSent || response.destroyed || !response.socket || response.socket.destroyed;
}

/** Answers a thrown error as problem+json (counted under `route`); rethrows what is not an API failure. */
export type FailureResponder = (
  response: ServerResponse,
  context: RequestContext,
  error: unknown,
  route: string,
) => void;

/**
 * The one way the API answers a thrown error, counted in the request metrics.
 *
 * @example
 * ```ts
 * const fail = createFailureResponder(metrics);
 * try { ... } catch (error) { fail(response, context, error, 'admin'); }
 * ```
 */
export function createFailureResponder(metrics: ServerMetrics): FailureResponder {
  return function fail(response, context, error, route) {
    const http = keyServiceProblem(error);
    if (http) {
      context.code = http.code;
      metrics.requests.inc({ outcome: 'rejected', code: http.code, route });
      const problem = serverProblem(http.code, http.message);
      sendProblem(response, http.headers ? { ...problem, headers: http.headers } : problem, context.id);
      return;
    }
    if (error instanceof PayloadTooLarge) {
      context.code = 'body_too_large';
      sendProblem(response, serverProblem('body_too_large', error.message), context.id);
      return;
    }
    if (clientGone(response, error)) {
      // Not a server error: a debug line, nothing counted (the admission released what it held,
      // and the failure throttle counts no client that left).
      context.log.debug(
        { reqId: context.id, err: { name: (error as Error).name, message: (error as Error).message } },
        'client went away before its request body was read',
      );
      if (!response.headersSent) response.destroy();
      return;
    }
    if (error instanceof HmacKitError) {
      if (error instanceof StoreUnavailable) metrics.storeErrors.inc({ store: 'keys' });
      const problem = toProblem(error, { instance: context.id });
      context.code = problem.body.code;
      metrics.requests.inc({ outcome: 'rejected', code: problem.body.code, route });
      sendProblem(response, problem);
      return;
    }
    throw error;
  };
}
