/**
 * The `X-API-*` header scheme: the "API key + timestamp + nonce + HMAC" convention
 * many home-made middlewares use, hardened so the signature covers the method,
 * path, sorted query, timestamp, nonce and a hash of the body. Simple enough for a
 * ten-line bash client. Normative description: docs/protocol-x-api.md.
 */

import { SignatureInvalid, SignatureMalformed, SignatureMissing } from '../errors.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../pipeline/contract.js';
import { textSection } from '../pipeline/signature-base.js';
import { fromHex, toHex, utf8 } from '../primitives/encoding.js';
import { hmacSha256HexOfText, hmacSha256OfText } from '../primitives/hmac-sha256.js';
import { preparedKey } from '../primitives/prepared-key.js';
import { isPromiseLike } from '../primitives/promise.js';
import { randomHexToken } from '../primitives/random-pool.js';
import { headerField } from '../protocol/headers.js';
import { SECRET_PREFIX, secretBytesOf } from '../secret.js';
import type { BodyCheck, CryptoProvider, HashAlgorithm, IncrementalHash, MessageParts, SigningKey } from '../types.js';
import {
  assertAlgorithm,
  bodyBytes,
  checkCreated,
  checkRequiredComponents,
  cryptoOf,
  nowOf,
  rawSecretOf,
  splitUrl,
} from './compat-support.js';

/** First line of every X-API string to sign; separates it from other schemes using the same secret. */
export const X_API_VERSION_LINE = 'hmac-kit-x-api-v1';
const HEX_LENGTH: Readonly<Record<HashAlgorithm, number>> = { sha256: 64, sha384: 96, sha512: 128 };
const NONCE = /^[A-Za-z0-9._~+/=-]{16,128}$/;
const TIMESTAMP = /^\d{1,12}$/;

/**
 * The query part of the X-API string to sign: the raw query split on `&`, empty
 * parts dropped, the `name=value` pieces sorted by byte value and re-joined with
 * `&`. Percent-encoding is signed exactly as sent (no decoding).
 *
 * @example
 * ```ts
 * xApiCanonicalQuery('b=2&a=1&&c'); // 'a=1&b=2&c'
 * ```
 */
export function xApiCanonicalQuery(query: string | null | undefined): string {
  if (!query) return '';
  if (isSortedAsciiQuery(query)) return query;
  return query
    .split('&')
    .filter((part) => part !== '')
    .sort((a, b) => compareBytes(utf8(a), utf8(b)))
    .join('&');
}

// ASCII without empty parts: UTF-8 byte order is UTF-16 code unit order there.
const ASCII_QUERY = /^[^&\u0080-\uffff]+(?:&[^&\u0080-\uffff]+)*$/;

