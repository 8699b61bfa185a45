import type { IncomingHttpHeaders } from 'node:http';
import type { HmacIdentity } from '@hmac-kit/middleware';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
]);

/** Headers carrying credentials of each scheme: never forwarded upstream. */
const SIGNATURE_HEADERS: Record<string, readonly string[]> = {
  rfc9421: ['signature', 'signature-input'],
  sigv4: ['authorization', 'x-amz-security-token'],
  'django-hmac': ['authorization'],
  'x-api': [],
  // webhook-id and webhook-timestamp pass on: receivers deduplicate retries by webhook-id.
  'standard-webhooks': ['webhook-signature', 'svix-signature'],
};

/** Per scheme: every header never forwarded (RFC 9421's, always, plus the scheme's own), built once. */
const RFC9421_CREDENTIALS: ReadonlySet<string> = new Set(SIGNATURE_HEADERS.rfc9421);
const CREDENTIAL_HEADERS: Map<string, ReadonlySet<string>> = new Map(
  Object.entries(SIGNATURE_HEADERS).map(([scheme, names]) => [scheme, new Set([...RFC9421_CREDENTIALS, ...names])]),
);

/**
 * Registers the credential headers of a scheme declared at start (a legacy scheme's signature
 * header): never forwarded upstream, like the built-ins'.
 *
 * @example
 * ```ts
 * addCredentialHeaders('authorization-hmac', ['authorization']);
 * ```
 */
export function addCredentialHeaders(scheme: string, names: readonly string[]): void {
  CREDENTIAL_HEADERS.set(scheme, new Set([...RFC9421_CREDENTIALS, ...names.map((name) => name.toLowerCase())]));
}

export const IDENTITY_HEADERS = {
  keyId: 'x-authenticated-key-id',
  principal: 'x-authenticated-principal',
  scopes: 'x-authenticated-scopes',
  scheme: 'x-authenticated-scheme',
} as const;

/** The identity response/forwarded headers for an authenticated request. */
export function identityHeaders(identity: HmacIdentity): Record<string, string> {
  return {
    [IDENTITY_HEADERS.keyId]: identity.keyId,
    [IDENTITY_HEADERS.principal]: identity.principal,
    [IDENTITY_HEADERS.scopes]: identity.scopes.join(' '),
    [IDENTITY_HEADERS.scheme]: identity.scheme,
  };
}

/**
 * Headers the gateway sets itself for the upstream (beside the identity headers): a client's own
 * copy is never passed on. `forwarded` (RFC 7239) and `x-real-ip` are not set but are dropped for
 * the same reason as `x-forwarded-*`: upstreams believe them from the gateway's address.
 */
const GATEWAY_SET = new Set(['x-request-id', 'forwarded', 'x-real-ip']);
/** Prefixes of names the gateway owns: the verified identity and the forwarding chain. */
const GATEWAY_PREFIXES = ['x-authenticated-', 'x-forwarded-'] as const;

/**
 * The name a header is known by downstream of the gateway. WSGI (CGI's `HTTP_*` variables), Rack
 * and some proxies map `-` and `_` to the same character, so `X_Authenticated_Principal` *is*
 * `X-Authenticated-Principal` to a Django, Flask or Rails upstream: every strip decision is made
 * on this form (issue #11 defect 8). Node has already lower-cased the name.
 *
 * @example
 * ```ts
 * canonicalHeaderName('x_authenticated_principal'); // 'x-authenticated-principal'
 * ```
 */
export function canonicalHeaderName(name: string): string {
  return name.indexOf('_') === -1 ? name : name.replaceAll('_', '-');
}

/**
 * Whether the gateway must drop a client header: hop-by-hop, listed in Connection, a credential of
 * the verifying scheme, or one the gateway sets itself (identity, `X-Forwarded-*`, request id).
 */
function dropsHeader(name: string, credentials: ReadonlySet<string>, xApi: boolean, listed: Set<string> | undefined) {
  const canonical = canonicalHeaderName(name);
  if (HOP_BY_HOP.has(canonical) || credentials.has(canonical) || GATEWAY_SET.has(canonical)) return true;
  if (listed?.has(canonical)) return true;
  if (canonical.startsWith(GATEWAY_PREFIXES[0]) || canonical.startsWith(GATEWAY_PREFIXES[1])) return true;
  return xApi && canonical.startsWith('x-api-');
}

