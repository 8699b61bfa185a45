import type { IncomingHttpHeaders } from 'node:http';
import type { HmacIdentity } from '@hmac-kit/middleware';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  downstreamHeaders,
  identityLookalike,
  relayedHeaders,
  upstreamHeaderList,
  upstreamHeaders,
} from '../src/headers.js';

/**
 * The rule, written plainly as the reference: a Set of dropped names per request, every decision
 * made on the name with `_` read as `-` (WSGI and Rack do), the gateway's own headers included.
 */
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
  const dropped = new Set([...hopByHop, 'x-request-id', 'forwarded', 'x-real-ip']);
  const connection = incoming.connection;
  for (const line of connection === undefined ? [] : Array.isArray(connection) ? connection : [connection]) {
    for (const token of line.split(',')) dropped.add(token.trim().toLowerCase().replace(/_/g, '-'));
  }
  for (const name of signatureHeaders.rfc9421 ?? []) dropped.add(name);
  for (const name of signatureHeaders[identity.scheme] ?? []) dropped.add(name);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    const seenAs = name.replace(/_/g, '-');
    if (value === undefined || dropped.has(seenAs) || seenAs.startsWith('x-forwarded-')) continue;
    if (seenAs.startsWith('x-authenticated-')) continue;
    if (identity.scheme === 'x-api' && seenAs.startsWith('x-api-')) continue;
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
  'x-request-id',
  'forwarded',
  'x-real-ip',
  // Underscore look-alikes: the same header to WSGI / Rack upstreams.
  'x_authenticated_principal',
  'x_authenticated-scopes',
  'x-authenticated_key_id',
  'x_forwarded_for',
  'x_forwarded_host',
  'x_request_id',
  'x_api_key',
  'x_amz_security_token',
  'signature_input',
  'webhook_signature',
  'proxy_authorization',
  'transfer_encoding',
  'x_custom',
];
const SCHEMES = ['rfc9421', 'sigv4', 'x-api', 'django-hmac', 'standard-webhooks', 'custom-scheme'];

const headersArbitrary = fc.dictionary(
  fc.constantFrom(...NAMES),
  fc.oneof(
    fc.string({ maxLength: 12 }),
    // Connection values naming other fields, with odd spacing and case.
    fc
      .array(fc.constantFrom(...NAMES, 'X-Custom', 'X_Custom', ' Accept ', 'close', ''), { maxLength: 4 })
      .map((tokens) => tokens.join(',')),
    fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 3 }),
  ),
);

