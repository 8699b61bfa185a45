/**
 * Compatibility with django_hmac_authentication (5.x) clients:
 * `Authorization: HMAC-SHA256 <key id>;<base64 signature>;<ISO-8601 UTC>`, computed
 * exactly as that package computes it, so its Python client, its Postman script and
 * hand-written clients keep working against hmac-kit. Normative description and
 * limits (it does NOT cover method, path or query): docs/protocol-django-hmac.md.
 * What is hashed for a body: body.ts; the timestamps: timestamp.ts.
 */

import {
  BodyAmbiguous,
  BodyNotSigned,
  BodyTooLarge,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
} from '../../errors.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../../pipeline/contract.js';
import { macMatches } from '../../pipeline/keys.js';
import { checkTimeWindow } from '../../pipeline/policy.js';
import { textSection } from '../../pipeline/signature-base.js';
import { constantTimeEqual } from '../../primitives/constant-time.js';
import { concatBytes, fromUtf8, toBase64, utf8 } from '../../primitives/encoding.js';
import { hmacSha256BinaryOfBlock } from '../../primitives/hmac-sha256.js';
import { preparedKey } from '../../primitives/prepared-key.js';
import { isPromiseLike } from '../../primitives/promise.js';
import { getHeader, headerField } from '../../protocol/headers.js';
import type { BodyCheck, CryptoProvider, HashAlgorithm, MessageParts, SigningKey } from '../../types.js';
import {
  assertAlgorithm,
  bodyBytes,
  checkRequiredComponents,
  cryptoOf,
  nowOf,
  rawSecretOf,
} from '../compat-support.js';
import { djangoBodySerialization, djangoSignedBody, djangoSignedBytes } from './body.js';
import { hasWhitespaceIn, strictBase64BytesIn } from './header-text.js';
import { formatDjangoTimestamp, parseDjangoTimestampFrom } from './timestamp.js';

const METHOD_OF: Readonly<Record<HashAlgorithm, string>> = {
  sha256: 'HMAC-SHA256',
  sha384: 'HMAC-SHA384',
  sha512: 'HMAC-SHA512',
};
const DIGEST_BYTES: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, sha384: 48, sha512: 64 };
/** The length of every method name (`HMAC-SHA256`, `HMAC-SHA384`, `HMAC-SHA512`). */
const METHOD_LENGTH = 11;

/**
 * The hash an `Authorization` value names when it starts with one of the methods and a space
 * (what `/^HMAC-SHA(256|384|512) /` matched), else `undefined`; compared in place, without a
 * regular expression or a substring per call.
 */
