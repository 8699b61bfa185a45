/**
 * Review 12b (adversarial): near misses the per-fast-path property tests did not generate.
 *
 * - RFC 9421 parameter tails: random parameter texts from a grammar that reaches the parser's edges
 *   (names starting with c/e/n or not, `*`, upper case, escapes, non-ASCII, empty and over-long
 *   values, integers of 15/16 digits, `-0`, trailing bytes, whitespace) and tails whose lengths sit
 *   at the 256-character bound, read in sequences after each other; every reading is held to the
 *   general RFC 8941 parser's.
 * - Request URLs: texts at the 2048-character bound, authority confusion (userinfo, backslashes,
 *   percent-encoded delimiters, IDNA, IPv4 shorthands, ports), each against a fresh `new URL()`.
 * - base64: lengths well past the 8192-code chunk, the whole output against Buffer's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64, toBase64Url } from '../src/primitives/encoding.js';
import { ComponentError, parseRequestUrl } from '../src/protocol/components.js';
import { resolveRfc9421Options } from '../src/schemes/rfc9421/options.js';
import { createRfc9421Parser } from '../src/schemes/rfc9421/parse.js';
import { expectSameReading as expectSame } from './support/fast-path-reading.js';

const parser = createRfc9421Parser(resolveRfc9421Options({}));

let fastReads = 0;

/** The fast path's reading of `input` equals the general path's (support/fast-path-reading.ts). */
function expectSameReading(input: string): void {
  if (expectSame(parser, input)) fastReads++;
}

const LIST = '("@method" "@authority")';

const paramName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('keyid', 'alg', 'tag', 'created', 'expires', 'nonce') },
  { weight: 3, arbitrary: fc.constantFrom('c', 'e', 'n', 'k', 'x', 'cx', 'nx', 'ex', 'keyidx', 'algx', 'tagx') },
  { weight: 1, arbitrary: fc.constantFrom('*', '*k', 'Keyid', 'KEYID', 'a-b', 'a.b', 'a_b', 'ké', '1a', '') },
);
const stringChar = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('k', 'h', '1', '_', '-', ' ', 'a') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('\\"', '\\\\', '\\', '"', 'é', '\u0000', '\t', '\u007f', '\u2028', '\uD800'),
  },
);
const quoted = fc.array(stringChar, { maxLength: 12 }).map((cs) => `"${cs.join('')}"`);
const paramValue = fc.oneof(
  { weight: 5, arbitrary: quoted },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'hmac-sha256',
      '"hmac-sha256"',
      '"hmac-sha512"',
      '"rsa-pss-sha512"',
      '1700000000',
      '0',
      '-0',
      '-5',
      '007',
      '999999999999999',
      '1000000000000000',
      '1.5',
      '?1',
      ':AAAA:',
      '@1',
      '',
    ),
  },
);
const param = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(paramName, paramValue).map(([n, v]) => `;${n}=${v}`) },
  { weight: 1, arbitrary: paramName.map((n) => `;${n}`) },
  { weight: 1, arbitrary: fc.tuple(paramName, paramValue).map(([n, v]) => `; ${n}=${v}`) },
  { weight: 1, arbitrary: fc.tuple(paramName, paramValue).map(([n, v]) => `;${n} =${v}`) },
);
const trailing = fc.constantFrom('', '', '', '', ' ', ';', ',', ', sig2=()', '\t', 'x', 'é');
// Mostly well-formed parameters (so that many inputs are read by the fast path), some noisy ones.
const goodParam = fc.constantFrom(
  ';keyid="k1"',
  ';keyid="k2"',
  ';alg="hmac-sha256"',
  ';alg="hmac-sha512"',
  ';tag="t"',
  ';x=1',
  ';cx="c"',
  ';nx=2',
  ';e=3',
  ';nonce="n1"',
  ';expires=1700000300',
  ';created=1700000001',
);
const input = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.oneof({ weight: 6, arbitrary: goodParam }, { weight: 1, arbitrary: param }), { maxLength: 5 }),
    fc.nat(),
    fc.oneof({ weight: 5, arbitrary: fc.constant('') }, { weight: 1, arbitrary: trailing }),
  )
  .map(([created, params, at, end]) => {
    const all = [...params];
    all.splice(at % (all.length + 1), 0, ';keyid="k1"');
    return `sig=${LIST}${created ? ';created=1700000000' : ''}${all.join('')}${end}`;
  });

