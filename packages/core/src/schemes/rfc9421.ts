/**
 * hmac-kit's default scheme: an RFC 9421 (HTTP Message Signatures) profile with
 * HMAC over shared secrets and an RFC 9530 Content-Digest binding the body.
 * docs/protocol.md specifies it normatively.
 */

import {
  AlgorithmUnsupported,
  ComponentNotCovered,
  DigestMissing,
  NonceMissing,
  SignatureMalformed,
  SignatureMissing,
  TagNotAccepted,
} from '../errors.js';
import { setDefaultSchemeFactory } from '../pipeline/config.js';
import type { Credentials, ResolvedKey, Scheme, SchemeVerdict, VerifyContext } from '../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../pipeline/contract.js';
import { macMatches, macsStrings } from '../pipeline/keys.js';
import { checkTimeWindow, unixNow } from '../pipeline/policy.js';
import { textSection } from '../pipeline/signature-base.js';
import { webCryptoProvider } from '../primitives/crypto.js';
import { fromStandardBase64, toBase64 } from '../primitives/encoding.js';
import { hmacSha256OfAscii } from '../primitives/hmac-sha256.js';
import { isPromiseLike } from '../primitives/promise.js';
import { randomToken } from '../primitives/random-pool.js';
import {
  buildSignatureBase,
  type ComponentContext,
  ComponentError,
  componentIdentifier,
  componentLabel,
  contextOf,
  isLatin1,
  latin1Bytes,
  parseComponentSpec,
  plainSignatureBase,
} from '../protocol/components.js';
import { contentDigestCheck, contentDigestHeader, isContentDigestAlgorithm } from '../protocol/content-digest.js';
import { canonicalHeader, getHeader } from '../protocol/headers.js';
import { BODY_METHODS } from '../protocol/message-body.js';
import {
  type BareItem,
  type InnerList,
  type Item,
  isInnerList,
  type Parameters,
  parseDictionary,
  serializeMember,
} from '../protocol/structured-fields.js';
import { secretBytesOf } from '../secret.js';
import type { CryptoProvider, HashAlgorithm, MessageParts, SigningKey } from '../types.js';

/** `alg` values of this profile. `hmac-sha256` is registered by RFC 9421; the other two are hmac-kit extensions. */
export type Rfc9421Algorithm = 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

