/**
 * AWS Signature Version 4 (header and presigned-URL forms), so `curl --aws-sigv4`,
 * the AWS SDK signers and `aws4` can call an hmac-kit API unchanged. Also the
 * branded variant curl produces for another provider (`--aws-sigv4 hmackit:hmackit:...`).
 * Normative description: docs/protocol-sigv4.md.
 */

import {
  ComponentNotCovered,
  DigestMismatch,
  DigestMissing,
  SignatureInvalid,
  SignatureMalformed,
  SignatureMissing,
} from '../errors.js';
import type { Credentials, ResolvedKey, SchemeVerdict, VerifyContext } from '../pipeline/contract.js';
import { MAC_MATCHED, MAC_MISMATCHED } from '../pipeline/contract.js';
import { isDecoyKey, isPromise as isThenable } from '../pipeline/keys.js';
import { checkTimeWindow } from '../pipeline/policy.js';
import { textSection } from '../pipeline/signature-base.js';
import { constantTimeEqualText, fromHex, toHex, utf8 } from '../primitives/encoding.js';
import {
  type HmacSha256Pads,
  hmacSha256HexOfText,
  hmacSha256Pads,
  sha256HexOfText,
} from '../primitives/hmac-sha256.js';
import type {
  BodyCheck,
  CryptoProvider,
  IncrementalHash,
  MessageParts,
  Scheme,
  SigningKey,
  VerificationKey,
} from '../types.js';
import {
  bodyBytes,
  checkCreated,
  checkRequiredComponents,
  cryptoOf,
  headerField,
  headerValue,
  headerValues,
  nowOf,
  printableSecret,
  type RawUrl,
  splitUrl,
} from './compat-support.js';
import {
  normalizeSigV4Path,
  sha256Hex,
  sigv4CanonicalHeaderLine,
  sigv4CanonicalHeaderLines,
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4IsPlainCanonical,
  sigv4SigningKey,
  sigv4StringToSign,
} from './sigv4-canonical.js';

/** Longest presigned-URL lifetime AWS allows (7 days), and our ceiling. */
export const SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS = 604_800;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SERVICES_WITHOUT_PATH_ENCODING = new Set(['s3', 's3-express', 's3-outposts']);

/**
 * One provider's spelling of SigV4, derived from curl's `provider0:provider1`:
 * `aws:amz` gives `AWS4-HMAC-SHA256`, key prefix `AWS4`, terminator `aws4_request`,
 * headers `X-Amz-Date` / `x-amz-content-sha256`, query `X-Amz-*`.
 */
export interface SigV4Provider {
  /** `provider0:provider1` as given to curl, e.g. `aws:amz`. */
  readonly spec: string;
  readonly algorithm: string;
  readonly keyPrefix: string;
  readonly terminator: string;
  /** Lower-case header name prefix, e.g. `x-amz-`. */
  readonly headerPrefix: string;
  /** Query parameter prefix, e.g. `X-Amz-`. */
  readonly queryPrefix: string;
}

/**
 * Parses curl's `provider0[:provider1]` syntax into the names SigV4 uses.
 *
 * @example
 * ```ts
 * sigv4Provider('hmackit').algorithm; // 'HMACKIT4-HMAC-SHA256'
 * sigv4Provider('aws:amz').headerPrefix; // 'x-amz-'
 * ```
 */
export function sigv4Provider(spec: string): SigV4Provider {
  const match = /^([A-Za-z0-9]{1,64})(?::([A-Za-z0-9]{1,64}))?$/.exec(spec);
  if (!match) throw new TypeError(`invalid SigV4 provider ${JSON.stringify(spec)} (expected e.g. "aws:amz")`);
  const provider0 = match[1]!;
  const provider1 = (match[2] ?? provider0).toLowerCase();
  const mid = provider1[0]!.toUpperCase() + provider1.slice(1);
  return Object.freeze({
    spec: `${provider0.toLowerCase()}:${provider1}`,
    algorithm: `${provider0.toUpperCase()}4-HMAC-SHA256`,
    keyPrefix: `${provider0.toUpperCase()}4`,
    terminator: `${provider0.toLowerCase()}4_request`,
    headerPrefix: `x-${provider1}-`,
    queryPrefix: `X-${mid}-`,
  });
}

