/**
 * The `X-API-*` header scheme: the "API key + timestamp + nonce + HMAC" convention
 * many home-made middlewares use, hardened so the signature covers the method,
 * path, sorted query, timestamp, nonce and a hash of the body. Simple enough for a
 * ten-line bash client. Normative description: docs/protocol-x-api.md.
 */
import { fromHex, toHex, utf8 } from '../encoding.js';
import { SignatureInvalid, SignatureMalformed, SignatureMissing } from '../errors.js';
import type {
  BodyCheck,
  CryptoProvider,
  HashAlgorithm,
  MessageParts,
  Scheme,
  SignatureCheck,
  SigningKey,
  VerifiedRequest,
  VerifyOptions,
} from '../types.js';
import {
  assertAlgorithm,
  bodyBytes,
  checkCreated,
  checkPolicyAlgorithm,
  checkRequiredComponents,
  cryptoOf,
  DECOY_SECRET,
  headerValues,
  keyOrDecoy,
  knownKey,
  lookupKey,
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
  return query
    .split('&')
    .filter((part) => part !== '')
    .sort((a, b) => compareBytes(utf8(a), utf8(b)))
    .join('&');
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
  return [
    X_API_VERSION_LINE,
    parts.method.toUpperCase(),
    parts.path,
    xApiCanonicalQuery(parts.query),
    parts.timestamp,
    parts.nonce,
    parts.bodyHash,
  ].join('\n');
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
export function xApi(options: XApiOptions = {}): Scheme {
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

  function one(message: MessageParts, name: string): string {
    const values = headerValues(message.headers, name);
    if (values.length === 0) throw new SignatureMalformed(`${name} header missing`);
    if (values.length > 1 || values[0]!.includes(',')) throw new SignatureMalformed(`${name} must appear once`);
    return values[0]!.trim();
  }

  function parse(message: MessageParts) {
    if (headerValues(message.headers, names.signature).length === 0) throw new SignatureMissing('no X-API signature');
    const keyId = one(message, names.keyId);
    if (!keyId || keyId.length > 256) throw new SignatureMalformed(`${names.keyId} is empty or too long`);
    const timestamp = one(message, names.timestamp);
    if (!TIMESTAMP.test(timestamp)) throw new SignatureMalformed(`${names.timestamp} must be Unix seconds`);
    const nonce = one(message, names.nonce);
    if (!NONCE.test(nonce))
      throw new SignatureMalformed(`${names.nonce} must be 16-128 characters of [A-Za-z0-9._~+/=-]`);
    const signatureHex = one(message, names.signature);
    const signature = /^[0-9a-fA-F]+$/.test(signatureHex) ? fromHex(signatureHex) : undefined;
    if (!signature) throw new SignatureMalformed(`${names.signature} must be hex`);
    return { keyId, timestamp, created: Number(timestamp), nonce, signature, signatureHex };
  }

  return {
    name: 'x-api',

    detect(message: MessageParts): boolean {
      return (
        headerValues(message.headers, names.signature).length > 0 &&
        headerValues(message.headers, names.keyId).length > 0
      );
    },

    keyIdOf(message: MessageParts): string {
      return parse(message).keyId;
    },

    async verify(message: MessageParts, verifyOptions: VerifyOptions & { hasBody: boolean }): Promise<SignatureCheck> {
      const crypto = cryptoOf(verifyOptions);
      const now = nowOf(verifyOptions);
      const parsed = parse(message);
      const { path, query } = splitUrl(message.url);
      checkCreated(parsed.created, now, verifyOptions.policy);
      const covered = ['@method', '@path', '@query', 'content-digest', 'x-api-timestamp', 'x-api-nonce'];
      checkRequiredComponents(covered, verifyOptions.policy);

      const found = await lookupKey(parsed.keyId, verifyOptions);
      if (found) checkPolicyAlgorithm(found.algorithm, verifyOptions.policy);
      const algorithm = found?.algorithm ?? 'sha256';
      const secret = found?.secret ?? DECOY_SECRET;

      const compute = async (bodyHash: string) => {
        const expected = await crypto.hmac(
          algorithm,
          secret,
          utf8(
            xApiStringToSign({
              method: message.method,
              path,
              query,
              timestamp: parsed.timestamp,
              nonce: parsed.nonce,
              bodyHash,
            }),
          ),
        );
        // A signature of the wrong length simply does not match (no separate, faster answer).
        return (
          crypto.timingSafeEqual(expected, parsed.signature) && parsed.signatureHex.length === HEX_LENGTH[algorithm]
        );
      };

      const result = (): VerifiedRequest => ({
        scheme: 'x-api',
        keyId: parsed.keyId,
        key: keyOrDecoy(found, parsed.keyId, algorithm),
        coveredComponents: covered,
        created: parsed.created,
        nonce: parsed.nonce,
      });

      if (!verifyOptions.hasBody) {
        const ok = await compute(hexDigest(crypto, algorithm, new Uint8Array(0)));
        knownKey(found);
        const verified = result();
        if (!ok) throw new SignatureInvalid('signature does not match');
        return { result: verified, body: null, signatureVerified: true };
      }

      // The body hash is inside the signed string, so the signature is checked once the body is read.
      const verified = result();
      const hash = crypto.createHash(algorithm);
      let finished = false;
      const body: BodyCheck = {
        update(chunk: Uint8Array) {
          hash.update(chunk);
        },
        async finish() {
          if (finished) throw new TypeError('finish() called twice');
          finished = true;
          const ok = await compute(toHex(hash.digest()));
          knownKey(found);
          if (!ok) throw new SignatureInvalid('signature does not match');
        },
      };
      return { result: verified, body };
    },

    async sign(message, key: SigningKey, signOptions = {}) {
      const opts = signOptions as XApiSignOptions;
      const crypto = cryptoOf(opts);
      const algorithm = key.algorithm ?? 'sha256';
      assertAlgorithm(algorithm, 'key.algorithm');
      const secret = rawSecretOf(key.secret);
      const nonce = opts.nonce ?? toHex(crypto.randomBytes(16));
      if (!NONCE.test(nonce)) throw new TypeError('xApi: nonce must be 16-128 characters of [A-Za-z0-9._~+/=-]');
      const timestamp = String(nowOf(opts));
      const { path, query } = splitUrl(message.url);
      const bodyHash = hexDigest(crypto, algorithm, bodyBytes(message.body));
      const signature = await crypto.hmac(
        algorithm,
        secret,
        utf8(xApiStringToSign({ method: message.method, path, query, timestamp, nonce, bodyHash })),
      );
      return {
        headers: {
          [names.keyId]: key.keyId,
          [names.timestamp]: timestamp,
          [names.nonce]: nonce,
          [names.signature]: toHex(signature),
        },
      };
    },
  };
}

function hexDigest(crypto: CryptoProvider, algorithm: HashAlgorithm, data: Uint8Array): string {
  const hash = crypto.createHash(algorithm);
  hash.update(data);
  return toHex(hash.digest());
}
