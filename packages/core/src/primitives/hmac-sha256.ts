/**
 * HMAC-SHA256 and SHA-256 of strings over a provider's one-shot `hash` (RFC 2104 from cached key
 * pads): node:crypto's HMAC set-up per call (~0.7 µs, algorithm fetch and key schedule) is more than
 * the two compressions of a precomputed pad block cost, and a short text is encoded into a reused
 * buffer instead of a fresh array. Used by the verifiers of every scheme for their MACs.
 */

import type { CryptoProvider } from '../types.js';
import { constantTimeEqual } from './constant-time.js';
import { toHex, utf8 } from './encoding.js';
import { type HmacSha256Pads, preparedKey } from './prepared-key.js';

export type { HmacSha256Pads } from './prepared-key.js';

const scratchEncoder = new TextEncoder();
// Reused for texts hashed synchronously (`provider.hash` returns before anything else runs): a
// fresh Uint8Array per canonical request costs more than encoding into it. The HMAC below writes
// its key pad into the first 64 bytes and zeroes them again before returning.
const scratch = new Uint8Array(4096);
const scratchAfterPad = scratch.subarray(64);
const outerBlock = new Uint8Array(96);

/**
 * Hex SHA-256 of the UTF-8 bytes of `text`, as the provider's incremental hash would: with a one-shot `hash` the text
 * is encoded into a reused buffer (only texts that fit; the provider's `hash` is synchronous, so
 * the buffer is free again when it returns).
 */
export function sha256HexOfText(crypto: CryptoProvider, text: string): string {
  // node:crypto encodes and hashes the text natively and writes the hex itself.
  if (crypto.hashString !== undefined) return crypto.hashString('sha256', text, 'hex');
  if (crypto.hash !== undefined) {
    const { read, written } = scratchEncoder.encodeInto(text, scratch);
    if (read === text.length) return toHex(crypto.hash('sha256', scratch.subarray(0, written)));
    return toHex(crypto.hash('sha256', utf8(text)));
  }
  const hash = crypto.createHash('sha256');
  hash.update(utf8(text));
  return toHex(hash.digest());
}

/**
 * HMAC-SHA256 of the UTF-8 bytes of `text` from precomputed key pads, as two one-shot SHA-256
 * through the provider's `hash` (which must exist): H(K^opad || H(K^ipad || text)), byte for
 * byte `crypto.hmac('sha256', key, utf8(text))` without node:crypto's per-call HMAC set-up.
 * The key blocks are copied into reused buffers and zeroed again before returning.
 */
export function hmacSha256OfText(crypto: CryptoProvider, pads: HmacSha256Pads, text: string): Uint8Array {
  const { read, written } = scratchEncoder.encodeInto(text, scratchAfterPad);
  if (read === text.length) return macOfScratch(crypto, pads, written);
  const bytes = utf8(text);
  const block = new Uint8Array(64 + bytes.length);
  block.set(pads.inner, 0);
  block.set(bytes, 64);
  let inner: Uint8Array;
  try {
    inner = crypto.hash!('sha256', block);
  } finally {
    block.fill(0, 0, 64);
  }
  return outerMac(crypto, pads, inner);
}

// HMAC of the `length` bytes already encoded after the pad in `scratch`.
function macOfScratch(crypto: CryptoProvider, pads: HmacSha256Pads, length: number): Uint8Array {
  return outerMac(crypto, pads, innerOfScratch(crypto, pads, length));
}

// The last view of `scratch` handed to a hash: texts of one shape (a SigV4 string to sign, a
// signature base) repeat their length, and a subarray per MAC is an allocation.
let scratchView = scratch.subarray(0, 64);

function scratchOf(length: number): Uint8Array {
  if (scratchView.length !== 64 + length) scratchView = scratch.subarray(0, 64 + length);
  return scratchView;
}

// H(K^ipad || the `length` bytes after the pad in `scratch`), the pad zeroed again afterwards.
function innerOfScratch(crypto: CryptoProvider, pads: HmacSha256Pads, length: number): Uint8Array {
  scratch.set(pads.inner, 0);
  try {
    return crypto.hash!('sha256', scratchOf(length));
  } finally {
    scratch.fill(0, 0, 64);
  }
}

// H(K^opad || inner), the outer block zeroed again afterwards.
function outerMac(crypto: CryptoProvider, pads: HmacSha256Pads, inner: Uint8Array): Uint8Array {
  outerBlock.set(pads.outer, 0);
  outerBlock.set(inner, 64);
  try {
    return crypto.hash!('sha256', outerBlock);
  } finally {
    outerBlock.fill(0);
  }
}

/**
 * HMAC-SHA256 of `text` as latin-1 bytes (what a signature base stands for), from the key pads
 * of the secret's prepared material, when `text` is ASCII (latin-1 and UTF-8 agree there) and short enough for the reused
 * buffer; `undefined` otherwise, for the caller's general path. The provider's `hash` must exist.
 */
