import { TargetHrefs, targetUrl } from '@hmac-kit/middleware';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

describe('targetUrl', () => {
  const base = 'https://api.example.com';

  it('puts an origin-form target on the base origin', () => {
    expect(targetUrl('/v1/orders?customer=7&limit=20', base).href).toBe(
      'https://api.example.com/v1/orders?customer=7&limit=20',
    );
    expect(targetUrl('/', 'http://127.0.0.1:8080').href).toBe('http://127.0.0.1:8080/');
    expect(targetUrl('/a%20b?q=%2F', base).href).toBe(new URL('/a%20b?q=%2F', base).href);
  });

  it('never takes the scheme or authority from the request line', () => {
    // Absolute form: what the client wrote replaces neither the scheme nor the authority.
    expect(targetUrl('http://other.example/v1/orders?x=1', base).href).toBe('https://api.example.com/v1/orders?x=1');
    expect(targetUrl('https://api.example.com/v1/orders', base).href).toBe('https://api.example.com/v1/orders');
    // A path beginning with two slashes is a path, not a network-path reference.
    const doubled = targetUrl('//other.example/v1/orders?x=1', base);
    expect(doubled.host).toBe('api.example.com');
    expect(doubled.pathname).toBe('//other.example/v1/orders');
    expect(doubled.search).toBe('?x=1');
    expect(targetUrl('http://other.example//evil.example/x', base).host).toBe('api.example.com');
  });

  it('never reads a backslash, tab or newline after the first slash as the start of an authority', () => {
    // new URL('/\\other.example/x', base) is https://other.example/x: a backslash is a slash for http(s),
    // and tabs and newlines are dropped before parsing. node:http passes `/\\host/x` through as written.
    for (const target of [
      '/\\other.example/v1/orders?x=1',
      '/\t/other.example/v1/orders?x=1',
      '/\n/other.example/v1/orders?x=1',
      '/\r/other.example/v1/orders?x=1',
      '/\\\\other.example/v1/orders?x=1',
    ]) {
      const url = targetUrl(target, base);
      expect(url.host, JSON.stringify(target)).toBe('api.example.com');
      expect(url.protocol).toBe('https:');
      expect(url.search).toBe('?x=1');
      expect(url.pathname.endsWith('other.example/v1/orders')).toBe(true);
    }
    // Targets without a scheme or leading slash, which URL parsing would resolve to another authority.
    for (const target of [
      '\\\\other.example/v1/orders?x=1',
      '\t//other.example/v1/orders?x=1',
      '\\/other.example/v1/orders?x=1',
    ]) {
      const url = targetUrl(target, base);
      expect(url.host, JSON.stringify(target)).toBe('api.example.com');
      expect(url.search).toBe('?x=1');
    }
  });

  it('keeps the base origin for any target made of authority-confusable pieces (review13b)', () => {
    // Completeness of the `/\\host` fix: whatever a request line or :path holds (leading or doubled
    // slashes and backslashes, tabs/CR/LF anywhere, %5C, absolute and authority forms, IPv6
    // literals, userinfo, fullwidth solidus), the URL verified is on base's scheme and authority,
    // and so is its href parsed again (what TargetHrefs hands the core).
    const piece = fc.constantFrom(
      '/',
      '\\',
      '\t',
      '\n',
      '\r',
      ' ',
      '\x00',
      '%5C',
      '%2F',
      '?',
      '#',
      '@',
      ':',
      '.',
      '..',
      '[::1]',
      '[::ffff:10.0.0.1]:8080',
      'http:',
      'https:',
      'HTTP:',
      '//',
      'u:p@',
      '\uff0f',
      '\uff3c',
      '*',
      'other.example',
      'api.example.com',
      ':443',
      ':80',
    );
    const hrefs = new TargetHrefs();
    fc.assert(
      fc.property(fc.array(piece, { minLength: 1, maxLength: 8 }), (pieces) => {
        const target = pieces.join('');
        let url: URL;
        try {
          url = targetUrl(target, base);
        } catch {
          return;
        }
        expect(url.origin, JSON.stringify(target)).toBe('https://api.example.com');
        expect(new URL(hrefs.href(target, base)).origin).toBe('https://api.example.com');
      }),
      { numRuns: 2000 },
    );
  });

  it('never keeps userinfo from a target that resolves to the base origin', () => {
    // `\\\\u:p@api.example.com/x` resolves on base to https://u:p@api.example.com/x: the same
    // scheme and host, but with credentials in the URL verified. It is a path on base instead.
    for (const target of [
      '\\\\u:p@api.example.com/v1/orders?x=1',
      '\\\\u@api.example.com/v1/orders?x=1',
      '\\\\:p@api.example.com/v1/orders?x=1',
      '\t//u:p@api.example.com/v1/orders?x=1',
    ]) {
      const url = targetUrl(target, base);
      expect(url.host, JSON.stringify(target)).toBe('api.example.com');
      expect(url.username, JSON.stringify(target)).toBe('');
      expect(url.password, JSON.stringify(target)).toBe('');
      expect(url.search).toBe('?x=1');
      expect(new URL(url.href).username).toBe('');
    }
  });

  it('resolves the asterisk form as before', () => {
    expect(targetUrl('*', base).href).toBe(new URL('*', base).href);
  });

  it('TargetHrefs answers targetUrl(target, base).href, request after request', () => {
    // Targets as request lines carry them: paths, queries, dot segments, percent-escapes, the traps
    // above, absolute forms, over-long ones; a few bases, alternating.
    const segment = fc.constantFrom('v1', 'orders', '..', '.', '%2F', 'a%20b', 'ü', '', '\\', 'x?y', '*');
    const target = fc.oneof(
      fc.array(segment, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`),
      fc.array(segment, { maxLength: 5 }).map((parts) => `//${parts.join('/')}`),
      fc
        .tuple(fc.constantFrom('http://other.example', 'https://api.example.com'), fc.array(segment, { maxLength: 3 }))
        .map(([origin, parts]) => `${origin}/${parts.join('/')}`),
      fc.constantFrom('*', '/', '/\\other.example/x', `/${'a'.repeat(2100)}`, '/v1/orders?customer=7'),
    );
    const bases = fc.constantFrom('https://api.example.com', 'http://127.0.0.1:8080', 'https://API.example.com:443');
    fc.assert(
      fc.property(fc.array(fc.tuple(target, bases), { minLength: 1, maxLength: 40 }), (requests) => {
        const hrefs = new TargetHrefs();
        for (const [written, base] of requests) {
          // Fresh strings of equal text, as each request brings.
          const href = hrefs.href(` ${written}`.slice(1), ` ${base}`.slice(1));
          const url = targetUrl(written, base);
          expect(href).toBe(url.href);
          // Parsing the href (what the core's parseRequestUrl does with a string) gives the URL's own parts.
          const parts = new URL(href);
          expect([parts.host, parts.protocol, parts.pathname, parts.search]).toEqual([
            url.host,
            url.protocol,
            url.pathname,
            url.search,
          ]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('TargetHrefs remembers no failure', () => {
    const hrefs = new TargetHrefs();
    expect(() => hrefs.href('/x', 'not a base')).toThrow();
    expect(hrefs.href('/x', 'https://api.example.com')).toBe('https://api.example.com/x');
    expect(() => hrefs.href('/x', 'not a base')).toThrow();
  });
});
