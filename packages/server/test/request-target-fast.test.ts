/**
 * The plain-target scan of requestTargetDefect() against the rules it stands in for: a target the
 * scan calls plain must be one the general rules accept, and requestTargetDefect() must give the
 * general rules' answer (reason included) for every target, plain or not.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlainRequestTarget, requestTargetDefect, requestTargetDefectGeneral } from '../src/request-target.js';

// Every printable ASCII byte, the bytes the rules look at more than once (structure, dots, escapes),
// controls, DEL and non-ASCII.
const PRINTABLE = Array.from({ length: 0x7e - 0x20 + 1 }, (_, index) => String.fromCharCode(0x20 + index));
const CHARS = [
  ...PRINTABLE,
  '/',
  '/',
  '/',
  '.',
  '?',
  '&',
  '=',
  '%2e',
  '%2E',
  '%41',
  '%',
  '\t',
  '\u0000',
  '\u007f',
  'é',
];
const anyTarget = fc
  .array(fc.constantFrom(...CHARS), { maxLength: 24 })
  .map((parts) => parts.join(''))
  .chain((rest) => fc.constantFrom(`/${rest}`, rest, `//${rest}`, `/a?${rest}`));

/**
 * The byte loop isPlainRequestTarget() was until session 19 (replaced by one regular expression,
 * issue #15): the reference it must agree with on every target.
 */
function plainByLoop(target: string): boolean {
  const table = new Uint8Array(128);
  for (let code = 0x21; code <= 0x7e; code++) table[code] = 3;
  for (const char of '"#%<>\\`{}\'') table[char.charCodeAt(0)] = 0;
  table[0x2e] = 2;
  table[0x27] = 1;
  table[0x3f] = 2;
  const length = target.length;
  if (length === 0 || target.charCodeAt(0) !== 0x2f) return false;
  let index = 1;
  let previous = 0x2f;
  for (; index < length; index++) {
    const code = target.charCodeAt(index);
    if (code === 0x3f) break;
    if (code >= 128 || ((table[code] as number) & 1) === 0) return false;
    if (code === 0x2f && previous === 0x2f) return false;
    previous = code;
  }
  if (index === length) return true;
  if (index === length - 1) return false;
  for (index++; index < length; index++) {
    const code = target.charCodeAt(index);
    if (code >= 128 || ((table[code] as number) & 2) === 0) return false;
  }
  return true;
}

describe('requestTargetDefect: the plain-target scan', () => {
  it('answers as the byte loop it replaced, for every target (fast-check)', () => {
    const anyCharacter = fc.oneof(
      fc.constantFrom(...CHARS),
      fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
    );
    fc.assert(
      fc.property(
        fc
          .array(anyCharacter, { maxLength: 40 })
          .map((parts) => parts.join(''))
          .chain((rest) => fc.constantFrom(`/${rest}`, rest, `//${rest}`, `/a?${rest}`, `/a/b/${rest}?q=1`)),
        (target) => {
          expect(isPlainRequestTarget(target), target).toBe(plainByLoop(target));
        },
      ),
      { numRuns: 50_000 },
    );
  });

  it('calls plain only what the general rules accept, and answers as they do', () => {
    fc.assert(
      fc.property(anyTarget, (target) => {
        const general = requestTargetDefectGeneral(target);
        if (isPlainRequestTarget(target)) expect(general, target).toBeUndefined();
        expect(requestTargetDefect(target), target).toBe(general);
      }),
      { numRuns: 20_000 },
    );
  });

  it('takes the usual targets without the general rules', () => {
    for (const target of [
      '/',
      '/verify',
      '/v1/orders',
      '/v1/orders/',
      '/v1/orders?customer=c_8f14e45fceea167a&expand=items&limit=20',
      '/search?q=a+b&tags[]=x&tags[]=y&v=1.2',
      "/p!$&'()*+,;=:@~",
    ]) {
      expect(isPlainRequestTarget(target), target).toBe(true);
      expect(requestTargetDefectGeneral(target), target).toBeUndefined();
    }
  });

  it('leaves every target with a byte a rule looks at to the general rules', () => {
    for (const target of [
      '',
      '*',
      'v1/orders',
      'http://evil.example/x',
      '//x',
      '/a//b',
      '/a/./b',
      '/a/../b',
      '/a/%2e%2e/b',
      '/v1/orders.json',
      '/a%20b',
      '/a b',
      '/a\\b',
      '/a#b',
      '/a?',
      '/a?b#c',
      "/a?b='c'",
      '/a?b=<c>',
      '/a?b=%zz',
      '/é',
      '/a?é',
    ]) {
      expect(isPlainRequestTarget(target), target).toBe(false);
      expect(requestTargetDefect(target), target).toBe(requestTargetDefectGeneral(target));
    }
  });
});
