import { BodyNotJson, CharsetUnsupported, ContentEncodingUnsupported } from '@hmac-kit/core';
import type { Request } from 'express';

/**
 * Options of `hmacAuth({ json })`: the body is read, verified and then parsed by `hmacAuth()`
 * itself (no `express.json()` in front of it). The names and defaults are `express.json()`'s.
 */
export interface JsonBodyOptions {
  /**
   * Largest body read, in bytes, or a size such as `'100kb'` or `'1mb'` (units of 1024, as
   * `express.json()`). A larger `Content-Length` is refused `413 body_too_large` before any byte is
   * read; a chunked body is refused as soon as it passes the limit. Default: the authenticator's
   * `maxBodyBytes` when given, else `'100kb'` (`express.json()`'s default).
   */
  limit?: number | string;
  /**
   * Which bodies are parsed as JSON: media types (`'application/json'`, `'application/*'`,
   * `'*\/*+json'`; matched without parameters, case-insensitively) or a function of the request.
   * Bodies of other types are read and verified but not parsed (`req.rawBody` only). Default:
   * `application/json` and every `+json` type (`application/problem+json`...).
   */
  type?: string | readonly string[] | ((req: Request) => boolean);
  /**
   * Only an object or an array at the top level (`express.json()`'s default); `false` accepts any
   * JSON value (`"text"`, `1`, `null`). Default `true`.
   */
  strict?: boolean;
}

/** What the reader needs, decided once at construction. */
export interface JsonBodyPlan {
  readonly limit: number;
  readonly parses: (req: Request, mediaType: string) => boolean;
  readonly strict: boolean;
}

/** `express.json()`'s default limit: 100 KiB. */
export const DEFAULT_JSON_LIMIT = 100 * 1024;

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i;
const MEDIA_TYPE = /^([a-z0-9!#$&^_.+-]+|\*)\/([a-z0-9!#$&^_.+-]+|\*|\*\+[a-z0-9!#$&^_.+-]+)$/;

function invalid(what: string): TypeError {
  return new TypeError(`hmacAuth: json.${what}`);
}

/** A size option in bytes: a positive safe integer, or `'<n>[b|kb|mb|gb]'`. */
function sizeOf(limit: number | string): number {
  if (typeof limit === 'number') {
    if (Number.isSafeInteger(limit) && limit > 0) return limit;
  } else if (typeof limit === 'string') {
    const match = SIZE.exec(limit.trim());
    if (match) {
      const bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1));
      if (Number.isSafeInteger(bytes) && bytes > 0) return bytes;
    }
  }
  throw invalid(`limit must be a positive number of bytes or a size such as '100kb' (got ${String(limit)})`);
}

/** The default type: `application/json` and any `+json` subtype. */
function isJsonType(mediaType: string): boolean {
  return mediaType === 'application/json' || (mediaType.endsWith('+json') && mediaType.indexOf('/') > 0);
}

/** Whether `mediaType` (lowercase, without parameters) matches `pattern` (validated by {@link MEDIA_TYPE}). */
function matches(pattern: string, mediaType: string): boolean {
  const slash = mediaType.indexOf('/');
  if (slash <= 0) return false;
  const [type, subtype] = pattern.split('/') as [string, string];
  if (type !== '*' && type !== mediaType.slice(0, slash)) return false;
  if (subtype === '*') return true;
  if (subtype.startsWith('*+')) return mediaType.endsWith(subtype.slice(1));
  return subtype === mediaType.slice(slash + 1);
}

function typesOf(type: JsonBodyOptions['type']): JsonBodyPlan['parses'] {
  if (type === undefined) return (_req, mediaType) => isJsonType(mediaType);
  if (typeof type === 'function') return (req) => type(req) === true;
  const patterns = (typeof type === 'string' ? [type] : [...type]).map((pattern) => {
    const lower = typeof pattern === 'string' ? pattern.trim().toLowerCase() : '';
    if (!MEDIA_TYPE.test(lower)) {
      throw invalid(`type must be media types such as 'application/json' or '*/*+json' (got ${String(pattern)})`);
    }
    return lower;
  });
  if (patterns.length === 0) throw invalid('type must name at least one media type');
  return (_req, mediaType) => patterns.some((pattern) => matches(pattern, mediaType));
}

/**
 * Validates `json` (`true` or {@link JsonBodyOptions}) once. `maxBodyBytes`: the authenticator's
 * limit when the caller gave one: the default limit then, and a bound on `json.limit` (the smaller
 * applies).
 */
export function jsonBodyPlan(json: true | JsonBodyOptions, maxBodyBytes: number | undefined): JsonBodyPlan {
  const options: JsonBodyOptions = json === true ? {} : json;
  if (typeof options !== 'object' || options === null) throw invalid('must be true or an options object');
  if (options.strict !== undefined && typeof options.strict !== 'boolean') throw invalid('strict must be a boolean');
  const limit =
    options.limit === undefined
      ? (maxBodyBytes ?? DEFAULT_JSON_LIMIT)
      : Math.min(sizeOf(options.limit), maxBodyBytes ?? Number.POSITIVE_INFINITY);
  return { limit, parses: typesOf(options.type), strict: options.strict !== false };
}

/** The media type of a `Content-Type` value: lowercase, without parameters (`''` without one). */
export function mediaTypeOf(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semicolon = contentType.indexOf(';');
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** The `charset` parameter of a `Content-Type` value, lowercase and unquoted (`undefined` without one). */
export function charsetOf(contentType: string): string | undefined {
  let charset: string | undefined;
  for (const parameter of contentType.split(';').slice(1)) {
    const equals = parameter.indexOf('=');
    if (equals === -1 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return charset;
}

/**
 * What the head of a request with a body says before a byte is read: refused (a `Content-Encoding`,
 * a charset other than utf-8 on a body to parse), or whether the body is parsed as JSON.
 */
export function bodyRules(
  plan: JsonBodyPlan,
  req: Request,
  headers: Request['headers'],
): ContentEncodingUnsupported | CharsetUnsupported | boolean {
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    return new ContentEncodingUnsupported(
      'the body has a Content-Encoding; hmacAuth({ json }) reads identity bodies only',
    );
  }
  const contentType = headers['content-type'];
  const parses = plan.parses(req, mediaTypeOf(contentType));
  if (parses && contentType !== undefined && contentType.indexOf(';') !== -1) {
    const charset = charsetOf(contentType);
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return new CharsetUnsupported(`the JSON body is declared as ${JSON.stringify(charset)}; only utf-8 is read`);
    }
  }
  return parses;
}

/** Whitespace JSON allows before a value (RFC 8259): space, tab, line feed, carriage return. */
function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d;
}

/**
 * Parses verified body bytes as JSON (`JSON.parse`: a `"__proto__"` name is an own property, as
 * everywhere `JSON.parse` is used, never the prototype). A UTF-8 byte order mark is skipped, as
 * `express.json()` does; strict: the first value must be an object or an array. An empty body is
 * not parsed (`undefined`). Throws {@link BodyNotJson}.
 */
export function parseJsonBody(bytes: Buffer, strict: boolean): unknown {
  let start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (start === bytes.length) return undefined;
  if (strict) {
    let at = start;
    while (at < bytes.length && isJsonSpace(bytes[at]!)) at++;
    const first = bytes[at];
    if (first !== 0x7b && first !== 0x5b) {
      throw new BodyNotJson('strict JSON body: the top level must be an object or an array');
    }
    start = at;
  }
  try {
    return JSON.parse(bytes.toString('utf8', start));
  } catch {
    throw new BodyNotJson('the body is not valid JSON');
  }
}
