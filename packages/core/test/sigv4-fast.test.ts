/**
 * The SigV4 verifier's fast paths against the general code they stand in for: each shortcut
 * (plain canonical path/query, header lines, one-shot hashes into reused buffers, HMAC from key
 * pads, the usual Authorization layout, credential splitting, the single-value header read, the
 * parse memo) must give exactly the answer of the general path, or fall back to it.
 */
import { createHmac } from 'node:crypto';
import type { CryptoProvider, MessageParts, VerificationKey } from '@hmac-kit/core';
import {
  DigestMismatch,
  HmacKitError,
  KeyUnknown,
  SignatureInvalid,
  SignatureMalformed,
  sigv4,
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4Provider,
  webCryptoProvider,
} from '@hmac-kit/core';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import aws4 from 'aws4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  hmacSha256BinaryOfBlock,
  hmacSha256HexOfBlock,
  hmacSha256OfText,
  sha256HexOfText,
} from '../src/primitives/hmac-sha256.js';
import { hmacSha256Pads } from '../src/primitives/prepared-key.js';
import { isLowerHexTail } from '../src/protocol/ascii-digits.js';
import { headerField, getHeader as headerValue, headerValues } from '../src/protocol/headers.js';
import {
  canonicalHeaderLinesOf,
  lowerHeaderField,
  lowerHexBytes,
  sha256Hex,
  sigv4CanonicalHeaderLines,
  sigv4IsPlainCanonical,
  sigv4StringToSignBlock,
} from '../src/schemes/sigv4/canonical.js';
import {
  parseCredential,
  sigv4AuthorizationFields,
  sigv4AuthorizationFieldsGeneral,
  sigv4SignedAuthorization,
} from '../src/schemes/sigv4/parse.js';
import { checkWith, claimedKeyId } from './support/scheme-check.js';

const RUNS = 400;

/** Characters that matter to canonicalisation, plus ordinary ones. */
const pathChar = fc.constantFrom('/', '.', 'a', 'b', 'Z', '0', '-', '_', '~', '%', '2', 'F', '+', ' ', 'é', '=', '&');
const queryChar = fc.constantFrom('a', 'b', 'B', '0', '=', '&', '%', '2', '0', '+', '.', '~', '-', '_', ' ', '/', 'é');
const pathArb = fc.oneof(
  fc.array(pathChar, { maxLength: 16 }).map((chars) => chars.join('')),
  fc
    .array(fc.constantFrom('a', 'bb', '.', '..', '', 'x-y', 'A~'), { maxLength: 5 })
    .map((segments) => `/${segments.join('/')}`),
);
const queryArb = fc.oneof(
  fc.constant(null),
  fc.array(queryChar, { maxLength: 20 }).map((chars) => chars.join('')),
  fc
    .array(fc.tuple(fc.constantFrom('a', 'b', 'B', '', 'a.b', 'x~'), fc.constantFrom('1', '2', '', '10', 'z')), {
      maxLength: 4,
    })
    .map((pairs) => pairs.map(([name, value]) => `${name}=${value}`).join('&')),
);

describe('sigv4IsPlainCanonical', () => {
  it('holds only when every canonical form is the path and query as sent', () => {
    fc.assert(
      fc.property(pathArb, queryArb, (path, query) => {
        if (!sigv4IsPlainCanonical(path, query)) return;
        const asSent = query ?? '';
        expect(sigv4CanonicalUri(path)).toBe(path);
        expect(sigv4CanonicalUri(path, { normalize: false })).toBe(path);
        expect(sigv4CanonicalUri(path, { normalize: false, encode: false })).toBe(path);
        expect(sigv4CanonicalQuery(query)).toBe(asSent);
        expect(sigv4CanonicalQuery(query, { plusAsSpace: true })).toBe(asSent);
      }),
      { numRuns: 5000 },
    );
  });

  it('accepts the usual shapes and refuses everything that needs canonicalising', () => {
    const plain: [string, string | null][] = [
      ['/', null],
      ['/', ''],
      ['/v1/orders', 'customer=c_8f14e45fceea167a&expand=items&limit=20'],
      ['/a/', 'a=1&a=1&a=2&b='],
      ['/...', '=x'],
      ['/.a/b.', 'A=1&a=1'],
    ];
    for (const [path, query] of plain) expect(sigv4IsPlainCanonical(path, query), `${path}?${query}`).toBe(true);
    const needsWork: [string, string | null][] = [
      ['', null], // empty path: canonical `/`
      ['//a', null], // empty segment
      ['/a//', null],
      ['/./a', null],
      ['/a/..', null],
      ['/a/../b', null],
      ['/a%20b', null], // encoded twice
      ['/a b', null],
      ['/é', null],
      ['/', 'b=1&a=1'], // unsorted
      ['/', 'a=2&a=1'],
      ['/', 'a'], // no `=`: canonical `a=`
      ['/', 'a=1&&b=2'], // empty parameter dropped
      ['/', 'a=1&'],
      ['/', 'a=b=c'], // `=` in a value is encoded
      ['/', 'a=x+y'], // curl 8 form differs
      ['/', 'a=%41'], // re-encoded
      ['/', 'a=x/y'],
    ];
    for (const [path, query] of needsWork) {
      expect(sigv4IsPlainCanonical(path, query), `${path}?${query}`).toBe(false);
    }
  });
});

