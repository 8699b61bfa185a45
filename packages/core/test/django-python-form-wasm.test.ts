/**
 * Issue #15 (helper wasm18): django-hmac's check that a body is already in Python's form
 * (`isWrittenAsPython`) runs as WebAssembly where it can. Equivalence is the security proof: the
 * module must answer exactly as the JS function for every input, or the verifier would hash (and
 * forward) a body the JS path would have re-serialised or refused. These properties hold it to the
 * JS over random bytes, mutated compact documents at and past every bound, and the django vectors;
 * the committed module must be what the source compiles to; a platform that cannot compile it falls
 * back to the JS silently.
 */
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { djangoSignedBody } from '../src/schemes/django-hmac/body.js';
import { isWrittenAsPythonWasm, pythonFormWasmAvailable } from '../src/schemes/django-hmac/python-form-wasm.js';
import { isWrittenAsPython, pythonJsonOfBytes } from '../src/schemes/django-hmac/python-json-bytes.js';
import { expectSameBytes } from './support/django-json.js';

const encode = (text: string) => new TextEncoder().encode(text);
let taken = 0;

/** The module answers `bytes` as the JS function does (and does answer: it is available here). */
function expectSameAnswer(bytes: Uint8Array): void {
  const js = isWrittenAsPython(bytes);
  const wasm = isWrittenAsPythonWasm(bytes);
  if (wasm !== js) {
    throw new Error(`wasm ${wasm} vs js ${js} for ${JSON.stringify(new TextDecoder().decode(bytes.slice(0, 300)))}`);
  }
  if (js) taken++;
}
const sameAnswer = (text: string) => expectSameAnswer(encode(text));

/** Names, strings and escapes as clients write them: plain, shared prefixes, escapes in every form. */
const stringPiece = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('a', 'ab', 'abc', 'p'.repeat(40), 'é', '€', '😀', '\u007f', '\u0000', '\n', '"', '\\', '/'),
);
/** A JSON string literal of `text`, in Python's form or in one of the other spellings JSON allows. */
const spelled = (text: string, how: number): string => {
  const python = JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  switch (how % 6) {
    case 0:
    case 1:
      return python;
    case 2:
      return JSON.stringify(text); // raw UTF-8 for non-ASCII
    case 3:
      return python.replace(/\\u([0-9a-f]{4})/g, (_m, hex: string) => `\\u${hex.toUpperCase()}`);
    case 4:
      return python.replace(/a/g, '\\u0061').replace(/\//g, '\\/');
    default:
      return `"${text}"`; // raw control characters, quotes, backslashes: often not JSON at all
  }
};

/** Compact documents of the shapes the check reads, with names repeated, wide objects and deep nesting. */
const documentText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(
      fc.integer().map(String),
      fc.constantFrom('0', '-0', '-1', '1.5', '1e5', '1E-2', '0.0', '-0.0', '01', '--1', '-', '1.', '.5'),
      fc.constantFrom('null', 'true', 'false', 'nul', 'tru', 'fals', 'nulll', 'True', 'None'),
      fc.tuple(stringPiece, fc.nat()).map(([text, how]) => spelled(text, how)),
    ),
    fc.array(tie('value'), { maxLength: 5 }).map((items) => `[${items.join(',')}]`),
    fc
      .tuple(fc.array(fc.tuple(stringPiece, fc.nat(), tie('value')), { maxLength: 6 }), fc.option(fc.nat({ max: 5 })))
      .map(([members, repeat]) => {
        const written = members.map(([name, how, value]) => `${spelled(name, how)}:${value}`);
        // A repeated name, spelled as the first time or not.
        if (repeat !== null && members.length > 0) {
          const [name, how] = members[repeat % members.length]!;
          written.push(`${spelled(name, how + (repeat > 2 ? 1 : 0))}:1`);
        }
        return `{${written.join(',')}}`;
      }),
  ),
})).value;