const ALG_FOR_HASH: Readonly<Record<HashAlgorithm, Rfc9421Algorithm>> = {
  sha256: 'hmac-sha256',
  sha384: 'hmac-sha384',
  sha512: 'hmac-sha512',
};
const HASH_FOR_ALG: Readonly<Record<string, HashAlgorithm>> = {
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

/** Components the signer always covers (plus `content-digest` when there is a body). */
export const RFC9421_DEFAULT_COMPONENTS: readonly string[] = Object.freeze([
  '@method',
  '@authority',
  '@path',
  '@query',
]);
const NONCE_BYTES = 16;
// Policies name the same few components on every request: parse each name once.
const requiredComponentCache = new Map<string, { item: Item; identifier: string }>();
const REQUIRED_COMPONENT_CACHE_LIMIT = 1000;

function requiredComponent(spec: string): { item: Item; identifier: string } {
  let parsed = requiredComponentCache.get(spec);
  if (parsed === undefined) {
    const item = withComponentErrors(
      () => parseComponentSpec(spec),
      (reason) => new TypeError(`policy.requiredComponents: ${reason}`),
    );
    parsed = { item, identifier: componentIdentifier(item) };
    if (requiredComponentCache.size < REQUIRED_COMPONENT_CACHE_LIMIT) requiredComponentCache.set(spec, parsed);
  }
  return parsed;
}
const LABEL = /^[a-z*][a-z0-9_\-.*]*$/;

export interface Rfc9421Options {
  /**
   * Signature label. The signer writes it (default `sig`); when given explicitly the
   * verifier only considers signatures with this label, otherwise any label.
   */
  label?: string;
  /** Content-Digest algorithm the signer uses. Default `sha-256`; the verifier accepts both. */
  digestAlgorithm?: 'sha-256' | 'sha-512';
}

/** Options of {@link Scheme.sign} for this scheme (all optional). */
export interface Rfc9421SignOptions {
  crypto?: CryptoProvider;
  now?: () => number;
  /** Header fields to cover in addition to the defaults, e.g. `['content-type']`. */
  coveredHeaders?: readonly string[];
  /**
   * Replaces the covered component list entirely (advanced: the verifier's policy
   * must accept it). Names as in {@link Rfc9421SignOptions.coveredHeaders} or
   * RFC 8941 strings such as `"@query-param";name="id"`.
   */
  components?: readonly string[];
  /** A nonce to use, or `false` for none. Default: 16 random bytes, base64url. */
  nonce?: string | false;
  /** Adds `expires = created + expiresInSeconds`. */
  expiresInSeconds?: number;
  /** Application tag (`tag` parameter). */
  tag?: string;
  /** Whether to write the `alg` parameter. Default true. */
  includeAlg?: boolean;
  /** Overrides the scheme's label for this signature. */
  label?: string;
}

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

interface SelectedSignature {
  label: string;
  signature: Uint8Array;
  params: SignatureParams;
  /**
   * The covered components' identifiers (`"@method"`), in order; undefined for the common shape,
   * whose identifiers are its labels in quotes.
   */
  identifiers: string[] | undefined;
  /** The covered components' labels (`@method`), in order. */
  labels: readonly string[];
  /** What the general parser read: the base is built from it. */
  input: InnerList | undefined;
  /**
   * The `@signature-params` value when the input was read by the common-shape parser (and `input`
   * is undefined): that parser only accepts text that re-serialises to itself, so the base uses it
   * as written.
   */
  signatureParams: string | undefined;
}

function selectSignature(message: MessageParts, label: string | undefined): SelectedSignature {
  const inputHeader = getHeader(message.headers, 'signature-input');
  const signatureHeader = getHeader(message.headers, 'signature');
  if (inputHeader === undefined || signatureHeader === undefined) {
    throw new SignatureMissing('no Signature-Input and Signature headers');
  }
  return (
    parseCommonSelection(inputHeader, signatureHeader, label) ?? parseSelection(inputHeader, signatureHeader, label)
  );
}

// The shape hmac-kit's signers and most RFC 9421 libraries write: one member, an inner list of
// plain component names separated by single spaces, parameters with canonical integers and
// escape-free strings, and one byte sequence in Signature. Text of this shape parses to the same
// values as the general RFC 8941 parser and re-serialises to itself, so it is read in one scan and
// the @signature-params line is the header's own text. Anything else (several members, component
// parameters, escapes, tokens, booleans, extra spaces, repeated names, a known parameter of the
// wrong type) returns undefined and takes the general parser, which also words the errors.
const COMMON_SIGNATURE = /^([a-z*][a-z0-9_.*-]*)=:([A-Za-z0-9+/]*={0,2}):$/;

// sf-key characters after the first: lcalpha, DIGIT, "_", "-", ".", "*".
function isKeyChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d || c === 0x2e || c === 0x2a;
}

// Component name characters accepted here after the first: lowercase letters, digits, "_", "-", ".".
function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d || c === 0x2e;
}

const CREATED = 1;
const EXPIRES = 2;
const NONCE = 3;
const KEYID = 4;
const ALG = 5;
const TAG = 6;

// Which signature parameter the key at text[start, start + length) names (0 for others), read in
// place: slicing every key was a string allocation per parameter.
function knownParam(text: string, start: number, length: number): number {
  if (length === 7)
    return text.startsWith('created', start) ? CREATED : text.startsWith('expires', start) ? EXPIRES : 0;
  if (length === 5) return text.startsWith('nonce', start) ? NONCE : text.startsWith('keyid', start) ? KEYID : 0;
  if (length === 3) return text.startsWith('alg', start) ? ALG : text.startsWith('tag', start) ? TAG : 0;
  return 0;
}

