/**
 * RFC 9530 `Content-Digest`: the signer states a hash of the body, the signature
 * covers that header, and the verifier hashes the body *as it streams* and
 * compares at the end, so a body is never held in memory only to be hashed.
 */
import { DigestMismatch, DigestMissing, SignatureMalformed } from './errors.js';
import { isInnerList, parseDictionary, serializeDictionary } from './structured-fields.js';
import type { BodyCheck, CryptoProvider, HashAlgorithm, IncrementalHash } from './types.js';

/** Digest algorithms from the IANA "Hash Algorithms for HTTP Digest Fields" registry that hmac-kit accepts. */
export type ContentDigestAlgorithm = 'sha-256' | 'sha-512';

const HASH_FOR: Readonly<Record<ContentDigestAlgorithm, HashAlgorithm>> = {
  'sha-256': 'sha256',
  'sha-512': 'sha512',
};

/** Strongest first: the verifier checks the first of these the header carries. */
const PREFERENCE: readonly ContentDigestAlgorithm[] = ['sha-512', 'sha-256'];

export function isContentDigestAlgorithm(value: unknown): value is ContentDigestAlgorithm {
  return value === 'sha-256' || value === 'sha-512';
}

/**
 * Computes a `Content-Digest` field value for a complete body.
 *
 * @example
 * ```ts
 * contentDigestHeader(webCryptoProvider, 'sha-256', utf8('{"hello": "world"}'));
 * // 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'
 * ```
 */
export function contentDigestHeader(
  provider: CryptoProvider,
  algorithm: ContentDigestAlgorithm,
  body: Uint8Array | null | undefined,
): string {
  if (!isContentDigestAlgorithm(algorithm)) throw new TypeError(`unsupported digest algorithm ${String(algorithm)}`);
  const hash = provider.createHash(HASH_FOR[algorithm]);
  if (body && body.length > 0) hash.update(body);
  return serializeDictionary(new Map([[algorithm, { value: hash.digest(), params: new Map() }]]));
}

/**
 * Parses a `Content-Digest` value into algorithm -> digest bytes. Unknown algorithms
 * are kept (the caller picks what it supports). Throws `SignatureMalformed`.
 *
 * @example
 * ```ts
 * parseContentDigest('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:').get('sha-256'); // Uint8Array(32)
 * ```
 */
export function parseContentDigest(value: string): Map<string, Uint8Array> {
  const dictionary = parseDictionary(value, 'Content-Digest');
  const digests = new Map<string, Uint8Array>();
  for (const [algorithm, member] of dictionary) {
    if (isInnerList(member) || !(member.value instanceof Uint8Array)) {
      throw new SignatureMalformed(`Content-Digest member "${algorithm}" is not a byte sequence`);
    }
    digests.set(algorithm, member.value);
  }
  return digests;
}

/**
 * A {@link BodyCheck} for a `Content-Digest` value: hashes chunks with the strongest
 * supported algorithm present and, on `finish()`, compares in constant time.
 * Throws `DigestMissing` when the header names no supported algorithm.
 *
 * @example
 * ```ts
 * const check = contentDigestCheck(webCryptoProvider, headers.get('content-digest')!);
 * for await (const chunk of body) check.update(chunk);
 * await check.finish(); // throws DigestMismatch if the body was altered
 * ```
 */
export function contentDigestCheck(provider: CryptoProvider, headerValue: string): BodyCheck {
  const digests = parseContentDigest(headerValue);
  const algorithm = PREFERENCE.find((candidate) => digests.has(candidate));
  if (!algorithm) throw new DigestMissing('Content-Digest carries no sha-256 or sha-512 digest');
  const expected = digests.get(algorithm)!;
  const hashAlgorithm = HASH_FOR[algorithm];
  let hash: IncrementalHash | undefined;
  let started = false;
  let finished = false;
  const compare = (actual: Uint8Array): Promise<void> =>
    provider.timingSafeEqual(actual, expected)
      ? Promise.resolve()
      : Promise.reject(new DigestMismatch(`body does not match its ${algorithm} Content-Digest`));
  return {
    update(chunk: Uint8Array): void {
      if (finished) throw new TypeError('body check already finished');
      started = true;
      hash ??= provider.createHash(hashAlgorithm);
      hash.update(chunk);
    },
    finish(): Promise<void> {
      if (finished) return Promise.reject(new TypeError('body check already finished'));
      finished = true;
      try {
        return compare((hash ?? provider.createHash(hashAlgorithm)).digest());
      } catch (error) {
        return Promise.reject(error);
      }
    },
    complete(body: Uint8Array): Promise<void> {
      if (finished || started) return Promise.reject(new TypeError('body check already started'));
      finished = true;
      try {
        // A body already in memory: a one-shot digest skips the incremental hash object.
        if (provider.hash !== undefined) return compare(provider.hash(hashAlgorithm, body));
        const fresh = provider.createHash(hashAlgorithm);
        if (body.length > 0) fresh.update(body);
        return compare(fresh.digest());
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}