function methodOf(value: string): HashAlgorithm | undefined {
  if (value.charCodeAt(METHOD_LENGTH) !== 0x20) return undefined;
  if (value.startsWith('HMAC-SHA256')) return 'sha256';
  if (value.startsWith('HMAC-SHA384')) return 'sha384';
  if (value.startsWith('HMAC-SHA512')) return 'sha512';
  return undefined;
}
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** `base64(H(bytes))`: one-shot where the provider has it (node:crypto's `crypto.hash`). */
function bodyHashOf(bytes: Uint8Array, algorithm: HashAlgorithm, crypto: CryptoProvider): string {
  if (crypto.hash !== undefined) return toBase64(crypto.hash(algorithm, bytes));
  const hash = crypto.createHash(algorithm);
  hash.update(bytes);
  return toBase64(hash.digest());
}

/**
 * The django string to sign: `base64(H(serialised body))` (empty when nothing is
 * hashed), `;`, the timestamp exactly as sent.
 *
 * @example
 * ```ts
 * djangoHmacStringToSign(null, '2023-05-07T14:15:37.862560+00:00', 'sha256', crypto);
 * // ';2023-05-07T14:15:37.862560+00:00'
 * ```
 */
export function djangoHmacStringToSign(
  serializedBody: string | Uint8Array | null,
  timestamp: string,
  algorithm: HashAlgorithm,
  crypto: CryptoProvider,
): string {
  if (serializedBody === null) return `;${timestamp}`;
  const bytes = typeof serializedBody === 'string' ? utf8(serializedBody) : serializedBody;
  return `${bodyHashOf(bytes, algorithm, crypto)};${timestamp}`;
}

/** Options of {@link djangoHmac}. */
export interface DjangoHmacOptions {
  /**
   * django lets the client pick SHA-256/384/512 per request. By default hmac-kit
   * binds the algorithm to the key (`HMAC-SHA512` with a sha256 key is refused);
   * `true` accepts any of the three, as the Django server does.
   */
  anyAlgorithm?: boolean;
  /**
   * Keys stored with algorithm `any` ({@link VerificationKey.anyAlgorithm}: keys from the obtain
   * endpoint, imported django keys) let the client choose, as the original does. Default `true`;
   * `false` binds them to their `algorithm` like every other key.
   */
  keyAnyAlgorithm?: boolean;
  /** Largest body buffered for re-serialisation (the body must be parsed whole). Default 1 MiB. */
  maxBodyBytes?: number;
}

/** Sign-time options of the django-hmac scheme. */
export interface DjangoHmacSignOptions {
  crypto?: CryptoProvider;
  now?: () => number;
}

/**
 * The django_hmac_authentication scheme. Off by default; the signature covers the
 * (re-serialised) body and the timestamp only, never the method, path or query.
 * The signature doubles as the nonce for replay protection.
 *
 * @example
 * ```ts
 * const verified = await verifyRequest(request, { keys, nonceStore, schemes: [rfc9421(), djangoHmac()] });
 * ```
 */
export function djangoHmac(options: DjangoHmacOptions = {}): Scheme<DjangoCredentials> {
  if (options === null || typeof options !== 'object') throw new TypeError('djangoHmac: options must be an object');
  const anyAlgorithm = options.anyAlgorithm ?? false;
  const keyAnyAlgorithm = options.keyAnyAlgorithm ?? true;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new TypeError('djangoHmac: maxBodyBytes must be a non-negative integer');
  }

  function authorization(message: MessageParts): string | undefined {
    const value = getHeader(message.headers, 'authorization');
    return value !== undefined && methodOf(value) !== undefined ? value : undefined;
  }

  function parse(message: MessageParts, context: { hasBody: boolean }): DjangoCredentials {
    // One read of the field: its value, or its lines when it is repeated (what getHeader joins).
    const field = headerField(message.headers, 'authorization');
    if (field === undefined) throw new SignatureMissing('no django-hmac Authorization');
    if (typeof field !== 'string') {
      if (methodOf(field.join(', ')) === undefined) throw new SignatureMissing('no django-hmac Authorization');
      throw new SignatureMalformed('repeated Authorization');
    }
    const header = field;
    const algorithm = methodOf(header);
    if (algorithm === undefined) throw new SignatureMissing('no django-hmac Authorization');
    // `<method> <key id>;<signature>;<timestamp>`: exactly two `;` after the method and its space
    // (what a split(';') into three parts accepted), read without the split's array.
    const first = header.indexOf(';', METHOD_LENGTH + 1);
    const second = first === -1 ? -1 : header.indexOf(';', first + 1);
    if (second === -1 || header.indexOf(';', second + 1) !== -1) {
      throw new SignatureMalformed('expected <key id>;<signature>;<timestamp>');
    }
    // The three parts are read in place in `header` (a flat string from the HTTP parser); their
    // slices (sliced strings, every character read through the parent) are only kept, never scanned
    // here. The same tests in the same order as on the slices (hasWhitespace, strictBase64Bytes,
    // parseDjangoTimestamp of each part: their *In/*From forms are the same loops moved by an offset).
    const keyLength = first - (METHOD_LENGTH + 1);
    if (keyLength === 0 || keyLength > 256 || hasWhitespaceIn(header, METHOD_LENGTH + 1, first)) {
      throw new SignatureMalformed('invalid key id');
    }
    const signature = strictBase64BytesIn(header, first + 1, second);
    if (!signature || signature.length === 0) throw new SignatureMalformed('signature is not base64');
    const created = parseDjangoTimestampFrom(header, second + 1);
    if (created === undefined) throw new SignatureMalformed('timestamp is not ISO-8601 with an offset');
    const keyId = header.slice(METHOD_LENGTH + 1, first);
    const signatureText = header.slice(first + 1, second);
    const timestamp = header.slice(second + 1);
    return {
      keyId,
      algorithm,
      anyKeyAlgorithm: anyAlgorithm,
      bindKeyAlgorithm: !keyAnyAlgorithm,
      created,
      // No nonce in the protocol: the signature is unique per (body, timestamp) and serves as one.
      // Canonical base64 of the decoded bytes: spellings that differ only in padding bits are one nonce.
      nonce: canonicalBase64(signatureText, signature),
      coveredComponents: context.hasBody ? BODY_COVERED : NOTHING_COVERED,
      signature,
      timestamp,
    };
  }

  return {
    name: 'django-hmac',

    detect(message: MessageParts): boolean {
      return authorization(message) !== undefined;
    },

    parse,

    /**
     * The body as the django server re-serialises it and the string to sign (debug diagnostics).
     * The hash is the one the request claims (`HMAC-SHA512 ...`), never the key's.
     */
    signatureBase(credentials: DjangoCredentials, { message, body, hasBody, crypto }) {
      let serialized: string | null = null;
      if (hasBody) {
        if (body === undefined) return undefined;
        serialized = djangoSignedBody(body, getHeader(message.headers, 'content-type')).serialized;
      }
      const stringToSign = djangoHmacStringToSign(serialized, credentials.timestamp, credentials.algorithm, crypto);
      return [
        ...(serialized !== null ? [textSection('serialised body', serialized)] : []),
        textSection('string to sign', stringToSign),
      ];
    },

    checkPolicy(credentials: DjangoCredentials, context: VerifyContext): void {
      checkTimeWindow(credentials, context.policy, context.now);
      checkRequiredComponents(credentials.coveredComponents, context.policy);
    },

    verify(
      credentials: DjangoCredentials,
      key: ResolvedKey,
      context: VerifyContext,
    ): SchemeVerdict | Promise<SchemeVerdict> {
      // The claimed algorithm: the pipeline refused a key of another one unless anyAlgorithm is set.
      const macKey =
        key.algorithm === credentials.algorithm ? key : { secret: key.secret, algorithm: credentials.algorithm };
      if (!context.hasBody) {
        const ok = signatureMatches(credentials, macKey, context.crypto, null);
        return isPromiseLike(ok) ? Promise.resolve(ok).then(verdictOf) : verdictOf(ok);
      }
      // The server re-serialises the *parsed* body, so it has to be read whole first.
      const contentType = getHeader(context.message.headers, 'content-type');
      return {
        signatureMatches: undefined,
        body: new DjangoBodyCheck(credentials, macKey, context.crypto, contentType, maxBodyBytes),
      };
    },

    async sign(message, key: SigningKey, signOptions = {}) {
      const opts = signOptions as DjangoHmacSignOptions;
      const crypto = cryptoOf(opts);
      const algorithm = key.algorithm ?? 'sha256';
      assertAlgorithm(algorithm, 'key.algorithm');
      // django issues base64 secrets; hmac-kit's hks_ secrets and raw bytes work too.
      const secret = rawSecretOf(key.secret, true);
      const timestamp = formatDjangoTimestamp(nowOf(opts));
      const body = bodyBytes(message.body);
      const contentType =
        getHeader(message.headers, 'content-type') ?? (body.length > 0 ? 'application/json' : undefined);
      let serialized: string | null;
      try {
        serialized = djangoBodySerialization(fromUtf8(body), contentType);
      } catch (error) {
        throw new TypeError(`djangoHmac: cannot sign this body (${(error as Error).message})`);
      }
      const signature = await crypto.hmac(
        algorithm,
        secret,
        utf8(djangoHmacStringToSign(serialized, timestamp, algorithm, crypto)),
      );
      const headers: Record<string, string> = {
        Authorization: `${METHOD_OF[algorithm]} ${key.keyId};${toBase64(signature)};${timestamp}`,
      };
      if (body.length > 0 && getHeader(message.headers, 'content-type') === undefined)
        headers['Content-Type'] = contentType!;
      return { headers };
    },
  };
}

