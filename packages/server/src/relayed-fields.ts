/**
 * The relay's answer head (see `relayedHeaders` in headers.ts, the general form it is held to)
 * without a `toString('latin1')` (a C++ call and a new string, ~700 instructions under callgrind)
 * and a lower-casing per upstream field and answer. An upstream answers with the same few names on
 * every response (`Content-Type`, `Content-Length`, `Date`, `Connection`, `Keep-Alive`) and
 * mostly the same values, so both are kept with their raw bytes in small bounded tables and found
 * again by comparing bytes.
 *
 * Invariant: a kept entry's text is exactly `latin1(bytes)` (a name's: lower-cased) of the bytes
 * stored beside it, a copy made when it was decoded, and an entry is used only when the field's
 * bytes equal those, byte for byte over the whole length. So every text handed out is what
 * decoding the field's own bytes gives, whatever the tables held before; and the answer head is
 * the general form's (test/relayed-fields.test.ts holds both over random sequences of answers).
 *
 * Only the values of the fields in {@link VALUES_KEPT} are kept: framing and caching fields that
 * carry nothing of one client's own (no `Set-Cookie`, no `Location`, nothing an application
 * names), so no answer's private value outlives its request in the table.
 */
import { connectionListed, HOP_BY_HOP, lowerCaseName } from './headers.js';

/** What the relay decides on one upstream field name, fixed by its lower-cased text. */
interface RelayedName {
  /** The name lower-cased (undici's parsed form), as written to the client. */
  readonly lower: string;
  /** `lower` with `_` read as `-`: the form a Connection list names it by. */
  readonly canonical: string;
  /** Never relayed: a hop-by-hop field, or `X-Request-Id` (the gateway writes its own). */
  readonly dropped: boolean;
  /** `Connection`: its value lists further fields not to relay. */
  readonly connection: boolean;
  /** The name's raw bytes (a copy) when the entry is kept in the table. */
  readonly bytes: Uint8Array | undefined;
  /** Whether the last value is kept (a field of {@link VALUES_KEPT}, name kept). */
  readonly keepsValues: boolean;
  /** The last value kept for this name: its bytes (a copy) and text. */
  valueBytes: Uint8Array | undefined;
  valueText: string;
}

/** Fields whose last value is kept per name: framing and caching fields, none of them a client's own. */
const VALUES_KEPT: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'date',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'server',
  'vary',
  'cache-control',
  'accept-ranges',
]);

/** Names and values longer than this are decoded every time and never kept. */
const LONGEST_KEPT = 64;
/** Slots of the name table (a power of two): a name has one slot; a newer name replaces the one there. */
const NAME_SLOTS = 128;
const keptNames: (RelayedName | undefined)[] = new Array(NAME_SLOTS).fill(undefined);

function slotOf(bytes: Uint8Array): number {
  const length = bytes.length;
  return (length * 31 + (bytes[0] as number) * 7 + (bytes[length - 1] as number) * 3) & (NAME_SLOTS - 1);
}

function sameBytes(kept: Uint8Array, bytes: Uint8Array): boolean {
  const length = kept.length;
  if (bytes.length !== length) return false;
  for (let index = 0; index < length; index++) if (kept[index] !== bytes[index]) return false;
  return true;
}

function describeName(lower: string, bytes: Uint8Array | undefined): RelayedName {
  return {
    lower,
    canonical: lower.indexOf('_') === -1 ? lower : lower.replaceAll('_', '-'),
    dropped: HOP_BY_HOP.has(lower) || lower === 'x-request-id',
    connection: lower === 'connection',
    bytes,
    keepsValues: bytes !== undefined && VALUES_KEPT.has(lower),
    valueBytes: undefined,
    valueText: '',
  };
}

/** The upstream field name in `bytes`: its lower-cased latin1 text and the decisions that depend on it alone. */
function relayedName(bytes: Buffer): RelayedName {
  const length = bytes.length;
  if (length === 0 || length > LONGEST_KEPT) return describeName(bytes.toString('latin1').toLowerCase(), undefined);
  const slot = slotOf(bytes);
  const kept = keptNames[slot];
  if (kept !== undefined && sameBytes(kept.bytes as Uint8Array, bytes)) return kept;
  const entry = describeName(bytes.toString('latin1').toLowerCase(), new Uint8Array(bytes));
  keptNames[slot] = entry;
  return entry;
}

/** The latin1 text of the value `bytes` of the field `name`: the kept one when the bytes are the same. */
function relayedValue(name: RelayedName, bytes: Buffer): string {
  if (!name.keepsValues || bytes.length > LONGEST_KEPT) return bytes.toString('latin1');
  const kept = name.valueBytes;
  if (kept !== undefined && sameBytes(kept, bytes)) return name.valueText;
  const text = bytes.toString('latin1');
  name.valueBytes = new Uint8Array(bytes);
  name.valueText = text;
  return text;
}

/**
 * The head the relay writes for an upstream answer as undici hands it over (raw names and values,
 * `[name, value, ...]`): exactly `relayedHeaders(raw, headers, requestId)` of headers.ts (hop-by-hop
 * fields and those the upstream's Connection lists left out, an upstream field the gateway sets
 * itself left out, names lower-cased, values byte for byte as latin1, then the gateway's `headers`
 * and `X-Request-Id`), from the kept names and values where the bytes match.
 *
 * @example
 * ```ts
 * relayedAnswerHeaders([Buffer.from('ETag'), Buffer.from('"a"')], { 'ratelimit-limit': '10' }, 'r1');
 * // ['etag', '"a"', 'ratelimit-limit', '10', 'x-request-id', 'r1']
 * ```
 */
export function relayedAnswerHeaders(
  raw: readonly Buffer[],
  headers: Record<string, string>,
  requestId: string,
): string[] {
  const count = raw.length >> 1;
  const names: RelayedName[] = new Array(count);
  // Every Connection field the upstream sent (a repeated one adds to the first).
  let connection: string | string[] | undefined;
  for (let field = 0; field < count; field++) {
    const name = relayedName(raw[2 * field] as Buffer);
    names[field] = name;
    if (!name.connection) continue;
    const value = relayedValue(name, raw[2 * field + 1] as Buffer);
    connection = connection === undefined ? value : [...(Array.isArray(connection) ? connection : [connection]), value];
  }
  const listed = connectionListed(connection);
  // The gateway's own fields (RateLimit, RateLimit-Policy): an upstream field of the same name, in
  // any case, is left out rather than sent beside them. Without any, nothing is built for them.
  let own: string[] | undefined;
  for (const name in headers) {
    if (own === undefined) own = [];
    own.push(lowerCaseName(name));
  }
  const out: string[] = [];
  for (let field = 0; field < count; field++) {
    const name = names[field] as RelayedName;
    if (name.dropped || listed?.has(name.canonical) || own?.includes(name.lower)) continue;
    out.push(name.lower, relayedValue(name, raw[2 * field + 1] as Buffer));
  }
  for (const name in headers) out.push(name, headers[name] as string);
  out.push('x-request-id', requestId);
  return out;
}
