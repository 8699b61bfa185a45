/**
 * Verifying a signed request whose body the API buffers (whoami, the admin API), and
 * `GET /v1/whoami`, which answers who signed it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator, AuthFailure, HmacIdentity } from '@hmac-kit/middleware';
import { clientAddressOf } from '../client-address.js';
import type { ServerConfig } from '../config.js';
import { PayloadTooLarge, readBody, sendJson, sendProblem } from '../http.js';
import { exemptFromBodyRate } from '../listener.js';
import { createUrlRebuilder, requestHasBody } from '../message.js';
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
 * The check the API's signed routes share: rebuilds the URL the client signed, verifies the
 * request head (the pipeline's admit phase: parse, gate, key + MAC, policy) before reading any of
 * the body, then reads the body (up to `config.maxBodyBytes`) and finishes (body stage and
 * commit), times the verification (not the body's arrival), and sets the identity's headers.
 *
 * The head first, as the gateway does: the body used to be read whole before anything was
 * checked, so an unsigned request declaring a large body had it buffered (up to `--max-body`),
 * and one that never sent it was held until the body rate bound cut it, unanswered. Now such a
 * request is refused from its head (its unread body drained for at most 2 s after the answer:
 * listener.ts), and a request whose head signature is verified (a covered digest: RFC 9421,
 * SigV4 with a payload hash) has its body exempt from the body rate bound, like the gateway's: a
 * slow authenticated upload is not cut. A scheme that signs the body itself (X-API-*,
 * django-hmac, ...) proves nothing before the body is read, so its body stays held to the rate.
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

  function refused(
    response: ServerResponse,
    context: RequestContext,
    route: string,
    outcome: AuthFailure,
    seconds: number,
  ): undefined {
    metrics.verificationSeconds.observe({ outcome: 'rejected' }, seconds);
    context.code = outcome.problem.body.code;
    metrics.requests.inc({ outcome: 'rejected', code: outcome.problem.body.code, route });
    sendProblem(response, { ...outcome.problem, body: { ...outcome.problem.body, instance: context.id } });
    return undefined;
  }

  return async function authenticated(request, response, context, route) {
    const trustedPeer = isTrustedProxy(request.socket.remoteAddress);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    // A declared length over the limit is refused before anything else, as readBody() would.
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > config.maxBodyBytes) throw new PayloadTooLarge(`body larger than ${config.maxBodyBytes} bytes`);
    const url = rebuildUrl(request, request.url ?? '/', trustedPeer);
    const method = request.method ?? 'GET';
    const hasBody = requestHasBody(method, request.headers);
    let started = process.hrtime.bigint();
    const admission = await authenticator.admit({ method, url, headers: request.headers }, { hasBody, sourceAddress });
    let seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (!admission.ok) {
      // Nothing of the body was read; Node drains it after the answer (bounded: listener.ts).
      request.resume();
      return refused(response, context, route, admission, seconds);
    }
    if (hasBody && admission.signatureVerified) exemptFromBodyRate(request);
    let body: Uint8Array;
    try {
      body = await readBody(request, config.maxBodyBytes);
    } catch (error) {
      // Releases what the admission holds; the route answers the error (413, a client gone).
      await admission.fail(error);
      throw error;
    }
    started = process.hrtime.bigint();
    const outcome = await admission.complete(body);
    seconds += Number(process.hrtime.bigint() - started) / 1e9;
    if (!outcome.ok) return refused(response, context, route, outcome, seconds);
    metrics.verificationSeconds.observe({ outcome: 'accepted' }, seconds);
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
