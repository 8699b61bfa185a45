/**
 * Signing with SigV4: an `Authorization` header (`ALGORITHM Credential=…, SignedHeaders=…,
 * Signature=…` plus the date and, for a body, its hash) or a presigned URL.
 */

import { toHex, utf8 } from '../../primitives/encoding.js';
import { hmacSha256HexOfText, sha256HexOfText } from '../../primitives/hmac-sha256.js';
import { PreparedKey, preparedKey } from '../../primitives/prepared-key.js';
import { isPromiseLike } from '../../primitives/promise.js';
import { getHeader, headerValues } from '../../protocol/headers.js';
import type { CryptoProvider, MessageParts, SigningKey } from '../../types.js';
import { bodyBytes, cryptoOf, nowOf, printableSecret, splitUrl } from '../compat-support.js';
import {
  SERVICES_WITHOUT_PATH_ENCODING,
  sha256Hex,
  sigv4CanonicalHeaderLines,
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4IsPlainCanonical,
  sigv4SigningKey,
  sigv4StringToSign,
  UNSIGNED_PAYLOAD,
} from './canonical.js';
import {
  SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS,
  type SigV4Config,
  type SigV4Provider,
  type SigV4SignOptions,
  sigv4Provider,
} from './options.js';

// Signers sign many requests per second: the date text of the last second is kept.
let lastAmzSecond = Number.NaN;
let lastAmzDate = '';

