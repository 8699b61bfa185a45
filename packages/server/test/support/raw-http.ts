import { connect, createServer, type Server, type Socket } from 'node:net';
import { takeFramed } from '../../../../test-support/http-framing.js';

/** One request exactly as the bytes arrived: request line and header lines unparsed. */
export interface RawSeenRequest {
  /** e.g. `GET /b/c HTTP/1.1`, byte for byte. */
  requestLine: string;
  /** Header lines as sent (`Name: value`), in order. */
  headerLines: string[];
  body: Buffer;
}

/** What a raw upstream writes back for one request: bytes, or bytes and then a cut connection. */
export type RawAnswer = string | Buffer | { bytes: string; thenClose: true };

/**
 * An upstream that records every request's raw request line and header lines (nothing parsed or
 * normalised by an HTTP library) and answers each with `answer(seen)` bytes; given header lines
 * instead, it answers 200 with them (extra lines) and a small body. Only requests with no body or a
 * Content-Length body (what undici sends for buffered bodies) are read; enough for what the gateway
 * forwards in these tests.
 */
export async function startRawUpstream(
  responseHeadersOrAnswer: string[] | ((seen: RawSeenRequest) => RawAnswer) = [],
): Promise<{
  url: string;
  seen: RawSeenRequest[];
  /** Connections accepted so far (a client that reuses its connections opens few). */
  accepted(): number;
  /** Connections open now. */
  open(): number;
  close(): Promise<void>;
}> {
  const answer =
    typeof responseHeadersOrAnswer === 'function'
      ? responseHeadersOrAnswer
      : () => {
          const payload = 'upstream ok';
          return [
            'HTTP/1.1 200 OK',
            'Content-Type: text/plain',
            `Content-Length: ${payload.length}`,
            ...responseHeadersOrAnswer,
            '',
            payload,
          ].join('\r\n');
        };
  const seen: RawSeenRequest[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const taken = takeFramed(buffered);
        if (taken === undefined) return;
        const entry = { requestLine: taken.startLine, headerLines: taken.headerLines, body: Buffer.from(taken.body) };
        buffered = taken.rest;
        seen.push(entry);
        const answered = answer(entry);
        if (typeof answered === 'object' && 'thenClose' in answered) {
          // Cut off mid-answer: the rest of the declared body never comes.
          socket.write(answered.bytes, () => socket.destroy());
          return;
        }
        socket.write(answered);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    accepted: () => accepted,
    open: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A response as read off the socket. */
export interface RawResponse {
  status: number;
  /** Header names lower-cased; repeated names joined with ", ". */
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `method target` with `headers` over a fresh TCP connection, byte for byte (no client
 * library to normalise the target), and reads the response until the server closes.
 */
export function rawRequest(
  origin: string,
  method: string,
  target: string,
  headers: Record<string, string>,
  body = '',
): Promise<RawResponse> {
  const { host } = new URL(origin);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`];
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'host') lines.push(`${name}: ${value}`);
  }
  if (body.length > 0 || method === 'POST' || method === 'PUT')
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  lines.push('Connection: close', '', '');
  return sendRawBytes(origin, lines.join('\r\n') + body, 'utf8').then((text) => {
    const split = text.indexOf('\r\n\r\n');
    const head = (split === -1 ? text : text.slice(0, split)).split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
    const responseHeaders: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      responseHeaders[name] = name in responseHeaders ? `${responseHeaders[name]}, ${value}` : value;
    }
    let responseBody = split === -1 ? '' : text.slice(split + 4);
    if (/chunked/i.test(responseHeaders['transfer-encoding'] ?? '')) responseBody = dechunk(responseBody);
    return { status, headers: responseHeaders, body: responseBody };
  });
}

/**
 * Writes `bytes` as they are on one fresh connection (no client library to normalise the framing) and
 * resolves with everything the server sent until it closed the connection.
 *
 * @example
 * const text = await sendRawBytes(server.url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
 */
export function sendRawBytes(origin: string, bytes: string, encoding: BufferEncoding = 'latin1'): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString(encoding)));
    socket.write(bytes);
  });
}

/** The body of a chunked HTTP/1.1 message (chunk extensions and trailers ignored). */
export function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const line = rest.indexOf('\r\n');
    if (line === -1) return out;
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

/**
 * Records every byte the server sends back on `socket` (plain or TLS, already connecting), as latin1
 * text, and can wait for a condition on it or for the close.
 *
 * @example
 * ```ts
 * const connection = recordSocket(tlsSocket(server.url, certificates));
 * connection.socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
 * const everything = await connection.closed();
 * ```
 */
export function recordSocket(socket: Socket) {
  let received = '';
  let closed = false;
  let wake: () => void = () => {};
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  const until = async (ready: () => boolean) => {
    while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
  };
  return {
    socket,
    received: () => received,
    isClosed: () => closed,
    /** Resolves once `ready()` holds, checked again after each read and at the close. */
    until,
    /** Resolves with everything received once the server closed the connection. */
    async closed(): Promise<string> {
      await until(() => closed);
      return received;
    },
  };
}

/**
 * A client connection that records every byte the server sends back (as latin1 text), and can
 * wait for a condition on it. `allowHalfOpen`: keep this side open after the server's FIN (as a
 * client still sending would).
 */
export function recordingConnection(origin: string, { allowHalfOpen = false } = {}) {
  const { hostname, port } = new URL(origin);
  return recordSocket(connect({ port: Number(port), host: hostname, allowHalfOpen }));
}

/** A connection that keeps its side open after the server's FIN (as a client still sending would). */
export function halfOpenConnection(origin: string) {
  return recordingConnection(origin, { allowHalfOpen: true });
}

/** Writes `bytes` every 50 ms until the server has closed the connection (a write then fails). */
export async function keepWritingUntilClosed(connection: ReturnType<typeof halfOpenConnection>, bytes: string) {
  const writer = setInterval(() => {
    if (!connection.socket.destroyed) connection.socket.write(bytes);
  }, 50);
  try {
    await connection.until(() => connection.isClosed());
  } finally {
    clearInterval(writer);
  }
}
