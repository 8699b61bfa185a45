/**
 * What django_hmac_authentication hashes for a JSON body, computed in one pass over the body's
 * UTF-8 bytes: no decoding to a string, no tree, no re-encoding. The general path
 * (`treeJsonSerialization` in python-json.ts: decode, parse to a tree, dump, encode) is the
 * reference; this pass answers only where it can prove it writes the same bytes, and otherwise
 * says "undecided" so that the reference decides (and throws its own errors).
 *
 * The invariant: when {@link pythonJsonOfBytes} returns bytes `out`, then
 * `utf8(treeJsonSerialization(fromUtf8(input)))` equals `out` (and the document is not falsy);
 * when it returns `null`, the reference returns `null`. It holds because the pass accepts a
 * subset of JSON (ASCII outside strings, well-formed UTF-8 inside them, no repeated names, the
 * reference's depth and number limits) and writes each token as Python's `json.dumps` writes
 * the value it decodes to: whitespace dropped; `null`, `true`, `false`, ints (`-0` as `0`) as
 * they are; floats as `repr()`; strings with every character outside space..tilde escaped, short
 * escapes for `"` `\` and `\b\f\n\r\t`, `\uXXXX` in lower-case hex otherwise. Property tests hold
 * it to the reference (packages/core/test/django-json-direct.test.ts).
 *
 * A body already in that form (what `json.dumps(data, separators=(',', ':'))` and
 * `JSON.stringify` of ASCII data write) is returned as it is, without a copy: the bytes received
 * are the bytes hashed and the bytes a gateway forwards.
 */

import { isWrittenAsPythonWasm } from './python-form-wasm.js';
import { MAX_DEPTH, MAX_INT_DIGITS, pythonFloatRepr } from './python-json.js';

// Byte values as module constants, not an `enum`: V8 folds a module `const` into the code that
// reads it, but loads an enum member from the enum object on every read (isWrittenAsPython of
// the typical 1 KiB body: ~5.9k instructions more).
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const OPEN_BRACKET = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_BRACKET = 0x5d;
const LOWER_B = 0x62;
const LOWER_E = 0x65;
const LOWER_F = 0x66;
const LOWER_N = 0x6e;
const LOWER_R = 0x72;
const LOWER_T = 0x74;
const LOWER_U = 0x75;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const TILDE = 0x7e;

/** The reference reads a number from at most this many characters: longer ones are its to judge. */
const MAX_NUMBER_LENGTH = 100_000;
/** Objects with more names than this check repeats through a Set instead of a scan. */
const LINEAR_NAME_CHECK = 16;
const HEX_DIGITS = '0123456789abcdef';

/**
 * `json.dumps(json.loads(body), separators=(',', ':'))` as bytes, for a JSON body given as UTF-8
 * bytes: the input itself (or a view of it without leading and trailing whitespace) when it is
 * already written that way, new bytes otherwise; `null` when the parsed data is falsy (Python's
 * `if not data`: nothing is hashed); `undefined` when this pass cannot decide (invalid JSON or
 * UTF-8, a repeated name, nesting beyond the reference's limit, an over-long number): the caller
 * then asks the reference, which throws or merges as Python does.
 *
 * @example
 * ```ts
 * pythonJsonOfBytes(utf8('{"a": 1.50, "b": "é"}')); // bytes of '{"a":1.5,"b":"\u00e9"}'
 * pythonJsonOfBytes(utf8('{"a":1}'));               // the input itself
 * ```
 */
export function pythonJsonOfBytes(input: Uint8Array): Uint8Array | null | undefined {
  // The check runs as WebAssembly where it can (about half the JS function's instructions).
  // Invariant: isWrittenAsPythonWasm(input) is `undefined` (no WebAssembly here, or a body longer
  // than the module takes: the JS function decides) or exactly isWrittenAsPython(input), for every
  // input: it is the same function transcribed (wasm/python-form.ts), held to the JS by fast-check
  // over random bytes and mutated documents (packages/core/test/django-python-form-wasm.test.ts).
  if (isWrittenAsPythonWasm(input) ?? isWrittenAsPython(input)) return input;
  return onePassJsonOfBytes(input);
}

