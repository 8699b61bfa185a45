/**
 * SigV4 canonicalisation (AWS "Create a canonical request"), kept apart from the
 * scheme so the published AWS suite can test each step on its own; at the end, the canonical
 * forms of a received request that the verifier tries (SDK, curl >= 8, curl < 8).
 */

import { toHex, utf8 } from '../../primitives/encoding.js';
import { sha256HexOfText } from '../../primitives/hmac-sha256.js';
import { headerField } from '../../protocol/headers.js';
import type { CryptoProvider, HeadersInit, MessageParts } from '../../types.js';
import type { RawUrl } from '../compat-support.js';

/** The payload hash a signer writes when the body is not signed. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** SHA-256 of the empty body, in hex: the payload hash of a request without one. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Services whose paths are signed as sent, neither normalised nor encoded again (S3's rule). */
export const SERVICES_WITHOUT_PATH_ENCODING: ReadonlySet<string> = new Set(['s3', 's3-express', 's3-outposts']);

const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX_DIGITS = '0123456789ABCDEF';
// Text made only of unreserved characters (and "/" in paths) is its own canonical form.
const ALREADY_CANONICAL = /^[A-Za-z0-9\-._~]*$/;
const ALREADY_CANONICAL_PATH = /^[A-Za-z0-9\-._~/]*$/;

function canonicalComponent(raw: string, plusAsSpace: boolean): string {
  if (ALREADY_CANONICAL.test(raw)) return raw;
  return percentEncodeBytes(percentDecodeToBytes(raw), false, plusAsSpace);
}

function percentEncodeBytes(bytes: Uint8Array, keepSlash: boolean, plusAsSpace: boolean): string {
  let out = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    if (byte < 0x80 && (UNRESERVED.test(char) || (keepSlash && char === '/'))) out += char;
    else if (plusAsSpace && char === '+') out += '%20';
    else out += '%' + HEX_DIGITS[byte >> 4] + HEX_DIGITS[byte & 15];
  }
  return out;
}

/** Percent-decodes (`%XX` only; `+` and stray `%` stay literal) to bytes. */
function percentDecodeToBytes(text: string): Uint8Array {
  const bytes = utf8(text);
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x25 && i + 2 < bytes.length && isHex(bytes[i + 1]) && isHex(bytes[i + 2])) {
      out[o++] = Number.parseInt(String.fromCharCode(bytes[i + 1]!, bytes[i + 2]!), 16);
      i += 2;
    } else {
      out[o++] = byte;
    }
  }
  return out.subarray(0, o);
}

function isHex(byte: number | undefined): boolean {
  return (
    byte !== undefined &&
    ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66))
  );
}

/** Removes empty and `.` segments and resolves `..`, as the AWS SDKs do for every service but S3. */
export function normalizeSigV4Path(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return '/' + segments.join('/') + trailing;
}

/**
 * The CanonicalURI of a path *as sent on the wire*. With `encode` (every service but
 * S3) the already-encoded path is URI-encoded once more, which is what AWS calls
 * "encoded twice"; with `normalize`, dot segments and empty segments go first.
 *
 * @example
 * ```ts
 * sigv4CanonicalUri('/a%20b/./c'); // '/a%2520b/c'
 * sigv4CanonicalUri('//x//', { normalize: false }); // '//x//'
 * ```
 */
export function sigv4CanonicalUri(path: string, options: { normalize?: boolean; encode?: boolean } = {}): string {
  let out = path === '' ? '/' : path;
  if (options.normalize ?? true) out = normalizeSigV4Path(out);
  if ((options.encode ?? true) && !ALREADY_CANONICAL_PATH.test(out)) out = percentEncodeBytes(utf8(out), true, false);
  return out;
}

/**
 * The CanonicalQueryString: parameters split on `&`, each name and value
 * percent-decoded and re-encoded (RFC 3986 unreserved characters kept), sorted by
 * name then value. `exclude` drops a parameter (the presigned signature itself).
 * `plusAsSpace` reproduces curl 8, which encodes a literal `+` as `%20`.
 *
 * @example
 * ```ts
 * sigv4CanonicalQuery('b=2&a=x%2fy'); // 'a=x%2Fy&b=2'
 * ```
 */
