/**
 * Declarative schemes: a home-made HMAC scheme described as data (where the signature is, how it
 * is encoded, which key, which message, which time and nonce), so hmac-kit can sit in front of
 * clients that already run it without a change on their side (issue #12). The four common
 * families, their grades and ready-made configurations: docs/protocol-legacy.md, examples/legacy/.
 *
 * The message/MAC logic ({@link buildDeclarativeMessage}, {@link parseDeclarativeSignature}) is
 * standalone; {@link declarativeScheme} plugs it into the scheme contract.
 */

import { SignatureExpired, SignatureInvalid, SignatureMalformed, SignatureMissing } from '../errors.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../pipeline/contract.js';
import { bytesSection } from '../pipeline/signature-base.js';
import { concatBytes, fromBase64, fromHex, fromUtf8, toBase64, toHex, utf8 } from '../primitives/encoding.js';
import { getHeader, headerValues } from '../protocol/headers.js';
import type { BodyCheck, CryptoProvider, HashAlgorithm, MessageParts, SigningKey } from '../types.js';
import { bodyBytes, cryptoOf, nowOf, rawSecretOf, splitUrl } from './compat-support.js';
import { djangoJsonSerialization } from './django-hmac/body.js';
import { PythonJsonError } from './django-hmac/python-json.js';
import { pythonStrOfJson } from './django-hmac/python-repr.js';

/** One piece of the signed message, concatenated in order (no separator: use `literal`). */
export type MessagePart =
  | 'method'
  | 'path'
  | 'query'
  | 'body'
  | 'django-json'
  | 'python-str'
  | { literal: string }
  | { header: string }
  | { jsonField: string };

/** Where a value (key id, timestamp, nonce) is read: a request header or a field of the JSON body. */
export type ValueSource = { header: string } | { jsonField: string };

/** A scheme described as data. Validate untrusted input with the server's config schema first. */
export interface DeclarativeSchemeDefinition {
  /** Name in logs, metrics and key usage, e.g. `authorization-hmac`. */
  name: string;
  signature: {
    /** Header carrying the signature, e.g. `authorization`, `x-hmac-signature`. */
    header: string;
    /** Text before the MAC in that header, e.g. `HMAC ` (compared case-sensitively). */
    prefix?: string;
    /** `hex` (any case accepted, lower case sent) or `base64` (standard or URL-safe, padding optional). */
    encoding: 'hex' | 'base64';
  };
  /** Accepted hash functions; the MAC length tells which one a request used. Default `['sha256']`. */
  algorithms?: readonly HashAlgorithm[];
  /** The key: named by a request header, or one fixed key id for single-secret systems (e.g. `legacy`). */
  keyId: { header: string } | { fixed: string };
  /** The signed message, part after part. */
  message: readonly MessagePart[];
  /** The signing time, when the scheme has one. */
  timestamp?: ValueSource & {
    format: 'unix' | 'iso8601';
    /** Accepted distance from the server clock, both directions, in seconds. Default 300. */
    windowSeconds?: number;
  };
  /**
   * A request nonce header. Without one the signature itself is remembered (for the timestamp
   * window, or `rememberSeconds`), so an identical copy is refused while it is remembered.
   */
  nonce?: { header: string };
  /** How long a signature is remembered when there is neither a nonce nor a timestamp. Default 300. */
  rememberSeconds?: number;
}

const DIGEST_BYTES: Readonly<Record<HashAlgorithm, number>> = { sha256: 32, sha384: 48, sha512: 64 };
const DEFAULT_WINDOW = 300;

/** Whether the message (or the timestamp) needs the body: it is then checked once the body is read. */
export function declarativeNeedsBody(definition: DeclarativeSchemeDefinition): boolean {
  const bodyPart = definition.message.some(
    (part) =>
      part === 'body' ||
      part === 'django-json' ||
      part === 'python-str' ||
      (typeof part === 'object' && 'jsonField' in part),
  );
  const fromBody = (source: ValueSource | undefined) => source !== undefined && 'jsonField' in source;
  return bodyPart || fromBody(definition.timestamp);
}

/**
 * What the scheme leaves unprotected, one sentence for the start-up warning and the docs, or
 * `undefined` when it signs method, path, query and body with a time and a nonce.
 *
 * @example
 * ```ts
 * declarativeWeakness(definition); // 'signs no time: ...; signs neither the method nor the path'
 * ```
 */
