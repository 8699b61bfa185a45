/**
 * Reading an RFC 9421 signature: the `Signature-Input` member to verify (the common shape in one
 * scan, anything else through the general RFC 8941 parser), its parameters, and the credentials the
 * pipeline hands the other phases.
 */

import { AlgorithmUnsupported, SignatureMalformed, SignatureMissing } from '../../errors.js';
import type { Credentials } from '../../pipeline/contract.js';
import { internalized } from '../../primitives/intern.js';
import { componentIdentifier, componentLabel } from '../../protocol/components.js';
import { getHeadersOfLower } from '../../protocol/headers.js';
import {
  type InnerList,
  isInnerList,
  type Parameters,
  parseDictionary,
  plainByteSequence,
} from '../../protocol/structured-fields.js';
import type { MessageParts } from '../../types.js';
import { HASH_FOR_ALG, type Rfc9421Config } from './options.js';

/** What {@link createRfc9421Parser}'s parse reads: the selected signature and its parameters. */
export interface Rfc9421Credentials extends Credentials {
  readonly selected: SelectedSignature;
}

export interface SelectedSignature {
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
  // Both fields in one pass over the headers (getHeadersOfLower's invariant: the two lookups' answers).
  const found = getHeadersOfLower(message.headers, 'signature-input', 'signature');
  const inputHeader = found.first;
  const signatureHeader = found.second;
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
// place: slicing every key was a string allocation per parameter. The first character picks the
// one candidate of each length, so at most one startsWith per parameter.
function knownParam(text: string, start: number, length: number): number {
  const first = text.charCodeAt(start);
  if (length === 7) {
    if (first === 0x63 /* c */) return text.startsWith('created', start) ? CREATED : 0;
    return first === 0x65 /* e */ && text.startsWith('expires', start) ? EXPIRES : 0;
  }
  if (length === 5) {
    if (first === 0x6e /* n */) return text.startsWith('nonce', start) ? NONCE : 0;
    return first === 0x6b /* k */ && text.startsWith('keyid', start) ? KEYID : 0;
  }
  if (length === 3) {
    if (first === 0x61 /* a */) return text.startsWith('alg', start) ? ALG : 0;
    return first === 0x74 /* t */ && text.startsWith('tag', start) ? TAG : 0;
  }
  return 0;
}

// Component names and algorithms most signatures carry, as the constant strings the rest of the
// verifier compares them with (derivedValue's switch, DERIVED, HASH_FOR_ALG, covers): a label equal
// to one of these is that constant, so those comparisons and lookups find it by identity and its
// hash is already known, instead of comparing and hashing a fresh slice of the header each time.
const KNOWN_NAMES: readonly string[] = [
  '@method',
  '@authority',
  '@path',
  '@query',
  '@target-uri',
  '@scheme',
  '@request-target',
  'content-digest',
  'content-type',
  'content-length',
  'host',
  'date',
];
const KNOWN_ALGORITHMS: readonly string[] = ['hmac-sha256', 'hmac-sha384', 'hmac-sha512'];

/** text[start, end) as a string: the equal constant of `known` when there is one, else a slice. */
function knownOrSlice(text: string, start: number, end: number, known: readonly string[]): string {
  const length = end - start;
  for (let index = 0; index < known.length; index++) {
    const candidate = known[index]!;
    if (candidate.length === length && text.startsWith(candidate, start)) return candidate;
  }
  return text.slice(start, end);
}

// Covered-component lists this parser read before: the text from "(" to ")" inclusive -> the
// labels it parsed to. A list's parse depends on that text alone (it stops at the first ")", which
// no label contains), so the same text yields the same labels without being scanned again (a scan
// in JavaScript costs ~40 instructions per character; the lookup hashes the text natively). A
// deployment's clients send a few lists (one per signer configuration); the map is emptied when it
// reaches its bound, and a list longer than MAX_REMEMBERED_LIST_LENGTH is parsed each time.
const rememberedLists = new Map<string, readonly string[]>();
const REMEMBERED_LISTS_LIMIT = 64;
const MAX_REMEMBERED_LIST_LENGTH = 512;
let lastList: { readonly text: string; readonly labels: readonly string[] } = { text: '', labels: [] };

/**
 * Reads the covered-component list starting at text[start] ("("): the labels and the index just
 * past its ")", or undefined when it is not of the common shape (no parameters, plain names in
 * quotes separated by single spaces, no repeats). The labels are a fresh array per call: callers
 * hand them out in results.
 */
function readComponentList(text: string, start: number): { labels: string[]; end: number } | undefined {
  const close = text.indexOf(')', start);
  if (close !== -1 && close - start < MAX_REMEMBERED_LIST_LENGTH) {
    const listText = text.slice(start, close + 1);
    // The list read last, compared whole, before hashing the text for the map.
    if (listText === lastList.text) return { labels: lastList.labels.slice(), end: close + 1 };
    const known = rememberedLists.get(listText);
    if (known !== undefined) {
      lastList = { text: listText, labels: known };
      return { labels: known.slice(), end: close + 1 };
    }
  }
  const length = text.length;
  let i = start + 1;
  const labels: string[] = [];
  if (text.charCodeAt(i) !== 0x29 /* ) */) {
    for (;;) {
      if (text.charCodeAt(i) !== 0x22 /* " */) return undefined;
      const nameStart = ++i;
      const c = text.charCodeAt(i);
      if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x40) /* @ */) return undefined;
      i++;
      while (i < length && isNameChar(text.charCodeAt(i))) i++;
      if (text.charCodeAt(i) !== 0x22) return undefined;
      const component = knownOrSlice(text, nameStart, i, KNOWN_NAMES);
      if (labels.includes(component)) return undefined;
      labels.push(component);
      const next = text.charCodeAt(++i);
      if (next === 0x29) break;
      if (next !== 0x20 || text.charCodeAt(i + 1) === 0x29) return undefined;
      i++;
    }
  }
  const end = i + 1;
  if (end - start <= MAX_REMEMBERED_LIST_LENGTH) {
    if (rememberedLists.size >= REMEMBERED_LISTS_LIMIT) rememberedLists.clear();
    // Kept unfrozen (a frozen array's slice() takes V8's slow path) and never handed out.
    const remembered = labels.slice();
    rememberedLists.set(text.slice(start, end), remembered);
    lastList = { text: text.slice(start, end), labels: remembered };
  }
  return { labels, end };
}