export function sigv4CanonicalQuery(
  query: string | null | undefined,
  options: { exclude?: string; plusAsSpace?: boolean } = {},
): string {
  if (!query) return '';
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const rawName = equals < 0 ? part : part.slice(0, equals);
    const rawValue = equals < 0 ? '' : part.slice(equals + 1);
    if (options.exclude !== undefined && rawName === options.exclude) continue;
    const plus = options.plusAsSpace ?? false;
    pairs.push([canonicalComponent(rawName, plus), canonicalComponent(rawValue, plus)]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** AWS "Trimall": outer whitespace removed, inner runs (incl. folded lines) collapsed to one space. */
export function sigv4TrimHeaderValue(value: string): string {
  return value.replace(/[ \t\r\n]+/g, ' ').trim();
}

/** Input of {@link sigv4CanonicalRequest}. */
export interface SigV4CanonicalRequestInput {
  method: string;
  /** Already canonical, see {@link sigv4CanonicalUri}. */
  canonicalUri: string;
  /** Already canonical, see {@link sigv4CanonicalQuery}. */
  canonicalQuery: string;
  /** Lower-case names, sorted, each with its values in arrival order. */
  headers: ReadonlyArray<readonly [name: string, values: readonly string[]]>;
  /** Hex SHA-256 of the payload, or `UNSIGNED-PAYLOAD`. */
  payloadHash: string;
}

/**
 * Assembles the canonical request: method, URI, query, `name:value` lines (values
 * trimmed, repeated headers joined with `,`), a blank line, the signed header
 * names joined with `;`, and the payload hash.
 *
 * @example
 * ```ts
 * sigv4CanonicalRequest({ method: 'GET', canonicalUri: '/', canonicalQuery: '',
 *   headers: [['host', ['example.com']], ['x-amz-date', ['20150830T123600Z']]],
 *   payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });
 * ```
 */
export function sigv4CanonicalRequest(input: SigV4CanonicalRequestInput): string {
  const lines = input.headers.map(([name, values]) => `${name}:${values.map(sigv4TrimHeaderValue).join(',')}\n`);
  return [
    input.method.toUpperCase(),
    input.canonicalUri,
    input.canonicalQuery,
    lines.join(''),
    input.headers.map(([name]) => name).join(';'),
    input.payloadHash,
  ].join('\n');
}

/** Hex SHA-256 of bytes, or of the UTF-8 bytes of a text: one-shot when the provider can. */
export function sha256Hex(crypto: CryptoProvider, data: Uint8Array | string): string {
  if (typeof data === 'string') return sha256HexOfText(crypto, data);
  if (crypto.hashString !== undefined) return crypto.hashString('sha256', data, 'hex');
  if (crypto.hash !== undefined) return toHex(crypto.hash('sha256', data));
  const hash = crypto.createHash('sha256');
  hash.update(data);
  return toHex(hash.digest());
}

// A path that is its own CanonicalURI in every form: non-empty segments of unreserved
// characters, none `.` or `..`, optionally one trailing `/` (or just `/`).
const PLAIN_PATH = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~]+)*\/?$/;
// `name=value` pairs of unreserved characters (either may be empty), `&`-separated, none empty.
const PLAIN_QUERY = /^[A-Za-z0-9\-._~]*=[A-Za-z0-9\-._~]*(?:&[A-Za-z0-9\-._~]*=[A-Za-z0-9\-._~]*)*$/;

// Requests to one endpoint repeat its path and query: the last answer is kept.
let lastPlainPath: string | undefined;
let lastPlainQuery: string | null = null;
let lastPlain = false;

/**
 * Whether a path and query as sent are already canonical in every form a verifier tries: the
 * path needs no normalisation or encoding, every query parameter is `name=value` of unreserved
 * characters (no `+`), already sorted by name then value. Then the SDK form, curl 8's form and
 * the as-sent form are one and the same: `path` and `query ?? ''`.
 */
export function sigv4IsPlainCanonical(path: string, query: string | null): boolean {
  if (path === lastPlainPath && query === lastPlainQuery) return lastPlain;
  const plain = isPlainCanonical(path, query);
  lastPlainPath = path;
  lastPlainQuery = query;
  lastPlain = plain;
  return plain;
}

