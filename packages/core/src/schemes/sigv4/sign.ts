/**
 * Signing with SigV4: an `Authorization` header (`ALGORITHM Credential=…, SignedHeaders=…,
 * Signature=…` plus the date and, for a body, its hash) or a presigned URL.
 */

import { toHex, utf8 } from '../../primitives/encoding.js';
import { getHeader, headerValues } from '../../protocol/headers.js';
import type { MessageParts, SigningKey } from '../../types.js';
import { bodyBytes, cryptoOf, nowOf, printableSecret, splitUrl } from '../compat-support.js';
import {
  SERVICES_WITHOUT_PATH_ENCODING,
  sha256Hex,
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4SigningKey,
  sigv4StringToSign,
  UNSIGNED_PAYLOAD,
} from './canonical.js';
import {
  SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS,
  type SigV4Config,
  type SigV4SignOptions,
  sigv4Provider,
} from './options.js';

function formatAmzDate(seconds: number): string {
  return new Date(seconds * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
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
  const secret = typeof key.secret === 'string' ? key.secret : printableSecret(key.secret);
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
  const canonicalUri = sigv4CanonicalUri(path, { normalize: encodePath, encode: encodePath });
  const signingKey = await sigv4SigningKey(
    { secret, date, region, service, keyPrefix: provider.keyPrefix, terminator: provider.terminator },
    crypto,
  );
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
        signingKey,
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
  const canonicalRequest = sigv4CanonicalRequest({
    method: message.method,
    canonicalUri,
    canonicalQuery: sigv4CanonicalQuery(query),
    headers,
    payloadHash,
  });
  const signature = toHex(
    await crypto.hmac(
      'sha256',
      signingKey,
      utf8(sigv4StringToSign({ algorithm: provider.algorithm, amzDate, scope, canonicalRequest }, crypto)),
    ),
  );
  added['Authorization'] =
    `${provider.algorithm} Credential=${key.keyId}/${scope}, ` +
    `SignedHeaders=${headers.map(([n]) => n).join(';')}, Signature=${signature}`;
  return { headers: added };
}