describe('sigv4CanonicalHeaderLines', () => {
  const valueArb = fc
    .array(fc.constantFrom('a', 'b', ' ', '  ', '\t', '\r\n', '\n', '\u00a0', '\v', ',', 'é', ':'), { maxLength: 8 })
    .map((parts) => parts.join(''));
  it('writes exactly the header lines of sigv4CanonicalRequest()', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom('host', 'x-a', 'x-b', 'content-type'), fc.array(valueArb, { maxLength: 3 })),
          {
            maxLength: 4,
          },
        ),
        (headers) => {
          const general = sigv4CanonicalRequest({
            method: 'post',
            canonicalUri: '/p',
            canonicalQuery: 'q=1',
            headers,
            payloadHash: 'UNSIGNED-PAYLOAD',
          });
          const names = headers.map(([name]) => name).join(';');
          const fast = `POST\n/p\nq=1\n${sigv4CanonicalHeaderLines(headers)}\n${names}\nUNSIGNED-PAYLOAD`;
          expect(fast).toBe(general);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('canonicalHeaderLinesOf() (which keeps the last line per position) writes the lines of the general path', () => {
    // Requests in sequence over a few names and values, so that a remembered line is met again,
    // at its own position and at others.
    const names = fc.uniqueArray(fc.constantFrom('content-type', 'host', 'x-a', 'x-b', 'x-c'), { maxLength: 4 });
    const value = fc.oneof(fc.constantFrom('application/json', 'a', ' a', 'a  b'), valueArb);
    const request = fc.tuple(
      names,
      fc.array(fc.oneof(value, fc.array(value, { maxLength: 2 })), { minLength: 5, maxLength: 5 }),
    );
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 6 }), (requests) => {
        for (const [unsorted, values] of requests) {
          const signed = [...unsorted].sort();
          const headers: Record<string, string | string[]> = {};
          signed.forEach((name, index) => {
            headers[name] = values[index]!;
          });
          const message: MessageParts = { method: 'GET', url: 'https://h.example/', headers };
          const general = sigv4CanonicalHeaderLines(
            signed.map((name) => {
              const field = headerField(headers, name);
              return [name, field === undefined ? (name === 'host' ? ['h.example'] : []) : [field].flat()];
            }),
          );
          expect(canonicalHeaderLinesOf(message, signed, 'h.example')).toBe(general);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('hashes through reused buffers', () => {
  const text = fc.oneof(
    fc.string({ maxLength: 300 }),
    fc.string({ unit: 'grapheme', maxLength: 200 }),
    // Around and past the 4096-byte buffer (UTF-8 of multi-byte characters included).
    fc.tuple(fc.integer({ min: 1300, max: 4200 }), fc.constantFrom('a', 'é', '€', '😀')).map(([n, c]) => c.repeat(n)),
  );
  const providers: [string, CryptoProvider][] = [
    ['node:crypto', nodeCryptoProvider],
    ['WebCrypto (no one-shot hash)', webCryptoProvider],
  ];
  for (const [name, crypto] of providers) {
    it(`sha256HexOfText() equals sha256Hex() (${name})`, () => {
      fc.assert(
        fc.property(text, (value) => {
          expect(sha256HexOfText(crypto, value)).toBe(sha256Hex(crypto, value));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('hmacSha256OfText() is HMAC-SHA256 of the UTF-8 text (any key length, long texts too)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 130 }), text, (keyBytes, value) => {
        const pads = hmacSha256Pads(keyBytes);
        const expected = createHmac('sha256', keyBytes).update(value, 'utf8').digest('hex');
        expect(Buffer.from(hmacSha256OfText(nodeCryptoProvider, pads, value)).toString('hex')).toBe(expected);
        expect(
          Buffer.from(nodeCryptoProvider.hmac('sha256', keyBytes, new TextEncoder().encode(value)) as Uint8Array),
        ).toEqual(Buffer.from(hmacSha256OfText(nodeCryptoProvider, pads, value)));
      }),
      { numRuns: RUNS },
    );
  });

  it('the string-to-sign block holds exactly the UTF-8 string to sign, and its MAC is HMAC-SHA256 of it', () => {
    // Scopes and algorithms of every shape (non-ASCII, lone surrogates, too long for the block), in
    // sequence: the block keeps algorithm and scope from the call before and rewrites the rest.
    const part = fc.oneof(
      fc.constantFrom('AWS4-HMAC-SHA256', 'HK-HMAC-SHA256', '20251122/us-east-1/hmac-kit/aws4_request', ''),
      fc.string({ maxLength: 60 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.tuple(fc.integer({ min: 900, max: 1100 }), fc.constantFrom('a', 'é')).map(([n, c]) => c.repeat(n)),
    );
    const date = fc.constantFrom('20251122T000000Z', '20251122T235959Z', '20200229T120000Z');
    const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(part, date, part, digest, fc.boolean()), { minLength: 1, maxLength: 6 }),
        fc.uint8Array({ maxLength: 100 }),
        (calls, keyBytes) => {
          const pads = hmacSha256Pads(keyBytes);
          for (const [algorithm, amzDate, scope, bytes, again] of calls) {
            const binary = Buffer.from(bytes).toString('latin1');
            const text = `${algorithm}\n${amzDate}\n${scope}\n${Buffer.from(bytes).toString('hex')}`;
            for (const _round of again ? [1, 2] : [1]) {
              const block = sigv4StringToSignBlock(algorithm, amzDate, scope, binary);
              if (block === undefined) {
                // Only a text too long for the block is refused (the verifier then builds the string).
                expect(Buffer.byteLength(text)).toBeGreaterThan(1024);
                continue;
              }
              expect(Buffer.from(block.subarray(64)).toString('hex')).toBe(Buffer.from(text, 'utf8').toString('hex'));
              expect(block.subarray(0, 64).every((byte) => byte === 0)).toBe(true);
              expect(hmacSha256HexOfBlock(nodeCryptoProvider, pads, block)).toBe(
                createHmac('sha256', keyBytes).update(text, 'utf8').digest('hex'),
              );
              // The pad slot is zeroed again.
              expect(block.subarray(0, 64).every((byte) => byte === 0)).toBe(true);
              // The same MAC as a binary string (the verifier's comparison with the signature's bytes).
              expect(hmacSha256BinaryOfBlock(nodeCryptoProvider, pads, block)).toBe(
                createHmac('sha256', keyBytes).update(text, 'utf8').digest('binary'),
              );
              expect(block.subarray(0, 64).every((byte) => byte === 0)).toBe(true);
            }
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('leaves no key pad behind in its buffers and interleaves with the canonical hash', () => {
    const key = new Uint8Array(32).fill(7);
    const pads = hmacSha256Pads(key);
    const a = hmacSha256OfText(nodeCryptoProvider, pads, 'one');
    sha256HexOfText(nodeCryptoProvider, 'x'.repeat(100));
    const b = hmacSha256OfText(nodeCryptoProvider, pads, 'one');
    expect(Buffer.from(b)).toEqual(Buffer.from(a));
    expect(Buffer.from(a).toString('hex')).toBe(createHmac('sha256', key).update('one').digest('hex'));
  });
});

describe('Authorization fields', () => {
  const token = fc.constantFrom(
    'Credential=',
    'SignedHeaders=',
    'Signature=',
    'Other=',
    'hk_a/20251122/us-east-1/hmac-kit/aws4_request',
    'host;x-amz-date',
    'ab12',
    ',',
    ', ',
    ' ',
    '\t',
    '=',
    '/',
  );
  const outcome = (run: () => unknown) => {
    try {
      return { ok: run() };
    } catch (error) {
      expect(error).toBeInstanceOf(SignatureMalformed);
      return { error: (error as Error).message };
    }
  };
  it('the usual-layout shortcut agrees with the general split on any input', () => {
    const usual = fc
      .tuple(
        fc.constantFrom('hk_a/20251122/us-east-1/hmac-kit/aws4_request', 'a=b/c', 'x'),
        fc.constantFrom('host;x-amz-date', 'a', 'b=c'),
        fc.constantFrom('ab12', 'f'.repeat(64), '=', 'a=b'),
        fc.constantFrom(', ', ','),
        fc.constantFrom(', ', ','),
      )
      .map(([c, h, s, sep1, sep2]) => `Credential=${c}${sep1}SignedHeaders=${h}${sep2}Signature=${s}`);
    fc.assert(
      fc.property(
        fc.oneof(
          usual,
          fc.array(token, { maxLength: 14 }).map((parts) => parts.join('')),
        ),
        (rest) => {
          expect(outcome(() => sigv4AuthorizationFields(rest))).toEqual(
            outcome(() => sigv4AuthorizationFieldsGeneral(rest)),
          );
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('the repeated-head memo answers exactly as the regex and the hex check would', () => {
    // The reference: the fields of the text after the algorithm, then the signature's format check.
    const reference = (authorization: string, offset: number) => {
      const fields = sigv4AuthorizationFields(authorization.slice(offset));
      if (!/^[0-9a-f]{64}$/.test(fields.signature)) {
        throw new SignatureMalformed('Signature must be 64 lower-case hex digits');
      }
      return { ...fields, signatureBytes: new Uint8Array(Buffer.from(fields.signature, 'hex')) };
    };
    const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
    // Signatures that only just fail: upper case, a comma or space inside, 63 or 65 digits.
    const nearHex = fc.oneof(
      hex64,
      hex64.map((h) => h.toUpperCase()),
      hex64.map((h) => `${h.slice(0, 30)},${h.slice(31)}`),
      hex64.map((h) => `${h.slice(0, 30)} ${h.slice(31)}`),
      hex64.map((h) => h.slice(1)),
      hex64.map((h) => `${h}a`),
    );
    const head = fc
      .tuple(
        fc.constantFrom('AWS4-HMAC-SHA256 ', 'HK-HMAC-SHA256 ', 'AWS4-HMAC-SHA256  '),
        fc.constantFrom('hk_a/20251122/us-east-1/hmac-kit/aws4_request', 'a=b/c', 'x y', ''),
        fc.constantFrom('host;x-amz-date', 'a', 'b,c', ''),
        fc.constantFrom(', ', ',', ' , '),
        fc.constantFrom(', ', ',', ', Signature=1, '),
      )
      .map(([algorithm, c, h, sep1, sep2]) => `${algorithm}Credential=${c}${sep1}SignedHeaders=${h}${sep2}Signature=`);
    fc.assert(
      fc.property(
        head,
        head,
        fc.array(fc.tuple(fc.boolean(), nearHex, fc.constantFrom(17, 17, 17, 15, 18)), { minLength: 1, maxLength: 8 }),
        (first, second, requests) => {
          // Two heads in turn, so that a head the regex read is met again (or another one is).
          for (const [useFirst, signature, offset] of requests) {
            const authorization = (useFirst ? first : second) + signature;
            expect(outcome(() => sigv4SignedAuthorization(authorization, offset))).toEqual(
              outcome(() => reference(authorization, offset)),
            );
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('isLowerHexTail() (the signature and payload hash check, in place) says what /^[0-9a-f]{n}$/ says of the slice', () => {
    // Hex digits and their neighbours in the code table (/ : ` g, upper case), non-ASCII, and
    // characters whose low byte is a hex digit (U+0130, U+0161: a check on the low byte only would pass them).
    const char = fc.constantFrom('0', '9', 'a', 'f', 'A', 'F', '/', ':', '`', 'g', ' ', '\u0130', '\u0161', '\u00e9');
    fc.assert(
      fc.property(
        fc.array(char, { maxLength: 70 }).map((chars) => chars.join('')),
        fc.integer({ min: -2, max: 72 }),
        fc.integer({ min: 0, max: 70 }),
        (text, start, count) => {
          // A start outside the text reads no text at all (slice() would clamp it).
          const reference =
            start >= 0 && start <= text.length && new RegExp(`^[0-9a-f]{${count}}$`).test(text.slice(start));
          expect(isLowerHexTail(text, start, count)).toBe(reference);
        },
      ),
      { numRuns: 5000 },
    );
    const hex = 'a'.repeat(63);
    expect(isLowerHexTail(`Signature=${hex}0`, 10, 64)).toBe(true);
    for (const bad of ['A', 'g', '/', ':', '`', ' ', '\u0130']) {
      expect(isLowerHexTail(`Signature=${hex}${bad}`, 10, 64), bad).toBe(false);
      expect(isLowerHexTail(`Signature=${bad}${hex}`, 10, 64), bad).toBe(false);
    }
    expect(isLowerHexTail(`Signature=${hex}`, 10, 64)).toBe(false);
    expect(isLowerHexTail(`Signature=${hex}00`, 10, 64)).toBe(false);
  });

  it('lowerHexBytes() accepts what isLowerHexTail() accepts, and decodes it as Buffer.from(hex) does', () => {
    const char = fc.constantFrom('0', '9', 'a', 'f', 'A', 'F', '/', ':', '`', 'g', ' ', '\u0130', '\u0161', '\u00e9');
    const hexChar = fc.constantFrom(...'0123456789abcdef');
    const text = fc.oneof(
      fc.array(char, { maxLength: 70 }).map((chars) => chars.join('')),
      // Mostly digits: a tail of valid hex with at most one character of another kind in it.
      fc
        .tuple(fc.string({ maxLength: 12 }), fc.array(hexChar, { maxLength: 68 }), fc.option(char), fc.nat(68))
        .map(([head, digits, odd, at]) => {
          if (odd !== null) digits.splice(at % (digits.length + 1), 0, odd);
          return head + digits.join('');
        }),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: -2, max: 72 }), fc.integer({ min: 0, max: 70 }), (value, start, count) => {
        const bytes = lowerHexBytes(value, start, count);
        const accepted = isLowerHexTail(value, start, count) && count % 2 === 0;
        expect(bytes !== undefined).toBe(accepted);
        if (bytes !== undefined) {
          expect(bytes).toEqual(new Uint8Array(Buffer.from(value.slice(start), 'hex')));
        }
      }),
      { numRuns: 5000 },
    );
    const hex = `${'0123456789abcdef'.repeat(4)}`;
    expect(lowerHexBytes(`Signature=${hex}`, 10, 64)).toEqual(new Uint8Array(Buffer.from(hex, 'hex')));
    for (const bad of ['A', 'g', '/', ':', '`', ' ', '\u0130', '\u0161', '\u0030\u0300']) {
      expect(lowerHexBytes(`${hex.slice(1)}${bad}`, 0, 64), bad).toBeUndefined();
    }
  });

  it('parseCredential() splits like split("/") with the last four parts as the scope', () => {
    const provider = sigv4Provider('aws:amz');
    const reference = (value: string) => {
      const parts = value.split('/');
      if (parts.length < 5) throw new SignatureMalformed('Credential must be KEYID/date/region/service/terminator');
      const [date, region, service, terminator] = parts.slice(-4) as [string, string, string, string];
      const keyId = parts.slice(0, -4).join('/');
      if (!keyId || !/^\d{8}$/.test(date) || !region || !service)
        throw new SignatureMalformed('Credential is malformed');
      if (terminator !== provider.terminator)
        throw new SignatureMalformed('Credential scope terminator does not match');
      return { keyId, date, region, service, scope: parts.slice(-4).join('/') };
    };
    const part = fc.constantFrom('', 'hk', 'a/b', '20251122', '2025112', 'eu-west-1', 'hmac-kit', 'aws4_request', '/');
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), fc.constantFrom('/', ''), (parts, joiner) => {
        const value = parts.join(joiner === '' ? '/' : joiner);
        expect(outcome(() => parseCredential(value, provider))).toEqual(outcome(() => reference(value)));
        // Again: the last Credential is answered from memory, with the same parts.
        expect(outcome(() => parseCredential(value, provider))).toEqual(outcome(() => reference(value)));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('headerValue() and headerField() single-value reads', () => {
  it('equals headerValues().join(", ") for any record', () => {
    const name = fc.constantFrom('authorization', 'Authorization', 'AUTHORIZATION', 'x-amz-date', 'host');
    const value = fc.oneof(
      fc.string({ maxLength: 5 }),
      fc.constant(undefined),
      fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
      fc.integer(),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 5 }), name, (entries, wanted) => {
        const record: Record<string, unknown> = {};
        for (const [key, v] of entries) record[key] = v;
        const headers = record as Record<string, string>;
        const values = headerValues(headers, wanted);
        expect(headerValue(headers, wanted)).toBe(values.length === 0 ? undefined : values.join(', '));
        expect(headerField(headers, wanted)).toEqual(
          values.length === 0 ? undefined : values.length === 1 ? values[0] : values,
        );
      }),
      { numRuns: 3000 },
    );
    const real = new Headers([
      ['Authorization', 'a'],
      ['authorization', 'b'],
    ]);
    expect(lowerHeaderField(real, 'authorization')).toEqual(headerField(real, 'authorization'));
    expect(headerValue(real, 'AUTHORIZATION')).toBe('a, b');
    expect(headerValue(new Headers(), 'authorization')).toBeUndefined();
  });
});

describe('lowerHeaderField() (no lower-casing of a lower-case name)', () => {
  it('equals headerField() for any lower-case name over any record or Headers', () => {
    const lower = fc.constantFrom('authorization', 'x-amz-date', 'host', 'content-type', 'x-b', 'ab');
    const key = fc.oneof(
      lower,
      lower.map((name) => name.toUpperCase()),
      lower.map((name) => name.charAt(0).toUpperCase() + name.slice(1)),
      fc.constantFrom('Host', 'HOST', 'x-amz-datE', 'x-amz-dat', 'other', 'aB', 'Ab', 'AB', 'ba', 'K', '\u212a'),
    );
    const value = fc.oneof(
      fc.string({ maxLength: 5 }),
      fc.constant(undefined),
      fc.constant(null),
      fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
      fc.integer(),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 6 }), lower, (entries, wanted) => {
        const record: Record<string, unknown> = {};
        for (const [name, v] of entries) record[name] = v;
        const headers = record as Record<string, string>;
        expect(lowerHeaderField(headers, wanted)).toEqual(headerField(headers, wanted));
        // An inherited field is not the message's own (headerField reads own properties only).
        const inherited = Object.create(record) as Record<string, string>;
        expect(lowerHeaderField(inherited, wanted)).toEqual(headerField(inherited, wanted));
        const real = new Headers();
        for (const [name, v] of entries) {
          if (typeof v === 'string' && /^[\x21-\x7e]*$/.test(v) && /^[a-zA-Z-]+$/.test(name)) real.append(name, v);
        }
        expect(lowerHeaderField(real, wanted)).toEqual(headerField(real, wanted));
      }),
      { numRuns: 3000 },
    );
  });
});

// ---- end to end: the scheme over the fast and the general shapes ------------------------------

const NOW = 1_763_800_000;
const raw = new Uint8Array(32).map((_, i) => i * 5 + 3);
const key: VerificationKey = { keyId: 'hk_sigv4fast', secret: raw, algorithm: 'sha256' };
const secret = `hks_${Buffer.from(raw).toString('base64url')}`;
const keys = (id: string) => (id === key.keyId ? key : undefined);

/** Signs with the `aws4` package (an independent implementation), as a client would. */
function aws4Signed(
  path: string,
  { body = '{"a":1}', date = NOW, region = 'eu-west-1' }: { body?: string; date?: number; region?: string } = {},
) {
  const amzDate = new Date(date * 1000).toISOString().replace(/[-:]|\.\d{3}/g, '');
  {
    const out = aws4.sign(
      {
        host: 'api.example.com',
        path,
        method: 'POST',
        service: 'hmac-kit',
        region,
        body,
        headers: {
          'Content-Type': 'application/json',
          'X-Amz-Content-Sha256': sha256HexNode(body),
          'X-Amz-Date': amzDate,
        },
      },
      { accessKeyId: key.keyId, secretAccessKey: secret },
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(out.headers as Record<string, string>)) {
      headers[name.toLowerCase()] = String(value);
    }
    return { message: { method: 'POST', url: `https://api.example.com${path}`, headers }, body };
  }
}

function sha256HexNode(text: string): string {
  return nodeCryptoProvider.hash!('sha256', new TextEncoder().encode(text)).reduce(
    (out, byte) => out + byte.toString(16).padStart(2, '0'),
    '',
  );
}

async function verify(
  scheme: ReturnType<typeof sigv4>,
  message: MessageParts,
  body: string,
  crypto: CryptoProvider = nodeCryptoProvider,
  resolver: (id: string) => VerificationKey | undefined | Promise<VerificationKey | undefined> = keys,
) {
  const bytes = new TextEncoder().encode(body);
  const check = await checkWith(scheme, message, { keys: resolver, crypto, now: () => NOW, hasBody: bytes.length > 0 });
  if (check.body) {
    check.body.update(bytes);
    await check.body.finish();
  }
  return check.result;
}

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HmacKitError);
    return (error as Error).constructor.name;
  }
  return 'accepted';
}

describe('sigv4() fast and general shapes agree', () => {
  const paths = [
    '/v1/orders?customer=c_8f14e45fceea167a&expand=items&limit=20', // plain: fast
    '/v1/orders?limit=20&customer=c_1', // unsorted: general
    '/v1/a%20b/c?x=%41&y=a+b', // encoded, plus: general
    '/v1/a/./c', // dot segment: general
    '/v1//x/?flag', // empty segment, bare name: general
    '/', // root: fast
  ];
  const providers: [string, CryptoProvider][] = [
    ['node:crypto', nodeCryptoProvider],
    ['WebCrypto', webCryptoProvider],
  ];
  for (const [providerName, crypto] of providers) {
    for (const path of paths) {
      it(`${providerName}: ${path} verifies, and a changed path or query does not`, async () => {
        const scheme = sigv4();
        const { message, body } = aws4Signed(path);
        const result = await verify(scheme, message, body, crypto);
        expect(result).toMatchObject({ scheme: 'sigv4', keyId: key.keyId, created: NOW });
        // Async key resolver: same answer.
        await verify(scheme, message, body, crypto, async (id) => keys(id));
        const changed = { ...message, url: `${message.url}${message.url.includes('?') ? '&' : '?'}z=1` };
        expect(await failure(verify(scheme, changed, body, crypto))).toBe(SignatureInvalid.name);
        const unknown = {
          ...message,
          headers: { ...message.headers, authorization: message.headers.authorization!.replace(key.keyId, 'hk_nope') },
        };
        expect(await failure(verify(scheme, unknown, body, crypto))).toBe(KeyUnknown.name);
      });
    }
  }

  for (const [providerName, crypto] of providers) {
    it(`${providerName}: the MAC and the payload hash compared as bytes refuse every one-digit change`, async () => {
      // The signature and the declared hash are decoded by the parser and compared as 32 bytes:
      // any other lower-case hex digit anywhere is a mismatch, on the streamed body path
      // (update + finish) and on the in-memory one (complete), as the hex comparison was.
      const scheme = sigv4();
      const { message, body } = aws4Signed('/v1/orders?customer=c_1&limit=20');
      const authorization = message.headers.authorization!;
      const at = authorization.length - 64;
      for (let i = 0; i < 64; i++) {
        const digit = authorization[at + i]!;
        const other = digit === '0' ? 'f' : '0';
        const changed = `${authorization.slice(0, at + i)}${other}${authorization.slice(at + i + 1)}`;
        const variant = { ...message, headers: { ...message.headers, authorization: changed } };
        expect(await failure(verify(scheme, variant, body, crypto))).toBe(SignatureInvalid.name);
      }
      await expect(verify(scheme, message, body, crypto)).resolves.toMatchObject({ keyId: key.keyId });
      const bytes = new TextEncoder().encode(body);
      for (let i = 0; i < bytes.length; i++) {
        const tampered = bytes.slice();
        tampered[i]! ^= 1;
        const check = await checkWith(scheme, message, { keys, crypto, now: () => NOW, hasBody: true });
        expect(check.result).toMatchObject({ keyId: key.keyId });
        await expect(check.body!.complete!(tampered)).rejects.toThrow(DigestMismatch);
        const streamed = await checkWith(scheme, message, { keys, crypto, now: () => NOW, hasBody: true });
        streamed.body!.update(tampered);
        await expect(streamed.body!.finish()).rejects.toThrow(DigestMismatch);
      }
      const intact = await checkWith(scheme, message, { keys, crypto, now: () => NOW, hasBody: true });
      await expect(intact.body!.complete!(bytes)).resolves.toBeUndefined();
    });
  }

  it('reads unusual Authorization layouts the general way (same answers)', async () => {
    const scheme = sigv4();
    const { message, body } = aws4Signed('/v1/orders?a=1');
    const authorization = message.headers.authorization!;
    const match = /^(\S+) Credential=([^,]+), SignedHeaders=([^,]+), Signature=(\w+)$/.exec(authorization)!;
    const [, algorithm, credential, signed, signature] = match as unknown as [string, string, string, string, string];
    const layouts = [
      `${algorithm} Credential=${credential},SignedHeaders=${signed},Signature=${signature}`,
      `${algorithm} Signature=${signature}, Credential=${credential}, SignedHeaders=${signed}`,
      `${algorithm}  Credential=${credential} ,\tSignedHeaders=${signed} , Signature=${signature} `,
    ];
    for (const layout of layouts) {
      const variant = { ...message, headers: { ...message.headers, authorization: layout } };
      expect(claimedKeyId(scheme, variant)).toBe(key.keyId);
      await expect(verify(scheme, variant, body)).resolves.toMatchObject({ keyId: key.keyId });
    }
    const malformed = [
      `${algorithm} Credential=${credential}, SignedHeaders=${signed}, Signature=${signature}, Signature=${signature}`,
      `${algorithm} Credential=${credential}, SignedHeaders=${signed}, Signature=${signature}, Extra=1`,
      `${algorithm} Credential=${credential}, SignedHeaders=${signed}`,
      `${algorithm} Credential=${credential}, SignedHeaders=${signed}, Signature=`,
      `${algorithm} Credential=${credential}, SignedHeaders=${signed}, Signature=${signature.toUpperCase()}`,
    ];
    for (const layout of malformed) {
      const variant = { ...message, headers: { ...message.headers, authorization: layout } };
      expect(await failure(verify(scheme, variant, body))).toBe(SignatureMalformed.name);
    }
  });

  it('the remembered "host and date are signed" list refuses exactly what the check refuses, in any order', () => {
    // Default providers: aws:amz (x-amz-date) and hmackit:hmackit (x-hmackit-date).
    const scheme = sigv4();
    const lists = [
      'host;x-amz-date',
      'content-type;host;x-amz-date',
      'content-type;x-amz-date',
      'host',
      'host;x-hmackit-date',
      'content-type;host;x-hmackit-date',
    ];
    const signature = 'ab'.repeat(32);
    const request = fc.tuple(fc.constantFrom(...lists), fc.constantFrom('AWS4', 'HMACKIT4'));
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 8 }), (requests) => {
        for (const [list, prefix] of requests) {
          const terminator = prefix === 'AWS4' ? 'aws4_request' : 'hmackit4_request';
          const dateName = prefix === 'AWS4' ? 'x-amz-date' : 'x-hmackit-date';
          const message: MessageParts = {
            method: 'GET',
            url: 'https://h.example/',
            headers: {
              host: 'h.example',
              [dateName]: '20251122T000000Z',
              authorization: `${prefix}-HMAC-SHA256 Credential=hk_a/20251122/us-east-1/hmac-kit/${terminator}, SignedHeaders=${list}, Signature=${signature}`,
            },
          };
          const names = list.split(';');
          const expected = !names.includes('host') || !names.includes(dateName) ? 'ComponentNotCovered' : 'ok';
          let got = 'ok';
          try {
            scheme.parse(message, { hasBody: false });
          } catch (error) {
            got = (error as Error).constructor.name;
          }
          expect(got).toBe(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('the parse memo (keyIdOf, then verify) never serves another request', async () => {
    const scheme = sigv4();
    const first = aws4Signed('/v1/orders?a=1');
    expect(claimedKeyId(scheme, first.message)).toBe(key.keyId);
    await verify(scheme, first.message, first.body);
    // Same Authorization, another date header: parsed again (the date no longer matches the credential).
    const otherDay = {
      ...first.message,
      headers: { ...first.message.headers, 'x-amz-date': '20200101T000000Z' },
    };
    expect(await failure(verify(scheme, otherDay, first.body))).toBe(SignatureMalformed.name);
    // Same Authorization, a second second: parsed again and the signature no longer matches.
    const nextSecond = {
      ...first.message,
      headers: {
        ...first.message.headers,
        'x-amz-date': first.message.headers['x-amz-date']!.replace(
          /\d\dZ$/,
          (s) => `${(Number(s.slice(0, 2)) + 1) % 60}`.padStart(2, '0') + 'Z',
        ),
      },
    };
    expect(await failure(verify(scheme, nextSecond, first.body))).toBe(SignatureInvalid.name);
    // A failed parse is not remembered; the original still verifies.
    await verify(scheme, first.message, first.body);
  });

  it('keeps verifying across many regions (bounded signing-key cache)', async () => {
    const scheme = sigv4();
    for (let index = 0; index < 40; index++) {
      const { message, body } = aws4Signed('/v1/orders?a=1', { region: `r-${index}` });
      await verify(scheme, message, body);
    }
    const { message, body } = aws4Signed('/v1/orders?a=1', { region: 'r-0' });
    await verify(scheme, message, body);
  });
});
