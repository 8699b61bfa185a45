/**
 * The RFC 9421 common-shape parser keeps the covered-component list it read last (and a bounded map
 * of earlier ones) and finds the last one in place at the start of the next list (session 19: no
 * slice of the header to compare). The attack this guards against: a kept list changing how another
 * request's list is read, above all a list that starts like the kept one and goes on (one label
 * more), stops earlier (one label less), or differs in one character, its spacing or its closing
 * parenthesis; or a kept list found further on in the field rather than at the list's start.
 *
 * Every input is read in sequences that share lists, and each reading is held to the general RFC 8941
 * parser's (support/fast-path-reading.ts: same credentials, and the fast path's `@signature-params`
 * text is the canonical serialisation of the general reading).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRfc9421Options } from '../src/schemes/rfc9421/options.js';
import { createRfc9421Parser } from '../src/schemes/rfc9421/parse.js';
import { expectSameReading as expectSame } from './support/fast-path-reading.js';

const parser = createRfc9421Parser(resolveRfc9421Options({}));

let fastReads = 0;

function expectSameReading(input: string): void {
  if (expectSame(parser, input)) fastReads++;
}

// Lists that are near misses of each other: prefixes, one label more or less, a repeated label,
// other spacing, an empty list, a label that is a prefix of another, no closing parenthesis.
const LISTS = [
  '("@method")',
  '("@method" "@path")',
  '("@method" "@path" "content-digest")',
  '("@method" "@authority" "@path" "@query" "content-digest")',
  '("@method" "@authority" "@path" "@query" "content-digest" "content-type")',
  '("@method" "@authority" "@path" "@query")',
  '("@method"  "@path")',
  '("@method" "@path" )',
  '("@method" "@method")',
  '()',
  '("content")',
  '("content-digest")',
  '("@method" "@path"',
  '("@method";req "@path")',
  '("@method" "@path"))',
  '("x-a" "x-ab")',
  '("x-ab" "x-a")',
];

const PARAMS = [
  ';created=1700000000;keyid="k1";alg="hmac-sha256"',
  ';created=1700000001;nonce="n";keyid="k2"',
  ';keyid="k1";created=1700000000',
  ';created=1700000000;keyid="("@method")"',
  ';created=1700000000;x="("@method" "@path")";keyid="k"',
  '',
];

const input = fc
  .record({
    label: fc.constantFrom('sig', 'sig1', 's'),
    list: fc.constantFrom(...LISTS),
    params: fc.constantFrom(...PARAMS),
  })
  .map(({ label, list, params }) => `${label}=${list}${params}`);

describe('the remembered RFC 9421 component list', () => {
  it('reads every list in a sequence as the general parser does', () => {
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 12 }), (inputs) => {
        for (const text of inputs) {
          expectSameReading(text);
          // Read again at once: the second reading takes the list the first kept.
          expectSameReading(text);
        }
      }),
      { numRuns: 400 },
    );
    expect(fastReads).toBeGreaterThan(300);
  });

  it('each pair of near-miss lists, one after the other, in both orders', () => {
    for (const first of LISTS) {
      for (const second of LISTS) {
        for (const params of PARAMS) {
          expectSameReading(`sig=${first}${params}`);
          expectSameReading(`sig=${second}${params}`);
          expectSameReading(`sig=${first}${params}`);
        }
      }
    }
  });

  it('a kept list found later in the field, not at the list start, is not taken', () => {
    // The kept list appears inside a parameter value after a different list.
    expectSameReading('sig=("@method" "@path");created=1700000000;keyid="k"');
    expectSameReading('sig=("@method");created=1700000000;keyid="k";x="("@method" "@path")"');
    const read = parser.parse({
      method: 'POST',
      url: 'https://api.example.com/a',
      headers: { 'signature-input': 'sig=("@method");created=1700000000;keyid="k"', signature: 'sig=:AAAA:' },
    });
    expect([...read.coveredComponents]).toEqual(['@method']);
  });
});