/**
 * {@link pythonJsonOfBytes} by the one-pass writer alone (what {@link isWrittenAsPython} is held to).
 *
 * @internal Exported for its tests.
 */
export function onePassJsonOfBytes(input: Uint8Array): Uint8Array | null | undefined {
  return new OnePassWriter(input).document();
}

/** Nesting {@link isWrittenAsPython} follows; deeper documents are left to the one-pass writer. */
const SHALLOW_DEPTH = 32;
/** Names per object {@link isWrittenAsPython} compares; objects with more are left to the one-pass writer. */
const FEW_NAMES = 32;
// The state of isWrittenAsPython, reused by every call: it runs to its end without calling out, so
// no two calls overlap. Per open container (innermost at `depth`): 1 for an object, 2 for an
// array, and where its names start in `SHALLOW_NAME_START`/`SHALLOW_NAME_END` (where each name read
// so far starts and ends in the input: at most FEW_NAMES per open object).
const SHALLOW_KINDS = new Uint8Array(SHALLOW_DEPTH + 1);
const SHALLOW_FIRST_NAME = new Uint16Array(SHALLOW_DEPTH + 1);
const SHALLOW_NAME_START = new Int32Array((SHALLOW_DEPTH + 1) * FEW_NAMES);
const SHALLOW_NAME_END = new Int32Array((SHALLOW_DEPTH + 1) * FEW_NAMES);
/**
 * Bytes isWrittenAsPython may still compare between names of equal length (set to the input's
 * length by each call): names that share long prefixes cost at most one more pass over the input,
 * then the writer decides (by hashes).
 */
let nameCompareBudget = 0;

/**
 * Whether `input` is a document the one-pass writer returns as it is (the input itself, not falsy):
 * the usual body, checked in one loop with no method call per token, no output and no state
 * object. Only `true` is an answer; `false` means "ask the writer", which decides every case.
 *
 * Invariant: `true` only if `new OnePassWriter(input).document() === input`. It holds because this
 * accepts a subset of what the writer leaves untouched, checked by the same rules: no whitespace at
 * all; strings of plain bytes and escapes as Python writes them (`canonicalEscapeLength`, the
 * writer's own test); integers only (`-0` and floats go to the writer, which may rewrite them),
 * within the writer's digit limit; `null`, `true`, `false`; no name twice in an object (compared
 * byte for byte, names of equal length only: names written in Python's form are equal exactly when
 * their bytes are; past a budget of one more pass over the input, the writer decides);
 * nesting and names per object within small bounds; longer than every falsy document (5 bytes).
 * `packages/core/test/django-json-direct.test.ts` holds it to the writer over random documents.
 *
 * @internal Exported for its tests.
 */
export function isWrittenAsPython(input: Uint8Array): boolean {
  const length = input.length;
  if (length <= 5) return false;
  const kinds = SHALLOW_KINDS;
  const firstName = SHALLOW_FIRST_NAME;
  nameCompareBudget = length;
  let nameCount = 0;
  let depth = 0;
  let position = 0;
  // Each turn reads one value at `position` (after a name and colon in an object), then what closes
  // or separates it, up to the next value.
  for (;;) {
    let byte = input[position];
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (depth === SHALLOW_DEPTH) return false;
      depth++;
      const isObject = byte === OPEN_BRACE;
      kinds[depth] = isObject ? 1 : 2;
      firstName[depth] = nameCount;
      position++;
      if (input[position] !== (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        if (isObject) {
          position = nameEnd(input, position, nameCount, nameCount);
          if (position < 0) return false;
          nameCount++;
        }
        continue;
      }
      // An empty object or array: closed below.
      depth--;
      position++;
    } else if (byte === QUOTE) {
      position = stringEnd(input, position);
      if (position < 0) return false;
    } else if (byte === LOWER_N || byte === LOWER_T || byte === LOWER_F) {
      const word = byte === LOWER_N ? 'null' : byte === LOWER_T ? 'true' : 'false';
      if (position + word.length > length) return false;
      for (let i = 0; i < word.length; i++) if (input[position + i] !== word.charCodeAt(i)) return false;
      position += word.length;
    } else {
      // An integer, as Python writes it: -?(0|[1-9][0-9]*), not -0, not followed by a fraction or exponent.
      const start = position;
      if (byte === MINUS) byte = input[++position];
      if (byte === ZERO) {
        if (position !== start) return false;
        position++;
      } else if (byte !== undefined && byte > ZERO && byte <= NINE) {
        position = digitsFrom(input, position + 1);
        if (position - start > MAX_INT_DIGITS) return false;
      } else {
        return false;
      }
      const next = input[position];
      if (next === DOT || next === LOWER_E || next === UPPER_E) return false;
    }
    // After a value: close containers, then a separator before the next value, or the end.
    for (;;) {
      if (depth === 0) return position === length;
      byte = input[position++];
      if (byte === COMMA) break;
      if (byte !== (kinds[depth] === 1 ? CLOSE_BRACE : CLOSE_BRACKET)) return false;
      nameCount = firstName[depth] as number;
      depth--;
    }
    if (kinds[depth] === 1) {
      const first = firstName[depth] as number;
      if (nameCount - first === FEW_NAMES) return false;
      position = nameEnd(input, position, first, nameCount);
      if (position < 0) return false;
      nameCount++;
    }
  }
}

