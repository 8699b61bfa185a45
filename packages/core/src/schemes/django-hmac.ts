/**
 * Compatibility with django_hmac_authentication (5.x) clients:
 * `Authorization: HMAC-SHA256 <key id>;<base64 signature>;<ISO-8601 UTC>`, computed
 * exactly as that package computes it, so its Python client, its Postman script and
 * hand-written clients keep working against hmac-kit. Normative description and
 * limits (it does NOT cover method, path or query): docs/protocol-django-hmac.md.
 */

import {
  BodyAmbiguous,
  BodyNotSigned,
  BodyTooLarge,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
} from '../errors.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../pipeline/contract.js';
import { checkTimeWindow } from '../pipeline/policy.js';
import { textSection } from '../pipeline/signature-base.js';
import { concatBytes, fromBase64, fromUtf8, toBase64, utf8 } from '../primitives/encoding.js';
import { getHeader, headerValues } from '../protocol/headers.js';
import type { BodyCheck, CryptoProvider, HashAlgorithm, MessageParts, SigningKey } from '../types.js';
import { assertAlgorithm, bodyBytes, checkRequiredComponents, cryptoOf, nowOf, rawSecretOf } from './compat-support.js';
import {
  djangoCanonicalForm,
  djangoFormSerialization,
  djangoJsonSerialization,
  PythonJsonError,
} from './django-hmac-json.js';

const METHODS: Readonly<Record<string, HashAlgorithm>> = {
  'HMAC-SHA256': 'sha256',
  'HMAC-SHA384': 'sha384',
  'HMAC-SHA512': 'sha512',
};
const METHOD_OF: Readonly<Record<HashAlgorithm, string>> = {
  sha256: 'HMAC-SHA256',
  sha384: 'HMAC-SHA384',
  sha512: 'HMAC-SHA512',
};
const DIGEST_BYTES: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, sha384: 48, sha512: 64 };
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Parses the timestamp forms `datetime.fromisoformat` reads and the clients send
 * (`2023-05-07T14:15:37.862560+00:00`, `...862+00:00`, `...Z`); an offset is
 * required (the Python server cannot compare naive times either). Unix seconds.
 */
export function parseDjangoTimestamp(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (new Date(ms).getUTCDate() !== day) return undefined;
  const fraction = m[7] ? Number(`0.${m[7]}`) : 0;
  let offset = 0;
  if (m[8] !== 'Z') {
    const sign = m[8]!.startsWith('-') ? -1 : 1;
    const digits = m[8]!.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = Number(digits.slice(2));
    if (hours > 23 || minutes > 59) return undefined;
    offset = sign * (hours * 3600 + minutes * 60);
  }
  return ms / 1000 + fraction - offset;
}

/** `datetime.now(timezone.utc).isoformat()` for a Unix time: microseconds and `+00:00`. */
export function formatDjangoTimestamp(unixSeconds: number): string {
  const whole = Math.floor(unixSeconds);
  const micros = Math.round((unixSeconds - whole) * 1e6);
  const base = new Date(whole * 1000).toISOString().slice(0, 19);
  return micros === 0 ? `${base}+00:00` : `${base}.${String(micros).padStart(6, '0')}+00:00`;
}

/**
 * What the server hashes for a body: the Python re-serialisation of the parsed
 * data (see {@link djangoJsonSerialization}), `null` when nothing is hashed.
 * JSON (`application/json`) and form bodies are reproduced; a body without a
 * Content-Type is ignored by the server (DRF gives `{}`); other types throw.
 *
 * @example
 * ```ts
 * djangoBodySerialization('{"a": 1, "b": 2}', 'application/json'); // '{"a":1,"b":2}'
 * ```
 */
export function djangoBodySerialization(
  body: string,
  contentType: string | undefined,
  options: { refuseRepeatedNames?: boolean } = {},
): string | null {
  if (body === '') return null;
  if (contentType === undefined || contentType.trim() === '') return null;
  const [mediaType, ...params] = contentType.split(';').map((part) => part.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new PythonJsonError(`charset ${charset} is not supported`);
  }
  if (mediaType === 'application/json') return djangoJsonSerialization(body, options);
  if (mediaType === 'application/x-www-form-urlencoded') return djangoFormSerialization(body, options);
  throw new PythonJsonError(`content type ${mediaType} cannot be reproduced`);
}

/**
 * What a verifier that hands the body on (the gateway) needs: `serialized`, what the signature
 * covers (as {@link djangoBodySerialization}), and `forward`, the bytes to send instead of the body
 * as received, so the upstream reads exactly what was hashed:
 * - JSON: the hashed serialisation itself; a falsy document (`{}`, `[]`, `0`, `null`...) is signed
 *   as "no body", so nothing is forwarded;
 * - a form: the signed fields re-encoded once each ({@link djangoCanonicalForm});
 * - an empty body: nothing.
 * Throws `BodyNotSigned` for a body without a Content-Type (the Django server ignores it, so no
 * signature covers it), `BodyAmbiguous` for a repeated JSON name or form field, and
 * `PythonJsonError` where DRF would answer 400.
 *
 * @example
 * ```ts
 * const { serialized, forward } = djangoSignedBody(utf8('{"amount": 5}'), 'application/json');
 * // serialized === '{"amount":5}', forward is its UTF-8 bytes
 * ```
 */
