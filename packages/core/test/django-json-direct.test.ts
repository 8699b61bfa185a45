/**
 * Issue #15: django-hmac's body serialisation has a one-pass path (no tree) for the common body.
 * It must answer exactly as the general path (tree + dump), which the Python vectors hold: the
 * same text, the same falsy `null`, and for a body the general path refuses, the same error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readPublishedVector } from '../../../test-support/published-vectors.js';
import { djangoJsonSerialization, djangoSignedBody } from '../src/schemes/django-hmac/body.js';
import {
  isWrittenAsPython,
  onePassJsonOfBytes,
  pythonJsonOfBytes,
} from '../src/schemes/django-hmac/python-json-bytes.js';
import { expectSameBytes, expectSameSerialization } from './support/django-json.js';

const encode = (text: string) => new TextEncoder().encode(text);
/** `text` without what cannot stand raw in a JSON string: quotes, backslashes, control characters. */
const plain = (text: string) => [...text].filter((c) => c >= ' ' && c !== '"' && c !== '\\').join('');

/** JSON text with random whitespace between tokens, as clients format it. */
const spaced = fc
  .tuple(fc.jsonValue(), fc.constantFrom('', ' ', '\n', '\t', '  ', '\r\n'), fc.integer({ min: 0, max: 4 }))
  .map(([value, space, indent]) => {
    const text = JSON.stringify(value, null, indent);
    return text === undefined ? 'null' : `${space}${text}${space}`;
  });

