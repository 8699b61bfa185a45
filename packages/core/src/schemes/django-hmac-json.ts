/**
 * Reproduces, byte for byte, what a django_hmac_authentication server hashes:
 * `json.dumps(request.data, separators=(',', ':'))` with Python's defaults
 * (`ensure_ascii=True`, insertion order, `repr()` floats) after Django REST
 * framework parsed the body. JavaScript's JSON.parse/stringify differ in every one
 * of those points, so this is a small JSON reader/writer of its own.
 */

import { BodyAmbiguous, HmacKitError } from '../errors.js';

/** A body the Python side would refuse to parse (DRF answers 400 there); verifiers report it as `SignatureInvalid`. */
export class PythonJsonError extends HmacKitError {
  static override code = 'ERR_DJANGO_BODY_UNPARSEABLE' as const;
  override readonly code = PythonJsonError.code;
}

/** A parsed JSON value that remembers what Python would have made of each number. */
type PyValue =
  | { kind: 'null' }
  | { kind: 'bool'; value: boolean }
  | { kind: 'int'; digits: string }
  | { kind: 'float'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'list'; items: PyValue[] }
  | { kind: 'dict'; entries: Map<string, PyValue> };

/** CPython's default limit on int <-> str conversion (3.11+); longer ints fail to parse there. */
const MAX_INT_DIGITS = 4300;
/** Deeper nesting ends in RecursionError on the Python side (default limit 1000). */
const MAX_DEPTH = 900;

class Reader {
  /** Where reading continues (also set and read by {@link directSerialization}, which borrows `parseString`). */
  position = 0;
  constructor(
    private readonly text: string,
    /** Refuse a repeated object name (`BodyAmbiguous`) instead of keeping the last value as Python does. */
    private readonly refuseRepeatedNames = false,
  ) {}

  parseDocument(): PyValue {
    this.skipWhitespace();
    const value = this.parseValue(0);
    this.skipWhitespace();
    if (this.position !== this.text.length) throw new PythonJsonError('extra data after JSON value');
    return value;
  }

  private skipWhitespace() {
    while (this.position < this.text.length && ' \t\n\r'.includes(this.text[this.position]!)) this.position++;
  }

  private parseValue(depth: number): PyValue {
    if (depth > MAX_DEPTH) throw new PythonJsonError('nesting too deep');
    const char = this.text[this.position];
    if (char === '{') return this.parseObject(depth);
    if (char === '[') return this.parseArray(depth);
    if (char === '"') return { kind: 'str', value: this.parseString() };
    if (this.text.startsWith('null', this.position)) {
      this.position += 4;
      return { kind: 'null' };
    }
    if (this.text.startsWith('true', this.position)) {
      this.position += 4;
      return { kind: 'bool', value: true };
    }
    if (this.text.startsWith('false', this.position)) {
      this.position += 5;
      return { kind: 'bool', value: false };
    }
    // NaN / Infinity literals: DRF parses with strict_constant and refuses them.
    return this.parseNumber();
  }

