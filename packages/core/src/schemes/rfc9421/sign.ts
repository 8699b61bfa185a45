/**
 * Signing with the RFC 9421 profile: the covered components (compiled once per list), the
 * Content-Digest of the body, the `Signature-Input` parameters, the signature base and its MAC.
 */

import { unixNow } from '../../pipeline/policy.js';
import { webCryptoProvider } from '../../primitives/crypto.js';
import { toBase64 } from '../../primitives/encoding.js';
import { hmacSha256OfAscii } from '../../primitives/hmac-sha256.js';
import { randomToken } from '../../primitives/random-pool.js';
import {
  buildSignatureBase,
  type ComponentContext,
  componentIdentifier,
  contextOf,
  latin1Bytes,
  parseComponentSpec,
  plainSignatureBase,
} from '../../protocol/components.js';
import { contentDigestHeader } from '../../protocol/content-digest.js';
import { BODY_METHODS } from '../../protocol/message-body.js';
import {
  type BareItem,
  type InnerList,
  type Item,
  type Parameters,
  serializeMember,
} from '../../protocol/structured-fields.js';
import { secretBytesOf } from '../../secret.js';
import type { CryptoProvider, HashAlgorithm, MessageParts, SigningKey } from '../../types.js';
import {
  ALG_FOR_HASH,
  LABEL,
  RFC9421_DEFAULT_COMPONENTS,
  type Rfc9421Config,
  type Rfc9421SignOptions,
} from './options.js';
import { withComponentErrors } from './signature-base.js';

const NONCE_BYTES = 16;

function sfString(value: unknown, what: string): string {
  if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
    throw new TypeError(`${what} must be a string of printable ASCII characters`);
  }
  return value;
}

function signedMethodHasBody(method: string, body: Uint8Array | null | undefined): boolean {
  return (body !== null && body !== undefined && body.length > 0) || BODY_METHODS.has(method.toUpperCase());
}

// ---- signing helpers ------------------------------------------------------------------------------

/** A list of covered components, parsed, de-duplicated and serialised once. */
interface CoveredComponents {
  readonly items: readonly Item[];
  /** `("@method" "@authority" ...)`: the inner list as `Signature-Input` and `@signature-params` write it. */
  readonly innerList: string;
  /**
   * The names when every component is a plain name (no parameters, nothing to escape), for
   * {@link plainSignatureBase}; `undefined` otherwise (the general path builds the base).
   */
  readonly plainNames: readonly string[] | undefined;
  readonly coversDigest: boolean;
}

// Signers pass the same few lists (the defaults, plus the application's coveredHeaders): each list
// is compiled once. Keyed by the list written with a length before each name (unambiguous).
const coveredComponentsCache = new Map<string, CoveredComponents>();
const COVERED_COMPONENTS_CACHE_LIMIT = 256;

function listKey(list: readonly string[]): string {
  let key = '';
  for (let i = 0; i < list.length; i++) key += `${list[i]!.length}:${list[i]}`;
  return key;
}

function compileComponents(specs: readonly string[]): CoveredComponents {
  const items: Item[] = [];
  const identifiers: string[] = [];
  const seen = new Set<string>();
  let plain = true;
  for (const spec of specs) {
    const item = withComponentErrors(
      () => parseComponentSpec(spec),
      (reason) => new TypeError(reason),
    );
    const identifier = componentIdentifier(item);
    if (seen.has(identifier)) continue;
    seen.add(identifier);
    items.push(item);
    identifiers.push(identifier);
    // componentIdentifier() is `"name"` exactly for a parameterless name with nothing to escape.
    if (item.params.size > 0 || identifier !== `"${String(item.value)}"`) plain = false;
  }
  return {
    items,
    innerList: `(${identifiers.join(' ')})`,
    plainNames: plain ? items.map((item) => item.value as string) : undefined,
    coversDigest: seen.has('"content-digest"'),
  };
}

function coveredComponentsOf(signOptions: Rfc9421SignOptions, hasBody: boolean): CoveredComponents {
  const { components, coveredHeaders } = signOptions;
  for (const [option, list] of [
    ['coveredHeaders', coveredHeaders],
    ['components', components],
  ] as const) {
    if (list !== undefined && (!Array.isArray(list) || !list.every((name) => typeof name === 'string'))) {
      throw new TypeError(`${option} must be an array of component names`);
    }
  }
  const cacheKey =
    components !== undefined
      ? `c${listKey(components)}`
      : `${hasBody ? 'b' : 'n'}${coveredHeaders === undefined ? '' : listKey(coveredHeaders)}`;
  let covered = coveredComponentsCache.get(cacheKey);
  if (covered === undefined) {
    covered = compileComponents(
      components ?? [...RFC9421_DEFAULT_COMPONENTS, ...(hasBody ? ['content-digest'] : []), ...(coveredHeaders ?? [])],
    );
    if (coveredComponentsCache.size < COVERED_COMPONENTS_CACHE_LIMIT) coveredComponentsCache.set(cacheKey, covered);
  }
  return covered;
}

const SF_MAX_INTEGER = 999_999_999_999_999;

/** Whether `value` serialises as an RFC 8941 integer (otherwise the general path reports it). */
function sfInteger(value: number): boolean {
  return Number.isInteger(value) && Math.abs(value) <= SF_MAX_INTEGER;
}