function isPlainCanonical(path: string, query: string | null): boolean {
  if (path.length === 0 || path.charCodeAt(0) !== 0x2f || !PLAIN_PATH.test(path)) return false;
  if (query === null || query === '') return true;
  if (!PLAIN_QUERY.test(query)) return false;
  let previousName = '';
  let previousValue = '';
  let start = 0;
  for (;;) {
    const equals = query.indexOf('=', start);
    let end = query.indexOf('&', equals);
    if (end < 0) end = query.length;
    const name = query.slice(start, equals);
    const value = query.slice(equals + 1, end);
    if (start > 0 && (name < previousName || (name === previousName && value < previousValue))) return false;
    if (end === query.length) return true;
    previousName = name;
    previousValue = value;
    start = end + 1;
  }
}

// Whether Trimall can change a value: leading or trailing whitespace (what `trim()` removes), or a
// run that collapses (two spaces, or any tab, CR or LF).
const NEEDS_TRIM = /^\s|\s$|[\t\r\n]| {2}/;

/** One header line of the canonical request for a header with one value: `name:trimmed value\n`. */
export function sigv4CanonicalHeaderLine(name: string, value: string): string {
  return `${name}:${NEEDS_TRIM.test(value) ? sigv4TrimHeaderValue(value) : value}\n`;
}

/**
 * The header lines of the canonical request (`name:value\n` each, values trimmed and repeated
 * values joined with `,`), as {@link sigv4CanonicalRequest} writes them.
 */
export function sigv4CanonicalHeaderLines(
  headers: ReadonlyArray<readonly [name: string, values: readonly string[]]>,
): string {
  let out = '';
  for (let i = 0; i < headers.length; i++) {
    const [name, values] = headers[i]!;
    out += name;
    out += ':';
    for (let j = 0; j < values.length; j++) {
      if (j > 0) out += ',';
      const value = values[j]!;
      out += NEEDS_TRIM.test(value) ? sigv4TrimHeaderValue(value) : value;
    }
    out += '\n';
  }
  return out;
}

/**
 * The string to sign: algorithm, `X-Amz-Date` timestamp, credential scope and the
 * hex SHA-256 of the canonical request, one per line.
 *
 * @example
 * ```ts
 * sigv4StringToSign({ algorithm: 'AWS4-HMAC-SHA256', amzDate: '20150830T123600Z',
 *   scope: '20150830/us-east-1/service/aws4_request', canonicalRequest }, nodeCryptoProvider);
 * ```
 */
export function sigv4StringToSign(
  input: { algorithm: string; amzDate: string; scope: string; canonicalRequest: string },
  crypto: CryptoProvider,
): string {
  return [input.algorithm, input.amzDate, input.scope, sha256Hex(crypto, input.canonicalRequest)].join('\n');
}

// The string to sign of the verifier's usual path, kept as UTF-8 bytes after a 64-byte slot for
// the HMAC's inner pad (see hmacSha256HexOfBlock): `algorithm\n` and `scope\n` repeat request
// after request and are encoded only when they change; the 16-character date is written byte by
// byte when it differs from the date already in the block (requests of one second share it), and
// the canonical request's digest as hex on every call. No text is encoded as a whole, and no
// string to sign is built. Only this module writes the block, and only synchronously (the HMAC
// writes and zeroes the pad slot only).
const STRING_TO_SIGN_BYTES = 1024;
const stringToSignBlock = new Uint8Array(64 + STRING_TO_SIGN_BYTES);
const blockEncoder = new TextEncoder();
const LOWER_HEX_BYTES = blockEncoder.encode('0123456789abcdef');
let blockAlgorithm: string | undefined;
let blockScope: string | undefined;
let blockDateAt = 0;
let blockDigestAt = 0;
// The date whose bytes are in the block at blockDateAt: `undefined` whenever the layout is rewritten.
let blockDate: string | undefined;
let blockView = stringToSignBlock.subarray(0, 64);

/**
 * The 64-byte pad slot followed by the UTF-8 bytes of the string to sign
 * `${algorithm}\n${amzDate}\n${scope}\n${hex of digest}`, where `digest` is the canonical
 * request's SHA-256 as a binary string (32 characters) and `amzDate` is 16 ASCII characters (what
 * parseAmzDate accepts). A view of a block reused by the next call; `undefined` when the text does
 * not fit (the caller builds the string instead).
 */
