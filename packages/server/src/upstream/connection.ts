/**
 * The answer reader: one upstream connection (a `net` or `tls` socket) and node's own C++ llhttp
 * parser reading its answers, strict (no lenient flag), one request at a time.
 *
 * Invariants (a response desync on a pooled connection would hand one client another's answer):
 * - A connection carries at most one exchange; bytes that arrive while it carries none (idle), or
 *   that start a new message after the exchange's answer completed, poison it: it is destroyed,
 *   never reused.
 * - It is handed back for reuse only after its answer was read completely and cleanly: HTTP/1.1,
 *   keep-alive semantics (no `Connection: close`, not close-delimited), the request fully written,
 *   no parse error, no abort, no timeout, no throw from a handler callback. Anything else destroys it.
 * - An answer to HEAD or to a request with a body on a method that expects none (GET, DELETE,
 *   ...: an upstream that does not read it parses it as a request of its own, and its answer
 *   would come next), and a 204 or 304 that names a body (a non-zero `Content-Length`, or a
 *   `Transfer-Encoding`), is complete with its head, but its connection is closed, not reused: an
 *   upstream that then writes that body in a later read would otherwise have it parsed as the next
 *   request's answer, another client's (review 19; undici closes after every HEAD, its issue 258,
 *   and fails such a 204/304 and closes its connection).
 * - The body timeout does not run while the upstream is paused for a client that reads slowly (as
 *   undici's does not): it starts again when reading resumes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { UpstreamAnswerError, UpstreamSocketError, UpstreamTimeoutError } from './errors.js';
import type { NodeHttpParser, NodeHttpParserClass } from './http-parser.js';
import type { UpstreamHandler } from './types.js';

/** Where and how to connect, and the timeouts (milliseconds). */
export interface ConnectionSettings {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** TLS server name (SNI); undefined for an IP address. */
  servername: string | undefined;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** The longest idle time before a kept connection is closed. */
  keepAliveMs: number;
  maxHeaderSize: number;
  /** Node's `HTTPParser`, self-tested (http-parser.ts). */
  Parser: NodeHttpParserClass;
}

/** One request in flight on a connection: what the reader needs of it. */
export interface Exchange {
  readonly handler: UpstreamHandler;
  /** HEAD: its answer has no body whatever its fields say. */
  readonly head: boolean;
  /**
   * The connection is closed after this exchange whatever its answer says: a HEAD (an upstream
   * may write the body anyway), or a body on a method that expects none (an upstream may not read
   * it, and parse it as a request of its own). As undici does (`socket[kReset]`). Also set once a
   * 100 Continue arrives: the gateway never sends `Expect`, so it is unsolicited (see onHeadersComplete).
   */
  closeAfter: boolean;
  /** The request's last byte was handed to the socket. */
  written: boolean;
  /** The final (non-1xx) head was handed to the handler. */
  answered: boolean;
  /** A callback ended it (complete, error or abort): no further callback. */
  settled: boolean;
  /** Its answer was read completely (settled by onComplete). */
  complete: boolean;
  /** The answer allows reuse (HTTP/1.1, keep-alive, framed). */
  keepAlive: boolean;
  /** The connection carrying it (set once it starts). */
  connection: Connection | undefined;
}

/** The pool side of a connection: told when one is free again or gone, and when its socket has closed. */
export interface ConnectionOwner {
  released(connection: Connection): void;
  destroyed(connection: Connection): void;
  /** Its socket emitted 'close' (after destroyed(): a destroyed socket closes on a later turn). */
  socketClosed(connection: Connection): void;
}

/** Why llhttp refused an answer, for the log line and the 502's detail (its code and fixed reason, never bytes). */
function parseFailure(error: Error): UpstreamAnswerError {
  const code = (error as { code?: string }).code ?? 'HPE_UNKNOWN';
  if (code === 'HPE_HEADER_OVERFLOW') return new UpstreamAnswerError('an answer head over the size limit', code);
  const reason = (error as { reason?: string }).reason;
  return new UpstreamAnswerError(`a malformed answer (${code}${reason ? `: ${reason}` : ''})`, code);
}

/** The last Keep-Alive value read and its hint (an upstream sends the same one on every answer). */
let lastKeepAlive = '';
let lastHint: number | undefined;

