/**
 * Node's own HTTP/1.1 parser (llhttp compiled into the node binary, the `HTTPParser` node:http's
 * client and server use), for the gateway's builtin upstream client.
 *
 * Why an internal module: Node exposes no public API to its C++ parser; `_http_common` is the
 * CommonJS module node:http itself loads it from (`internalBinding('http_parser')`), reachable
 * with `require('_http_common')` (deprecated for userland use, but present and unchanged in shape
 * in Node 18, 20, 22 and 24: `HTTPParser` with `initialize(type, resource, maxHeaderSize,
 * lenientFlags)`, `execute(buffer)`, `finish()`, and the `kOnHeaders`, `kOnHeadersComplete`,
 * `kOnBody`, `kOnMessageComplete` callback slots). It is loaded only when the builtin client may
 * be chosen (`--upstream-client auto`, the default, for a plain-http upstream without tracing, or
 * `builtin`), and self-tested then ({@link selfTestHttpParser}: the callbacks' arguments and
 * return values the client relies on, on known answers); on a Node without it, or whose parser
 * behaves otherwise, `auto` uses undici (one warning line) and `builtin` fails that start-up with
 * a clear message, never later.
 */
import { createRequire } from 'node:module';

/** The slice of node's `HTTPParser` the builtin client uses. */
export interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  /** The bytes parsed, or an Error (`code` 'HPE_...', `reason`) when the input is not HTTP. */
  execute(data: Buffer): number | Error;
  /** End of input (the connection closed): completes a close-delimited body, or an Error. */
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
  [slot: number]: unknown;
}

