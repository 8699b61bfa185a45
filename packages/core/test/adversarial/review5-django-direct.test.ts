/**
 * Review (session 5), django-hmac one-pass body serialisation (b93826a): the gateway forwards the
 * serialisation it verified, so a fast path that answered differently from the tree path (a text
 * the tree refuses, a different serialisation, a different falsy verdict) would sign one thing and
 * forward another, or accept what django itself refuses. Attack: token soups from a JSON-ish
 * grammar (valid and broken, with non-JSON whitespace and near-JSON tokens), plus hand cases.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { expectSameSerialization } from '../support/django-json.js';

/** Whitespace JSON allows and whitespace it does not (Python's json refuses the latter too). */
const whitespace = fc.constantFrom(
  '',
  '',
  ' ',
  '\t',
  '\n',
  '\r',
  '\u000b',
  '\u000c',
  '\u00a0',
  '\u2028',
  '\ufeff',
  '\u3000',
);

/** Tokens a JSON text is made of, and near misses. */
const token = fc.oneof(
  fc.constantFrom('{', '}', '[', ']', ',', ':', 'null', 'true', 'false', 'nul', 'True', 'NaN', '-NaN', 'Infinity'),
  fc.constantFrom('-Infinity', '0', '-0', '00', '-', '+1', '.5', '1.', '1e', '1e400', '-1e400', '1e-400', '-0.0'),
  fc.constantFrom('0.1', '1E+2', '123456789012345678901234567890', '4.35', '1e16', '1e-5', '0e0', '-0e-0', '"a"'),
  fc.constantFrom('"\\u0000"', '"\\ud800"', '"\\udc00\\ud800"', '"\\u00e9"', '"é"', '"\u0001"', '"\\x41"', '"\\/"'),
  fc.constantFrom('"\\uD83D\\uDE00"', '"😀"', '"\\u12"', '"\\', '"', '"\u007f"', '"a\\"b"', '""', '"~"'),
);

/** A well-formed value with duplicate names, deep arrays and odd numbers mixed in. */
const value: fc.Arbitrary<string> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    token,
    fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
    fc
      .array(fc.tuple(fc.constantFrom('"a"', '"b"', '"\\u0061"', '"é"', '""'), tie('value')), { maxLength: 4 })
      .map((entries) => `{${entries.map(([name, item]) => `${name}:${item}`).join(',')}}`),
  ),
})).value;

const spacedValue = fc
  .tuple(value, fc.array(whitespace, { minLength: 8, maxLength: 8 }))
  .map(([text, spaces]) =>
    text.replace(/[,:[\]{}]/g, (c) => `${spaces[c.charCodeAt(0) % 8]}${c}${spaces[(c.charCodeAt(0) + 3) % 8]}`),
  );

describe('review5: django-hmac one-pass serialisation against the tree path', () => {
  it('token soups (valid and broken JSON) answer as the tree path does', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(token, whitespace), { maxLength: 24 }), (tokens) =>
        expectSameSerialization(tokens.join('')),
      ),
      { numRuns: 4000 },
    );
  });

  it('grammar-built values with duplicate names, any whitespace between tokens', () => {
    fc.assert(fc.property(spacedValue, expectSameSerialization), { numRuns: 3000 });
  });

  it('hand cases: duplicates, depth, long numbers, BOM, lone surrogates, NUL, -0, 1e400', () => {
    const cases = [
      '{"a":1,"a":2}',
      '{"a":1,"\\u0061":2}',
      '{"a":{"b":1,"b":2}}',
      '[{"x":1},{"x":1}]',
      '\ufeff{"a":1}',
      '{"a":1}\ufeff',
      '{"a":"\\ud800"}',
      '{"\\udfff":"\\u0000"}',
      '{"a":-0}',
      '-0',
      '-0.0',
      '0e10',
      '1e400',
      '[1e400,-1e400,1e-400,-1e-400]',
      `[${'1'.repeat(4300)}]`,
      `[${'1'.repeat(4301)}]`,
      `[-${'1'.repeat(4300)}]`,
      `[0.${'0'.repeat(99_990)}1]`,
      `[0.${'0'.repeat(100_010)}1]`,
      `${'['.repeat(900)}${']'.repeat(900)}`,
      `${'['.repeat(901)}${']'.repeat(901)}`,
      `${'['.repeat(902)}${']'.repeat(902)}`,
      `${'{"a":'.repeat(901)}1${'}'.repeat(901)}`,
      '{"a":1,}',
      '[1,]',
      '{"a" 1}',
      '{"a":1}}',
      '\u00a0{"a":1}',
      '{"a":\u000b1}',
      'NaN',
      '[Infinity]',
      '"\u0000"',
      '{"a":1.0,"b":1.5e300,"c":123456789.123456789}',
      '{"a":"~\u007f"}',
      '{}',
      '[]',
      '""',
      'false',
      '0',
      '0.0',
      ' ',
      '',
    ];
    for (const body of cases) expectSameSerialization(body);
  });

  it('an object past 16 names (the fast path then tracks names in a Set) with a repeat is decided by the tree path alike', () => {
    const entries = Array.from({ length: 20 }, (_, i) => `"k${i % 17}":${i}`).join(',');
    expectSameSerialization(`{${entries}}`);
  });
});
