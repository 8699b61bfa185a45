/**
 * Signs every undici request with hmac-kit (RFC 9421 profile by default), as an interceptor for
 * `dispatcher.compose(...)` or by wrapping a dispatcher. Works for `request()`, `fetch()` (pass the
 * dispatcher) and anything else that dispatches through undici.
 */
import type { SigningClientOptions } from '@hmac-kit/core';
import { concatBytes, signingClient, signMessage } from '@hmac-kit/core';
import type { Dispatcher } from 'undici';

/** What the undici integration needs to sign. */
export interface HmacKitUndiciOptions extends SigningClientOptions {
  /**
   * What to do with streaming bodies (Node streams, async iterables, and every `fetch()` body, which
   * undici hands over as a stream). Content-Digest needs every byte before the request starts, so
   * `'buffer'` (default) reads the stream into memory up to `maxBufferedBodyBytes`; `'reject'`
   * fails such requests with a `TypeError`.
   */
  streamingBodies?: 'buffer' | 'reject';
  /** Largest streaming body buffered, in bytes (default 16 MiB); larger ones fail with a `RangeError`. */
  maxBufferedBodyBytes?: number;
}

type Headers = Record<string, string | string[]>;

function validateBodyOptions(options: HmacKitUndiciOptions): void {
  if (options.streamingBodies !== undefined && !['buffer', 'reject'].includes(options.streamingBodies)) {
    throw new TypeError("hmacKit: streamingBodies must be 'buffer' or 'reject'");
  }
  const max = options.maxBufferedBodyBytes;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) {
    throw new TypeError('hmacKit: maxBufferedBodyBytes must be a non-negative integer');
  }
}

/** undici accepts headers as a record, a flat `[name, value, ...]` array or an iterable of pairs. */
function toRecord(headers: Dispatcher.DispatchOptions['headers']): Headers {
  const out: Headers = {};
  const add = (name: string, value: string | string[] | undefined) => {
    if (value === undefined) return;
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else
      out[name] = [...(Array.isArray(existing) ? existing : [existing]), ...(Array.isArray(value) ? value : [value])];
  };
  if (headers === null || headers === undefined) return out;
  if (Array.isArray(headers) && (headers.length === 0 || typeof headers[0] === 'string')) {
    for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), String(headers[i + 1]));
    return out;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, string | string[] | undefined]>) add(name, value);
    return out;
  }
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>))
    add(name, value);
  return out;
}

async function readBody(
  body: unknown,
  options: { streamingBodies: 'buffer' | 'reject'; maxBufferedBodyBytes: number },
): Promise<Uint8Array | string | null> {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (typeof FormData !== 'undefined' && body instanceof FormData) {
    throw new TypeError('hmacKit: FormData bodies are encoded after signing; send bytes or a string');
  }
  const iterable = body as AsyncIterable<Uint8Array | string>;
  if (typeof iterable[Symbol.asyncIterator] !== 'function') throw new TypeError('hmacKit: unsupported request body');
  if (options.streamingBodies === 'reject') {
    throw new TypeError(
      'hmacKit: streaming bodies cannot be signed without buffering (Content-Digest needs every byte); pass a Buffer or string',
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of iterable) {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk;
    total += bytes.byteLength;
    if (total > options.maxBufferedBodyBytes) {
      throw new RangeError(`hmacKit: streaming body exceeds maxBufferedBodyBytes (${options.maxBufferedBodyBytes})`);
    }
    chunks.push(bytes);
  }
  return concatBytes(chunks, total);
}

function fail(handler: Dispatcher.DispatchHandler, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  if (typeof handler.onResponseError === 'function') handler.onResponseError(null as never, err);
  else handler.onError?.(err);
}

/**
 * An undici interceptor that signs each dispatched request.
 *
 * @example
 * ```ts
 * import { Agent, request } from 'undici';
 * import { hmacKitInterceptor } from '@hmac-kit/undici';
 * const dispatcher = new Agent().compose(hmacKitInterceptor({ keyId: 'hk_...', secret: process.env.HMAC_SECRET! }));
 * const { statusCode, body } = await request('https://api.example.com/v1/whoami', { dispatcher });
 * ```
 */
export function hmacKitInterceptor(options: HmacKitUndiciOptions): Dispatcher.DispatcherComposeInterceptor {
  const { key, signOptions, nonce: nextNonce } = signingClient(options, 'hmacKit');
  validateBodyOptions(options);
  const bodyOptions = {
    streamingBodies: options.streamingBodies ?? 'buffer',
    maxBufferedBodyBytes: options.maxBufferedBodyBytes ?? 16 * 1024 * 1024,
  };

  async function sign(opts: Dispatcher.DispatchOptions): Promise<Dispatcher.DispatchOptions> {
    if (opts.origin === undefined) throw new TypeError('hmacKit: the request has no origin');
    const headers = toRecord(opts.headers);
    // A Host header the caller set is the authority the server sees (and verifies), not the origin
    // the connection goes to (e.g. an IP address behind a load balancer).
    const origin = new URL(String(opts.origin));
    const hostName = Object.keys(headers).find((name) => name.toLowerCase() === 'host');
    const host = hostName === undefined ? undefined : headers[hostName];
    // (Parsed whole: the `host` setter would keep the origin's port when the header has none.)
    const authority = typeof host === 'string' && host !== '' ? new URL(`${origin.protocol}//${host}`) : origin;
    const target = new URL(opts.path, authority.origin);
    const body = await readBody(opts.body, bodyOptions);
    const nonce = nextNonce();
    const signed = await signMessage({ method: opts.method, url: target.href, headers, body }, key, {
      ...signOptions,
      nonce,
    });
    const sent = new URL(signed.url);
    for (const name of Object.keys(signed.headers)) {
      for (const existing of Object.keys(headers))
        if (existing.toLowerCase() === name.toLowerCase()) delete headers[existing];
    }
    return { ...opts, path: sent.pathname + sent.search, headers: { ...headers, ...signed.headers }, body };
  }

  return (dispatch) =>
    function hmacKitDispatch(opts, handler) {
      sign(opts).then(
        (signedOpts) => {
          try {
            dispatch(signedOpts, handler);
          } catch (error) {
            fail(handler, error);
          }
        },
        (error: unknown) => fail(handler, error),
      );
      return true;
    };
}

/**
 * Wraps a dispatcher (Agent, Pool, Client...) so every request through it is signed.
 *
 * @example
 * ```ts
 * import { Agent, fetch } from 'undici';
 * import { withHmacKit } from '@hmac-kit/undici';
 * const dispatcher = withHmacKit(new Agent(), { keyId: 'hk_...', secret: process.env.HMAC_SECRET! });
 * const response = await fetch('https://api.example.com/v1/whoami', { dispatcher });
 * ```
 */
export function withHmacKit<T extends Dispatcher>(
  dispatcher: T,
  options: HmacKitUndiciOptions,
): Dispatcher.ComposedDispatcher {
  return dispatcher.compose(hmacKitInterceptor(options));
}

export const PACKAGE_NAME = '@hmac-kit/undici';
