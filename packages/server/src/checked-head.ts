/**
 * Response heads whose fields this server has already checked, written without node:http
 * checking and assembling every field again (issue #15, session 20: forward-auth's 200 carries
 * nine fields; node's `validateHeaderName` + `validateHeaderValue`, two regular expressions a
 * field, and its per-field assembly were ~14k of its ~175k instructions per request).
 *
 * How: a field is checked once per distinct value by node's own exported rules
 * (`validateHeaderName`, `validateHeaderValue`; {@link checkedField}) and kept with its line
 * (`name: value\r\n`). {@link writeCheckedHead} lets node write the head of the status with one
 * field, Content-Length, put in node's internal slot of set fields (`kOutHeaders`,
 * lib/_http_outgoing.js; read unchecked by `writeHead(status)`), so that node frames the
 * response (Date, Connection, Keep-Alive) as usual, then puts the checked lines around node's
 * `content-length` line in `response._header`, the head node keeps until the first write. The
 * bytes on the wire are those of `writeHead(status, [name, value, ...])` with the same fields in
 * the same order.
 *
 * Relying on node internals is guarded: at start-up probe responses are written both ways and
 * their heads must be the same strings, else (another node, a changed internal) nothing is
 * written this way and callers use `writeHead(status, flat list)`, which checks each field again.
 * A response that already has a field set (draining's `Connection: close`, a tracer's) goes the
 * public way too.
 */
import { ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';

/**
 * A field checked with node:http's own rules, and its line as node writes it into a head
 * (`${name}: ${value}\r\n`, lib/_http_outgoing.js storeHeader). A name that is not a token, a
 * value with CR, LF, NUL or another control character throw node's errors
 * (`ERR_INVALID_HTTP_TOKEN` / `ERR_INVALID_CHAR`), as `writeHead()` would.
 *
 * @example
 * ```ts
 * checkedField('cache-control', 'no-store').line; // 'cache-control: no-store\r\n'
 * checkedField('x-a', 'b\r\nSet-Cookie: c'); // throws ERR_INVALID_CHAR
 * ```
 */
export function checkedField(name: string, value: string | number): CheckedField {
  validateHeaderName(name);
  validateHeaderValue(name, value as string);
  return { name, value, line: `${name}: ${value}\r\n` };
}

/** A checked header field (see {@link checkedField}). Invariant: `line` is `${name}: ${value}\r\n` of a checked name and value. */
export interface CheckedField {
  readonly name: string;
  readonly value: string | number;
  readonly line: string;
}

/**
 * Fields node reads while it writes a head (lib/_http_outgoing.js matchHeader and processHeader):
 * their lines must not be handed to {@link writeCheckedHead}, which node never shows them to.
 * Lower-cased.
 */
export const FRAMING_FIELDS: ReadonlySet<string> = new Set([
  'connection',
  'transfer-encoding',
  'content-length',
  'date',
  'expect',
  'trailer',
  'keep-alive',
  'content-disposition',
]);

/**
 * Writes the head of `status` with the checked field lines `before`, then `Content-Length:
 * contentLength`, then `after` (node adds Date, Connection and Keep-Alive after them, as for any
 * `writeHead()`), without node checking the fields again; answers false, writing nothing, when it
 * cannot: the start-up probe failed, or a field was set on this response before (draining's
 * `Connection: close`, a tracer's), or it is no node:http response (HTTP/2). The caller then
 * writes its fields with `writeHead(status, [name, value, ...])`, which checks them.
 *
 * How: node writes the head of `writeHead(status)` from its own slot of set fields (filled here
 * with Content-Length alone, so node frames the response as for a Content-Length field) into
 * `response._header`, the string it sends with the first write; the checked lines are put into
 * that string around node's `content-length` line: the bytes of `writeHead(status, [...before,
 * 'content-length', n, ...after])` (the probe and a property in test/checked-head.test.ts).
 * Invariant (the caller's): no line of `before` or `after` is a field of {@link FRAMING_FIELDS}.
 *
 * @example
 * ```ts
 * if (!writeCheckedHead(response, 200, principal.line, 0, NO_STORE.line)) response.writeHead(200, flatList);
 * response.end();
 * ```
 */
export function writeCheckedHead(
  response: ServerResponse,
  status: number,
  before: string,
  contentLength: number,
  after: string,
): boolean {
  const slot = outHeaders;
  // `=== null`: a node:http response on which no field was set (an HTTP/2 compatibility response
  // has no such slot: undefined).
  if (slot === undefined || (response as unknown as Record<symbol, unknown>)[slot] !== null) return false;
  const fields = Object.create(NO_FIELDS) as Record<string, readonly [string, number]>;
  fields['content-length'] = ['content-length', contentLength];
  (response as unknown as Record<symbol, unknown>)[slot] = fields;
  response.writeHead(status);
  const written = (response as unknown as { _header: string })._header;
  // Node's head: the status line, `content-length: n\r\n` (the one field), then its own fields.
  const statusEnd = written.indexOf('\r\n') + 2;
  const lengthEnd = statusEnd + 18 + String(contentLength).length;
  (response as unknown as { _header: string })._header = written.startsWith('content-length: ', statusEnd)
    ? `${written.slice(0, statusEnd)}${before}${written.slice(statusEnd, lengthEnd)}${after}${written.slice(lengthEnd)}`
    : // Not node's head as probed (cannot happen on the node the probe passed on): every field
      // still goes in, right after the status line.
      `${written.slice(0, statusEnd)}${before}${after}${written.slice(statusEnd)}`;
  return true;
}

/** What every slot object made here inherits: nothing (no `constructor`, no `__proto__` accessor), as node's own `{ __proto__: null }`. */
const NO_FIELDS: object = Object.create(null);

/** Whether heads are written through node's internal slot (the probe passed): for tests and benches. */
export function checkedHeadsUnchecked(): boolean {
  return outHeaders !== undefined;
}

/**
 * node:http's internal slot of a response's fields, if a probe response written by
 * {@link writeCheckedHead} through it gets the very head `writeHead(status, [name, value, ...])`
 * gives for the same fields (plain and with Date, keep-alive and close variants); else undefined.
 */
function probeOutHeaders(): symbol | undefined {
  try {
    const make = (method: string, minor: number) => {
      const request = { method, httpVersionMajor: 1, httpVersionMinor: minor, headers: {}, url: '/' };
      // biome-ignore lint/suspicious/noExplicitAny: a probe request: ServerResponse reads only method, version and headers.
      return new ServerResponse(request as any);
    };
    const first = make('GET', 1);
    const slot = Object.getOwnPropertySymbols(first).find(
      (symbol) =>
        symbol.description === 'kOutHeaders' && (first as unknown as Record<symbol, unknown>)[symbol] === null,
    );
    if (slot === undefined) return undefined;
    const before = [checkedField('X-Probe', 'a b'), checkedField('x-request-id', 'r1')];
    const after = [checkedField('cache-control', 'no-store'), checkedField('RateLimit', '"default";r=1;t=1')];
    for (const [method, minor, status, length, keepAlive] of [
      ['GET', 1, 200, 0, true],
      ['HEAD', 1, 200, 0, false],
      ['GET', 0, 401, 12, true],
    ] as const) {
      const probe = make(method, minor);
      const reference = make(method, minor);
      for (const response of [probe, reference]) {
        response.sendDate = method === 'GET';
        response.shouldKeepAlive = keepAlive;
      }
      outHeaders = slot;
      const wrote = writeCheckedHead(
        probe,
        status,
        before.map((field) => field.line).join(''),
        length,
        after.map((field) => field.line).join(''),
      );
      outHeaders = undefined;
      reference.writeHead(status, [
        ...before.flatMap((field) => [field.name, field.value]),
        'content-length',
        length,
        ...after.flatMap((field) => [field.name, field.value]),
      ]);
      const written = (probe as unknown as { _header: unknown })._header;
      const expected = (reference as unknown as { _header: unknown })._header;
      if (
        !wrote ||
        typeof written !== 'string' ||
        written !== expected ||
        probe.getHeader('content-length') !== length
      ) {
        return undefined;
      }
    }
    return slot;
  } catch {
    return undefined;
  }
}

/** node:http's slot of a response's set fields, once the probe passed (and while it runs). */
let outHeaders: symbol | undefined;
outHeaders = probeOutHeaders();
