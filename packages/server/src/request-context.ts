/**
 * What every route handler receives: the per-request context and the handler signature. A leaf
 * module (it imports only the logger and route-name types), so the server reads top-down:
 * `app.ts` wires the handlers that `api/`, `gateway.ts`, `forward-auth.ts` and `console.ts` build.
 */
import { randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ProblemCode } from '@hmac-kit/core';
import type { Logger } from './logger.js';
import type { RouteName } from './routes.js';

/** Per-request state shared by the route handlers. */
export interface RequestContext {
  id: string;
  started: bigint;
  log: Logger;
  /** Which route answered (metrics label, trace span name); set by the router. */
  route: RouteName;
  /** The matched path template, e.g. `/v1/admin/keys/{keyId}` (trace span name); set by the router. */
  routePath?: string;
  /** Filled by authenticated routes for the access log line. */
  keyId?: string;
  /** The scheme that verified the request (set with `keyId`): the access log says which form each client still sends. */
  scheme?: string;
  /** The problem code answered (`PROBLEM_TABLE`): the compiler keeps every code the server sends in the table. */
  code?: ProblemCode;
  /**
   * The peer's address (`request.socket.remoteAddress`), read once as the request arrived: routes
   * read it here rather than from the socket again (a getter that asks the socket's handle, and a
   * request answered 408 is detached from its socket).
   */
  remote?: string | undefined;
}

/**
 * A route. It answers with a promise while it waits for something, or with `undefined` when it
 * has answered (or failed by throwing) within the call, or when it handed the rest of its work to
 * a check-phase batch (`inCheckPhase`): forward-auth does so (session 15), and reports a throw or
 * rejection of that work itself, through the server's reporter (app.ts `unhandled`).
 */
export type RouteHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  context: RequestContext,
) => Promise<void> | undefined;

/** Request ids drawn from the CSPRNG at a time (16 bytes each). */
const REQUEST_ID_BATCH = 256;
const requestIdBytes = Buffer.allocUnsafeSlow(16 * REQUEST_ID_BATCH);
/** The batch's bytes in hex, written once per batch: each id is a 32-digit slice of it. */
let requestIdHex = '';
let requestIdsLeft = 0;

/**
 * A new request id: 128 random bits as 32 lowercase hex digits (the shape of a W3C trace id), from
 * random bytes drawn 256 ids at a time. Ids are for correlation, not a secret (a client may send
 * its own `X-Request-Id`), but a random one does not reveal how many requests the server has
 * answered, as a counter would. `randomUUID()` cost ~2.5x as much: 122 random bits and a string
 * of 20 concatenated pieces, flattened when the header is written (issue #15). The batch is turned
 * into hex once (one call into Buffer's encoder per 256 ids instead of one per id: ~1.2k
 * instructions per request, session 18); an id is a slice of that string (V8 keeps it as a view of
 * the batch's 8 KiB, a flat string to every reader).
 *
 * @example
 * ```ts
 * newRequestId(); // '7b05266560f0e81095cb94df6e69e66b'
 * ```
 */
export function newRequestId(): string {
  if (requestIdsLeft === 0) {
    randomFillSync(requestIdBytes);
    requestIdHex = requestIdBytes.toString('hex');
    requestIdsLeft = REQUEST_ID_BATCH;
  }
  requestIdsLeft--;
  const offset = 32 * requestIdsLeft;
  return requestIdHex.slice(offset, offset + 32);
}
