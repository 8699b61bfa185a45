/**
 * Signs every axios request with hmac-kit (RFC 9421 profile by default). The interceptor
 * serializes the body itself (running axios' transformRequest), so the bytes hashed into
 * Content-Digest are exactly the bytes sent.
 */
import type { SigningClientOptions } from '@hmac-kit/core';
import { signingClient, signMessage } from '@hmac-kit/core';
import type { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import axios, { AxiosHeaders } from 'axios';

/** What the axios integration needs to sign. */
export type HmacKitAxiosOptions = SigningClientOptions;

/** The request interceptor `hmacKitInterceptor()` returns. */
export type HmacKitAxiosInterceptor = (config: InternalAxiosRequestConfig) => Promise<InternalAxiosRequestConfig>;

function isStreamLike(data: unknown): boolean {
  if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) return true;
  const candidate = data as { pipe?: unknown; getBoundary?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    (typeof candidate.pipe === 'function' || typeof candidate[Symbol.asyncIterator] === 'function')
  );
}

function exactArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** The exact bytes the adapter will send, or `null` for no body. */
async function bodyBytes(data: unknown): Promise<Uint8Array | string | null> {
  if (data === undefined || data === null) return null;
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof URLSearchParams) return data.toString();
  if (typeof Blob !== 'undefined' && data instanceof Blob) return new Uint8Array(await data.arrayBuffer());
  if (typeof FormData !== 'undefined' && data instanceof FormData) {
    throw new TypeError('hmacKit: FormData bodies are encoded by the adapter after signing; send bytes or a string');
  }
  if (isStreamLike(data)) {
    throw new TypeError(
      'hmacKit: streaming bodies cannot be signed (Content-Digest needs every byte first); read the stream into a Buffer',
    );
  }
  throw new TypeError('hmacKit: unsupported request body type');
}

/**
 * An axios request interceptor that signs each request. Register it before any other request
 * interceptor (axios runs request interceptors in reverse order, so the first registered runs last
 * and sees the final request).
 *
 * @example
 * ```ts
 * import axios from 'axios';
 * import { hmacKitInterceptor } from '@hmac-kit/axios';
 * const api = axios.create({ baseURL: 'https://api.example.com' });
 * api.interceptors.request.use(hmacKitInterceptor({ keyId: 'hk_...', secret: process.env.HMAC_SECRET! }));
 * const { data } = await api.post('/orders', { sku: 'A1' });
 * ```
 */
export function hmacKitInterceptor(options: HmacKitAxiosOptions): HmacKitAxiosInterceptor {
  const { key, signOptions, nonce: nextNonce } = signingClient(options, 'hmacKit');

  return async function hmacKitSignAxiosRequest(config) {
    const headers = AxiosHeaders.from(config.headers);
    config.headers = headers;
    // Serialize now (as dispatchRequest would later), then make the later pass a no-op, so the
    // signed bytes are the sent bytes.
    const transforms = config.transformRequest;
    let data: unknown = config.data;
    for (const transform of transforms === undefined ? [] : Array.isArray(transforms) ? transforms : [transforms]) {
      data = transform.call(config, data, headers.normalize(false));
    }
    config.transformRequest = [(passThrough: unknown) => passThrough];
    const method = (config.method ?? 'get').toUpperCase();
    if (['POST', 'PUT', 'PATCH'].includes(method) && !headers.has('content-type')) {
      headers.setContentType('application/x-www-form-urlencoded', false);
    }
    const body = await bodyBytes(data);
    // An exact ArrayBuffer copy is accepted by every adapter (http, fetch, xhr); a bare Uint8Array is
    // not, and a Buffer's .buffer may be a shared pool far larger than the body.
    config.data = typeof body === 'string' || body === null ? body : exactArrayBuffer(body);

    const base = (globalThis as { location?: { href: string } }).location?.href;
    const url = new URL(axios.getUri(config), base).href;
    // Arrays stay arrays: each element is one field line, as the adapter will send it.
    const plainHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers.toJSON() as Record<string, unknown>)) {
      if (value === undefined || value === null || value === false) continue;
      plainHeaders[name] = Array.isArray(value) ? value.map(String) : String(value);
    }
    const nonce = nextNonce();
    const signed = await signMessage({ method, url, headers: plainHeaders, body }, key, { ...signOptions, nonce });
    config.url = signed.url;
    config.baseURL = undefined;
    config.params = undefined;
    for (const [name, value] of Object.entries(signed.headers)) headers.set(name, value);
    return config;
  };
}

/**
 * Adds the hmac-kit signing interceptor to an axios instance and returns the instance.
 *
 * @example
 * ```ts
 * import axios from 'axios';
 * import { withHmacKit } from '@hmac-kit/axios';
 * const api = withHmacKit(axios.create({ baseURL: 'https://api.example.com' }), {
 *   keyId: 'hk_...',
 *   secret: process.env.HMAC_SECRET!,
 * });
 * const { data } = await api.get('/v1/whoami');
 * ```
 */
export function withHmacKit<T extends AxiosInstance>(instance: T, options: HmacKitAxiosOptions): T {
  instance.interceptors.request.use(hmacKitInterceptor(options));
  return instance;
}

export const PACKAGE_NAME = '@hmac-kit/axios';
