/**
 * Review (session 6, perfdjango): the one-pass byte serialiser of django-hmac bodies must answer
 * exactly as the reference (decode, parse to a tree, dump, encode) on hostile inputs, or defer to
 * it (`undefined`); and neither may crash the process on a nesting bomb. The gateway forwards the
 * bytes hashed, so any divergence is a body verified one way and read another.
 */
import { djangoSignedBody } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { treeJsonSerialization } from '../../src/schemes/django-hmac/python-json.js';
import { pythonJsonOfBytes } from '../../src/schemes/django-hmac/python-json-bytes.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What the reference answers: bytes, null, or the error's name. */
function reference(input: Uint8Array): string | null {
  try {
    const text = treeJsonSerialization(decoder.decode(input), { refuseRepeatedNames: true });
    return text;
  } catch (error) {
    return `throws ${(error as Error).name}`;
  }
}

const texts = [
  '{"a":1,"a":2}',
  '{"a":1,"\\u0061":2}',
  '{"\\u00e9":1,"é":2}',
  '{"\\u00E9":1,"\\u00e9":2}',
  '{"\\ud83d\\ude00":1,"😀":2}',
  '{"\\uD83D\\uDE00":1}',
  '"\\ud800"',
  '"\\udc00\\ud800"',
  '["\\u0000","\\u007f","\u007f","\\/","\\u002f","\\u0022","\\""]',
  '-0',
  '[-0,-0.0,0e0,-0e0,1E5,1e-7,1.0,1.50,1e400,-1e400,5e-324,1e-400]',
  `${'9'.repeat(4300)}`,
  `${'9'.repeat(4301)}`,
  `-${'9'.repeat(4300)}`,
  '[01]',
  '[1.]',
  '[.5]',
  '[+1]',
  'NaN',
  '[Infinity]',
  ' \t\r\n{ "a" : [ 1 , 2 ] } \n',
  '\u00a0{}',
  '{}\u00a0',
  '\ufeff{"a":1}',
  '{"a":"\t"}',
  '{"a":true,"b":false,"c":null}',
  '0',
  '0.0',
  '""',
  '[]',
  '{}',
  '{"":1,"":2}',
  `${'['.repeat(900)}${']'.repeat(900)}`,
  `${'['.repeat(901)}${']'.repeat(901)}`,
  `${'{"a":'.repeat(901)}1${'}'.repeat(901)}`,
];

describe('adversarial (review 6): the one-pass django JSON serialiser agrees with the reference', () => {
  it.each(texts.map((text) => [text.length > 60 ? `${text.slice(0, 40)}… (${text.length})` : text, text]))(
    '%s',
    (_name, text) => {
      const input = encoder.encode(text);
      const fast = pythonJsonOfBytes(input);
      if (fast === undefined) return; // deferred to the reference
      const expected = reference(input);
      expect(fast === null ? null : new TextDecoder().decode(fast)).toBe(expected);
    },
  );

  it('raw bytes: BOM, invalid UTF-8, overlong forms, encoded surrogates are deferred or agree', () => {
    const cases = [
      [0xef, 0xbb, 0xbf, 0x7b, 0x7d],
      [0x22, 0xc0, 0xaf, 0x22],
      [0x22, 0xed, 0xa0, 0x80, 0x22],
      [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22],
      [0x22, 0xff, 0x22],
      [0x22, 0xe2, 0x82, 0x22],
    ].map((bytes) => Uint8Array.from(bytes));
    for (const input of cases) {
      const fast = pythonJsonOfBytes(input);
      if (fast === undefined) continue;
      expect(fast === null ? null : new TextDecoder().decode(fast), String([...input])).toBe(reference(input));
    }
  });

  it('a nesting bomb is refused without a stack overflow, through the verifier entry point', () => {
    for (const depth of [1_000, 100_000, 1_000_000]) {
      const bomb = encoder.encode(`${'['.repeat(depth)}${']'.repeat(depth)}`);
      let error: unknown;
      try {
        djangoSignedBody(bomb, 'application/json');
      } catch (caught) {
        error = caught;
      }
      expect(error, `depth ${depth}`).toBeDefined();
      expect((error as Error).name, `depth ${depth}`).not.toBe('RangeError');
    }
  });
});
