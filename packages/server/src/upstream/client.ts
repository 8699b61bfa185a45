/**
 * The gateway's builtin HTTP/1.1 upstream client (`--upstream-client builtin`, experimental): a
 * keep-alive connection pool to the one upstream origin ({@link BuiltinClient}), the request
 * writer (request-head.ts: the head as one latin1 string, then the body) and the answer reader
 * (connection.ts: node's C++ llhttp, strict).
 *
 * What it does as undici's `Pool` does (the default client): at most 256 connections, one request
 * per connection at a time (no pipelining), idle connections closed after 10 s or two seconds
 * before the upstream's `Keep-Alive: timeout=` if that is sooner (never handed out past it), connect timeout min(upstream
 * timeout, 10 s), headers and body timeouts = the upstream timeout, a request that fails on a
 * reused connection is not sent again (undici's Client does not retry a request it has started
 * writing either: the gateway answers 502), a connection is closed after a HEAD (undici's issue
 * 258: an upstream that writes a body for HEAD anyway), after a body on a method that expects none
 * (GET, DELETE: an upstream may not read it) and after a 204/304 that names a body. What differs: an unsolicited `100 Continue` is skipped
 * as RFC 9110 §15.2 has a client do (undici refuses the answer), a 304 or 204 with a
 * `Content-Length` is complete with its head (undici fails it after the head), and a parse error's
 * log cause names llhttp's code.
 */

import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { Connection, type ConnectionOwner, type ConnectionSettings, type Exchange } from './connection.js';
import { UpstreamAbortedError, UpstreamBusyError, UpstreamRequestError } from './errors.js';
import { type NodeHttpParserClass, nodeHttpParser } from './http-parser.js';
import { type BodyFraming, expectsPayload, requestHead } from './request-head.js';
import type {
  UpstreamAnswer,
  UpstreamClient,
  UpstreamDispatchOptions,
  UpstreamHandler,
  UpstreamRequestOptions,
  UpstreamReservation,
} from './types.js';

/** Options of {@link createBuiltinClient}. */
export interface BuiltinClientOptions {
  /** The `--upstream-timeout`, in milliseconds: the headers and body timeouts. */
  timeoutMs: number;
  /** Connections at most (undici's Pool `connections`). */
  connections?: number;
  /** Idle keep-alive connections are closed after this (undici's `keepAliveTimeout`). */
  keepAliveMs?: number;
  /** The largest answer head (default: node's `--max-http-header-size`, 16 KiB). */
  maxHeaderSize?: number;
  /**
   * Requests that may wait for a connection when all of them are busy (default: no bound, as
   * undici's Pool). One more fails at once with an {@link UpstreamBusyError}, nothing sent.
   */
  maxQueued?: number;
  /** Node's `HTTPParser`, already self-tested (default: this Node's, loaded and self-tested now). */
  parser?: NodeHttpParserClass;
}

/** Bodies up to this size are written in the same string as the head; larger ones as a second write. */
const JOINED_BODY_BYTES = 16 * 1024;

interface PendingExchange extends Exchange {
  readonly method: string;
  readonly headString: string;
  readonly body: Buffer | null | AsyncIterable<Buffer>;
  readonly framing: BodyFraming;
  queued: boolean;
}

/** Whether `value` is a decimal Content-Length (the one a streamed request declared). */
function declaredLength(fields: readonly (string | string[])[]): number | undefined {
  for (let index = 0; index + 1 < fields.length; index += 2) {
    const name = fields[index] as string;
    if (name.length !== 14 || name.toLowerCase() !== 'content-length') continue;
    const value = fields[index + 1];
    if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return undefined;
    return Number(value);
  }
  return undefined;
}