/**
 * The name of a client header that an upstream would read as one of the identity headers although
 * it is not spelled as one (`X_Authenticated_Principal`), if any. Forward-auth cannot strip headers
 * from the request the proxy forwards, so it refuses such a request instead.
 *
 * @example
 * ```ts
 * identityLookalike({ 'x_authenticated_principal': 'admin' }); // 'x_authenticated_principal'
 * identityLookalike({ 'x-authenticated-principal': 'admin' }); // undefined (the proxy overwrites it)
 * ```
 */
export function identityLookalike(headers: IncomingHttpHeaders): string | undefined {
  // for...in, not a for...of over Object.keys(): no array and no iterator results per request.
  for (const name in headers) {
    if (name.indexOf('_') === -1) continue;
    if (canonicalHeaderName(name).startsWith(GATEWAY_PREFIXES[0])) return name;
  }
  return undefined;
}

/**
 * The headers to send upstream: the client's, minus hop-by-hop fields and those its Connection
 * header names, minus every scheme's credentials (`Signature`, `Signature-Input`, `Authorization`
 * for SigV4 and django-hmac, `X-API-*`, `webhook-signature` / `svix-signature`), minus any header
 * the gateway sets (`X-Authenticated-*`, `X-Forwarded-*`, `Forwarded`, `X-Real-IP`,
 * `X-Request-Id`), each also under any spelling with `_` for `-` (see {@link canonicalHeaderName});
 * plus the verified identity and the usual `X-Forwarded-*`.
 *
 * @example
 * ```ts
 * upstreamHeaders({ accept: 'application/json', x_authenticated_principal: 'admin' }, identity, forwarded);
 * // { accept: 'application/json', 'x-forwarded-for': ..., 'x-authenticated-principal': identity.principal, ... }
 * ```
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  identity: HmacIdentity,
  forwarded: { for: string; host: string | undefined; proto: string; requestId: string; trustedPeer: boolean },
): Record<string, string | string[]> {
  const listed = connectionListed(incoming.connection);
  const credentials = CREDENTIAL_HEADERS.get(identity.scheme) ?? RFC9421_CREDENTIALS;
  const xApi = identity.scheme === 'x-api';
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || dropsHeader(name, credentials, xApi, listed)) continue;
    out[name] = value;
  }
  // An untrusted client's own X-Forwarded-For is not passed on as if a proxy had written it.
  const previous = forwarded.trustedPeer ? incoming['x-forwarded-for'] : undefined;
  const chain = Array.isArray(previous) ? previous.join(', ') : previous;
  out['x-forwarded-for'] = chain ? `${chain}, ${forwarded.for}` : forwarded.for;
  if (forwarded.host) out['x-forwarded-host'] = forwarded.host;
  out['x-forwarded-proto'] = forwarded.proto;
  out['x-request-id'] = forwarded.requestId;
  Object.assign(out, identityHeaders(identity));
  return out;
}

/** The field names a Connection header lists (hop-by-hop too, RFC 9110 §7.6.1), lower-cased and canonical. */
function connectionListed(connection: string | string[] | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  const listed = new Set<string>();
  for (const line of Array.isArray(connection) ? connection : [connection]) {
    for (const token of line.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) listed.add(canonicalHeaderName(name));
    }
  }
  return listed;
}

/**
 * Upstream response headers the client may see: hop-by-hop fields removed, and the fields the
 * upstream's own Connection header names (RFC 9110 §7.6.1: they were meant for the hop to the
 * gateway, e.g. `Connection: x-upstream-debug`).
 *
 * @example
 * ```ts
 * downstreamHeaders({ connection: 'x-trace', 'x-trace': '1', etag: '"a"' }); // { etag: '"a"' }
 * ```
 */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const listed = connectionListed(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(canonicalHeaderName(name))) continue;
    out[name] = value;
  }
  return out;
}