export function hmacSha256OfAscii(crypto: CryptoProvider, secret: Uint8Array, text: string): Uint8Array | undefined {
  const { read, written } = scratchEncoder.encodeInto(text, scratchAfterPad);
  if (read !== text.length || written !== read) return undefined;
  return macOfScratch(crypto, preparedKey(secret).hmacSha256Pads(), written);
}

/**
 * Whether HMAC-SHA256(`secret`, `text` as latin-1 bytes) equals `presented`, compared in constant
 * time: {@link hmacSha256OfAscii} compared with the provider's `timingSafeEqual`, except that with
 * the provider's `hashString` both hashes come out as binary strings, the inner one written into
 * the outer block and the outer one compared as it is (constantTimeEqual takes a binary string
 * against bytes), so neither MAC becomes an array. `undefined` when `text` is not ASCII or too long
 * for the reused buffer, for the caller's general path. The provider's `hash` must exist.
 */
export function hmacSha256MatchesAscii(
  crypto: CryptoProvider,
  secret: Uint8Array,
  text: string,
  presented: Uint8Array,
): boolean | undefined {
  if (crypto.hashString === undefined) {
    const mac = hmacSha256OfAscii(crypto, secret, text);
    return mac === undefined ? undefined : crypto.timingSafeEqual(mac, presented);
  }
  const { read, written } = scratchEncoder.encodeInto(text, scratchAfterPad);
  if (read !== text.length || written !== read) return undefined;
  const pads = preparedKey(secret).hmacSha256Pads();
  return constantTimeEqual(macOfPaddedBlock(crypto, pads, scratchOf(written), 'binary'), presented);
}

/**
 * {@link hmacSha256OfText} as lower-case hex, for signatures sent in hex (SigV4): with the
 * provider's `hashString` the outer hash comes out as hex directly, so neither the MAC nor the
 * presented signature needs a byte conversion.
 */
export function hmacSha256HexOfText(crypto: CryptoProvider, pads: HmacSha256Pads, text: string): string {
  if (crypto.hashString === undefined) return toHex(hmacSha256OfText(crypto, pads, text));
  const { read, written } = scratchEncoder.encodeInto(text, scratchAfterPad);
  if (read !== text.length) return toHex(hmacSha256OfText(crypto, pads, text));
  return macOfPaddedBlock(crypto, pads, scratchOf(written), 'hex');
}

/**
 * HMAC-SHA256 in lower-case hex of `block.subarray(64)`, from precomputed key pads, through the
 * provider's `hashString` (which must exist): the caller writes its text after the first 64 bytes
 * of a block of its own (reused across calls, so that a text repeating most of its bytes rewrites
 * only the rest, with no encoding of the whole), this writes the inner pad into those 64 bytes
 * and zeroes them again. Byte for byte `toHex(crypto.hmac('sha256', key, block.subarray(64)))`.
 */
export function hmacSha256HexOfBlock(crypto: CryptoProvider, pads: HmacSha256Pads, block: Uint8Array): string {
  return macOfPaddedBlock(crypto, pads, block, 'hex');
}

/**
 * {@link hmacSha256HexOfBlock} with the MAC as a binary string (32 characters U+0000..U+00FF, one
 * per byte), for a constant-time comparison with presented bytes (`constantTimeEqual`).
 *
 * @example
 * ```ts
 * block.set(textBytes, 64); // the first 64 bytes are the pad's
 * constantTimeEqual(hmacSha256BinaryOfBlock(crypto, pads, block.subarray(0, 64 + textBytes.length)), signature);
 * ```
 */
export function hmacSha256BinaryOfBlock(crypto: CryptoProvider, pads: HmacSha256Pads, block: Uint8Array): string {
  return macOfPaddedBlock(crypto, pads, block, 'binary');
}

/**
 * The one engine behind the block MACs above: the inner pad written into `block`'s first 64 bytes
 * (zeroed again after the inner hash), the inner digest taken as a binary string and written into
 * the outer block after the outer pad (zeroed after the outer hash), so neither digest becomes an
 * array. The provider's `hashString` must exist (every caller checks it first).
 */
function macOfPaddedBlock(
  crypto: CryptoProvider,
  pads: HmacSha256Pads,
  block: Uint8Array,
  encoding: 'hex' | 'binary',
): string {
  block.set(pads.inner, 0);
  let inner: string;
  try {
    inner = crypto.hashString!('sha256', block, 'binary');
  } finally {
    block.fill(0, 0, 64);
  }
  outerBlock.set(pads.outer, 0);
  // The inner digest is 32 characters (a SHA-256 as a binary string): copied four per turn, a
  // quarter of the loop's own turns and tests (session 25); the same bytes in the same places.
  for (let i = 0; i < 32; i += 4) {
    outerBlock[64 + i] = inner.charCodeAt(i);
    outerBlock[65 + i] = inner.charCodeAt(i + 1);
    outerBlock[66 + i] = inner.charCodeAt(i + 2);
    outerBlock[67 + i] = inner.charCodeAt(i + 3);
  }
  try {
    return crypto.hashString!('sha256', outerBlock, encoding);
  } finally {
    outerBlock.fill(0);
  }
}