export function djangoSignedBody(
  bytes: Uint8Array,
  contentType: string | undefined,
): { serialized: string | null; forward: Uint8Array } {
  if (bytes.length === 0) return { serialized: null, forward: bytes };
  if (contentType === undefined || contentType.trim() === '') {
    throw new BodyNotSigned('django-hmac signs no body without a Content-Type');
  }
  const text = fromUtf8(bytes);
  const serialized = djangoBodySerialization(text, contentType, { refuseRepeatedNames: true });
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-www-form-urlencoded') {
    return { serialized, forward: serialized === null ? new Uint8Array(0) : utf8(djangoCanonicalForm(text)) };
  }
  if (serialized === null) return { serialized, forward: new Uint8Array(0) };
  // A compact ASCII body is its own serialisation (as clients that send json.dumps' compact form
  // write it): the bytes received are the bytes signed, so no copy is made. Equal lengths rule out
  // anything the decoder dropped or replaced (a byte-order mark, invalid UTF-8).
  if (serialized === text && text.length === bytes.length) return { serialized, forward: bytes };
  return { serialized, forward: utf8(serialized) };
}

/**
 * The django string to sign: `base64(H(serialised body))` (empty when nothing is
 * hashed), `;`, the timestamp exactly as sent.
 *
 * @example
 * ```ts
 * await djangoHmacStringToSign(null, '2023-05-07T14:15:37.862560+00:00', 'sha256', crypto);
 * // ';2023-05-07T14:15:37.862560+00:00'
 * ```
 */
export function djangoHmacStringToSign(
  serializedBody: string | null,
  timestamp: string,
  algorithm: HashAlgorithm,
  crypto: CryptoProvider,
): string {
  if (serializedBody === null) return `;${timestamp}`;
  const hash = crypto.createHash(algorithm);
  hash.update(utf8(serializedBody));
  return `${toBase64(hash.digest())};${timestamp}`;
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
    return value !== undefined && /^HMAC-SHA(256|384|512) /.test(value) ? value : undefined;
  }

  function parse(message: MessageParts, context: { hasBody: boolean }): DjangoCredentials {
    const header = authorization(message);
    if (header === undefined) throw new SignatureMissing('no django-hmac Authorization');
    if (headerValues(message.headers, 'authorization').length > 1)
      throw new SignatureMalformed('repeated Authorization');
    const space = header.indexOf(' ');
    const algorithm = METHODS[header.slice(0, space)]!;
    const parts = header.slice(space + 1).split(';');
    if (parts.length !== 3) throw new SignatureMalformed('expected <key id>;<signature>;<timestamp>');
    const [keyId, signatureText, timestamp] = parts as [string, string, string];
    if (!keyId || keyId.length > 256 || /\s/.test(keyId)) throw new SignatureMalformed('invalid key id');
    const signature = fromBase64(signatureText, { strict: true });
    if (!signature || signature.length === 0) throw new SignatureMalformed('signature is not base64');
    const created = parseDjangoTimestamp(timestamp);
    if (created === undefined) throw new SignatureMalformed('timestamp is not ISO-8601 with an offset');
    return {
      keyId,
      algorithm,
      anyKeyAlgorithm: anyAlgorithm,
      bindKeyAlgorithm: !keyAnyAlgorithm,
      created,
      // No nonce in the protocol: the signature is unique per (body, timestamp) and serves as one.
      // Canonical base64 of the decoded bytes: spellings that differ only in padding bits are one nonce.
      nonce: toBase64(signature),
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
      const { crypto, message } = context;
      // The claimed algorithm: the pipeline refused a key of another one unless anyAlgorithm is set.
      const algorithm = credentials.algorithm;
      const compute = async (serializedBody: string | null) => {
        const expected = await crypto.hmac(
          algorithm,
          key.secret,
          utf8(djangoHmacStringToSign(serializedBody, credentials.timestamp, algorithm, crypto)),
        );
        return (
          crypto.timingSafeEqual(expected, credentials.signature) &&
          credentials.signature.length === DIGEST_BYTES[algorithm]
        );
      };

      if (!context.hasBody) return compute(null).then((ok) => (ok ? MAC_MATCHED : MAC_MISMATCHED));

      // The server re-serialises the *parsed* body, so it has to be read whole first.
      const contentType = getHeader(message.headers, 'content-type');
      const chunks: Uint8Array[] = [];
      let size = 0;
      let finished = false;
      let signedBytes: Uint8Array | undefined;
      const body: BodyCheck = {
        update(chunk: Uint8Array) {
          size += chunk.length;
          if (size > maxBodyBytes) throw new BodyTooLarge(`django-hmac bodies are limited to ${maxBodyBytes} bytes`);
          chunks.push(chunk.slice());
        },
        async finish() {
          if (finished) throw new TypeError('finish() called twice');
          finished = true;
          const bytes = concatBytes(chunks, size);
          let reading: { serialized: string | null; forward: Uint8Array };
          try {
            reading = djangoSignedBody(bytes, contentType);
          } catch (error) {
            // A body no signature covers, or one parsers read differently: refused whatever the signature.
            if (error instanceof BodyNotSigned || error instanceof BodyAmbiguous) throw error;
            // Bodies the Python side cannot parse never carry a valid signature there either.
            throw new SignatureInvalid('body cannot be reproduced as the django server would', { cause: error });
          }
          const ok = await compute(reading.serialized);
          if (!ok) throw new SignatureInvalid('signature does not match');
          signedBytes = reading.forward;
        },
        signedBody() {
          if (signedBytes === undefined) throw new TypeError('signedBody() before finish() succeeded');
          return signedBytes;
        },
      };
      return { signatureMatches: undefined, body };
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

const BODY_COVERED: readonly string[] = Object.freeze(['content-digest']);
const NOTHING_COVERED: readonly string[] = Object.freeze([]);

/** What {@link djangoHmac}'s parse reads. */
interface DjangoCredentials extends Credentials {
  readonly algorithm: HashAlgorithm;
  readonly created: number;
  readonly signature: Uint8Array;
  readonly timestamp: string;
}
