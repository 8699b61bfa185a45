/**
 * Session 18 (issue #15): the django-hmac reader's per-request regular expressions replaced by
 * hand-written loops (header-text.ts), and the SHA-256 string to sign MACed from bytes written in
 * place (scheme.ts). Each fast form is held to the one it replaces.
 */

import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../src/primitives/encoding.js';
import {
  hasWhitespace,
  hasWhitespaceIn,
  strictBase64Bytes,
  strictBase64BytesIn,
} from '../src/schemes/django-hmac/header-text.js';
import { djangoHmac } from '../src/schemes/django-hmac/scheme.js';
import type { CryptoProvider } from '../src/types.js';
import { checkWith } from './support/scheme-check.js';

describe('hasWhitespace', () => {
  it('answers /\\s/ for every UTF-16 code unit, alone and inside a key id', () => {
    for (let code = 0; code <= 0xffff; code++) {
      const character = String.fromCharCode(code);
      expect(hasWhitespace(character), code.toString(16)).toBe(/\s/.test(character));
      expect(hasWhitespace(`hk_${character}x`), code.toString(16)).toBe(/\s/.test(character));
    }
    expect(hasWhitespace('')).toBe(false);
  });

  it('answers /\\s/ for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        expect(hasWhitespace(text)).toBe(/\s/.test(text));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('strictBase64Bytes', () => {
  const same = (text: string) => {
    const expected = fromBase64(text, { strict: true });
    const actual = strictBase64Bytes(text);
    expect(actual === undefined ? undefined : [...actual], JSON.stringify(text)).toEqual(
      expected === undefined ? undefined : [...expected],
    );
  };

  it('answers fromBase64(text, { strict: true }) for strings near base64 (property)', () => {
    const character = fc.constantFrom(...'ABZaz09+/=-_ .\u00e9\u0100'.split(''), 'Q', 'w', '=');
    fc.assert(
      fc.property(fc.array(character, { maxLength: 48 }), (characters) => same(characters.join(''))),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), fc.nat(3), (bytes, cut) => {
        const text = toBase64(bytes);
        same(text);
        same(text.slice(0, text.length - cut));
        same(text.replace(/=+$/, ''));
        same(`${text}=`);
      }),
      { numRuns: 2000 },
    );
    for (const text of ['', '=', '==', '===', '====', 'A===', 'AA==', 'AAA=', 'AB==', 'AAAA', 'A=AA', 'AA=A'])
      same(text);
  });
});

describe('hasWhitespaceIn and strictBase64BytesIn (session 20: the parts read in place in the header)', () => {
  const near = fc.array(fc.constantFrom(...'ABZaz09+/=;-_ .\u00e9\u0100\t\u2028'.split(''), 'Q', 'w', '='), {
    maxLength: 48,
  });
  const around = fc.string({ unit: 'binary', maxLength: 12 });
  const bytesOf = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : [...bytes]);

  it('answer as the slice forms for the part between any prefix and suffix (property)', () => {
    fc.assert(
      fc.property(
        around,
        fc.oneof(
          near.map((c) => c.join('')),
          fc.string({ unit: 'binary', maxLength: 40 }),
        ),
        around,
        (before, part, after) => {
          const text = `${before}${part}${after}`;
          const start = before.length;
          const end = start + part.length;
          expect(hasWhitespaceIn(text, start, end)).toBe(hasWhitespace(part));
          expect(hasWhitespaceIn(text, start, end)).toBe(/\s/.test(part));
          expect(bytesOf(strictBase64BytesIn(text, start, end))).toEqual(bytesOf(strictBase64Bytes(part)));
          expect(bytesOf(strictBase64BytesIn(text, start, end))).toEqual(bytesOf(fromBase64(part, { strict: true })));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('never read the padding of the text around the part: `=` just before it is not its padding', () => {
    // 'AA==' before a part 'AAA=' must not let the part's end test step into the prefix.
    for (const [text, start, end] of [
      ['==AA', 2, 4],
      ['=', 1, 1],
      ['x==', 1, 3],
      ['AB==;AQI=;', 5, 9],
    ] as const) {
      const part = text.slice(start, end);
      expect(bytesOf(strictBase64BytesIn(text, start, end)), text).toEqual(bytesOf(strictBase64Bytes(part)));
    }
  });
});

describe('django-hmac: the SHA-256 string to sign written as bytes', () => {
  // The same provider without hashString: the scheme's general path (the joined string through macMatches).
  const { hashString: _hashString, ...general } = nodeCryptoProvider as CryptoProvider;
  const secret = new Uint8Array(32).fill(7);
  const key = { keyId: 'hk_block', secret, algorithm: 'sha256' as const };
  const encoder = new TextEncoder();

  /** `ok`, or the code of the error the header phase or the body check ended with. */
  async function verdict(crypto: CryptoProvider, authorization: string, body: string | null): Promise<string> {
    try {
      const check = await checkWith(
        djangoHmac(),
        {
          method: 'POST',
          url: 'https://api.example.com/x',
          headers: { authorization, ...(body === null ? {} : { 'content-type': 'application/json' }) },
        },
        { keys: () => key, crypto, now: () => 1_683_468_937, hasBody: body !== null },
      );
      if (check.body !== null) {
        check.body.update(encoder.encode(body!));
        await check.body.finish();
      }
      return 'ok';
    } catch (error) {
      return (error as { code: string }).code;
    }
  }

  it('decides as the general path, for right and wrong signatures, with and without a body (property)', async () => {
    const timestamp = fc.constantFrom(
      '2023-05-07T14:15:37.862560+00:00',
      '2023-05-07T14:15:37Z',
      '2023-05-07 14:15:37.5-0130',
      '2023-05-07T14:15:30.000001+00:00',
    );
    const body = fc.option(
      fc.oneof(
        fc.jsonValue().map((value) => JSON.stringify(value)),
        fc.constantFrom('{"a":1}', '{"amount": 5}', '{}', '[]', '{"a":1,"a":2}', '{"name":"J\u00fcrgen"}'),
      ),
      { nil: null },
    );
    await fc.assert(
      fc.asyncProperty(
        timestamp,
        body,
        fc.boolean(),
        fc.uint8Array({ minLength: 0, maxLength: 40 }),
        async (ts, text, right, noise) => {
          const signed = await djangoHmac()
            .sign(
              {
                method: 'POST',
                url: 'https://api.example.com/x',
                headers: text === null ? {} : { 'content-type': 'application/json' },
                body: text === null ? null : encoder.encode(text),
              },
              key,
              { crypto: nodeCryptoProvider, now: () => 1_683_468_937 },
            )
            .catch(() => undefined);
          if (signed === undefined) return; // a body the signer refuses (not JSON)
          const value = signed.headers.Authorization as string;
          const [method, rest] = value.split(' ') as [string, string];
          const [keyId, signature] = rest.split(';') as [string, string];
          const sent = right ? signature : toBase64(noise);
          const authorization = `${method} ${keyId};${sent};${ts}`;
          // The signer's own timestamp is replaced: `right` signatures stay right only for its own.
          const own = `${method} ${keyId};${sent};${rest.split(';')[2]}`;
          for (const header of [authorization, own]) {
            expect(await verdict(nodeCryptoProvider, header, text), header).toBe(await verdict(general, header, text));
          }
          if (right) {
            expect(await verdict(nodeCryptoProvider, own, text)).toBe(
              text === '{"a":1,"a":2}' ? 'ERR_BODY_AMBIGUOUS' : 'ok',
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
