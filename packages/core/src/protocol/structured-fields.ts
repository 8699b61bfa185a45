/**
 * Structured Field Values for HTTP (RFC 8941), the subset RFC 9421 and RFC 9530
 * need: dictionaries, lists, inner lists, parameters and the bare item types
 * integer, decimal, string, token, byte sequence and boolean.
 *
 * Parsing is strict (RFC 8941 section 4.2) and fails with `SignatureMalformed`
 * on any deviation, because everything parsed here arrives from untrusted
 * clients; serialising an invalid value is a programming error (`TypeError`).
 */

import { SignatureMalformed } from '../errors.js';
import { fromBase64, toBase64 } from '../primitives/encoding.js';

/** A token bare item (`sha-256`, `*foo`), kept apart from strings because they serialise differently. */
export class Token {
  constructor(readonly value: string) {}
}

/** A decimal bare item, kept apart from integers so that `1.0` survives a round trip. */
export class Decimal {
  constructor(readonly value: number) {}
}

/** integer | decimal | string | token | byte sequence | boolean. */
export type BareItem = number | Decimal | string | Token | Uint8Array | boolean;
/** Ordered parameters (`;key=value`). */
export type Parameters = Map<string, BareItem>;
export interface Item {
  value: BareItem;
  params: Parameters;
}
export interface InnerList {
  items: Item[];
  params: Parameters;
}
export type Member = Item | InnerList;
/** Ordered dictionary; a repeated key overwrites the value and keeps the first position (RFC 8941 4.2.2). */
export type Dictionary = Map<string, Member>;

export function isInnerList(member: Member): member is InnerList {
  return 'items' in member;
}