/** Options of {@link sigv4}. */
export interface SigV4Options {
  /** Accepted providers in curl's syntax; the first one signs. Default `['aws:amz', 'hmackit:hmackit']`. */
  providers?: readonly string[];
  /** Accepted regions; `'any'` (default) accepts every region. The signer uses the first listed, else `us-east-1`. */
  regions?: readonly string[] | 'any';
  /** Accepted service names; the first one signs. Default `['hmac-kit']`. */
  services?: readonly string[];
  /** Accept `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body is then not authenticated). Default false. */
  allowUnsignedPayload?: boolean;
  /** Accept presigned URLs. Default true. */
  allowPresigned?: boolean;
  /** Largest accepted `X-Amz-Expires`. Default and maximum 604800 (7 days). */
  maxPresignedExpiresSeconds?: number;
  /**
   * Also accept the path and query exactly as sent, as curl before 8.0 signs them
   * (curl issue 9717). Tried only after the canonical forms failed. Default true.
   */
  acceptUnsortedQuery?: boolean;
  /**
   * The secret string SigV4 keys its HMAC chain with. Default: the printable
   * `hks_...` form of the key's raw secret (what `--user KEYID:SECRET` passes).
   * Must depend only on `key.secret`: derived signing keys are cached per secret.
   */
  secretOf?: (key: VerificationKey) => string;
}

/** Sign-time options of the SigV4 scheme. */
export interface SigV4SignOptions {
  crypto?: CryptoProvider;
  now?: () => number;
  region?: string;
  service?: string;
  /** Provider spec (`aws:amz`, `hmackit`); default the scheme's first. */
  provider?: string;
  /** Produce a presigned URL valid this many seconds instead of an Authorization header. */
  presignExpiresInSeconds?: number;
  /** Extra request headers to sign (`host`, the date and `content-type` are always signed when present). */
  signedHeaders?: readonly string[];
  /** Send `UNSIGNED-PAYLOAD` instead of the body hash. */
  unsignedPayload?: boolean;
}

interface ParsedSigV4 {
  provider: SigV4Provider;
  /** The provider's date and content-sha256 header names. */
  names: ProviderHeaderNames;
  presigned: boolean;
  keyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: readonly string[];
  /** Credential scope: `date/region/service/terminator`. */
  scope: string;
  /** The signed header names as they appear in the canonical request (`;`-joined). */
  signedHeadersText: string;
  signature: string;
  amzDate: string;
  created: number;
  expiresIn?: number;
}

function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  return ms / 1000;
}

