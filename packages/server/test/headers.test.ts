import type { IncomingHttpHeaders } from 'node:http';
import type { HmacIdentity } from '@hmac-kit/middleware';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { upstreamHeaders } from '../src/headers.js';

/** The previous implementation of upstreamHeaders (a Set of dropped names per request), as the reference. */
function reference(
  incoming: IncomingHttpHeaders,
  identity: HmacIdentity,
  forwarded: { for: string; host: string | undefined; proto: string; requestId: string; trustedPeer: boolean },
): Record<string, string | string[]> {
  const hopByHop = [
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
  ];
  const signatureHeaders: Record<string, readonly string[]> = {
    rfc9421: ['signature', 'signature-input'],
    sigv4: ['authorization', 'x-amz-security-token'],
    'django-hmac': ['authorization'],
    'x-api': [],
    'standard-webhooks': ['webhook-signature', 'svix-signature'],
  };
  const dropped = new Set(hopByHop);
  const connection = incoming.connection;
  if (typeof connection === 'string') {
    for (const token of connection.split(',')) dropped.add(token.trim().toLowerCase());
  }
  for (const name of signatureHeaders.rfc9421 ?? []) dropped.add(name);
  for (const name of signatureHeaders[identity.scheme] ?? []) dropped.add(name);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || dropped.has(name) || name.startsWith('x-forwarded-')) continue;
    if (name.startsWith('x-authenticated-')) continue;
    if (identity.scheme === 'x-api' && name.startsWith('x-api-')) continue;
    out[name] = value;
  }
  const previous = forwarded.trustedPeer ? incoming['x-forwarded-for'] : undefined;
  const chain = Array.isArray(previous) ? previous.join(', ') : previous;
  out['x-forwarded-for'] = chain ? `${chain}, ${forwarded.for}` : forwarded.for;
  if (forwarded.host) out['x-forwarded-host'] = forwarded.host;
  out['x-forwarded-proto'] = forwarded.proto;
  out['x-request-id'] = forwarded.requestId;
  out['x-authenticated-key-id'] = identity.keyId;
  out['x-authenticated-principal'] = identity.principal;
  out['x-authenticated-scopes'] = identity.scopes.join(' ');
  out['x-authenticated-scheme'] = identity.scheme;
  return out;
}

const NAMES = [
  'accept',
  'content-type',
  'content-length',
  'content-digest',
  'connection',
  'keep-alive',
  'host',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-authorization',
  'transfer-encoding',
  'signature',
  'signature-input',
  'authorization',
  'x-amz-security-token',
  'x-amz-date',
  'x-api-key',
  'x-api-signature',
  'webhook-id',
  'webhook-signature',
  'svix-signature',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-authenticated-key-id',
  'x-custom',
  'cookie',
];
const SCHEMES = ['rfc9421', 'sigv4', 'x-api', 'django-hmac', 'standard-webhooks', 'custom-scheme'];

const headersArbitrary = fc.dictionary(
  fc.constantFrom(...NAMES),
  fc.oneof(
    fc.string({ maxLength: 12 }),
    // Connection values naming other fields, with odd spacing and case.
    fc
      .array(fc.constantFrom(...NAMES, 'X-Custom', ' Accept ', 'close', ''), { maxLength: 4 })
      .map((tokens) => tokens.join(',')),
    fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 3 }),
  ),
);

describe('upstreamHeaders', () => {
  it('drops exactly what the per-request Set of dropped names did (property)', () => {
    fc.assert(
      fc.property(
        headersArbitrary,
        fc.constantFrom(...SCHEMES),
        fc.boolean(),
        fc.option(fc.constantFrom('api.example.com', 'localhost:8080'), { nil: undefined }),
        (incoming, scheme, trustedPeer, host) => {
          const identity: HmacIdentity = {
            keyId: 'hk_test',
            principal: 'svc',
            scopes: ['a', 'b'],
            scheme,
            coveredComponents: [],
          };
          const forwarded = { for: '203.0.113.7', host, proto: 'https', requestId: 'rid-1', trustedPeer };
          const headers = incoming as IncomingHttpHeaders;
          const actual = upstreamHeaders(headers, identity, forwarded);
          const expected = reference(headers, identity, forwarded);
          expect(actual).toEqual(expected);
          expect(Object.keys(actual)).toEqual(Object.keys(expected));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('drops the fields named by Connection, whatever their case and spacing', () => {
    const out = upstreamHeaders(
      { connection: 'keep-alive, X-Custom ,close', 'x-custom': '1', accept: '*/*' },
      { keyId: 'k', principal: 'p', scopes: [], scheme: 'rfc9421', coveredComponents: [] },
      { for: '10.0.0.1', host: undefined, proto: 'http', requestId: 'r', trustedPeer: false },
    );
    expect(out['x-custom']).toBeUndefined();
    expect(out.accept).toBe('*/*');
  });
});