/** Raw fields (`[name, value, ...]` strings) as undici's parsed form: lower-cased names, repeats as arrays. */
function parsedFields(raw: readonly (string | Buffer)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = String(raw[index]).toLowerCase();
    const value = String(raw[index + 1]);
    const seen = out[name];
    out[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

/**
 * The builtin client: a connection pool to one origin. Implements {@link UpstreamClient}.
 */
class BuiltinClient implements UpstreamClient, ConnectionOwner {
  private readonly idle: Connection[] = [];
  private readonly queue: PendingExchange[] = [];
  private open = 0;
  /**
   * Sockets made and not yet closed. Counted apart from `open`: a destroyed connection gives its
   * place back at once, but its socket emits 'close' on a later turn, and close() waits for that.
   */
  private sockets = 0;
  /** Places promised to reservations not yet used or released (see {@link room}). */
  private reserved = 0;
  private closed = false;
  private readonly settings: ConnectionSettings;
  private readonly host: string;
  private readonly maxConnections: number;
  private readonly maxQueued: number;
  private readonly sweeper: NodeJS.Timeout;
  /** Resolves close()'s promise once no connection is open and no request waits. */
  private whenClosed: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(origin: string, options: BuiltinClientOptions & { parser: NodeHttpParserClass }) {
    const url = new URL(origin);
    const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.host = url.host;
    this.maxConnections = options.connections ?? 256;
    this.maxQueued = options.maxQueued ?? Number.POSITIVE_INFINITY;
    this.settings = {
      protocol,
      hostname,
      port: url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port),
      servername: isIP(hostname) === 0 ? hostname : undefined,
      connectTimeoutMs: Math.min(options.timeoutMs, 10_000),
      headersTimeoutMs: options.timeoutMs,
      bodyTimeoutMs: options.timeoutMs,
      keepAliveMs: options.keepAliveMs ?? 10_000,
      maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
      Parser: options.parser,
    };
    // One clock for every idle connection instead of a timer each.
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  dispatch(options: UpstreamDispatchOptions, handler: UpstreamHandler): boolean {
    return this.dispatchIn(options, handler, false);
  }

  /**
   * Sends one request; `reserved`: in a place a reservation held (never refused busy), else in a
   * free place not promised to a reservation (refused busy when there is none).
   */
  dispatchIn(options: UpstreamDispatchOptions, handler: UpstreamHandler, reserved: boolean): boolean {
    const { method, body } = options;
    let framing: BodyFraming;
    let headString: string;
    try {
      if (this.closed) throw new UpstreamRequestError('no client: the gateway is closing');
      if (body === null) framing = { kind: 'none' };
      else if (Buffer.isBuffer(body)) framing = { kind: 'length', length: body.length };
      else {
        // A streamed body keeps the length its sender declared (undici sends it so too), else chunked.
        const length = declaredLength(options.headers);
        framing = length === undefined ? { kind: 'chunked' } : { kind: 'length', length };
      }
      headString = requestHead(method, options.path, this.host, options.headers, framing);
    } catch (error) {
      handler.onError(error as Error);
      return false;
    }
    const exchange: PendingExchange = {
      handler,
      head: method === 'HEAD',
      closeAfter:
        method === 'HEAD' ||
        (body !== null && !(Buffer.isBuffer(body) && body.length === 0) && !expectsPayload(method)),
      written: false,
      answered: false,
      settled: false,
      complete: false,
      keepAlive: false,
      connection: undefined,
      method,
      headString,
      body,
      framing,
      queued: false,
    };
    handler.onConnect((reason?: Error) => this.abort(exchange, reason));
    if (exchange.settled) return false;
    // The queue is bounded: a request over it is refused at once (nothing written), rather than
    // held with its head and buffered body for as long as its client waits. The places promised to
    // reservations are not free: a reserved request takes one of them, and is never refused.
    if (!reserved && this.room() <= this.reserved) {
      exchange.settled = true;
      handler.onError(new UpstreamBusyError());
      return false;
    }
    const connection = this.acquire();
    if (connection === undefined) {
      exchange.queued = true;
      this.queue.push(exchange);
      return false;
    }
    this.run(connection, exchange);
    return true;
  }

  queueFull(): boolean {
    // As dispatch() decides for a request without a reservation.
    return this.room() <= this.reserved;
  }

  reserve(): UpstreamReservation | undefined {
    if (this.room() <= this.reserved) return undefined;
    this.reserved++;
    return new Reservation(this);
  }

  /** A reservation was used or given back. */
  unreserve(): void {
    this.reserved--;
  }

  /**
   * Requests that could be sent now without a refusal: idle connections, connections not yet
   * opened, free queue places. Invariant: `reserved <= room()`. Every change of the pool keeps it:
   * a dispatch takes one place (and a reserved one its reservation with it; one without is refused
   * unless `room() > reserved`); a connection that frees, idles or fails, an aborted queued
   * request, give places back; an idle connection closed (the sweep, close()) takes one from the
   * idle ones and gives one back to the unopened ones. So a reserved dispatch finds a connection or
   * a queue place within the bound.
   */
  private room(): number {
    return this.idle.length + (this.maxConnections - this.open) + (this.maxQueued - this.queue.length);
  }

  /**
   * An idle connection (the most recently used) still within its keep-alive time, a new one under
   * the cap, or undefined. The expiry is checked here, not only by the once-a-second sweep: a
   * connection past it (the upstream may be closing it right now) is never handed out.
   */
  private acquire(): Connection | undefined {
    let idle = this.idle.pop();
    if (idle !== undefined) {
      const now = Date.now();
      while (idle !== undefined && now - idle.idleSince >= idle.keepAliveMs) {
        idle.destroy();
        idle = this.idle.pop();
      }
      if (idle !== undefined) return idle;
    }
    if (this.open >= this.maxConnections) return undefined;
    this.open++;
    this.sockets++;
    return new Connection(this.settings, this);
  }

  private run(connection: Connection, exchange: PendingExchange): void {
    // Aborted between being handed this connection and now (a fresh connection is started on the
    // next microtask): never written upstream; the connection serves the next one, or idles.
    if (exchange.settled) {
      this.released(connection);
      return;
    }
    connection.start(exchange);
    const { socket } = connection;
    const body = exchange.body;
    const wrote = () => connection.wrote(exchange);
    if (body === null) {
      socket.write(exchange.headString, 'latin1', wrote);
    } else if (Buffer.isBuffer(body)) {
      if (body.length <= JOINED_BODY_BYTES) {
        socket.write(exchange.headString + body.toString('latin1'), 'latin1', wrote);
      } else {
        socket.cork();
        socket.write(exchange.headString, 'latin1');
        socket.write(body, wrote);
        socket.uncork();
      }
    } else {
      socket.write(exchange.headString, 'latin1');
      void this.writeStreamed(connection, exchange, body);
    }
  }

  /**
   * A streamed body: chunked, or with its declared Content-Length (checked). The body's own
   * failure (a digest mismatch) aborts the request before its last byte with that error.
   */
  private async writeStreamed(
    connection: Connection,
    exchange: PendingExchange,
    body: AsyncIterable<Buffer>,
  ): Promise<void> {
    const { socket } = connection;
    const chunked = exchange.framing.kind === 'chunked';
    const declared = exchange.framing.kind === 'length' ? exchange.framing.length : -1;
    let sent = 0;
    try {
      for await (const chunk of body) {
        // The exchange failed or was aborted: stop reading the body. After a complete answer (an
        // upstream that answered before the whole request) the body is still read to its end, so
        // that its verification completes; the connection is closed, not reused.
        if (exchange.settled && !exchange.complete) return;
        if (chunk.length === 0) continue;
        sent += chunk.length;
        if (declared >= 0 && sent > declared)
          throw new UpstreamRequestError('a body longer than its declared Content-Length');
        if (connection.gone) continue;
        let flowing: boolean;
        if (chunked) {
          socket.cork();
          socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
          socket.write(chunk);
          flowing = socket.write('\r\n', 'latin1');
          socket.uncork();
        } else {
          flowing = socket.write(chunk);
        }
        connection.progressed();
        if (!flowing && !connection.gone) await drained(socket);
      }
      if (declared >= 0 && sent !== declared)
        throw new UpstreamRequestError('a body shorter than its declared Content-Length');
      if (connection.gone) return;
      if (chunked) socket.write('0\r\n\r\n', 'latin1', () => connection.wrote(exchange));
      else connection.wrote(exchange);
    } catch (error) {
      if (exchange.connection === connection) connection.fail(error as Error);
      else if (!exchange.settled) {
        exchange.settled = true;
        exchange.handler.onError(error as Error);
      }
    }
  }

  private abort(exchange: PendingExchange, reason?: Error): void {
    if (exchange.settled) return;
    if (exchange.queued) {
      exchange.queued = false;
      const at = this.queue.indexOf(exchange);
      if (at !== -1) this.queue.splice(at, 1);
      exchange.settled = true;
      exchange.handler.onError(reason ?? new UpstreamAbortedError());
      this.checkClosed();
      return;
    }
    const connection = exchange.connection;
    if (connection !== undefined) connection.fail(reason ?? new UpstreamAbortedError());
    else if (!exchange.settled) {
      exchange.settled = true;
      exchange.handler.onError(reason ?? new UpstreamAbortedError());
    }
  }

  released(connection: Connection): void {
    const next = this.queue.shift();
    if (next !== undefined) {
      next.queued = false;
      this.run(connection, next);
      return;
    }
    if (this.closed) {
      connection.destroy();
      return;
    }
    connection.idleSince = Date.now();
    this.idle.push(connection);
  }

  destroyed(connection: Connection): void {
    this.open--;
    const at = this.idle.indexOf(connection);
    if (at !== -1) this.idle.splice(at, 1);
    // A queued request gets the freed place (also while closing: close() lets every request that
    // was accepted run, as undici's does).
    if (this.queue.length > 0) {
      const next = this.queue.shift() as PendingExchange;
      next.queued = false;
      this.open++;
      this.sockets++;
      // Started on the next turn: this may run inside the failed connection's callbacks.
      const fresh = new Connection(this.settings, this);
      queueMicrotask(() => this.run(fresh, next));
      return;
    }
    this.checkClosed();
  }

  socketClosed(): void {
    this.sockets--;
    this.checkClosed();
  }

  /**
   * Closing, and nothing left: no connection open (each in-flight one closed after its answer), none
   * queued, and every socket closed (a caller that awaited close() finds no upstream socket open).
   */
  private checkClosed(): void {
    if (this.closed && this.open === 0 && this.queue.length === 0 && this.sockets === 0) this.whenClosed?.();
  }

  private sweep(): void {
    const now = Date.now();
    for (let index = this.idle.length - 1; index >= 0; index--) {
      const connection = this.idle[index] as Connection;
      if (now - connection.idleSince >= connection.keepAliveMs) connection.destroy();
    }
  }

  request(options: UpstreamRequestOptions): Promise<UpstreamAnswer> {
    return this.requestIn(options, false);
  }

  /** request() in a reserved place or not (see {@link dispatchIn}). */
  requestIn(options: UpstreamRequestOptions, reserved: boolean): Promise<UpstreamAnswer> {
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      let abort: ((reason?: Error) => void) | undefined;
      let answer: UpstreamAnswer | undefined;
      let resumeUpstream: (() => void) | undefined;
      const onAbort = () => abort?.(new UpstreamAbortedError());
      options.signal.once('abort', onAbort);
      const body = new Readable({
        read() {
          resumeUpstream?.();
        },
        destroy(error, callback) {
          // The gateway let go of the answer (its client left): the upstream request stops.
          abort?.(new UpstreamAbortedError());
          callback(error);
        },
      });
      const handler: UpstreamHandler = {
        onConnect(abortRequest) {
          abort = abortRequest;
        },
        onHeaders(statusCode, raw, resume) {
          if (statusCode < 200) {
            options.onInfo?.({ statusCode, headers: parsedFields(raw) });
            return true;
          }
          resumeUpstream = resume;
          answer = { statusCode, headers: parsedFields(raw), trailers: {}, body };
          resolve(answer);
          return true;
        },
        onData(chunk) {
          return body.push(chunk);
        },
        onComplete(trailers) {
          options.signal.off('abort', onAbort);
          abort = undefined;
          if (answer !== undefined && trailers !== null) Object.assign(answer.trailers, parsedFields(trailers));
          body.push(null);
        },
        onError(error) {
          options.signal.off('abort', onAbort);
          abort = undefined;
          if (answer === undefined) reject(error);
          else body.destroy(error);
        },
      };
      this.dispatchIn(options, handler, reserved);
    });
  }

  /**
   * Graceful, as undici's `close()`: no new request is taken (one is refused at once), idle
   * connections close now, and the requests in flight or queued run to their end (each connection
   * closes after its answer); the promise resolves when the last has and every socket has emitted
   * 'close' (a destroyed socket closes on a later turn: the caller may exit next). Not bounded here: the
   * requests' own timeouts bound it, and `hmac-kit serve` races it against --shutdown-timeout
   * (app.ts), after it has waited for its clients' answers and closed their connections (which
   * aborts whatever the gateway still relayed for them).
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    clearInterval(this.sweeper);
    this.closing = new Promise<void>((resolve) => {
      this.whenClosed = resolve;
    });
    for (const connection of [...this.idle]) connection.destroy();
    this.idle.length = 0;
    this.checkClosed();
    return this.closing;
  }
}

/** A place in a {@link BuiltinClient} (see {@link UpstreamReservation}). */
class Reservation implements UpstreamReservation {
  private held = true;

  constructor(private readonly client: BuiltinClient) {}

  /** Whether the place is still held; it is not afterwards (used once). */
  private take(): boolean {
    if (!this.held) return false;
    this.held = false;
    this.client.unreserve();
    return true;
  }

  dispatch(options: UpstreamDispatchOptions, handler: UpstreamHandler): boolean {
    return this.client.dispatchIn(options, handler, this.take());
  }

  request(options: UpstreamRequestOptions): Promise<UpstreamAnswer> {
    return this.client.requestIn(options, this.take());
  }

  release(): void {
    this.take();
  }
}

function drained(socket: import('node:net').Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * The builtin upstream client to `origin` (see the module's comment). Throws at once when this
 * Node has no internal HTTP parser to read answers with.
 *
 * @example
 * ```ts
 * const client = createBuiltinClient('http://127.0.0.1:3000', { timeoutMs: 30_000 });
 * client.dispatch({ origin, path: '/a', method: 'GET', headers: [], body: null }, handler);
 * await client.close();
 * ```
 */
export function createBuiltinClient(origin: string, options: BuiltinClientOptions): UpstreamClient {
  return new BuiltinClient(origin, { ...options, parser: options.parser ?? nodeHttpParser() });
}
