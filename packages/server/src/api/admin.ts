/**
 * The admin API's dispatcher: one router over every resource's routes, reached by admin-scoped
 * signed requests under `/v1/admin/` and, through {@link AdminGateway}, by the console's session.
 */
import type { ServerResponse } from 'node:http';
import type { KeyService } from '@hmac-kit/keys';
import type { Authenticator } from '@hmac-kit/middleware';
import type { ServerConfig } from '../config.js';
import { headerValue, sendJson, sendProblem } from '../http.js';
import type { ServerMetrics } from '../metrics.js';
import type { RequestContext, RouteHandler } from '../request-context.js';
import { createRouter, type RouteDescription } from '../routes.js';
import type { AdminHandler, AdminResult } from './admin-call.js';
import { auditRoutes } from './audit.js';
import { type FailureResponder, HttpError } from './errors.js';
import { requireJsonMediaType } from './input.js';
import { keyRoutes } from './keys.js';
import { principalRoutes } from './principals.js';
import type { SignedRequestCheck } from './signed-request.js';
import { usageRoutes } from './usage.js';

/** The admin API for callers authenticated another way than a signed request (the console's session). */
export interface AdminGateway {
  /**
   * Runs one admin call. `path` is the admin route (`/v1/admin/keys`), `linkPath` the path `Link`
   * headers repeat (where the caller received the request). Throws for refusals; see `fail`.
   */
  run(call: {
    method: string;
    path: string;
    linkPath: string;
    query: URLSearchParams;
    body: Uint8Array;
    /** The request's Content-Type: a non-empty body must be JSON (`415 unsupported_media_type`). */
    contentType: string | undefined;
    actor: string;
  }): Promise<AdminResult>;
  /** Answers a thrown error as the admin API does (problem+json with its stable code). */
  fail(response: ServerResponse, context: RequestContext, error: unknown, route: string): void;
}

/**
 * The admin API: the handler of the signed `/v1/admin` routes, the routes it dispatches to (for
 * the OpenAPI contract) and the gateway the console runs the very same handlers through.
 *
 * @example
 * ```ts
 * const admin = createAdmin({ config, keyService, authenticator, metrics, authenticated, fail });
 * routes.push({ name: 'admin', methods: [ANY_METHOD], path: '/v1/admin/{adminPath+}', handler: admin.handler, describes: admin.routes });
 * ```
 */
export function createAdmin(options: {
  config: ServerConfig;
  keyService: KeyService;
  authenticator: Authenticator;
  metrics: ServerMetrics;
  authenticated: SignedRequestCheck;
  fail: FailureResponder;
}): { handler: RouteHandler; routes: readonly RouteDescription[]; gateway: AdminGateway } {
  const { config, keyService, authenticator, metrics, authenticated, fail } = options;

  // Every admin route, as data: the OpenAPI contract test reads this table through the router.
  const adminRouter = createRouter<AdminHandler>([
    ...principalRoutes(keyService),
    ...keyRoutes(keyService, config),
    ...auditRoutes(keyService),
    ...usageRoutes(keyService, config),
  ]);

  async function runAdmin(call: Parameters<AdminGateway['run']>[0], context?: RequestContext): Promise<AdminResult> {
    const found = adminRouter.match(call.method, call.path);
    if (found.kind === 'method_not_allowed') {
      throw new HttpError('method_not_allowed', `${call.path} does not answer ${call.method}`, {
        allow: found.allowed.join(', '),
      });
    }
    if (found.kind === 'none') {
      throw new HttpError('not_found', `no admin route ${call.method} ${call.path}`);
    }
    if (context) context.routePath = config.adminPrefix + found.route.path;
    // Every admin body is JSON, and is read as JSON only when it says so (never a text/plain or
    // form body: what a cross-site page can send without a CORS preflight).
    requireJsonMediaType(call.body, call.contentType);
    return found.route.handler({
      params: found.params,
      path: call.linkPath,
      query: call.query,
      body: call.body,
      actor: call.actor,
    });
  }

  const handler: RouteHandler = async (request, response, context) => {
    try {
      const auth = await authenticated(request, response, context, 'admin');
      if (!auth) return;
      const allowed = authenticator.authorize(auth.identity, ['admin']);
      if (!allowed.ok) {
        context.code = allowed.problem.body.code;
        metrics.requests.inc({ outcome: 'rejected', code: allowed.problem.body.code, route: 'admin' });
        sendProblem(response, allowed.problem);
        return;
      }
      // Dispatched on the path exactly as it was signed (no dot-segment normalisation).
      const method = request.method ?? 'GET';
      const target = request.url ?? '/';
      const queryStart = target.indexOf('?');
      const received = queryStart === -1 ? target : target.slice(0, queryStart);
      const result = await runAdmin(
        {
          method,
          path: received.slice(config.adminPrefix.length),
          linkPath: received,
          query: new URLSearchParams(queryStart === -1 ? '' : target.slice(queryStart + 1)),
          body: auth.body,
          contentType: headerValue(request, 'content-type'),
          actor: `admin:${auth.identity.principal}`,
        },
        context,
      );
      metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'admin' });
      sendJson(response, result.status, result.body, result.headers);
    } catch (error) {
      fail(response, context, error, 'admin');
    }
  };

  return { handler, routes: adminRouter.routes, gateway: { run: (call) => runAdmin(call), fail } };
}
