/**
 * HTTP/1.1 messages read off a raw socket's bytes in tests: the one parser of Content-Length framed
 * messages that the raw clients (pipelined and same-turn exchanges) and the raw upstream share.
 */

/** One message taken off the front of a buffer. */
export interface FramedMessage {
  /** The request or status line. */
  startLine: string;
  /** The header lines as they came (no line ends). */
  headerLines: string[];
  /** The headers, names trimmed and lower-cased (a later line of a name wins). */
  headers: Record<string, string>;
  /** The body: the Content-Length bytes after the head (none without Content-Length). A view of `buffered`. */
  body: Buffer;
  /** The bytes after the message. */
  rest: Buffer;
}

/**
 * The first message in `buffered`, framed by its Content-Length (what hmac-kit's server and the
 * test upstreams send), and the bytes after it; `undefined` while it is not all there.
 *
 * @example
 * ```ts
 * const taken = takeFramed(buffered);
 * if (taken) { answers.push(Number(taken.startLine.split(' ')[1])); buffered = taken.rest; }
 * ```
 */
export function takeFramed(buffered: Buffer): FramedMessage | undefined {
  const end = buffered.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [startLine = '', ...headerLines] = buffered.subarray(0, end).toString('latin1').split('\r\n');
  const headers = headersOf(headerLines);
  const length = Number(headers['content-length'] ?? 0);
  if (buffered.length < end + 4 + length) return undefined;
  return {
    startLine,
    headerLines,
    headers,
    body: buffered.subarray(end + 4, end + 4 + length),
    rest: buffered.subarray(end + 4 + length),
  };
}

/**
 * Header lines (`Name: value`) as a record: names trimmed and lower-cased, values trimmed, a later
 * line of a name winning.
 *
 * @example
 * ```ts
 * headersOf(['Content-Length: 2', 'X-A:  b ']); // { 'content-length': '2', 'x-a': 'b' }
 * ```
 */
export function headersOf(headerLines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * A response body as the tests report it: parsed JSON, `null` when empty, the text itself when it is
 * not JSON (so a failure shows what came back).
 *
 * @example
 * ```ts
 * jsonOrText('{"ok":true}'); // { ok: true }
 * ```
 */
export function jsonOrText(text: string): unknown {
  try {
    return text.length > 0 ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

/** The status code of a status line (`HTTP/1.1 200 OK`: 200). */
export function statusOf(statusLine: string): number {
  return Number(statusLine.split(' ')[1]);
}
