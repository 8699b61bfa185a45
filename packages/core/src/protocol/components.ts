/**
 * RFC 9421 section 2: component identifiers, component values (HTTP fields and
 * derived components) and the signature base.
 */

import type { HeadersInit, MessageParts } from '../types.js';
import { canonicalHeaderOfLower, canonicalLine, canonicalLines, headerLines } from './headers.js';
import {
  type InnerList,
  type Item,
  isInnerList,
  parseDictionary,
  parseItem,
  parseList,
  serializeBareItem,
  serializeDictionary,
  serializeList,
  serializeMember,
  serializeParameters,
} from './structured-fields.js';

/** Thrown while computing a component value; callers turn it into their own error type. */
export class ComponentError extends Error {}

const DERIVED = new Set([
  '@method',
  '@target-uri',
  '@authority',
  '@scheme',
  '@request-target',
  '@path',
  '@query',
  '@query-param',
]);

/** Structured fields whose type we know, for the `sf` and `key` component parameters. */
const STRUCTURED_FIELD_TYPES: Readonly<Record<string, 'dictionary' | 'list'>> = {
  'accept-signature': 'dictionary',
  'content-digest': 'dictionary',
  'repr-digest': 'dictionary',
  signature: 'dictionary',
  'signature-input': 'dictionary',
  'want-content-digest': 'dictionary',
  'want-repr-digest': 'dictionary',
};

/**
 * Parses a component named by a caller or a policy: either a plain name
 * (`@method`, `content-type`, `@query-param;name="id"`) or an RFC 8941 string item
 * (`"@query-param";name="id"`). Throws `ComponentError`.
 */
export function parseComponentSpec(spec: string): Item {
  if (typeof spec !== 'string' || spec.length === 0)
    throw new ComponentError('component names must be non-empty strings');
  try {
    if (spec.startsWith('"')) return parseItem(spec, 'component identifier');
    const semicolon = spec.indexOf(';');
    const name = semicolon < 0 ? spec : spec.slice(0, semicolon);
    const params = semicolon < 0 ? new Map() : parseItem(`""${spec.slice(semicolon)}`, 'component identifier').params;
    return { value: name.startsWith('@') ? name : name.toLowerCase(), params };
  } catch {
    throw new ComponentError(`invalid component identifier ${JSON.stringify(spec)}`);
  }
}

/** `@method`, `content-type`, `@query-param;name="id"`: the readable form used in results and policies. */
export function componentLabel(item: Item): string {
  return String(item.value) + serializeParameters(item.params);
}

/** The identifier as it appears in the signature base and in `Signature-Input`. */
export function componentIdentifier(item: Item): string {
  // The usual identifier ("@method", "content-digest"): a parameterless string with nothing to
  // escape serialises to itself in quotes.
  if (item.params.size === 0 && typeof item.value === 'string' && PLAIN_STRING.test(item.value)) {
    return `"${item.value}"`;
  }
  return serializeMember(item);
}

// Printable ASCII except '"' and '\\' (RFC 8941 sf-string characters that need no escape).
const PLAIN_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Percent-encodes per the WHATWG application/x-www-form-urlencoded percent-encode
 * set, spaces as %20, which is how RFC 9421 section 2.2.8 re-encodes `@query-param`
 * names and values (its examples encode spaces as %20, not "+").
 */
export function formEncode(text: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9*\-._]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What the derived components read of a request URL: a WHATWG `URL`, or these parts of one. */
export interface RequestUrl {
  readonly href: string;
  readonly host: string;
  readonly protocol: string;
  readonly pathname: string;
  readonly search: string;
}

/** The request as components see it. `added` holds headers the signer is about to add (e.g. Content-Digest). */
export interface ComponentContext {
  method: string;
  url: RequestUrl;
  headers: HeadersInit;
  added?: Readonly<Record<string, string>>;
}