function formatAmzDate(seconds: number): string {
  return new Date(seconds * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const SIGNATURE_HEX = /^[0-9a-f]{64}$/;
// `Credential=..., SignedHeaders=..., Signature=...` in this order, `, ` or `,` between them, no
// whitespace or comma inside a value: split on `,` and trimmed, it gives the same three fields.
const USUAL_AUTHORIZATION = /^Credential=([^\s,]+), ?SignedHeaders=([^\s,]+), ?Signature=([^\s,]+)$/;

// Clients send the same SignedHeaders over and over: the last valid list is kept and shared
// (read-only: nothing mutates a parsed list; `coveredComponents` is a copy).
let lastSignedHeadersText: string | undefined;
let lastSignedHeaders: readonly string[] = [];

function parseSignedHeaders(value: string): readonly string[] {
  if (value === lastSignedHeadersText) return lastSignedHeaders;
  const names = value.split(';');
  for (let i = 0; i < names.length; i++) {
    if (!HEADER_NAME.test(names[i]!)) throw new SignatureMalformed('SignedHeaders contains an invalid name');
    if (i > 0 && names[i - 1]! >= names[i]!) throw new SignatureMalformed('SignedHeaders must be sorted and unique');
  }
  lastSignedHeaders = names;
  lastSignedHeadersText = value;
  return lastSignedHeaders;
}

/** Splits a Credential into key id and scope (the last four `/`-separated parts). Internal; exported for tests. */
export function parseCredential(value: string, provider: SigV4Provider) {
  // The last four `/`-separated parts are the scope; everything before them is the key id.
  const t = value.lastIndexOf('/');
  const s = t > 0 ? value.lastIndexOf('/', t - 1) : -1;
  const r = s > 0 ? value.lastIndexOf('/', s - 1) : -1;
  const d = r > 0 ? value.lastIndexOf('/', r - 1) : -1;
  if (d < 0) throw new SignatureMalformed('Credential must be KEYID/date/region/service/terminator');
  const keyId = value.slice(0, d);
  const date = value.slice(d + 1, r);
  const region = value.slice(r + 1, s);
  const service = value.slice(s + 1, t);
  if (!keyId || !/^\d{8}$/.test(date) || !region || !service) throw new SignatureMalformed('Credential is malformed');
  if (value.slice(t + 1) !== provider.terminator) {
    throw new SignatureMalformed('Credential scope terminator does not match');
  }
  return { keyId, date, region, service };
}

/** The three fields of a SigV4 Authorization header (after `ALGORITHM `). Internal; exported for tests. */
export interface SigV4AuthorizationFields {
  credential: string;
  signedHeaders: string;
  signature: string;
}

/**
 * Splits the Authorization fields the general way: on `,`, each trimmed, name before the first
 * `=`; exactly `Credential`, `SignedHeaders` and `Signature`, each once and non-empty.
 * Internal; exported so tests can hold {@link sigv4AuthorizationFields} to it.
 */
export function sigv4AuthorizationFieldsGeneral(rest: string): SigV4AuthorizationFields {
  const fields = new Map<string, string>();
  for (const field of rest.split(',')) {
    const trimmed = field.trim();
    const equals = trimmed.indexOf('=');
    if (equals <= 0) throw new SignatureMalformed('Authorization parameter without a value');
    const name = trimmed.slice(0, equals);
    if (fields.has(name)) throw new SignatureMalformed(`duplicate ${name}`);
    fields.set(name, trimmed.slice(equals + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (fields.size !== 3 || !credential || !signedHeaders || !signature) {
    throw new SignatureMalformed('Authorization must carry exactly Credential, SignedHeaders and Signature');
  }
  return { credential, signedHeaders, signature };
}

/**
 * {@link sigv4AuthorizationFieldsGeneral} with one regular expression for the layout every signer
 * writes (`Credential=..., SignedHeaders=..., Signature=...`); anything else goes the general way.
 * Internal; exported for tests.
 */
export function sigv4AuthorizationFields(rest: string): SigV4AuthorizationFields {
  const usual = USUAL_AUTHORIZATION.exec(rest);
  if (usual) return { credential: usual[1]!, signedHeaders: usual[2]!, signature: usual[3]! };
  return sigv4AuthorizationFieldsGeneral(rest);
}

function queryParams(query: string | null): Map<string, string[]> {
  const params = new Map<string, string[]>();
  for (const part of (query ?? '').split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const name = equals < 0 ? part : part.slice(0, equals);
    let value = equals < 0 ? '' : part.slice(equals + 1);
    try {
      value = decodeURIComponent(value.replace(/\+/g, '%20'));
    } catch {
      throw new SignatureMalformed('query parameter is not valid percent-encoding');
    }
    const list = params.get(name) ?? [];
    list.push(value);
    params.set(name, list);
  }
  return params;
}

function single(params: Map<string, string[]>, name: string): string {
  const values = params.get(name);
  if (values?.length !== 1) throw new SignatureMalformed(`${name} must appear exactly once`);
  return values[0]!;
}

/**
 * AWS Signature Version 4. Key id = access key id; accepted in `Authorization`
 * headers and presigned URLs; default service `hmac-kit`, any region, so that
 * `curl --aws-sigv4 "aws:amz:us-east-1:hmac-kit" --user KEYID:hks_...` works.
 *
 * @example
 * ```ts
 * const verified = await verifyRequest(request, { keys, schemes: [rfc9421(), sigv4({ regions: ['eu-west-1'] })] });
 * ```
 */
export function sigv4(options: SigV4Options = {}): Scheme<SigV4Credentials> {
  if (options === null || typeof options !== 'object') throw new TypeError('sigv4: options must be an object');
  const providers = (options.providers ?? ['aws:amz', 'hmackit:hmackit']).map(sigv4Provider);
  if (providers.length === 0) throw new TypeError('sigv4: providers must not be empty');
  const regions = options.regions ?? 'any';
  if (regions !== 'any' && (!Array.isArray(regions) || regions.length === 0 || regions.some((r) => !r))) {
    throw new TypeError("sigv4: regions must be 'any' or a non-empty list");
  }
  const services = options.services ?? ['hmac-kit'];
  if (!Array.isArray(services) || services.length === 0 || services.some((s) => typeof s !== 'string' || !s)) {
    throw new TypeError('sigv4: services must be a non-empty list of names');
  }
  const maxPresigned = options.maxPresignedExpiresSeconds ?? SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS;
  if (!Number.isInteger(maxPresigned) || maxPresigned < 1 || maxPresigned > SIGV4_MAX_PRESIGNED_EXPIRES_SECONDS) {
    throw new TypeError('sigv4: maxPresignedExpiresSeconds must be an integer in 1..604800');
  }
  const allowUnsignedPayload = options.allowUnsignedPayload ?? false;
  const allowPresigned = options.allowPresigned ?? true;
  const acceptUnsortedQuery = options.acceptUnsortedQuery ?? true;
  const secretOf = options.secretOf ?? ((key: VerificationKey) => printableSecret(key.secret));
  if (typeof secretOf !== 'function') throw new TypeError('sigv4: secretOf must be a function');

  // `ALGORITHM ` and the header names per provider, built once instead of per request.
  const headerPrefixes = providers.map((p) => `${p.algorithm} `);
  const namesOf = new Map<SigV4Provider, ProviderHeaderNames>(
    providers.map((p) => [p, { date: `${p.headerPrefix}date`, contentSha: `${p.headerPrefix}content-sha256` }]),
  );

  function providerOfAuthorization(authorization: string | undefined): SigV4Provider | undefined {
    if (!authorization) return undefined;
    for (let i = 0; i < providers.length; i++) {
      if (authorization.startsWith(headerPrefixes[i]!)) return providers[i];
    }
    return undefined;
  }

  function headerProvider(message: MessageParts): SigV4Provider | undefined {
    return providerOfAuthorization(headerValue(message.headers, 'authorization'));
  }

  function queryProvider(message: MessageParts): SigV4Provider | undefined {
    if (!allowPresigned) return undefined;
    let query: string | null;
    try {
      query = splitUrl(message.url).query;
    } catch {
      return undefined;
    }
    if (!query) return undefined;
    return providers.find((p) => query.includes(`${p.queryPrefix}Algorithm=${p.algorithm}`));
  }

  function parseSignature(message: MessageParts): ParsedSigV4 {
    const authorization = headerValue(message.headers, 'authorization');
    const fromHeader = providerOfAuthorization(authorization);
    if (fromHeader) return parseHeader(message, fromHeader, authorization!);
    const fromQuery = queryProvider(message);
    if (fromQuery) return parseQuery(message, fromQuery);
    throw new SignatureMissing('no SigV4 signature');
  }

  function parseHeader(message: MessageParts, provider: SigV4Provider, authorization: string): ParsedSigV4 {
    const names = namesOf.get(provider)!;
    const dateField = headerField(message.headers, names.date);
    const { credential, signedHeaders, signature } = sigv4AuthorizationFields(
      authorization.slice(provider.algorithm.length + 1),
    );
    if (!SIGNATURE_HEX.test(signature)) throw new SignatureMalformed('Signature must be 64 lower-case hex digits');
    const scope = parseCredential(credential, provider);
    if (typeof dateField !== 'string') throw new SignatureMalformed(`exactly one ${names.date} header required`);
    const amzDate = dateField.trim();
    const created = parseAmzDate(amzDate);
    if (created === undefined) throw new SignatureMalformed(`${provider.headerPrefix}date is not YYYYMMDDTHHMMSSZ`);
    if (amzDate.slice(0, 8) !== scope.date)
      throw new SignatureMalformed('credential date differs from the request date');
    const parsed: ParsedSigV4 = {
      provider,
      names,
      presigned: false,
      keyId: scope.keyId,
      date: scope.date,
      region: scope.region,
      service: scope.service,
      scope: `${scope.date}/${scope.region}/${scope.service}/${provider.terminator}`,
      signedHeaders: parseSignedHeaders(signedHeaders),
      signedHeadersText: signedHeaders,
      signature,
      amzDate,
      created,
    };
    return parsed;
  }

  function parseQuery(message: MessageParts, provider: SigV4Provider): ParsedSigV4 {
    const params = queryParams(splitUrl(message.url).query);
    const q = provider.queryPrefix;
    if (single(params, `${q}Algorithm`) !== provider.algorithm) throw new SignatureMalformed('unknown algorithm');
    const scope = parseCredential(single(params, `${q}Credential`), provider);
    const amzDate = single(params, `${q}Date`);
    const created = parseAmzDate(amzDate);
    if (created === undefined) throw new SignatureMalformed(`${q}Date is not YYYYMMDDTHHMMSSZ`);
    if (amzDate.slice(0, 8) !== scope.date)
      throw new SignatureMalformed('credential date differs from the request date');
    const expiresText = single(params, `${q}Expires`);
    if (!/^\d{1,7}$/.test(expiresText)) throw new SignatureMalformed(`${q}Expires must be a number of seconds`);
    const expiresIn = Number(expiresText);
    if (expiresIn < 1 || expiresIn > maxPresigned) throw new SignatureMalformed(`${q}Expires is out of range`);
    const signature = single(params, `${q}Signature`);
    if (!SIGNATURE_HEX.test(signature)) throw new SignatureMalformed('Signature must be 64 lower-case hex digits');
    const signedHeadersText = single(params, `${q}SignedHeaders`);
    return {
      provider,
      names: namesOf.get(provider)!,
      presigned: true,
      ...scope,
      scope: `${scope.date}/${scope.region}/${scope.service}/${provider.terminator}`,
      signedHeaders: parseSignedHeaders(signedHeadersText),
      signedHeadersText,
      signature,
      amzDate,
      created,
      expiresIn,
    };
  }

  // Deriving the signing key costs four HMACs and only changes per key, day, region and
  // service; cache it per secret array (key stores hand out one array per key), at most 16
  // scopes per secret (regions are the client's choice). A derived key is kept as bytes once
  // known, so later requests use it without a promise.
  const signingKeys = new WeakMap<Uint8Array, Map<string, DerivedKey | Promise<DerivedKey>>>();

  function cachedSigningKey(
    key: ResolvedKey,
    parsed: ParsedSigV4,
    crypto: CryptoProvider,
  ): DerivedKey | Promise<DerivedKey> {
    const secretBytes = key.secret;
    let perKey = signingKeys.get(secretBytes);
    if (!perKey) {
      perKey = new Map();
      signingKeys.set(secretBytes, perKey);
    }
    // The scope's terminator names the provider (and with it the key prefix): the scope alone is the key.
    const scope = parsed.scope;
    const cached = perKey.get(scope);
    if (cached !== undefined) return cached;
    if (perKey.size >= 16) perKey.clear();
    const derived = sigv4SigningKey(
      {
        // The decoy has no key record for secretOf(): its secret in the issued printable form.
        secret: isDecoyKey(key) ? printableSecret(secretBytes) : secretOf(key as VerificationKey),
        date: parsed.date,
        region: parsed.region,
        service: parsed.service,
        keyPrefix: parsed.provider.keyPrefix,
        terminator: parsed.provider.terminator,
      },
      crypto,
    ).then((bytes): DerivedKey => ({ bytes, pads: hmacSha256Pads(crypto, bytes) }));
    const keys = perKey;
    keys.set(scope, derived);
    derived.then(
      (entry) => {
        if (keys.get(scope) === derived) keys.set(scope, entry);
      },
      () => {
        if (keys.get(scope) === derived) keys.delete(scope);
      },
    );
    return derived;
  }

  /** The canonical request's header lines ({@link sigv4CanonicalHeaderLines}) read straight from the message. */
  function canonicalHeaderLines(message: MessageParts, names: readonly string[], authority: string): string {
    let out = '';
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const field = headerField(message.headers, name);
      if (field === undefined) {
        // Fetch `Request` objects carry no Host header: the URL's authority is what was addressed.
        out += sigv4CanonicalHeaderLines([[name, name === 'host' ? [authority] : []]]);
      } else if (typeof field === 'string') {
        out += sigv4CanonicalHeaderLine(name, field);
      } else {
        out += sigv4CanonicalHeaderLines([[name, field]]);
      }
    }
    return out;
  }

  /** The canonical forms clients produce for this request, most standard first, without duplicates. */
  function canonicalForms(url: RawUrl, parsed: ParsedSigV4): { uri: string; query: string }[] {
    const { path, query } = url;
    // Path and query already canonical (the usual request): every form below is this one.
    if (!parsed.presigned && sigv4IsPlainCanonical(path, query)) return [{ uri: path, query: query ?? '' }];
    const exclude = parsed.presigned ? `${parsed.provider.queryPrefix}Signature` : undefined;
    const encodePath = !SERVICES_WITHOUT_PATH_ENCODING.has(parsed.service);
    // AWS SDKs and the AWS suite: normalised, encoded path; sorted, re-encoded query.
    const sdk = {
      uri: sigv4CanonicalUri(path, { normalize: encodePath, encode: encodePath }),
      query: sigv4CanonicalQuery(query, { exclude }),
    };
    const forms = [sdk];
    // curl >= 8: the path is not normalised beyond curl's own URL parsing; `+` becomes %20. It can
    // only differ from the SDK form when normalising changes the path or the query holds a `+`:
    // otherwise it is not built at all (de-duplication would drop it anyway).
    const asSentPath = path === '' ? '/' : path;
    const pathNormalises = encodePath && normalizeSigV4Path(asSentPath) !== asSentPath;
    const queryHasPlus = query?.includes('+') === true;
    if (pathNormalises || queryHasPlus) {
      forms.push({
        uri: pathNormalises ? sigv4CanonicalUri(path, { normalize: false, encode: encodePath }) : sdk.uri,
        query: queryHasPlus ? sigv4CanonicalQuery(query, { exclude, plusAsSpace: true }) : sdk.query,
      });
    }
    // curl < 8 signs the path and query exactly as sent. Not for paths containing
    // %25: there the as-sent form of one path equals the twice-encoded form of
    // another, and a signature must not transfer between the two.
    if (acceptUnsortedQuery && !parsed.presigned && !/%25/i.test(path)) forms.push({ uri: path, query: query ?? '' });
    const seen = new Set<string>();
    return forms.filter((form) => {
      const id = `${form.uri}\n${form.query}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  /**
   * Whether the signature matches one canonical form and payload hash. Every combination is
   * computed even after a match, so timing does not reveal which one matched. Synchronous when
   * the provider's HMAC is.
   */
  function matches(
    crypto: CryptoProvider,
    signingKey: DerivedKey,
    message: MessageParts,
    parsed: ParsedSigV4,
    payloadHashes: readonly string[],
  ): boolean | Promise<boolean> {
    const url = splitUrl(message.url);
    const headerLines = canonicalHeaderLines(message, parsed.signedHeaders, url.authority);
    let expected: Uint8Array | undefined;
    const method = message.method.toUpperCase();
    // sigv4CanonicalRequest() and sigv4StringToSign() spelled out, with the parts shared by every
    // form computed once.
    const head = `${parsed.provider.algorithm}\n${parsed.amzDate}\n${parsed.scope}\n`;
    const tail = `\n${headerLines}\n${parsed.signedHeadersText}\n`;
    let matched = false;
    let pending: Promise<void>[] | undefined;
    for (const form of canonicalForms(url, parsed)) {
      for (const payloadHash of payloadHashes) {
        const canonicalRequest = `${method}\n${form.uri}\n${form.query}${tail}${payloadHash}`;
        const stringToSign = head + sha256HexOfText(crypto, canonicalRequest);
        // With a one-shot hash, HMAC from the cached key pads (no per-call HMAC set-up), compared
        // in hex with the signature as sent (both lower-case hex: SIGNATURE_HEX).
        if (crypto.hash !== undefined) {
          if (constantTimeEqualText(hmacSha256HexOfText(crypto, signingKey.pads, stringToSign), parsed.signature)) {
            matched = true;
          }
          continue;
        }
        expected ??= fromHex(parsed.signature)!;
        const actual = crypto.hmac('sha256', signingKey.bytes, utf8(stringToSign));
        if (isThenable(actual)) {
          pending ??= [];
          pending.push(
            Promise.resolve(actual).then((mac) => {
              if (crypto.timingSafeEqual(mac, expected!)) matched = true;
            }),
          );
        } else if (crypto.timingSafeEqual(actual, expected)) {
          matched = true;
        }
      }
    }
    if (pending === undefined) return matched;
    return Promise.all(pending).then(() => matched);
  }

  function parse(message: MessageParts, context: { hasBody: boolean }): SigV4Credentials {
    const parsed = parseSignature(message);
    // What the protocol itself requires to be signed (not a policy choice): refused before any key.
    if (!parsed.signedHeaders.includes('host')) throw new ComponentNotCovered('host must be signed');
    if (!parsed.presigned && !parsed.signedHeaders.includes(parsed.names.date)) {
      throw new ComponentNotCovered(`${parsed.names.date} must be signed`);
    }
    const hasBody = context.hasBody;
    // Which payload hash the canonical request carries, and whether the body still has to be hashed.
    const contentSha = headerField(message.headers, parsed.names.contentSha);
    if (typeof contentSha === 'object') throw new SignatureMalformed('repeated content-sha256 header');
    const declared = contentSha?.trim();
    let payloadHashes: string[] | undefined;
    let expectedBodyHash: string | undefined;
    if (declared !== undefined) {
      if (declared === UNSIGNED_PAYLOAD) {
        if (!allowUnsignedPayload) throw new DigestMissing('UNSIGNED-PAYLOAD is not accepted');
        payloadHashes = [UNSIGNED_PAYLOAD];
      } else if (SIGNATURE_HEX.test(declared)) {
        payloadHashes = [declared];
        if (hasBody) expectedBodyHash = declared;
        else if (declared !== EMPTY_SHA256) throw new DigestMismatch('payload hash does not match the empty body');
      } else {
        throw new SignatureMalformed('unsupported content-sha256 value');
      }
    } else if (!hasBody) {
      payloadHashes = [EMPTY_SHA256];
      // S3-style presigned URLs sign UNSIGNED-PAYLOAD without sending a header.
      if (parsed.presigned && allowUnsignedPayload) payloadHashes.push(UNSIGNED_PAYLOAD);
    }
    const bodyBound = payloadHashes === undefined || payloadHashes[0] !== UNSIGNED_PAYLOAD;
    const covered = ['@method', '@path', '@query', '@authority', ...parsed.signedHeaders];
    if (bodyBound) covered.push('content-digest');
    return {
      keyId: parsed.keyId,
      algorithm: 'sha256',
      created: parsed.created,
      expires: parsed.presigned ? parsed.created + parsed.expiresIn! : undefined,
      // SigV4 has no nonce: the signature itself is unique per request and serves as one.
      nonce: parsed.signature,
      coveredComponents: covered,
      parsed,
      payloadHashes,
      expectedBodyHash,
    };
  }

  function checkPolicy(credentials: SigV4Credentials, context: VerifyContext): void {
    const { parsed, expires } = credentials;
    const policy = context.policy;
    if (regions !== 'any' && !regions.includes(parsed.region)) throw new SignatureInvalid('region not accepted');
    if (!services.includes(parsed.service)) throw new SignatureInvalid('service not accepted');
    if (parsed.presigned) {
      // A presigned URL lives until X-Amz-Expires, not maxAgeSeconds; only the skew applies to its start.
      checkTimeWindow({ created: parsed.created, expires }, { ...policy, maxAgeSeconds: Infinity }, context.now);
    } else {
      checkCreated(parsed.created, context.now, policy);
    }
    checkRequiredComponents(credentials.coveredComponents, policy);
  }

  function verify(
    credentials: SigV4Credentials,
    key: ResolvedKey,
    context: VerifyContext,
  ): SchemeVerdict | Promise<SchemeVerdict> {
    const signingKey = cachedSigningKey(key, credentials.parsed, context.crypto);
    if (isThenable(signingKey)) {
      return Promise.resolve(signingKey).then((bytes) => withSigningKey(credentials, context, bytes));
    }
    return withSigningKey(credentials, context, signingKey);
  }

  function withSigningKey(
    credentials: SigV4Credentials,
    context: VerifyContext,
    signingKey: DerivedKey,
  ): SchemeVerdict | Promise<SchemeVerdict> {
    const { crypto, message } = context;
    const { parsed, payloadHashes } = credentials;
    if (payloadHashes === undefined) {
      // No declared payload hash: the body is part of the canonical request, so the
      // signature can only be checked once the body has been read.
      const hash = crypto.createHash('sha256');
      let finished = false;
      const body: BodyCheck = {
        update(chunk: Uint8Array) {
          hash.update(chunk);
        },
        async finish() {
          if (finished) throw new TypeError('finish() called twice');
          finished = true;
          const payloadHash = toHex(hash.digest());
          const ok = await matches(crypto, signingKey, message, parsed, [payloadHash]);
          if (!ok) throw new SignatureInvalid('signature does not match');
        },
      };
      return { signatureMatches: undefined, body };
    }
    const ok = matches(crypto, signingKey, message, parsed, payloadHashes);
    if (isThenable(ok)) return Promise.resolve(ok).then((matched) => checked(credentials, crypto, matched));
    return checked(credentials, crypto, ok);
  }

  function checked(credentials: SigV4Credentials, crypto: CryptoProvider, ok: boolean): SchemeVerdict {
    if (!ok) return MAC_MISMATCHED;
    if (credentials.expectedBodyHash === undefined) return MAC_MATCHED;
    return { signatureMatches: true, body: digestCheck(crypto, credentials.expectedBodyHash) };
  }

  const scheme: Scheme<SigV4Credentials> = {
    name: 'sigv4',

    detect(message: MessageParts): boolean {
      return headerProvider(message) !== undefined || queryProvider(message) !== undefined;
    },

    parse,
    verify,
    checkPolicy,

    /**
     * The canonical request (the AWS SDK form, the first `matches` tries) and string to sign, for
     * debug diagnostics. Neither depends on a key (the derived signing key is never shown).
     */
    signatureBase(credentials: SigV4Credentials, { message, body, crypto }) {
      const { parsed } = credentials;
      const url = splitUrl(message.url);
      const headerLines = canonicalHeaderLines(message, parsed.signedHeaders, url.authority);
      const form = canonicalForms(url, parsed)[0]!;
      let payloadHash = credentials.payloadHashes?.[0];
      if (payloadHash === undefined && body !== undefined) {
        const hash = crypto.createHash('sha256');
        hash.update(body);
        payloadHash = toHex(hash.digest());
      }
      if (payloadHash === undefined) return undefined;
      const canonicalRequest = `${message.method.toUpperCase()}\n${form.uri}\n${form.query}\n${headerLines}\n${parsed.signedHeadersText}\n${payloadHash}`;
      const stringToSign = `${parsed.provider.algorithm}\n${parsed.amzDate}\n${parsed.scope}\n${sha256HexOfText(crypto, canonicalRequest)}`;
      return [textSection('canonical request', canonicalRequest), textSection('string to sign', stringToSign)];
    },

    async sign(message, key: SigningKey, signOptions = {}) {
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
      extra.set('host', [headerValue(message.headers, 'host') ?? authority]);
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
          typeof message.url === 'string'
            ? message.url.replace(/[?#].*$/, '')
            : message.url.href.replace(/[?#].*$/, '');
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
    },
  };
  return scheme;
}

/** A provider's header names, e.g. `x-amz-date` and `x-amz-content-sha256`. */
interface ProviderHeaderNames {
  date: string;
  contentSha: string;
}

/** A derived signing key with its HMAC key pads. */
interface DerivedKey {
  bytes: Uint8Array;
  pads: HmacSha256Pads;
}

/** What {@link sigv4}'s parse reads. */
interface SigV4Credentials extends Credentials {
  readonly parsed: ParsedSigV4;
  /** `undefined` when the body is part of the canonical request and must be read first. */
  readonly payloadHashes: string[] | undefined;
  /** The declared payload hash (64 lower-case hex digits) the body must match. */
  readonly expectedBodyHash: string | undefined;
}

/** A body check comparing the SHA-256 of the streamed body with a declared hash. */
function digestCheck(crypto: CryptoProvider, expectedHex: string): BodyCheck {
  return new PayloadDigestCheck(crypto, expectedHex);
}

// The declared x-amz-content-sha256 against the body. A class (not closures), with completeNow()
// for the core's synchronous path (see SyncBodyCheck).
class PayloadDigestCheck implements BodyCheck {
  readonly #crypto: CryptoProvider;
  readonly #expectedHex: string;
  #hash: IncrementalHash | undefined;

  constructor(crypto: CryptoProvider, expectedHex: string) {
    this.#crypto = crypto;
    this.#expectedHex = expectedHex;
  }

  update(chunk: Uint8Array): void {
    this.#hash ??= this.#crypto.createHash('sha256');
    this.#hash.update(chunk);
  }

  finish(): Promise<void> {
    try {
      this.#hash ??= this.#crypto.createHash('sha256');
      this.#compare(this.#hash.digest());
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  complete(body: Uint8Array): Promise<void> {
    try {
      const pending = this.completeNow(body);
      return pending ?? Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  completeNow(body: Uint8Array): void | Promise<void> {
    const crypto = this.#crypto;
    // A body already in memory and nothing fed yet: one-shot digest when the provider has one,
    // compared in hex with the declared hash as sent.
    if (this.#hash === undefined && crypto.hashString !== undefined) {
      if (!constantTimeEqualText(crypto.hashString('sha256', body, 'hex'), this.#expectedHex)) throw mismatch();
      return;
    }
    if (this.#hash === undefined && crypto.hash !== undefined) {
      this.#compare(crypto.hash('sha256', body));
      return;
    }
    this.update(body);
    return this.finish();
  }

  #compare(actual: Uint8Array): void {
    if (!this.#crypto.timingSafeEqual(actual, fromHex(this.#expectedHex)!)) throw mismatch();
  }
}

function mismatch(): DigestMismatch {
  return new DigestMismatch('body does not match its hash');
}
