/**
 * The reference model of what a django_hmac_authentication server hashes: Python's `json.loads`
 * (a tree that remembers what Python makes of each number) and `json.dumps(data, separators=(',', ':'))`
 * with Python's defaults (`ensure_ascii=True`, insertion order, `repr()` floats). JavaScript's
 * JSON.parse/stringify differ in every one of those points, so this is a small JSON reader/writer
 * of its own. The one-pass serialiser (`python-json-bytes.ts`) is held to it by property tests.
 */

import { BodyAmbiguous, HmacKitError } from '../../errors.js';

/** A body the Python side would refuse to parse (DRF answers 400 there); verifiers report it as `SignatureInvalid`. */
export class PythonJsonError extends HmacKitError {
  static override code = 'ERR_DJANGO_BODY_UNPARSEABLE' as const;
  override readonly code = PythonJsonError.code;
}

/** A parsed JSON value that remembers what Python would have made of each number. */
export type PyValue =
  | { kind: 'null' }
  | { kind: 'bool'; value: boolean }
  | { kind: 'int'; digits: string }
  | { kind: 'float'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'list'; items: PyValue[] }
  | { kind: 'dict'; entries: Map<string, PyValue> };

/** CPython's default limit on int <-> str conversion (3.11+); longer ints fail to parse there. */
export const MAX_INT_DIGITS = 4300;
/** Deeper nesting ends in RecursionError on the Python side (default limit 1000). */
export const MAX_DEPTH = 900;

export class Reader {
  /** Where reading continues. */
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

export function dump(value: PyValue): string {
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
 * `json.dumps(json.loads(body), separators=(',', ':'))`, or `null` when the parsed data is falsy: the
 * general path of `djangoJsonSerialization` (a tree, then {@link dump}), and the reference the
 * one-pass serialisation (`python-json-bytes.ts`) is tested against. Not part of the package's API.
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

/** Options of the body serialisations. */
export interface DjangoBodyOptions {
  /**
   * Throw `BodyAmbiguous` for a JSON object name or a form field that appears twice. Python keeps
   * the last value and signs only that one; an upstream that keeps the first would act on bytes
   * nobody signed. Verifiers set it; the default reproduces Python exactly.
   */
  refuseRepeatedNames?: boolean;
}
