/**
 * Node's own HTTP/1.1 parser (llhttp compiled into the node binary, the `HTTPParser` node:http's
 * client and server use), for the gateway's builtin upstream client.
 *
 * Why an internal module: Node exposes no public API to its C++ parser; `_http_common` is the
 * CommonJS module node:http itself loads it from (`internalBinding('http_parser')`), reachable
 * with `require('_http_common')` (deprecated for userland use, but present and unchanged in shape
 * in Node 18, 20, 22 and 24: `HTTPParser` with `initialize(type, resource, maxHeaderSize,
 * lenientFlags)`, `execute(buffer)`, `finish()`, and the `kOnHeaders`, `kOnHeadersComplete`,
 * `kOnBody`, `kOnMessageComplete` callback slots). It is loaded only when `--upstream-client
 * builtin` is chosen; a Node without it fails that start-up with a clear message, never later.
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
 * Node's `HTTPParser` class, loaded once; throws an Error saying what is missing when this Node
 * does not have it (checked at `createGateway` when the builtin client is chosen).
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
  const parser = candidate as Partial<NodeHttpParserClass> | undefined;
  if (
    typeof candidate !== 'function' ||
    parser === undefined ||
    typeof parser.RESPONSE !== 'number' ||
    typeof parser.kOnHeadersComplete !== 'number' ||
    typeof parser.kOnBody !== 'number' ||
    typeof parser.kOnMessageComplete !== 'number' ||
    typeof (parser as { prototype?: { execute?: unknown } }).prototype?.execute !== 'function'
  ) {
    throw new Error(
      `--upstream-client builtin needs node's internal HTTP parser (require('_http_common').HTTPParser), which Node ${process.version} does not provide: use --upstream-client undici`,
    );
  }
  loaded = parser as NodeHttpParserClass;
  return loaded;
}