/**
 * Reads the name at `position` (its opening quote) and its colon for {@link isWrittenAsPython}:
 * the position after the colon, or -1 when the name is not in Python's form, is followed by no
 * colon, or equals one of the names `[first, count)` of its object (byte for byte: two names in
 * Python's form are equal exactly when their bytes are), or the compare budget ran out. Where it
 * starts and ends is stored at `count`.
 */
function nameEnd(input: Uint8Array, position: number, first: number, count: number): number {
  if (input[position] !== QUOTE) return -1;
  const start = position + 1;
  const end = stringEnd(input, position) - 1;
  if (end < 0 || input[end + 1] !== COLON) return -1;
  const nameLength = end - start;
  const starts = SHALLOW_NAME_START;
  const ends = SHALLOW_NAME_END;
  for (let i = first; i < count; i++) {
    const other = starts[i]!;
    if (ends[i]! - other !== nameLength) continue;
    let j = 0;
    while (j < nameLength && input[other + j] === input[start + j]) j++;
    if (j === nameLength) return -1;
    nameCompareBudget -= j + 1;
    if (nameCompareBudget < 0) return -1;
  }
  starts[count] = start;
  ends[count] = end;
  return end + 2;
}

/**
 * The position after the string at `position` (its opening quote) when every byte of it stays as
 * it is in Python's form (plain bytes, escapes as Python writes them), else -1.
 */
function stringEnd(input: Uint8Array, position: number): number {
  const plain = PLAIN;
  const length = input.length;
  let index = position + 1;
  for (;;) {
    let byte = input[index]!;
    while (index < length && plain[byte] === 1) byte = input[++index]!;
    if (index >= length) return -1;
    if (byte === QUOTE) return index + 1;
    const run = byte === BACKSLASH ? canonicalEscapeLength(input, index) : 0;
    if (run === 0) return -1;
    index += run;
  }
}

/**
 * The state of one pass. The output is "`out[0, outLength)`, then the input from `copied` on, as
 * written": a token Python writes as it is costs nothing, and a body that needs no change is never
 * copied.
 */
class OnePassWriter {
  private position = 0;
  private copied = 0;
  private out: Uint8Array | undefined;
  private outLength = 0;
  /** Keys (hash and length) of the names of the objects being read, innermost last: `names[0, nameCount)`. */
  private readonly names: number[] = [];
  private nameCount = 0;
  /** The key of the string just read, when it was read as a name. */
  private nameKey = 0;

  constructor(private readonly input: Uint8Array) {}

