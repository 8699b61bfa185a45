// The official httpwg structured-field-tests suite (vendored in test-support/vectors/structured-field-tests,
// BSD licence there) run against the RFC 8941 parser and serialiser: every parse case (valid ones must
// parse to the expected structure and serialise to the canonical form; must_fail ones must be refused
// with SignatureMalformed) and every serialisation-only case.
import { readdirSync } from 'node:fs';
import { SignatureMalformed } from '@hmac-kit/core';
import { describe, expect, it } from 'vitest';
import { publishedVectorPath, readPublishedVector } from '../../../test-support/published-vectors.js';
import {
  type BareItem,
  Decimal,
  type Dictionary,
  type InnerList,
  type Item,
  isInnerList,
  type Member,
  type Parameters,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeList,
  serializeMember,
  Token,
} from '../src/protocol/structured-fields.js';

type HeaderType = 'item' | 'list' | 'dictionary';
/** The suite's JSON mapping (see its README), with decimals marked so that 1.0 stays apart from 1. */
type JsonBare = number | string | boolean | { __type: string; value: number | string };
type JsonParams = [string, JsonBare][];
type JsonItem = [JsonBare, JsonParams];
type JsonInnerList = [JsonItem[], JsonParams];
type JsonMember = JsonItem | JsonInnerList;

interface Case {
  name: string;
  raw?: string[];
  header_type: HeaderType;
  expected?: unknown;
  must_fail?: boolean;
  can_fail?: boolean;
  canonical?: string[];
}

const SUITE = 'structured-field-tests/';

/**
 * JSON.parse loses the difference between `1.0` and `1`, which is the difference between a Decimal
 * and an Integer here: number literals with a fraction become `{ __type: 'decimal' }` first (strings
 * are matched first so that digits inside them are left alone).
 */
function parseSuiteJson(text: string): Case[] {
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+\.\d+(?:[eE][+-]?\d+)?/g, (match) =>
    match.startsWith('"') ? match : `{"__type":"decimal","value":${match}}`,
  );
  return JSON.parse(marked) as Case[];
}