export function sigv4StringToSignBlock(
  algorithm: string,
  amzDate: string,
  scope: string,
  digest: string,
): Uint8Array | undefined {
  if (amzDate.length !== 16 || digest.length !== 32) return undefined;
  if (algorithm !== blockAlgorithm || scope !== blockScope) {
    blockAlgorithm = undefined;
    blockDate = undefined;
    const head = blockEncoder.encodeInto(`${algorithm}\n`, stringToSignBlock.subarray(64));
    if (head.read !== algorithm.length + 1) return undefined;
    const dateAt = 64 + head.written;
    if (dateAt + 17 > stringToSignBlock.length) return undefined;
    stringToSignBlock[dateAt + 16] = 0x0a;
    const tail = blockEncoder.encodeInto(`${scope}\n`, stringToSignBlock.subarray(dateAt + 17));
    const digestAt = dateAt + 17 + tail.written;
    if (tail.read !== scope.length + 1 || digestAt + 64 > stringToSignBlock.length) return undefined;
    blockAlgorithm = algorithm;
    blockScope = scope;
    blockDateAt = dateAt;
    blockDigestAt = digestAt;
    blockView = stringToSignBlock.subarray(0, digestAt + 64);
  }
  if (amzDate !== blockDate) {
    for (let i = 0; i < 16; i++) stringToSignBlock[blockDateAt + i] = amzDate.charCodeAt(i);
    blockDate = amzDate;
  }
  for (let i = 0, at = blockDigestAt; i < 32; i++, at += 2) {
    const byte = digest.charCodeAt(i);
    stringToSignBlock[at] = LOWER_HEX_BYTES[byte >> 4]!;
    stringToSignBlock[at + 1] = LOWER_HEX_BYTES[byte & 15]!;
  }
  return blockView;
}

/**
 * Derives the signing key: HMAC chain over date, region, service and the scope
 * terminator, keyed by `keyPrefix + secret` (`AWS4` + secret access key for AWS).
 *
 * @example
 * ```ts
 * const key = await sigv4SigningKey({ secret, date: '20150830', region: 'us-east-1', service: 'iam' }, crypto);
 * ```
 */
export async function sigv4SigningKey(
  input: { secret: string; date: string; region: string; service: string; keyPrefix?: string; terminator?: string },
  crypto: CryptoProvider,
): Promise<Uint8Array> {
  let key = await crypto.hmac('sha256', utf8((input.keyPrefix ?? 'AWS4') + input.secret), utf8(input.date));
  key = await crypto.hmac('sha256', key, utf8(input.region));
  key = await crypto.hmac('sha256', key, utf8(input.service));
  return await crypto.hmac('sha256', key, utf8(input.terminator ?? 'aws4_request'));
}

// Lower-case hex digit values by character code (0-127); -1 for every other character.
const LOWER_HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) LOWER_HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

/**
 * The bytes of `text` from `start` to its end when that is exactly `count` (even) lower-case hex
 * digits, what `isLowerHexTail(text, start, count)` accepts; `undefined` otherwise. The check and
 * the decoding in one pass: SigV4's signature and declared payload hash are checked here once and
 * then compared as 32 bytes (against the MAC and the body digest as binary strings), half the
 * characters of a comparison in hex. The digits are public (sent by the client): the early exit
 * reveals nothing. Internal; exported for tests.
 */
export function lowerHexBytes(text: string, start: number, count: number): Uint8Array | undefined {
  if (start < 0 || text.length - start !== count || (count & 1) !== 0) return undefined;
  const out = new Uint8Array(count >> 1);
  for (let i = 0, at = start; i < out.length; i++, at += 2) {
    const high = text.charCodeAt(at);
    const low = text.charCodeAt(at + 1);
    if ((high | low) > 0x7f) return undefined;
    const h = LOWER_HEX_VALUE[high]!;
    const l = LOWER_HEX_VALUE[low]!;
    if ((h | l) < 0) return undefined;
    out[i] = (h << 4) | l;
  }
  return out;
}

