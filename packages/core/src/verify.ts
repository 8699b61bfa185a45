/**
 * Verification entry points: over web `Request`s, over framework-neutral message
 * parts, and split into a header phase and a streaming body phase for gateways.
 */
import { BodyTooLarge, SignatureMissing } from './errors.js';
import { getHeader } from './headers.js';
import { hasCompleteNow, isPromise, schemeVerifiers, type VerifyNow } from './key-lookup.js';
import { enforceNonceEpoch, nonceTtlSeconds, recordNonce, resolvePolicy, unixNow } from './policy.js';
import { rfc9421 } from './schemes/rfc9421.js';
import type {
  BodyCheck,
  BodyInput,
  MessageParts,
  Scheme,
  SignatureCheck,
  VerifiedRequest,
  VerifyOptions,
} from './types.js';

/** Options of the verify functions: {@link VerifyOptions} plus the schemes to accept (default `[rfc9421()]`). */
export type VerifyRequestOptions = VerifyOptions & { schemes?: readonly Scheme[] };

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
let defaultSchemes: readonly Scheme[] | undefined;

function schemesOf(options: VerifyRequestOptions): readonly Scheme[] {
  if (!options || typeof options !== 'object') throw new TypeError('verify options are required');
  if (typeof options.keys !== 'function')
    throw new TypeError('options.keys must be a function (keyId) => key | undefined');
  if (options.schemes === undefined) {
    defaultSchemes ??= Object.freeze([rfc9421()]);
    return defaultSchemes;
  }
  const schemes = options.schemes;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw new TypeError('options.schemes must be a non-empty array of schemes');
  }
  // A plain loop: this runs twice per verification and every() allocated a closure each time.
  for (let index = 0; index < schemes.length; index++) {
    const scheme = schemes[index] as Scheme | undefined;
    if (!scheme || typeof scheme.detect !== 'function' || typeof scheme.verify !== 'function') {
      throw new TypeError('options.schemes must be a non-empty array of schemes');
    }
  }
  return schemes;
}

/**
 * Whether a request carries a body, judged from its head alone: `Content-Length`
 * greater than 0, any `Transfer-Encoding`, or a POST/PUT/PATCH method (an empty
 * POST body is covered by a Content-Digest too).
 *
 * @example
 * ```ts
 * messageHasBody({ method: 'GET', url, headers: { 'content-length': '0' } }); // false
 * messageHasBody({ method: 'POST', url, headers: {} }); // true
 * ```
 */
export function messageHasBody(message: MessageParts): boolean {
  if (BODY_METHODS.has(String(message.method).toUpperCase())) return true;
  const headers = message.headers ?? {};
  if (getHeader(headers, 'transfer-encoding') !== undefined) return true;
  const length = getHeader(headers, 'content-length');
  return length !== undefined && !/^\s*0+\s*$/.test(length);
}

function withNonceAfterBody(body: BodyCheck, record: () => Promise<void>): BodyCheck {
  return {
    update: (chunk) => body.update(chunk),
    async finish() {
      await body.finish();
      await record();
    },
    // The bytes the signature covers, for schemes that sign a re-serialised body (django-hmac).
    ...(body.signedBody ? { signedBody: body.signedBody.bind(body) } : {}),
  };
}