describe('review12b: remembered parameter tails against the general parser', () => {
  it('random parameter texts, each read twice and after the others', () => {
    fastReads = 0;
    fc.assert(
      fc.property(fc.array(input, { minLength: 1, maxLength: 6 }), (inputs) => {
        for (const text of inputs) {
          expectSameReading(text);
          expectSameReading(text);
        }
        for (const text of [...inputs].reverse()) expectSameReading(text);
      }),
      { numRuns: 1500 },
    );
    expect(fastReads).toBeGreaterThan(250);
  });

  it('the same tail after every prefix that can stand before it (repeats across the boundary)', () => {
    const befores = ['', ';cx=1', ';nonce="n"', ';e=1', ';n="v"', ';cx=1;e=1', ';nonce="a";nonce="b"', ';expires=1'];
    const tails = [
      ';keyid="k";cx=2',
      ';keyid="k";e="x"',
      ';keyid="k";n=1;alg="hmac-sha256"',
      ';keyid="k";alg="hmac-sha256";tag="t";x=1',
      ';x=1;keyid="k"',
      ';keyid="k";nonce="late"',
      ';keyid="k";created=1',
    ];
    for (let round = 0; round < 2; round++)
      for (const tail of tails)
        for (const before of befores) {
          expectSameReading(`sig=${LIST};created=1700000000${before}${tail}`);
          expectSameReading(`sig=${LIST}${before};created=1700000000${tail}`);
        }
  });

  it('tails at the 256-character bound, and one character longer, after each other', () => {
    for (const length of [254, 255, 256, 257, 258]) {
      // `;keyid="` + id + `"` is the whole tail: 9 characters around the id.
      const id = 'k'.repeat(length - 9);
      const tail = `;keyid="${id}"`;
      expect(tail.length).toBe(length);
      for (const variant of [tail, `${tail};alg="hmac-sha256"`, tail.replace(/k"$/, 'j"'), `${tail} `]) {
        expectSameReading(`sig=${LIST};created=1700000000${variant}`);
        expectSameReading(`sig=${LIST};created=1700000000${variant}`);
        expectSameReading(`sig=${LIST};created=1700000000;nonce="z"${variant}`);
      }
    }
  });

  it('the key id handed out is never one a previous request remembered for a different text', () => {
    const base = ';keyid="client-a";alg="hmac-sha256"';
    expectSameReading(`sig=${LIST};created=1700000000${base}`);
    for (const near of [
      ';keyid="client-A";alg="hmac-sha256"',
      ';keyid="client-a" ;alg="hmac-sha256"',
      ';keyid="client-a";alg="hmac-sha256";keyid="client-b"',
      ';keyid="client-a";alg="hmac-sha256";alg="hmac-sha256"',
      ';keyid="client-\\a";alg="hmac-sha256"',
      ';keyid="client-aé";alg="hmac-sha256"',
      ';keyid="client-a";alg="hmac-sha256"\u0000',
      ';keyid="client-a";alg="HMAC-sha256"',
      ';keyid="client-a";alg="hmac-sha256";keyid="client-a"',
    ]) {
      expectSameReading(`sig=${LIST};created=1700000000${base}`);
      expectSameReading(`sig=${LIST};created=1700000000${near}`);
    }
  });
});

function referenceUrl(text: string) {
  try {
    const url = new URL(text);
    return { href: url.href, host: url.host, protocol: url.protocol, pathname: url.pathname, search: url.search };
  } catch {
    return undefined;
  }
}

function expectUrl(text: string): void {
  const expected = referenceUrl(text);
  if (expected === undefined) {
    expect(() => parseRequestUrl(text), text).toThrow(ComponentError);
    return;
  }
  const parts = parseRequestUrl(text);
  expect(
    { href: parts.href, host: parts.host, protocol: parts.protocol, pathname: parts.pathname, search: parts.search },
    text,
  ).toEqual(expected);
}

describe('review12b: remembered request URLs against a fresh new URL()', () => {
  it('authority confusion near misses, in any order', () => {
    const texts = [
      'https://api.example.com/x',
      'https://api.example.com@evil.example/x',
      'https://evil.example\\@api.example.com/x',
      'https://api.example.com\\evil.example/x',
      'https://api.example.com%2F@evil.example/x',
      'https://api.example.com:443/x',
      'https://api.example.com:0443/x',
      'https://api.example.com.:443/x',
      'https://API.EXAMPLE.COM/x',
      'https://xn--bcher-kva.example/x',
      'https://bücher.example/x',
      'https://0x7f.1/x',
      'https://127.1/x',
      'https://[::ffff:127.0.0.1]/x',
      'https://api.example.com/x?#',
      'https://api.example.com/x?',
      'https://api.example.com/%2e%2e/x',
      'https://api.example.com/./x',
      'https:api.example.com/x',
      'https:/api.example.com/x',
      'HTTPS://api.example.com/x',
      ' https://api.example.com/x',
      'https://api.example.com/x ',
      'https://api.example.com/x\n',
      'https://api.ex\tample.com/x',
      'https://api.example.com/x\u0000',
      'https://api.example.com/x\uD800',
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(texts, { minLength: 1 }), (picked) => {
        for (const text of picked) {
          expectUrl(text);
          expectUrl(text);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('texts at the 2048-character bound and one longer, after each other', () => {
    for (const length of [2046, 2047, 2048, 2049, 2050]) {
      const prefix = 'https://api.example.com/';
      const text = prefix + 'a'.repeat(length - prefix.length);
      expect(text.length).toBe(length);
      for (const variant of [text, `${text.slice(0, -1)}b`, text.replace('api.', 'apj.'), `${text}#f`]) {
        expectUrl(variant);
        expectUrl(text);
        expectUrl(variant);
      }
    }
  });
});

describe('review12b: base64 of large inputs', () => {
  it('is Buffer base64/base64url for lengths around and far past the chunk', () => {
    for (const length of [6143, 6144, 6145, 12_288, 12_289, 65_536 * 3 + 1, 4 * 1024 * 1024 + 2]) {
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = (i * 131 + (i >> 8)) & 0xff;
      expect(toBase64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
      expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
      // A small one after a large one: no code left over from the large one.
      expect(toBase64(bytes.subarray(0, 4))).toBe(Buffer.from(bytes.subarray(0, 4)).toString('base64'));
    }
  });
});