/** An sf-string of printable ASCII (checked by sfString()), quoted and escaped as serializeBareItem() does. */
function sfQuoted(value: string): string {
  return value.indexOf('"') === -1 && value.indexOf('\\') === -1
    ? `"${value}"`
    : `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** HMAC of a signature base (latin-1 text): from the key's prepared pads when the provider hashes one-shot. */
function macOfBase(
  provider: CryptoProvider,
  algorithm: HashAlgorithm,
  secret: Uint8Array,
  base: string,
): Uint8Array | Promise<Uint8Array> {
  if (algorithm === 'sha256' && provider.hash !== undefined) {
    const mac = hmacSha256OfAscii(provider, secret, base);
    if (mac !== undefined) return mac;
  }
  return provider.hmac(algorithm, secret, latin1Bytes(base));
}

/** The sign phase of one `rfc9421()`. */
export type Rfc9421Sign = (
  message: MessageParts & { body?: Uint8Array | null },
  key: SigningKey,
  signOptions?: Rfc9421SignOptions & { [option: string]: unknown },
) => Promise<{ headers: Record<string, string> }>;

/**
 * The RFC 9421 signer for one configuration (its label and Content-Digest algorithm).
 *
 * @example
 * ```ts
 * const sign = createRfc9421Signer(resolveRfc9421Options({ digestAlgorithm: 'sha-512' }));
 * const { headers } = await sign({ method: 'GET', url, headers: {} }, { keyId, secret });
 * ```
 */
export function createRfc9421Signer(config: Rfc9421Config): Rfc9421Sign {
  const { label, digestAlgorithm } = config;

  async function sign(
    message: MessageParts & { body?: Uint8Array | null },
    key: SigningKey,
    signOptions: Rfc9421SignOptions & { [option: string]: unknown } = {},
  ): Promise<{ headers: Record<string, string> }> {
    const provider = signOptions.crypto ?? webCryptoProvider;
    const created = Math.floor((signOptions.now ?? unixNow)());
    if (!key || typeof key !== 'object') throw new TypeError('sign needs a SigningKey');
    const keyId = sfString(key.keyId, 'keyId');
    if (keyId.length === 0) throw new TypeError('keyId must not be empty');
    const algorithm = key.algorithm ?? 'sha256';
    if (!(algorithm in ALG_FOR_HASH)) throw new TypeError(`unsupported algorithm ${String(algorithm)}`);
    const secret = secretBytesOf(key);
    const signLabel = signOptions.label ?? label ?? 'sig';
    if (!LABEL.test(signLabel)) throw new TypeError('label must be a structured-field key');

    const body = message.body ?? null;
    const covered = coveredComponentsOf(signOptions, signedMethodHasBody(message.method, body));
    const digest = covered.coversDigest ? contentDigestHeader(provider, digestAlgorithm, body) : undefined;

    let expires: number | undefined;
    if (signOptions.expiresInSeconds !== undefined) {
      const ttl = signOptions.expiresInSeconds;
      if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0) {
        throw new TypeError('expiresInSeconds must be a positive integer');
      }
      expires = created + ttl;
    }
    const nonceOption = signOptions.nonce ?? randomToken(provider, NONCE_BYTES);
    const nonce = nonceOption === false ? undefined : sfString(nonceOption, 'nonce');
    const alg = (signOptions.includeAlg ?? true) ? ALG_FOR_HASH[algorithm] : undefined;
    const tag = signOptions.tag === undefined ? undefined : sfString(signOptions.tag, 'tag');

    const context: ComponentContext = withComponentErrors(
      () => contextOf(message, digest === undefined ? undefined : { 'content-digest': digest }),
      (reason) => new TypeError(reason),
    );
    // The usual signature (plain component names, integer times): the base and Signature-Input as
    // text. Otherwise structured-field items serialised by the general code; both give the same
    // headers (rfc9421-sign.test.ts).
    const fast =
      covered.plainNames !== undefined && sfInteger(created) && (expires === undefined || sfInteger(expires));
    let signatureParams: string;
    let base: string;
    if (fast) {
      signatureParams = `${covered.innerList};created=${created}`;
      if (expires !== undefined) signatureParams += `;expires=${expires}`;
      if (nonce !== undefined) signatureParams += `;nonce=${sfQuoted(nonce)}`;
      signatureParams += `;keyid=${sfQuoted(keyId)}`;
      if (alg !== undefined) signatureParams += `;alg="${alg}"`;
      if (tag !== undefined) signatureParams += `;tag=${sfQuoted(tag)}`;
      const text = signatureParams;
      base = withComponentErrors(
        () => plainSignatureBase(context, covered.plainNames!, text),
        (reason) => new TypeError(`cannot sign: ${reason}`),
      );
    } else {
      const params: Parameters = new Map<string, BareItem>([['created', created]]);
      if (expires !== undefined) params.set('expires', expires);
      if (nonce !== undefined) params.set('nonce', nonce);
      params.set('keyid', keyId);
      if (alg !== undefined) params.set('alg', alg);
      if (tag !== undefined) params.set('tag', tag);
      const innerList: InnerList = { items: covered.items as Item[], params };
      base = withComponentErrors(
        () => {
          const text = buildSignatureBase(context, innerList);
          latin1Bytes(text);
          return text;
        },
        (reason) => new TypeError(`cannot sign: ${reason}`),
      );
      signatureParams = serializeMember(innerList);
    }
    const signature = await macOfBase(provider, algorithm, secret, base);
    const headers: Record<string, string> = {};
    if (digest !== undefined) headers['Content-Digest'] = digest;
    headers['Signature-Input'] = `${signLabel}=${signatureParams}`;
    headers['Signature'] = `${signLabel}=:${toBase64(signature)}:`;
    return { headers };
  }

  return sign;
}
