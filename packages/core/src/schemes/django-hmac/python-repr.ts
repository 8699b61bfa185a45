/**
 * CPython's `str()` of parsed JSON (`repr()` of dicts, lists, strings and floats): what legacy
 * clients sign when they hash `str(payload)` (the declarative schemes' `python-str` part).
 */

import { type PyValue, pythonFloatRepr, Reader } from './python-json.js';

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