function parseCommonSelection(
  inputHeader: string,
  signatureHeader: string,
  label: string | undefined,
): SelectedSignature | undefined {
  const text = inputHeader;
  const length = text.length;
  let c = text.charCodeAt(0);
  if (!((c >= 0x61 && c <= 0x7a) || c === 0x2a)) return undefined;
  let i = 1;
  while (i < length && isKeyChar(text.charCodeAt(i))) i++;
  const name = text.slice(0, i);
  if (label !== undefined && name !== label) return undefined;
  if (text.charCodeAt(i) !== 0x3d /* = */ || text.charCodeAt(i + 1) !== 0x28 /* ( */) return undefined;
  i += 2;

  const labels: string[] = [];
  if (text.charCodeAt(i) !== 0x29 /* ) */) {
    for (;;) {
      if (text.charCodeAt(i) !== 0x22 /* " */) return undefined;
      const start = ++i;
      c = text.charCodeAt(i);
      if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x40) /* @ */) return undefined;
      i++;
      while (i < length && isNameChar(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) !== 0x22) return undefined;
      const component = text.slice(start, i);
      if (labels.includes(component)) return undefined;
      labels.push(component);
      c = text.charCodeAt(++i);
      if (c === 0x29) break;
      if (c !== 0x20 || text.charCodeAt(i + 1) === 0x29) return undefined;
      i++;
    }
  }
  i++;

  let created: number | undefined;
  let expires: number | undefined;
  let nonce: string | undefined;
  let keyId: string | undefined;
  let alg: string | undefined;
  let tag: string | undefined;
  let others: string[] | undefined;
  while (i < length) {
    if (text.charCodeAt(i) !== 0x3b /* ; */) return undefined;
    const keyStart = ++i;
    c = text.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || c === 0x2a)) return undefined;
    i++;
    while (i < length && isKeyChar(text.charCodeAt(i))) i++;
    const param = knownParam(text, keyStart, i - keyStart);
    if (text.charCodeAt(i) !== 0x3d /* = */) return undefined;
    c = text.charCodeAt(++i);
    let integer: number | undefined;
    let string: string | undefined;
    if (c === 0x22) {
      const start = ++i;
      for (;;) {
        if (i >= length) return undefined;
        c = text.charCodeAt(i);
        if (c === 0x22) break;
        if (c < 0x20 || c > 0x7e || c === 0x5c /* \ */) return undefined;
        i++;
      }
      string = text.slice(start, i);
      i++;
    } else {
      const start = i;
      if (c === 0x2d /* - */) c = text.charCodeAt(++i);
      if (c === 0x30 /* 0 */) {
        if (i !== start) return undefined; // -0 serialises as 0
        i++;
      } else {
        if (!(c >= 0x31 && c <= 0x39)) return undefined;
        const digitsStart = i;
        while (i < length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
        if (i - digitsStart > 15) return undefined;
      }
      // 1.5, 10e3, tokens after digits: not an integer of this shape.
      if (i < length && text.charCodeAt(i) !== 0x3b) return undefined;
      integer = Number(text.slice(start, i));
    }
    // A repeated parameter keeps its first position with the last value: not its own text, so
    // repeats go to the general parser (known ones are told apart by their values being set).
    switch (param) {
      case CREATED:
        if (integer === undefined || created !== undefined) return undefined;
        created = integer;
        break;
      case EXPIRES:
        if (integer === undefined || expires !== undefined) return undefined;
        expires = integer;
        break;
      case NONCE:
        if (string === undefined || nonce !== undefined) return undefined;
        nonce = string;
        break;
      case KEYID:
        if (string === undefined || keyId !== undefined) return undefined;
        keyId = string;
        break;
      case ALG:
        if (string === undefined || alg !== undefined) return undefined;
        alg = string;
        break;
      case TAG:
        if (string === undefined || tag !== undefined) return undefined;
        tag = string;
        break;
      default: {
        const key = text.slice(keyStart, text.indexOf('=', keyStart));
        others ??= [];
        if (others.includes(key)) return undefined;
        others.push(key);
      }
    }
  }
  // Not ours (another party's signature) or missing parameters: the general path decides.
  if ((alg !== undefined && !alg.startsWith('hmac-')) || keyId === undefined || created === undefined) {
    return undefined;
  }

  const signatureMatch = COMMON_SIGNATURE.exec(signatureHeader);
  if (signatureMatch === null || signatureMatch[1] !== name) return undefined;
  const signature = fromStandardBase64(signatureMatch[2]!);
  if (signature === undefined) return undefined;
  return {
    label: name,
    signature,
    params: { keyId, created, expires, nonce, alg, tag },
    identifiers: undefined,
    labels,
    input: undefined,
    signatureParams: text.slice(name.length + 1),
  };
}

