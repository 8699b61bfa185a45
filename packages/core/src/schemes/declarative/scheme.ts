/**
 * The scheme built from a {@link DeclarativeSchemeDefinition} (definition.ts), over the message/MAC
 * logic of message.ts: detect, parse, policy window, verify (with the body when the message needs
 * it), the debug signature base, and sign.
 */

import { SignatureExpired, SignatureInvalid, SignatureMalformed, SignatureMissing } from '../../errors.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../../pipeline/contract.js';
import { bytesSection } from '../../pipeline/signature-base.js';
import { concatBytes, toBase64, toHex } from '../../primitives/encoding.js';
import { getHeader, headerValues } from '../../protocol/headers.js';
import type { BodyCheck, CryptoProvider, MessageParts, SigningKey } from '../../types.js';
import { bodyBytes, cryptoOf, nowOf, rawSecretOf } from '../compat-support.js';
import {
  checkDefinition,
  DEFAULT_WINDOW,
  type DeclarativeSchemeDefinition,
  DIGEST_BYTES,
  declarativeNeedsBody,
} from './definition.js';
import {
  buildDeclarativeMessage,
  type DeclarativeInput,
  parseDeclarativeSignature,
  parseDeclarativeTime,
  readSource,
} from './message.js';

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