// Request URLs parsed before: the text -> the parts of its WHATWG URL, frozen. Parsing an absolute
// URL depends on its text alone (no base), so the same text yields the same parts without the
// parser (~3.7k instructions through node's URL binding for a typical URL; the lookup hashes the
// text natively). A client calls a few URLs over and over; the map is emptied when it reaches its
// bound, URLs longer than MAX_REMEMBERED_URL_LENGTH are parsed each time, and failures are not kept.
const rememberedUrls = new Map<string, RequestUrl>();
const REMEMBERED_URLS_LIMIT = 64;
const MAX_REMEMBERED_URL_LENGTH = 2048;
let lastUrlText = '';
let lastUrl: RequestUrl | undefined;

/** Parses an absolute request URL, failing with `ComponentError`. */
export function parseRequestUrl(url: string | URL): RequestUrl {
  // A URL object is already parsed and normalised (parsing its href again yields the same parts);
  // components only read it.
  if (url instanceof URL) return url;
  const text = String(url);
  // The URL parsed last, compared whole, before hashing the text for the map.
  if (text === lastUrlText && lastUrl !== undefined) return lastUrl;
  const remember = text.length <= MAX_REMEMBERED_URL_LENGTH;
  let parts = remember ? rememberedUrls.get(text) : undefined;
  if (parts === undefined) {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      throw new ComponentError('request URL is not an absolute URL');
    }
    parts = Object.freeze({
      href: parsed.href,
      host: parsed.host,
      protocol: parsed.protocol,
      pathname: parsed.pathname,
      search: parsed.search,
    });
    if (!remember) return parts;
    if (rememberedUrls.size >= REMEMBERED_URLS_LIMIT) rememberedUrls.clear();
    rememberedUrls.set(text, parts);
  }
  lastUrlText = text;
  lastUrl = parts;
  return parts;
}

/** Builds the component context of a message. */
export function contextOf(message: MessageParts, added?: Record<string, string>): ComponentContext {
  if (typeof message.method !== 'string' || message.method.length === 0) throw new ComponentError('missing method');
  return { method: message.method, url: parseRequestUrl(message.url), headers: message.headers ?? {}, added };
}

function headerFromContext(context: ComponentContext, name: string): string[] | undefined {
  const added = context.added?.[name];
  if (added !== undefined) return [added];
  return headerLines(context.headers, name);
}

function derivedValue(context: ComponentContext, item: Item): string {
  const name = item.value as string;
  if (item.params.size > 0) {
    for (const key of item.params.keys()) {
      if (!(name === '@query-param' && key === 'name')) {
        throw new ComponentError(`parameter "${key}" is not supported on ${name}`);
      }
    }
  }
  if (name !== '@query-param') return plainDerivedValue(context, name);
  const wanted = item.params.get('name');
  if (typeof wanted !== 'string') throw new ComponentError('@query-param needs a string "name" parameter');
  const values: string[] = [];
  for (const [key, value] of new URLSearchParams(context.url.search)) {
    if (formEncode(key) === wanted) values.push(formEncode(value));
  }
  if (values.length === 0) throw new ComponentError(`query parameter "${wanted}" is not in the request`);
  // RFC 9421 2.2.8: a repeated name cannot be signed individually; sign @query instead.
  if (values.length > 1) throw new ComponentError(`query parameter "${wanted}" occurs more than once`);
  return values[0]!;
}

/**
 * The value of a derived component other than `@query-param`, which takes no parameters: what
 * {@link derivedValue} answers for that name without parameters, with no item object.
 */