function parseSelection(inputHeader: string, signatureHeader: string, label: string | undefined): SelectedSignature {
  const inputs = parseDictionary(inputHeader, 'Signature-Input');
  const signatures = parseDictionary(signatureHeader, 'Signature');
  let labelled = false;
  for (const [candidate, input] of inputs) {
    if (label !== undefined && candidate !== label) continue;
    labelled = true;
    if (!isInnerList(input)) throw new SignatureMalformed(`Signature-Input "${candidate}" is not an inner list`);
    const alg = input.params.get('alg');
    // Signatures by other parties (asymmetric algorithms, no key id) are not ours to verify.
    if (alg !== undefined && !(typeof alg === 'string' && alg.startsWith('hmac-'))) continue;
    if (typeof input.params.get('keyid') !== 'string') continue;
    const signature = signatures.get(candidate);
    if (!signature || isInnerList(signature) || !(signature.value instanceof Uint8Array)) {
      throw new SignatureMalformed(`Signature has no byte sequence labelled "${candidate}"`);
    }
    const params = readParams(input.params);
    const identifiers: string[] = [];
    const labels: string[] = [];
    for (const item of input.items) {
      if (isInnerList(item) || typeof item.value !== 'string') {
        throw new SignatureMalformed('covered components must be strings');
      }
      identifiers.push(componentIdentifier(item));
      labels.push(componentLabel(item));
    }
    return {
      label: candidate,
      signature: signature.value,
      params,
      identifiers,
      labels,
      input,
      signatureParams: undefined,
    };
  }
  if (!labelled) throw new SignatureMissing(`no signature labelled "${label}"`);
  throw new SignatureMalformed('no signature with an hmac algorithm and a keyid');
}

/** Whether the signature covers the component with this identifier (`"@method"`). */
function covers(selected: Pick<SelectedSignature, 'identifiers' | 'labels'>, identifier: string): boolean {
  if (selected.identifiers !== undefined) return selected.identifiers.includes(identifier);
  // The common shape: plain names whose identifiers are the names in quotes.
  const labels = selected.labels;
  const last = identifier.length - 1;
  if (identifier.charCodeAt(0) !== 0x22 || identifier.charCodeAt(last) !== 0x22) return false;
  for (let index = 0; index < labels.length; index++) {
    const label = labels[index]!;
    if (label.length === last - 1 && identifier.startsWith(label, 1)) return true;
  }
  return false;
}

interface SignatureParams {
  keyId: string;
  created: number;
  expires: number | undefined;
  nonce: string | undefined;
  alg: string | undefined;
  tag: string | undefined;
}

function integerParam(params: Parameters, name: string): number | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new SignatureMalformed(`"${name}" must be an integer`);
  return value;
}

function stringParam(params: Parameters, name: string): string | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new SignatureMalformed(`"${name}" must be a string`);
  return value;
}

// Module-level readers rather than closures made on every call.
function readParams(params: Parameters): SignatureParams {
  const created = integerParam(params, 'created');
  if (created === undefined) throw new SignatureMalformed('"created" is required');
  return {
    keyId: stringParam(params, 'keyid')!,
    created,
    expires: integerParam(params, 'expires'),
    nonce: stringParam(params, 'nonce'),
    alg: stringParam(params, 'alg'),
    tag: stringParam(params, 'tag'),
  };
}

function withComponentErrors<T>(run: () => T, wrap: (message: string) => Error): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof ComponentError) throw wrap(error.message);
    throw error;
  }
}

/**
 * Builds the RFC 9421 signature base of `message` for one `Signature-Input` member,
 * exactly as the verifier does (useful for debugging and cross-language tests).
 * Throws `SignatureMalformed` when the input cannot be parsed or a component is missing.
 *
 * @example
 * ```ts
 * const base = signatureBase(
 *   { method: 'GET', url: 'https://api.example.com/v1/items?x=1', headers: request.headers },
 *   request.headers.get('signature-input')!,
 * );
 * ```
 */
export function signatureBase(message: MessageParts, signatureInput: string, label?: string): string {
  const inputs = parseDictionary(signatureInput, 'Signature-Input');
  const member = label === undefined ? inputs.values().next().value : inputs.get(label);
  if (!member || !isInnerList(member)) throw new SignatureMalformed('no such Signature-Input member');
  return withComponentErrors(
    () => buildSignatureBase(contextOf(message), member),
    (reason) => new SignatureMalformed(reason),
  );
}

/**
 * The RFC 9421 profile (hmac-kit's default scheme).
 *
 * @example
 * ```ts
 * const scheme = rfc9421({ digestAlgorithm: 'sha-512' });
 * const verified = await verifyRequest(request, { keys, schemes: [scheme] });
 * ```
 */