/**
 * `toBase64(bytes)` for `text`, a strict base64 spelling of `bytes` (`fromBase64(text, { strict: true })`):
 * `text` itself when it is already canonical, without encoding it again. A strict spelling differs
 * from the canonical one only in the bits its padding leaves over in the last character before the
 * `=` (the low 4 bits before `==`, the low 2 before `=`): every whole group of four characters
 * stands for its three bytes one way only.
 *
 * @internal Exported for its tests.
 */
export function canonicalBase64(text: string, bytes: Uint8Array): string {
  const length = text.length;
  const padding =
    length > 0 && text.charCodeAt(length - 1) === 0x3d ? (text.charCodeAt(length - 2) === 0x3d ? 2 : 1) : 0;
  if (padding === 0) return text;
  const leftOver = base64Value(text.charCodeAt(length - padding - 1)) & (padding === 2 ? 0x0f : 0x03);
  return leftOver === 0 ? text : toBase64(bytes);
}

/** The value of a character of the standard base64 alphabet (the caller has checked it is one). */
function base64Value(code: number): number {
  if (code >= 0x61) return code - 0x61 + 26; // a-z
  if (code >= 0x41) return code - 0x41; // A-Z
  if (code >= 0x30) return code - 0x30 + 52; // 0-9
  return code === 0x2b ? 62 : 63; // + /
}

