import type { IncomingMessage, ServerResponse } from 'node:http';
import { toProblem } from '@hmac-kit/core';
import type { AuthenticatorOptions, HmacIdentity, ProblemResponse } from '@hmac-kit/middleware';
import {
  createAuthenticator,
  problemHeaders,
  recordBody,
  targetUrl,
  validateOrigin,
  validateScopes,
} from '@hmac-kit/middleware';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';

/** Options of {@link hmacAuth}: the authenticator's, plus how to rebuild the URL the client addressed. */
export interface HmacAuthOptions extends AuthenticatorOptions {
  /**
   * Origin the clients address (`https://api.example.com`), a string or a function of the
   * request. Default: `https` on TLS sockets, else `http`, and the `Host` header.
   */
  origin?: string | ((req: IncomingMessage) => string);
  /** The peer's address, for the failure throttle. Default: the socket's remote address. */
  sourceAddress?: (req: IncomingMessage) => string | undefined;
}

/** What an authenticated request yields: who signed it and the exact (verified) body bytes. */
export interface HmacAuthResult {
  identity: HmacIdentity;
  /** The body, as received; empty when there was none. Parse it yourself, e.g. `JSON.parse(rawBody.toString())`. */
  rawBody: Buffer;
}

/**
 * Authenticates one request. Resolves to the result, or to `undefined` after it has written
 * the problem response itself (the caller then just returns).
 */
export interface NodeHmacAuth {
  (req: IncomingMessage, res: ServerResponse): Promise<HmacAuthResult | undefined>;
  /**
   * Answers 403 `scope_insufficient` and returns false unless `identity` holds every scope.
   */
  requireScopes(res: ServerResponse, identity: HmacIdentity, ...scopes: string[]): boolean;
}

function sendProblem(res: ServerResponse, problem: ProblemResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(problem.status, problemHeaders(problem));
  res.end(JSON.stringify(problem.body));
}

/**
 * Signature verification for plain `node:http` servers. The returned function reads and
 * verifies the body (bounded by `maxBodyBytes`) and hands back the identity with the exact
 * bytes that were verified; on failure it writes the problem+json response (401, 403, 413,
 * 429, 503) and resolves to `undefined`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { hmacAuth } from '@hmac-kit/node-http';
 *
 * const auth = hmacAuth({ keys: (keyId) => keys.get(keyId) });
 * createServer(async (req, res) => {
 *   const result = await auth(req, res);
 *   if (!result) return;
 *   if (!auth.requireScopes(res, result.identity, 'orders:write')) return;
 *   const order = JSON.parse(result.rawBody.toString('utf8'));
 *   res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ order }));
 * }).listen(3000);
 * ```
 */
export function hmacAuth(options: HmacAuthOptions): NodeHmacAuth {
  const { origin, sourceAddress, ...authenticatorOptions } = options ?? ({} as HmacAuthOptions);
  validateOrigin(origin);
  if (sourceAddress !== undefined && typeof sourceAddress !== 'function') {
    throw new TypeError('hmacAuth: sourceAddress must be a function of the request');
  }
  const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, ...authenticatorOptions });

  async function authenticate(req: IncomingMessage, res: ServerResponse): Promise<HmacAuthResult | undefined> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    let url: string;
    let address: string | undefined;
    try {
      const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
      const base =
        origin === undefined
          ? `${tls ? 'https' : 'http'}://${req.headers.host}`
          : typeof origin === 'function'
            ? origin(req)
            : origin;
      // targetUrl, not new URL(path, base): an absolute-form target or a `//` path would put the
      // authority the client wrote in place of base's, and a signature for another service verify.
      url = targetUrl(path, base).href;
      address = sourceAddress ? sourceAddress(req) : req.socket.remoteAddress;
    } catch (error) {
      sendProblem(res, authenticator.fail(error, { method, url: path }).problem);
      return undefined;
    }
    const recorded = recordBody(req);
    const outcome = await authenticator.authenticate(
      { method, url, headers: req.headers },
      recorded.body,
      address === undefined ? {} : { sourceAddress: address },
    );
    if (!outcome.ok) {
      sendProblem(res, outcome.problem);
      return undefined;
    }
    let rawBody: Buffer;
    try {
      const bytes = await recorded.readAll(authenticator.maxBodyBytes);
      rawBody = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      sendProblem(res, authenticator.fail(error, { method, url }).problem);
      return undefined;
    }
    for (const [name, value] of Object.entries(outcome.headers)) res.setHeader(name, value);
    return { identity: outcome.identity, rawBody };
  }

  function requireScopes(res: ServerResponse, identity: HmacIdentity, ...scopes: string[]): boolean {
    const outcome = authenticator.authorize(identity, validateScopes(scopes));
    if (outcome.ok) return true;
    sendProblem(res, outcome.problem);
    return false;
  }

  return Object.assign(authenticate, { requireScopes });
}

/** A request handler that runs only for authenticated requests. */
export type AuthenticatedHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  auth: HmacAuthResult,
) => void | Promise<void>;

/**
 * Wraps a handler into a `node:http` request listener that authenticates first. Errors the
 * handler throws become a 500 problem (the details go to `onError`, default `console.error`)
 * rather than an unhandled rejection.
 *
 * @example
 * ```ts
 * createServer(withHmacAuth({ keys }, (req, res, { identity, rawBody }) => {
 *   res.end(`hello ${identity.principal}`);
 * })).listen(3000);
 * ```
 */
export function withHmacAuth(
  options: HmacAuthOptions & { onError?: (error: unknown) => void },
  handler: AuthenticatedHandler,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  if (typeof handler !== 'function') throw new TypeError('withHmacAuth: handler must be a function');
  const { onError = console.error, ...authOptions } = options ?? ({} as HmacAuthOptions);
  if (typeof onError !== 'function') throw new TypeError('withHmacAuth: onError must be a function');
  const authenticate = hmacAuth(authOptions);
  return async function hmacAuthListener(req, res) {
    try {
      const auth = await authenticate(req, res);
      if (auth) await handler(req, res, auth);
    } catch (error) {
      onError(error);
      sendProblem(res, toProblem(error));
    }
  };
}

export type { HmacIdentity } from '@hmac-kit/middleware';