export function rfc9421(options: Rfc9421Options = {}): Scheme<Rfc9421Credentials> {
  if (options === null || typeof options !== 'object') throw new TypeError('rfc9421 options must be an object');
  const { label, digestAlgorithm = 'sha-256' } = options;
  if (label !== undefined && (typeof label !== 'string' || !LABEL.test(label))) {
    throw new TypeError('label must be a structured-field key (lowercase letters, digits, _ - . *)');
  }
  if (!isContentDigestAlgorithm(digestAlgorithm)) throw new TypeError('digestAlgorithm must be sha-256 or sha-512');

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

  function parse(message: MessageParts): Rfc9421Credentials {
    const selected = selectSignature(message, label);
    const params = selected.params;
    const algorithm = params.alg === undefined ? undefined : HASH_FOR_ALG[params.alg];
    if (params.alg !== undefined && algorithm === undefined) {
      throw new AlgorithmUnsupported(`algorithm ${params.alg} is not supported`);
    }
    return {
      keyId: params.keyId,
      algorithm,
      created: params.created,
      expires: params.expires,
      nonce: params.nonce,
      tag: params.tag,
      coveredComponents: selected.labels,
      selected,
    };
  }

  function verify(
    credentials: Rfc9421Credentials,
    key: ResolvedKey,
    context: VerifyContext,
  ): SchemeVerdict | Promise<SchemeVerdict> {
    const { crypto, message } = context;
    const selected = credentials.selected;
    let base: Uint8Array | string;
    try {
      const components = contextOf(message);
      if (selected.input === undefined) {
        // Every character is at most U+00FF already (plainSignatureBase checks the field values).
        const text = plainSignatureBase(components, selected.labels, selected.signatureParams!);
        base = macsStrings(crypto) ? text : latin1Bytes(text);
      } else {
        const text = buildSignatureBase(components, selected.input, selected.identifiers);
        // A provider that MACs strings takes the base as it is; latin1Bytes() words the error otherwise.
        base = macsStrings(crypto) && isLatin1(text) ? text : latin1Bytes(text);
      }
    } catch (error) {
      if (error instanceof ComponentError) throw new SignatureMalformed(error.message);
      throw error;
    }
    const matches = macMatches(crypto, key, base, selected.signature);
    if (isPromiseLike(matches)) return Promise.resolve(matches).then((ok) => verdictOf(ok, selected, context));
    return verdictOf(matches, selected, context);
  }

  function checkPolicy(credentials: Rfc9421Credentials, context: VerifyContext): void {
    const policy = context.policy;
    if (policy.tags !== undefined && (credentials.tag === undefined || !policy.tags.includes(credentials.tag))) {
      throw new TagNotAccepted('tag is not accepted');
    }
    for (const required of policy.requiredComponents) {
      const { item, identifier } = requiredComponent(required);
      if (covers(credentials.selected, identifier)) continue;
      if (item.value === 'content-digest') throw new DigestMissing('the body is not covered by a Content-Digest');
      throw new ComponentNotCovered(`${componentLabel(item)} is not covered by the signature`);
    }
    if (policy.requireNonce && credentials.nonce === undefined) throw new NonceMissing('a nonce is required');
    checkTimeWindow(credentials, policy, context.now);
  }

  /** The signature base `verify` MACs (debug diagnostics): request-derived, no key. */
  function debugBase(credentials: Rfc9421Credentials, context: { message: MessageParts }) {
    const selected = credentials.selected;
    const components = contextOf(context.message);
    const text =
      selected.input === undefined
        ? plainSignatureBase(components, selected.labels, selected.signatureParams!)
        : buildSignatureBase(components, selected.input, selected.identifiers);
    return [textSection('signature base', text)];
  }

  return Object.freeze({
    name: 'rfc9421',
    detect(message: MessageParts): boolean {
      return (
        getHeader(message.headers ?? {}, 'signature-input') !== undefined &&
        getHeader(message.headers ?? {}, 'signature') !== undefined
      );
    },
    parse,
    verify,
    checkPolicy,
    signatureBase: debugBase,
    sign,
  });
}

/** What {@link rfc9421}'s parse reads: the selected signature and its parameters. */
interface Rfc9421Credentials extends Credentials {
  readonly selected: SelectedSignature;
}

function verdictOf(matches: boolean, selected: SelectedSignature, context: VerifyContext): SchemeVerdict {
  if (!matches) return MAC_MISMATCHED;
  if (!covers(selected, '"content-digest"')) return MAC_MATCHED;
  // The digest header is read only for a proven signature.
  const header = canonicalHeader(context.message.headers, 'content-digest') ?? '';
  return { signatureMatches: true, body: contentDigestCheck(context.crypto, header) };
}

setDefaultSchemeFactory(() => rfc9421());