  private parseObject(depth: number): PyValue {
    this.position++;
    const entries = new Map<string, PyValue>();
    this.skipWhitespace();
    if (this.text[this.position] === '}') {
      this.position++;
      return { kind: 'dict', entries };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.position] !== '"') throw new PythonJsonError('expected a property name');
      const name = this.parseString();
      this.skipWhitespace();
      if (this.text[this.position] !== ':') throw new PythonJsonError("expected ':'");
      this.position++;
      this.skipWhitespace();
      // A repeated key keeps its first position and takes the last value, like a Python dict. Other
      // parsers keep the first: a verifier that forwards the body refuses the ambiguity instead.
      if (this.refuseRepeatedNames && entries.has(name)) {
        throw new BodyAmbiguous('a JSON object repeats a name; parsers disagree on which value counts');
      }
      entries.set(name, this.parseValue(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.position++];
      if (next === '}') return { kind: 'dict', entries };
      if (next !== ',') throw new PythonJsonError("expected ',' or '}'");
    }
  }

  private parseArray(depth: number): PyValue {
    this.position++;
    const items: PyValue[] = [];
    this.skipWhitespace();
    if (this.text[this.position] === ']') {
      this.position++;
      return { kind: 'list', items };
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.parseValue(depth + 1));
      this.skipWhitespace();
      const next = this.text[this.position++];
      if (next === ']') return { kind: 'list', items };
      if (next !== ',') throw new PythonJsonError("expected ',' or ']'");
    }
  }

  parseString(): string {
    this.position++;
    let out = '';
    for (;;) {
      const char = this.text[this.position++];
      if (char === undefined) throw new PythonJsonError('unterminated string');
      if (char === '"') return out;
      if (char < ' ') throw new PythonJsonError('control character in string');
      if (char !== '\\') {
        out += char;
        continue;
      }
      const escaped = this.text[this.position++];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (escaped !== undefined && escaped in simple) out += simple[escaped];
      else if (escaped === 'u') {
        const hex = this.text.slice(this.position, this.position + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new PythonJsonError('invalid \\u escape');
        this.position += 4;
        // Code units are kept as they are: JS strings are UTF-16 like Python's escapes, lone surrogates included.
        out += String.fromCharCode(Number.parseInt(hex, 16));
      } else throw new PythonJsonError('invalid escape');
    }
  }

  private parseNumber(): PyValue {
    const match = /^(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/.exec(
      this.text.slice(this.position, this.position + 100_000),
    );
    if (!match) throw new PythonJsonError('expected a value');
    this.position += match[0].length;
    if (match[2] === undefined && match[3] === undefined) {
      const digits = match[1]!.replace(/^-?0$/, '0');
      if (digits.replace('-', '').length > MAX_INT_DIGITS) throw new PythonJsonError('integer too long');
      return { kind: 'int', digits };
    }
    return { kind: 'float', value: Number(match[0]) };
  }
}

/** Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4 <= |x| < 1e16. */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa, exponentText] = Math.abs(value).toExponential().split('e') as [string, string];
  const digits = mantissa.replace('.', '');
  const decimalPoint = Number(exponentText) + 1;
  if (decimalPoint <= -4 || decimalPoint > 16) {
    const exponent = decimalPoint - 1;
    const rest = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${rest}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  if (decimalPoint <= 0) return `${sign}0.${'0'.repeat(-decimalPoint)}${digits}`;
  if (decimalPoint >= digits.length) return `${sign}${digits}${'0'.repeat(decimalPoint - digits.length)}.0`;
  return `${sign}${digits.slice(0, decimalPoint)}.${digits.slice(decimalPoint)}`;
}

const PY_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** `json.dumps(str)` with `ensure_ascii=True`: everything outside space..tilde escaped, `\uXXXX` lower-case. */
function pythonString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const char = value[i]!;
    const code = value.charCodeAt(i);
    if (PY_ESCAPES[char]) out += PY_ESCAPES[char];
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += char;
  }
  return `${out}"`;
}

function dump(value: PyValue): string {
  switch (value.kind) {
    case 'null':
      return 'null';
    case 'bool':
      return value.value ? 'true' : 'false';
    case 'int':
      return value.digits;
    case 'float':
      return pythonFloatRepr(value.value);
    case 'str':
      return pythonString(value.value);
    case 'list':
      return `[${value.items.map(dump).join(',')}]`;
    case 'dict':
      return `{${[...value.entries].map(([k, v]) => `${pythonString(k)}:${dump(v)}`).join(',')}}`;
  }
}

/** Python's truthiness of the parsed value: `if not data` skips the body hash. */
function isFalsy(value: PyValue): boolean {
  switch (value.kind) {
    case 'null':
      return true;
    case 'bool':
      return !value.value;
    case 'int':
      return value.digits === '0';
    case 'float':
      return value.value === 0;
    case 'str':
      return value.value === '';
    case 'list':
      return value.items.length === 0;
    case 'dict':
      return value.entries.size === 0;
  }
}

/**
 * What django_hmac_authentication hashes for a JSON body: the text it would get from
 * `json.dumps(json.loads(body), separators=(',', ':'))`, or `null` when the parsed
 * data is falsy (`None`, `{}`, `[]`, `""`, `0`, `false`) and no body hash is signed.
 * Throws {@link PythonJsonError} where DRF would answer 400.
 *
 * @example
 * ```ts
 * djangoJsonSerialization('{"name": "Jürgen", "x": 1.0}'); // '{"name":"J\\u00fcrgen","x":1.0}'
 * ```
 */
export function djangoJsonSerialization(body: string, options: DjangoBodyOptions = {}): string | null {
  const refuseRepeatedNames = options.refuseRepeatedNames === true;
  const direct = directSerialization(body);
  if (direct !== undefined) return FALSY_SERIALIZATIONS.has(direct) ? null : direct;
  return treeJsonSerialization(body, { refuseRepeatedNames });
}