/** `timeout=N` of a Keep-Alive field, in milliseconds, or undefined. */
function keepAliveHint(value: string): number | undefined {
  if (value === lastKeepAlive) return lastHint;
  const match = /(?:^|[,;\s])timeout\s*=\s*(\d+)/i.exec(value);
  lastKeepAlive = value;
  lastHint = match === null ? undefined : Number(match[1]) * 1000;
  return lastHint;
}

/**
 * undici's margin under an upstream's announced keep-alive timeout (`keepAliveTimeoutThreshold`,
 * 2 s by default in undici 7; this was 1 s before review 19, which with the pool's once-a-second
 * sweep let a connection be handed out up to the upstream's own timeout, racing its close).
 */
const KEEP_ALIVE_MARGIN_MS = 2000;

/** One upstream connection and its parser. */
export class Connection {
  readonly socket: Socket;
  readonly parser: NodeHttpParser;
  exchange: Exchange | undefined = undefined;
  /** Raw fields gathered by kOnHeaders (a head of more than 32 fields, or trailers). */
  fields: string[] = [];
  /** The exchange whose answer completed in the current read (released after the read). */
  completed: Exchange | undefined = undefined;
  /** Bytes beyond the answer: never reused. */
  poisoned = false;
  gone = false;
  /** When it became idle (ms, performance-free `Date.now()`), and how long it may stay so. */
  idleSince = 0;
  keepAliveMs: number;
  /**
   * The exchange's timer (headers, then body), kept for the connection's life and restarted with
   * `refresh()` (no timer made per request); 'idle' when no exchange waits on it (it then fires
   * into nothing). The connect timeout has a timer of its own, made once per connection.
   */
  private timer: NodeJS.Timeout | undefined = undefined;
  private timerMs = 0;
  private timerKind: 'headers' | 'body' | 'idle' = 'idle';
  private connectTimer: NodeJS.Timeout | undefined;
  /** The answer's interim head being skipped (1xx): its message-complete is not the answer's. */
  private interim = false;
  private connecting = true;
  /** Reading is paused for the handler (its client reads slower than the upstream sends). */
  private paused = false;