  document(): Uint8Array | null | undefined {
    this.skipWhitespace();
    if (!this.value(0)) return undefined;
    const end = this.position;
    // Trailing whitespace is left out without a copy: the result is a view when nothing else changed.
    let position = end;
    const input = this.input;
    while (position < input.length && isWhitespace(input[position]!)) position++;
    if (position !== input.length) return undefined;
    let result: Uint8Array;
    if (this.outLength === 0) {
      result = this.copied === 0 && end === input.length ? input : input.subarray(this.copied, end);
    } else {
      this.flush(end);
      result = this.out!.subarray(0, this.outLength);
    }
    return isFalsyDocument(result) ? null : result;
  }

  // -- output ----------------------------------------------------------------------------------

  /** Room for `extra` more output bytes. */
  private reserve(extra: number): Uint8Array {
    const needed = this.outLength + extra;
    let out = this.out;
    if (out === undefined || needed > out.length) {
      const grown = new Uint8Array(Math.max(needed, (out?.length ?? this.input.length) * 2, 64));
      if (out !== undefined) grown.set(out.subarray(0, this.outLength));
      this.out = out = grown;
    }
    return out;
  }

  /** Writes the input from `copied` up to `to` as it is. */
  private flush(to: number): void {
    const length = to - this.copied;
    if (length <= 0) return;
    const out = this.reserve(length);
    out.set(this.input.subarray(this.copied, to), this.outLength);
    this.outLength += length;
    this.copied = to;
  }

  /** The input from `from` to `to` is left out (whitespace): written up to `from`, resumed at `to`. */
  private drop(from: number, to: number): void {
    // Leading whitespace needs no output buffer: the result can still be a view of the input.
    if (this.outLength !== 0 || from !== this.copied) this.flush(from);
    this.copied = to;
  }

  /** The input from `from` to `to` is written as the ASCII `text` instead. */
  private replace(from: number, to: number, text: string): void {
    this.flush(from);
    const out = this.reserve(text.length);
    for (let i = 0; i < text.length; i++) out[this.outLength++] = text.charCodeAt(i);
    this.copied = to;
  }

  // -- grammar -----------------------------------------------------------------------------------

  private skipWhitespace(): void {
    const input = this.input;
    const start = this.position;
    let position = start;
    while (position < input.length && isWhitespace(input[position]!)) position++;
    if (position !== start) {
      this.drop(start, position);
      this.position = position;
    }
  }

  private value(depth: number): boolean {
    if (depth > MAX_DEPTH) return false;
    const input = this.input;
    const position = this.position;
    const byte = input[position];
    if (byte === OPEN_BRACE) return this.object(depth);
    if (byte === OPEN_BRACKET) return this.array(depth);
    if (byte === QUOTE) return this.string(false);
    if (byte === LOWER_N) return this.literal('null');
    if (byte === LOWER_T) return this.literal('true');
    if (byte === LOWER_F) return this.literal('false');
    return this.number();
  }

  private literal(word: string): boolean {
    const input = this.input;
    const position = this.position;
    if (position + word.length > input.length) return false;
    for (let i = 0; i < word.length; i++) if (input[position + i] !== word.charCodeAt(i)) return false;
    this.position += word.length;
    return true;
  }

  private object(depth: number): boolean {
    const input = this.input;
    this.position++;
    this.skipWhitespace();
    if (input[this.position] === CLOSE_BRACE) {
      this.position++;
      return true;
    }
    const names = this.names;
    const first = this.nameCount;
    let many: Set<number> | undefined;
    for (;;) {
      this.skipWhitespace();
      if (input[this.position] !== QUOTE || !this.string(true)) return false;
      // A repeated name (or two names whose keys collide): Python merges it, a verifier refuses it;
      // the reference decides either way. Names are compared as written here, which is one spelling
      // per decoded name, so equal keys are the only way two equal names can show.
      const key = this.nameKey;
      if (many !== undefined) {
        if (many.has(key)) return false;
        many.add(key);
      } else {
        const count = this.nameCount;
        for (let i = first; i < count; i++) if (names[i] === key) return false;
        names[count] = key;
        this.nameCount = count + 1;
        if (count + 1 - first > LINEAR_NAME_CHECK) many = new Set(names.slice(first, count + 1));
      }
      this.skipWhitespace();
      if (input[this.position] !== COLON) return false;
      this.position++;
      this.skipWhitespace();
      if (!this.value(depth + 1)) return false;
      this.skipWhitespace();
      const next = input[this.position++];
      if (next === CLOSE_BRACE) {
        this.nameCount = first;
        return true;
      }
      if (next !== COMMA) return false;
    }
  }