/**
 * The general path of {@link djangoJsonSerialization} alone (a tree, then {@link dump}): the
 * reference the one-pass serialisation is tested against. Not part of the package's API.
 *
 * @example
 * ```ts
 * treeJsonSerialization('{"a": 1.0}'); // '{"a":1.0}'
 * ```
 */
export function treeJsonSerialization(body: string, options: DjangoBodyOptions = {}): string | null {
  const value = new Reader(body, options.refuseRepeatedNames === true).parseDocument();
  return isFalsy(value) ? null : dump(value);
}

/** What {@link dump} writes for exactly the values Python finds falsy (see {@link isFalsy}). */
const FALSY_SERIALIZATIONS = new Set(['null', 'false', '0', '0.0', '-0.0', '""', '[]', '{}']);

enum Char {
  Tab = 0x09,
  Newline = 0x0a,
  Return = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Comma = 0x2c,
  Minus = 0x2d,
  Colon = 0x3a,
  OpenBracket = 0x5b,
  Backslash = 0x5c,
  CloseBracket = 0x5d,
  OpenBrace = 0x7b,
  CloseBrace = 0x7d,
  Tilde = 0x7e,
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;

/**
 * {@link Reader} + {@link dump} in one pass over the text, without building a tree: strings of
 * printable ASCII without escapes are copied as they are (what {@link pythonString} would write),
 * everything else goes through the same functions as the general path. Returns `undefined`
 * wherever the general path must decide: any error (so its error and message are the ones
 * thrown), a repeated name (merged as Python does, or refused), nesting beyond {@link MAX_DEPTH}.
 * (A 1 KiB JSON body: ~5x faster than the tree; issue #15.)
 */
function directSerialization(text: string): string | undefined {
  const writer = new DirectWriter(text);
  return writer.document() ? writer.result() : undefined;
}

/**
 * The state of {@link directSerialization}. The output is the input with whitespace dropped and
 * the few tokens Python writes differently replaced (`-0`, floats, strings with escapes or
 * non-ASCII): it is kept as "the input up to `copied`, as written" plus replacements, so a compact
 * body whose tokens Python writes unchanged costs one slice.
 */
class DirectWriter {
  private position = 0;
  private copied = 0;
  private out = '';
  /** What the string just read decoded to (object names are checked for repeats). */
  private name = '';

  constructor(private readonly text: string) {}

  document(): boolean {
    this.skipWhitespace();
    if (!this.value(0)) return false;
    this.skipWhitespace();
    return this.position === this.text.length;
  }

  result(): string {
    return this.copied === 0 ? this.text : this.out + this.text.slice(this.copied);
  }

  /** The input from `from` to `to` is written as `replacement`. */
  private replace(from: number, to: number, replacement: string): void {
    this.out += this.text.slice(this.copied, from) + replacement;
    this.copied = to;
  }

  private skipWhitespace(): void {
    const text = this.text;
    const start = this.position;
    let position = start;
    for (;;) {
      const code = text.charCodeAt(position);
      if (code !== Char.Space && code !== Char.Tab && code !== Char.Newline && code !== Char.Return) break;
      position++;
    }
    if (position !== start) {
      this.replace(start, position, '');
      this.position = position;
    }
  }

  private value(depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    const text = this.text;
    const position = this.position;
    const code = text.charCodeAt(position);
    if (code === Char.OpenBrace) return this.object(depth);
    if (code === Char.OpenBracket) return this.array(depth);
    if (code === Char.Quote) return this.string();
    const literal = text.startsWith('null', position)
      ? 4
      : text.startsWith('true', position)
        ? 4
        : text.startsWith('false', position)
          ? 5
          : 0;
    if (literal === 0) return this.number();
    this.position += literal;
    return true;
  }

  /** The string at `position` (an opening quote); false: the general path decides. */
  private string(): boolean {
    const text = this.text;
    const start = this.position;
    const length = text.length;
    let index = start + 1;
    for (;;) {
      if (index >= length) return false;
      const code = text.charCodeAt(index);
      if (code === Char.Quote) break;
      if (code < Char.Space || code > Char.Tilde || code === Char.Backslash) {
        // Escapes, control or non-ASCII characters: decoded and re-encoded as the general path does.
        const reader = new Reader(text);
        reader.position = start;
        try {
          this.name = reader.parseString();
        } catch {
          return false;
        }
        this.position = reader.position;
        this.replace(start, reader.position, pythonString(this.name));
        return true;
      }
      index++;
    }
    // Printable ASCII without escapes: pythonString() would write it as it is.
    this.name = text.slice(start + 1, index);
    this.position = index + 1;
    return true;
  }

