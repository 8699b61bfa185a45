import { targetUrl } from '@hmac-kit/middleware';
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

  it('resolves the asterisk form as before', () => {
    expect(targetUrl('*', base).href).toBe(new URL('*', base).href);
  });
});