  private array(depth: number): boolean {
    const input = this.input;
    this.position++;
    this.skipWhitespace();
    if (input[this.position] === CLOSE_BRACKET) {
      this.position++;
      return true;
    }
    for (;;) {
      this.skipWhitespace();
      if (!this.value(depth + 1)) return false;
      this.skipWhitespace();
      const next = input[this.position++];
      if (next === CLOSE_BRACKET) return true;
      if (next !== COMMA) return false;
    }
  }

  /**
   * The string at `position` (its opening quote). Printable ASCII and escapes as Python writes them
   * stay as they are; from the first byte that is not, the string is written out character by character.
   * With `asName`, leaves the key of what was written in `nameKey`.
   */
  private string(asName: boolean): boolean {
    const input = this.input;
    const length = input.length;
    const start = this.position;
    let index = start + 1;
    let hash = FNV_OFFSET;
    for (;;) {
      // Plain bytes (printable ASCII but `"` and `\`) in a tight loop: the usual string is all of them.
      if (asName) {
        while (index < length) {
          const byte = input[index]!;
          if (PLAIN[byte] !== 1) break;
          hash = Math.imul(hash ^ byte, FNV_PRIME);
          index++;
        }
      } else {
        while (index < length && PLAIN[input[index]!] === 1) index++;
      }
      if (index >= length) return false;
      const byte = input[index]!;
      if (byte === QUOTE) break;
      // An escape as Python writes it stays as it is; anything else is rewritten.
      const run = byte === BACKSLASH ? canonicalEscapeLength(input, index) : 0;
      if (run === 0) return this.rewrittenString(index, asName);
      if (asName) for (let i = index; i < index + run; i++) hash = Math.imul(hash ^ input[i]!, FNV_PRIME);
      index += run;
    }
    if (asName) this.nameKey = nameKey(hash, index - start - 1);
    this.position = index + 1;
    return true;
  }

  /** The rest of a string from `index`, the first byte Python does not write as it is. */
  private rewrittenString(index: number, asName: boolean): boolean {
    const input = this.input;
    const length = input.length;
    const start = this.position;
    // The opening quote and the bytes up to `index` go out as they are.
    this.flush(index);
    const contentStart = this.outLength - (index - start - 1);
    for (;;) {
      if (index >= length) return false;
      const byte = input[index]!;
      if (byte === QUOTE) break;
      if (byte < SPACE) return false; // a raw control character: the reference refuses it
      const out = this.reserve(12);
      if (byte <= TILDE && byte !== BACKSLASH) {
        out[this.outLength++] = byte;
        index++;
      } else if (byte === BACKSLASH) {
        const escaped = input[index + 1];
        if (escaped === LOWER_U) {
          const unit = hex4(input, index + 2);
          if (unit < 0) return false;
          this.writeCodeUnit(unit);
          index += 6;
        } else {
          const unit = SIMPLE_ESCAPES[escaped ?? 0] ?? -1;
          if (unit < 0) return false;
          this.writeCodeUnit(unit);
          index += 2;
        }
      } else if (byte === 0x7f) {
        this.writeCodeUnit(byte);
        index++;
      } else {
        // UTF-8, decoded strictly: anything the platform's fatal decoder would refuse is the reference's to judge.
        const decoded = decodeUtf8(input, index);
        if (decoded < 0) return false;
        const codePoint = decoded >>> 3;
        if (codePoint >= 0x10000) {
          this.writeCodeUnit(0xd800 + ((codePoint - 0x10000) >> 10));
          this.writeCodeUnit(0xdc00 + ((codePoint - 0x10000) & 0x3ff));
        } else {
          this.writeCodeUnit(codePoint);
        }
        index += decoded & 7;
      }
    }
    if (asName) {
      const out = this.out!;
      let hash = FNV_OFFSET;
      for (let i = contentStart; i < this.outLength; i++) hash = Math.imul(hash ^ out[i]!, FNV_PRIME);
      this.nameKey = nameKey(hash, this.outLength - contentStart);
    }
    const out = this.reserve(1);
    out[this.outLength++] = QUOTE;
    this.copied = index + 1;
    this.position = index + 1;
    return true;
  }

