/**
 * What every route handler receives: the per-request context and the handler signature. A leaf
 * module (it imports only the logger and route-name types), so the server reads top-down:
 * `app.ts` wires the handlers that `api/`, `gateway.ts`, `forward-auth.ts` and `console.ts` build.
 */
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
}

export type RouteHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  context: RequestContext,
) => Promise<void>;
