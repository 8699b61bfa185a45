/**
 * Verification entry points: over web `Request`s, over framework-neutral message parts, and
 * split into a header phase and a streaming body phase for gateways. Each is a thin layer over
 * the one verification pipeline (pipeline/engine.ts): parse → gate → key + MAC → policy → body →
 * commit, with the nonce recorded only once the body passed.
 */
import { BodyTooLarge } from './errors.js';
import { admitRequest } from './pipeline/admission.js';
import { asBytes } from './pipeline/body.js';
import { isScheme, type PipelineConfig } from './pipeline/config.js';
import type { Scheme } from './pipeline/contract.js';
import { runStages } from './pipeline/engine.js';
import { isPromiseLike } from './primitives/promise.js';
import type { BodyCheck, BodyInput, MessageParts, SignatureCheck, VerifiedRequest, VerifyOptions } from './types.js';

/** Options of the verify functions: {@link VerifyOptions} plus the schemes to accept (default `[rfc9421()]`). */
export type VerifyRequestOptions = VerifyOptions & { schemes?: readonly Scheme[] };

const resultOf = (accepted: { result: VerifiedRequest }): VerifiedRequest => accepted.result;

/**
 * Header phase of verification (for streaming gateways): parses the credentials of the first
 * scheme that matches, verifies the MAC, the time window and the policy, and returns the body
 * check still to be fed (or `null`); pipe the body through {@link verifyingStream}. The nonce is
 * recorded only once the body passed: by `body.finish()`, or before this resolves when there is
 * no body check. A body-tampered copy therefore never burns the genuine request's nonce.
 *
 * @example
 * ```ts
 * const check = await checkSignature(message, { keys, nonceStore, hasBody: messageHasBody(message) });
 * await upstreamBody.pipeThrough(verifyingStream(check.body, { maxBodyBytes: 1 << 20 })).pipeTo(sink);
 * ```
 */
export async function checkSignature(
  message: MessageParts,
  options: VerifyRequestOptions & { hasBody: boolean },
): Promise<SignatureCheck> {
  const admission = await admitRequest(options as PipelineConfig<undefined>, message, options, undefined);
  if (!admission.checksBody) {
    await admission.finish();
    return { result: admission.result, body: null, signatureVerified: admission.signatureVerified };
  }
  const body: BodyCheck = {
    update: (chunk) => admission.update(chunk),
    finish: async () => {
      await admission.finish();
    },
    complete: async (bytes) => {
      await admission.complete(bytes);
    },
    // The bytes the signature covers, for schemes that sign a re-serialised body (django-hmac).
    signedBody: () => admission.signedBody() ?? new Uint8Array(0),
  };
  return { result: admission.result, body, signatureVerified: admission.signatureVerified };
}

/**
 * Verifies a request given as parts plus a body (bytes, web stream, or any async
 * iterable such as Node's `IncomingMessage`). Streams the body through the scheme's
 * digest, never buffering it. Throws an `HmacKitError` subclass on failure.
 *
 * @example
 * ```ts
 * // Node http: IncomingMessage is an AsyncIterable<Uint8Array>
 * const verified = await verifyMessage(
 *   { method: req.method!, url: new URL(req.url!, 'https://api.example.com'), headers: req.headers },
 *   req,
 *   { keys: (id) => keyStore.get(id), nonceStore },
 * );
 * ```
 */
export function verifyMessage(
  message: MessageParts,
  body: BodyInput,
  options: VerifyRequestOptions,
): Promise<VerifiedRequest> {
  let accepted: ReturnType<typeof runStages>;
  try {
    accepted = runStages(options as PipelineConfig<undefined>, message, body, undefined);
  } catch (error) {
    return Promise.reject(error);
  }
  return isPromiseLike(accepted) ? Promise.resolve(accepted).then(resultOf) : Promise.resolve(accepted.result);
}

/**
 * Verifies a web `Request` (Fetch API: Hono, Next.js, Deno, Bun, Workers, undici).
 * Reads the body from `request.clone()`, so the caller's request stays readable.
 *
 * @example
 * ```ts
 * export default {
 *   async fetch(request: Request) {
 *     try {
 *       const verified = await verifyRequest(request, { keys: (id) => keys.get(id), nonceStore });
 *       return new Response(`hello ${verified.keyId}`);
 *     } catch (error) {
 *       const problem = toProblem(error);
 *       return Response.json(problem.body, { status: problem.status, headers: problem.headers });
 *     }
 *   },
 * };
 * ```
 */
