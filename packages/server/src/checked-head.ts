/**
 * Response heads whose fields this server has already checked, written without node:http checking
 * every name and value again (issue #15, session 20: forward-auth's 200 carries nine fields, and
 * node's `validateHeaderName` + `validateHeaderValue`, two regular expressions a field, were ~9k of
 * its ~175k instructions per request).
 *
 * How: node:http keeps the fields set with `setHeader()` in a null-prototype object under an
 * internal symbol (`kOutHeaders`, lib/_http_outgoing.js: `{ [lowercased name]: [name, value] }`),
 * checked when they were set; `writeHead(status)` with no fields of its own writes exactly those,
 * unchecked (`_storeHeader`: `validate` is false for them). {@link writeCheckedHead} fills that
 * object with fields checked here, by node's own exported rules (`validateHeaderName`,
 * `validateHeaderValue`), once per distinct value where a value repeats (a key's identity), and
 * calls `writeHead(status)`. The bytes on the wire are those of `writeHead(status, [name, value,
 * ...])`: same fields, same order, same framing and keep-alive fields added by node.
 *
 * Relying on node internals is guarded: at start-up a probe response is written both ways and the
 * two heads must be the same string (and `getHeader()` must read the field back), else (another
 * node, a changed internal) every head goes the public way, `writeHead(status, flat list)`, which
 * checks each field again. A response that already has a field set (draining's `Connection:
 * close`, a tracer's) also goes the public way: node merges the two with `setHeader()`, checked.
 */
import { type OutgoingHttpHeader, ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';

/** One field of a checked head: node:http's own entry shape, `[name as written, value]`. */
export type CheckedField = readonly [name: string, value: string | number];

/**
 * The fields of a head, by lower-cased name, each already checked with node's rules (see
 * {@link checkedField}). Invariant: every name and value in it passed `validateHeaderName` /
 * `validateHeaderValue`; the object is built for one response (node reads it, and `getHeader()`
 * reads it afterwards).
 */
export type CheckedFields = Record<string, CheckedField>;

/**
 * A field checked with node:http's own rules (a name that is not a token, a value with CR, LF, NUL
 * or another control character throw node's errors, `ERR_INVALID_HTTP_TOKEN` / `ERR_INVALID_CHAR`,
 * as `writeHead()` would).
 *
 * @example
 * ```ts
 * checkedField('cache-control', 'no-store'); // ['cache-control', 'no-store']
 * checkedField('x-a', 'b\r\nSet-Cookie: c'); // throws ERR_INVALID_CHAR
 * ```
 */
export function checkedField(name: string, value: string | number): CheckedField {
  validateHeaderName(name);
  validateHeaderValue(name, value as string);
  return Object.freeze([name, value] as const);
}

/** What every {@link newCheckedFields} object inherits: nothing (no `constructor`, no `__proto__` accessor). */
const NO_FIELDS: object = Object.create(null);

/**
 * A fresh, empty {@link CheckedFields}. Its prototype is an empty object without a prototype, so
 * no name reads an inherited property (`getHeader('constructor')` is undefined), as with node's own
 * `{ __proto__: null }`; unlike that one it keeps V8's fast properties (a null-prototype object is
 * a dictionary from the start), which `_storeHeader`'s for...in walks faster.
 */
export function newCheckedFields(): CheckedFields {
  return Object.create(NO_FIELDS) as CheckedFields;
}

/**
 * Writes `status` and `fields` as the response's head (node adds Date, Connection and the framing
 * as for any `writeHead()`), without checking the fields again when node's internal slot passed
 * the start-up probe and nothing set a field on this response before; else by
 * `writeHead(status, [name, value, ...])`, which checks them. Throws what `writeHead()` throws for
 * a head already sent.
 *
 * @example
 * ```ts
 * const fields = newCheckedFields();
 * fields['cache-control'] = NO_STORE; // checkedField('cache-control', 'no-store'), made once
 * writeCheckedHead(response, 200, fields);
 * response.end();
 * ```
 */
export function writeCheckedHead(response: ServerResponse, status: number, fields: CheckedFields): void {
  const slot = OUT_HEADERS;
  // `=== null`: a node:http response on which no field was set (an HTTP/2 compatibility response
  // has no such slot: undefined).
  if (slot !== undefined && (response as unknown as Record<symbol, unknown>)[slot] === null) {
    (response as unknown as Record<symbol, unknown>)[slot] = fields;
    response.writeHead(status);
    return;
  }
  response.writeHead(status, flatFields(fields));
}

/** `[name, value, ...]` of `fields`, in their order: what `writeHead()` checks field by field. */
export function flatFields(fields: CheckedFields): OutgoingHttpHeader[] {
  const flat: OutgoingHttpHeader[] = [];
  for (const key in fields) {
    const field = fields[key] as CheckedField;
    flat.push(field[0], field[1]);
  }
  return flat;
}

/** Whether heads are written through node's internal slot (the probe passed): for tests and benches. */
export function checkedHeadsUnchecked(): boolean {
  return OUT_HEADERS !== undefined;
}

/**
 * node:http's internal slot of a response's fields, if a probe response written through it gets
 * the head the public way gives for the same fields, and reads its fields back; else undefined.
 */
function probeOutHeaders(): symbol | undefined {
  try {
    const request = { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers: {}, url: '/' };
    const make = () => {
      // biome-ignore lint/suspicious/noExplicitAny: a probe request: ServerResponse reads only method, version and headers.
      const response = new ServerResponse(request as any);
      response.sendDate = false;
      return response;
    };
    const probe = make();
    const slot = Object.getOwnPropertySymbols(probe).find(
      (symbol) =>
        symbol.description === 'kOutHeaders' && (probe as unknown as Record<symbol, unknown>)[symbol] === null,
    );
    if (slot === undefined) return undefined;
    const fields = newCheckedFields();
    fields['x-probe'] = checkedField('X-Probe', 'a b');
    fields['content-length'] = checkedField('content-length', 0);
    fields['cache-control'] = checkedField('cache-control', 'no-store');
    (probe as unknown as Record<symbol, unknown>)[slot] = fields;
    probe.writeHead(200);
    const reference = make();
    reference.writeHead(200, flatFields(fields));
    const written = (probe as unknown as { _header: unknown })._header;
    const expected = (reference as unknown as { _header: unknown })._header;
    const ok =
      typeof written === 'string' &&
      written === expected &&
      written.startsWith('HTTP/1.1 200 OK\r\nX-Probe: a b\r\ncontent-length: 0\r\ncache-control: no-store\r\n') &&
      !/transfer-encoding/i.test(written) &&
      probe.getHeader('x-probe') === 'a b';
    return ok ? slot : undefined;
  } catch {
    return undefined;
  }
}

const OUT_HEADERS = probeOutHeaders();