function verdictOf(ok: boolean): SchemeVerdict {
  return ok ? MAC_MATCHED : MAC_MISMATCHED;
}

/**
 * Whether the presented signature is the MAC of the string to sign for `hashed` (the serialised
 * body, `null` when none is hashed). The MAC is computed whatever the signature's length, so a
 * decoy key costs the same work.
 */
function signatureMatches(
  credentials: DjangoCredentials,
  key: ResolvedKey,
  crypto: CryptoProvider,
  hashed: Uint8Array | null,
): boolean | Promise<boolean> {
  const { algorithm, signature } = credentials;
  const rightLength = signature.length === DIGEST_BYTES[algorithm];
  if (algorithm === 'sha256' && crypto.hashString !== undefined) {
    const length = stringToSignBytes(crypto, hashed, credentials.timestamp);
    if (length >= 0) {
      const mac = hmacSha256BinaryOfBlock(crypto, preparedKey(key.secret).hmacSha256Pads(), blockOf(length));
      return constantTimeEqual(mac, signature) && rightLength;
    }
  }
  // ASCII (base64, `;` and a timestamp its pattern admitted): the MAC is taken over the string as is.
  const stringToSign =
    hashed === null ? `;${credentials.timestamp}` : `${bodyHashOf(hashed, algorithm, crypto)};${credentials.timestamp}`;
  const matches = macMatches(crypto, key, stringToSign, signature);
  return isPromiseLike(matches) ? whenMatched(matches, rightLength) : matches && rightLength;
}

/** The asynchronous provider's answer, and the length check: a closure only on that path. */
function whenMatched(matches: PromiseLike<boolean>, rightLength: boolean): Promise<boolean> {
  return Promise.resolve(matches).then((ok) => ok && rightLength);
}

// The SHA-256 string to sign as bytes, after the 64 bytes hmacSha256BinaryOfBlock writes its pad
// into: base64 of the body hash (44 characters), `;`, the timestamp (at most 32 ASCII characters
// by parseDjangoTimestamp's grammar). Reused by every call: it is written and MACed synchronously.
const STRING_BLOCK = new Uint8Array(64 + 44 + 1 + 64);
let blockView = STRING_BLOCK.subarray(0, 64);
const BASE64_CODES = new TextEncoder().encode('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');

/** The block view for a string to sign of `length` bytes (one view kept: the lengths repeat). */
function blockOf(length: number): Uint8Array {
  if (blockView.length !== 64 + length) blockView = STRING_BLOCK.subarray(0, 64 + length);
  return blockView;
}

/**
 * Writes the SHA-256 string to sign (`base64(SHA-256(hashed));timestamp`, or `;timestamp` when
 * `hashed` is null) into STRING_BLOCK after its first 64 bytes, and answers its length: the bytes of
 * the string signatureMatches' general path MACs (`macMatches` over the same ASCII text), without
 * the digest as an array, its base64 as a string, the joined string and its encoding. -1 (nothing
 * decided) for a timestamp that is not ASCII or too long, which parse never lets through.
 * `crypto.hashString` must exist.
 */
function stringToSignBytes(crypto: CryptoProvider, hashed: Uint8Array | null, timestamp: string): number {
  const block = STRING_BLOCK;
  let at = 64;
  if (hashed !== null) {
    const digest = crypto.hashString!('sha256', hashed, 'binary');
    if (digest.length !== 32) return -1;
    const codes = BASE64_CODES;
    // 32 bytes: ten groups of three, then two bytes and one `=`.
    for (let i = 0; i < 30; i += 3) {
      const group = (digest.charCodeAt(i) << 16) | (digest.charCodeAt(i + 1) << 8) | digest.charCodeAt(i + 2);
      block[at] = codes[group >> 18]!;
      block[at + 1] = codes[(group >> 12) & 63]!;
      block[at + 2] = codes[(group >> 6) & 63]!;
      block[at + 3] = codes[group & 63]!;
      at += 4;
    }
    const last = (digest.charCodeAt(30) << 8) | digest.charCodeAt(31);
    block[at] = codes[last >> 10]!;
    block[at + 1] = codes[(last >> 4) & 63]!;
    block[at + 2] = codes[(last << 2) & 63]!;
    block[at + 3] = 0x3d;
    at += 4;
  }
  block[at++] = 0x3b;
  const length = timestamp.length;
  if (at + length > block.length) return -1;
  for (let i = 0; i < length; i++) {
    const code = timestamp.charCodeAt(i);
    if (code > 0x7f) return -1;
    block[at++] = code;
  }
  return at - 64;
}