  private number(): boolean {
    NUMBER.lastIndex = this.position;
    const match = NUMBER.exec(this.text);
    if (match === null) return false;
    const written = match[0];
    // The general path reads a number from at most 100,000 characters: longer ones are its to judge.
    if (written.length >= 100_000) return false;
    const start = this.position;
    this.position += written.length;
    if (match[1] === undefined && match[2] === undefined) {
      if (written.length - (written.charCodeAt(0) === Char.Minus ? 1 : 0) > MAX_INT_DIGITS) return false;
      if (written === '-0') this.replace(start, this.position, '0');
      return true;
    }
    const repr = pythonFloatRepr(Number(written));
    if (repr !== written) this.replace(start, this.position, repr);
    return true;
  }

  private object(depth: number): boolean {
    const text = this.text;
    this.position++;
    this.skipWhitespace();
    if (text.charCodeAt(this.position) === Char.CloseBrace) {
      this.position++;
      return true;
    }
    let seen: string[] | Set<string> = [];
    for (;;) {
      this.skipWhitespace();
      if (text.charCodeAt(this.position) !== Char.Quote || !this.string()) return false;
      const name = this.name;
      // Python merges a repeated name (first position, last value); the general path merges or refuses it.
      if (Array.isArray(seen)) {
        if (seen.includes(name)) return false;
        seen.push(name);
        if (seen.length > 16) seen = new Set(seen);
      } else {
        if (seen.has(name)) return false;
        seen.add(name);
      }
      this.skipWhitespace();
      if (text.charCodeAt(this.position) !== Char.Colon) return false;
      this.position++;
      this.skipWhitespace();
      if (!this.value(depth + 1)) return false;
      this.skipWhitespace();
      const next = text.charCodeAt(this.position++);
      if (next === Char.CloseBrace) return true;
      if (next !== Char.Comma) return false;
    }
  }

