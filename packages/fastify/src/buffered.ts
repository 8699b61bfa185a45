/**
 * How the Fastify plugin looks at a request body node:http already holds whole, without reading it
 * off the stream (see `takeComplete` in index.ts).
 */
import type { Readable } from 'node:stream';

/** A Readable's buffer of unread chunks: an array (node >= 20.19 as shipped) or a BufferList (older). */
type BufferedChunks =
  | readonly unknown[]
  | { readonly length: number; readonly head?: { readonly data?: unknown } | null };

/**
 * The unread bytes of a paused byte stream, looked at in place when they are one Buffer of exactly
 * `readableLength` bytes; `undefined` otherwise (several chunks, another buffer shape). Nothing is
 * read, nothing changes: the stream's state (flags, `_read()` calls, ticks) stays as it was, where
 * `read()` and `unshift()` of the same bytes would run `_read()`, `maybeReadMore` and an
 * 'readable' tick (~12k instructions per request over HTTP, callgrind).
 *
 * Invariant (the caller has checked a paused stream in byte mode, no decoder, `readableLength`
 * > 0): `readableLength` is the total length of the chunks not yet read, and `readableBuffer`
 * holds them in order (as the array since node 20.19, with already-read slots only before
 * `bufferIndex`; as a BufferList before). When it holds exactly one element and that element is a
 * Buffer of `readableLength` bytes, it is the one unread chunk: the bytes `read()` would return,
 * and the bytes the next reader of the stream gets. Held to `read()` + `unshift()` over random
 * pushes and partial reads in packages/fastify/test/buffered.test.ts.
 */
export function peekBuffered(stream: Readable): Buffer | undefined {
  const length = stream.readableLength;
  const chunks = (stream as { readableBuffer?: BufferedChunks }).readableBuffer;
  if (typeof chunks !== 'object' || chunks === null || chunks.length !== 1) return undefined;
  const only = Array.isArray(chunks) ? chunks[0] : (chunks as { head?: { data?: unknown } | null }).head?.data;
  return Buffer.isBuffer(only) && only.length === length && length > 0 ? only : undefined;
}

/**
 * Whether a `Content-Length` value `declared` is all decimal digits and names `length`: what
 * `/^\d+$/.test(declared) && Number(declared) === length` answers, in one pass over the characters
 * (the regular expression and `Number()` cost ~0.75k instructions per request, callgrind).
 *
 * Invariant: the digits are summed as `value * 10 + digit`, exact while the value is below 2^53
 * (where `Number()` is exact too); past that, both are at least 2^53 and so never a buffer's
 * length (`length` is a `readableLength`, far below it). An empty string or any other character
 * answers false, as the regular expression does. Held to that expression over random strings in
 * packages/fastify/test/buffered.test.ts.
 */
export function declaredLengthIs(declared: string, length: number): boolean {
  const count = declared.length;
  if (count === 0) return false;
  let value = 0;
  for (let index = 0; index < count; index++) {
    const digit = declared.charCodeAt(index) - 0x30;
    if (digit < 0 || digit > 9) return false;
    value = value * 10 + digit;
  }
  return value === length;
}
