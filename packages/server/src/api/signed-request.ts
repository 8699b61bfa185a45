/**
 * Verifying a signed request whose body the API buffers (whoami, the admin API), and
 * `GET /v1/whoami`, which answers who signed it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator, HmacIdentity } from '@hmac-kit/middleware';
import { clientAddressOf } from '../client-address.js';
import type { ServerConfig } from '../config.js';
import { readBody, sendJson, sendProblem } from '../http.js';
import { createUrlRebuilder } from '../message.js';
import type { ServerMetrics } from '../metrics.js';
import type { RequestContext, RouteHandler } from '../request-context.js';
import type { FailureResponder } from './errors.js';

/** Verifies a signed request with its buffered body; sends the problem and resolves undefined on failure. */
export type SignedRequestCheck = (
  request: IncomingMessage,
  response: ServerResponse,
  context: RequestContext,
  route: string,
) => Promise<{ identity: HmacIdentity; body: Uint8Array } | undefined>;

/**
 * The check the API's signed routes share: reads the body (up to `config.maxBodyBytes`),
 * rebuilds the URL the client signed, verifies, times it, and sets the identity's headers.
 *
 * @example
 * ```ts
 * const authenticated = createSignedRequestCheck({ config, authenticator, metrics, isTrustedProxy });
 * const auth = await authenticated(request, response, context, 'whoami');
 * if (!auth) return; // the problem was sent
 * ```
 */
export function createSignedRequestCheck(options: {
  config: ServerConfig;
  authenticator: Authenticator;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
}): SignedRequestCheck {
  const { config, authenticator, metrics, isTrustedProxy } = options;
  const rebuildUrl = createUrlRebuilder(config);
  return async function authenticated(request, response, context, route) {
    const trustedPeer = isTrustedProxy(request.socket.remoteAddress);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    const body = await readBody(request, config.maxBodyBytes);
    const url = rebuildUrl(request, request.url ?? '/', trustedPeer);
    const started = process.hrtime.bigint();
    const outcome = await authenticator.authenticate(
      { method: request.method ?? 'GET', url, headers: request.headers },
      body,
      { sourceAddress },
    );
    metrics.verificationSeconds.observe(
      { outcome: outcome.ok ? 'accepted' : 'rejected' },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    if (!outcome.ok) {
      context.code = outcome.problem.body.code;
      metrics.requests.inc({ outcome: 'rejected', code: outcome.problem.body.code, route });
      sendProblem(response, { ...outcome.problem, body: { ...outcome.problem.body, instance: context.id } });
      return undefined;
    }
    context.keyId = outcome.identity.keyId;
    context.scheme = outcome.identity.scheme;
    for (const [name, value] of Object.entries(outcome.headers)) response.setHeader(name, String(value));
    return { identity: outcome.identity, body };
  };
}

/**
 * `/v1/whoami`: the principal, key, scopes and scheme of a verified request.
 *
 * @example
 * ```ts
 * routes.push({ name: 'whoami', methods: [ANY_METHOD], path: '/v1/whoami', handler: createWhoami(authenticated, metrics, fail) });
 * ```
 */
export function createWhoami(
  authenticated: SignedRequestCheck,
  metrics: ServerMetrics,
  fail: FailureResponder,
): RouteHandler {
  return async (request, response, context) => {
    try {
      const auth = await authenticated(request, response, context, 'whoami');
      if (!auth) return;
      metrics.requests.inc({ outcome: 'accepted', code: 'ok', route: 'whoami' });
      const { identity } = auth;
      sendJson(response, 200, {
        principal: identity.principal,
        keyId: identity.keyId,
        scopes: identity.scopes,
        scheme: identity.scheme,
      });
    } catch (error) {
      fail(response, context, error, 'whoami');
    }
  };
}
