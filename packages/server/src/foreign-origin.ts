/**
 * Whether a browser says a request was sent by a page of another origin than this server's: the
 * rule the logins and the console apply before reading a body or checking a password.
 */
import type { IncomingMessage } from 'node:http';
import type { ServerConfig } from './config.js';
import { firstValue } from './http.js';
import { createUrlRebuilder } from './message.js';

/** `value`'s serialised origin (`scheme://host[:port]`, lower-cased, default port dropped), or undefined. */
function originOf(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const origin = new URL(value).origin;
  return origin === 'null' ? undefined : origin;
}

/**
 * A test of whether a request comes from a page of another origin. The server grants no CORS, so no
 * such page can read an answer; what it could still do is make a visitor's browser send simple
 * requests (form or text/plain bodies) whose wrong passwords count against the visitor's address.
 *
 * - `Sec-Fetch-Site` present: only `same-origin` (this server's own pages) and `none` (the user's
 *   own navigation) are taken; `same-site` (a sibling subdomain) and `cross-site` are foreign.
 * - `Sec-Fetch-Site` absent (clients that are not browsers, and older browsers): foreign only when an
 *   `Origin` is sent that is not this server's own, `--public-origin` when configured, else the
 *   origin the request was addressed to (its scheme and Host, or a trusted proxy's forwarded ones, as
 *   for signatures). `Origin: null` (an opaque origin: sandboxed frame, a redirect chain, file:) is
 *   foreign. No `Origin` and no `Sec-Fetch-Site` (curl, the SDKs, the CLI) is taken.
 *
 * @example
 * ```ts
 * const fromForeignOrigin = createForeignOriginTest(config, isTrustedProxy);
 * if (fromForeignOrigin(request)) throw new HttpError('cross_site_request', 'logins are not taken from other origins');
 * ```
 */
export function createForeignOriginTest(
  config: Pick<ServerConfig, 'publicOrigin'>,
  isTrustedProxy: (address: string | undefined) => boolean,
): (request: IncomingMessage) => boolean {
  const rebuildUrl = createUrlRebuilder(config);
  const publicOrigin = config.publicOrigin === undefined ? undefined : originOf(config.publicOrigin);
  return (request) => {
    const site = firstValue(request.headers['sec-fetch-site']);
    if (site !== undefined) return site !== 'same-origin' && site !== 'none';
    const origin = firstValue(request.headers.origin);
    if (origin === undefined) return false;
    const claimed = originOf(origin);
    if (claimed === undefined) return true;
    const own = publicOrigin ?? originOf(rebuildUrl(request, '/', isTrustedProxy(request.socket.remoteAddress)));
    return claimed !== own;
  };
}
