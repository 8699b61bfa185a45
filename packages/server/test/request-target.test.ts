import { sigv4CanonicalQuery, sigv4CanonicalUri, xApiCanonicalQuery } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requestTargetDefect, sortedQueryDefect, sortedQueryDefectBeforeVerifying } from '../src/request-target.js';

/** What RFC 9421's verifier reads of a target: WHATWG URL parsing against the rebuilt origin. */
function asVerified(target: string): string {
  const url = new URL(`http://api.example.com${target}`);
  return url.pathname + url.search;
}

// Characters that make interesting targets: structure, dots and their escapes, every byte class
// URL parsing treats specially, and plain letters.
const TARGET_CHARS = [
  '/',
  '/',
  '/',
  '.',
  '.',
  '%2e',
  '%2E',
  '%2f',
  '%5c',
  '%',
  '%4',
  '%41',
  '\\',
  ';',
  '?',
  '&',
  '=',
  '#',
  '+',
  ' ',
  '"',
  "'",
  '<',
  '>',
  '`',
  '{',
  '}',
  '|',
  '^',
  '[',
  ']',
  '~',
  '@',
  ':',
  '!',
  '$',
  '*',
  ',',
  '\t',
  '\u0000',
  '\u007f',
  'é',
  'a',
  'b',
  'c',
  'x',
  '1',
];
const anyTarget = fc
  .array(fc.constantFrom(...TARGET_CHARS), { maxLength: 24 })
  .map((parts) => parts.join(''))
  .chain((rest) => fc.constantFrom(`/${rest}`, rest, `http://evil.example/${rest}`));