  /** One UTF-16 code unit as `json.dumps` with `ensure_ascii` writes it (room already reserved). */
  private writeCodeUnit(unit: number): void {
    const out = this.out!;
    const short = SHORT_ESCAPE_OF[unit];
    if (short !== undefined) {
      out[this.outLength++] = BACKSLASH;
      out[this.outLength++] = short;
    } else if (unit >= SPACE && unit <= TILDE) {
      out[this.outLength++] = unit;
    } else {
      out[this.outLength++] = BACKSLASH;
      out[this.outLength++] = LOWER_U;
      out[this.outLength++] = HEX_DIGITS.charCodeAt(unit >> 12);
      out[this.outLength++] = HEX_DIGITS.charCodeAt((unit >> 8) & 15);
      out[this.outLength++] = HEX_DIGITS.charCodeAt((unit >> 4) & 15);
      out[this.outLength++] = HEX_DIGITS.charCodeAt(unit & 15);
    }
  }

  /** A number as the reference reads it: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`, ints kept, floats as `repr()`. */
  private number(): boolean {
    const input = this.input;
    const start = this.position;
    let index = start;
    if (input[index] === MINUS) index++;
    const first = input[index];
    if (first === ZERO) index++;
    else if (first !== undefined && first > ZERO && first <= NINE) index = digitsFrom(input, index);
    else return false;
    let isFloat = false;
    if (input[index] === DOT) {
      const after = digitsFrom(input, index + 1);
      if (after === index + 1) return false;
      index = after;
      isFloat = true;
    }
    const e = input[index];
    if (e === LOWER_E || e === UPPER_E) {
      let exponent = index + 1;
      if (input[exponent] === PLUS || input[exponent] === MINUS) exponent++;
      const after = digitsFrom(input, exponent);
      if (after === exponent) return false;
      index = after;
      isFloat = true;
    }
    const written = index - start;
    if (written >= MAX_NUMBER_LENGTH) return false;
    this.position = index;
    if (!isFloat) {
      if (written - (input[start] === MINUS ? 1 : 0) > MAX_INT_DIGITS) return false;
      if (written === 2 && input[start] === MINUS && input[start + 1] === ZERO) this.replace(start, index, '0');
      return true;
    }
    let text = '';
    for (let i = start; i < index; i++) text += String.fromCharCode(input[i]!);
    const repr = pythonFloatRepr(Number(text));
    if (repr !== text) this.replace(start, index, repr);
    return true;
  }
}

/** 1 for the bytes a string holds as Python writes them: printable ASCII other than `"` and `\`. */
const PLAIN = new Uint8Array(256);
for (let byte = SPACE; byte <= TILDE; byte++) PLAIN[byte] = 1;
PLAIN[QUOTE] = 0;
PLAIN[BACKSLASH] = 0;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** A name's key: its FNV-1a hash and its length, exact in a double. */
function nameKey(hash: number, length: number): number {
  return (hash >>> 0) + length * 0x1_0000_0000;
}

function isWhitespace(byte: number): boolean {
  return byte === SPACE || byte === NEWLINE || byte === RETURN || byte === TAB;
}

function digitsFrom(input: Uint8Array, index: number): number {
  while (index < input.length) {
    const byte = input[index]!;
    if (byte < ZERO || byte > NINE) break;
    index++;
  }
  return index;
}

/** The code unit of the four hex digits at `index` (either case), or -1. */
function hex4(input: Uint8Array, index: number): number {
  if (index + 4 > input.length) return -1;
  let unit = 0;
  for (let i = index; i < index + 4; i++) {
    const byte = input[i]!;
    let digit: number;
    if (byte >= 0x30 && byte <= 0x39) digit = byte - 0x30;
    else if (byte >= 0x61 && byte <= 0x66) digit = byte - 0x57;
    else if (byte >= 0x41 && byte <= 0x46) digit = byte - 0x37;
    else return -1;
    unit = (unit << 4) | digit;
  }
  return unit;
}

