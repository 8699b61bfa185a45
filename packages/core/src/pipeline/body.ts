/**
 * The body stage's parts: the body check as the pipeline feeds it, a body given whole, the declared
 * size limit, and reading a body given as a stream (web stream or async iterable) chunk by chunk.
 */

import { BodyTooLarge, SignatureInvalid } from '../errors.js';
import { getHeaderOfLower } from '../protocol/headers.js';
import type { BodyCheck, BodyInput, MessageParts } from '../types.js';
import type { Run } from './run.js';

/** The body check as the pipeline feeds it: a body-signed MAC answers with the key stage's refusal. */
export function bodyCheckOf<S>(run: Run<S>): BodyCheck | null {
  const verdict = run.verdict!;
  const body = verdict.body;
  if (body === null || verdict.signatureMatches !== undefined || run.refusal === undefined) return body;
  const refusal = run.refusal;
  const finish = async (done: Promise<void>) => {
    try {
      await done;
    } catch (error) {
      // The decoy's MAC did not match, as expected: answer as for any unknown / refused key.
      if (error instanceof SignatureInvalid) throw refusal;
      throw error;
    }
    throw refusal;
  };
  return {
    update: (chunk) => body.update(chunk),
    finish: () => finish(body.finish()),
    ...(body.complete !== undefined ? { complete: (bytes: Uint8Array) => finish(body.complete!(bytes)) } : {}),
  };
}

/** A body check whose `completeNow` answers synchronously (the core's own checks). */
interface SyncBodyCheck {
  completeNow(body: Uint8Array): void | Promise<void>;
}

export function completeBody(check: BodyCheck, body: Uint8Array): void | Promise<void> {
  const now = (check as Partial<SyncBodyCheck>).completeNow;
  if (typeof now === 'function') return now.call(check, body);
  if (check.complete !== undefined) return check.complete(body);
  if (body.length > 0) check.update(body);
  return check.finish();
}

export function declaredSizeCheck(message: MessageParts, maxBodyBytes: number): void {
  const declared = Number(getHeaderOfLower(message.headers ?? {}, 'content-length'));
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
}

export async function* chunksOf(body: BodyInput): AsyncGenerator<Uint8Array> {
  if (body === null || body === undefined) return;
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  if (typeof (body as ReadableStream<Uint8Array>).getReader === 'function') {
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    let done = false;
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) {
          done = true;
          return;
        }
        yield next.value;
      }
    } finally {
      // Stopping early (error, no body check) cancels the stream instead of leaving it locked and
      // buffering. Not awaited: cancelling one branch of a tee (request.clone()) only settles once
      // the other branch is cancelled too.
      if (!done) reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  }
  if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    yield* body as AsyncIterable<Uint8Array>;
    return;
  }
  throw new TypeError('body must be a Uint8Array, a ReadableStream or an async iterable of Uint8Array');
}

/** A body chunk, checked. */
export function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError('body chunks must be Uint8Array');
}
