/**
 * The JSON API, composed: `GET /v1/whoami` (`signed-request.ts`), `POST /v1/keys` and django-hmac's
 * `POST /obtain-hmac-api-key/` (`login.ts`), and the admin API under `/v1/admin/` (`admin.ts`,
 * one route table per resource). Failures are answered one way (`errors.ts`).
 */
import type { FailureThrottle } from '@hmac-kit/core';
import type { KeyService } from '@hmac-kit/keys';
import type { Authenticator } from '@hmac-kit/middleware';
import type { ServerConfig } from '../config.js';
import type { ServerMetrics } from '../metrics.js';
import type { PasswordGate } from '../password-gate.js';
import type { RouteHandler } from '../request-context.js';
import { ANY_METHOD, type RouteDefinition } from '../routes.js';
import { type AdminGateway, createAdmin } from './admin.js';
import { createFailureResponder } from './errors.js';
import { createLoginHandlers } from './login.js';
import { createSignedRequestCheck, createWhoami } from './signed-request.js';

export interface ApiOptions {
  config: ServerConfig;
  keyService: KeyService;
  authenticator: Authenticator;
  loginThrottle: FailureThrottle;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
  /** The one bound on password hashes in flight, shared with the console. */
  passwordGate: PasswordGate;
}

/**
 * The JSON API: `GET /v1/whoami`, `POST /v1/keys` (login issuing), the admin API under
 * `/v1/admin/` (admin-scoped HMAC-signed requests) and django-hmac's `POST /obtain-hmac-api-key/`.
 * Also hands out the admin calls themselves ({@link AdminGateway}) so the console runs the very
 * same handlers behind its session instead of a copy of them.
 *
 * @example
 * ```ts
 * const api = createApi({ config, keyService, authenticator, loginThrottle, metrics, isTrustedProxy, passwordGate });
 * const router = createRouter([...api.routes, ...otherRoutes]);
 * ```
 */
export function createApi(options: ApiOptions): {
  routes: Array<RouteDefinition<RouteHandler>>;
  admin: AdminGateway;
} {
  const { config, keyService, authenticator, loginThrottle, metrics, isTrustedProxy, passwordGate } = options;
  const fail = createFailureResponder(metrics);
  const authenticated = createSignedRequestCheck({ config, authenticator, metrics, isTrustedProxy });
  const { issueKey, obtainDjangoKey } = createLoginHandlers({
    config,
    keyService,
    loginThrottle,
    metrics,
    isTrustedProxy,
    passwordGate,
    fail,
  });
  const admin = createAdmin({ config, keyService, authenticator, metrics, authenticated, fail });

  const routes: Array<RouteDefinition<RouteHandler>> = [];
  // Webhook deliveries POST to whoami: it answers whatever method the request was signed with.
  if (!config.upstream) {
    routes.push({
      name: 'whoami',
      methods: [ANY_METHOD],
      path: '/v1/whoami',
      handler: createWhoami(authenticated, metrics, fail),
    });
  }
  if (config.issuing) routes.push({ name: 'issue_key', methods: ['POST'], path: '/v1/keys', handler: issueKey });
  if (config.issuing && config.schemes.includes('django-hmac')) {
    routes.push({ name: 'django_obtain', methods: ['POST'], path: '/obtain-hmac-api-key/', handler: obtainDjangoKey });
  }
  // Any method: the admin router answers 404/405 only after authentication, so that unsigned
  // callers cannot map the admin API.
  const adminEntry = { name: 'admin', methods: [ANY_METHOD], handler: admin.handler, describes: admin.routes } as const;
  routes.push({ ...adminEntry, path: '/v1/admin' }, { ...adminEntry, path: '/v1/admin/{adminPath+}' });
  return { routes, admin: admin.gateway };
}
