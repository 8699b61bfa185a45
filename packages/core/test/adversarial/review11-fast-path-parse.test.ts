/**
 * Review 11 (session 10, issue #15 landings 644aa07 and 214a40a): the RFC 9421 common-shape parser
 * (parseCommonSelection with plainByteSequence, the remembered covered-component lists and the last
 * list compared whole) must never read a Signature-Input / Signature pair differently from the
 * general RFC 8941 parser. The attack it guards against: a request the general path refuses, or
 * reads with another key id, created time, nonce, algorithm or covered list, accepted by the fast
 * path; or an `@signature-params` line (the header's own text on the fast path) that is not the
 * canonical serialisation of what the general path read, so that the MAC would cover one text while
 * the policy judged another.
 *
 * How the general path is forced: RFC 8941 top-level parsing discards leading spaces, while the
 * fast path wants a key as the first character, so a leading space sends the same field through the
 * general parser (the premise rfc9421-fast-path.test.ts checks). The inputs are near misses of the
 * common shape: whitespace, case, escapes, repeated parameters and names, long and non-canonical
 * integers, non-ASCII, base64 padding and trailing bits, several members, and covered lists that
 * differ by one character from a list parsed just before (the remembered lists are keyed by text).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRfc9421Options } from '../../src/schemes/rfc9421/options.js';
import { createRfc9421Parser } from '../../src/schemes/rfc9421/parse.js';
import { expectSameReading as expectSame } from '../support/fast-path-reading.js';

const anyLabel = createRfc9421Parser(resolveRfc9421Options({}));
const labelSig = createRfc9421Parser(resolveRfc9421Options({ label: 'sig' }));
type Parser = typeof anyLabel;

let fastReads = 0;

/** The fast path's reading of (input, signature), when it took it, equals the general path's. */
function expectSameReading(parser: Parser, input: string, signature: string): void {
  if (expectSame(parser, input, signature)) fastReads++;
}

const COMPONENTS = ['@method', '@authority', '@path', '@query', 'content-digest', 'content-type', 'host', 'date'];
const ODD_COMPONENTS = ['x_a', 'a.b', '1x', '@query-param', '@signature-params', '@status', 'Host', 'é', 'a b'];

const shaped = fc.record({
  name: fc.constantFrom('sig', 'sig1', '*', 'a*b', 's'),
  components: fc.oneof(
    { weight: 4, arbitrary: fc.subarray(COMPONENTS) },
    fc.subarray([...COMPONENTS, ...ODD_COMPONENTS]),
  ),
  repeatFirst: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, fc.constant(true)),
  separator: fc.oneof({ weight: 8, arbitrary: fc.constant(' ') }, fc.constantFrom('  ', '\t', '')),
  params: fc.array(
    fc.tuple(
      fc.constantFrom('created', 'keyid', 'alg', 'nonce', 'expires', 'tag', 'x', 'a-b', 'Created'),
      fc.oneof(
        fc.constantFrom('1700000000', '0', '-0', '-7', '01', '999999999999999', '1000000000000000', '1.5', '?1', 'tok'),
        fc.constantFrom('"hmac-sha256"', '"hmac-sha512"', '"hmac-md5"', '"rsa-pss-sha512"', '"k1"', '"a\\"b"', '"é"'),
        fc.string({ maxLength: 5 }).map((text) => `"${text}"`),
      ),
    ),
    { maxLength: 2 },
  ),
  // Where the parameters the fast path needs (created, keyid) go among the others, when present.
  createdAt: fc.option(fc.nat({ max: 3 }), { nil: undefined, freq: 12 }),
  keyIdAt: fc.option(fc.nat({ max: 3 }), { nil: undefined, freq: 12 }),
  inputTail: fc.constantFrom('', '', '', '', '', ' ', ';', ', x=("a");keyid="k";created=1'),
  // Mostly the input's own name; sometimes another member's.
  signatureName: fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    fc.constantFrom('sig', 'sig1', '*', 'sigx'),
  ),
  signatureValue: fc.oneof(
    fc.base64String({ maxLength: 24 }),
    fc.constantFrom('', 'AB==', 'AA==', 'AAA', 'A', 'AAAA=', '====', 'AA=A', 'é', 'AA AA'),
  ),
  signatureTail: fc.constantFrom('', '', '', '', ' ', ';p=1', ', x=:AA==:'),
});

describe('review11: the RFC 9421 fast path reads exactly what the general parser reads', () => {
  it('near misses of the common shape: same credentials, and @signature-params is the canonical text', () => {
    fastReads = 0;
    fc.assert(
      fc.property(shaped, (r) => {
        const covered = r.repeatFirst && r.components.length > 0 ? [...r.components, r.components[0]!] : r.components;
        const list = `(${covered.map((name) => `"${name}"`).join(r.separator)})`;
        const pairs = [...r.params];
        if (r.createdAt !== undefined) pairs.splice(r.createdAt, 0, ['created', '1700000000']);
        if (r.keyIdAt !== undefined) pairs.splice(r.keyIdAt, 0, ['keyid', '"hk_1"']);
        const params = pairs.map(([key, value]) => `;${key}=${value}`).join('');
        const input = `${r.name}=${list}${params}${r.inputTail}`;
        const signature = `${r.signatureName ?? r.name}=:${r.signatureValue}:${r.signatureTail}`;
        expectSameReading(anyLabel, input, signature);
        expectSameReading(labelSig, input, signature);
      }),
      { numRuns: 4000 },
    );
    // The generator is worth something only if the fast path took a good share of it.
    expect(fastReads).toBeGreaterThan(150);
  });

  it('a covered list one character away from the list remembered just before is read afresh', () => {
    const params = ';created=1700000000;keyid="k1";alg="hmac-sha256"';
    const remembered = '("@method" "@authority" "content-digest")';
    // Each variant follows the remembered list (parsed first, so it is the last list and in the map).
    const variants = [
      '("@method" "@authority" "content-digest" )',
      '("@method" "@authority"  "content-digest")',
      '("@method" "@authority" "content-digest";sf)',
      '("@method" "@authority" "content-Digest")',
      '("@method" "@authority" "content-digest" "@method")',
      '("@method" "@authority")',
      '("@method" "@authority" "content-digest"',
      '("@method" "@authority" "content-digest"))',
      '("@method" "@authority" "content-digest\\")',
      '("@method" "@authority" "content-digest")x',
    ];
    for (const variant of variants) {
      expectSameReading(anyLabel, `sig=${remembered}${params}`, 'sig=:AAAA:');
      expectSameReading(anyLabel, `sig=${variant}${params}`, 'sig=:AAAA:');
      expectSameReading(anyLabel, `sig=${variant}`, 'sig=:AAAA:');
    }
  });
});
