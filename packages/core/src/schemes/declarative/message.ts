/**
 * A declarative scheme's message/MAC logic, standalone (usable without the scheme contract): the
 * exact bytes a client signs ({@link buildDeclarativeMessage}), the MAC read from its header
 * ({@link parseDeclarativeSignature}), its timestamps ({@link parseDeclarativeTime}) and the values
 * read from a header or a field of the JSON body.
 */

import { SignatureInvalid, SignatureMalformed } from '../../errors.js';
import { concatBytes, fromBase64, fromHex, fromUtf8, utf8 } from '../../primitives/encoding.js';
import { getHeader, headerValues } from '../../protocol/headers.js';
import type { MessageParts } from '../../types.js';
import { splitUrl } from '../compat-support.js';
import { djangoJsonSerialization } from '../django-hmac/body.js';
import { PythonJsonError } from '../django-hmac/python-json.js';
import { pythonStrOfJson } from '../django-hmac/python-repr.js';
import type { DeclarativeSchemeDefinition, ValueSource } from './definition.js';

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

/** A value (timestamp) from its header or JSON body field, as text; `undefined` when absent or unreadable. */
export function readSource(source: ValueSource, input: DeclarativeInput): string | undefined {
  if ('header' in source) return getHeader(input.headers, source.header);
  if (!input.body || input.body.length === 0) return undefined;
  try {
    return fieldText(jsonPath(JSON.parse(fromUtf8(input.body)), source.jsonField));
  } catch {
    return undefined;
  }
}