export async function verifyRequest(request: Request, options: VerifyRequestOptions): Promise<VerifiedRequest> {
  if (typeof Request === 'undefined' || !(request instanceof Request)) {
    throw new TypeError('verifyRequest expects a Request; use verifyMessage for other request shapes');
  }
  if (options?.schemes !== undefined && (!Array.isArray(options.schemes) || !options.schemes.every(isScheme))) {
    throw new TypeError('options.schemes must be a non-empty array of schemes (detect, parse, verify)');
  }
  if (typeof options?.keys !== 'function')
    throw new TypeError('options.keys must be a function (keyId) => key | undefined');
  const body = request.body === null ? null : request.clone().body;
  return verifyMessage({ method: request.method, url: request.url, headers: request.headers }, body, options);
}

/**
 * A pass-through stream that hashes the body as it flows: errors with `BodyTooLarge`
 * as soon as `maxBodyBytes` is exceeded and with `DigestMismatch` (from
 * `check.finish()`) at the end. With `check === null` it only enforces the size.
 *
 * @example
 * ```ts
 * const check = await checkSignature(message, { keys, hasBody: true });
 * const verifiedBody = request.body!.pipeThrough(verifyingStream(check.body, { maxBodyBytes: 10_000_000 }));
 * await fetch(upstreamUrl, { method: 'POST', body: verifiedBody, duplex: 'half' });
 * ```
 */
export function verifyingStream(
  check: BodyCheck | null,
  options: { maxBodyBytes?: number } = {},
): TransformStream<Uint8Array, Uint8Array> {
  const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  if (typeof maxBodyBytes !== 'number' || !(maxBodyBytes >= 0)) {
    throw new TypeError('maxBodyBytes must be a non-negative number');
  }
  let received = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const bytes = asBytes(chunk);
      received += bytes.length;
      if (received > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
      check?.update(bytes);
      controller.enqueue(bytes);
    },
    async flush() {
      await check?.finish();
    },
  });
}

/**
 * The async-iterable counterpart of {@link verifyingStream}, for Node sources
 * (`IncomingMessage`, `Readable`, generators): yields each chunk after hashing it, errors
 * with `BodyTooLarge` past `maxBodyBytes` and with `DigestMismatch` (from `check.finish()`)
 * at the end. No TransformStream, so no per-chunk promise hops beyond the source's own.
 * Stopping early (`break`, an error downstream) closes the source.
 *
 * @example
 * ```ts
 * const check = await checkSignature(message, { keys, hasBody: messageHasBody(message) });
 * const body = verifyingIterable(check.body, req, { maxBodyBytes: 10_000_000 });
 * await undici.request(upstreamUrl, { method: 'POST', body: Readable.from(body) });
 * ```
 */
export function verifyingIterable(
  check: BodyCheck | null,
  source: AsyncIterable<Uint8Array>,
  options: { maxBodyBytes?: number } = {},
): AsyncIterable<Uint8Array> {
  const maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
  if (typeof maxBodyBytes !== 'number' || !(maxBodyBytes >= 0)) {
    throw new TypeError('maxBodyBytes must be a non-negative number');
  }
  if (source === null || typeof (source as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] !== 'function') {
    throw new TypeError('source must be an async iterable of Uint8Array');
  }
  return {
    [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
      const chunks = source[Symbol.asyncIterator]();
      let received = 0;
      let finished = false;
      const stop = async () => {
        finished = true;
        await chunks.return?.(undefined);
      };
      return {
        async next(): Promise<IteratorResult<Uint8Array>> {
          if (finished) return { done: true, value: undefined };
          let step: IteratorResult<Uint8Array>;
          try {
            step = await chunks.next();
          } catch (error) {
            finished = true;
            throw error;
          }
          if (step.done) {
            finished = true;
            await check?.finish();
            return { done: true, value: undefined };
          }
          let bytes: Uint8Array;
          try {
            bytes = asBytes(step.value);
          } catch (error) {
            await stop();
            throw error;
          }
          received += bytes.length;
          if (received > maxBodyBytes) {
            await stop();
            throw new BodyTooLarge('body exceeds the size limit');
          }
          check?.update(bytes);
          return { done: false, value: bytes };
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          if (!finished) await stop();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
