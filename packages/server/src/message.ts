import type { IncomingMessage } from 'node:http';
import { type MessageParts, messageHasBody } from '@hmac-kit/core';
import type { ServerConfig } from './config.js';
import { firstValue } from './http.js';

/** Absolute URL as the client addressed it, for `path` (path + query as received). */
export type UrlRebuilder = (
  request: IncomingMessage,
  path: string,
  trustedPeer: boolean,
  overrides?: { host?: string; proto?: string },
) => string;

const HOST = /^[A-Za-z0-9.\-[\]:]+$/;

/**
 * The last host that passed {@link HOST}: a server is asked about the same few hosts over and over,
 * and a string compared equal to it passes again without the expression (~0.4k instructions under
 * callgrind; issue #15, session 23). Invariant: only a string HOST accepted is ever kept here.
 */
let lastHost = '';

/** `HOST.test(host)`, answered from {@link lastHost} when `host` is equal to it. */
export function plausibleHost(host: string): boolean {
  if (host === lastHost && host !== '') return true;
  if (!HOST.test(host)) return false;
  lastHost = host;
  return true;
}

/**
 * Builds the URL clients signed: the configured public origin (plus its path prefix, when
 * a proxy strips one) wins; otherwise `X-Forwarded-Host` / `X-Forwarded-Proto` from a trusted
 * proxy; otherwise the Host header (HTTP/2: `:authority`, see listener.ts) as received, with
 * `https` when the connection itself is TLS.
 */
export function createUrlRebuilder(config: Pick<ServerConfig, 'publicOrigin'>): UrlRebuilder {
  const origin = config.publicOrigin;
  return function rebuildUrl(request, path, trustedPeer, overrides) {
    if (origin) return origin + (path.startsWith('/') ? path : `/${path}`);
    let host: string | undefined;
    // Served over TLS (--tls-cert), HTTP/1.1 or HTTP/2 alike: clients signed an https:// URL.
    let proto = (request.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
    if (trustedPeer) {
      // Each field by its literal name (a named load per site; headerValue(request, name) shares one
      // megamorphic keyed load for every name): the same values, the first of a field node kept as an array.
      const forwardedHost = overrides?.host ?? firstValue(request.headers['x-forwarded-host'])?.split(',')[0]?.trim();
      const forwardedProto =
        overrides?.proto ?? firstValue(request.headers['x-forwarded-proto'])?.split(',')[0]?.trim();
      if (forwardedHost && plausibleHost(forwardedHost)) host = forwardedHost;
      if (forwardedProto === 'https' || forwardedProto === 'http') proto = forwardedProto;
    }
    // The Host header only when no forwarded host was taken (one read and one test less per
    // forward-auth request; session 20): a forwarded host taken has passed HOST already.
    if (host === undefined) {
      host = firstValue(request.headers.host) ?? 'localhost';
      if (!plausibleHost(host)) host = 'invalid-host';
    }
    return `${proto}://${host}${path.startsWith('/') ? path : `/${path}`}`;
  };
}

/**
 * The core's "has a body" rule ({@link messageHasBody}): a body method, any Transfer-Encoding, or
 * a Content-Length that is not zero. The same rule the verifier applies, so the gateway never
 * verifies a request as bodiless and then forwards a body.
 */
export function requestHasBody(method: string, headers: IncomingMessage['headers']): boolean {
  // A body method spelt upper-case (forward-auth's method is upper-cased already): true without the
  // core's upper-casing, set lookup and message object (~0.3k instructions; issue #15, session 23).
  // Invariant: the three are in the core's BODY_METHODS (the methods signed as carrying a body),
  // so the core answers true for them first; any other method goes to the core. Held by
  // test/message-host.test.ts (fast-check against messageHasBody).
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') return true;
  return messageHasBody({ method, url: '', headers });
}

/** The message parts of an incoming request as the client signed it. */
export function messageOf(request: IncomingMessage, url: string): MessageParts {
  return { method: request.method ?? 'GET', url, headers: request.headers };
}