/**
 * The length of the escape at `index` (a backslash) when `json.dumps` writes the character it
 * stands for the same way: 2 for `\" \\ \b \f \n \r \t`, 6 for `\u` and four lower-case hex
 * digits of a code unit outside space..tilde that has no short escape; 0 otherwise.
 */
function canonicalEscapeLength(input: Uint8Array, index: number): number {
  const escaped = input[index + 1];
  if (escaped === LOWER_U) {
    const unit = hex4(input, index + 2);
    if (unit < 0 || (unit >= SPACE && unit <= TILDE) || SHORT_ESCAPE_OF[unit] !== undefined) return 0;
    for (let i = index + 2; i < index + 6; i++) if (input[i]! >= 0x41 && input[i]! <= 0x46) return 0;
    return 6;
  }
  return escaped !== undefined && escaped !== SLASH && SIMPLE_ESCAPES[escaped] !== undefined ? 2 : 0;
}

/** What each two-character escape of JSON decodes to (`\/` included), by the byte after the backslash. */
const SIMPLE_ESCAPES: Record<number, number> = {
  [QUOTE]: QUOTE,
  [BACKSLASH]: BACKSLASH,
  [SLASH]: SLASH,
  [LOWER_B]: 0x08,
  [LOWER_F]: 0x0c,
  [LOWER_N]: NEWLINE,
  [LOWER_R]: RETURN,
  [LOWER_T]: TAB,
};

/** The code units `json.dumps` writes as a two-character escape, and the character after its backslash. */
const SHORT_ESCAPE_OF: Record<number, number> = {
  [QUOTE]: QUOTE,
  [BACKSLASH]: BACKSLASH,
  8: LOWER_B,
  12: LOWER_F,
  [NEWLINE]: LOWER_N,
  [RETURN]: LOWER_R,
  [TAB]: LOWER_T,
};

/**
 * The UTF-8 sequence at `index` (its first byte is >= 0x80) as `codePoint << 3 | length`, or -1
 * for what a fatal decoder refuses: stray continuation bytes, overlong forms, surrogates, values
 * above U+10FFFF, truncated sequences (RFC 3629's table of well-formed byte sequences).
 */
function decodeUtf8(input: Uint8Array, index: number): number {
  const lead = input[index]!;
  const continuation = (offset: number, low = 0x80, high = 0xbf): number => {
    const byte = input[index + offset];
    return byte !== undefined && byte >= low && byte <= high ? byte & 0x3f : -1;
  };
  if (lead >= 0xc2 && lead <= 0xdf) {
    const b1 = continuation(1);
    return b1 < 0 ? -1 : ((((lead & 0x1f) << 6) | b1) << 3) | 2;
  }
  if (lead >= 0xe0 && lead <= 0xef) {
    const b1 = continuation(1, lead === 0xe0 ? 0xa0 : 0x80, lead === 0xed ? 0x9f : 0xbf);
    const b2 = continuation(2);
    return b1 < 0 || b2 < 0 ? -1 : ((((lead & 0x0f) << 12) | (b1 << 6) | b2) << 3) | 3;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const b1 = continuation(1, lead === 0xf0 ? 0x90 : 0x80, lead === 0xf4 ? 0x8f : 0xbf);
    const b2 = continuation(2);
    const b3 = continuation(3);
    if (b1 < 0 || b2 < 0 || b3 < 0) return -1;
    // Up to U+10FFFF << 3: within 2^24, exact as a small integer.
    return (((lead & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3) * 8 + 4;
  }
  return -1;
}

/** Whether a whole document as written is one Python finds falsy: `null false 0 0.0 -0.0 "" [] {}`. */
function isFalsyDocument(bytes: Uint8Array): boolean {
  if (bytes.length > 5) return false;
  let text = '';
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return FALSY_DOCUMENTS.has(text);
}

const FALSY_DOCUMENTS = new Set(['null', 'false', '0', '0.0', '-0.0', '""', '[]', '{}']);
