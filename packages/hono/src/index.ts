import { toProblem } from '@hmac-kit/core';
import type { Authenticator, AuthenticatorOptions, HmacIdentity, ProblemResponse } from '@hmac-kit/middleware';
import {
  addressedAt,
  authenticateRequest,
  createAuthenticator,
  problemResponse,
  validateOrigin,
  validateScopes,
  withHeaders,
} from '@hmac-kit/middleware';
import type { Context, Env, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * The Env fragment `hmacAuth()` adds: `c.get('hmac')` / `c.var.hmac` is the signer's identity.
 * Use it as (part of) the app's Env: `new Hono<HmacEnv>()`.
 */
export interface HmacEnv {
  Variables: {
    hmac: HmacIdentity;
  };
}

/**
 * Options of {@link hmacAuth}: the authenticator's, plus what a Hono context does not say portably.
 * `E` is the app's `Env`, so the callbacks see its typed bindings (`c.env`) and variables.
 */
export interface HmacAuthOptions<E extends Env = Env> extends AuthenticatorOptions {
  /**
   * Origin the clients address (`https://api.example.com`) when `c.req.url` differs from it
   * (behind a proxy); a string or a function of the context.
   */
  origin?: string | ((c: Context<E>) => string);
  /**
   * The peer's address, for the failure throttle, e.g. `(c) => getConnInfo(c).remote.address`.
   * Default: the socket address under `@hono/node-server`, else none.
   */
  sourceAddress?: (c: Context<E>) => string | undefined;
}

/**
 * A refusal as Hono expects middleware to fail: an `HTTPException` carrying the problem+json
 * response, so `app.onError` sees it (and Hono's default handler sends that response as it is).
 */
function refusal(problem: ProblemResponse): HTTPException {
  return new HTTPException(problem.status as ContentfulStatusCode, {
    res: problemResponse(problem),
    message: problem.body.detail ?? problem.body.title,
  });
}

const authenticators = new WeakMap<Request, Authenticator>();

function nodeServerAddress(c: { env: unknown }): string | undefined {
  // @hono/node-server exposes the IncomingMessage as env.incoming.
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/**
 * Hono middleware that verifies the request's signature and body (hashing a clone, so
 * `c.req.json()` still works in the handler) and sets `c.var.hmac`. Refused requests never reach
 * the handler: the middleware throws an `HTTPException` whose response is the problem+json answer
 * (401, 403, 413, 429, 503), which `app.onError` sees and Hono sends as it is by default. Generic
 * over the app's `Env` (`hmacAuth<MyEnv>(...)`, or inferred from the callbacks' `Context<MyEnv>`).
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { type HmacEnv, hmacAuth, requireScopes } from '@hmac-kit/hono';
 *
 * const app = new Hono<HmacEnv>();
 * app.use('/api/*', hmacAuth({ keys: (keyId) => keys.get(keyId) }));
 * app.post('/api/orders', requireScopes('orders:write'), async (c) =>
 *   c.json({ by: c.var.hmac.principal, order: await c.req.json() }, 201));
 * ```
 */
export function hmacAuth<E extends Env = Env>(options: HmacAuthOptions<E>): MiddlewareHandler<E & HmacEnv> {
  const { origin, sourceAddress = nodeServerAddress, ...authenticatorOptions } = options ?? ({} as HmacAuthOptions<E>);
  validateOrigin(origin);
  if (typeof sourceAddress !== 'function') throw new TypeError('hmacAuth: sourceAddress must be a function');
  const authenticator = createAuthenticator(authenticatorOptions);

  return async function hmacAuthMiddleware(c, next) {
    const request = c.req.raw;
    let url = request.url;
    let address: string | undefined;
    // The callbacks are typed over the app's Env alone; the context also carries HmacEnv's variable.
    const appContext = c as unknown as Context<E>;
    try {
      if (origin !== undefined) {
        url = addressedAt(request.url, typeof origin === 'function' ? origin(appContext) : origin);
      }
      address = sourceAddress(appContext);
    } catch (error) {
      throw refusal(authenticator.fail(error, { method: request.method, url: request.url }).problem);
    }
    const outcome = await authenticateRequest(authenticator, request, url, address);
    if (!outcome.ok) throw refusal(outcome.problem);
    c.set('hmac', outcome.identity);
    authenticators.set(request, authenticator);
    await next();
    c.res = withHeaders(c.res, outcome.headers);
  };
}

/**
 * Hono middleware (after {@link hmacAuth}) that lets the request through only when the key
 * holds every named scope; otherwise it fails with an `HTTPException` answering 403
 * `scope_insufficient` (as {@link hmacAuth} fails).
 *
 * @example
 * ```ts
 * app.delete('/api/orders/:id', requireScopes('orders:write'), (c) => c.body(null, 204));
 * ```
 */
export function requireScopes<E extends Env = Env>(...scopes: string[]): MiddlewareHandler<E & HmacEnv> {
  const required = validateScopes(scopes);
  return async function requireScopesMiddleware(c, next) {
    const identity = c.get('hmac') as HmacIdentity | undefined;
    const authenticator = authenticators.get(c.req.raw);
    if (!identity || !authenticator) {
      // Mounted without hmacAuth() in front: refuse rather than serve an unauthenticated request.
      throw refusal(toProblem(new TypeError('requireScopes() used without hmacAuth() in front of it')));
    }
    const outcome = authenticator.authorize(identity, required, { method: c.req.method, url: c.req.url });
    if (!outcome.ok) throw refusal(outcome.problem);
    await next();
  };
}

export type { HmacIdentity } from '@hmac-kit/middleware';
