/**
 * Reading SigV4 credentials from a request: the `Authorization` header (`ALGORITHM Credential=…,
 * SignedHeaders=…, Signature=…`) or a presigned URL's `X-Amz-*` query, then which payload hash the
 * canonical request carries. Throws `SignatureMissing` / `SignatureMalformed` /
 * `ComponentNotCovered` before any key is looked up.
 */

import {
  ComponentNotCovered,
  DigestMismatch,
  DigestMissing,
  SignatureMalformed,
  SignatureMissing,
} from '../../errors.js';
import type { Credentials } from '../../pipeline/contract.js';
import { asciiDigitsAt } from '../../protocol/ascii-digits.js';
import type { MessageParts } from '../../types.js';
import { splitUrl } from '../compat-support.js';
import { EMPTY_SHA256, type KnownHeader, lowerHeaderField, lowerHexBytes, UNSIGNED_PAYLOAD } from './canonical.js';
import type { ProviderHeaderNames, SigV4Config, SigV4Provider } from './options.js';

/** The signature fields of one request, as sent. */
export interface ParsedSigV4 {
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
  /** The signature's 32 bytes (decoded from its 64 lower-case hex digits). */
  signatureBytes: Uint8Array;
  amzDate: string;
  created: number;
  expiresIn?: number;
}

// The start of the last day read (YYYYMMDD -> Unix seconds at 00:00:00Z): requests of one day
// share it, so most dates cost a few character reads instead of a regular expression and a Date.
let lastDayText = '';
let lastDayStart = 0;

/**
 * `YYYYMMDDTHHMMSSZ` as Unix seconds, or `undefined` when it is not one (a calendar date that
 * does not exist, an hour past 23...). Internal; exported for tests.
 */
export function parseAmzDate(value: string): number | undefined {
  if (value.length !== 16 || value.charCodeAt(8) !== 0x54 /* T */ || value.charCodeAt(15) !== 0x5a /* Z */) {
    return undefined;
  }
  const hour = asciiDigitsAt(value, 9, 2);
  const minute = asciiDigitsAt(value, 11, 2);
  const second = asciiDigitsAt(value, 13, 2);
  if (hour < 0 || minute < 0 || second < 0 || hour > 23 || minute > 59 || second > 59) return undefined;
  const dayText = value.slice(0, 8);
  if (dayText !== lastDayText) {
    const year = asciiDigitsAt(value, 0, 4);
    const month = asciiDigitsAt(value, 4, 2);
    const day = asciiDigitsAt(value, 6, 2);
    if (year < 0 || month < 0 || day < 0) return undefined;
    const ms = Date.UTC(year, month - 1, day);
    const back = new Date(ms);
    // Date.UTC rolls over (month 13, day 32, 30 February): a date that does not exist reads back differently.
    if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) return undefined;
    lastDayText = dayText;
    lastDayStart = ms / 1000;
  }
  return lastDayStart + hour * 3600 + minute * 60 + second;
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** The bytes of a signature or a payload hash as SigV4 sends them (64 lower-case hex digits), else `undefined`. */
function hex64Bytes(text: string): Uint8Array | undefined {
  return lowerHexBytes(text, 0, 64);
}
// `Credential=..., SignedHeaders=..., Signature=...` in this order, `, ` or `,` between them, no
// whitespace or comma inside a value: split on `,` and trimmed, it gives the same three fields.
const USUAL_AUTHORIZATION = /^Credential=([^\s,]+), ?SignedHeaders=([^\s,]+), ?Signature=([^\s,]+)$/;

// Clients send the same SignedHeaders over and over: the last valid list is kept and shared
// (read-only: nothing mutates a parsed list; `coveredComponents` is a frozen copy, see coveredComponentsOf).
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

// The covered components of the last SignedHeaders list (the same array while the text repeats,
// see parseSignedHeaders), with and without the body: frozen and shared, as x-api's COVERED.
let lastCoveredFor: readonly string[] | undefined;
let lastCoveredWithBody: readonly string[] = [];
let lastCoveredWithoutBody: readonly string[] = [];

