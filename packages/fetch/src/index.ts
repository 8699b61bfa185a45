import { toProblem } from '@hmac-kit/core';
import type { Authenticator, AuthenticatorOptions, HmacIdentity } from '@hmac-kit/middleware';
import {
  addressedAt,
  authenticateRequest,
  createAuthenticator,
  problemResponse,
  validateOrigin,
  validateScopes,
  withHeaders,
} from '@hmac-kit/middleware';

/** A Fetch-style handler: Workers `(request, env, ctx)`, Deno/Bun `(request, info)`, Next.js `(request, context)`. */
export type FetchHandler<Rest extends unknown[] = []> = (
  request: Request,
  ...rest: Rest
) => Response | Promise<Response>;

/** Options of {@link hmacAuth}: the authenticator's, plus how to read what a `Request` does not carry. */
export interface HmacAuthOptions extends AuthenticatorOptions {
  /**
   * Origin (`https://api.example.com`) the clients address, when the runtime's `request.url`
   * differs from it (behind a proxy); a string or a function of the request.
   */
  origin?: string | ((request: Request) => string);
  /** The peer's address, for the failure throttle (e.g. `(req, env, ctx) => req.headers.get('cf-connecting-ip')`). */
  sourceAddress?: (request: Request, ...rest: unknown[]) => string | undefined;
}

/** Wraps a handler so that it only runs for requests with a valid signature. */
export type HmacAuthWrapper = <Rest extends unknown[]>(
  handler: FetchHandler<Rest>,
) => (request: Request, ...rest: Rest) => Promise<Response>;

interface Authenticated {
  identity: HmacIdentity;
  authenticator: Authenticator;
}

const authenticated = new WeakMap<Request, Authenticated>();

function addressedUrl(request: Request, origin: HmacAuthOptions['origin']): string {
  if (origin === undefined) return request.url;
  return addressedAt(request.url, typeof origin === 'function' ? origin(request) : origin);
}

/**
 * Verifies signed requests in front of any Fetch-style handler. Valid requests reach the
 * handler unchanged (its body still readable: the verifier hashes a clone), with RateLimit
 * headers added to its response; the handler reads the caller with {@link getIdentity}.
 * Refused requests get a problem+json response and never reach the handler.
 *
 * @example
 * ```ts
 * import { getIdentity, hmacAuth } from '@hmac-kit/fetch';
 *
 * const auth = hmacAuth({ keys: (keyId) => keys.get(keyId) });
 * export default {
 *   fetch: auth(async (request: Request) => {
 *     const order = await request.json();
 *     return Response.json({ by: getIdentity(request).principal, order });
 *   }),
 * };
 * ```
 */
export function hmacAuth(options: HmacAuthOptions): HmacAuthWrapper {
  const { origin, sourceAddress, ...authenticatorOptions } = options ?? ({} as HmacAuthOptions);
  validateOrigin(origin);
  if (sourceAddress !== undefined && typeof sourceAddress !== 'function') {
    throw new TypeError('hmacAuth: sourceAddress must be a function of the request');
  }
  const authenticator = createAuthenticator(authenticatorOptions);

  return function withHmacAuth<Rest extends unknown[]>(handler: FetchHandler<Rest>) {
    if (typeof handler !== 'function') throw new TypeError('hmacAuth: wrap a handler function');
    return async function hmacAuthenticated(request: Request, ...rest: Rest): Promise<Response> {
      let url: string;
      let address: string | undefined;
      try {
        url = addressedUrl(request, origin);
        address = sourceAddress?.(request, ...rest);
      } catch (error) {
        return problemResponse(authenticator.fail(error, { method: request.method, url: request.url }).problem);
      }
      const outcome = await authenticateRequest(authenticator, request, url, address);
      if (!outcome.ok) return problemResponse(outcome.problem);
      authenticated.set(request, { identity: outcome.identity, authenticator });
      return withHeaders(await handler(request, ...rest), outcome.headers);
    };
  };
}

/**
 * The identity of a request that passed {@link hmacAuth}. Throws `TypeError` for a request
 * that did not go through it: a wiring mistake that must not pass silently.
 *
 * @example
 * ```ts
 * const { principal, scopes } = getIdentity(request);
 * ```
 */
export function getIdentity(request: Request): HmacIdentity {
  const entry = authenticated.get(request);
  if (!entry) throw new TypeError('getIdentity: this request was not authenticated by hmacAuth()');
  return entry.identity;
}

/**
 * Wraps a handler (inside {@link hmacAuth}) so that it only runs when the key holds every
 * named scope; otherwise the client gets 403 `scope_insufficient`.
 *
 * @example
 * ```ts
 * const createOrder = auth(requireScopes('orders:write')(async (request) => new Response(null, { status: 201 })));
 * ```
 */
export function requireScopes(...scopes: string[]) {
  const required = validateScopes(scopes);
  return function withScopes<Rest extends unknown[]>(handler: FetchHandler<Rest>) {
    return async function scoped(request: Request, ...rest: Rest): Promise<Response> {
      const entry = authenticated.get(request);
      if (!entry) {
        // Mounted outside hmacAuth(): refuse rather than serve an unauthenticated request.
        return problemResponse(toProblem(new TypeError('requireScopes() used outside hmacAuth()')));
      }
      const outcome = entry.authenticator.authorize(entry.identity, required, {
        method: request.method,
        url: request.url,
      });
      if (!outcome.ok) return problemResponse(outcome.problem);
      return handler(request, ...rest);
    };
  };
}

export type { HmacIdentity } from '@hmac-kit/middleware';