/** The same document, mutated: whitespace, a byte cut, spliced or replaced, bounds crossed. */
const mutated = fc
  .tuple(
    documentText,
    fc.nat(),
    fc.constantFrom(
      '',
      ' ',
      '\n',
      ',',
      ':',
      '"',
      '\\',
      '{',
      '}',
      '[',
      ']',
      '-0',
      '.5',
      'e1',
      '\u00e9',
      '\\u00E9',
      '\x7f',
      '\0',
      'null',
    ),
    fc.nat({ max: 3 }),
    fc.boolean(),
  )
  .map(([text, at, insert, removed, mutate]) => {
    if (!mutate) return text;
    const cut = at % (text.length + 1);
    return text.slice(0, cut) + insert + text.slice(cut + removed);
  });

describe('django-hmac Python-form check in WebAssembly: the same answer as the JS for every input', () => {
  it('is available on Node (the properties below test the module, not the fallback)', () => {
    expect(pythonFormWasmAvailable()).toBe(true);
    expect(isWrittenAsPythonWasm(encode('{"a":1}'))).toBe(true);
  });

  it('random bytes, and random bytes from JSON punctuation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => expectSameAnswer(bytes)),
      { numRuns: 150_000 },
    );
    const piece = fc.constantFrom(
      ...'{}[]",:-0123456789.eEntrufalsebu\\ \n'.split(''),
      '\\u00e9',
      '\\u00E9',
      'é',
      '\x7f',
      '\x1f',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 48 }), (pieces) => expectSameAnswer(encode(pieces.join('')))),
      { numRuns: 150_000 },
    );
  });

  it('compact documents in and out of Python form, mutated', () => {
    taken = 0;
    fc.assert(fc.property(mutated, sameAnswer), { numRuns: 25_000 });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => sameAnswer(JSON.stringify(value) ?? 'null')),
      { numRuns: 5_000 },
    );
    // Enough of them are in Python form that the accepting path is tested, not only refusals.
    expect(taken).toBeGreaterThan(2_000);
  });

  it('nesting, names per object and the name-compare budget at and past their bounds', () => {
    for (let depth = 30; depth <= 34; depth++) {
      sameAnswer(`${'['.repeat(depth)}1${']'.repeat(depth)}`);
      sameAnswer(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
      sameAnswer(`${'[{"a":'.repeat(depth)}[]${'}]'.repeat(depth)}`);
    }
    for (let names = 30; names <= 34; names++) {
      const object = (list: string[]) => `{${list.map((name, index) => `"${name}":${index}`).join(',')}}`;
      const list = Array.from({ length: names }, (_, i) => `n${i}`);
      sameAnswer(object(list));
      sameAnswer(`[${object(list)},${object(list)}]`);
      sameAnswer(`{"x":${object(list)},"y":${object(list)}}`);
      sameAnswer(object([...list, 'n0']));
    }
    // Distinct names of one length sharing long prefixes: the compare budget (one more pass) runs out.
    for (const count of [2, 5, 10, 19, 20, 21, 30]) {
      for (const prefix of [1, 50, 199, 200, 201, 400]) {
        const names = Array.from({ length: count }, (_, i) => `"${'p'.repeat(prefix)}${i + 10}":${i}`);
        sameAnswer(`{${names.join(',')}}`);
        sameAnswer(`{${names.join(',')},"pad":"${'x'.repeat(prefix * 4)}"}`);
      }
    }
    fc.assert(
      fc.property(fc.nat({ max: 40 }), fc.nat({ max: 300 }), fc.nat({ max: 3000 }), (count, prefix, pad) => {
        const names = Array.from({ length: count }, (_, i) => `"${'q'.repeat(prefix)}${i % 97}":${i}`);
        sameAnswer(`{"pad":"${'x'.repeat(pad)}",${names.join(',')}}`);
      }),
      { numRuns: 2_000 },
    );
  });

  it('bodies of every length around the module memory, long strings and integers', () => {
    for (const length of [6, 7, 8, 15, 16, 17, 31, 32, 33, 4299, 4300, 4301, 48_000, 70_000, 200_000]) {
      sameAnswer(`["${'x'.repeat(length)}"]`);
      sameAnswer(`[${'9'.repeat(length)}]`);
      sameAnswer(`["${'x'.repeat(length)}\\u00e9"]`);
      sameAnswer(`["${'x'.repeat(length)}é"]`);
    }
    // Strings ending at every offset of a 16-byte block, with every kind of byte that stops a scan.
    for (let offset = 0; offset < 40; offset++) {
      for (const stop of ['"', '\\n', '\\u001f', '\\u00E9', '\x1f', '\x7f', '\x80', '\\', '\\/', '~', ' ']) {
        const text = `{"a":"${'y'.repeat(offset)}${stop}z"}`;
        sameAnswer(text);
        sameAnswer(text.slice(0, text.length - 1));
      }
    }
    for (let byte = 0; byte < 256; byte++) {
      expectSameAnswer(new Uint8Array([0x5b, 0x22, 0x61, byte, 0x62, 0x22, 0x5d]));
      expectSameAnswer(new Uint8Array([0x5b, 0x22, ...encode('x'.repeat(20)), byte, 0x22, 0x5d]));
    }
  });

  it('no state of one call is seen by the next: a long body then its own prefixes and short bodies', () => {
    const long = encode(`{"a":[${Array.from({ length: 40 }, (_, i) => `{"k${i}":"${'v'.repeat(i)}"}`).join(',')}]}`);
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (a, b) => {
        expectSameAnswer(long);
        expectSameAnswer(long.subarray(0, a % (long.length + 1)));
        expectSameAnswer(long.subarray(b % long.length));
        expectSameAnswer(encode('{"a":1}'));
        // A short body after a long one: the stale bytes past it in the module's memory must not count.
        expectSameAnswer(long.subarray(0, 7));
      }),
      { numRuns: 3_000 },
    );
  });

  it('the django vectors and the property of the one-pass writer, with the module in use', () => {
    const vectors = readPublishedVector('django-hmac-authentication/SIGNING_VECTORS.txt');
    const bodies = [...vectors.matchAll(/body_json=(.*)/g)].map((m) => m[1]!).filter((body) => body !== 'None');
    expect(bodies.length).toBeGreaterThan(0);
    for (const signed of bodies) {
      const data = JSON.parse(signed);
      for (const spelling of [signed, JSON.stringify(data), JSON.stringify(data, null, 2)]) {
        sameAnswer(spelling);
        expectSameBytes(encode(spelling));
      }
      expect(pythonJsonOfBytes(encode(signed))).toEqual(encode(signed));
    }
    fc.assert(
      fc.property(mutated, (text) => expectSameBytes(encode(text))),
      { numRuns: 1_500 },
    );
  });

  it('the committed module is what the source compiles to', async () => {
    // The compiler is a root devDependency: installed wherever the tests run (CI included).
    if (!existsSync(new URL('../../../node_modules/assemblyscript/package.json', import.meta.url))) {
      console.warn('assemblyscript is not installed: the committed WebAssembly module is not compared with its source');
      return;
    }
    // @ts-expect-error: a plain .mjs script without type declarations.
    const build = await import('../../../scripts/build-python-form-wasm.mjs');
    const committed = readFileSync(new URL(`../../../${build.TARGET}`, import.meta.url), 'utf8');
    expect(await build.generatePythonFormWasmModule()).toBe(committed);
  }, 60_000);

  it('falls back to the JS, silently and for good, where WebAssembly cannot compile', async () => {
    vi.resetModules();
    const compile = vi.fn(() => {
      throw new Error('Wasm code generation disallowed by embedder');
    });
    vi.stubGlobal('WebAssembly', { ...WebAssembly, Module: compile });
    try {
      const wasm = await import('../src/schemes/django-hmac/python-form-wasm.js');
      const bytes = await import('../src/schemes/django-hmac/python-json-bytes.js');
      const body = encode('{"a":1,"b":[true,null]}');
      expect(wasm.isWrittenAsPythonWasm(body)).toBeUndefined();
      expect(wasm.pythonFormWasmAvailable()).toBe(false);
      expect(bytes.pythonJsonOfBytes(body)).toBe(body);
      expect(bytes.pythonJsonOfBytes(encode('{"a": 1}'))).toEqual(encode('{"a":1}'));
      expect(compile).toHaveBeenCalledTimes(1);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
    // Without WebAssembly at all.
    vi.stubGlobal('WebAssembly', undefined);
    try {
      const wasm = await import('../src/schemes/django-hmac/python-form-wasm.js');
      expect(wasm.isWrittenAsPythonWasm(encode('{"a":1}'))).toBeUndefined();
      expect(() => djangoSignedBody(encode('{"a":1,"a":2}'), 'application/json')).toThrow(/repeats a name/);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
