/**
 * headerLines() and headerField() skip lower-casing a plain record's key whose last character
 * already tells it apart from the looked-up name (sameNameIgnoringCase in headers.ts). They must
 * find exactly the keys `key.toLowerCase() === name.toLowerCase()` finds, for any keys, including
 * characters whose lower case is ASCII (the Kelvin sign) or longer (dotted capital I).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headerField, headerLines } from '../src/protocol/headers.js';

/** The rule before the shortcut: every own key equal to the name once lower-cased, in order. */
function reference(headers: Record<string, string>, name: string): string[] | undefined {
  const lower = name.toLowerCase();
  const lines = Object.keys(headers)
    .filter((key) => key.length === lower.length && key.toLowerCase() === lower)
    .map((key) => headers[key]!);
  return lines.length === 0 ? undefined : lines;
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

describe('header names matched without lower-casing every key', () => {
  it('finds the same lines as lower-casing each key', () => {
    fc.assert(
      fc.property(fc.dictionary(name, fc.string({ maxLength: 3 }), { maxKeys: 8 }), name, (headers, wanted) => {
        const expected = reference(headers, wanted);
        expect(headerLines(headers, wanted)).toEqual(expected);
        const field = headerField(headers, wanted);
        expect(field === undefined ? undefined : typeof field === 'string' ? [field] : field).toEqual(expected);
      }),
      { numRuns: 20_000 },
    );
  });
});