/** What a signature over these signed headers covers: request target, the headers, and the body when bound. */
function coveredComponentsOf(signedHeaders: readonly string[], bodyBound: boolean): readonly string[] {
  if (signedHeaders !== lastCoveredFor) {
    const withoutBody = ['@method', '@path', '@query', '@authority', ...signedHeaders];
    lastCoveredWithBody = Object.freeze([...withoutBody, 'content-digest']);
    lastCoveredWithoutBody = Object.freeze(withoutBody);
    lastCoveredFor = signedHeaders;
  }
  return bodyBound ? lastCoveredWithBody : lastCoveredWithoutBody;
}

// The last SignedHeaders list of a header-form signature found to hold `host` and the date header
// named `lastCoveringDate` (see parse()).
let lastCoveringList: readonly string[] | undefined;
let lastCoveringDate = '';

/** A Credential's parts: the key id and the scope (`date/region/service/terminator`) and its parts. */
export interface SigV4CredentialScope {
  readonly keyId: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  /** `date/region/service/terminator`, the text after the key id. */
  readonly scope: string;
}

// A client sends the same Credential all day: the last one read is kept (with its provider, whose
// terminator it was checked against). The same scope string then reaches the derived-key lookup,
// whose hash V8 has already computed.
let lastCredential: string | undefined;
let lastCredentialProvider: SigV4Provider | undefined;
let lastCredentialScope: SigV4CredentialScope | undefined;

