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

/** Second characters of an origin-form target that URL parsing could read as starting an authority. */
const AUTHORITY_LEAD: ReadonlySet<number> = new Set([0x2f /* / */, 0x5c /* \\ */, 0x09, 0x0a, 0x0d]);

/**
 * The URL a Node request addressed: `target`, the request line's request-target as node:http
 * hands it over (`req.url`), on `base`, the origin the app is addressed at (the `origin` option,
 * or the Host header's). Only the target's path and query are used: an absolute-form target
 * (`GET https://other.example/x HTTP/1.1`) or a path that URL parsing would read as an authority
 * (`//other.example/x`) would otherwise replace `base`'s scheme and authority with ones the client
 * wrote, and a signature made for another service that accepts the same key would verify here.
 * `/\\x` is the same trap (URL parsing reads the backslash as a slash). Origin-form targets (`/x?y`,
 * nearly every request) take the one parse they always took.
 *
 * @example
 * ```ts
 * targetUrl('/v1/orders?x=1', 'https://api.example.com').href; // 'https://api.example.com/v1/orders?x=1'
 * targetUrl('https://other.example/v1/orders', 'https://api.example.com').href; // 'https://api.example.com/v1/orders'
 * ```
 */
export function targetUrl(target: string, base: string): URL {
  const first = target.charCodeAt(0);
  // For http(s), URL parsing reads `\` as `/` and drops tabs and newlines anywhere: `/\host/x`
  // (which node:http passes through as written) would name an authority as `//host/x` does.
  if (first === 0x2f /* / */ && !AUTHORITY_LEAD.has(target.charCodeAt(1))) return new URL(target, base);
  const url = new URL(base);
  const relative = first !== 0x2f && !URL.canParse(target);
  if (relative) {
    // The asterisk form (`OPTIONS *`) and other targets without a scheme resolve as they always
    // did, unless that names another authority (`\\host/x`, a leading tab before `//host/x`)
    // or carries userinfo (`\\u:p@host/x`, the same origin with credentials in the URL verified):
    // then they are a path on base, as below.
    const resolved = new URL(target, base);
    if (resolved.protocol === url.protocol && resolved.host === url.host && !resolved.username && !resolved.password) {
      return resolved;
    }
  }
  if (first === 0x2f || relative) {
    const query = target.indexOf('?');
    url.pathname = query === -1 ? target : target.slice(0, query);
    url.search = query === -1 ? '' : target.slice(query);
  } else {
    const written = new URL(target);
    url.pathname = written.pathname;
    url.search = written.search;
  }
  url.hash = '';
  return url;
}

const REMEMBERED_TARGETS_LIMIT = 64;
const MAX_REMEMBERED_TARGET_LENGTH = 2048;

/**
 * `targetUrl(target, base).href`, remembered: the text an adapter hands the core as the request's
 * URL. A service answers a few targets on one origin over and over; building the `URL` (~8k
 * instructions per request over HTTP, callgrind: node's URL class and ada's parser) is then done
 * once per target, and the core, handed the same string object again, finds its parsed parts by
 * identity (`parseRequestUrl`'s last URL) instead of reading a fresh `URL`'s getters.
 *
 * Invariant: `href(target, base)` is `targetUrl(target, base).href` (a pure function of the two
 * strings; a throw is not remembered). The remembered targets belong to one base: a request on
 * another origin starts them afresh; at most 64 targets of up to 2048 characters are kept, then
 * they start afresh too. Parsing the href again gives the URL's own parts (an http(s) URL with a
 * host serialises and parses back to itself). Held to `targetUrl` over random sequences in
 * packages/middleware/test/target-url.test.ts.
 *
 * @example
 * ```ts
 * const hrefs = new TargetHrefs();
 * hrefs.href('/v1/orders?x=1', 'https://api.example.com'); // 'https://api.example.com/v1/orders?x=1'
 * ```
 */
export class TargetHrefs {
  #base = '';
  #hrefs = new Map<string, string>();
  #lastTarget = '';
  #lastHref = '';

  href(target: string, base: string): string {
    if (base !== this.#base) {
      const href = targetUrl(target, base).href;
      this.#base = base;
      this.#hrefs.clear();
      return this.#remember(target, href);
    }
    // The target answered last, compared whole, before hashing the text for the map.
    if (target === this.#lastTarget && this.#lastHref !== '') return this.#lastHref;
    const known = this.#hrefs.get(target);
    if (known !== undefined) {
      this.#lastTarget = target;
      this.#lastHref = known;
      return known;
    }
    return this.#remember(target, targetUrl(target, base).href);
  }

  #remember(target: string, href: string): string {
    this.#lastTarget = target;
    this.#lastHref = href;
    if (target.length <= MAX_REMEMBERED_TARGET_LENGTH) {
      if (this.#hrefs.size >= REMEMBERED_TARGETS_LIMIT) this.#hrefs.clear();
      this.#hrefs.set(target, href);
    }
    return href;
  }
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
