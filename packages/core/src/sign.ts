/**
 * Signing entry points: over web `Request`s and over framework-neutral message parts.
 */

import type { Scheme } from './pipeline/contract.js';
import { utf8 } from './primitives/encoding.js';
import { rfc9421 } from './schemes/rfc9421/scheme.js';
import type { CryptoProvider, MessageParts, SigningKey } from './types.js';

/**
 * Options of {@link signMessage} / {@link signRequest}. Scheme-specific options
 * (e.g. rfc9421's `components`, `includeAlg`, `label`) are passed through.
 */
export interface SignOptions {
  /** Scheme to sign with. Default `rfc9421()`. */
  scheme?: Scheme;
  /** Header fields to cover in addition to the scheme's defaults, e.g. `['content-type']`. */
  coveredHeaders?: readonly string[];
  /** A specific nonce, or `false` for none. Default: a random nonce. */
  nonce?: string | false;
  /** Signature lifetime: adds `expires = created + expiresInSeconds`. */
  expiresInSeconds?: number;
  /** Application-specific `tag` parameter. */
  tag?: string;
  crypto?: CryptoProvider;
  /** Current time in Unix seconds; injectable for tests. */
  now?: () => number;
  [option: string]: unknown;
}

let defaultScheme: Scheme | undefined;

function schemeOf(options: SignOptions): Scheme {
  if (options.scheme === undefined) {
    defaultScheme ??= rfc9421();
    return defaultScheme;
  }
  if (!options.scheme || typeof options.scheme.sign !== 'function')
    throw new TypeError('options.scheme must be a Scheme');
  return options.scheme;
}

/**
 * Computes the headers that sign a request (`Signature`, `Signature-Input`,
 * `Content-Digest`... depending on the scheme) and the URL to send it to.
 *
 * @example
 * ```ts
 * const { headers, url } = await signMessage(
 *   { method: 'POST', url: 'https://api.example.com/v1/orders', headers: { 'content-type': 'application/json' }, body: '{"qty":1}' },
 *   { keyId: 'hk_live_123', secret: process.env.HMAC_KIT_SECRET! },
 *   { coveredHeaders: ['content-type'] },
 * );
 * await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"qty":1}' });
 * ```
 */
export async function signMessage(
  message: MessageParts & { body?: Uint8Array | string | null },
  key: SigningKey,
  options: SignOptions = {},
): Promise<{ headers: Record<string, string>; url: string }> {
  if (!message || typeof message !== 'object') throw new TypeError('signMessage needs a message');
  const scheme = schemeOf(options);
  const body = typeof message.body === 'string' ? utf8(message.body) : (message.body ?? null);
  if (body !== null && !(body instanceof Uint8Array))
    throw new TypeError('body must be a string, a Uint8Array or null');
  const { scheme: _scheme, ...schemeOptions } = options;
  const signed = await scheme.sign(
    { method: message.method, url: message.url, headers: message.headers ?? {}, body },
    key,
    schemeOptions,
  );
  return { headers: signed.headers, url: signed.url ?? String(message.url) };
}

/**
 * Signs a web `Request` and returns a new one carrying the signature headers (the
 * original stays usable). The body is read from a clone.
 *
 * @example
 * ```ts
 * const signed = await signRequest(
 *   new Request('https://api.example.com/v1/orders', { method: 'POST', body: JSON.stringify({ qty: 1 }) }),
 *   { keyId: 'hk_live_123', secret: 'hks_...' },
 * );
 * const response = await fetch(signed);
 * ```
 */
export async function signRequest(request: Request, key: SigningKey, options: SignOptions = {}): Promise<Request> {
  if (typeof Request === 'undefined' || !(request instanceof Request))
    throw new TypeError('signRequest expects a Request');
  const body = request.body === null ? null : new Uint8Array(await request.clone().arrayBuffer());
  const { headers, url } = await signMessage(
    { method: request.method, url: request.url, headers: request.headers, body },
    key,
    options,
  );
  const merged = new Headers(request.headers);
  for (const [name, value] of Object.entries(headers)) merged.set(name, value);
  return new Request(url, {
    method: request.method,
    headers: merged,
    body: body as Uint8Array<ArrayBuffer> | null,
    signal: request.signal,
    redirect: request.redirect,
    credentials: request.credentials,
    cache: request.cache,
    integrity: request.integrity,
    keepalive: request.keepalive,
    referrerPolicy: request.referrerPolicy,
    // 'navigate' cannot be set from script; such requests are plain same-origin fetches here.
    mode: request.mode === 'navigate' ? 'same-origin' : request.mode,
  });
}
