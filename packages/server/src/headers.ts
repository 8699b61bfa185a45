import type { IncomingHttpHeaders } from 'node:http';
import type { HmacIdentity } from '@hmac-kit/middleware';

/** Fields of one hop (RFC 9110 §7.6.1), never passed on either way; `host` and `expect` too. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
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
function dropsHeader(
  name: string,
  credentials: ReadonlySet<string>,
  xApi: boolean,
  listed: ReadonlySet<string> | undefined,
) {
  const canonical = canonicalHeaderName(name);
  if (HOP_BY_HOP.has(canonical) || credentials.has(canonical) || GATEWAY_SET.has(canonical)) return true;
  if (listed?.has(canonical)) return true;
  if (canonical.startsWith(GATEWAY_PREFIXES[0]) || canonical.startsWith(GATEWAY_PREFIXES[1])) return true;
  return xApi && canonical.startsWith('x-api-');
}

/**
 * Appends the four identity fields (key id, principal, space-separated scopes, scheme) of a
 * verified request to a flat `[name, value, ...]` header list: what the gateway sends its upstream
 * and forward-auth answers its proxy, written by one function so the two never differ.
 *
 * @example
 * ```ts
 * const list: Array<string | number> = [];
 * pushIdentityFields(list, identity); // ['x-authenticated-key-id', 'hk_...', 'x-authenticated-principal', ...]
 * ```
 */
export function pushIdentityFields(out: { push(...fields: string[]): unknown }, identity: HmacIdentity): void {
  out.push(
    IDENTITY_HEADERS.keyId,
    identity.keyId,
    IDENTITY_HEADERS.principal,
    identity.principal,
    IDENTITY_HEADERS.scopes,
    identity.scopes.join(' '),
    IDENTITY_HEADERS.scheme,
    identity.scheme,
  );
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

/** Where the gateway says who sent a request and how it reached it (the `X-Forwarded-*` family). */
export interface ForwardedFor {
  for: string;
  host: string | undefined;
  proto: string;
  requestId: string;
  trustedPeer: boolean;
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
  forwarded: ForwardedFor,
): Record<string, string | string[]> {
  const list = upstreamHeaderList(incoming, identity, forwarded);
  const out: Record<string, string | string[]> = {};
  for (let index = 0; index < list.length; index += 2)
    out[list[index] as string] = list[index + 1] as string | string[];
  return out;
}

/**
 * {@link upstreamHeaders} as the flat `[name, value, name, value, ...]` list undici takes: the
 * gateway's form, which builds no object with one property per client header (a fresh hidden
 * class chain per request shape) for undici to walk again. No name appears twice: the client's
 * names are distinct, and every name the gateway appends is one it drops from the client's.
 * `replaced`: names left out besides (tracing's `traceparent`, which undici's instrumentation sets);
 * `contentLength`: the value of `content-length` instead of the client's (the bytes a scheme
 * re-serialised and verified, django-hmac).
 *
 * @example
 * ```ts
 * upstreamHeaderList({ accept: 'application/json' }, identity, forwarded); // ['accept', 'application/json', 'x-forwarded-for', ...]
 * ```
 */
export function upstreamHeaderList(
  incoming: IncomingHttpHeaders,
  identity: HmacIdentity,
  forwarded: ForwardedFor,
  replaced: readonly string[] = [],
  contentLength?: number,
): (string | string[])[] {
  const listed = connectionListed(incoming.connection);
  const credentials = CREDENTIAL_HEADERS.get(identity.scheme) ?? RFC9421_CREDENTIALS;
  const xApi = identity.scheme === 'x-api';
  const out: (string | string[])[] = [];
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || dropsHeader(name, credentials, xApi, listed)) continue;
    if (replaced.length > 0 && replaced.includes(name)) continue;
    if (contentLength !== undefined && name === 'content-length') continue;
    out.push(name, value);
  }
  if (contentLength !== undefined) out.push('content-length', String(contentLength));
  // An untrusted client's own X-Forwarded-For is not passed on as if a proxy had written it.
  const previous = forwarded.trustedPeer ? incoming['x-forwarded-for'] : undefined;
  const chain = Array.isArray(previous) ? previous.join(', ') : previous;
  out.push('x-forwarded-for', chain ? `${chain}, ${forwarded.for}` : forwarded.for);
  if (forwarded.host) out.push('x-forwarded-host', forwarded.host);
  out.push('x-forwarded-proto', forwarded.proto, 'x-request-id', forwarded.requestId);
  pushIdentityFields(out, identity);
  return out;
}

/** What `Connection: keep-alive` lists: a name already hop-by-hop (shared, never changed). */
const KEEP_ALIVE_ONLY: ReadonlySet<string> = new Set(['keep-alive']);