// Parameter tails this parser read before: the text from the first parameter that is not created,
// expires or nonce (the ones that change per request; in practice `;keyid="...";alg="..."`) to the
// end of the field -> what that text sets. Within the loop below, a tail's reading depends on its
// text alone except for the repeat checks against the parameters before it, which are made when a
// remembered tail is taken. A tail is remembered only when it sets none of created, expires and
// nonce (so per-request values never fill the map), reads to the end of the field and is at most
// MAX_REMEMBERED_TAIL_LENGTH long; the map is emptied when it reaches its bound.
interface ParamTail {
  readonly text: string;
  readonly keyId: string | undefined;
  readonly alg: string | undefined;
  readonly tag: string | undefined;
  /** The unknown parameters' names, in order; undefined for none. */
  readonly others: readonly string[] | undefined;
}
const rememberedTails = new Map<string, ParamTail>();
const REMEMBERED_TAILS_LIMIT = 64;
const MAX_REMEMBERED_TAIL_LENGTH = 256;
let lastTail: ParamTail | undefined;

function rememberedTail(text: string, start: number): ParamTail | undefined {
  if (text.length - start > MAX_REMEMBERED_TAIL_LENGTH) return undefined;
  const tailText = text.slice(start);
  // The tail read last, compared whole, before hashing the text for the map.
  if (lastTail !== undefined && tailText === lastTail.text) return lastTail;
  const known = rememberedTails.get(tailText);
  if (known !== undefined) lastTail = known;
  return known;
}