function formatAmzDate(seconds: number): string {
  const second = Math.floor(seconds);
  if (second === lastAmzSecond) return lastAmzDate;
  const text = new Date(second * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  lastAmzSecond = second;
  lastAmzDate = text;
  return text;
}

// Secrets given as text (an AWS-style secret access key, or a printable hks_ string used as is),
// prepared once per key object: the derived signing keys live there.
const textSecrets = new WeakMap<object, { text: string; prepared: PreparedKey }>();

/**
 * The derived signing key for one scope, from the secret's prepared material (derived once per
 * day, region, service and provider; see PreparedKey.derived). A raw secret derives from its
 * printable form, as the verifier's default `secretOf` does, so both share the derived key.
 */
function signingKeyOf(
  key: SigningKey,
  scope: { date: string; region: string; service: string; provider: SigV4Provider; text: string },
  crypto: CryptoProvider,
): PreparedKey | Promise<PreparedKey> {
  const derive = (secret: string) =>
    sigv4SigningKey(
      {
        secret,
        date: scope.date,
        region: scope.region,
        service: scope.service,
        keyPrefix: scope.provider.keyPrefix,
        terminator: scope.provider.terminator,
      },
      crypto,
    );
  const secret = key.secret;
  if (secret instanceof Uint8Array) {
    return preparedKey(secret).derived(`sigv4 ${scope.text}`, (bytes) => derive(printableSecret(bytes)));
  }
  if (typeof secret !== 'string') throw new TypeError('secret must be a string or a Uint8Array');
  let known = textSecrets.get(key);
  if (known === undefined || known.text !== secret) {
    known?.prepared.wipe();
    known = { text: secret, prepared: new PreparedKey(utf8(secret)) };
    textSecrets.set(key, known);
  }
  return known.prepared.derived(`sigv4-text ${scope.text}`, () => derive(secret));
}

/**
 * Signs `message` for `key` with the scheme's configuration: the first provider, region and
 * service unless `signOptions` names others.
 *
 * @example
 * ```ts
 * const { headers } = await signSigV4(resolveSigV4Options({}), message, { keyId: 'k1', secret: 'hks_…' }, {});
 * ```
 */
export async function signSigV4(
  config: SigV4Config,
  message: MessageParts & { body?: Uint8Array | null },
  key: SigningKey,
  signOptions: Record<string, unknown>,
): Promise<{ headers: Record<string, string>; url?: string }> {
  const { providers, regions, services } = config;
  const opts = signOptions as SigV4SignOptions;
  const crypto = cryptoOf(opts);
  const provider = opts.provider ? sigv4Provider(opts.provider) : providers[0]!;
  const region = opts.region ?? (regions === 'any' ? 'us-east-1' : regions[0]!);
  const service = opts.service ?? services[0]!;
  if (key.algorithm !== undefined && key.algorithm !== 'sha256') {
    throw new TypeError('SigV4 signs with sha256 only');
  }
  const amzDate = formatAmzDate(nowOf(opts));
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/${service}/${provider.terminator}`;
  const { authority, path, query } = splitUrl(message.url);
  const body = bodyBytes(message.body);
  const payloadHash = opts.unsignedPayload ? UNSIGNED_PAYLOAD : sha256Hex(crypto, body);

  const extra = new Map<string, string[]>();
  extra.set('host', [getHeader(message.headers, 'host') ?? authority]);
  for (const name of ['content-type', ...(opts.signedHeaders ?? [])].map((n) => n.toLowerCase())) {
    const values = headerValues(message.headers, name);
    if (values.length > 0) extra.set(name, values);
    else if (name !== 'content-type' && !extra.has(name)) {
      throw new TypeError(`sigv4: header ${name} is to be signed but absent`);
    }
  }
  const added: Record<string, string> = {};
  const encodePath = !SERVICES_WITHOUT_PATH_ENCODING.has(service);
  // A path and query that are already canonical (unreserved characters, sorted query: the usual
  // request) are their own canonical forms, as the verifier relies on too.
  const plain = sigv4IsPlainCanonical(path, query);
  const canonicalUri = plain ? path : sigv4CanonicalUri(path, { normalize: encodePath, encode: encodePath });
  const derived = signingKeyOf(key, { date, region, service, provider, text: scope }, crypto);
  const signingKey = isPromiseLike(derived) ? await derived : derived;
  const sorted = (map: Map<string, string[]>) =>
    [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1)) as [string, string[]][];

  if (opts.presignExpiresInSeconds !== undefined) {
    const expiresIn = opts.presignExpiresInSeconds;
    if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS) {
      throw new TypeError('sigv4: presignExpiresInSeconds must be an integer in 1..604800');
    }
    const headers = sorted(extra);
    const q = provider.queryPrefix;
    const params = [
      `${q}Algorithm=${provider.algorithm}`,
      `${q}Credential=${encodeURIComponent(`${key.keyId}/${scope}`)}`,
      `${q}Date=${amzDate}`,
      `${q}Expires=${expiresIn}`,
      `${q}SignedHeaders=${encodeURIComponent(headers.map(([n]) => n).join(';'))}`,
    ];
    const fullQuery = [query, ...params].filter((part) => part).join('&');
    const canonicalRequest = sigv4CanonicalRequest({
      method: message.method,
      canonicalUri,
      canonicalQuery: sigv4CanonicalQuery(fullQuery),
      headers,
      payloadHash: opts.unsignedPayload ? UNSIGNED_PAYLOAD : sha256Hex(crypto, body),
    });
    const signature = toHex(
      await crypto.hmac(
        'sha256',
        signingKey.bytes,
        utf8(sigv4StringToSign({ algorithm: provider.algorithm, amzDate, scope, canonicalRequest }, crypto)),
      ),
    );
    const base =
      typeof message.url === 'string' ? message.url.replace(/[?#].*$/, '') : message.url.href.replace(/[?#].*$/, '');
    return { headers: added, url: `${base}?${fullQuery}&${q}Signature=${signature}` };
  }

  extra.set(`${provider.headerPrefix}date`, [amzDate]);
  added[`${provider.queryPrefix}Date`] = amzDate;
  if (body.length > 0 || opts.unsignedPayload) {
    // Declaring the hash lets the verifier check the signature before reading the body.
    extra.set(`${provider.headerPrefix}content-sha256`, [payloadHash]);
    added[`${provider.headerPrefix}content-sha256`] = payloadHash;
  }
  const headers = sorted(extra);
  const signedHeaders = headers.map(([n]) => n).join(';');
  // sigv4CanonicalRequest() and sigv4StringToSign() written out (header lines trimmed only where
  // trimming changes them), the MAC from the derived key's prepared pads and written as hex.
  const canonicalQuery = plain ? (query ?? '') : sigv4CanonicalQuery(query);
  const canonicalRequest =
    `${message.method.toUpperCase()}\n${canonicalUri}\n${canonicalQuery}\n` +
    `${sigv4CanonicalHeaderLines(headers)}\n${signedHeaders}\n${payloadHash}`;
  const stringToSign = `${provider.algorithm}\n${amzDate}\n${scope}\n${sha256HexOfText(crypto, canonicalRequest)}`;
  const signature =
    crypto.hash !== undefined
      ? hmacSha256HexOfText(crypto, signingKey.hmacSha256Pads(), stringToSign)
      : toHex(await crypto.hmac('sha256', signingKey.bytes, utf8(stringToSign)));
  added['Authorization'] =
    `${provider.algorithm} Credential=${key.keyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers: added };
}