/** The constructor and constants of node's `HTTPParser`. */
export interface NodeHttpParserClass {
  new (): NodeHttpParser;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

let loaded: NodeHttpParserClass | undefined;

/**
 * Answers the self-test parses, in two reads: an interim 103; an answer of 40 fields (node hands
 * them over through kOnHeaders, not kOnHeadersComplete) with a chunked body and a trailer; a head
 * whose body the callback declines (return 1, what a HEAD's answer does: its 5 bytes must not be
 * read as a body); an HTTP/1.0 answer with Connection: close and bytes after it (refused: llhttp
 * reads no message after a close). Then, on a fresh parser, a close-delimited body that only
 * `finish()` completes.
 */
const SELF_TEST_READS = [
  'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
    `HTTP/1.1 200 OK\r\n${Array.from({ length: 40 }, (_, index) => `X-F${index}: ${index}\r\n`).join('')}` +
    'Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
  'HTTP/1.0 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n',
];

/** A close-delimited answer (no length, no chunks: its body ends when the connection does). */
const SELF_TEST_CLOSE_DELIMITED = 'HTTP/1.1 200 OK\r\n\r\nrest';

/** What the self-test must see, callback by callback. */
const SELF_TEST_EXPECTED = [
  'head 1.1 103 fields=2 upgrade=false keepAlive=true',
  'complete fields=0',
  'head 1.1 200 fields=82 upgrade=false keepAlive=true',
  'body abc',
  'complete fields=2',
  'head 1.1 200 fields=2 upgrade=false keepAlive=true',
  'complete fields=0',
  'head 1.0 404 fields=4 upgrade=false keepAlive=false',
  'complete fields=0',
  'execute HPE_CLOSED_CONNECTION',
  'head 1.1 200 fields=0 upgrade=false keepAlive=false',
  'body rest',
  'finish',
  'complete fields=0',
  'malformed HPE_INVALID_CONSTANT',
].join('\n');

/**
 * Drives a fresh parser of `Parser` through known answers and compares every callback (the
 * argument order of kOnHeadersComplete, its return value's meaning, the flushed-fields path,
 * trailers, `finish()` for a close-delimited body, an Error with an `HPE_` code for bytes that are
 * not HTTP). The builtin client's safety rests on each of these; a Node whose internal parser
 * behaves otherwise in any of them is refused at start-up rather than trusted.
 *
 * @internal Exported for its tests.
 * @example
 * ```ts
 * selfTestHttpParser(require('_http_common').HTTPParser); // '' when it behaves as expected
 * ```
 */
export function selfTestHttpParser(Parser: NodeHttpParserClass): string {
  const seen: string[] = [];
  let fields: string[] = [];
  try {
    const parser = new Parser();
    parser.initialize(Parser.RESPONSE, {}, 16 * 1024, 0);
    let answers = 0;
    parser[Parser.kOnHeaders] = (headers: string[]) => {
      for (const item of headers) fields.push(item);
    };
    parser[Parser.kOnHeadersComplete] = (
      major: number,
      minor: number,
      headers: string[] | undefined,
      _method: unknown,
      _url: unknown,
      status: number,
      _text: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      const count = headers === undefined ? fields.length : headers.length;
      fields = [];
      seen.push(`head ${major}.${minor} ${status} fields=${count} upgrade=${upgrade} keepAlive=${keepAlive}`);
      answers++;
      // The third head plays a HEAD's answer: its body is declined.
      return answers === 3 ? 1 : 0;
    };
    parser[Parser.kOnBody] = (chunk: Buffer) => seen.push(`body ${chunk.toString('latin1')}`);
    parser[Parser.kOnMessageComplete] = () => {
      seen.push(`complete fields=${fields.length}`);
      fields = [];
    };
    const execute = (target: NodeHttpParser, read: string) => {
      const result = target.execute(Buffer.from(read, 'latin1'));
      if (result instanceof Error) seen.push(`execute ${String((result as { code?: unknown }).code)}`);
      else if (result !== read.length) seen.push(`execute ${String(result)}`);
    };
    for (const read of SELF_TEST_READS) execute(parser, read);
    parser.close();
    // A fresh parser (its callbacks are the same functions) for the close-delimited answer.
    const delimited = new Parser();
    delimited.initialize(Parser.RESPONSE, {}, 16 * 1024, 0);
    for (const slot of [Parser.kOnHeaders, Parser.kOnHeadersComplete, Parser.kOnBody, Parser.kOnMessageComplete])
      delimited[slot] = parser[slot];
    execute(delimited, SELF_TEST_CLOSE_DELIMITED);
    seen.push('finish');
    const finished = delimited.finish();
    if (finished instanceof Error) seen.push(`finish ${String((finished as { code?: unknown }).code)}`);
    delimited.close();
    const malformed = new Parser();
    malformed.initialize(Parser.RESPONSE, {}, 16 * 1024, 0);
    malformed[Parser.kOnHeadersComplete] = () => 0;
    const refused = malformed.execute(Buffer.from('HTTX/1.1 200 OK\r\n\r\n', 'latin1'));
    seen.push(`malformed ${refused instanceof Error ? String((refused as { code?: unknown }).code) : String(refused)}`);
    malformed.close();
  } catch (error) {
    seen.push(`threw ${(error as Error).message}`);
  }
  const got = seen.join('\n');
  return got === SELF_TEST_EXPECTED ? '' : got;
}

/**
 * Node's `HTTPParser` class, loaded and self-tested once ({@link selfTestHttpParser}); throws an
 * Error saying what is missing or different when this Node's does not behave as the builtin client
 * needs (checked at `createGateway` when the builtin client is chosen).
 *
 * @example
 * ```ts
 * const HTTPParser = nodeHttpParser();
 * const parser = new HTTPParser();
 * parser.initialize(HTTPParser.RESPONSE, {}, 16384, 0); // strict: no lenient flags
 * ```
 */
export function nodeHttpParser(): NodeHttpParserClass {
  if (loaded !== undefined) return loaded;
  let candidate: unknown;
  try {
    candidate = (createRequire(import.meta.url)('_http_common') as { HTTPParser?: unknown }).HTTPParser;
  } catch {
    candidate = undefined;
  }
  loaded = checkedHttpParser(candidate);
  return loaded;
}

/**
 * Node's internal HTTP parser is missing or failed the self-test: the builtin upstream client
 * cannot run on this Node. `--upstream-client auto` (the default) then uses undici and logs
 * `reason`; an explicit `--upstream-client builtin` refuses to start with `message`.
 */
export class HttpParserUnfitError extends Error {
  override readonly name = 'HttpParserUnfitError';
  constructor(
    /** What is missing or different, on one line (the self-test's callbacks as seen, `; `-joined). */
    readonly reason: string,
  ) {
    super(`--upstream-client builtin: ${reason}: use --upstream-client undici (or auto)`);
  }
}

/**
 * `candidate` as node's `HTTPParser` when it has the shape and passes the self-test; else throws
 * an {@link HttpParserUnfitError}.
 *
 * @internal Exported for its tests.
 * @example
 * ```ts
 * checkedHttpParser(require('_http_common').HTTPParser);
 * ```
 */
export function checkedHttpParser(candidate: unknown): NodeHttpParserClass {
  const parser = candidate as Partial<NodeHttpParserClass> | undefined;
  if (
    typeof candidate !== 'function' ||
    parser === undefined ||
    typeof parser.RESPONSE !== 'number' ||
    typeof parser.kOnHeaders !== 'number' ||
    typeof parser.kOnHeadersComplete !== 'number' ||
    typeof parser.kOnBody !== 'number' ||
    typeof parser.kOnMessageComplete !== 'number' ||
    typeof (parser as { prototype?: { execute?: unknown } }).prototype?.execute !== 'function'
  ) {
    throw new HttpParserUnfitError(
      `Node ${process.version} does not provide the internal HTTP parser it reads answers with (require('_http_common').HTTPParser)`,
    );
  }
  const difference = selfTestHttpParser(parser as NodeHttpParserClass);
  if (difference !== '') {
    throw new HttpParserUnfitError(
      `node's internal HTTP parser (require('_http_common').HTTPParser) in Node ${process.version} failed its self-test (saw: ${difference.replaceAll('\n', '; ')})`,
    );
  }
  return parser as NodeHttpParserClass;
}