/**
 * Header phase of verification (for streaming gateways): picks the first scheme whose
 * `detect()` matches, verifies signature, time window, policy and key, and records
 * the nonce once the signature itself is verified. Returns the body check still to
 * be fed (or `null`); pipe the body through {@link verifyingStream}.
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
  return checkSignatureNow(message, options, Boolean(options.hasBody));
}

// checkSignature() without a promise of its own: synchronous when the scheme answers synchronously
// and there is no nonce to record.
function checkSignatureNow(
  message: MessageParts,
  options: VerifyRequestOptions,
  hasBody: boolean,
  schemes: readonly Scheme[] = schemesOf(options),
): SignatureCheck | Promise<SignatureCheck> {
  let scheme: Scheme | undefined;
  let verifyNow: VerifyNow | undefined;
  if (schemes.length === 1) {
    // One scheme of the core's own: its verify reports a missing signature itself (SignatureMissing),
    // so detect() would only read the same headers once more.
    verifyNow = schemeVerifiers.get(schemes[0]!);
    if (verifyNow !== undefined) scheme = schemes[0];
  }
  for (let index = 0; index < schemes.length && scheme === undefined; index++) {
    if (schemes[index]!.detect(message)) scheme = schemes[index];
  }
  if (!scheme) throw new SignatureMissing('no signature of an accepted scheme');
  verifyNow ??= schemeVerifiers.get(scheme);
  const check = verifyNow
    ? verifyNow(message, options, hasBody)
    : scheme.verify(
        message,
        (options as { hasBody?: unknown }).hasBody === hasBody
          ? (options as VerifyRequestOptions & { hasBody: boolean })
          : { ...options, hasBody },
      );
  if (options.nonceStore === undefined) return check;
  return isPromise(check)
    ? check.then((settled) => withNonce(settled, options, hasBody))
    : withNonce(check, options, hasBody);
}

async function withNonce(
  check: SignatureCheck,
  options: VerifyRequestOptions,
  hasBody: boolean,
): Promise<SignatureCheck> {
  const { result } = check;
  const nonce = result.nonce;
  if (options.nonceStore === undefined || nonce === undefined) return check;
  const policy = resolvePolicy(options.policy, hasBody);
  const now = Math.floor((options.now ?? unixNow)());
  // Policy: a signature older than what the store remembers may have been accepted before (issue #11).
  const checkedEpoch = await enforceNonceEpoch(options.nonceStore, result.created, policy, now);
  const record = () =>
    recordNonce(
      options.nonceStore,
      result.keyId,
      nonce,
      nonceTtlSeconds(policy, result.expires, now, result.acceptableUntil),
      checkedEpoch,
    );
  if (check.body === null || check.signatureVerified) {
    await record();
    return check;
  }
  return { ...check, body: withNonceAfterBody(check.body, record) };
}

async function* chunksOf(body: BodyInput): AsyncGenerator<Uint8Array> {
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

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError('body chunks must be Uint8Array');
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
export async function verifyMessage(
  message: MessageParts,
  body: BodyInput,
  options: VerifyRequestOptions,
): Promise<VerifiedRequest> {
  const schemes = schemesOf(options);
  const maxBodyBytes = resolvePolicy(options.policy, false).maxBodyBytes;
  if (maxBodyBytes !== Number.POSITIVE_INFINITY) {
    const declared = Number(getHeader(message.headers ?? {}, 'content-length'));
    if (Number.isFinite(declared) && declared > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
  }

  if (body instanceof Uint8Array) {
    // Bytes already in memory (a buffered framework body): no async iteration needed.
    if (body.length > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
    const pending = checkSignatureNow(message, options, messageHasBody(message) || body.length > 0, schemes);
    const check = isPromise(pending) ? await pending : pending;
    const bodyCheck = check.body;
    if (bodyCheck) {
      if (hasCompleteNow(bodyCheck)) {
        const pending = bodyCheck.completeNow(body);
        if (pending !== undefined) await pending;
      } else if (bodyCheck.complete !== undefined) {
        await bodyCheck.complete(body);
      } else {
        if (body.length > 0) bodyCheck.update(body);
        await bodyCheck.finish();
      }
    }
    return check.result;
  }

  // Async iterables (Node's IncomingMessage, generators) are read through their own iterator:
  // wrapping them in an async generator costs a promise hop and objects per chunk.
  const iterable =
    body !== null &&
    body !== undefined &&
    typeof (body as ReadableStream<Uint8Array>).getReader !== 'function' &&
    typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function';
  const chunks: AsyncIterator<Uint8Array> = iterable
    ? (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    : chunksOf(body);
  let ended = false;
  try {
    // A body that arrives without Content-Length (HTTP/2, in-process requests) is still a body:
    // look at the first bytes before deciding what the signature must cover.
    let first: Uint8Array | undefined;
    for (;;) {
      const next = await chunks.next();
      if (next.done) {
        ended = true;
        break;
      }
      const chunk = asBytes(next.value);
      if (chunk.length > 0) {
        first = chunk;
        break;
      }
    }
    const hasBody = messageHasBody(message) || first !== undefined;
    const check = await checkSignatureNow(message, options, hasBody, schemes);
    if (check.body) {
      let received = 0;
      const feed = (chunk: Uint8Array) => {
        received += chunk.length;
        if (received > maxBodyBytes) throw new BodyTooLarge('body exceeds the size limit');
        check.body!.update(chunk);
      };
      if (first) feed(first);
      while (!ended) {
        const next = await chunks.next();
        if (next.done) ended = true;
        else feed(asBytes(next.value));
      }
      await check.body.finish();
    }
    return check.result;
  } finally {
    // Stopping early (error, no body check) tells the source, as for...of would.
    if (!ended) await chunks.return?.(undefined);
  }
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
  schemesOf(options);
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