export function declarativeWeakness(definition: DeclarativeSchemeDefinition): string | undefined {
  const has = (part: MessagePart) => definition.message.includes(part);
  const signsBody = has('body') || has('django-json') || has('python-str');
  const signsSomeBody = signsBody || definition.message.some((part) => typeof part === 'object' && 'jsonField' in part);
  const gaps: string[] = [];
  if (!definition.timestamp) {
    gaps.push('signs no time: a copy is refused only while its signature is remembered, and accepted again after');
  } else {
    const timeSigned = definition.message.some(
      (part) =>
        typeof part === 'object' &&
        (('header' in part && 'header' in definition.timestamp! && part.header === definition.timestamp.header) ||
          ('jsonField' in part &&
            'jsonField' in definition.timestamp! &&
            part.jsonField === definition.timestamp.jsonField)),
    );
    if (!timeSigned && !signsBody) gaps.push('the timestamp is not signed: it can be changed to replay a copy');
  }
  if (!definition.nonce) gaps.push('no nonce: the signature is its only replay marker');
  if (!has('method')) gaps.push('does not sign the method');
  if (!has('path')) gaps.push('does not sign the path');
  if (!has('query')) gaps.push('does not sign the query');
  if (!signsBody) gaps.push(signsSomeBody ? 'signs only some fields of the body' : 'does not sign the body');
  if (!('header' in definition.keyId)) gaps.push('one shared secret for every client');
  return gaps.length > 0 ? gaps.join('; ') : undefined;
}

/** Dotted path into a parsed JSON value (`a.b.0`). */
function jsonPath(value: unknown, path: string): unknown {
  let current = value;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** A JSON field as text, the way string interpolation writes it (`"#{x}"`, `f"{x}"` for str/int). */
function fieldText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return '';
  return JSON.stringify(value);
}

/** What the message parts read from a request. `body` is `null` when the request has none. */
export interface DeclarativeInput {
  method: string;
  url: string | URL;
  headers: MessageParts['headers'];
  body: Uint8Array | null;
}

function singleHeader(headers: MessageParts['headers'], name: string): string {
  const values = headerValues(headers, name);
  if (values.length === 0) throw new SignatureMalformed(`missing ${name} header`);
  if (values.length > 1) throw new SignatureMalformed(`repeated ${name} header`);
  return values[0]!;
}

/**
 * The exact bytes a client of this scheme signs for a request. Throws `SignatureMalformed` when a
 * header or JSON field the message needs is missing, `SignatureInvalid` when the body cannot be
 * read the way the message needs (not JSON, not UTF-8).
 *
 * @example
 * ```ts
 * const bytes = buildDeclarativeMessage(definition, { method: 'POST', url, headers, body });
 * ```
 */
export function buildDeclarativeMessage(definition: DeclarativeSchemeDefinition, input: DeclarativeInput): Uint8Array {
  const chunks: Uint8Array[] = [];
  let parsed: { value: unknown } | undefined;
  const bodyText = () => {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(input.body ?? new Uint8Array(0));
    } catch (error) {
      throw new SignatureInvalid('the body is not UTF-8', { cause: error });
    }
  };
  const json = () => {
    if (!parsed) {
      try {
        parsed = { value: JSON.parse(bodyText()) };
      } catch (error) {
        throw new SignatureInvalid('the body is not JSON', { cause: error });
      }
    }
    return parsed.value;
  };
  for (const part of definition.message) {
    if (part === 'method') chunks.push(utf8(input.method.toUpperCase()));
    else if (part === 'path') chunks.push(utf8(splitUrl(input.url).path));
    else if (part === 'query') chunks.push(utf8(splitUrl(input.url).query ?? ''));
    else if (part === 'body') chunks.push(input.body ?? new Uint8Array(0));
    else if (part === 'django-json') {
      try {
        chunks.push(utf8(djangoJsonSerialization(bodyText()) ?? ''));
      } catch (error) {
        throw new SignatureInvalid('the body cannot be re-serialised as django does', { cause: error });
      }
    } else if (part === 'python-str') {
      try {
        chunks.push(utf8(pythonStrOfJson(bodyText())));
      } catch (error) {
        if (error instanceof PythonJsonError) throw new SignatureInvalid('the body is not JSON', { cause: error });
        throw error;
      }
    } else if ('literal' in part) chunks.push(utf8(part.literal));
    else if ('header' in part) chunks.push(utf8(singleHeader(input.headers, part.header)));
    else {
      const text = fieldText(jsonPath(json(), part.jsonField));
      if (text === undefined) throw new SignatureMalformed(`the JSON body has no ${part.jsonField} field`);
      chunks.push(utf8(text));
    }
  }
  return concatBytes(chunks);
}

