/**
 * What every framework adapter (`@hmac-kit/express`, `fastify`, `hono`, `fetch`, `node-http`)
 * does the same way: checking the `origin` option, and for the Fetch-API adapters (fetch, hono)
 * authenticating a web `Request` without consuming the body the handler will read.
 */
import type { Authenticator, AuthOutcome } from './contract.js';

/**
 * Checks an adapter's `origin` option at construction: absent, a function, or an origin such as
 * `https://api.example.com` (scheme, host and port; a trailing `/` is allowed, a path is not).
 *
 * @example
 * ```ts
 * validateOrigin(options.origin); // TypeError for 'https://api.example.com/v1'
 * ```
 */
export function validateOrigin(origin: unknown): void {
  if (origin === undefined || typeof origin === 'function') return;
  if (typeof origin !== 'string' || !URL.canParse(origin) || new URL(origin).origin !== origin.replace(/\/$/, '')) {
    throw new TypeError('hmacAuth: origin must be an origin such as "https://api.example.com" or a function');
  }
}

/**
 * The URL the client signed: `url` with its origin replaced by `origin` (the one clients address,
 * when the runtime sees another behind a proxy), path and query kept.
 *
 * @example
 * ```ts
 * addressedAt('http://10.0.0.5:8080/v1/orders?x=1', 'https://api.example.com'); // 'https://api.example.com/v1/orders?x=1'
 * ```
 */
export function addressedAt(url: string, origin: string): string {
  const addressed = new URL(url);
  return `${new URL(origin).origin}${addressed.pathname}${addressed.search}`;
}

/**
 * Authenticates a web `Request` (signature, then the body, hashed from a clone so the handler can
 * still read the original). A body something already read is refused, not trusted; a refused
 * request's body is released.
 *
 * @example
 * ```ts
 * const outcome = await authenticateRequest(authenticator, request, url, address);
 * if (!outcome.ok) return problemResponse(outcome.problem);
 * ```
 */
export async function authenticateRequest(
  authenticator: Authenticator,
  request: Request,
  url: string,
  sourceAddress: string | undefined,
): Promise<AuthOutcome> {
  if (request.bodyUsed) {
    // Whatever read the body first left nothing to verify: refuse rather than trust it.
    const misuse = new TypeError(
      'hmacAuth: the request body was read before it could be verified; mount hmacAuth() first',
    );
    return authenticator.fail(misuse, { method: request.method, url });
  }
  const copy = request.body === null ? null : request.clone();
  const outcome = await authenticator.authenticate(
    { method: request.method, url, headers: request.headers },
    copy?.body ?? null,
    sourceAddress === undefined ? {} : { sourceAddress },
  );
  // The handler never runs: release the original too (the verifier already released its copy).
  if (!outcome.ok) request.body?.cancel().catch(() => {});
  return outcome;
}