/** Splits a Credential into key id and scope (the last four `/`-separated parts). Internal; exported for tests. */
export function parseCredential(value: string, provider: SigV4Provider): SigV4CredentialScope {
  if (value === lastCredential && provider === lastCredentialProvider) return lastCredentialScope!;
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
  const scope: SigV4CredentialScope = Object.freeze({ keyId, date, region, service, scope: value.slice(d + 1) });
  lastCredential = value;
  lastCredentialProvider = provider;
  lastCredentialScope = scope;
  return scope;
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

// A client repeats its Authorization header but for the signature: everything up to and including
// `Signature=` (the "head") is the same text request after request. The head of the last header
// read in the usual layout is kept with its two fields; a header that is that head followed by 64
// lower-case hex digits is answered without the regular expression. Same answer by construction:
// the head holds the layout's two commas and its fields contain no comma or whitespace, and hex
// digits contain neither, so USUAL_AUTHORIZATION would match the new header (read from the same
// offset) with the same Credential and SignedHeaders and the new digits as Signature. Keyed on
// text only (no request object), one entry: another client's header costs one failed comparison.
let lastHead = '';
let lastHeadOffset = -1;
let lastHeadFields: SigV4AuthorizationFields | undefined;

/** {@link SigV4AuthorizationFields} with the signature's bytes. */
export interface SigV4SignedAuthorizationFields extends SigV4AuthorizationFields {
  signatureBytes: Uint8Array;
}

/**
 * The fields of `authorization.slice(offset)` (the text after `ALGORITHM `), as
 * {@link sigv4AuthorizationFields} reads them, with the signature checked to be 64 lower-case hex
 * digits (else `SignatureMalformed`, after any error of the fields), and its bytes. A header repeating the last
 * head (see above) is answered from memory. Internal; exported for tests.
 */
export function sigv4SignedAuthorization(authorization: string, offset: number): SigV4SignedAuthorizationFields {
  const headLength = authorization.length - 64;
  if (headLength === lastHead.length && offset === lastHeadOffset) {
    // A slice compared with `===` (a flat comparison of the bytes): `startsWith` costs several
    // times more in V8 for a head of ~170 characters. The digits are checked (and decoded) in the
    // header itself (a flat string), before the signature is sliced off it.
    if (authorization.slice(0, headLength) === lastHead) {
      const signatureBytes = lowerHexBytes(authorization, headLength, 64);
      if (signatureBytes !== undefined) {
        const signature = authorization.slice(headLength);
        const { credential, signedHeaders } = lastHeadFields!;
        return { credential, signedHeaders, signature, signatureBytes };
      }
    }
  }
  const rest = authorization.slice(offset);
  const usual = USUAL_AUTHORIZATION.exec(rest);
  const fields = usual
    ? { credential: usual[1]!, signedHeaders: usual[2]!, signature: usual[3]! }
    : sigv4AuthorizationFieldsGeneral(rest);
  const signatureBytes = hex64Bytes(fields.signature);
  if (signatureBytes === undefined) throw new SignatureMalformed('Signature must be 64 lower-case hex digits');
  // Remembered only when the regex read it: then the head is the header without the 64 digits.
  if (usual) {
    lastHead = authorization.slice(0, headLength);
    lastHeadOffset = offset;
    lastHeadFields = fields;
  }
  return {
    credential: fields.credential,
    signedHeaders: fields.signedHeaders,
    signature: fields.signature,
    signatureBytes,
  };
}

/**
 * The Authorization header as `getHeader()` reads it (repeated lines joined with `, `), without
 * its array of lines for the usual single value.
 */
function authorizationOf(message: MessageParts): string | undefined {
  const field = lowerHeaderField(message.headers, 'authorization');
  return typeof field === 'string' || field === undefined ? field : field.join(', ');
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

/** What the SigV4 parser reads: the fields as sent and the payload hashes to try. */
export interface SigV4Credentials extends Credentials {
  readonly parsed: ParsedSigV4;
  /** `undefined` when the body is part of the canonical request and must be read first. */
  readonly payloadHashes: string[] | undefined;
  /** The declared payload hash (64 lower-case hex digits) the body must match. */
  readonly expectedBodyHash: string | undefined;
  /** {@link expectedBodyHash}'s 32 bytes. */
  readonly expectedBodyBytes: Uint8Array | undefined;
  /** Signed headers already read and validated here (date, declared payload hash): their canonical lines. */
  readonly knownHeaders: readonly (KnownHeader | undefined)[];
}

/** The two phases the pipeline calls before a key is looked up. */
export interface SigV4Parser {
  /** Whether the request carries SigV4 credentials of an accepted provider (header or presigned URL). */
  detect(message: MessageParts): boolean;
  /** Reads the credentials once; throws before any key is looked up. */
  parse(message: MessageParts, context: { hasBody: boolean }): SigV4Credentials;
}

/**
 * The SigV4 parser for one configuration.
 *
 * @example
 * ```ts
 * const { detect, parse } = createSigV4Parser(resolveSigV4Options({}));
 * if (detect(message)) parse(message, { hasBody: false }).keyId;
 * ```
 */
export function createSigV4Parser(config: SigV4Config): SigV4Parser {
  const { providers, headerPrefixes, namesOf, allowPresigned, allowUnsignedPayload, maxPresigned } = config;

  function providerOfAuthorization(authorization: string | undefined): SigV4Provider | undefined {
    if (!authorization) return undefined;
    for (let i = 0; i < providers.length; i++) {
      if (authorization.startsWith(headerPrefixes[i]!)) return providers[i];
    }
    return undefined;
  }

  function headerProvider(message: MessageParts): SigV4Provider | undefined {
    return providerOfAuthorization(authorizationOf(message));
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
    const authorization = authorizationOf(message);
    const fromHeader = providerOfAuthorization(authorization);
    if (fromHeader) return parseHeader(message, fromHeader, authorization!);
    const fromQuery = queryProvider(message);
    if (fromQuery) return parseQuery(message, fromQuery);
    throw new SignatureMissing('no SigV4 signature');
  }

  function parseHeader(message: MessageParts, provider: SigV4Provider, authorization: string): ParsedSigV4 {
    const names = namesOf.get(provider)!;
    const dateField = lowerHeaderField(message.headers, names.date);
    const { credential, signedHeaders, signature, signatureBytes } = sigv4SignedAuthorization(
      authorization,
      provider.algorithm.length + 1,
    );
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
      scope: scope.scope,
      signedHeaders: parseSignedHeaders(signedHeaders),
      signedHeadersText: signedHeaders,
      signature,
      signatureBytes,
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
    const signatureBytes = hex64Bytes(signature);
    if (signatureBytes === undefined) throw new SignatureMalformed('Signature must be 64 lower-case hex digits');
    const signedHeadersText = single(params, `${q}SignedHeaders`);
    return {
      provider,
      names: namesOf.get(provider)!,
      presigned: true,
      keyId: scope.keyId,
      date: scope.date,
      region: scope.region,
      service: scope.service,
      scope: scope.scope,
      signedHeaders: parseSignedHeaders(signedHeadersText),
      signedHeadersText,
      signature,
      signatureBytes,
      amzDate,
      created,
      expiresIn,
    };
  }
  function parse(message: MessageParts, context: { hasBody: boolean }): SigV4Credentials {
    const parsed = parseSignature(message);
    // What the protocol itself requires to be signed (not a policy choice): refused before any key.
    // The last header-form list found to hold both is remembered (lists are shared and never
    // written, see parseSignedHeaders): the same array with the same date name holds them still.
    const signed = parsed.signedHeaders;
    if (parsed.presigned || signed !== lastCoveringList || parsed.names.date !== lastCoveringDate) {
      if (!signed.includes('host')) throw new ComponentNotCovered('host must be signed');
      if (!parsed.presigned) {
        if (!signed.includes(parsed.names.date)) throw new ComponentNotCovered(`${parsed.names.date} must be signed`);
        lastCoveringList = signed;
        lastCoveringDate = parsed.names.date;
      }
    }
    const hasBody = context.hasBody;
    // Which payload hash the canonical request carries, and whether the body still has to be hashed.
    const contentSha = lowerHeaderField(message.headers, parsed.names.contentSha);
    if (typeof contentSha === 'object') throw new SignatureMalformed('repeated content-sha256 header');
    const declared = contentSha?.trim();
    let payloadHashes: string[] | undefined;
    let expectedBodyHash: string | undefined;
    let expectedBodyBytes: Uint8Array | undefined;
    if (declared !== undefined) {
      const declaredBytes = declared === UNSIGNED_PAYLOAD ? undefined : hex64Bytes(declared);
      if (declared === UNSIGNED_PAYLOAD) {
        if (!allowUnsignedPayload) throw new DigestMissing('UNSIGNED-PAYLOAD is not accepted');
        payloadHashes = [UNSIGNED_PAYLOAD];
      } else if (declaredBytes !== undefined) {
        payloadHashes = [declared];
        if (hasBody) {
          expectedBodyHash = declared;
          expectedBodyBytes = declaredBytes;
        } else if (declared !== EMPTY_SHA256) throw new DigestMismatch('payload hash does not match the empty body');
      } else {
        throw new SignatureMalformed('unsupported content-sha256 value');
      }
    } else if (!hasBody) {
      payloadHashes = [EMPTY_SHA256];
      // S3-style presigned URLs sign UNSIGNED-PAYLOAD without sending a header.
      if (parsed.presigned && allowUnsignedPayload) payloadHashes.push(UNSIGNED_PAYLOAD);
    }
    // Both were read as exactly one value and validated (no whitespace once trimmed).
    const knownHeaders = [
      parsed.presigned ? undefined : { name: parsed.names.date, trimmed: parsed.amzDate },
      declared === undefined ? undefined : { name: parsed.names.contentSha, trimmed: declared },
    ];
    const bodyBound = payloadHashes === undefined || payloadHashes[0] !== UNSIGNED_PAYLOAD;
    const covered = coveredComponentsOf(parsed.signedHeaders, bodyBound);
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
      expectedBodyBytes,
      knownHeaders,
    };
  }

  function detect(message: MessageParts): boolean {
    return headerProvider(message) !== undefined || queryProvider(message) !== undefined;
  }

  return { detect, parse };
}
