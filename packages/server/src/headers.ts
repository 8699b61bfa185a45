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
const CREDENTIAL_HEADERS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.entries(SIGNATURE_HEADERS).map(([scheme, names]) => [scheme, new Set([...RFC9421_CREDENTIALS, ...names])]),
);

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
 * The headers to send upstream: the client's, minus hop-by-hop fields, minus every
 * scheme's credentials (`Signature`, `Signature-Input`, `Authorization` for SigV4 and
 * django-hmac, `X-API-*`, `webhook-signature` / `svix-signature`) and minus any `X-Authenticated-*` a client tried to send; plus
 * the verified identity and the usual `X-Forwarded-*`.
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  identity: HmacIdentity,
  forwarded: { for: string; host: string | undefined; proto: string; requestId: string; trustedPeer: boolean },
): Record<string, string | string[]> {
  // Fields the Connection header names are hop-by-hop too (RFC 9110 7.6.1).
  let listed: Set<string> | undefined;
  const connection = incoming.connection;
  if (typeof connection === 'string') {
    listed = new Set();
    for (const token of connection.split(',')) listed.add(token.trim().toLowerCase());
  }
  const credentials = CREDENTIAL_HEADERS.get(identity.scheme) ?? RFC9421_CREDENTIALS;
  const xApi = identity.scheme === 'x-api';
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || credentials.has(name) || listed?.has(name)) continue;
    if (name.startsWith('x-forwarded-') || name.startsWith('x-authenticated-')) continue;
    if (xApi && name.startsWith('x-api-')) continue;
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

/** Upstream response headers the client may see (hop-by-hop removed). */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}