describe('upstreamHeaders', () => {
  it('drops exactly the names the rule drops, read with _ as - (property)', () => {
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

describe('underscore look-alikes (issue #11 defect 8)', () => {
  const identity: HmacIdentity = {
    keyId: 'hk_real',
    principal: 'svc',
    scopes: ['read'],
    scheme: 'sigv4',
    coveredComponents: [],
  };
  const forwarded = { for: '10.0.0.1', host: 'api.example.com', proto: 'https', requestId: 'rid', trustedPeer: true };

  it('never passes a header that WSGI or Rack would read as one the gateway sets or strips', () => {
    const spoofed: IncomingHttpHeaders = {
      x_authenticated_principal: 'admin',
      'x-authenticated_scopes': 'admin',
      x_authenticated_key_id: 'hk_admin',
      x_authenticated_scheme: 'none',
      x_forwarded_for: '127.0.0.1',
      x_forwarded_proto: 'https',
      x_request_id: 'forged',
      x_real_ip: '127.0.0.1',
      x_amz_security_token: 'token',
      accept: 'application/json',
    };
    const out = upstreamHeaders(spoofed, identity, forwarded);
    // What a WSGI server builds from the forwarded headers: HTTP_<NAME with - and _ as _>.
    const environ = new Map<string, string | string[]>();
    for (const [name, value] of Object.entries(out))
      environ.set(`HTTP_${name.toUpperCase().replace(/-/g, '_')}`, value);
    expect(environ.get('HTTP_X_AUTHENTICATED_PRINCIPAL')).toBe('svc');
    expect(environ.get('HTTP_X_AUTHENTICATED_SCOPES')).toBe('read');
    expect(environ.get('HTTP_X_AUTHENTICATED_KEY_ID')).toBe('hk_real');
    expect(environ.get('HTTP_X_AUTHENTICATED_SCHEME')).toBe('sigv4');
    expect(environ.get('HTTP_X_FORWARDED_FOR')).toBe('10.0.0.1');
    expect(environ.get('HTTP_X_REQUEST_ID')).toBe('rid');
    expect(environ.has('HTTP_X_REAL_IP')).toBe(false);
    expect(environ.has('HTTP_X_AMZ_SECURITY_TOKEN')).toBe(false);
    expect(Object.keys(out).filter((name) => name.includes('_'))).toEqual([]);
    expect(out.accept).toBe('application/json');
  });

  it('keeps ordinary headers with underscores', () => {
    const out = upstreamHeaders({ x_tenant_id: 't1' }, identity, forwarded);
    expect(out.x_tenant_id).toBe('t1');
  });

  it('names a look-alike identity header for forward-auth to refuse', () => {
    expect(identityLookalike({ x_authenticated_principal: 'admin' })).toBe('x_authenticated_principal');
    expect(identityLookalike({ 'x-authenticated_scopes': 'admin' })).toBe('x-authenticated_scopes');
    expect(identityLookalike({ 'x-authenticated-principal': 'admin', x_tenant: 'a' })).toBeUndefined();
  });
});

describe('downstreamHeaders (issue #11 defect 11)', () => {
  it('drops the response fields the upstream Connection header names, whatever their case and spacing', () => {
    const out = downstreamHeaders({
      connection: 'keep-alive, X-Upstream-Debug , close',
      'x-upstream-debug': 'internal host db-3',
      'keep-alive': 'timeout=5',
      etag: '"v1"',
      'content-type': 'application/json',
    });
    expect(out).toEqual({ etag: '"v1"', 'content-type': 'application/json' });
  });

  it('drops names listed over several Connection lines', () => {
    const out = downstreamHeaders({ connection: ['x-a', 'x-b'], 'x-a': '1', 'x-b': '2', 'x-c': '3' });
    expect(out).toEqual({ 'x-c': '3' });
  });
});

/** undici's parse of an answer's raw head (`util.parseHeaders`): lower-cased names, repeats as arrays. */
function parsedLikeUndici(raw: readonly Buffer[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let index = 0; index < raw.length; index += 2) {
    const name = (raw[index] as Buffer).toString('latin1').toLowerCase();
    const value = (raw[index + 1] as Buffer).toString('latin1');
    const before = out[name];
    out[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
  }
  return out;
}

/** A flat `[name, value, ...]` list read as `writeHead()` writes it: one line per pair, in order. */
function lines(list: readonly (string | string[])[]): string[] {
  const out: string[] = [];
  for (let index = 0; index < list.length; index += 2) {
    const value = list[index + 1] as string | string[];
    for (const one of Array.isArray(value) ? value : [value]) out.push(`${list[index]}: ${one}`);
  }
  return out;
}

const RESPONSE_NAMES = [
  'Content-Type',
  'content-length',
  'Connection',
  'Keep-Alive',
  'Transfer-Encoding',
  'Set-Cookie',
  'ETag',
  'X-Upstream-Debug',
  'x_upstream_debug',
  'X-Request-Id',
  'RateLimit',
  'RateLimit-Policy',
  'Upgrade',
  'Trailer',
];

describe('relayedHeaders: the answer head of the relay path, against the parsed one of the streamed path', () => {
  it('writes the same lines as { ...downstreamHeaders(parsed), ...committed, x-request-id } (property)', () => {
    const rawArbitrary = fc.array(
      fc.tuple(
        fc.constantFrom(...RESPONSE_NAMES),
        fc.oneof(
          fc.stringMatching(/^[ -~]{0,10}$/),
          fc
            .array(fc.constantFrom(...RESPONSE_NAMES, 'close', 'keep-alive', ' x-upstream-debug '), { maxLength: 3 })
            .map((tokens) => tokens.join(',')),
        ),
      ),
      { maxLength: 10 },
    );
    const committedArbitrary = fc.dictionary(
      fc.constantFrom('ratelimit', 'ratelimit-policy'),
      fc.stringMatching(/^[ -~]{1,8}$/),
    );
    fc.assert(
      fc.property(rawArbitrary, committedArbitrary, (pairs, committed) => {
        const raw = pairs.flatMap(([name, value]) => [Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1')]);
        const relayed = relayedHeaders(raw, committed, 'rid-1');
        const streamed = { ...downstreamHeaders(parsedLikeUndici(raw)), ...committed, 'x-request-id': 'rid-1' };
        // The same lines; order aside (a field the gateway sets replaces the upstream's in place there, last here).
        expect(lines(relayed).sort()).toEqual(lines(Object.entries(streamed).flat()).sort());
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves out an upstream field the gateway sets, in any case, on every answer (its names lower-cased once, kept)', () => {
    const raw = ['ratelimit', 'upstream', 'RATELIMIT-POLICY', 'upstream', 'ETag', '"a"'].map((text) =>
      Buffer.from(text, 'latin1'),
    );
    const committed = { 'RateLimit-Policy': '"default";q=10;w=1', RateLimit: '"default";r=9;t=1' };
    const expected = [
      'etag',
      '"a"',
      'RateLimit-Policy',
      '"default";q=10;w=1',
      'RateLimit',
      '"default";r=9;t=1',
      'x-request-id',
      'r',
    ];
    expect(relayedHeaders(raw, committed, 'r')).toEqual(expected);
    expect(relayedHeaders(raw, { ...committed }, 'r')).toEqual(expected);
    expect(relayedHeaders(raw, {}, 'r')).toEqual([
      'ratelimit',
      'upstream',
      'ratelimit-policy',
      'upstream',
      'etag',
      '"a"',
      'x-request-id',
      'r',
    ]);
  });

  it('passes an upstream value byte for byte (latin1), where a UTF-8 decode would not write', () => {
    const value = Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9]); // "café" in UTF-8
    const relayed = relayedHeaders([Buffer.from('X-Name'), value], {}, 'r');
    expect(relayed).toEqual(['x-name', 'caf\u00c3\u00a9', 'x-request-id', 'r']);
    expect(Buffer.from(relayed[1] as string, 'latin1')).toEqual(value);
  });
});

describe('upstreamHeaderList: the flat form undici takes', () => {
  const identity: HmacIdentity = {
    keyId: 'k',
    principal: 'p',
    scopes: ['s'],
    scheme: 'django-hmac',
    coveredComponents: [],
  };
  const forwarded = { for: '10.0.0.1', host: 'h', proto: 'http', requestId: 'r', trustedPeer: false };

  it('leaves out the replaced names and puts the verified length in place of the client one', () => {
    const list = upstreamHeaderList(
      { 'content-length': '12', traceparent: 'x', accept: '*', authorization: 'HMAC-SHA256 a;b;c' },
      identity,
      forwarded,
      ['traceparent'],
      7,
    );
    const names = list.filter((_, index) => index % 2 === 0);
    expect(names).not.toContain('traceparent');
    expect(names).not.toContain('authorization');
    expect(names.filter((name) => name === 'content-length')).toHaveLength(1);
    expect(list[list.indexOf('content-length') + 1]).toBe('7');
    expect(new Set(names).size).toBe(names.length);
  });
});