/** The MAC bytes in the signature header, or `undefined` when the header is absent or has another prefix. */
export function parseDeclarativeSignature(
  definition: DeclarativeSchemeDefinition,
  headers: MessageParts['headers'],
): Uint8Array | undefined {
  const value = getHeader(headers, definition.signature.header);
  const prefix = definition.signature.prefix ?? '';
  if (value === undefined || !value.startsWith(prefix)) return undefined;
  if (headerValues(headers, definition.signature.header).length > 1) {
    throw new SignatureMalformed(`repeated ${definition.signature.header} header`);
  }
  const text = value.slice(prefix.length).trim();
  const bytes =
    definition.signature.encoding === 'hex'
      ? /^[0-9A-Fa-f]+$/.test(text) && text.length % 2 === 0
        ? fromHex(text.toLowerCase())
        : undefined
      : /^[A-Za-z0-9+/_-]+={0,2}$/.test(text)
        ? fromBase64(text.replace(/-/g, '+').replace(/_/g, '/'))
        : undefined;
  if (!bytes || bytes.length === 0) throw new SignatureMalformed(`signature is not ${definition.signature.encoding}`);
  return bytes;
}

/** Unix seconds of a timestamp value, or `undefined` when it is not in the format. ISO without an offset is UTC. */
export function parseDeclarativeTime(text: string, format: 'unix' | 'iso8601'): number | undefined {
  if (format === 'unix') return /^\d{1,12}$/.test(text) ? Number(text) : undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$/.exec(text);
  if (!m) return undefined;
  const zone = m[8] ?? 'Z';
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${(m[7] ?? '').slice(0, 4)}${zone === 'Z' ? 'Z' : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`}`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

function readSource(source: ValueSource, input: DeclarativeInput): string | undefined {
  if ('header' in source) return getHeader(input.headers, source.header);
  if (!input.body || input.body.length === 0) return undefined;
  try {
    return fieldText(jsonPath(JSON.parse(fromUtf8(input.body)), source.jsonField));
  } catch {
    return undefined;
  }
}

/** Checks the definition's shape (programmer input; the server validates config files with zod first). */
function checkDefinition(definition: DeclarativeSchemeDefinition): void {
  if (definition === null || typeof definition !== 'object')
    throw new TypeError('declarativeScheme: definition must be an object');
  if (typeof definition.name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(definition.name))
    throw new TypeError('declarativeScheme: name must be 1-63 characters of a-z 0-9 . _ -');
  if (!Array.isArray(definition.message) || definition.message.length === 0)
    throw new TypeError('declarativeScheme: message must list at least one part');
  for (const algorithm of definition.algorithms ?? ['sha256']) {
    if (!(algorithm in DIGEST_BYTES))
      throw new TypeError('declarativeScheme: algorithms may be sha256, sha384, sha512');
  }
}

/** What {@link declarativeScheme} parses once per request. */
export interface DeclarativeCredentials extends Credentials {
  readonly mac: Uint8Array;
  /** Header timestamp (Unix seconds) to check against the scheme's window; body timestamps are checked with the body. */
  readonly headerTime?: number;
}

/**
 * A scheme from a {@link DeclarativeSchemeDefinition}: verifies requests of an existing home-made
 * scheme byte for byte, and signs them (for tests and `hmac-kit request`). The claimed algorithm is
 * the one whose digest length the MAC has; the pipeline resolves the key (unknown ids and keys
 * bound to another algorithm get the decoy: same work, same answer as a wrong MAC).
 *
 * @example
 * ```ts
 * const authorizationHmac = declarativeScheme({
 *   name: 'authorization-hmac',
 *   signature: { header: 'authorization', prefix: 'HMAC ', encoding: 'hex' },
 *   keyId: { fixed: 'legacy' },
 *   message: ['python-str'],
 * });
 * await verifyRequest(request, { keys, nonceStore, schemes: [rfc9421(), authorizationHmac] });
 * ```
 */
export function declarativeScheme(definition: DeclarativeSchemeDefinition): Scheme<DeclarativeCredentials> {
  checkDefinition(definition);
  const algorithms = definition.algorithms ?? ['sha256'];
  const needsBody = declarativeNeedsBody(definition);
  const window = definition.timestamp?.windowSeconds ?? DEFAULT_WINDOW;
  const remember = definition.rememberSeconds ?? DEFAULT_WINDOW;
  const timeFromBody = definition.timestamp !== undefined && 'jsonField' in definition.timestamp;
  const covered = Object.freeze([
    ...(definition.message.includes('method') ? ['@method'] : []),
    ...(definition.message.includes('path') ? ['@path'] : []),
    ...(definition.message.includes('query') ? ['@query'] : []),
    ...(definition.message.some((p) => p === 'body' || p === 'django-json' || p === 'python-str')
      ? ['content-digest']
      : []),
  ]);

  const keyIdOf = (headers: MessageParts['headers']): string => {
    if ('fixed' in definition.keyId) return definition.keyId.fixed;
    const value = getHeader(headers, definition.keyId.header);
    if (value === undefined || value === '') throw new SignatureMalformed(`missing ${definition.keyId.header} header`);
    if (headerValues(headers, definition.keyId.header).length > 1)
      throw new SignatureMalformed(`repeated ${definition.keyId.header} header`);
    return value;
  };

  /** The scheme's own window, both directions (legacy servers compare the absolute difference). */
  const checkWindow = (time: number, now: number, skew: number) => {
    if (time > now + Math.max(skew, 0) + window || time < now - window) {
      throw new SignatureExpired('timestamp outside the accepted window', Math.floor(now));
    }
  };

  const macOf = (key: ResolvedKey, crypto: CryptoProvider, bytes: Uint8Array, mac: Uint8Array) => {
    const expected = crypto.hmac(key.algorithm, key.secret, bytes);
    return expected instanceof Uint8Array
      ? crypto.timingSafeEqual(expected, mac)
      : Promise.resolve(expected).then((value) => crypto.timingSafeEqual(value, mac));
  };

  return {
    name: definition.name,

    detect(message: MessageParts): boolean {
      const value = getHeader(message.headers, definition.signature.header);
      return value?.startsWith(definition.signature.prefix ?? '') === true;
    },

    parse(message: MessageParts): DeclarativeCredentials {
      const mac = parseDeclarativeSignature(definition, message.headers);
      if (!mac) throw new SignatureMissing(`no ${definition.name} signature`);
      const keyId = keyIdOf(message.headers);
      // The MAC's length names the hash; a length of none accepted still gets the full (decoy) work.
      const algorithm = algorithms.find((candidate) => DIGEST_BYTES[candidate] === mac.length) ?? algorithms[0]!;
      const now = Math.floor(Date.now() / 1000);
      let headerTime: number | undefined;
      if (definition.timestamp && !timeFromBody) {
        const text = getHeader(message.headers, (definition.timestamp as { header: string }).header);
        if (text === undefined) throw new SignatureMalformed('missing timestamp');
        headerTime = parseDeclarativeTime(text, definition.timestamp.format);
        if (headerTime === undefined) throw new SignatureMalformed(`timestamp is not ${definition.timestamp.format}`);
      }
      let nonce: string;
      if (definition.nonce) {
        const value = getHeader(message.headers, definition.nonce.header);
        if (value === undefined || value.length === 0 || value.length > 256)
          throw new SignatureMalformed(`missing ${definition.nonce.header} header`);
        nonce = value;
      } else {
        // Without a nonce the signature is the replay marker (lower-case hex: one spelling per MAC).
        nonce = `sig:${toHex(mac)}`;
      }
      // No time in the protocol (or only in the body, checked with it): reported as created now, so a
      // young nonce store does not refuse every such client after each restart; such signatures can be
      // replayed once forgotten anyway (docs/protocol-legacy.md). Remembered as long as acceptable.
      const created = headerTime !== undefined ? Math.floor(headerTime) : now;
      const acceptableUntil =
        headerTime !== undefined ? Math.ceil(headerTime + window) : timeFromBody ? now + 2 * window : now + remember;
      return {
        keyId,
        algorithm,
        mac,
        nonce,
        created,
        acceptableUntil,
        coveredComponents: covered,
        ...(headerTime !== undefined ? { headerTime } : {}),
      };
    },

    /** The message bytes the MAC covers, rebuilt from the request (debug diagnostics). */
    signatureBase(_credentials: DeclarativeCredentials, { message, body, hasBody }) {
      let signed: Uint8Array | null = null;
      if (needsBody && hasBody) {
        if (body === undefined) return undefined;
        signed = body;
      }
      const bytes = buildDeclarativeMessage(definition, {
        method: message.method,
        url: message.url,
        headers: message.headers,
        body: signed,
      });
      return [bytesSection('message', bytes)];
    },

    checkPolicy(credentials: DeclarativeCredentials, context: VerifyContext): void {
      if (credentials.headerTime !== undefined)
        checkWindow(credentials.headerTime, context.now, context.policy.clockSkewSeconds);
    },

    verify(
      credentials: DeclarativeCredentials,
      key: ResolvedKey,
      context: VerifyContext,
    ): SchemeVerdict | Promise<SchemeVerdict> {
      const { message, crypto } = context;
      const input = (body: Uint8Array | null): DeclarativeInput => ({
        method: message.method,
        url: message.url,
        headers: message.headers,
        body,
      });
      if (!needsBody || !context.hasBody) {
        if (timeFromBody) throw new SignatureMalformed('missing timestamp');
        const ok = macOf(key, crypto, buildDeclarativeMessage(definition, input(null)), credentials.mac);
        return typeof ok === 'boolean'
          ? ok
            ? MAC_MATCHED
            : MAC_MISMATCHED
          : ok.then((matched) => (matched ? MAC_MATCHED : MAC_MISMATCHED));
      }
      // The message needs the body: read it whole, then check time, message and MAC together.
      const limit = context.policy.maxBodyBytes ?? 1024 * 1024;
      const chunks: Uint8Array[] = [];
      let size = 0;
      const finishWith = async (bytes: Uint8Array) => {
        const built = input(bytes);
        if (definition.timestamp && timeFromBody) {
          const text = readSource(definition.timestamp, built);
          const time = text === undefined ? undefined : parseDeclarativeTime(text, definition.timestamp.format);
          if (time === undefined) throw new SignatureInvalid('no valid timestamp in the body');
          // Checked before the MAC is trusted but after the same work: the answer for a stale
          // signature is only given once the MAC matched.
          const matched = await macOf(key, crypto, buildDeclarativeMessage(definition, built), credentials.mac);
          if (!matched) throw new SignatureInvalid('signature does not match');
          checkWindow(time, context.now, context.policy.clockSkewSeconds);
          return;
        }
        const matched = await macOf(key, crypto, buildDeclarativeMessage(definition, built), credentials.mac);
        if (!matched) throw new SignatureInvalid('signature does not match');
      };
      const body: BodyCheck = {
        update(chunk: Uint8Array) {
          size += chunk.length;
          if (size > limit) throw new SignatureInvalid('body too large for this scheme');
          chunks.push(chunk.slice());
        },
        async finish() {
          const bytes = concatBytes(chunks, size);
          await finishWith(bytes);
        },
        complete(bytes: Uint8Array) {
          return finishWith(bytes);
        },
      };
      return { signatureMatches: undefined, body };
    },

    async sign(message, key: SigningKey, signOptions = {}) {
      const crypto = cryptoOf(signOptions as { crypto?: CryptoProvider });
      const now = nowOf(signOptions as { now?: () => number });
      const algorithm = key.algorithm ?? algorithms[0]!;
      const secret = rawSecretOf(key.secret);
      const headers: Record<string, string> = {};
      if ('header' in definition.keyId) headers[definition.keyId.header] = key.keyId;
      if (definition.timestamp && 'header' in definition.timestamp) {
        headers[definition.timestamp.header] =
          definition.timestamp.format === 'unix'
            ? String(Math.floor(now))
            : new Date(Math.floor(now) * 1000).toISOString().replace('.000Z', 'Z');
      }
      if (definition.nonce) headers[definition.nonce.header] = toHex(crypto.randomBytes(16));
      const body = bodyBytes(message.body);
      const merged = { ...headersRecord(message.headers), ...headers };
      const bytes = buildDeclarativeMessage(definition, {
        method: message.method,
        url: message.url,
        headers: merged,
        body: body.length > 0 ? body : null,
      });
      const mac = await crypto.hmac(algorithm, secret, bytes);
      const encoded = definition.signature.encoding === 'hex' ? toHex(mac) : toBase64(mac);
      headers[definition.signature.header] = `${definition.signature.prefix ?? ''}${encoded}`;
      return { headers };
    },
  };
}

function headersRecord(headers: MessageParts['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof (headers as Headers).forEach === 'function' && typeof (headers as Headers).get === 'function') {
    (headers as Headers).forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
    return out;
  }
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
