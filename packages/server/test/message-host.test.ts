/**
 * message.ts `plausibleHost`: the last host that passed the Host check is kept, and a host equal to
 * it passes without the expression (issue #15, session 23). Held to the expression itself over
 * sequences of hosts where values repeat, differ by one character, or are refused (fast-check),
 * and through the URL rebuilder (a refused host after an accepted one is still `invalid-host`);
 * `requestHasBody`'s upper-case body methods held to the core's `messageHasBody`.
 */
import type { IncomingMessage } from 'node:http';
import { messageHasBody } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createUrlRebuilder, plausibleHost, requestHasBody } from '../src/message.js';

/** The Host check as the expression alone (message.ts HOST). */
const REFERENCE = /^[A-Za-z0-9.\-[\]:]+$/;

const hostArbitrary = fc.oneof(
  fc.constantFrom(
    'api.example.com',
    'api.example.com:8443',
    '[::1]:80',
    '',
    'api.example.com ',
    'a@b',
    'api.example.com/x',
  ),
  fc.stringMatching(/^[A-Za-z0-9.\-[\]:]{0,20}$/),
  fc.string({ maxLength: 20 }),
);

describe('plausibleHost (issue #15, session 23)', () => {
  it('answers as the expression, for any sequence of hosts (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(hostArbitrary, { minLength: 1, maxLength: 20 }), (hosts) => {
        for (const host of hosts) {
          expect(plausibleHost(host)).toBe(REFERENCE.test(host));
          // Asked again right after: the kept value answers now.
          expect(plausibleHost(host)).toBe(REFERENCE.test(host));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the rebuilt URL: a refused Host after an accepted one is invalid-host', () => {
    const rebuild = createUrlRebuilder({ publicOrigin: undefined });
    const request = (host: string) => ({ headers: { host }, socket: null }) as unknown as IncomingMessage;
    expect(rebuild(request('api.example.com'), '/a', false)).toBe('http://api.example.com/a');
    expect(rebuild(request('api.example.com'), '/a', false)).toBe('http://api.example.com/a');
    expect(rebuild(request('api.example.com@evil'), '/a', false)).toBe('http://invalid-host/a');
    expect(rebuild(request('api.example.com'), '/a', true, { host: 'evil host' })).toBe('http://api.example.com/a');
  });
});

describe('requestHasBody (issue #15, session 23)', () => {
  it("answers as the core's messageHasBody, for any method and framing (fast-check)", () => {
    const methods = fc.oneof(
      fc.constantFrom('POST', 'PUT', 'PATCH', 'GET', 'HEAD', 'DELETE', 'OPTIONS', 'post', 'Put', 'patch', 'QUERY'),
      fc.string({ maxLength: 8 }),
    );
    const framing = fc.record(
      {
        'content-length': fc.constantFrom('0', '00', ' 0 ', '1', '', '+0', '0, 0'),
        'transfer-encoding': fc.constantFrom('chunked', 'gzip, chunked', ''),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(methods, framing, (method, headers) => {
        expect(requestHasBody(method, headers)).toBe(messageHasBody({ method, url: '', headers }));
      }),
      { numRuns: 500 },
    );
  });
});

describe('rebuildUrl reads its fields by name (issue #15, session 23)', () => {
  /** The rebuilder as it read the fields before, through `headerValue` (session 22). */
  function reference(
    request: IncomingMessage,
    path: string,
    trustedPeer: boolean,
    overrides?: { host?: string; proto?: string },
  ) {
    const headerValue = (name: string) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    let host: string | undefined;
    let proto = (request.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
    if (trustedPeer) {
      const forwardedHost = overrides?.host ?? headerValue('x-forwarded-host')?.split(',')[0]?.trim();
      const forwardedProto = overrides?.proto ?? headerValue('x-forwarded-proto')?.split(',')[0]?.trim();
      if (forwardedHost && REFERENCE.test(forwardedHost)) host = forwardedHost;
      if (forwardedProto === 'https' || forwardedProto === 'http') proto = forwardedProto;
    }
    if (host === undefined) {
      host = headerValue('host') ?? 'localhost';
      if (!REFERENCE.test(host)) host = 'invalid-host';
    }
    return `${proto}://${host}${path.startsWith('/') ? path : `/${path}`}`;
  }

  it('gives the URL the headerValue reads gave (fast-check)', () => {
    const value = fc.oneof(
      fc.constantFrom(undefined, 'api.example.com', 'a.example, b.example', ' https ', 'http', 'x y', ''),
      fc.array(fc.constantFrom('api.example.com', 'https', 'b'), { minLength: 1, maxLength: 2 }),
    );
    const rebuild = createUrlRebuilder({ publicOrigin: undefined });
    fc.assert(
      fc.property(
        value,
        value,
        value,
        fc.boolean(),
        fc.boolean(),
        fc.option(
          fc.record(
            { host: fc.constantFrom('o.example', 'bad host'), proto: fc.constantFrom('https', 'ftp') },
            { requiredKeys: [] },
          ),
          { nil: undefined },
        ),
        fc.constantFrom('/a?b=1', 'a'),
        (host, forwardedHost, forwardedProto, trusted, encrypted, overrides, path) => {
          const headers: Record<string, unknown> = {};
          if (host !== undefined) headers.host = host;
          if (forwardedHost !== undefined) headers['x-forwarded-host'] = forwardedHost;
          if (forwardedProto !== undefined) headers['x-forwarded-proto'] = forwardedProto;
          const request = { headers, socket: { encrypted } } as unknown as IncomingMessage;
          expect(rebuild(request, path, trusted, overrides)).toBe(reference(request, path, trusted, overrides));
        },
      ),
      { numRuns: 500 },
    );
  });
});
