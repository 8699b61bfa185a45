/**
 * A `fetch` that signs every request, for Node (>= 20), browsers, Deno, Bun and edge runtimes.
 */

import type { Scheme } from './pipeline/contract.js';
import { parseSecret } from './secret.js';
import { type SignOptions, signRequest } from './sign.js';
import type { CryptoProvider, HashAlgorithm, SigningKey } from './types.js';

/** What the Node client integrations (`@hmac-kit/axios`, `@hmac-kit/undici`) need to sign each request. */
export interface SigningClientOptions {
  keyId: string;
  /** The `hks_...` secret, or raw key bytes. */
  secret: string | Uint8Array;
  /** The key's algorithm (default `sha256`). */
  algorithm?: HashAlgorithm;
  /** Request headers to cover besides the profile's defaults (e.g. `content-type`). */
  coveredHeaders?: readonly string[];
  /** Defaults to the core's `rfc9421()`. */
  scheme?: Scheme;
  crypto?: CryptoProvider;
  /** Seconds until the signature expires (adds `expires`). */
  expiresInSeconds?: number;
  tag?: string;
  /**
   * Where nonces come from: a function returning a fresh one per request, or `false` to leave the
   * nonce out (only for servers that do not require one). Default: 16 random bytes, base64url.
   */
  nonce?: false | (() => string);
  now?: () => number;
}

/** {@link SigningClientOptions} checked once: what a client integration signs each request with. */
export interface SigningClient {
  readonly key: SigningKey;
  /** Options for `signMessage` / `signRequest`, except the nonce (see {@link SigningClient.nonce}). */
  readonly signOptions: SignOptions;
  /** The nonce option for the next request: a fresh one from `options.nonce`, `false`, or `undefined` (the default). */
  nonce(): string | false | undefined;
}

const ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];

/**
 * Checks the options every signing client takes (`createSignedFetch`, `@hmac-kit/axios`,
 * `@hmac-kit/undici`) once, at construction: a `TypeError` naming `caller` and the option, never
 * echoing the secret.
 *
 * @example
 * ```ts
 * const client = signingClient({ keyId: 'hk_live_123', secret: process.env.HMAC_KIT_SECRET! }, 'hmacKit');
 * await signMessage(message, client.key, { ...client.signOptions, nonce: client.nonce() });
 * ```
 */
export function signingClient(options: SigningClientOptions, caller: string): SigningClient {
  if (!options || typeof options !== 'object') throw new TypeError(`${caller}: options are required`);
  const { keyId, secret, algorithm = 'sha256', coveredHeaders, nonce } = options;
  if (typeof keyId !== 'string' || keyId.length === 0) {
    throw new TypeError(`${caller}: keyId must be a non-empty string`);
  }
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array)) {
    throw new TypeError(`${caller}: secret must be an hks_... string or bytes`);
  }
  parseSecret(secret);
  if (!ALGORITHMS.includes(algorithm)) throw new TypeError(`${caller}: algorithm must be sha256, sha384 or sha512`);
  if (
    coveredHeaders !== undefined &&
    (!Array.isArray(coveredHeaders) || !coveredHeaders.every((h) => typeof h === 'string'))
  ) {
    throw new TypeError(`${caller}: coveredHeaders must be an array of header names`);
  }
  if (nonce !== undefined && nonce !== false && typeof nonce !== 'function') {
    throw new TypeError(`${caller}: nonce must be false or a function returning a fresh nonce`);
  }
  return {
    key: { keyId, secret, algorithm },
    signOptions: {
      scheme: options.scheme,
      coveredHeaders,
      crypto: options.crypto,
      expiresInSeconds: options.expiresInSeconds,
      tag: options.tag,
      now: options.now,
    },
    nonce: typeof nonce === 'function' ? nonce : () => nonce,
  };
}

export interface SignedFetchOptions {
  keyId: string;
  /** Printable `hks_...` secret or raw bytes. */
  secret: string | Uint8Array;
  /** The key's algorithm. Default `sha256`. */
  algorithm?: HashAlgorithm;
  /** Header fields to cover in addition to the scheme's defaults, whenever a request carries them. */
  coveredHeaders?: readonly string[];
  /** The fetch to wrap. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Scheme to sign with. Default `rfc9421()`. */
  scheme?: Scheme;
  crypto?: CryptoProvider;
}

/**
 * Returns a `fetch` that signs each request before sending it. Options are
 * validated once, here (`TypeError` on a malformed secret, without echoing it).
 *
 * @example
 * ```ts
 * const signedFetch = createSignedFetch({ keyId: 'hk_live_123', secret: process.env.HMAC_KIT_SECRET! });
 * const response = await signedFetch('https://api.example.com/v1/orders', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ qty: 1 }),
 * });
 * ```
 */
export function createSignedFetch(options: SignedFetchOptions): typeof fetch {
  const { key } = signingClient(options, 'createSignedFetch');
  const { coveredHeaders, scheme, crypto } = options;
  const baseFetch = options.fetch;
  if (baseFetch !== undefined && typeof baseFetch !== 'function') throw new TypeError('fetch must be a function');
  if (baseFetch === undefined && typeof globalThis.fetch !== 'function') {
    throw new TypeError('no global fetch in this runtime; pass options.fetch');
  }
  const signOptions: SignOptions = {
    ...(scheme ? { scheme } : {}),
    ...(crypto ? { crypto } : {}),
  };

  async function signedFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    // One fetch serves many requests: cover each configured header that this request carries.
    const present = coveredHeaders?.filter((name) => request.headers.has(name));
    const signed = await signRequest(request, key, present ? { ...signOptions, coveredHeaders: present } : signOptions);
    // The global fetch must be called with the global object as `this` in browsers.
    return baseFetch ? baseFetch(signed) : globalThis.fetch.call(globalThis, signed);
  }
  return signedFetch as typeof fetch;
}