/** The field names a Connection header lists (hop-by-hop too, RFC 9110 §7.6.1), lower-cased and canonical. */
export function connectionListed(connection: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (connection === undefined) return undefined;
  // What nearly every keep-alive peer sends, without a split and a Set per message.
  if (connection === 'keep-alive') return KEEP_ALIVE_ONLY;
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
 * Upstream response headers the client may see: hop-by-hop fields removed, the fields the
 * upstream's own Connection header names (RFC 9110 §7.6.1: they were meant for the hop to the
 * gateway, e.g. `Connection: x-upstream-debug`), and the fields named in `own` (the gateway's).
 *
 * @example
 * ```ts
 * downstreamHeaders({ connection: 'x-trace', 'x-trace': '1', etag: '"a"' }); // { etag: '"a"' }
 * ```
 */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
  own: Record<string, string> = {},
): Record<string, string | string[]> {
  const listed = connectionListed(headers.connection);
  // Fields the gateway sets itself (`own`, any case) are left out: spread beside them, a lower-case
  // upstream `ratelimit` and the gateway's `RateLimit` would both be written.
  const ownNames = Object.keys(own).map((name) => name.toLowerCase());
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(canonicalHeaderName(name))) continue;
    if (ownNames.includes(name.toLowerCase())) continue;
    out[name] = value;
  }
  return out;
}

/**
 * {@link downstreamHeaders} of an upstream answer as undici hands it over (raw names and values,
 * `[name, value, ...]`), followed by the gateway's own `headers` (rate-limit fields) and
 * `X-Request-Id`, as the flat list `writeHead()` takes: the same fields as
 * `{ ...downstreamHeaders(parsed), ...headers, 'x-request-id': requestId }`, a repeated upstream
 * field (`Set-Cookie`) repeated, an upstream field the gateway sets itself left out. Names are
 * lower-cased as undici's parsed headers are; values are passed on byte for byte (latin1, as Node
 * writes them), where undici's parsed form decodes them as UTF-8, which Node then refuses to write.
 * The general form: the gateway writes the same head with `relayedAnswerHeaders` (relayed-fields.ts),
 * which keeps the upstream's recurring names and values instead of decoding them per answer, and is
 * held to this one by test/relayed-fields.test.ts. The builtin upstream client's fields (latin1
 * strings from node's parser) are written with this one.
 *
 * @example
 * ```ts
 * relayedHeaders([Buffer.from('ETag'), Buffer.from('"a"')], { 'ratelimit-limit': '10' }, 'r1');
 * // ['etag', '"a"', 'ratelimit-limit', '10', 'x-request-id', 'r1']
 * ```
 */
export function relayedHeaders(
  raw: readonly (Buffer | string)[],
  headers: Record<string, string>,
  requestId: string,
): string[] {
  const names: string[] = new Array(raw.length >> 1);
  // Every Connection field the upstream sent (a repeated one adds to the first).
  let connection: string | string[] | undefined;
  for (let index = 0; index < raw.length; index += 2) {
    const name = latin1Text(raw[index] as Buffer | string).toLowerCase();
    names[index >> 1] = name;
    if (name !== 'connection') continue;
    const value = latin1Text(raw[index + 1] as Buffer | string);
    connection = connection === undefined ? value : [...(Array.isArray(connection) ? connection : [connection]), value];
  }
  const listed = connectionListed(connection);
  // The gateway's own fields (RateLimit, RateLimit-Policy: two or three, written in mixed case):
  // an upstream field of the same name, in any case, is left out rather than sent beside them.
  // Without any (no rate limit), nothing is built for them.
  let own: string[] | undefined;
  for (const name in headers) {
    if (own === undefined) own = [];
    own.push(lowerCaseName(name));
  }
  const out: string[] = [];
  for (let index = 0; index < raw.length; index += 2) {
    const name = names[index >> 1] as string;
    if (HOP_BY_HOP.has(name) || listed?.has(canonicalHeaderName(name))) continue;
    if (name === 'x-request-id' || own?.includes(name)) continue;
    out.push(name, latin1Text(raw[index + 1] as Buffer | string));
  }
  for (const name in headers) out.push(name, headers[name] as string);
  out.push('x-request-id', requestId);
  return out;
}

/**
 * Lower-cased names of the gateway's own answer fields, kept: they are the few fixed names of the
 * rate-limit headers (`RateLimit`, `RateLimit-Policy`, `Retry-After`), so each is lower-cased once
 * rather than into a new string per answer. Bounded, in case a hook ever answers with names of its
 * own making.
 */
const LOWER_CASE_NAMES = new Map<string, string>();
const LOWER_CASE_NAMES_KEPT = 64;

/** `name` lower-cased, from {@link LOWER_CASE_NAMES} when kept there (the gateway's own answer fields). */
export function lowerCaseName(name: string): string {
  let lower = LOWER_CASE_NAMES.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER_CASE_NAMES.size < LOWER_CASE_NAMES_KEPT) LOWER_CASE_NAMES.set(name, lower);
  }
  return lower;
}

/** A raw field as text: undici's Buffer decoded as latin1, or node's parser's string (already latin1) as it is. */
function latin1Text(field: Buffer | string): string {
  return typeof field === 'string' ? field : field.toString('latin1');
}
