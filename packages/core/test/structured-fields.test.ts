import { HmacKitError, SignatureMalformed } from '@hmac-kit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Decimal,
  type InnerList,
  type Item,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeList,
  serializeMember,
  Token,
} from '../src/protocol/structured-fields.js';

describe('RFC 8941 parsing', () => {
  it('parses Signature-Input style dictionaries of inner lists with parameters', () => {
    const dict = parseDictionary(
      'sig1=("@method" "@authority" "content-digest";sf);created=1618884473;keyid="test-key";alg="hmac-sha256", sig2=("@path");nonce="x"',
    );
    const sig1 = dict.get('sig1') as InnerList;
    expect(sig1.items.map((i) => i.value)).toEqual(['@method', '@authority', 'content-digest']);
    expect(sig1.items[2]!.params.get('sf')).toBe(true);
    expect([...sig1.params]).toEqual([
      ['created', 1618884473],
      ['keyid', 'test-key'],
      ['alg', 'hmac-sha256'],
    ]);
    expect((dict.get('sig2') as InnerList).params.get('nonce')).toBe('x');
  });

  it('parses every bare item type', () => {
    expect(parseItem('-42').value).toBe(-42);
    expect(parseItem('4.5').value).toEqual(new Decimal(4.5));
    expect(parseItem('"a \\"q\\" \\\\ b"').value).toBe('a "q" \\ b');
    expect(parseItem('sha-256').value).toEqual(new Token('sha-256'));
    expect(parseItem('*tok:en/x').value).toEqual(new Token('*tok:en/x'));
    expect(parseItem(':3q2+7w==:').value).toEqual(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    expect(parseItem('?1').value).toBe(true);
    expect(parseItem('?0').value).toBe(false);
    expect(parseList('a, (b c);p=1, ?0').length).toBe(3);
  });

  it('serialises canonically (B.2.5 Signature-Input round trip, boolean members, decimals)', () => {
    const input = 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"';
    expect(serializeDictionary(parseDictionary(input))).toBe(input);
    expect(serializeDictionary(parseDictionary('a, b;x=1, c=?0'))).toBe('a, b;x=1, c=?0');
    expect(serializeMember(parseItem('1.50'))).toBe('1.5');
    expect(serializeMember(parseItem('2.0'))).toBe('2.0');
    expect(serializeDictionary(parseDictionary('a=1 ,\tb=2'))).toBe('a=1, b=2');
  });

  it('rejects malformed input with SignatureMalformed', () => {
    const bad = [
      'sig=',
      'sig=("a" "b"',
      'sig=("a""b")',
      'Sig=1',
      'sig=1,',
      'sig=1;',
      'sig="unterminated',
      'sig="bad \\x escape"',
      'sig=:not base64!:',
      'sig=:AA=A:',
      'sig=?2',
      'sig=1234567890123456',
      'sig=1.2345',
      'sig=1234567890123.4',
      'sig=é',
      'sig=1 2',
      'sig="tab\tinside"',
      ', sig=1',
      'sig=-',
      'sig=%"display"',
    ];
    for (const input of bad) expect(() => parseDictionary(input, 'Signature'), input).toThrow(SignatureMalformed);
  });

  it('serialising an invalid value is a TypeError', () => {
    expect(() => serializeMember({ value: 'é', params: new Map() })).toThrow(TypeError);
    expect(() => serializeMember({ value: 1.5, params: new Map() })).toThrow(TypeError);
    expect(() => serializeMember({ value: new Token('1abc'), params: new Map() })).toThrow(TypeError);
    expect(() => serializeDictionary(new Map([['Upper', { value: 1, params: new Map() }]]))).toThrow(TypeError);
  });
});

const key = fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,8}$/);
const bareItem = fc.oneof(
  fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }),
  fc.integer({ min: -999_999, max: 999_999 }).map((n) => new Decimal(n / 1000)),
  fc.stringMatching(/^[\x20-\x7e]{0,20}$/),
  fc.stringMatching(/^[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]{0,10}$/).map((t) => new Token(t)),
  fc.uint8Array({ maxLength: 40 }),
  fc.boolean(),
);
const params = fc
  .uniqueArray(fc.tuple(key, bareItem), { selector: ([k]) => k, maxLength: 4 })
  .map((entries) => new Map(entries));
const item: fc.Arbitrary<Item> = fc.record({ value: bareItem, params });
const innerList: fc.Arbitrary<InnerList> = fc.record({ items: fc.array(item, { maxLength: 5 }), params });
const dictionary = fc
  .uniqueArray(fc.tuple(key, fc.oneof(item, innerList)), { selector: ([k]) => k, maxLength: 5 })
  .map((entries) => new Map(entries));

describe('RFC 8941 properties', () => {
  it('serialise -> parse -> serialise is stable for random dictionaries', () => {
    fc.assert(
      fc.property(dictionary, (dict) => {
        const text = serializeDictionary(dict);
        expect(serializeDictionary(parseDictionary(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('parsers only ever throw SignatureMalformed on arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-z0-9=:;"()?*. ,\-\\/+]{0,40}$/)),
        (text) => {
          for (const parse of [parseDictionary, parseList, parseItem]) {
            try {
              parse(text);
            } catch (error) {
              expect(error).toBeInstanceOf(HmacKitError);
              expect(error).toBeInstanceOf(SignatureMalformed);
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('random mutations of valid dictionaries never escape as anything but SignatureMalformed', () => {
    fc.assert(
      fc.property(dictionary, fc.nat(), fc.string({ maxLength: 3 }), (dict, at, insert) => {
        const text = serializeDictionary(dict);
        const position = text.length === 0 ? 0 : at % text.length;
        const mutated = text.slice(0, position) + insert + text.slice(position + 1);
        try {
          parseDictionary(mutated);
        } catch (error) {
          expect(error).toBeInstanceOf(SignatureMalformed);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('list round trip', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(item, innerList), { maxLength: 5 }), (members) => {
        const text = serializeList(members);
        expect(serializeList(parseList(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