function load(file: string): Case[] {
  return parseSuiteJson(readPublishedVector(`${SUITE}${file}`));
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function toBase32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let buffer = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

function fromBase32(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let buffer = 0;
  for (const char of text.replace(/=+$/, '')) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${text}`);
    buffer = (buffer << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

// Parsed values -> the suite's JSON mapping.
function bareToJson(value: BareItem): JsonBare {
  if (value instanceof Decimal) return { __type: 'decimal', value: value.value };
  if (value instanceof Token) return { __type: 'token', value: value.value };
  if (value instanceof Uint8Array) return { __type: 'binary', value: toBase32(value) };
  return value;
}
const paramsToJson = (params: Parameters): JsonParams => [...params].map(([key, value]) => [key, bareToJson(value)]);
function memberToJson(member: Member): JsonMember {
  if (isInnerList(member))
    return [member.items.map((item) => memberToJson(item) as JsonItem), paramsToJson(member.params)];
  return [bareToJson(member.value), paramsToJson(member.params)];
}

// The suite's JSON mapping -> values to serialise.
function bareFromJson(value: JsonBare): BareItem {
  if (typeof value !== 'object') return value;
  switch (value.__type) {
    case 'decimal':
      return new Decimal(value.value as number);
    case 'token':
      return new Token(value.value as string);
    case 'binary':
      return fromBase32(value.value as string);
    default:
      throw new UnsupportedType(value.__type);
  }
}
const paramsFromJson = (params: JsonParams): Parameters =>
  new Map(params.map(([key, value]) => [key, bareFromJson(value)]));
function memberFromJson(member: JsonMember): Member {
  const [value, params] = member;
  if (Array.isArray(value)) {
    return { items: value.map((item) => memberFromJson(item) as Item), params: paramsFromJson(params) } as InnerList;
  }
  return { value: bareFromJson(value), params: paramsFromJson(params) };
}

/** An RFC 9651 type (Date, Display String) that RFC 8941, which this parser implements, does not have. */
class UnsupportedType extends Error {}

/** True when the expected structure uses a type RFC 8941 does not define. */
function usesRfc9651Type(expected: unknown): boolean {
  return JSON.stringify(expected).match(/"__type":"(date|displaystring)"/) !== null;
}

function parseAs(type: HeaderType, input: string): unknown {
  if (type === 'item') return memberToJson(parseItem(input));
  if (type === 'list') return parseList(input).map(memberToJson);
  return [...parseDictionary(input)].map(([key, member]) => [key, memberToJson(member)]);
}

function serializeAs(type: HeaderType, expected: unknown): string {
  if (type === 'item') return serializeMember(memberFromJson(expected as JsonItem));
  if (type === 'list') return serializeList((expected as JsonMember[]).map(memberFromJson));
  const dictionary: Dictionary = new Map(
    (expected as [string, JsonMember][]).map(([key, member]) => [key, memberFromJson(member)]),
  );
  return serializeDictionary(dictionary);
}

const dir = publishedVectorPath(SUITE);
const parseFiles = readdirSync(dir)
  .filter((file) => file.endsWith('.json'))
  .sort();
const serialisationFiles = readdirSync(`${dir}serialisation-tests`)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => `serialisation-tests/${file}`);

/** Cases that ran to the end, so that the last test can show the whole suite was exercised. */
const ran = { cases: 0, rfc9651Refused: 0, canFailRefused: 0 };

describe('httpwg structured-field-tests (RFC 8941)', () => {
  it('finds the whole suite', () => {
    expect(parseFiles).toEqual(expect.arrayContaining(['dictionary.json', 'examples.json', 'key-generated.json']));
    expect(parseFiles.length).toBeGreaterThanOrEqual(20);
    expect(serialisationFiles.length).toBeGreaterThanOrEqual(4);
  });

  for (const file of parseFiles) {
    describe(file, () => {
      for (const test of load(file)) {
        it(test.name, () => {
          const input = (test.raw ?? []).join(', ');
          if (test.must_fail) {
            expect(() => parseAs(test.header_type, input)).toThrow(SignatureMalformed);
            ran.cases++;
            return;
          }
          if (usesRfc9651Type(test.expected)) {
            // Dates (@1659578233) and Display Strings (%"...") are RFC 9651 additions; an RFC 8941
            // parser must refuse them rather than misread them.
            expect(() => parseAs(test.header_type, input)).toThrow(SignatureMalformed);
            ran.rfc9651Refused++;
            ran.cases++;
            return;
          }
          let parsed: unknown;
          try {
            parsed = parseAs(test.header_type, input);
          } catch (error) {
            // can_fail marks the suite's SHOULDs: refusing is allowed, but only as a malformed field.
            if (test.can_fail && error instanceof SignatureMalformed) {
              ran.canFailRefused++;
              ran.cases++;
              return;
            }
            throw error;
          }
          expect(parsed).toEqual(test.expected);
          const canonical = test.canonical ?? test.raw ?? [];
          expect(serializeAs(test.header_type, test.expected)).toBe(canonical.join(', '));
          ran.cases++;
        });
      }
    });
  }

  for (const file of serialisationFiles) {
    describe(file, () => {
      for (const test of load(file)) {
        it(test.name, () => {
          if (test.must_fail) {
            expect(() => serializeAs(test.header_type, test.expected)).toThrow(TypeError);
          } else {
            expect(serializeAs(test.header_type, test.expected)).toBe((test.canonical ?? []).join(', '));
          }
          ran.cases++;
        });
      }
    });
  }

  it('ran every case (none silently skipped)', () => {
    const total = [...parseFiles, ...serialisationFiles].reduce((sum, file) => sum + load(file).length, 0);
    const rfc9651 = parseFiles.flatMap(load).filter((t) => !t.must_fail && usesRfc9651Type(t.expected)).length;
    expect(ran.cases).toBe(total);
    expect(ran.rfc9651Refused).toBe(rfc9651);
    // The SHOULD-level cases this parser refuses, listed so that a change shows up in review.
    expect(ran.canFailRefused).toBe(0);
  });
});