/**
 * {@link headerField} for a `name` already in lower case (SigV4's signed header names, checked
 * against the parser's lower-case HEADER_NAME, the `authorization` name and the providers' date
 * and content-sha256 names): the same answer, without `name.toLowerCase()` per call (V8's
 * lower-casing of an already lower-case name costs as much as the rest of the read). Invariant:
 * `name === name.toLowerCase()`; then for a plain record the loop below is headerField's own
 * with `lower` = `name` and the case-insensitive key match spelled out, and everything else (a
 * fetch `Headers`, a repeated or non-string value) is handed to headerField itself.
 * Internal; exported for tests.
 */
export function lowerHeaderField(headers: HeadersInit, name: string): string | string[] | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).forEach === 'function') {
    return headerField(headers, name);
  }
  const record = headers as Record<string, unknown>;
  let found: string | undefined;
  for (const key in record) {
    if (key.length !== name.length || (key !== name && key.toLowerCase() !== name)) continue;
    if (!Object.hasOwn(record, key)) continue;
    const value = record[key];
    if (value === undefined || value === null) continue;
    if (found !== undefined || typeof value !== 'string') return headerField(headers, name);
    found = value;
  }
  return found;
}

/**
 * A header the parser already read as exactly one value and validated (no whitespace inside once
 * trimmed): its canonical value is that trimmed value, so its line needs no second read.
 */
export interface KnownHeader {
  readonly name: string;
  readonly trimmed: string;
}

// Per position in the signed headers: the last single-valued header's name, value and line.
const LINE_MEMO_SIZE = 8;
const lineMemoName: (string | undefined)[] = new Array(LINE_MEMO_SIZE).fill(undefined);
const lineMemoValue: (string | undefined)[] = new Array(LINE_MEMO_SIZE).fill(undefined);
const lineMemoLine: (string | undefined)[] = new Array(LINE_MEMO_SIZE).fill(undefined);

/**
 * The canonical request's header lines ({@link sigv4CanonicalHeaderLines}) read straight from the
 * message; the `known` headers (the date and the declared payload hash) from what the parser read.
 * `names` are lower case (SignedHeaders as the parser accepted them), read with {@link lowerHeaderField}.
 */
export function canonicalHeaderLinesOf(
  message: MessageParts,
  names: readonly string[],
  authority: string,
  known?: readonly (KnownHeader | undefined)[],
): string {
  let out = '';
  outer: for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (known !== undefined) {
      for (let k = 0; k < known.length; k++) {
        if (known[k]?.name === name) {
          out += `${name}:${known[k]!.trimmed}\n`;
          continue outer;
        }
      }
    }
    const field = lowerHeaderField(message.headers, name);
    if (field === undefined) {
      // Fetch `Request` objects carry no Host header: the URL's authority is what was addressed.
      out += sigv4CanonicalHeaderLines([[name, name === 'host' ? [authority] : []]]);
    } else if (typeof field === 'string') {
      // The line of the last request's header at this position, when name and value repeat (a
      // client's Host and Content-Type do): compared as text, so it is that line byte for byte.
      if (i < LINE_MEMO_SIZE && lineMemoValue[i] === field && lineMemoName[i] === name) {
        out += lineMemoLine[i]!;
        continue;
      }
      const line = sigv4CanonicalHeaderLine(name, field);
      if (i < LINE_MEMO_SIZE) {
        lineMemoName[i] = name;
        lineMemoValue[i] = field;
        lineMemoLine[i] = line;
      }
      out += line;
    } else {
      out += sigv4CanonicalHeaderLines([[name, field]]);
    }
  }
  return out;
}

/** What {@link canonicalForms} needs to know of the parsed signature. */
export interface CanonicalFormsOf {
  readonly presigned: boolean;
  readonly service: string;
  readonly provider: { readonly queryPrefix: string };
}

/**
 * The canonical forms (URI and query) clients produce for this request, most standard first,
 * without duplicates: the AWS SDK form, curl >= 8's, and (with `acceptUnsortedQuery`) curl < 8's
 * path and query as sent.
 */
export function canonicalForms(
  url: RawUrl,
  parsed: CanonicalFormsOf,
  acceptUnsortedQuery: boolean,
): { uri: string; query: string }[] {
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
