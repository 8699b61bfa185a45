/**
 * Byte/string conversions the schemes need, written against web standards only
 * (no `Buffer`) so the core runs unchanged in browsers and edge runtimes.
 */

const textEncoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return textEncoder.encode(text);
}

/** Decodes UTF-8, throwing `TypeError` on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string {
  return strictDecoder.decode(bytes);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}

/** Parses hex (either case); returns `undefined` for anything that is not hex of even length. */
export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0) return undefined;
  // A lookup per character instead of a regex pass plus parseInt() over a slice per byte.
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const high = hexValue(hex.charCodeAt(2 * i));
    const low = hexValue(hex.charCodeAt(2 * i + 1));
    if (high < 0 || low < 0) return undefined;
    out[i] = (high << 4) | low;
  }
  return out;
}

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

function hexValue(code: number): number {
  return code < 128 ? HEX_VALUE[code]! : -1;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_LOOKUP[B64.charCodeAt(i)] = i;
B64_LOOKUP['-'.charCodeAt(0)] = 62;
B64_LOOKUP['_'.charCodeAt(0)] = 63;

// The alphabets' character codes, and the codes of one encoding being written: a string is made
// from them by one String.fromCharCode() call (a builtin writing a flat string) instead of a string
// addition per character (~100 instructions each, then a flattening of the rope they made).
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_CODES = Uint8Array.from(B64URL, (c) => c.charCodeAt(0));
const PAD = 0x3d; /* = */
// Codes per String.fromCharCode() call: far below engines' argument limits (~65,000 and up).
const CHUNK_CODES = 8192;
const CHUNK_BYTES = (CHUNK_CODES / 4) * 3;
const codes: number[] = [];

/** The codes of bytes[start, end) in `alphabet` (padded when `pad`) as a string. */
function encodeChunk(bytes: Uint8Array, start: number, end: number, alphabet: Uint8Array, pad: boolean): string {
  let o = 0;
  let i = start;
  for (; i + 2 < end; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    codes[o++] = alphabet[n >> 18]!;
    codes[o++] = alphabet[(n >> 12) & 63]!;
    codes[o++] = alphabet[(n >> 6) & 63]!;
    codes[o++] = alphabet[n & 63]!;
  }
  const rest = end - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    codes[o++] = alphabet[n >> 18]!;
    codes[o++] = alphabet[(n >> 12) & 63]!;
    if (pad) {
      codes[o++] = PAD;
      codes[o++] = PAD;
    }
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    codes[o++] = alphabet[n >> 18]!;
    codes[o++] = alphabet[(n >> 12) & 63]!;
    codes[o++] = alphabet[(n >> 6) & 63]!;
    if (pad) codes[o++] = PAD;
  }
  codes.length = o;
  return String.fromCharCode.apply(null, codes);
}

function encode(bytes: Uint8Array, alphabet: Uint8Array, pad: boolean): string {
  if (bytes.length <= CHUNK_BYTES) return encodeChunk(bytes, 0, bytes.length, alphabet, pad);
  // Whole groups of three bytes per chunk, so only the last one can need padding.
  let out = '';
  for (let start = 0; start < bytes.length; start += CHUNK_BYTES) {
    out += encodeChunk(bytes, start, Math.min(start + CHUNK_BYTES, bytes.length), alphabet, pad);
  }
  return out;
}

/** Standard base64 with padding (RFC 4648 section 4). */
export function toBase64(bytes: Uint8Array): string {
  return encode(bytes, B64_CODES, true);
}

/** base64url without padding (RFC 4648 section 5): {@link toBase64} in the URL alphabet, unpadded. */
export function toBase64Url(bytes: Uint8Array): string {
  return encode(bytes, B64URL_CODES, false);
}

/**
 * Decodes base64 or base64url, padded or not. Returns `undefined` for malformed
 * input (wrong alphabet, impossible length, non-zero trailing bits are tolerated).
 * Set `strict` to accept only the standard alphabet with correct padding.
 */
export function fromBase64(text: string, options: { strict?: boolean } = {}): Uint8Array | undefined {
  let s = text;
  if (options.strict) {
    if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  }
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d /* = */) end--;
  if (end !== s.length) s = s.slice(0, end);
  if (s.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64_LOOKUP[c]! : -1;
    if (v < 0) return undefined;
    if (options.strict && (c === 45 || c === 95)) return undefined;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * Concatenates byte arrays (a streamed body's chunks, a prefix and a body). A single part is
 * returned as it is, not copied. `totalLength`, when the caller has counted it already, saves a pass.
 *
 * @example
 * ```ts
 * concatBytes([utf8('id.'), body]);
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[], totalLength?: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = totalLength ?? 0;
  if (totalLength === undefined) for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

// The platform's base64 decoder (browsers, Node >= 16, Deno, Bun, Workers): ~3x faster than the
// JavaScript loop for a signature-sized value.
const platformAtob: ((text: string) => string) | undefined =
  typeof globalThis.atob === 'function' ? globalThis.atob.bind(globalThis) : undefined;

/**
 * {@link fromBase64} for text already known to match `[A-Za-z0-9+/]*={0,2}` (a byte sequence a
 * structured field parser has delimited), with the same result: uses the platform's `atob()` and
 * falls back to {@link fromBase64} where `atob()` is stricter (padding that does not complete a
 * quantum) or missing.
 */
export function fromStandardBase64(text: string): Uint8Array | undefined {
  if (platformAtob !== undefined) {
    let binary: string;
    try {
      binary = platformAtob(text);
    } catch {
      return fromBase64(text);
    }
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  return fromBase64(text);
}