  constructor(
    readonly settings: ConnectionSettings,
    readonly owner: ConnectionOwner,
  ) {
    const Parser = settings.Parser;
    this.keepAliveMs = settings.keepAliveMs;
    const socket =
      settings.protocol === 'https:'
        ? tlsConnect({
            host: settings.hostname,
            port: settings.port,
            // undici's defaults: the system's CA store, certificates verified, SNI for a name.
            rejectUnauthorized: true,
            ALPNProtocols: ['http/1.1'],
            ...(settings.servername === undefined ? {} : { servername: settings.servername }),
          })
        : netConnect({ host: settings.hostname, port: settings.port });
    socket.setNoDelay(true);
    this.socket = socket;
    const parser = new Parser();
    parser.initialize(Parser.RESPONSE, {}, settings.maxHeaderSize, 0);
    this.parser = parser;
    parser[Parser.kOnMessageBegin] = () => this.onMessageBegin();
    parser[Parser.kOnHeaders] = (headers: string[]) => {
      for (const item of headers) this.fields.push(item);
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
    ) => this.onHeadersComplete(major, minor, headers, status, upgrade, keepAlive);
    parser[Parser.kOnBody] = (chunk: Buffer) => this.onBody(chunk);
    parser[Parser.kOnMessageComplete] = () => this.onMessageComplete();
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => this.onSocketEnd());
    socket.on('error', (error: Error) => this.fail(error));
    socket.on('close', () => {
      this.fail(new UpstreamSocketError('other side closed'));
      this.owner.socketClosed(this);
    });
    socket.once(settings.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      this.connecting = false;
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
    });
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      if (this.connecting) this.fail(new UpstreamTimeoutError('connect'));
    }, settings.connectTimeoutMs);
  }

  /** Starts `exchange` on this (free) connection; the caller then writes the request. */
  start(exchange: Exchange): void {
    this.exchange = exchange;
    exchange.connection = this;
    this.interim = false;
    this.paused = false;
    this.arm('headers');
  }

  /** The request's bytes are moving: the answer's wait starts again (a slow upload is not a silent upstream). */
  progressed(): void {
    if (this.timer !== undefined && this.timerKind === 'headers') this.timer.refresh();
  }

  private arm(kind: 'headers' | 'body'): void {
    const ms = kind === 'headers' ? this.settings.headersTimeoutMs : this.settings.bodyTimeoutMs;
    this.timerKind = kind;
    if (this.timer !== undefined && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(this.onTimeout, ms);
    // An idle connection's timer keeps no process alive.
    this.timer.unref();
  }

  /** No exchange waits on the timer now (it fires into nothing). */
  private disarm(): void {
    this.timerKind = 'idle';
  }

  private readonly onTimeout = (): void => {
    const kind = this.timerKind;
    if (this.gone || kind === 'idle' || this.exchange === undefined) return;
    // Paused for a slow client: not the upstream's silence (resume() starts the wait again).
    if (this.paused && kind === 'body') return;
    this.fail(new UpstreamTimeoutError(kind));
  };

  private onSocketData(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange === undefined || exchange.settled) {
      // Bytes nobody asked for (an idle connection, or after an exchange ended): never parsed
      // into the next exchange's answer.
      this.poisoned = true;
      this.destroy();
      return;
    }
    let result: number | Error;
    try {
      result = this.parser.execute(chunk);
    } catch (error) {
      // A handler callback threw inside the parser: the exchange fails and the connection goes
      // (as undici's parser does), rather than the throw escaping from the socket's listener.
      this.completed = undefined;
      this.fail(error instanceof Error ? error : new UpstreamSocketError('a handler failed'));
      return;
    }
    const completed = this.completed;
    this.completed = undefined;
    if (result instanceof Error) {
      if (completed !== undefined) this.destroy();
      else this.fail(parseFailure(result));
      return;
    }
    if (completed !== undefined) this.finished(completed);
  }

  /** The upstream ended its side: completes a close-delimited body, fails anything else. */
  private onSocketEnd(): void {
    const exchange = this.exchange;
    if (exchange === undefined || exchange.settled) {
      this.destroy();
      return;
    }
    let result: number | Error | undefined;
    try {
      result = this.parser.finish();
    } catch (error) {
      this.completed = undefined;
      this.fail(error instanceof Error ? error : new UpstreamSocketError('a handler failed'));
      return;
    }
    const completed = this.completed;
    this.completed = undefined;
    if (completed !== undefined) {
      this.finished(completed);
      this.destroy();
      return;
    }
    this.fail(
      result instanceof Error && exchange.answered
        ? new UpstreamSocketError('other side closed mid-answer')
        : result instanceof Error
          ? parseFailure(result)
          : new UpstreamSocketError('other side closed'),
    );
  }

  private onMessageBegin(): void {
    const exchange = this.exchange;
    // A message after the exchange's answer completed (a body longer than it said, a second
    // "answer"): the connection is out of step with its requests.
    if (exchange === undefined || exchange.settled || this.completed !== undefined) this.poisoned = true;
  }

  private onHeadersComplete(
    major: number,
    minor: number,
    headers: string[] | undefined,
    status: number,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const exchange = this.exchange;
    let raw = headers;
    if (raw === undefined) {
      raw = this.fields;
      this.fields = [];
    }
    if (exchange === undefined || exchange.settled || this.poisoned || this.completed !== undefined) {
      this.poisoned = true;
      return 1;
    }
    if (status === 101 || upgrade) {
      this.fail(new UpstreamAnswerError('a protocol switch (101) the gateway did not ask for', 'HMAC_KIT_UPGRADE'));
      return 1;
    }
    if (status < 200) {
      // An interim answer: 100 Continue is skipped (RFC 9110 §15.2: a client parses and ignores
      // one it did not ask for), 102 and 103 go to the handler. Its (empty) message completes
      // before the final answer starts.
      this.interim = true;
      this.arm('headers');
      if (status !== 100) exchange.handler.onHeaders(status, raw, this.resume);
      // The gateway never sends `Expect: 100-continue` (request-head.ts refuses the field), so a
      // 100 is one it did not ask for: undici fails the request on it. Skipped here, but the
      // connection is not reused: an upstream out of step with its requests may write more of
      // the answer in a later write, which would become the next client's answer
      // (review19-upstream-differential.test.ts found it: "100 Continue", an answer, then another).
      else exchange.closeAfter = true;
      return 1;
    }
    exchange.answered = true;
    // Never reused after a HEAD (as undici does, its issue 258) or a body on a GET-like method
    // (closeAfter), nor after a 204 or 304 that names a body: an upstream that writes that body
    // anyway (or answers a body it read as a request), in a later read, would otherwise have it
    // parsed as the next request's answer, another client's (review 19).
    exchange.keepAlive =
      keepAlive &&
      major === 1 &&
      minor === 1 &&
      !exchange.closeAfter &&
      !((status === 204 || status === 304) && namesBody(raw));
    for (let index = 0; index + 1 < raw.length; index += 2) {
      const name = raw[index] as string;
      if (name.length !== 10 || name.toLowerCase() !== 'keep-alive') continue;
      const hinted = keepAliveHint(raw[index + 1] as string);
      if (hinted !== undefined) this.keepAliveMs = Math.min(this.keepAliveMs, hinted - KEEP_ALIVE_MARGIN_MS);
    }
    this.arm('body');
    exchange.handler.onHeaders(status, raw, this.resume);
    // HEAD: no body whatever the fields say (llhttp itself knows 204 and 304 have none).
    return exchange.head ? 1 : 0;
  }

  private onBody(chunk: Buffer): void {
    const exchange = this.exchange;
    if (exchange === undefined || exchange.settled || !exchange.answered) {
      this.poisoned = true;
      return;
    }
    this.timer?.refresh();
    if (exchange.handler.onData(chunk) === false) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private readonly resume = (): void => {
    if (this.gone) return;
    if (this.paused) {
      this.paused = false;
      // The body's wait starts again (it did not run while paused).
      if (this.timerKind === 'body') this.arm('body');
    }
    this.socket.resume();
  };

  private onMessageComplete(): void {
    const exchange = this.exchange;
    if (exchange === undefined || exchange.settled || this.completed !== undefined) {
      this.poisoned = true;
      return;
    }
    if (this.interim) {
      this.interim = false;
      this.fields = [];
      return;
    }
    const trailers = this.fields;
    this.fields = [];
    this.disarm();
    exchange.settled = true;
    exchange.complete = true;
    this.completed = exchange;
    exchange.handler.onComplete(trailers.length > 0 ? trailers : null);
  }

  /** After the read that completed `exchange`'s answer: back to the pool, or closed. */
  private finished(exchange: Exchange): void {
    this.exchange = undefined;
    exchange.connection = undefined;
    if (this.gone) return;
    if (this.poisoned || !exchange.keepAlive || !exchange.written || this.keepAliveMs <= 0) {
      this.destroy();
      return;
    }
    this.paused = false;
    this.socket.resume();
    this.owner.released(this);
  }

  /**
   * The request's last byte was written. If its answer already completed (an upstream that
   * answered before reading the whole request), the connection is closed, not reused.
   */
  wrote(exchange: Exchange): void {
    exchange.written = true;
    if (this.exchange === exchange && !exchange.settled) this.progressed();
  }

  /** Fails the exchange in flight (once) and destroys the connection. */
  fail(error: Error): void {
    const exchange = this.exchange;
    if (exchange !== undefined && !exchange.settled && this.completed !== exchange) {
      exchange.settled = true;
      this.exchange = undefined;
      exchange.connection = undefined;
      this.destroy();
      exchange.handler.onError(error);
      return;
    }
    this.destroy();
  }

  /** Closes the connection for good (never reused). */
  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    this.timerKind = 'idle';
    clearTimeout(this.timer);
    clearTimeout(this.connectTimer);
    this.socket.destroy();
    // Not freed here: a callback of the parser may be on the stack (free() then would use freed memory).
    setImmediate(freeParser, this.parser);
    this.owner.destroyed(this);
    const exchange = this.exchange;
    if (exchange !== undefined && !exchange.settled && this.completed !== exchange) {
      exchange.settled = true;
      this.exchange = undefined;
      exchange.connection = undefined;
      exchange.handler.onError(new UpstreamSocketError('connection closed'));
    }
  }
}

/**
 * Whether an answer head names a body: a `Content-Length` other than 0, or a `Transfer-Encoding`
 * (read only for a 204 or 304, which has none whatever its fields say).
 */
function namesBody(raw: readonly string[]): boolean {
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = (raw[index] as string).toLowerCase();
    if (name === 'transfer-encoding') return true;
    if (name === 'content-length' && raw[index + 1] !== '0') return true;
  }
  return false;
}

function freeParser(parser: NodeHttpParser): void {
  parser.close();
}
