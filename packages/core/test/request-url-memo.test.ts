/**
 * parseRequestUrl() remembers the parts of the URLs it parsed (the last one compared whole, then a
 * bounded map keyed by the text). The parts it hands out must always be those of `new URL(text)` for
 * the text asked about: never those of a URL parsed before (one character away, another case, a
 * trailing space or fragment), never changed by a caller, and a text that fails to parse fails every
 * time. The derived components of RFC 9421 (@authority, @path, @query, @target-uri, @scheme) are
 * read from these parts, so a wrong memo would sign or verify another request's components.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ComponentError, parseRequestUrl } from '../src/protocol/components.js';

function reference(text: string) {
  try {
    const url = new URL(text);
    return {
      ok: true as const,
      parts: { href: url.href, host: url.host, protocol: url.protocol, pathname: url.pathname, search: url.search },
    };
  } catch {
    return { ok: false as const };
  }
}

function expectParts(text: string): void {
  const expected = reference(text);
  if (!expected.ok) {
    expect(() => parseRequestUrl(text), text).toThrow(ComponentError);
    return;
  }
  const parts = parseRequestUrl(text);
  expect(
    { href: parts.href, host: parts.host, protocol: parts.protocol, pathname: parts.pathname, search: parts.search },
    text,
  ).toEqual(expected.parts);
}

const BASES = [
  'https://api.example.com/v1/orders?customer=c_8f14&expand=items',
  'https://API.example.com/v1/orders?customer=c_8f14&expand=items',
  'https://api.example.com:443/v1/orders',
  'http://api.example.com:8080/a/../b/./c?x=%41',
  'https://api.example.com/v1/orders#frag',
  'https://[::1]/x',
];

// Near misses of a few URLs: one character inserted, removed or replaced anywhere.
const nearMiss = fc
  .tuple(
    fc.constantFrom(...BASES),
    fc.nat(),
    fc.constantFrom('insert', 'delete', 'replace'),
    fc.constantFrom('a', 'A', '/', '?', '#', ' ', '\t', '%', '.', ':', '@', '\\', 'é', '\u0000'),
  )
  .map(([base, at, edit, char]) => {
    const index = at % (base.length + 1);
    if (edit === 'insert') return base.slice(0, index) + char + base.slice(index);
    if (edit === 'delete') return base.slice(0, index) + base.slice(index + 1);
    return base.slice(0, index) + char + base.slice(index + 1);
  });

describe('parseRequestUrl remembers parsed URLs by their text', () => {
  it('hands out the parts of new URL(text), whatever was parsed before', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(nearMiss, fc.constantFrom(...BASES), fc.webUrl(), fc.string()), { maxLength: 8 }),
        (texts) => {
          for (const text of texts) {
            expectParts(text);
            expectParts(text);
          }
          for (const text of [...texts].reverse()) expectParts(text);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps its answers correct past the bound of the map', () => {
    for (let round = 0; round < 3; round++) {
      for (let index = 0; index < 150; index++) expectParts(`https://h${index % 70}.example/p?${index % 3}`);
    }
  });

  it('hands out parts no caller can change', () => {
    const text = 'https://api.example.com/frozen?q=1';
    const parts = parseRequestUrl(text) as { pathname: string };
    expect(() => {
      parts.pathname = '/other';
    }).toThrow(TypeError);
    expect(parseRequestUrl(text).pathname).toBe('/frozen');
  });

  it('takes a URL object as it is', () => {
    const url = new URL('https://api.example.com/x?y');
    expect(parseRequestUrl(url)).toBe(url);
  });
});
