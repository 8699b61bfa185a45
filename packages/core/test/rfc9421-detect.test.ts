/**
 * rfc9421()'s detect() answers from node:http's own lower-case string fields without scanning the
 * headers (issue #15, session 26). Held to the scan it short-cuts (getHeadersOfLower: both fields
 * found) over records mixing the two names in other cases, arrays (empty ones too), undefined and
 * null values, inherited keys, and Headers-like objects (own get/forEach functions).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getHeadersOfLower } from '../src/protocol/headers.js';
import { resolveRfc9421Options } from '../src/schemes/rfc9421/options.js';
import { createRfc9421Parser } from '../src/schemes/rfc9421/parse.js';

const { detect } = createRfc9421Parser(resolveRfc9421Options({}));

function reference(headers: Record<string, unknown> | Headers): boolean {
  const found = getHeadersOfLower(headers as Record<string, string>, 'signature-input', 'signature');
  return found.first !== undefined && found.second !== undefined;
}

const NAMES = ['signature-input', 'signature', 'Signature-Input', 'SIGNATURE', 'signature-inpu', 'content-digest', 'x'];
const VALUE = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constant(undefined),
  fc.constant(null),
  fc.constant([]),
  fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.constant(undefined)), { minLength: 1, maxLength: 3 }),
  fc.integer(),
);

describe('rfc9421 detect() fast path', () => {
  it('answers as the header scan does (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...NAMES), VALUE), { maxLength: 6 }),
        fc.array(fc.tuple(fc.constantFrom(...NAMES), VALUE), { maxLength: 2 }),
        fc.constantFrom('plain', 'headers-like', 'get-only'),
        (own, inherited, shape) => {
          const proto: Record<string, unknown> = Object.fromEntries(inherited);
          const headers: Record<string, unknown> = Object.create(proto);
          for (const [name, value] of own) headers[name] = value;
          if (shape !== 'plain') headers.get = () => null;
          if (shape === 'headers-like') headers.forEach = () => {};
          expect(detect({ method: 'GET', url: 'http://h/', headers: headers as Record<string, string> })).toBe(
            reference(headers),
          );
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('takes the fast path only for own string fields (node:http headers, a Headers object)', () => {
    const both = { 'signature-input': 'sig=()', signature: 'sig=:AA==:' };
    expect(detect({ method: 'GET', url: 'http://h/', headers: both })).toBe(true);
    expect(detect({ method: 'GET', url: 'http://h/', headers: new Headers(both) })).toBe(true);
    expect(detect({ method: 'GET', url: 'http://h/', headers: { 'signature-input': 'sig=()' } })).toBe(false);
    const inherited = Object.create({ signature: 'sig=:AA==:' }) as Record<string, string>;
    inherited['signature-input'] = 'sig=()';
    expect(detect({ method: 'GET', url: 'http://h/', headers: inherited })).toBe(false);
    expect(
      detect({ method: 'GET', url: 'http://h/', headers: { 'signature-input': 'sig=()', signature: [] } as never }),
    ).toBe(false);
  });
});