/**
 * The body check of a request with a body: the body is read whole (the server hashes its
 * re-serialisation), serialised in one pass ({@link djangoSignedBytes}) and hashed from bytes.
 * `signedBody()` then names exactly the bytes that were hashed, which a gateway forwards.
 */
class DjangoBodyCheck implements BodyCheck {
  readonly #chunks: Uint8Array[] = [];
  #size = 0;
  #finished = false;
  #signed: Uint8Array | undefined;

  constructor(
    private readonly credentials: DjangoCredentials,
    private readonly key: ResolvedKey,
    private readonly crypto: CryptoProvider,
    private readonly contentType: string | undefined,
    private readonly maxBodyBytes: number,
  ) {}

  update(chunk: Uint8Array): void {
    this.#size += chunk.length;
    if (this.#size > this.maxBodyBytes) {
      throw new BodyTooLarge(`django-hmac bodies are limited to ${this.maxBodyBytes} bytes`);
    }
    // Copied: a streamed chunk's buffer may be reused by its producer before the body is whole.
    this.#chunks.push(chunk.slice());
  }

  finish(): Promise<void> {
    if (this.#finished) return Promise.reject(new TypeError('finish() called twice'));
    return promiseOf(() => this.#verify(concatBytes(this.#chunks, this.#size)));
  }

  complete(body: Uint8Array): Promise<void> {
    return promiseOf(() => this.completeNow(body));
  }

  /**
   * The whole body in one call (the pipeline calls it when a check has it: pipeline/engine.ts): no
   * copy, synchronous when the provider is. The caller must not change `body` afterwards: the bytes
   * verified are the bytes {@link signedBody} hands on (a view of them when they need no rewriting).
   */
  completeNow(body: Uint8Array): void | Promise<void> {
    if (this.#finished) throw new TypeError('finish() called twice');
    if (this.#size > 0) {
      this.update(body);
      return this.finish();
    }
    if (body.length > this.maxBodyBytes) {
      throw new BodyTooLarge(`django-hmac bodies are limited to ${this.maxBodyBytes} bytes`);
    }
    return this.#verify(body);
  }

  signedBody(): Uint8Array {
    if (this.#signed === undefined) throw new TypeError('signedBody() before finish() succeeded');
    return this.#signed;
  }

  #verify(bytes: Uint8Array): void | Promise<void> {
    this.#finished = true;
    let reading: { hashed: Uint8Array | null; forward: Uint8Array };
    try {
      reading = djangoSignedBytes(bytes, this.contentType);
    } catch (error) {
      // A body no signature covers, or one parsers read differently: refused whatever the signature.
      if (error instanceof BodyNotSigned || error instanceof BodyAmbiguous) throw error;
      // Bodies the Python side cannot parse never carry a valid signature there either.
      throw new SignatureInvalid('body cannot be reproduced as the django server would', { cause: error });
    }
    const ok = signatureMatches(this.credentials, this.key, this.crypto, reading.hashed);
    if (isPromiseLike(ok)) {
      return Promise.resolve(ok).then((matched) => this.#verdict(matched, reading.forward));
    }
    this.#verdict(ok, reading.forward);
  }

  #verdict(ok: boolean, forward: Uint8Array): void {
    if (!ok) throw new SignatureInvalid('signature does not match');
    this.#signed = forward;
  }
}

/** What `run` answers or throws, as a promise. */
function promiseOf(run: () => void | Promise<void>): Promise<void> {
  try {
    const pending = run();
    return pending === undefined ? Promise.resolve() : Promise.resolve(pending);
  } catch (error) {
    return Promise.reject(error);
  }
}

const BODY_COVERED: readonly string[] = Object.freeze(['content-digest']);
const NOTHING_COVERED: readonly string[] = Object.freeze([]);

/** What {@link djangoHmac}'s parse reads. */
interface DjangoCredentials extends Credentials {
  readonly algorithm: HashAlgorithm;
  readonly created: number;
  readonly signature: Uint8Array;
  readonly timestamp: string;
}