  private array(depth: number): boolean {
    const text = this.text;
    this.position++;
    this.skipWhitespace();
    if (text.charCodeAt(this.position) === Char.CloseBracket) {
      this.position++;
      return true;
    }
    for (;;) {
      this.skipWhitespace();
      if (!this.value(depth + 1)) return false;
      this.skipWhitespace();
      const next = text.charCodeAt(this.position++);
      if (next === Char.CloseBracket) return true;
      if (next !== Char.Comma) return false;
    }
  }
}

/** Options of the body serialisations. */
export interface DjangoBodyOptions {
  /**
   * Throw `BodyAmbiguous` for a JSON object name or a form field that appears twice. Python keeps
   * the last value and signs only that one; an upstream that keeps the first would act on bytes
   * nobody signed. Verifiers set it; the default reproduces Python exactly.
   */
  refuseRepeatedNames?: boolean;
}

/**
 * The same for an `application/x-www-form-urlencoded` body: Django's QueryDict
 * (`parse_qsl`, blank values kept, `+` as space) serialised as a dict of each
 * key's *last* value, keys in order of first appearance.
 *
 * @example
 * ```ts
 * djangoFormSerialization('a=1&b=x+y&a=2'); // '{"a":"2","b":"x y"}'
 * ```
 */
export function djangoFormSerialization(body: string, options: DjangoBodyOptions = {}): string | null {
  const entries = djangoFormEntries(body, options);
  return entries.size === 0 ? null : dump({ kind: 'dict', entries: new Map([...entries].map(toPyStr)) });
}

function toPyStr([name, value]: [string, string]): [string, PyValue] {
  return [name, { kind: 'str', value }];
}

/** The decoded fields of a form body as Django's QueryDict reads them: each name's last value, in first-seen order. */
function djangoFormEntries(body: string, options: DjangoBodyOptions): Map<string, string> {
  const entries = new Map<string, string>();
  for (const piece of body.split('&')) {
    if (piece === '') continue;
    const equals = piece.indexOf('=');
    const name = formUnquote(equals < 0 ? piece : piece.slice(0, equals));
    if (options.refuseRepeatedNames && entries.has(name)) {
      throw new BodyAmbiguous('a form field appears twice; django-hmac signs only its last value');
    }
    entries.set(name, formUnquote(equals < 0 ? '' : piece.slice(equals + 1)));
  }
  return entries;
}

/**
 * A form body re-encoded from exactly the fields the signature covers (each name once, in the
 * signed order, UTF-8 percent-encoded as Python's `urlencode`), so every form parser reads the
 * values that were hashed: no `;` separators, no undecodable escapes, no repeated names.
 *
 * @example
 * ```ts
 * djangoCanonicalForm('b=x+y&a=%C3%A9'); // 'b=x+y&a=%C3%A9'
 * ```
 */
export function djangoCanonicalForm(body: string): string {
  return [...djangoFormEntries(body, { refuseRepeatedNames: true })]
    .map(([name, value]) => `${formQuote(name)}=${formQuote(value)}`)
    .join('&');
}

/** `urllib.parse.quote_plus`: unreserved characters as they are, space as `+`, the rest as UTF-8 escapes. */
function formQuote(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

const lenientUtf8 = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

/** `urllib.parse.unquote_plus(..., errors='replace')`. */
function formUnquote(text: string): string {
  const bytes: number[] = [];
  for (const piece of text.replace(/\+/g, ' ').split(/(%[0-9a-fA-F]{2})/)) {
    if (/^%[0-9a-fA-F]{2}$/.test(piece)) bytes.push(Number.parseInt(piece.slice(1), 16));
    else bytes.push(...textEncoder.encode(piece));
  }
  return lenientUtf8.decode(new Uint8Array(bytes));
}

/**
 * Code points CPython's `str.isprintable()` refuses (its `repr()` escapes them): categories Cc, Cf,
 * Cs, Co, Cn, Zl, Zp and Zs other than the space. Read from the runtime's Unicode database, which
 * may be newer than the client's Python's (see docs/protocol-legacy.md).
 */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** `repr(str)` as CPython writes it: quote choice, `\\`, `\t\n\r`, `\xhh`, `\uhhhh`, `\Uhhhhhhhh`. */
function pythonStrRepr(value: string): string {
  // Single quotes unless the text has a single quote and no double quote.
  const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (char === quote || char === '\\') out += `\\${char}`;
    else if (char === '\t') out += '\\t';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code < 0x7f) out += char;
    else if (!NOT_PRINTABLE.test(char)) out += char;
    else if (code <= 0xff) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code <= 0xffff) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += `\\U${code.toString(16).padStart(8, '0')}`;
  }
  return out + quote;
}

/** `repr(float)`: as json.dumps writes it, but `inf`, `-inf`, `nan` (json.loads makes `1e400` an inf). */
function pythonFloatReprOfRepr(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  if (value === Number.NEGATIVE_INFINITY) return '-inf';
  return pythonFloatRepr(value);
}

function pythonRepr(value: PyValue): string {
  switch (value.kind) {
    case 'null':
      return 'None';
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'int':
      return value.digits;
    case 'float':
      return pythonFloatReprOfRepr(value.value);
    case 'str':
      return pythonStrRepr(value.value);
    case 'list':
      return `[${value.items.map(pythonRepr).join(', ')}]`;
    case 'dict':
      return `{${[...value.entries].map(([k, v]) => `${pythonStrRepr(k)}: ${pythonRepr(v)}`).join(', ')}}`;
  }
}

/**
 * CPython's `str(json.loads(body))`: what a client signs when it does
 * `hmac.new(key, str(payload).encode(), sha256)` and sends `requests.post(url, json=payload)`.
 * Dicts keep insertion order (a repeated key: first position, last value), strings are `repr()`ed
 * with CPython's quote choice and escapes, `True`/`False`/`None`, ints exactly as written, floats
 * as `repr(float)`. A top-level string is returned as is (`str()` of a str). Throws
 * {@link PythonJsonError} for text `json.loads` refuses.
 *
 * @example
 * ```ts
 * pythonStrOfJson('{"a": 1, "b": [true, null, 1.0], "c": "it\'s"}');
 * // `{'a': 1, 'b': [True, None, 1.0], 'c': "it's"}`
 * ```
 */
export function pythonStrOfJson(body: string): string {
  const value = new Reader(body).parseDocument();
  return value.kind === 'str' ? value.value : pythonRepr(value);
}