describe('django-hmac JSON serialisation: the one-pass path answers as the tree', () => {
  it('any JSON value, pretty-printed or not', () => {
    fc.assert(fc.property(spaced, expectSameSerialization), { numRuns: 2000 });
  });

  it('strings with escapes, control characters, non-ASCII, lone surrogates, as names and values', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', '"', '\\', '/', '\u0000', '\u001f', '\u007f', 'é', '€', '\ud83d', '\ude00', '😀', ' '),
      maxLength: 12,
    });
    fc.assert(
      fc.property(text, text, fc.boolean(), (name, value, escapeAll) => {
        const json = (s: string) =>
          escapeAll
            ? `"${[...s].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`
            : JSON.stringify(s);
        expectSameSerialization(`{${json(name)}: ${json(value)}, "list": [${json(value)}]}`);
        // Raw (unescaped) text, as a client may send it: control characters must be refused alike.
        expectSameSerialization(`{"${name}": "${value}"}`);
      }),
      { numRuns: 1500 },
    );
  });

  it('numbers: ints of any length, -0, floats in every notation', () => {
    const digits = fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), minLength: 1, maxLength: 30 });
    const number = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      fc
        .tuple(
          fc.constantFrom('', '-'),
          digits,
          fc.option(digits),
          fc.option(fc.tuple(fc.constantFrom('e', 'E', 'e+', 'e-'), digits)),
        )
        .map(
          ([sign, whole, fraction, exponent]) =>
            `${sign}${whole}${fraction === null ? '' : `.${fraction}`}${exponent === null ? '' : exponent.join('')}`,
        ),
    );
    fc.assert(
      fc.property(number, (text) => {
        expectSameSerialization(text);
        expectSameSerialization(`[${text}, {"n": ${text}}]`);
      }),
      { numRuns: 2000 },
    );
    for (const text of [
      '-0',
      '0',
      '-0.0',
      '0e5',
      '1e400',
      '-1e400',
      `1${'0'.repeat(4300)}`,
      `1${'0'.repeat(4299)}`,
      `0.${'1'.repeat(100_001)}`,
    ]) {
      expectSameSerialization(text);
    }
  });

  it('repeated names: merged as Python does, or refused alike', () => {
    for (const body of [
      '{"a": 1, "a": 2}',
      '{"a": 1, "b": {"c": 1, "c": [2]}, "a": 3}',
      '{"a": 1, "\\u0061": 2}',
      '{"\\u00e9": 1, "é": 2}',
      '{"\\u00e9": 1, "\\u00E9": 2, "\\u00e9": 3}',
      '{"a":1,"a"',
      '{"a":1,"a":}',
    ]) {
      expectSameSerialization(body);
    }
  });

  it('text that is not JSON, or JSON cut anywhere: the same error', () => {
    const body =
      '{"customer": "c_8f14e45fceea167a", "items": [{"sku": "SKU-00001", "quantity": 2, "price": 19.99}], "ok": true, "none": null}';
    for (let cut = 0; cut <= body.length; cut++) expectSameSerialization(body.slice(0, cut));
    fc.assert(fc.property(fc.string({ maxLength: 40 }), expectSameSerialization), { numRuns: 1500 });
    fc.assert(
      fc.property(spaced, fc.nat(), fc.string({ minLength: 1, maxLength: 3 }), (text, at, junk) => {
        const index = at % (text.length + 1);
        expectSameSerialization(text.slice(0, index) + junk + text.slice(index));
      }),
      { numRuns: 1500 },
    );
  });

  it('nesting at and beyond the depth Python allows', () => {
    for (const depth of [899, 900, 901, 902, 1500]) {
      expectSameSerialization(`${'['.repeat(depth)}1${']'.repeat(depth)}`);
      expectSameSerialization(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
    }
  });

  it('falsy documents hash nothing (null), whatever their spelling', () => {
    for (const body of ['null', 'false', '0', '-0', '0.0', '-0.0', '0e10', '""', '[]', '{}', ' [ ] ', '{ }']) {
      expect(djangoJsonSerialization(body)).toBeNull();
      expectSameSerialization(body);
    }
    expect(djangoJsonSerialization('{"a": 1.0, "b": "J\\u00fcrgen"}')).toBe('{"a":1.0,"b":"J\\u00fcrgen"}');
  });

  it('a compact ASCII body is forwarded as received; anything else as its serialisation', () => {
    const compact = encode('{"a":1,"b":[true,null],"c":"x"}');
    expect(djangoSignedBody(compact, 'application/json').forward).toBe(compact);
    // A byte-order mark is dropped by the decoder: what is signed (and forwarded) has none.
    const withMark = new Uint8Array([0xef, 0xbb, 0xbf, ...compact]);
    const marked = djangoSignedBody(withMark, 'application/json');
    expect(marked.forward).not.toBe(withMark);
    expect(new TextDecoder().decode(marked.forward)).toBe(marked.serialized);
    expect(marked.forward.length).toBe(compact.length);
    for (const body of ['{"a": 1}', '{"a":"é"}', '{"a":1.50}', '{"a":-0}']) {
      const reading = djangoSignedBody(encode(body), 'application/json');
      expect(new TextDecoder().decode(reading.forward)).toBe(reading.serialized);
      expect(reading.serialized).not.toBe(body);
    }
  });

  it('bytes: well-formed and malformed UTF-8 inside and outside strings, cut anywhere', () => {
    const utf8Piece = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 4 }).map((text) => Array.from(encode(text))),
      // Stray continuation bytes, overlong forms, encoded surrogates, beyond U+10FFFF, truncated sequences.
      fc.constantFrom(
        [0x80],
        [0xc0, 0xaf],
        [0xc1, 0xbf],
        [0xe0, 0x80, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xf4, 0x90, 0x80, 0x80],
        [0xf5, 0x80, 0x80, 0x80],
        [0xe2, 0x82],
        [0xf0, 0x9f, 0x98],
        [0xff],
        [0xef, 0xbb, 0xbf],
      ),
    );
    const asciiPiece = fc
      .constantFrom(
        '{',
        '}',
        '[',
        ']',
        '"',
        ',',
        ':',
        ' ',
        '\\',
        '\\u00e9',
        'u',
        '1',
        '-',
        '.',
        'e',
        'null',
        'true',
        '"a"',
        '"b":',
      )
      .map((text) => Array.from(encode(text)));
    fc.assert(
      fc.property(fc.array(fc.oneof(asciiPiece, utf8Piece), { maxLength: 24 }), (pieces) => {
        expectSameBytes(new Uint8Array(pieces.flat()));
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => expectSameBytes(bytes)),
      { numRuns: 1000 },
    );
    // Strings of any code points, sent as raw UTF-8 (Python's requests with ensure_ascii=False) or escaped.
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 16 }),
        fc.string({ unit: 'binary', maxLength: 16 }),
        (name, value) => {
          expectSameSerialization(
            `{${JSON.stringify(name)}: ${JSON.stringify(value)}, "n": [${JSON.stringify(value)}]}`,
          );
          const body = encode(`{"${plain(name)}":"${plain(value)}"}`);
          expectSameBytes(body);
          for (let cut = 0; cut < body.length; cut++) expectSameBytes(body.subarray(0, cut));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('objects with many names: repeats found past the linear check, and names equal only once decoded', () => {
    const names = Array.from({ length: 40 }, (_, index) => `"n${index}"`);
    const object = (list: string[]) => `{${list.map((name, index) => `${name}: ${index}`).join(', ')}}`;
    expectSameSerialization(object(names));
    for (const at of [1, 15, 16, 17, 39]) {
      expectSameSerialization(object([...names.slice(0, at), names[0]!, ...names.slice(at)]));
      expectSameSerialization(object([...names.slice(0, at), '"\\u006e0"', ...names.slice(at)]));
      // The same name in another (nested) object is no repeat.
      expectSameSerialization(`{"n0": ${object(names.slice(0, at))}, "n1": [${object(names)}], "n2": 1}`);
    }
    expect(() => djangoSignedBody(encode('{"a":1,"\\u0061":2}'), 'application/json')).toThrow(/repeats a name/);
  });

  it('the published django vectors: every client spelling gives the signed serialisation, in one pass', () => {
    const vectors = readPublishedVector('django-hmac-authentication/SIGNING_VECTORS.txt');
    const bodies = [...vectors.matchAll(/body_json=(.*)/g)].map((m) => m[1]!).filter((body) => body !== 'None');
    expect(bodies.length).toBeGreaterThan(0);
    for (const signed of bodies) {
      const data = JSON.parse(signed);
      for (const spelling of [
        signed,
        JSON.stringify(data),
        JSON.stringify(data, null, 2),
        signed.replace(/,/g, ', ').replace(/:/g, ': '),
      ]) {
        const bytes = encode(spelling);
        const fast = pythonJsonOfBytes(bytes);
        expect(fast).toBeInstanceOf(Uint8Array);
        expect(new TextDecoder().decode(fast!)).toBe(signed);
        expectSameBytes(bytes);
      }
    }
  });

  it('the shortcut for a body already in Python form: taken for compact documents, only where the writer returns the input', () => {
    // Compact documents as JSON.stringify writes them, then cut, spliced and altered byte by byte.
    const compact = fc.oneof(
      fc.jsonValue({ maxDepth: 6 }).map((value) => JSON.stringify(value) ?? 'null'),
      // ASCII documents of integers, literals and strings: the shortcut's own ground.
      fc
        .object({
          key: fc.string({ maxLength: 4 }),
          values: [fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 6 })],
          maxDepth: 4,
        })
        .map((value) => JSON.stringify(value)),
    );
    const altered = fc
      .tuple(
        compact,
        fc.nat(),
        fc.constantFrom(
          '',
          ' ',
          ',',
          ':',
          '"',
          '\\',
          '\\u00e9',
          '\\u00E9',
          '\\/',
          '-0',
          '.5',
          'e1',
          '0',
          '}',
          ']',
          '{',
          '[',
          '\x7f',
          'é',
          'nul',
        ),
        fc.nat({ max: 3 }),
      )
      .map(([text, at, insert, removed]) => {
        const cut = at % (text.length + 1);
        return text.slice(0, cut) + insert + text.slice(cut + removed);
      });
    // Repeated names, at any depth.
    const repeated = fc
      .tuple(fc.string({ maxLength: 3 }).map(plain), compact, compact)
      .map(([name, a, b]) => `{"x":[{${JSON.stringify(name)}:${a},${JSON.stringify(name)}:${b}}]}`);
    // Names of one length that differ anywhere (or not at all), escapes included: compared byte for byte.
    const sameLength = fc
      .tuple(
        fc.string({ minLength: 1, maxLength: 6 }).map(plain),
        fc.nat(),
        fc.constantFrom('a', 'b', '\n', 'é'),
        compact,
      )
      .map(([name, at, other, value]) => {
        const cut = at % name.length;
        const twin = name.slice(0, cut) + other + name.slice(cut + 1);
        return `{${JSON.stringify(name)}:${value},${JSON.stringify(twin).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}:1}`;
      });
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof(compact, altered, repeated, sameLength), (text) => {
        const bytes = encode(text);
        if (!isWrittenAsPython(bytes)) return;
        taken++;
        expect(onePassJsonOfBytes(bytes), text).toBe(bytes);
      }),
      { numRuns: 3000 },
    );
    expect(taken).toBeGreaterThan(300);
    // The usual bodies take it; deep or wide ones, floats, -0 and whitespace are left to the writer.
    const order = encode(
      JSON.stringify({ customer: 'c_1', items: [{ sku: 'SKU-1', quantity: -2, price: 1999 }], paid: true, note: null }),
    );
    expect(isWrittenAsPython(order)).toBe(true);
    expect(pythonJsonOfBytes(order)).toBe(order);
    for (const text of [
      '{"a":1.5}',
      '{"a":-0}',
      '{"a": 1}',
      '{"a":"\\/"}',
      '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    ]) {
      expect(isWrittenAsPython(encode(text)), text).toBe(false);
      expectSameBytes(encode(text));
    }
    const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`n${i}`, i])));
    expect(isWrittenAsPython(encode(wide))).toBe(false);
    expect(pythonJsonOfBytes(encode(wide))).toEqual(encode(wide));
    expect(isWrittenAsPython(encode('{"a":1,"a":1}'))).toBe(false);
    expect(isWrittenAsPython(encode('{"abcd":1,"abce":2}'))).toBe(true);
    expect(isWrittenAsPython(encode('{"a\\n":1,"b":{"a\\n":2},"a\\n":3}'))).toBe(false);
    // Many distinct names of one length sharing a long prefix: past the compare budget (one more pass
    // over the input) the writer decides, which hashes them.
    const prefixed = JSON.stringify(
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`${'p'.repeat(200)}${i + 10}`, i])),
    );
    expect(isWrittenAsPython(encode(prefixed))).toBe(false);
    expect(pythonJsonOfBytes(encode(prefixed))).toEqual(encode(prefixed));
  });

  it('a body already in Python form is hashed and forwarded without a copy; whitespace around it as a view', () => {
    const compact = encode('{"a":1,"b":[true,null],"c":"x\\n\\u00e9"}');
    expect(pythonJsonOfBytes(compact)).toBe(compact);
    const padded = encode(' \n{"a":1} \r\n');
    const view = pythonJsonOfBytes(padded)!;
    expect(view.buffer).toBe(padded.buffer);
    expect(new TextDecoder().decode(view)).toBe('{"a":1}');
    expect(djangoSignedBody(padded, 'application/json').forward.buffer).toBe(padded.buffer);
  });
});