const MAX_INTEGER = 999_999_999_999_999;
const TOKEN_FIRST = /^[A-Za-z*]$/;
// Whole-value patterns for serialization, and sticky run patterns for the parser: one RegExp
// call per key, token or string instead of one per character (verification parses three fields
// and serializes every covered component identifier per request).
const KEY = /^[a-z*][a-z0-9_\-.*]*$/;
// Tokens: tchar (RFC 9110) plus ":" and "/".
const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;
const KEY_RUN = /[a-z*][a-z0-9_\-.*]*/y;
const TOKEN_RUN = /[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/y;
const BASE64_RUN = /[A-Za-z0-9+/=]*/y;
const STRING_RUN = /[^"\\\t]*/y;
const PRINTABLE = /^[\x20-\x7e]*$/;
const NEEDS_ESCAPE = /[\\"]/;

class Parser {
  private position = 0;

  constructor(
    private readonly input: string,
    private readonly fieldName: string,
  ) {
    for (let i = 0; i < input.length; i++) {
      const code = input.charCodeAt(i);
      // Field values are visible ASCII, SP and HTAB only (RFC 8941 4.2: fail on non-ASCII).
      if ((code < 0x20 && code !== 0x09) || code > 0x7e) this.fail('contains a character outside visible ASCII');
    }
  }

  fail(reason: string): never {
    throw new SignatureMalformed(`${this.fieldName} is not a valid structured field: ${reason} (at ${this.position})`);
  }

  private peek(): string | undefined {
    return this.input[this.position];
  }

  private atEnd(): boolean {
    return this.position >= this.input.length;
  }

  private skipSpaces(): void {
    while (this.input[this.position] === ' ') this.position++;
  }

  private skipOws(): void {
    while (this.input[this.position] === ' ' || this.input[this.position] === '\t') this.position++;
  }

  /** Runs `parse` over the whole field value, allowing only surrounding spaces. */
  top<T>(parse: () => T): T {
    this.skipSpaces();
    const value = parse();
    this.skipSpaces();
    if (!this.atEnd()) this.fail('unexpected trailing characters');
    return value;
  }

  dictionary(): Dictionary {
    const dictionary: Dictionary = new Map();
    while (!this.atEnd()) {
      const key = this.key();
      let member: Member;
      if (this.peek() === '=') {
        this.position++;
        member = this.itemOrInnerList();
      } else {
        member = { value: true, params: this.parameters() };
      }
      dictionary.set(key, member);
      if (!this.separator()) break;
    }
    return dictionary;
  }

  list(): Member[] {
    const members: Member[] = [];
    while (!this.atEnd()) {
      members.push(this.itemOrInnerList());
      if (!this.separator()) break;
    }
    return members;
  }

  /** After a list/dictionary member: `false` at the end, `true` after a comma that is followed by more. */
  private separator(): boolean {
    this.skipOws();
    if (this.atEnd()) return false;
    if (this.peek() !== ',') this.fail('expected "," between members');
    this.position++;
    this.skipOws();
    if (this.atEnd()) this.fail('trailing comma');
    return true;
  }

  itemOrInnerList(): Member {
    return this.peek() === '(' ? this.innerList() : this.item();
  }

  private innerList(): InnerList {
    this.position++;
    const items: Item[] = [];
    for (;;) {
      this.skipSpaces();
      if (this.atEnd()) this.fail('unterminated inner list');
      if (this.peek() === ')') {
        this.position++;
        return { items, params: this.parameters() };
      }
      items.push(this.item());
      const next = this.peek();
      if (next !== ' ' && next !== ')') this.fail('expected " " or ")" in inner list');
    }
  }

  item(): Item {
    const value = this.bareItem();
    return { value, params: this.parameters() };
  }

  private bareItem(): BareItem {
    const c = this.peek();
    if (c === undefined) this.fail('expected an item');
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === '"') return this.string();
    if (c === ':') return this.byteSequence();
    if (c === '?') return this.boolean();
    if (TOKEN_FIRST.test(c)) return this.token();
    return this.fail(`unexpected character ${JSON.stringify(c)}`);
  }

  private parameters(): Parameters {
    const params: Parameters = new Map();
    while (this.peek() === ';') {
      this.position++;
      this.skipSpaces();
      const key = this.key();
      let value: BareItem = true;
      if (this.peek() === '=') {
        this.position++;
        value = this.bareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  private key(): string {
    KEY_RUN.lastIndex = this.position;
    if (!KEY_RUN.test(this.input)) this.fail('expected a key');
    const start = this.position;
    this.position = KEY_RUN.lastIndex;
    return this.input.slice(start, this.position);
  }

  private number(): number | Decimal {
    let sign = 1;
    if (this.peek() === '-') {
      sign = -1;
      this.position++;
    }
    const digitsStart = this.position;
    let dot = -1;
    while (!this.atEnd()) {
      const c = this.input[this.position]!;
      if (c >= '0' && c <= '9') {
        this.position++;
      } else if (c === '.' && dot < 0) {
        if (this.position - digitsStart > 12) this.fail('decimal has more than 12 integer digits');
        dot = this.position++;
      } else {
        break;
      }
      if (dot < 0 && this.position - digitsStart > 15) this.fail('integer has more than 15 digits');
      if (dot >= 0 && this.position - digitsStart > 16) this.fail('decimal is too long');
    }
    const text = this.input.slice(digitsStart, this.position);
    if (text.length === 0 || text[0] === '.') this.fail('expected a digit');
    // `+ 0` turns -0 into 0: structured field numbers have no signed zero ("-0" is the integer 0).
    if (dot < 0) return sign * Number.parseInt(text, 10) + 0;
    const fraction = this.position - dot - 1;
    if (fraction < 1 || fraction > 3) this.fail('decimal needs 1 to 3 fractional digits');
    return new Decimal(sign * Number.parseFloat(text) + 0);
  }

  private string(): string {
    this.position++;
    let out = '';
    for (;;) {
      STRING_RUN.lastIndex = this.position;
      STRING_RUN.test(this.input);
      if (STRING_RUN.lastIndex > this.position) {
        out += this.input.slice(this.position, STRING_RUN.lastIndex);
        this.position = STRING_RUN.lastIndex;
      }
      if (this.atEnd()) this.fail('unterminated string');
      const c = this.input[this.position++]!;
      if (c === '\\') {
        const next = this.input[this.position++];
        if (next !== '"' && next !== '\\') this.fail('invalid escape in string');
        out += next;
      } else if (c === '"') {
        return out;
      } else {
        this.fail('tab in string');
      }
    }
  }

  private token(): Token {
    const start = this.position;
    TOKEN_RUN.lastIndex = start;
    TOKEN_RUN.test(this.input);
    this.position = TOKEN_RUN.lastIndex;
    return new Token(this.input.slice(start, this.position));
  }

  private byteSequence(): Uint8Array {
    this.position++;
    const start = this.position;
    BASE64_RUN.lastIndex = start;
    BASE64_RUN.test(this.input);
    this.position = BASE64_RUN.lastIndex;
    if (!this.atEnd() && this.peek() !== ':') this.fail('invalid character in byte sequence');
    if (this.atEnd()) this.fail('unterminated byte sequence');
    const encoded = this.input.slice(start, this.position);
    this.position++;
    // "=" may only pad the end; fromBase64 strips trailing padding, so reject it elsewhere.
    const bytes = /=[^=]/.test(encoded) ? undefined : fromBase64(encoded);
    if (!bytes) this.fail('invalid base64 in byte sequence');
    return bytes;
  }

  private boolean(): boolean {
    this.position++;
    const c = this.input[this.position++];
    if (c === '1') return true;
    if (c === '0') return false;
    return this.fail('invalid boolean');
  }
}

/**
 * Parses a Dictionary field value (e.g. `Signature-Input`, `Signature`, `Content-Digest`).
 * Throws `SignatureMalformed` naming `fieldName` on any syntax error.
 *
 * @example
 * ```ts
 * const dict = parseDictionary('sig=:3q2+7w==:', 'Signature');
 * dict.get('sig'); // { value: Uint8Array [0xde, 0xad, 0xbe, 0xef], params: Map {} }
 * ```
 */
export function parseDictionary(input: string, fieldName = 'field'): Dictionary {
  const parser = new Parser(input, fieldName);
  return parser.top(() => parser.dictionary());
}

/**
 * Parses a List field value.
 *
 * @example
 * ```ts
 * parseList('sha-256, sha-512', 'Want-Content-Digest');
 * ```
 */
export function parseList(input: string, fieldName = 'field'): Member[] {
  const parser = new Parser(input, fieldName);
  return parser.top(() => parser.list());
}

/**
 * Parses an Item field value.
 *
 * @example
 * ```ts
 * parseItem('"@method"', 'component'); // { value: '@method', params: Map {} }
 * ```
 */
export function parseItem(input: string, fieldName = 'field'): Item {
  const parser = new Parser(input, fieldName);
  return parser.top(() => parser.item());
}

function serializeKey(key: string): string {
  if (!KEY.test(key)) {
    throw new TypeError(`invalid structured field key ${JSON.stringify(key)}`);
  }
  return key;
}

/**
 * RFC 8941 4.1.5: at most 3 fractional digits, rounded half to even, at most 12 integer digits.
 * Rounds the shortest decimal text of the number (what the caller wrote: 0.0025 -> "0.002"), not its
 * binary expansion (0.00250000000000000005 would round up), and never with Math.round, which rounds
 * halves up (0.0025 -> 0.003, -0.0015 -> -0.001).
 */
function serializeDecimal(value: number): string {
  if (!Number.isFinite(value) || Math.abs(value) >= 1e12) {
    throw new TypeError(`structured field decimal out of range: ${value}`);
  }
  // Below 1e-6 String() switches to exponent notation; such values round to zero anyway.
  const text = Math.abs(value) < 1e-6 ? '0' : String(Math.abs(value));
  const [whole = '0', fraction = ''] = text.split('.');
  let scaled = whole + fraction.slice(0, 3).padEnd(3, '0');
  const dropped = fraction.slice(3);
  if (dropped !== '') {
    const first = dropped[0]!;
    const moreThanHalf = first > '5' || (first === '5' && /[1-9]/.test(dropped.slice(1)));
    const exactHalf = first === '5' && !moreThanHalf;
    const odd = Number(scaled[scaled.length - 1]) % 2 === 1;
    if (moreThanHalf || (exactHalf && odd)) scaled = (BigInt(scaled) + 1n).toString().padStart(4, '0');
  }
  const integer = scaled.slice(0, -3).replace(/^0+(?=\d)/, '') || '0';
  if (integer.length > 12) throw new TypeError(`structured field decimal out of range: ${value}`);
  const digits = scaled.slice(-3).replace(/0+$/, '') || '0';
  const negative = value < 0 && (integer !== '0' || digits !== '0');
  return `${negative ? '-' : ''}${integer}.${digits}`;
}

/**
 * Serialises a bare item (RFC 8941 section 4.1.3).
 *
 * @example
 * ```ts
 * serializeBareItem('hello'); // '"hello"'
 * serializeBareItem(new Token('sha-256')); // 'sha-256'
 * ```
 */
export function serializeBareItem(value: BareItem): string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || Math.abs(value) > MAX_INTEGER) {
      throw new TypeError(`structured field integers must be integers within 15 digits, got ${value}`);
    }
    return String(value);
  }
  if (value instanceof Decimal) return serializeDecimal(value.value);
  if (typeof value === 'string') {
    if (!PRINTABLE.test(value)) throw new TypeError('structured field strings must be printable ASCII');
    return NEEDS_ESCAPE.test(value) ? `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"` : `"${value}"`;
  }
  if (value instanceof Token) {
    const v = value.value;
    if (!TOKEN.test(v)) {
      throw new TypeError(`invalid structured field token ${JSON.stringify(v)}`);
    }
    return v;
  }
  if (value instanceof Uint8Array) return `:${toBase64(value)}:`;
  if (typeof value === 'boolean') return value ? '?1' : '?0';
  throw new TypeError('unsupported structured field value');
}

/**
 * Serialises parameters (`;key=value`, with `;key` for boolean true).
 *
 * @example
 * ```ts
 * serializeParameters(new Map([['created', 1618884473], ['keyid', 'k']])); // ';created=1618884473;keyid="k"'
 * ```
 */
export function serializeParameters(params: Parameters): string {
  // Most members carry no parameters: skip the Map iterator.
  if (params.size === 0) return '';
  let out = '';
  for (const [key, value] of params) {
    out += `;${serializeKey(key)}`;
    if (value !== true) out += `=${serializeBareItem(value)}`;
  }
  return out;
}

/**
 * Serialises an item or an inner list with their parameters.
 *
 * @example
 * ```ts
 * serializeMember({ items: [{ value: '@method', params: new Map() }], params: new Map() }); // '("@method")'
 * ```
 */
export function serializeMember(member: Member): string {
  if (isInnerList(member)) {
    return `(${member.items.map(serializeMember).join(' ')})${serializeParameters(member.params)}`;
  }
  return serializeBareItem(member.value) + serializeParameters(member.params);
}

/**
 * Serialises a dictionary (`a=1, b;x, c=(...)`).
 *
 * @example
 * ```ts
 * serializeDictionary(new Map([['sha-256', { value: digest, params: new Map() }]])); // 'sha-256=:...:'
 * ```
 */
export function serializeDictionary(dictionary: Dictionary): string {
  const parts: string[] = [];
  for (const [key, member] of dictionary) {
    if (!isInnerList(member) && member.value === true)
      parts.push(serializeKey(key) + serializeParameters(member.params));
    else parts.push(`${serializeKey(key)}=${serializeMember(member)}`);
  }
  return parts.join(', ');
}

/**
 * Serialises a list.
 *
 * @example
 * ```ts
 * serializeList([{ value: new Token('sha-256'), params: new Map() }]); // 'sha-256'
 * ```
 */
export function serializeList(members: readonly Member[]): string {
  return members.map(serializeMember).join(', ');
}

// Standard base64 values by character code (A-Z, a-z, 0-9, "+", "/"); -1 for every other character.
const STANDARD_BASE64_VALUES = new Int8Array(128).fill(-1);
for (let index = 0; index < 64; index++) {
  STANDARD_BASE64_VALUES['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(index)] = index;
}

function base64Value(c: number): number {
  return c < 128 ? STANDARD_BASE64_VALUES[c]! : -1;
}

/**
 * The bytes of the plain byte sequence that runs from `text[start]` to the end of `text`, when that
 * rest reads `[A-Za-z0-9+/]*={0,2}:` (the ":" last) and decodes; else undefined. What the fast
 * paths matched with the regular expression `=:([A-Za-z0-9+/]*={0,2}):$` and decoded with
 * fromStandardBase64(), in one scan: up to two "=" are padding, a remainder of one character
 * after them does not decode (undefined), and bits left over after the last byte are ignored, as
 * fromStandardBase64() does (property-tested against it in test/plain-byte-sequence.test.ts).
 */
export function plainByteSequence(text: string, start: number): Uint8Array | undefined {
  let end = text.length - 1;
  if (end < start || text.charCodeAt(end) !== 0x3a /* : */) return undefined;
  if (end > start && text.charCodeAt(end - 1) === 0x3d /* = */) {
    end--;
    if (end > start && text.charCodeAt(end - 1) === 0x3d) end--;
  }
  const count = end - start;
  const rest = count & 3;
  if (rest === 1) return undefined;
  const out = new Uint8Array((count >> 2) * 3 + (rest === 0 ? 0 : rest - 1));
  const whole = start + count - rest;
  let i = start;
  let o = 0;
  while (i < whole) {
    const a = base64Value(text.charCodeAt(i));
    const b = base64Value(text.charCodeAt(i + 1));
    const c = base64Value(text.charCodeAt(i + 2));
    const d = base64Value(text.charCodeAt(i + 3));
    if ((a | b | c | d) < 0) return undefined;
    const bits = (a << 18) | (b << 12) | (c << 6) | d;
    out[o] = bits >> 16;
    out[o + 1] = (bits >> 8) & 0xff;
    out[o + 2] = bits & 0xff;
    o += 3;
    i += 4;
  }
  if (rest !== 0) {
    const a = base64Value(text.charCodeAt(i));
    const b = base64Value(text.charCodeAt(i + 1));
    const c = rest === 3 ? base64Value(text.charCodeAt(i + 2)) : 0;
    if ((a | b | c) < 0) return undefined;
    const bits = (a << 18) | (b << 12) | (c << 6);
    out[o] = bits >> 16;
    if (rest === 3) out[o + 1] = (bits >> 8) & 0xff;
  }
  return out;
}