function rememberTail(tail: ParamTail): void {
  if (rememberedTails.size >= REMEMBERED_TAILS_LIMIT) rememberedTails.clear();
  rememberedTails.set(tail.text, tail);
  lastTail = tail;
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
  const nameEnd = i;
  const name = text.slice(0, nameEnd);
  if (label !== undefined && name !== label) return undefined;
  if (text.charCodeAt(i) !== 0x3d /* = */ || text.charCodeAt(i + 1) !== 0x28 /* ( */) return undefined;

  const list = readComponentList(text, i + 1);
  if (list === undefined) return undefined;
  const labels = list.labels;
  i = list.end;

  let created: number | undefined;
  let expires: number | undefined;
  let nonce: string | undefined;
  let keyId: string | undefined;
  let alg: string | undefined;
  let tag: string | undefined;
  let others: string[] | undefined;
  // Where the tail starts (-1: not reached yet), whether it was a remembered one, what was set
  // before it, and where the last of created, expires and nonce was read.
  let tailStart = -1;
  let tailTaken = false;
  let perRequestAt = -1;
  let keyIdBefore = false;
  let algBefore = false;
  let tagBefore = false;
  let othersBefore = 0;
  while (i < length) {
    if (text.charCodeAt(i) !== 0x3b /* ; */) return undefined;
    if (tailStart === -1) {
      const first = text.charCodeAt(i + 1);
      if (first !== 0x63 /* c */ && first !== 0x65 /* e */ && first !== 0x6e /* n */) {
        tailStart = i;
        const tail = rememberedTail(text, i);
        if (tail !== undefined) {
          // What the tail sets must not repeat what came before it (repeats go to the general parser).
          if (tail.keyId !== undefined) {
            if (keyId !== undefined) return undefined;
            keyId = tail.keyId;
          }
          if (tail.alg !== undefined) {
            if (alg !== undefined) return undefined;
            alg = tail.alg;
          }
          if (tail.tag !== undefined) {
            if (tag !== undefined) return undefined;
            tag = tail.tag;
          }
          if (tail.others !== undefined && others !== undefined) {
            for (const key of tail.others) if (others.includes(key)) return undefined;
          }
          tailTaken = true;
          i = length;
          break;
        }
        keyIdBefore = keyId !== undefined;
        algBefore = alg !== undefined;
        tagBefore = tag !== undefined;
        othersBefore = others === undefined ? 0 : others.length;
      }
    }
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
      string = param === ALG ? knownOrSlice(text, start, i, KNOWN_ALGORITHMS) : text.slice(start, i);
      i++;
    } else {
      const negative = c === 0x2d; /* - */
      if (negative) c = text.charCodeAt(++i);
      if (c === 0x30 /* 0 */) {
        if (negative) return undefined; // -0 serialises as 0
        integer = 0;
        i++;
      } else {
        if (!(c >= 0x31 && c <= 0x39)) return undefined;
        // At most 15 digits (below 2^53): the sum is exact, the value Number() gives the digits.
        const digitsStart = i;
        let value = 0;
        while (i < length) {
          const digit = text.charCodeAt(i) - 0x30;
          if (digit < 0 || digit > 9) break;
          value = value * 10 + digit;
          i++;
        }
        if (i - digitsStart > 15) return undefined;
        integer = negative ? -value : value;
      }
      // 1.5, 10e3, tokens after digits: not an integer of this shape.
      if (i < length && text.charCodeAt(i) !== 0x3b) return undefined;
    }
    // A repeated parameter keeps its first position with the last value: not its own text, so
    // repeats go to the general parser (known ones are told apart by their values being set).
    switch (param) {
      case CREATED:
        if (integer === undefined || created !== undefined) return undefined;
        created = integer;
        perRequestAt = keyStart;
        break;
      case EXPIRES:
        if (integer === undefined || expires !== undefined) return undefined;
        expires = integer;
        perRequestAt = keyStart;
        break;
      case NONCE:
        if (string === undefined || nonce !== undefined) return undefined;
        nonce = string;
        perRequestAt = keyStart;
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
  // A tail read here in full (not remembered, as it was looked up): remembered when it sets none of
  // the per-request parameters.
  if (!tailTaken && tailStart !== -1 && perRequestAt < tailStart && length - tailStart <= MAX_REMEMBERED_TAIL_LENGTH) {
    rememberTail({
      text: text.slice(tailStart),
      // Internalized once here: every request that takes this tail hands the same key id to the
      // resolver, the throttle and the rate limiter, whose comparisons are then inline (intern.ts).
      keyId: keyIdBefore || keyId === undefined ? undefined : internalized(keyId),
      alg: algBefore ? undefined : alg,
      tag: tagBefore ? undefined : tag,
      others: others === undefined || others.length === othersBefore ? undefined : others.slice(othersBefore),
    });
  }
  // Not ours (another party's signature) or missing parameters: the general path decides. The usual
  // algorithm is the constant knownOrSlice() hands out, told by identity before the prefix check
  // (an inlined startsWith costs ~0.2k instructions; the answer is the same for that string).
  if (
    (alg !== undefined && alg !== 'hmac-sha256' && !alg.startsWith('hmac-')) ||
    keyId === undefined ||
    created === undefined
  ) {
    return undefined;
  }

  // Signature: exactly `<name>=:<base64>:` (the key is this member's: the key characters end at
  // "=", so a header starting with name and "=" has name as its whole key).
  if (
    !signatureHeader.startsWith(name) ||
    signatureHeader.charCodeAt(nameEnd) !== 0x3d /* = */ ||
    signatureHeader.charCodeAt(nameEnd + 1) !== 0x3a /* : */
  ) {
    return undefined;
  }
  const signature = plainByteSequence(signatureHeader, nameEnd + 2);
  if (signature === undefined) return undefined;
  return {
    label: name,
    signature,
    params: { keyId, created, expires, nonce, alg, tag },
    identifiers: undefined,
    labels,
    input: undefined,
    signatureParams: text.slice(nameEnd + 1),
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
export function covers(selected: Pick<SelectedSignature, 'identifiers' | 'labels'>, identifier: string): boolean {
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

/**
 * {@link covers} for an identifier that is a plain name in quotes (`identifier` is `"${name}"`,
 * as componentIdentifier() writes a parameterless name with nothing to escape): the common shape's
 * labels are compared with the name whole instead of character by character.
 */
export function coversName(
  selected: Pick<SelectedSignature, 'identifiers' | 'labels'>,
  identifier: string,
  name: string,
): boolean {
  return selected.identifiers !== undefined
    ? selected.identifiers.includes(identifier)
    : selected.labels.includes(name);
}

export interface SignatureParams {
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

/** The detect and parse phases of one `rfc9421()`. */
export interface Rfc9421Parser {
  detect(message: MessageParts): boolean;
  parse(message: MessageParts): Rfc9421Credentials;
}

/**
 * The RFC 9421 parser for one configuration (only signatures with its label, when it has one).
 *
 * @example
 * ```ts
 * const { detect, parse } = createRfc9421Parser(resolveRfc9421Options({}));
 * ```
 */
export function createRfc9421Parser(config: Rfc9421Config): Rfc9421Parser {
  const { label } = config;

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

  return {
    detect(message: MessageParts): boolean {
      const headers = message.headers ?? {};
      // Fast path (issue #15, session 26): node:http's headers carry both fields as own string values
      // under their lower-case names. Invariant: when both are own string properties of a plain
      // record (not a Headers-like object, which getHeadersOfLower reads through get()), the scan
      // below finds both too (it takes every own key equal to the name, a string value is a line),
      // so the answer is true either way; anything else (absent, other case, arrays, a Headers
      // object) goes to the scan. Presence only: parse() still reads and joins the fields itself.
      // Held to the scan by packages/core/test/rfc9421-detect.test.ts (fast-check).
      const record = headers as Record<string, unknown>;
      if (
        typeof record['signature-input'] === 'string' &&
        typeof record.signature === 'string' &&
        Object.hasOwn(record, 'signature-input') &&
        Object.hasOwn(record, 'signature') &&
        typeof record.get !== 'function'
      ) {
        return true;
      }
      const found = getHeadersOfLower(headers, 'signature-input', 'signature');
      return found.first !== undefined && found.second !== undefined;
    },
    parse,
  };
}
