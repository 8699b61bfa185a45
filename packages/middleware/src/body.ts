import { BodyTooLarge, concatBytes } from '@hmac-kit/core';

/** A body source that keeps a copy of every chunk read through it. */
export interface RecordedBody {
  /** Hand this to `authenticate`: the verifier reads (and hashes) the body through it. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Whether the source has been read to its end. */
  readonly complete: boolean;
  /** The exact bytes read so far, concatenated. */
  bytes(): Uint8Array;
  /**
   * Reads whatever the verifier left unread (a scheme that does not bind the body stops
   * early) and returns the whole body, refusing with `BodyTooLarge` beyond `maxBytes`.
   */
  readAll(maxBytes: number): Promise<Uint8Array>;
}

/**
 * Wraps a Node request (or any async iterable of chunks) so that the bytes the verifier
 * hashes are kept for the application's body parser: the parser then sees exactly the
 * verified bytes. The verifier stopping early does not close the source, so the rest can
 * still be read with `readAll`.
 *
 * @example
 * ```ts
 * const recorded = recordBody(req);
 * const outcome = await authenticator.authenticate(message, recorded.body);
 * if (outcome.ok) req.rawBody = Buffer.from(await recorded.readAll(authenticator.maxBodyBytes));
 * ```
 */
export function recordBody(source: AsyncIterable<Uint8Array>): RecordedBody {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let complete = false;
  let iterator: AsyncIterator<Uint8Array> | undefined;

  async function pull(): Promise<IteratorResult<Uint8Array>> {
    if (complete) return { done: true, value: undefined };
    iterator ??= source[Symbol.asyncIterator]();
    const next = await iterator.next();
    if (next.done) {
      complete = true;
      return { done: true, value: undefined };
    }
    chunks.push(next.value);
    length += next.value.byteLength;
    return next;
  }

  const body: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: pull,
      // Deliberately not forwarded to the source: closing a Node stream here would lose the rest of the body.
      return: async () => ({ done: true, value: undefined }),
    }),
  };

  return {
    body,
    get complete() {
      return complete;
    },
    bytes: () => concatBytes(chunks, length),
    async readAll(maxBytes) {
      while (!complete) {
        await pull();
        if (length > maxBytes) throw new BodyTooLarge('body exceeds the size limit');
      }
      return concatBytes(chunks, length);
    },
  };
}

const kRead = Symbol('hmac-kit.deferred-body');

/**
 * A body an adapter reads in one piece, and only when the verifier asks for it (after the
 * failure throttle, before the signature check). It is an ordinary async iterable of one chunk,
 * so any verifier can read it; {@link Authenticator.authenticate} recognises it and hands the
 * bytes to the core's in-memory path instead (no async iteration), which answers exactly as the
 * iterable does: it is only used when the bytes are within the size limit.
 */
export interface DeferredBody extends AsyncIterable<Uint8Array> {
  readonly [kRead]: () => Promise<Uint8Array>;
}

/**
 * Wraps `read` (called at most once by the authenticator; memoise it if the adapter calls it
 * again afterwards) as a {@link DeferredBody}.
 *
 * @example
 * ```ts
 * const read = once(() => readWholeBody(stream));
 * const outcome = await authenticator.authenticate(message, deferredBody(read));
 * if (outcome.ok) handOn(await read());
 * ```
 */
export function deferredBody(read: () => Promise<Uint8Array>): DeferredBody {
  return new Deferred(read);
}

/** A class rather than an object literal of closures: one small object per request. */
class Deferred implements DeferredBody {
  readonly [kRead]: () => Promise<Uint8Array>;

  constructor(read: () => Promise<Uint8Array>) {
    this[kRead] = read;
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const read = this[kRead];
    let done = false;
    return {
      async next(): Promise<IteratorResult<Uint8Array>> {
        if (done) return { done: true, value: undefined };
        done = true;
        const bytes = await read();
        return bytes.length === 0 ? { done: true, value: undefined } : { done: false, value: bytes };
      },
      async return(): Promise<IteratorResult<Uint8Array>> {
        done = true;
        return { done: true, value: undefined };
      },
    };
  }
}

/** The read function of a {@link DeferredBody}, or `undefined` for any other body. */
export function deferredRead(body: unknown): (() => Promise<Uint8Array>) | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const read = (body as Partial<DeferredBody>)[kRead];
  return typeof read === 'function' ? read : undefined;
}
