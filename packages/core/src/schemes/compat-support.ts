/**
 * Plumbing shared by the compatibility schemes (SigV4, X-API-*, django-hmac,
 * Standard Webhooks): raw URL splitting, the time window and secret handling (header
 * access is protocol/headers.ts). Private to
 * `schemes/`; nothing here is exported from the package.
 */

import { ComponentNotCovered, SignatureMalformed } from '../errors.js';
import { ALL_ALGORITHMS, checkTimeWindow, type ResolvedPolicy } from '../pipeline/policy.js';
import { webCryptoProvider } from '../primitives/crypto.js';
import { fromBase64, toBase64Url } from '../primitives/encoding.js';
import { parseSecret, SECRET_PREFIX } from '../secret.js';
import type { CryptoProvider, HashAlgorithm, SigningKey } from '../types.js';

/** The provider to use: the caller's, else the WebCrypto one that runs everywhere. */
export function cryptoOf(options: { crypto?: CryptoProvider } | undefined): CryptoProvider {
  return options?.crypto ?? webCryptoProvider;
}

/** Current Unix time in seconds, from the injectable clock when there is one. */
export function nowOf(options: { now?: () => number } | undefined): number {
  return options?.now ? options.now() : Math.floor(Date.now() / 1000);
}

/** A URL split into the pieces signatures cover, *without* re-encoding anything. */
export interface RawUrl {
  /** `host[:port]` as addressed. */
  authority: string;
  /** Path exactly as sent (percent-encoding untouched), `/` when empty. */
  path: string;
  /** Query without the `?`, exactly as sent; `null` when there is no `?`. */
  query: string | null;
}

/**
 * Splits an absolute URL. Strings are split by hand because WHATWG `URL` parsing
 * re-encodes and resolves dot segments, and schemes that sign the path as sent
 * (curl before 8, SigV4's unnormalised form) must see the client's bytes.
 */
export function splitUrl(url: string | URL): RawUrl {
  // Requests to one endpoint repeat its URL (and a verifier splits it more than once): the last
  // string's parts are kept, frozen (callers only read them).
  if (url === lastUrl) return lastRawUrl!;
  if (typeof url !== 'string') {
    return {
      authority: url.host,
      path: url.pathname || '/',
      query: url.search === '' ? (url.href.includes('?') ? '' : null) : url.search.slice(1),
    };
  }
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/.exec(url);
  if (!match) {
    // A bare origin-form target ("/path?query") is accepted too.
    const origin = /^(\/[^?#]*)(?:\?([^#]*))?/.exec(url);
    if (!origin) throw new SignatureMalformed('request URL cannot be parsed');
    return { authority: '', path: origin[1]!, query: origin[2] ?? null };
  }
  const authority = match[1]!.includes('@') ? match[1]!.replace(/^[^@]*@/, '') : match[1]!;
  const raw: RawUrl = Object.freeze({ authority, path: match[2] || '/', query: match[3] ?? null });
  lastUrl = url;
  lastRawUrl = raw;
  return raw;
}

let lastUrl: string | undefined;
let lastRawUrl: RawUrl | undefined;

/** Rejects a creation time outside `[now - maxAge, now + skew]` (the core's shared window check). */
export function checkCreated(created: number, now: number, policy: ResolvedPolicy): void {
  checkTimeWindow({ created }, policy, now);
}

/** Enforces explicitly configured `requiredComponents` against what a scheme covers. */
export function checkRequiredComponents(covered: readonly string[], policy: ResolvedPolicy): void {
  // The core's default list (with @authority) is RFC 9421's; these schemes document what they cover instead.
  if (!policy.requiredComponentsGiven) return;
  for (const component of policy.requiredComponents) {
    if (!covered.includes(component.toLowerCase())) {
      throw new ComponentNotCovered(`signature does not cover ${component}`);
    }
  }
}

/** The printable form of an issued secret, `hks_<base64url>` (docs/protocol.md "Secrets"). */
export function printableSecret(raw: Uint8Array): string {
  return SECRET_PREFIX + toBase64Url(raw);
}

/**
 * Raw HMAC key bytes of a signing key: bytes as given, `hks_...` decoded. With
 * `acceptBase64`, other strings are read as standard base64 (django-hmac and
 * Standard Webhooks issue secrets that way).
 */
export function rawSecretOf(secret: SigningKey['secret'], acceptBase64 = false): Uint8Array {
  if (secret instanceof Uint8Array) return secret;
  if (typeof secret !== 'string') throw new TypeError('key.secret must be a string or a Uint8Array');
  if (secret.startsWith(SECRET_PREFIX)) return parseSecret(secret);
  if (acceptBase64) {
    const raw = fromBase64(secret);
    if (raw && raw.length > 0) return raw;
  }
  throw new TypeError('key.secret must be raw bytes or an hks_ secret');
}

/** Validates a hash algorithm option at construction time. */
export function assertAlgorithm(value: unknown, what: string): asserts value is HashAlgorithm {
  if (!ALL_ALGORITHMS.includes(value as HashAlgorithm)) {
    throw new TypeError(`${what} must be one of ${ALL_ALGORITHMS.join(', ')}`);
  }
}

/** Reads a whole body input into bytes (signers only; verifiers stream). */
export function bodyBytes(body: Uint8Array | string | null | undefined): Uint8Array {
  if (body === null || body === undefined) return new Uint8Array(0);
  if (typeof body === 'string') return new TextEncoder().encode(body);
  return body;
}