/** Whether a query is already its own canonical form: ASCII, no empty part, parts in byte order. */
function isSortedAsciiQuery(query: string): boolean {
  if (!ASCII_QUERY.test(query)) return false;
  let previous = '';
  let start = 0;
  for (;;) {
    let end = query.indexOf('&', start);
    if (end < 0) end = query.length;
    const part = query.slice(start, end);
    if (part < previous) return false;
    if (end === query.length) return true;
    previous = part;
    start = end + 1;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Parts of the X-API string to sign. */
export interface XApiSignedParts {
  method: string;
  /** Path exactly as sent, e.g. `/v1/items/a%20b`. */
  path: string;
  /** Raw query without `?` (canonicalised here), or null/empty. */
  query: string | null | undefined;
  /** Unix seconds, as in `X-API-Timestamp`. */
  timestamp: string;
  nonce: string;
  /** Lower-case hex hash of the body under the key's algorithm (the empty body is hashed too). */
  bodyHash: string;
}

/**
 * The exact string the X-API signature is computed over, lines joined with `\n`
 * and no trailing newline: version line, METHOD, path, canonical query, timestamp,
 * nonce, body hash.
 *
 * @example
 * ```ts
 * xApiStringToSign({ method: 'GET', path: '/v1/items', query: 'b=2&a=1', timestamp: '1763800000',
 *   nonce: '5f0c2b9e8d7a6f41', bodyHash: 'e3b0c442...' });
 * ```
 */
export function xApiStringToSign(parts: XApiSignedParts): string {
  return `${X_API_VERSION_LINE}\n${parts.method.toUpperCase()}\n${parts.path}\n${xApiCanonicalQuery(parts.query)}\n${parts.timestamp}\n${parts.nonce}\n${parts.bodyHash}`;
}

/** Options of {@link xApi}. */
export interface XApiOptions {
  /** Header names, if a deployment already uses other spellings. Defaults `X-API-Key` etc. */
  headers?: { keyId?: string; timestamp?: string; nonce?: string; signature?: string };
}

/** Sign-time options of the X-API scheme. */
export interface XApiSignOptions {
  crypto?: CryptoProvider;
  now?: () => number;
  /** Nonce to send; default 16 random bytes as hex. */
  nonce?: string;
}

/**
 * The `X-API-Key` / `X-API-Timestamp` / `X-API-Nonce` / `X-API-Signature` scheme.
 * The signature is the lower-case hex HMAC, under the key's algorithm and raw
 * secret, of {@link xApiStringToSign}.
 *
 * @example
 * ```ts
 * const verified = await verifyRequest(request, { keys, nonceStore, schemes: [rfc9421(), xApi()] });
 * ```
 */
export function xApi(options: XApiOptions = {}): Scheme<XApiCredentials> {
  if (options === null || typeof options !== 'object') throw new TypeError('xApi: options must be an object');
  const names = {
    keyId: options.headers?.keyId ?? 'X-API-Key',
    timestamp: options.headers?.timestamp ?? 'X-API-Timestamp',
    nonce: options.headers?.nonce ?? 'X-API-Nonce',
    signature: options.headers?.signature ?? 'X-API-Signature',
  };
  for (const name of Object.values(names)) {
    if (typeof name !== 'string' || !/^[A-Za-z0-9-]+$/.test(name)) throw new TypeError('xApi: invalid header name');
  }

  function one(value: string | string[] | undefined, name: string): string {
    if (value === undefined) throw new SignatureMalformed(`${name} header missing`);
    if (typeof value !== 'string' || value.includes(',')) throw new SignatureMalformed(`${name} must appear once`);
    return value.trim();
  }

  function parse(message: MessageParts): XApiCredentials {
    const signatureField = headerField(message.headers, names.signature);
    if (signatureField === undefined) throw new SignatureMissing('no X-API signature');
    const keyIdField = headerField(message.headers, names.keyId);
    const timestampField = headerField(message.headers, names.timestamp);
    const nonceField = headerField(message.headers, names.nonce);
    const keyId = one(keyIdField, names.keyId);
    if (!keyId || keyId.length > 256) throw new SignatureMalformed(`${names.keyId} is empty or too long`);
    const timestamp = one(timestampField, names.timestamp);
    if (!TIMESTAMP.test(timestamp)) throw new SignatureMalformed(`${names.timestamp} must be Unix seconds`);
    const nonce = one(nonceField, names.nonce);
    if (!NONCE.test(nonce))
      throw new SignatureMalformed(`${names.nonce} must be 16-128 characters of [A-Za-z0-9._~+/=-]`);
    const signatureHex = one(signatureField, names.signature);
    // fromHex() refuses anything but hex digits of even length; the empty string is refused here.
    const signature = signatureHex.length > 0 ? fromHex(signatureHex) : undefined;
    if (!signature) throw new SignatureMalformed(`${names.signature} must be hex`);
    return {
      keyId,
      algorithm: undefined,
      created: Number(timestamp),
      nonce,
      coveredComponents: COVERED,
      timestamp,
      signature,
      signatureHex,
    };
  }

  const scheme: Scheme<XApiCredentials> = {
    name: 'x-api',

    detect(message: MessageParts): boolean {
      return (
        headerField(message.headers, names.signature) !== undefined &&
        headerField(message.headers, names.keyId) !== undefined
      );
    },

    parse,
    verify,

    signatureBase(credentials: XApiCredentials, { message, body, crypto }) {
      const { path, query } = splitUrl(message.url);
      // The last line is the body's hash under the *key's* algorithm: showing it would tell a
      // known key (and its algorithm) from an unknown one, so it is left out for every request;
      // the body's SHA-256 (the same whatever the key) stands beside it instead.
      const head = `${X_API_VERSION_LINE}\n${message.method.toUpperCase()}\n${path}\n${xApiCanonicalQuery(query)}\n${credentials.timestamp}\n${credentials.nonce}\n`;
      const sections = [textSection('string to sign', `${head}${X_API_BODY_HASH_PLACEHOLDER}`)];
      if (body !== undefined) sections.push(textSection('body sha-256', hexDigest(crypto, 'sha256', body)));
      return sections;
    },

    checkPolicy(credentials: XApiCredentials, context: VerifyContext): void {
      checkCreated(credentials.created, context.now, context.policy);
      checkRequiredComponents(COVERED, context.policy);
    },

    async sign(message, key: SigningKey, signOptions = {}) {
      const opts = signOptions as XApiSignOptions;
      const crypto = cryptoOf(opts);
      const algorithm = key.algorithm ?? 'sha256';
      assertAlgorithm(algorithm, 'key.algorithm');
      // A printable secret decoded once per key object: the same array every call, so its prepared
      // key material (the pads) is found again.
      const secret =
        typeof key.secret === 'string' && key.secret.startsWith(SECRET_PREFIX)
          ? secretBytesOf(key)
          : rawSecretOf(key.secret);
      const nonce = opts.nonce ?? randomHexToken(crypto, 16);
      if (!NONCE.test(nonce)) throw new TypeError('xApi: nonce must be 16-128 characters of [A-Za-z0-9._~+/=-]');
      const timestamp = String(nowOf(opts));
      const { path, query } = splitUrl(message.url);
      const bodyHash = hexDigest(crypto, algorithm, bodyBytes(message.body));
      const stringToSign = xApiStringToSign({ method: message.method, path, query, timestamp, nonce, bodyHash });
      // HMAC-SHA256 from the secret's prepared pads when the provider hashes one-shot (as the verifier).
      const signature =
        algorithm === 'sha256' && crypto.hash !== undefined
          ? hmacSha256HexOfText(crypto, preparedKey(secret).hmacSha256Pads(), stringToSign)
          : toHex(await crypto.hmac(algorithm, secret, utf8(stringToSign)));
      return {
        headers: {
          [names.keyId]: key.keyId,
          [names.timestamp]: timestamp,
          [names.nonce]: nonce,
          [names.signature]: signature,
        },
      };
    },
  };
  return scheme;
}

/** Stands for the body hash line in a debug signature base (it depends on the key's algorithm). */
const X_API_BODY_HASH_PLACEHOLDER = "<hex hash of the body under the key's algorithm: not shown>";

/** What {@link xApi}'s parse reads. */
interface XApiCredentials extends Credentials {
  readonly created: number;
  readonly nonce: string;
  readonly timestamp: string;
  readonly signature: Uint8Array;
  readonly signatureHex: string;
}

const COVERED: readonly string[] = Object.freeze([
  '@method',
  '@path',
  '@query',
  'content-digest',
  'x-api-timestamp',
  'x-api-nonce',
]);

/** What a verification carries from its header checks to the MAC comparison. */
interface XApiState {
  crypto: CryptoProvider;
  credentials: XApiCredentials;
  key: ResolvedKey;
  /** The string to sign up to and including the nonce line; the body hash completes it. */
  head: string;
}

function verify(
  credentials: XApiCredentials,
  key: ResolvedKey,
  context: VerifyContext,
): SchemeVerdict | Promise<SchemeVerdict> {
  const { crypto, message } = context;
  const { path, query } = splitUrl(message.url);
  // xApiStringToSign() without the body hash, computed once.
  const head = `${X_API_VERSION_LINE}\n${message.method.toUpperCase()}\n${path}\n${xApiCanonicalQuery(query)}\n${credentials.timestamp}\n${credentials.nonce}\n`;
  const state: XApiState = { crypto, credentials, key, head };
  if (!context.hasBody) {
    const ok = compute(state, hexDigest(crypto, key.algorithm, new Uint8Array(0)));
    if (isPromiseLike(ok)) return Promise.resolve(ok).then(verdictOf);
    return verdictOf(ok);
  }
  // The body hash is inside the signed string, so the signature is checked once the body is read.
  return { signatureMatches: undefined, body: new XApiBodyCheck(state) };
}

function verdictOf(ok: boolean): SchemeVerdict {
  return ok ? MAC_MATCHED : MAC_MISMATCHED;
}

/** Whether the signature matches; synchronous when the provider's HMAC is. */
function compute(state: XApiState, bodyHash: string): boolean | Promise<boolean> {
  const { crypto, credentials: parsed } = state;
  const { secret, algorithm } = state.key;
  // SHA-256 with a one-shot hash: HMAC from cached key pads (no per-call HMAC set-up).
  const expected =
    algorithm === 'sha256' && crypto.hash !== undefined
      ? hmacSha256OfText(crypto, preparedKey(secret).hmacSha256Pads(), state.head + bodyHash)
      : crypto.hmac(algorithm, secret, utf8(state.head + bodyHash));
  // A signature of the wrong length simply does not match (no separate, faster answer).
  if (isPromiseLike(expected)) {
    return Promise.resolve(expected).then(
      (mac) => crypto.timingSafeEqual(mac, parsed.signature) && parsed.signatureHex.length === HEX_LENGTH[algorithm],
    );
  }
  return crypto.timingSafeEqual(expected, parsed.signature) && parsed.signatureHex.length === HEX_LENGTH[algorithm];
}

/** The body check: hashes the body, then computes and compares the signature. */
class XApiBodyCheck implements BodyCheck {
  readonly #state: XApiState;
  readonly #algorithm: HashAlgorithm;
  #hash: IncrementalHash | undefined;
  #finished = false;

  constructor(state: XApiState) {
    this.#state = state;
    this.#algorithm = state.key.algorithm;
  }

  update(chunk: Uint8Array): void {
    this.#hash ??= this.#state.crypto.createHash(this.#algorithm);
    this.#hash.update(chunk);
  }

  // finish() and complete() never throw: every failure is a rejection, as from an async function.
  // No await when the HMAC is synchronous: one settled promise instead of a chain of hops.
  finish(): Promise<void> {
    try {
      if (this.#finished) throw new TypeError('finish() called twice');
      this.#finished = true;
      this.#hash ??= this.#state.crypto.createHash(this.#algorithm);
      return this.#check(toHex(this.#hash.digest()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  complete(body: Uint8Array): Promise<void> {
    try {
      return this.completeNow(body) ?? Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** complete() answering synchronously when the provider does (the pipeline calls completeNow when a check has it: pipeline/body.ts). */
  completeNow(body: Uint8Array): void | Promise<void> {
    const crypto = this.#state.crypto;
    // A body already in memory and nothing fed yet: one-shot digest when the provider has one.
    if (this.#hash !== undefined || this.#finished || (crypto.hash === undefined && crypto.hashString === undefined)) {
      this.update(body);
      return this.finish();
    }
    this.#finished = true;
    const bodyHash =
      crypto.hashString !== undefined
        ? crypto.hashString(this.#algorithm, body, 'hex')
        : toHex(crypto.hash!(this.#algorithm, body));
    const ok = compute(this.#state, bodyHash);
    if (isPromiseLike(ok)) return Promise.resolve(ok).then((matched) => this.#verdict(matched));
    this.#verdict(ok);
  }

  #check(bodyHash: string): Promise<void> {
    const ok = compute(this.#state, bodyHash);
    if (isPromiseLike(ok)) return Promise.resolve(ok).then((matched) => this.#verdict(matched));
    this.#verdict(ok);
    return Promise.resolve();
  }

  #verdict(ok: boolean): void {
    if (!ok) throw new SignatureInvalid('signature does not match');
  }
}

function hexDigest(crypto: CryptoProvider, algorithm: HashAlgorithm, data: Uint8Array): string {
  const hash = crypto.createHash(algorithm);
  hash.update(data);
  return toHex(hash.digest());
}