function plainDerivedValue(context: ComponentContext, name: string): string {
  const url = context.url;
  switch (name) {
    case '@method':
      return context.method;
    case '@target-uri':
      return url.href.replace(/#.*$/, '');
    case '@authority':
      // WHATWG URL already lowercases the host and drops the scheme's default port.
      return url.host;
    case '@scheme':
      return url.protocol.slice(0, -1).toLowerCase();
    case '@request-target':
      return url.pathname + url.search;
    case '@path':
      return url.pathname;
    case '@query': {
      // "?" and the query, or "?" alone for none (url.search is "" then).
      const search = url.search;
      return search.length === 0 ? '?' : search;
    }
    case '@query-param':
      // Reached without parameters only (derivedValue() reads a named one itself).
      throw new ComponentError('@query-param needs a string "name" parameter');
    default:
      throw new ComponentError(`derived component ${name} is not supported for requests`);
  }
}

function fieldValue(context: ComponentContext, item: Item): string {
  const name = item.value as string;
  if (name !== name.toLowerCase()) throw new ComponentError(`field name ${JSON.stringify(name)} must be lowercase`);
  for (const key of item.params.keys()) {
    if (key !== 'sf' && key !== 'key' && key !== 'bs') {
      throw new ComponentError(`component parameter "${key}" is not supported on ${name}`);
    }
  }
  const sf = item.params.get('sf') === true;
  const bs = item.params.get('bs') === true;
  const keyParam = item.params.get('key');
  if (keyParam !== undefined && typeof keyParam !== 'string')
    throw new ComponentError('"key" parameter must be a string');
  const key = keyParam as string | undefined;
  if (bs && (sf || key !== undefined)) throw new ComponentError('"bs" cannot be combined with "sf" or "key"');
  const lines = headerFromContext(context, name);
  if (lines === undefined) throw new ComponentError(`covered field "${name}" is not present`);
  if (bs) {
    return lines.map((line) => serializeBareItem(latin1Bytes(line.replace(/^[ \t]+|[ \t]+$/g, '')))).join(', ');
  }
  const value = canonicalLines(lines);
  if (!sf && key === undefined) return value;
  const type = STRUCTURED_FIELD_TYPES[name];
  if (!type) throw new ComponentError(`"${name}" is not a known structured field`);
  try {
    if (key !== undefined) {
      if (type !== 'dictionary') throw new ComponentError(`"${name}" is not a dictionary`);
      const member = parseDictionary(value, name).get(key);
      if (!member) throw new ComponentError(`"${name}" has no member "${key}"`);
      return serializeMember(member);
    }
    return type === 'dictionary'
      ? serializeDictionary(parseDictionary(value, name))
      : serializeList(parseList(value, name));
  } catch (error) {
    if (error instanceof ComponentError) throw error;
    throw new ComponentError(`"${name}" is not a valid structured field`);
  }
}

/**
 * The value of one component (RFC 9421 sections 2.1 and 2.2). Throws `ComponentError`.
 */
export function componentValue(context: ComponentContext, item: Item): string {
  if (typeof item.value !== 'string' || item.value.length === 0) {
    throw new ComponentError('component identifiers must be non-empty strings');
  }
  const name = item.value;
  if (name === '@signature-params') throw new ComponentError('@signature-params cannot be covered');
  let value: string;
  if (name.charCodeAt(0) === 0x40 /* @ */) {
    if (!DERIVED.has(name)) throw new ComponentError(`unknown derived component ${name}`);
    value = derivedValue(context, item);
  } else {
    value = fieldValue(context, item);
  }
  if (/[\r\n]/.test(value)) throw new ComponentError(`component ${name} contains a line break`);
  return value;
}

/**
 * Builds the signature base (RFC 9421 section 2.5) for the covered components and
 * parameters held in `signatureParams`. Throws `ComponentError` when a component is
 * missing, duplicated or unsupported.
 */
export function buildSignatureBase(
  context: ComponentContext,
  signatureParams: InnerList,
  identifiers?: readonly string[],
): string {
  // `identifiers`, when given, are componentIdentifier() of each item, already computed by the
  // verifier: serializing them again (and once more for @signature-params) was measurable.
  const seen = new Set<string>();
  const ids: string[] = [];
  let base = '';
  const items = signatureParams.items;
  for (let index = 0; index < items.length; index++) {
    const item = items[index]!;
    if (isInnerList(item)) throw new ComponentError('covered components must be strings');
    const identifier = identifiers?.[index] ?? componentIdentifier(item);
    if (seen.has(identifier)) throw new ComponentError(`component ${identifier} is covered twice`);
    seen.add(identifier);
    ids.push(identifier);
    base += `${identifier}: ${componentValue(context, item)}\n`;
  }
  // The same text as serializeMember(signatureParams): "(" + identifiers + ")" + parameters.
  return `${base}"@signature-params": (${ids.join(' ')})${serializeParameters(signatureParams.params)}`;
}

/**
 * The signature base as bytes. JavaScript header strings hold one octet per
 * character (Fetch ByteString, Node's latin1 decoding), so each character maps to
 * one byte: the bytes the field had on the wire.
 */
/**
 * The signature base for components that are plain names (no parameters), with the
 * `@signature-params` value given as text: what {@link buildSignatureBase} returns for the same
 * input, without building or serialising items. The caller guarantees plain, distinct ASCII
 * names and that `signatureParams` is the canonical (ASCII) serialisation. Every character of
 * the result is at most U+00FF (field values are checked; derived values are ASCII from the
 * WHATWG URL, and the method is checked), so it can be MACed as latin-1 without another pass.
 *
 * `verifier` (the RFC 9421 verifier's common shape): the names are lower case already (its parser
 * accepts no other), so fields are looked up without lower-casing them, and the octet check is left
 * to the caller: the result may then hold a character above U+00FF, and the caller must refuse it
 * with {@link NOT_OCTETS} before MACing it as latin-1 (the verifier learns that a base is ASCII from
 * encoding it for the MAC, which makes a separate scan of every field value redundant in the usual
 * case). Everything else (missing fields, line breaks, their order) is checked as without it.
 */
export function plainSignatureBase(
  context: ComponentContext,
  names: readonly string[],
  signatureParams: string,
  verifier = false,
): string {
  if (verifier) baseContentDigest = undefined;
  // The base is joined from each component's kept line prefix (`"name": `, with the line break
  // before it after the first) and its value: two string additions per component instead of a
  // template line per component and its intermediate strings (see linePrefixAt()).
  let base = '';
  // Reported after every component, as latin1Bytes() of the finished base would.
  let octets = true;
  for (let index = 0; index < names.length; index++) {
    const name = names[index]!;
    let value: string;
    if (name.charCodeAt(0) === 0x40 /* @ */) {
      if (name === '@signature-params') throw new ComponentError('@signature-params cannot be covered');
      if (!DERIVED.has(name)) throw new ComponentError(`unknown derived component ${name}`);
      // derivedValue() of the name without parameters, with no item object per component.
      value = plainDerivedValue(context, name);
      // The WHATWG URL parser drops tabs and newlines and percent-encodes the rest: only the
      // method, a caller's string, needs the checks.
      if (name === '@method') {
        if (!verifier && !LATIN1.test(value)) octets = false;
        if (hasLineBreak(value)) throw new ComponentError(`component ${name} contains a line break`);
      }
    } else {
      // canonicalLines(headerFromContext(...)) without the lines array for the usual single line
      // (canonicalLine and canonicalHeaderOfLower's invariants); the verifier's names are lower
      // case already, headerFromContext() lower-cases a signer's.
      const added = context.added?.[name];
      const found =
        added !== undefined
          ? canonicalLine(added)
          : canonicalHeaderOfLower(context.headers, verifier ? name : name.toLowerCase());
      if (found === undefined) throw new ComponentError(`covered field "${name}" is not present`);
      value = found;
      if (!verifier && !LATIN1.test(value)) octets = false;
      if (hasLineBreak(value)) throw new ComponentError(`component ${name} contains a line break`);
      if (verifier && name === 'content-digest') baseContentDigest = value;
    }
    base = base + linePrefixAt(index, name) + value;
  }
  if (!octets) throw new ComponentError(NOT_OCTETS);
  return base + (names.length === 0 ? PARAMS_LINE : PARAMS_NEXT_LINE) + signatureParams;
}

const PARAMS_LINE = '"@signature-params": ';
const PARAMS_NEXT_LINE = '\n"@signature-params": ';

// The line prefix of the component at each position of the base (`"name": ` at position 0,
// `\n"name": ` after it) for the names last seen there. A verifier sees the same list on nearly
// every request, so the usual lookup is one comparison of the name with the one kept (a pointer
// comparison for the parser's interned names), and a prefix shared by every base is not allocated
// per request. Invariant: linePrefixAt(index, name) is the prefix built from `name` for `index`
// (a kept prefix is replaced whenever the name at its position differs). Positions past
// MAX_KEPT_POSITIONS and names longer than MAX_KEPT_NAME_LENGTH build their prefix each time.
const keptNames: (string | undefined)[] = [];
const keptPrefixes: string[] = [];
const MAX_KEPT_POSITIONS = 32;
// Names come from requests: a long one is not kept (nor its prefix) beyond the request.
const MAX_KEPT_NAME_LENGTH = 64;

function linePrefixAt(index: number, name: string): string {
  if (index < keptNames.length && keptNames[index] === name) return keptPrefixes[index]!;
  const prefix = index === 0 ? `"${name}": ` : `\n"${name}": `;
  if (index < MAX_KEPT_POSITIONS && name.length <= MAX_KEPT_NAME_LENGTH) {
    // Fill the positions before this one first (a list longer than any seen before).
    // (undefined: no name there yet, equal to no name).
    while (keptNames.length < index) {
      keptNames.push(undefined);
      keptPrefixes.push('');
    }
    keptNames[index] = name;
    keptPrefixes[index] = prefix;
  }
  return prefix;
}

/**
 * The `content-digest` line's value of the last base {@link plainSignatureBase} built with
 * `verifier` (undefined when that base does not cover the field), for the RFC 9421 verifier to read
 * right after the call (synchronously) instead of looking the field up a second time.
 */
let baseContentDigest: string | undefined;

/**
 * What the last `verifier` call of {@link plainSignatureBase} put on its `"content-digest"` line:
 * `canonicalHeaderOfLower(context.headers, 'content-digest')` (the verifier's context has no added
 * fields), or undefined when the base does not cover the field. Valid only right after a call that
 * returned, before anything else runs. Not re-exported from the package.
 *
 * @example
 * ```ts
 * const base = plainSignatureBase(context, labels, params, true);
 * const digest = lastBaseContentDigest(); // the same text the base covered
 * ```
 */
export function lastBaseContentDigest(): string | undefined {
  return baseContentDigest;
}

function hasLineBreak(value: string): boolean {
  return value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1;
}

export function latin1Bytes(text: string): Uint8Array {
  // Signature bases are nearly always ASCII, where latin-1 and UTF-8 agree: let the native
  // encoder copy them instead of a JavaScript loop over every character.
  // UTF-8 turns every code unit above 0x7F into two or more bytes, so an output as long as the
  // text means it was all ASCII: no separate scan of the text needed.
  const encoded = asciiEncoder.encode(text);
  if (encoded.length === text.length) return encoded;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new ComponentError(NOT_OCTETS);
    out[i] = code;
  }
  return out;
}

const asciiEncoder = new TextEncoder();
// No UTF-16 code unit above U+00FF (written as a negated range: biome refuses control characters).
const LATIN1 = /^[^\u0100-\uffff]*$/;
/** The refusal of a field value with a character above U+00FF (a signature base is octets). */
export const NOT_OCTETS = 'header values must be octets (characters up to U+00FF)';

/** Whether every character of `text` is at most U+00FF (so it stands for its latin-1 bytes). */
export function isLatin1(text: string): boolean {
  return LATIN1.test(text);
}
