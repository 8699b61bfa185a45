/**
 * headerLines() and headerField() skip lower-casing a plain record's key whose last character
 * already tells it apart from the looked-up name (sameNameIgnoringCase in headers.ts). They must
 * find exactly the keys `key.toLowerCase() === name.toLowerCase()` finds, for any keys, including
 * characters whose lower case is ASCII (the Kelvin sign) or longer (dotted capital I).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalHeader,
  canonicalHeaderOfLower,
  getHeader,
  getHeaderOfLower,
  getHeadersOfLower,
  headerField,
  headerLines,
  headerLinesOfLower,
} from '../src/protocol/headers.js';

/** The rule before the shortcut: every own key equal to the name once lower-cased, in order. */
function reference(headers: Record<string, string>, name: string): string[] | undefined {
  const lower = name.toLowerCase();
  const lines = Object.keys(headers)
    .filter((key) => key.length === lower.length && key.toLowerCase() === lower)
    .map((key) => headers[key]!);
  return lines.length === 0 ? undefined : lines;
}

/** A call's value, or its error's class and message. */
function outcome(call: () => unknown): unknown {
  try {
    return { value: call() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

const nameCharacter = fc.constantFrom(
  'a',
  'A',
  'k',
  'K',
  '\u212a',
  'i',
  'I',
  '\u0130',
  '-',
  '@',
  '`',
  '_',
  '\u00e9',
  '\u00c9',
);
const name = fc.array(nameCharacter, { minLength: 1, maxLength: 4 }).map((chars) => chars.join(''));

/**
 * `character` in every case, and the look-alikes of k and i: the Kelvin sign (lower case k) and
 * dotted capital I (lower case i and a combining dot: longer).
 */
function casesOf(character: string): string[] {
  const lower = character === '\u212a' ? 'k' : character === '\u0130' ? 'i' : character.toLowerCase();
  const cases = new Set([character, lower, lower.toUpperCase()]);
  if (lower === 'k') cases.add('\u212a');
  if (lower === 'i') cases.add('\u0130');
  return [...cases];
}

/**
 * Keys drawn around `wanted`: the same name in any case (the look-alikes of {@link casesOf} included),
 * the same with its last character replaced (the character the shortcut looks at), or any name.
 * Random names of up to 4 characters rarely met the looked-up one: 20,000 runs of the first property
 * drew a case-only match in 429 runs (131 with the Kelvin sign or dotted I), where 2,000 runs of this
 * draw one in 974 (410), and still a same-length key whose last character tells it apart in 1,042.
 */
const nameNear = (wanted: string): fc.Arbitrary<string> => {
  const sameName = fc.tuple(...[...wanted].map((character) => fc.constantFrom(...casesOf(character))));
  return fc.oneof(
    sameName.map((characters) => characters.join('')),
    fc.tuple(sameName, nameCharacter).map(([characters, last]) => characters.slice(0, -1).join('') + last),
    name,
  );
};

/** Runs per property: with {@link nameNear}'s keys, a tenth of the 20,000 the random names needed (11 s of the suite). */
const RUNS = 2_000;

describe('header names matched without lower-casing every key', () => {
  it('finds the same lines as lower-casing each key', () => {
    fc.assert(
      fc.property(
        name.chain((wanted) =>
          fc.tuple(fc.dictionary(nameNear(wanted), fc.string({ maxLength: 3 }), { maxKeys: 8 }), fc.constant(wanted)),
        ),
        ([headers, wanted]) => {
          const expected = reference(headers, wanted);
          expect(headerLines(headers, wanted)).toEqual(expected);
          const field = headerField(headers, wanted);
          expect(field === undefined ? undefined : typeof field === 'string' ? [field] : field).toEqual(expected);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('getHeader() joins what headerLines() finds, without the array, for any record', () => {
    const line = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant(null), fc.constant(undefined));
    // Array values, some with holes (deleted slots), which join() prints as empty lines.
    const lines = fc
      .tuple(fc.array(line, { maxLength: 4 }), fc.array(fc.nat(3), { maxLength: 2 }))
      .map(([values, holes]) => {
        const array = [...values];
        for (const hole of holes) if (hole < array.length) delete array[hole];
        return array;
      });
    const value = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant(null), fc.constant(undefined), lines);
    fc.assert(
      fc.property(
        name.chain((wanted) =>
          fc.tuple(
            fc.dictionary(nameNear(wanted), value, { maxKeys: 8 }),
            fc.dictionary(nameNear(wanted), fc.string({ maxLength: 3 }), { maxKeys: 3 }),
            fc.constant(wanted),
          ),
        ),
        ([own, inherited, wanted]) => {
          // Inherited keys are not the record's own: both must skip them.
          const headers = Object.assign(Object.create(inherited) as Record<string, unknown>, own);
          const expected = headerLines(headers as Record<string, string>, wanted)?.join(', ');
          expect(getHeader(headers as Record<string, string>, wanted)).toBe(expected);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('getHeader() on a fetch Headers is its lines joined', () => {
    const headers = new Headers([
      ['Signature', 'a'],
      ['signature', 'b'],
      ['Set-Cookie', 'x=1'],
      ['set-cookie', 'y=2'],
    ]);
    expect(getHeader(headers, 'SIGNATURE')).toBe('a, b');
    expect(getHeader(headers, 'set-cookie')).toBe('x=1, y=2');
    expect(getHeader(headers, 'absent')).toBeUndefined();
  });

  // The *OfLower variants skip lower-casing the looked-up name: for a name that is its own lower
  // case (the verifier's constants, the common shape's component names) they must answer as the
  // public functions, on plain records (own and inherited keys, any values) and on fetch Headers.
  it('headerLinesOfLower/getHeaderOfLower/canonicalHeaderOfLower answer as the public functions for a lower-case name', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constant(' a \r\n  b '),
      fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
      fc.constant(null),
      fc.constant(undefined),
    );
    const lowerName = name.map((text) => text.toLowerCase()).filter((text) => text === text.toLowerCase());
    fc.assert(
      fc.property(
        lowerName.chain((wanted) =>
          fc.tuple(
            fc.dictionary(nameNear(wanted), value, { maxKeys: 8 }),
            fc.dictionary(nameNear(wanted), fc.string({ maxLength: 3 }), { maxKeys: 3 }),
            fc.constant(wanted),
          ),
        ),
        fc.boolean(),
        ([own, inherited, wanted], asHeaders) => {
          const record = Object.assign(Object.create(inherited) as Record<string, unknown>, own) as Record<
            string,
            string
          >;
          let headers: Record<string, string> | Headers = record;
          if (asHeaders) {
            // Only names and values a fetch Headers accepts.
            const entries = Object.entries(own).filter(
              ([key, line]) =>
                typeof line === 'string' && /^[!#-'*+.^_`|~0-9a-zA-Z-]+$/.test(key) && !/[\r\n\0]/.test(line),
            ) as [string, string][];
            headers = new Headers(entries);
          }
          // A fetch Headers throws for a name that is not a token: both must then throw alike.
          const h = headers;
          expect(outcome(() => headerLinesOfLower(h, wanted))).toEqual(outcome(() => headerLines(h, wanted)));
          expect(outcome(() => getHeaderOfLower(h, wanted))).toEqual(outcome(() => getHeader(h, wanted)));
          expect(outcome(() => canonicalHeaderOfLower(h, wanted))).toEqual(outcome(() => canonicalHeader(h, wanted)));
        },
      ),
      { numRuns: RUNS },
    );
  });

  // getHeadersOfLower() reads two lower-case names in one pass (RFC 9421's detect and parse): each
  // answer must be getHeaderOfLower()'s for its name, on any record and on fetch Headers. Names are
  // drawn so that keys match one, the other, both in other cases, or neither (same length included).
  it('getHeadersOfLower() answers as getHeaderOfLower() for each of its two names', () => {
    const fieldName = fc.oneof(
      fc.constantFrom('signature', 'Signature', 'SIGNATURE', 'signature-input', 'Signature-Input', 'signaturf'),
      fc.constantFrom('si\u212anature', 'signature-inpuT', 'signature-inputs', 'x-signature', 'content-digest'),
      name,
    );
    const line = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.constant(null), fc.constant(undefined));
    const lines = fc
      .tuple(fc.array(line, { maxLength: 4 }), fc.array(fc.nat(3), { maxLength: 2 }))
      .map(([values, holes]) => {
        const array = [...values];
        for (const hole of holes) if (hole < array.length) delete array[hole];
        return array;
      });
    const value = fc.oneof(fc.string({ maxLength: 4 }), fc.constant(null), fc.constant(undefined), lines);
    const pair = fc.oneof(
      fc.constant(['signature-input', 'signature'] as const),
      fc.constant(['signature', 'signature-input'] as const),
      fc
        .tuple(name, name)
        .map(([a, b]) => [a.toLowerCase(), b.toLowerCase()] as const)
        .filter(([a, b]) => a !== b && a === a.toLowerCase() && b === b.toLowerCase()),
    );
    fc.assert(
      fc.property(
        pair.chain(([a, b]) => {
          const key = fc.oneof(fieldName, nameNear(a), nameNear(b));
          return fc.tuple(
            fc.dictionary(key, value, { maxKeys: 8 }),
            fc.dictionary(key, fc.string({ maxLength: 3 }), { maxKeys: 3 }),
            fc.constant([a, b] as const),
          );
        }),
        fc.boolean(),
        ([own, inherited, [a, b]], asHeaders) => {
          const record = Object.assign(Object.create(inherited) as Record<string, unknown>, own) as Record<
            string,
            string
          >;
          let headers: Record<string, string> | Headers = record;
          if (asHeaders) {
            const entries = Object.entries(own).filter(
              ([key, field]) =>
                typeof field === 'string' && /^[!#-'*+.^_`|~0-9a-zA-Z-]+$/.test(key) && !/[\r\n\0]/.test(field),
            ) as [string, string][];
            headers = new Headers(entries);
          }
          const h = headers;
          const both = outcome(() => {
            const found = getHeadersOfLower(h, a, b);
            return [found.first, found.second];
          });
          const each = outcome(() => [getHeaderOfLower(h, a), getHeaderOfLower(h, b)]);
          expect(both).toEqual(each);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
