/**
 * The RFC 9421 profile's options: the scheme's (label, digest algorithm) checked once by
 * {@link resolveRfc9421Options}, the signer's per-call options, and the `alg` names of the profile.
 */

import { isContentDigestAlgorithm } from '../../protocol/content-digest.js';
import type { CryptoProvider, HashAlgorithm } from '../../types.js';

/** `alg` values of this profile. `hmac-sha256` is registered by RFC 9421; the other two are hmac-kit extensions. */
export type Rfc9421Algorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

export const ALG_FOR_HASH: Readonly<Record<HashAlgorithm, Rfc9421Algorithm>> = {
  sha256: 'hmac-sha256',
  sha384: 'hmac-sha384',
  sha512: 'hmac-sha512',
};
export const HASH_FOR_ALG: Readonly<Record<string, HashAlgorithm>> = {
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

/** Components the signer always covers (plus `content-digest` when there is a body). */
export const RFC9421_DEFAULT_COMPONENTS: readonly string[] = Object.freeze([
  '@method',
  '@authority',
  '@path',
  '@query',
]);
export const LABEL = /^[a-z*][a-z0-9_\-.*]*$/;

export interface Rfc9421Options {
  /**
   * Signature label. The signer writes it (default `sig`); when given explicitly the
   * verifier only considers signatures with this label, otherwise any label.
   */
  label?: string;
  /** Content-Digest algorithm the signer uses. Default `sha-256`; the verifier accepts both. */
  digestAlgorithm?: 'sha-256' | 'sha-512';
}

/** Options of {@link Scheme.sign} for this scheme (all optional). */
export interface Rfc9421SignOptions {
  crypto?: CryptoProvider;
  now?: () => number;
  /** Header fields to cover in addition to the defaults, e.g. `['content-type']`. */
  coveredHeaders?: readonly string[];
  /**
   * Replaces the covered component list entirely (advanced: the verifier's policy
   * must accept it). Names as in {@link Rfc9421SignOptions.coveredHeaders} or
   * RFC 8941 strings such as `"@query-param";name="id"`.
   */
  components?: readonly string[];
  /** A nonce to use, or `false` for none. Default: 16 random bytes, base64url. */
  nonce?: string | false;
  /** Adds `expires = created + expiresInSeconds`. */
  expiresInSeconds?: number;
  /** Application tag (`tag` parameter). */
  tag?: string;
  /** Whether to write the `alg` parameter. Default true. */
  includeAlg?: boolean;
  /** Overrides the scheme's label for this signature. */
  label?: string;
}

/** The scheme's options once checked: what the parser and the signer of one `rfc9421()` share. */
export interface Rfc9421Config {
  readonly label: string | undefined;
  readonly digestAlgorithm: 'sha-256' | 'sha-512';
}

/**
 * Checks the options of `rfc9421()` (a TypeError names the wrong one) and fills in the defaults.
 *
 * @example
 * ```ts
 * const config = resolveRfc9421Options({ label: 'sig1' }); // { label: 'sig1', digestAlgorithm: 'sha-256' }
 * ```
 */
export function resolveRfc9421Options(options: Rfc9421Options): Rfc9421Config {
  if (options === null || typeof options !== 'object') throw new TypeError('rfc9421 options must be an object');
  const { label, digestAlgorithm = 'sha-256' } = options;
  if (label !== undefined && (typeof label !== 'string' || !LABEL.test(label))) {
    throw new TypeError('label must be a structured-field key (lowercase letters, digits, _ - . *)');
  }
  if (!isContentDigestAlgorithm(digestAlgorithm)) throw new TypeError('digestAlgorithm must be sha-256 or sha-512');
  return { label, digestAlgorithm };
}
