/** A body source that keeps a copy of every chunk read through it. */
export interface RecordedBody {
  /** Hand this to `authenticate`: the verifier reads (and hashes) the body through it. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Whether the verifier read the source to its end (false when it never needed the body). */
  readonly complete: boolean;
  /** Whether the verifier started reading the source at all. */
  readonly started: boolean;
  /** The exact bytes read so far, concatenated. */
  bytes(): Uint8Array;
}

/**
 * Wraps a Node request (or any async iterable of chunks) so that the bytes the verifier
 * hashes are kept for the application's body parser: the parser then sees exactly the
 * verified bytes, and the signature is checked before any byte is read.
 *
 * @example
 * ```ts
 * const recorded = recordBody(req);
 * const outcome = await authenticator.authenticate(message, recorded.body);
 * if (outcome.ok && recorded.complete) req.rawBody = Buffer.from(recorded.bytes());
 * ```
 */
export function recordBody(source: AsyncIterable<Uint8Array>): RecordedBody {
  const chunks: Uint8Array[] = [];
  let started = false;
  let complete = false;
  async function* reading(): AsyncGenerator<Uint8Array> {
    started = true;
    for await (const chunk of source) {
      chunks.push(chunk);
      yield chunk;
    }
    complete = true;
  }
  return {
    body: { [Symbol.asyncIterator]: reading },
    get complete() {
      return complete;
    },
    get started() {
      return started;
    },
    bytes() {
      return concatBytes(chunks);
    },
  };
}

function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let length = 0;
  for (const chunk of chunks) length += chunk.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