describe('requestTargetDefect', () => {
  it('accepts ordinary origin-form targets', () => {
    for (const target of [
      '/',
      '/v1/orders',
      '/v1/orders/',
      '/v1/orders/7?expand=items&limit=5',
      '/a/b%20c/%2Fd',
      '/files/.well-known/x',
      '/a/...',
      '/a/.b/..c',
      '/search?q=a+b&tags[]=x&tags[]=y',
      "/p!$&'()*+,;=:@~",
      '/a?x=/..&y=%2e%2e',
    ]) {
      expect(requestTargetDefect(target), target).toBeUndefined();
    }
  });

  it.each([
    ['/a/../b/c', /dot segment/],
    ['/a/./b', /dot segment/],
    ['/a/..', /dot segment/],
    ['/a/%2e%2e/b', /dot segment/],
    ['/a/%2E./b', /dot segment/],
    ['/a/.%2e/b', /dot segment/],
    ['/a/%2e/b', /dot segment/],
    ['/a/..;jsessionid=1/b', /dot segment/],
    ['/a\\b', /backslash/],
    ['/a/%5c/../b', /dot segment/],
    ['//b', /empty segment/],
    ['/a//b', /empty segment/],
    ['http://evil.example/x', /absolute-form/],
    ['HTTPS://evil.example/x', /absolute-form/],
    ['evil.example:443', /must be a path/],
    ['*', /asterisk-form/],
    ['/a#frag', /fragment/],
    ['/a%zz', /%HH/],
    ['/a%4', /%HH/],
    ['/a"b', /percent-encoded/],
    ['/a{b}', /percent-encoded/],
    ['/a`b', /percent-encoded/],
    ['/a\u00e9', /percent-encoded/],
    ['/a?q="x"', /percent-encoded/],
    ["/a?q='x'", /percent-encoded/],
    ['/a?', /empty query/],
  ])('refuses %j', (target, reason) => {
    expect(requestTargetDefect(target)).toMatch(reason);
  });

  it('accepts only targets that every verifier reads exactly as sent (property)', () => {
    fc.assert(
      fc.property(anyTarget, (target) => {
        if (requestTargetDefect(target) !== undefined) return;
        // RFC 9421 (WHATWG URL) reads the same path and query...
        expect(asVerified(target)).toBe(target);
        // ...SigV4's normalised canonical path is the path as sent...
        const question = target.indexOf('?');
        const path = question === -1 ? target : target.slice(0, question);
        expect(sigv4CanonicalUri(path, { normalize: true, encode: false })).toBe(path);
        // ...and no segment is one a servlet container or file handler reads as "." or "..".
        for (const segment of path.split('/')) {
          expect((segment.split(';')[0] as string).replace(/%2e/gi, '.')).not.toMatch(/^\.{1,2}$/);
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it('refuses every target whose verified reading differs from what would be forwarded (property)', () => {
    fc.assert(
      fc.property(anyTarget, (target) => {
        let verified: string | undefined;
        try {
          verified = asVerified(target);
        } catch {
          verified = undefined;
        }
        if (target.startsWith('/') && verified === target) return;
        expect(requestTargetDefect(target)).toBeDefined();
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('sortedQueryDefect', () => {
  it('leaves schemes that sign the query as sent alone', () => {
    for (const scheme of ['rfc9421', 'django-hmac', 'standard-webhooks']) {
      expect(sortedQueryDefect(scheme, '/a?id=2&id=1&&q=a+b')).toBeUndefined();
    }
  });

  it('accepts distinct names in any order and repeated names in canonical order', () => {
    for (const scheme of ['sigv4', 'x-api']) {
      expect(sortedQueryDefect(scheme, '/a?z=1&b=2&a=3')).toBeUndefined();
      expect(sortedQueryDefect(scheme, '/a?id=1&x=0&id=2&id=2')).toBeUndefined();
      expect(sortedQueryDefect(scheme, '/a')).toBeUndefined();
    }
  });

  it.each([
    ['sigv4', '/a?id=2&id=1', /repeats "id"/],
    ['x-api', '/a?id=2&id=1', /repeats "id"/],
    ['sigv4', '/a?id=%42&id=A', /repeats "id"/],
    ['sigv4', '/a?x=1&&y=2', /empty parameter/],
    ['x-api', '/a?x=1&', /empty parameter/],
    ['sigv4', '/a?q=a+b', /literal \+/],
  ])('%s refuses %j', (scheme, target, reason) => {
    expect(sortedQueryDefect(scheme, target)).toMatch(reason);
  });

  const queryPart = fc
    .tuple(fc.constantFrom('id', 'a', 'b', 'id%20', 'x'), fc.constantFrom('', '1', '2', 'A', '%41', '%42', 'b', '%7E'))
    .map(([name, value]) => `${name}=${value}`);

  it('accepts a query only when every accepted reordering means the same to an upstream (property)', () => {
    // Two accepted queries with the same signed canonical form list each name's values in the same order.
    const valuesByName = (query: string) => {
      const map = new Map<string, string[]>();
      for (const part of query.split('&')) {
        const [name, value] = part.split('=') as [string, string];
        const key = decodeURIComponent(name);
        map.set(key, [...(map.get(key) ?? []), decodeURIComponent(value)]);
      }
      return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    };
    for (const [scheme, canonical] of [
      ['sigv4', sigv4CanonicalQuery],
      ['x-api', xApiCanonicalQuery],
    ] as const) {
      fc.assert(
        fc.property(
          fc.array(queryPart, { minLength: 1, maxLength: 6 }),
          fc.array(queryPart, { minLength: 1, maxLength: 6 }),
          (left, right) => {
            const a = left.join('&');
            const b = right.join('&');
            if (canonical(a) !== canonical(b)) return;
            if (sortedQueryDefect(scheme, `/p?${a}`) || sortedQueryDefect(scheme, `/p?${b}`)) return;
            expect(valuesByName(a)).toEqual(valuesByName(b));
          },
        ),
        { numRuns: 20_000 },
      );
    }
  });
});

describe('sortedQueryDefectBeforeVerifying', () => {
  it('applies the sorted-query rules to requests carrying SigV4 or X-API credentials, before verification', () => {
    const sigv4Header = { authorization: 'AWS4-HMAC-SHA256 Credential=hk_x/20250101/us-east-1/hmac-kit/aws4_request' };
    expect(sortedQueryDefectBeforeVerifying(sigv4Header, '/a?id=2&id=1')).toMatch(/repeats "id"/);
    expect(sortedQueryDefectBeforeVerifying(sigv4Header, '/a?q=a+b')).toMatch(/literal \+/);
    expect(sortedQueryDefectBeforeVerifying({}, '/a?id=2&id=1&X-Amz-Signature=ab')).toMatch(/repeats "id"/);
    expect(sortedQueryDefectBeforeVerifying({ 'x-api-signature': 's' }, '/a?id=1&&id=2')).toMatch(/empty parameter/);
    expect(sortedQueryDefectBeforeVerifying({ 'x-api-signature': 's' }, '/a?q=a+b')).toBeUndefined();
  });

  it('leaves other requests alone', () => {
    expect(sortedQueryDefectBeforeVerifying({ signature: 'sig1=:x:' }, '/a?id=2&id=1&q=a+b')).toBeUndefined();
    expect(sortedQueryDefectBeforeVerifying({ authorization: 'Bearer x' }, '/a?id=2&id=1')).toBeUndefined();
  });
});
