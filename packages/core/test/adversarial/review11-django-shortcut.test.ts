/**
 * Review 11 (session 10, d3ff5f0): django-hmac's shortcut `isWrittenAsPython` answers "the body is
 * already what Python writes" without the one-pass writer, and the verifier then MACs (and the
 * gateway forwards) the body's own bytes. The attack it guards against: a body the shortcut takes
 * whose reference serialisation (strict UTF-8, Python's json.loads/json.dumps model, repeated names
 * refused) is other bytes or an error, i.e. bytes nobody signed accepted as signed, or a body with a
 * repeated name (Python keeps the last value, an upstream may keep the first) let through.
 *
 * Grammar-built compact documents with the shortcut's edge cases: repeated names after nested
 * containers and in sibling objects, escapes that decode to a plain character (`\u0061`, `\/`), lone
 * surrogates, `-0`, leading zeros, fractions and exponents, the writer's integer digit limit, and
 * nesting and names per object around the shortcut's bounds (32).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { treeJsonSerialization } from '../../src/schemes/django-hmac/python-json.js';
import { isWrittenAsPython, onePassJsonOfBytes } from '../../src/schemes/django-hmac/python-json-bytes.js';

const encode = (text: string) => new TextEncoder().encode(text);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The reference: what Python signs for these bytes, repeated names refused (as the verifier does). */
function reference(bytes: Uint8Array): string | null | 'refused' {
  try {
    return treeJsonSerialization(strictUtf8.decode(bytes), { refuseRepeatedNames: true });
  } catch {
    return 'refused';
  }
}

/** Where the shortcut answers, the writer and the reference both give the body's own bytes. */
function expectShortcutSound(text: string): boolean {
  const bytes = encode(text);
  if (!isWrittenAsPython(bytes)) return false;
  const label = text.slice(0, 120);
  expect(onePassJsonOfBytes(bytes), label).toBe(bytes);
  expect(reference(bytes), label).toBe(text);
  return true;
}

const names = fc.constantFrom(
  'a',
  'b',
  'ab',
  'A',
  '',
  'n0',
  'a\\n',
  'a\\"',
  '\\\\',
  '\\u0061',
  '\\/',
  '\\u00e9',
  '\\ud800',
  'é',
  '\x7f',
);
const scalars = fc.constantFrom(
  '1',
  '0',
  '-1',
  '-0',
  '01',
  '1.0',
  '1e2',
  'true',
  'false',
  'null',
  'nul',
  '"s"',
  '""',
  '"\\u00e9"',
  '"\\ud83d\\ude00"',
  '"\\ud800"',
  '"\\u0000"',
  '"\\b"',
  '"\\/"',
  '"\x7f"',
  '9'.repeat(4300),
  `-${'9'.repeat(4300)}`,
  '9'.repeat(4301),
  'NaN',
  '-Infinity',
);
const documents = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalars, tie('object'), tie('array')),
  object: fc
    .tuple(fc.array(fc.tuple(names, tie('value')), { maxLength: 5 }), fc.boolean())
    .map(([members, repeatFirst]) => {
      const all = repeatFirst && members.length > 0 ? [...members, [members[0]![0], '1']] : members;
      return `{${all.map(([name, value]) => `"${name}":${value}`).join(',')}}`;
    }),
  array: fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`),
})).value as fc.Arbitrary<string>;

describe('review11: the django-hmac "already in Python form" shortcut takes only bodies Python writes as they are', () => {
  it('grammar-built compact documents: the reference gives the body itself wherever the shortcut answers', () => {
    let taken = 0;
    fc.assert(
      fc.property(documents, (text) => {
        if (expectShortcutSound(text)) taken++;
      }),
      { numRuns: 8000 },
    );
    expect(taken).toBeGreaterThan(300);
  });

  it('repeated names after nested containers, in sibling objects, and the depth and width bounds', () => {
    const nested = (depth: number, inner: string) => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
    const wide = (count: number, repeated?: number) => {
      const members = Array.from({ length: count }, (_, index) => `"n${index}":${index}`);
      if (repeated !== undefined) members.push(`"n${repeated}":9`);
      return `{${members.join(',')}}`;
    };
    for (const depth of [30, 31, 32, 33]) {
      for (const inner of ['12345', '{"a":1,"a":2}', '{"a":1}']) expectShortcutSound(nested(depth, inner));
    }
    for (const count of [30, 31, 32, 33])
      for (const repeated of [undefined, 0, count - 1]) expectShortcutSound(wide(count, repeated));
    const repeatedNames = [
      '{"a":{"b":1},"a":2}',
      '{"a":[{"a":1}],"b":{"a":2},"a":3}',
      '{"x":{"y":1,"z":2},"y":{"x":1},"x":1}',
      '{"a":1,"\\u0061":2}',
      `{${Array.from({ length: 31 }, (_, index) => `"n${index}":{"m":[{"k":1}]}`).join(',')},"n3":1}`,
    ];
    for (const text of repeatedNames) {
      expect(isWrittenAsPython(encode(text)), text).toBe(false);
      expectShortcutSound(text);
    }
    // Repeated names in sibling objects are not repeats: taken, and what Python writes.
    expect(expectShortcutSound('[{"a":1},{"a":2}]')).toBe(true);
  });
});
