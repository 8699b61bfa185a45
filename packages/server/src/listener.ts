import { readFile } from 'node:fs/promises';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  type Server,
  ServerResponse,
  STATUS_CODES,
} from 'node:http';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  Http2ServerResponse,
  type Http2Session,
  constants as http2Constants,
  type ServerHttp2Stream,
} from 'node:http2';
import { type AddressInfo, isIPv6, type Server as NetServer, Socket as NetSocket, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { PROBLEM_TABLE, type ProblemCode, problemBody } from '@hmac-kit/core';
import type { ServerConfig } from './config.js';
import { sendProblem, serverProblem } from './http.js';
import { FieldsIncomingMessage } from './incoming.js';
import type { Logger } from './logger.js';
import { newRequestId } from './request-context.js';

/** How long an HTTP/2 session with no stream activity stays open (clients multiplex on it, so longer). */
const HTTP2_IDLE_TIMEOUT_MS = 120_000;

/**
 * Streams (requests) one HTTP/2 session may have open at once, announced in its SETTINGS: nginx's
 * default (`http2_max_concurrent_streams 128`). Node's default is 2^32-1, so one connection could
 * carry any number of requests in flight, whatever `--max-connections` says. A client queues
 * requests beyond it; one that does not gets RST_STREAM(REFUSED_STREAM) for them.
 */
export const HTTP2_MAX_CONCURRENT_STREAMS = 128;

/**
 * How long a connection closed in the middle of a request body goes on reading (and dropping) what
 * the client still sends before it is destroyed: closing a socket with unread bytes makes the kernel
 * answer with a reset, which can reach the client before it has read the response (undici then
 * fails the request with EPIPE/ECONNRESET instead of showing the 413). Bounded, like nginx's
 * `lingering_time`: a client that keeps sending is cut off after it.
 */
const LINGERING_CLOSE_MS = 2_000;

/**
 * An HTTP/1.1 response that says `Connection: close` when the connection cannot carry another
 * request: its request was destroyed before its body had arrived in full. Every reader of a body
 * here (`for await` in the gateway and in readBody()) destroys the request when it stops early: a
 * body over the size limit, a body the upstream stopped taking, a digest that failed mid-stream.
 * Node then neither reads the rest of the body nor drains it. The head used to say `keep-alive`
 * anyway; the connection stalled with the rest of the body unread until the idle timeout reset it,
 * and a keep-alive client (undici, nginx, a load balancer) that had sent its whole body put the
 * connection back in its pool and had its next request reset (`read ECONNRESET`). Now Node writes
 * `Connection: close` (`shouldKeepAlive` off), and the connection is closed once the response is
 * out, after a lingering close (see {@link LINGERING_CLOSE_MS}), so no client reuses it.
 *
 * A request whose body nobody read (a refusal before the body stage) is drained by Node after the
 * response (or by the route's `request.resume()`): that connection stays usable, and says so. The
 * drain is bounded (see {@link boundDrain}): a client that goes on sending a refused body for
 * longer than {@link LINGERING_CLOSE_MS} after the response is cut off.
 */
export class ClosingServerResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  // `end` runs once per response; the check is two property reads on the hot path, and only a
  // response that ends before its request body has fully arrived arms a timer.
  override end(cb?: () => void): this;
  override end(chunk: unknown, cb?: () => void): this;
  override end(chunk: unknown, encoding: BufferEncoding, cb?: () => void): this;
  override end(...args: unknown[]): this {
    const request = this.req;
    // A bodiless request can be incomplete here too (a route answering synchronously from inside
    // the parser's header callback): it has nothing to drain and must not cost a timer.
    if (!request.complete && !request.destroyed && declaresBody(request)) {
      // A response pipelined behind one still being answered has no socket yet (Node queues it and
      // writes it once the earlier one is out): its bound starts when it is out, on the request's
      // socket. Arming nothing here let a refused request queued behind a slow answer drain forever.
      if (this.socket === null) this.once('finish', () => boundDrain(request, request.socket));
      else boundDrain(request, this.socket);
    }
    return (super.end as (...rest: unknown[]) => this)(...args);
  }

  override writeHead(
    statusCode: number,
    reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    headers?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    const request = this.req;
    if (request.destroyed && !request.complete && this.shouldKeepAlive) {
      this.shouldKeepAlive = false;
      closeLingering(request, this.socket);
    }
    return super.writeHead(statusCode, reason as string, headers);
  }
}

/**
 * Connections whose response said `Connection: close` because its request body was cut off. Node's
 * parser goes on reading them (the lingering close): the rest of the abandoned body is framed and
 * dropped, but whatever the client sends after it is parsed as a new request. RFC 9112 9.6: a
 * server that sent `close` must not process further requests on that connection, and none reaches
 * a route (the gateway would verify and forward it, the admin API act on it, and its answer would
 * never be written: the connection closes after the first).
 */
const closingConnections = new WeakSet<Socket>();

/**
 * The routes' handler, except for a request that arrives on a connection already closing (see
 * {@link closingConnections}): its body is dropped and it gets no answer, as the connection ends.
 */
function notOnClosingConnections(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    if (closingConnections.has(request.socket)) {
      request.resume();
      return;
    }
    handler(request, response);
  };
}

/**
 * Reads and drops the rest of an abandoned request body while the response goes out, then closes:
 * the write side first (after the response), the socket once the client has closed its side or
 * {@link LINGERING_CLOSE_MS} has passed. Node closes a `Connection: close` connection through
 * `destroySoon()` (at once, unread bytes and all), so this one socket gets its own.
 */
function closeLingering(request: IncomingMessage, socket: Socket | null): void {
  if (socket === null || socket.destroyed) return;
  closingConnections.add(socket);
  // A destroyed request pauses the socket at the next body chunk (Node's parser pushes each chunk
  // into it); a dumped one has its chunks dropped. `_dump()` is how Node itself discards the body
  // of a request nobody read, and has been since Node 0.10.
  (request as IncomingMessage & { _dump?: () => void })._dump?.();
  socket.resume();
  socket.destroySoon = function lingeringClose(this: Socket) {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), LINGERING_CLOSE_MS);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}

/**
 * Keeps an HTTP/1.1 connection whose client half-closed (sent its FIN right after the request:
 * `nc -N`, `printf ... | nc`, some health checkers) open until the answer in flight is written,
 * then ends it. Node's HTTP server by default aborts the request and ends the connection at the
 * client's FIN, which lost every answer not written in that same turn (an answer after a Redis
 * round trip or a database query: adversarial/half-close.test.ts). `httpAllowHalfOpen` is the
 * switch Node's own HTTP server reads for this (`socketOnEnd` in lib/_http_server.js, in every
 * Node since 0.x; not in the typings). It holds nothing an idle connection does not already hold:
 * the request and write timeouts still apply, and a half-closed connection with nothing in flight
 * is ended at once.
 *
 * Not in gateway mode (`answerHalfClosed` off): there a FIN cannot be told from an ordinary close (`close()` sends one too),
 * and a client that gives up must cancel its upstream request, as nginx (Kong, APISIX) and Go's
 * reverse proxy (Tyk) do; kept open, every abandoned request ran on upstream until it answered or
 * `--upstream-timeout` (review18).
 */
function keepHalfClosedUntilAnswered(server: object): void {
  (server as { httpAllowHalfOpen?: boolean }).httpAllowHalfOpen = true;
}

/**
 * Bounds the drain of a request body that is still arriving when its response has ended: a
 * refusal before the body stage (a bad signature, a declared length over `--max-body`, a route
 * that does not exist) answers at once and Node then reads and drops the rest of the body, for as
 * long as the client sends it (`requestTimeout` is off: a long authenticated upload must not be
 * cut). Without a bound an unauthenticated client could declare a body of any length and trickle
 * it, holding a connection and a little CPU forever. A body that finishes within
 * {@link LINGERING_CLOSE_MS} of the response (every genuine small body) leaves the connection as it
 * was, keep-alive included; one that does not has its connection destroyed. By then the response
 * has long been handed to the kernel, and a client still sending cannot have reused the connection.
 */
function declaresBody(request: IncomingMessage): boolean {
  const { headers } = request;
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Whether every byte of an HTTP/1.x request's `Content-Length` body is buffered and unread, before
 * Node's parser has marked the message complete: no `Transfer-Encoding` (which Node's parser refuses
 * beside a `Content-Length` anyway), nothing read or resumed, and the buffered bytes are the
 * declared length. Node's parser hands a request at most its declared length of body (the rest of
 * the connection's bytes go to the next request), so that buffer is the whole body, byte for byte.
 * The one rule for "the body is here" shared by the body-rate watch ({@link bodyArrived}) and the
 * gateway's buffered body (gateway.ts `completeBody`).
 *
 * @internal Exported for the gateway and the tests.
 */
export function contentLengthBodyBuffered(request: IncomingMessage): boolean {
  if (request.readableFlowing !== null || request.httpVersionMajor !== 1) return false;
  const headers = request.headers;
  if (headers['transfer-encoding'] !== undefined) return false;
  const length = headers['content-length'];
  return length !== undefined && request.readableLength > 0 && request.readableLength === Number(length);
}

/**
 * Whether an HTTP/1.1 request's body can no longer be trickled: the message is complete, the request
 * is gone, or every declared byte is buffered ({@link contentLengthBodyBuffered}). A body that was
 * read or resumed, or is chunked, is never taken as arrived here.
 *
 * @internal Exported for its tests.
 */
export function bodyArrived(request: IncomingMessage): boolean {
  return request.complete || request.destroyed || contentLengthBodyBuffered(request);
}

function boundDrain(request: IncomingMessage, socket: Socket | null): void {
  if (socket === null || socket.destroyed || request.complete) return;
  cutUnlessEnded(request, socket, () => socket.destroy());
}

/**
 * Calls `cut` unless `request`'s body has ended within {@link LINGERING_CLOSE_MS}; `carrier` is
 * what the request travels on (the socket, the HTTP/2 stream). Every listener goes with the timer:
 * a keep-alive connection carries any number of refusals, and a 'close' listener left on its
 * socket per refusal held that request until the connection closed.
 */
function cutUnlessEnded(
  request: NodeJS.EventEmitter & { complete: boolean },
  carrier: NodeJS.EventEmitter,
  cut: () => void,
): void {
  const timer = setTimeout(() => {
    if (!request.complete) cut();
  }, LINGERING_CLOSE_MS);
  timer.unref();
  const clear = () => {
    clearTimeout(timer);
    request.off('end', clear);
    request.off('close', clear);
    carrier.off('close', clear);
  };
  request.once('end', clear);
  request.once('close', clear);
  carrier.once('close', clear);
}

/**
 * An HTTP/2 response whose request body is still arriving when it ends (a refusal before the body
 * stage: a bad signature, a declared length over `--max-body`) has its stream closed with
 * RST_STREAM(NO_ERROR) (RFC 9113 8.1, after a complete response) once the body has gone on
 * arriving for {@link LINGERING_CLOSE_MS}: the HTTP/2 form of {@link boundDrain}. Without it the
 * refusal's `request.resume()` kept granting flow-control window, and a client trickling DATA on
 * the stream held it (and the session, whose idle timeout the frames reset) for as long as it liked.
 */
export class ClosingHttp2ServerResponse extends Http2ServerResponse {
  override end(...args: unknown[]): this {
    const request = this.req as Http2ServerRequest;
    // A request whose HEADERS ended the stream (a GET) has no body to bound and costs no timer.
    const stream = this.stream;
    if (!stream.endAfterHeaders && !request.complete && !stream.destroyed) boundStream(request, stream);
    return (super.end as (...rest: unknown[]) => this)(...args);
  }
}

function boundStream(request: Http2ServerRequest, stream: ServerHttp2Stream): void {
  cutUnlessEnded(request, stream, () => {
    if (!stream.destroyed) stream.close(http2Constants.NGHTTP2_NO_ERROR);
  });
}

/**
 * The slowest a request body may arrive while the server waits for it, in bytes per second, judged
 * over each `--headers-timeout` window (15 KB per 30 s by default), until the request is proven
 * (see {@link exemptFromBodyRate}). Like Apache's `mod_reqtimeout` `MinRate=500`.
 */
export const MIN_BODY_BYTES_PER_SECOND = 500;

/** Requests whose sender is proven: their body may take as long as it likes. */
const bodyRateExempt = new WeakSet<object>();

/**
 * Lifts the body rate bound of {@link watchBodyRate} for a request whose sender is proven (a
 * signature verified over the request head): a long authenticated upload must not be cut.
 */
export function exemptFromBodyRate(request: IncomingMessage): void {
  bodyRateExempt.add(request);
}

/**
 * Bounds how slowly an unproven request body may arrive (slow POST, "R-U-Dead-Yet"): the request
 * head is bounded by `headersTimeout`, but a client that sent a complete head declaring a body and
 * then trickled one byte a minute held its connection (or, over HTTP/2, its stream) for ever on
 * every route that reads a body before the sender is proven: the logins, and the schemes that sign
 * the body itself (in the gateway, whoami and the signed admin API, which verify the head first). With
 * `--max-connections` a handful of addresses held every slot. Each `windowMs` in which the server
 * waited for the body (nothing unread, no backpressure: never the server's or the upstream's
 * slowness) must bring {@link MIN_BODY_BYTES_PER_SECOND}; otherwise `cut` runs. Bytes are counted
 * where Node hands them to the request (`push`), so the body is neither read nor switched to
 * flowing mode here.
 */
function watchBodyRate(request: IncomingMessage | Http2ServerRequest, windowMs: number, cut: () => void): void {
  let received = 0;
  let judgedFrom = 0;
  let pressured = false;
  const push = request.push;
  request.push = function countedPush(this: typeof request, chunk: unknown, encoding?: BufferEncoding) {
    if (chunk !== null && chunk !== undefined) received += (chunk as { length: number }).length;
    const more = push.call(this, chunk, encoding);
    if (!more) pressured = true;
    return more;
  };
  const minimum = Math.ceil((MIN_BODY_BYTES_PER_SECOND * windowMs) / 1000);
  const stop = () => clearInterval(timer);
  const timer = setInterval(() => {
    if (request.complete || request.destroyed || bodyRateExempt.has(request)) return stop();
    // The server was not waiting for the client: a reader busy elsewhere, an upstream taking its time.
    if (pressured || request.readableLength > 0) {
      pressured = false;
      judgedFrom = received;
      return;
    }
    if (received - judgedFrom < minimum) {
      stop();
      cut();
      return;
    }
    judgedFrom = received;
  }, windowMs);
  timer.unref();
  request.once('end', stop);
  request.once('close', stop);
}

/**
 * What a request whose body stalled below {@link MIN_BODY_BYTES_PER_SECOND} gets: when nothing has
 * been answered yet (the head was complete, the route is waiting for the body), `408` with the
 * problem code `body_timeout` (HTTP/1.1 with `Connection: close`), and `close(true)` once it is out
 * (or after {@link LINGERING_CLOSE_MS}, should the client not take it); otherwise `close(false)` at
 * once. The close stays either way: a client that trickles a body gets no more of this connection
 * (HTTP/1.1) or stream (HTTP/2). The route waiting for the body sees its request aborted as the
 * 408 goes out (see below), and its own answer finds the headers sent (sendProblem then destroys
 * the response).
 */
function answerBodyTimeout(response: ServerResponse, http1: boolean, close: (answered: boolean) => void): void {
  if (response.headersSent || response.writableEnded || response.destroyed) {
    close(false);
    return;
  }
  let closed = false;
  const closeOnce = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    close(true);
  };
  const timer = setTimeout(closeOnce, LINGERING_CLOSE_MS);
  timer.unref();
  response.once('finish', closeOnce);
  // HTTP/2 forbids connection-specific header fields (RFC 9113 8.2.2): the stream is reset instead.
  if (http1) response.setHeader('connection', 'close');
  sendProblem(
    response,
    serverProblem(
      'body_timeout',
      `the request body arrived under ${MIN_BODY_BYTES_PER_SECOND} bytes/s; the connection is closed`,
    ),
  );
  // The route waiting for the body must never see it end now: answered 408, the request was not
  // processed. Over HTTP/2 the stream's close ends the request (node:http2's compat layer pushes
  // the end of the body), so a route read a truncated body as complete and verified it: a
  // failed authentication logged and tallied against the key id and address of a client that
  // was only slow (review13). And until the close, the rest of the body could still arrive and
  // the route act on a request already answered 408 (a login issuing a key nobody receives, a
  // request forwarded upstream). Destroyed now (HTTP/1.1: detached from its socket first, as
  // gateway.ts abandon() does, so the answer still goes out), every reader fails as on a client gone.
  const request = response.req as IncomingMessage | undefined;
  if (request !== undefined && !request.destroyed) {
    if (http1) (request as { socket: unknown }).socket = null;
    request.destroy();
  }
}

/**
 * The most an HTTP/2 control frame's ACK can add to the TCP socket's `bytesWritten`: a PING ACK
 * (9-byte frame header and 8-byte payload) alone in a TLS record (TLS 1.2 AES-GCM's 29 bytes of
 * header, explicit nonce and tag; TLS 1.3 adds 22). ACKs that share a record cost less: taking
 * off the most can only judge the client that sends the PINGs more strictly.
 */
const HTTP2_PING_ACK_BYTES = 9 + 8 + 29;
/** A SETTINGS ACK: a 9-byte frame header, no payload, in a TLS record of its own at most. */
const HTTP2_SETTINGS_ACK_BYTES = 9 + 29;

/** What {@link boundStalledWrites} asks of a connection's HTTP/2 streams, by the TCP socket beneath them. */
interface StalledStreams {
  /** Bytes of answers waiting in the session's streams (held back by flow control). */
  queuedInStreams(transport: Socket): number;
  /** Bytes the session has written, so far, only to answer the client's PING and SETTINGS frames. */
  answeredControl(transport: Socket): number;
  /**
   * Keeps, oldest first, as many of the streams whose answers have waited since the last sweep as
   * `allowed`, and resets the others (all of them for 0: the streams stalled). An answer that
   * started waiting since the last sweep is neither kept nor reset: it is judged at the next one
   * (the grace a connection gets). False when no answer waits.
   */
  resetStreamsBeyond(transport: Socket, allowed: number): boolean;
}
const NO_STREAMS: StalledStreams = {
  queuedInStreams: () => 0,
  answeredControl: () => 0,
  resetStreamsBeyond: () => false,
};

/** The slowest a client may take an answer the server is waiting to send, bytes per second (see {@link boundStalledWrites}). */
export const MIN_SEND_BYTES_PER_SECOND = 500;

/** A stream handle's bytes handed to libuv but not yet to the kernel (its send buffer is full). */
type Handled = Socket & { _handle?: { writeQueueSize?: number } | null };

/** Bytes written to `socket` that have not reached the kernel yet: its buffer and libuv's queue. */
function unsentBytes(socket: Socket): number {
  return socket.writableLength + ((socket as Handled)._handle?.writeQueueSize ?? 0);
}

/**
 * The TCP socket a connection's bytes leave by: the socket itself on plain HTTP; beneath a TLS
 * socket, the one it wraps (Node's `TLSSocket#_parent`, set on every server-side TLS socket since
 * Node 0.11), whose `bytesWritten` counts the ciphertext handed to libuv. A TLS socket's own
 * counters are plaintext: its `bytesWritten` counts what was written to it and its handle's
 * `writeQueueSize` plaintext waiting in OpenSSL's layer, so `bytesWritten - unsent` there went
 * negative while the client read nothing (measured: 8 MiB written, 7 MiB buffered, 7 MiB queued).
 * Over HTTP/2 the session writes into the TLS layer from C++ and the TLS socket shows nothing
 * unsent: only the TCP socket's queue shows the stall.
 */
function transportOf(socket: Socket): Socket | undefined {
  if (!('encrypted' in socket)) return socket;
  const parent = (socket as Socket & { _parent?: unknown })._parent;
  return parent instanceof NetSocket ? parent : undefined;
}

/**
 * Closes connections whose client has stopped reading (slow read): a response that cannot be
 * written never finishes, so neither the keep-alive nor the headers timeout starts: a client that
 * pipelined requests for a large answer (the 51 KB `/openapi.json`) and read nothing held its
 * connection, and its slot under `--max-connections`, for as long as its TCP stack answered window
 * probes (plain HTTP has no socket timeout; over TLS the 120 s inactivity timeout was reset by
 * every byte the client read, and an HTTP/2 client that opened its flow-control windows wide could
 * stall the same way). Every `windowMs`, a connection that has had unsent data since the previous
 * sweep and got fewer than {@link MIN_SEND_BYTES_PER_SECOND} x the window into the kernel
 * meanwhile (measured on its TCP socket, see {@link transportOf}) is destroyed (nginx's
 * `send_timeout`, with a rate). Connections with nothing pending (idle, waiting for an upstream)
 * are not looked at. Answers the function to call for each new connection: it arms the sweep,
 * which disarms itself once no connection is open.
 *
 * `queuedInStreams` adds what waits above the socket: an HTTP/2 answer held back by the client's
 * flow-control windows sits in its stream (Node's queue, nghttp2), not in the TCP socket. Without
 * it a client that kept its windows shut (SETTINGS_INITIAL_WINDOW_SIZE 0, a WINDOW_UPDATE of a
 * few bytes or a PING now and then to keep the session's idle timeout away) left the socket empty
 * and held 128 pending answers per connection for as long as it liked (review13-h2-window.test.ts).
 *
 * `answeredControl` is what the server wrote, so far, only because the client asked for it: an
 * HTTP/2 PING's ACK and a SETTINGS frame's ACK. Counted as progress, they let a client that kept
 * its windows shut stay above the rate with PINGs alone (~1 KB/s of them: review15-h2-slow-peers).
 *
 * A connection judged stalled whose TCP socket has nothing waiting (its client reads it, and its
 * HTTP/2 streams' windows hold the answers back) has those streams reset (RST_STREAM CANCEL) by
 * `resetStreamsBeyond(transport, 0)` instead, those whose answers waited since the last sweep (one
 * queued since is judged at the next sweep: the grace the connection got): closing the connection also cut the session's other streams, a
 * request waiting for its upstream or one answered at a fair pace a moment later
 * (review15-h2-slow-peers). A client that does not read at all fills the socket and loses the
 * connection, as before (its resets cannot even leave).
 *
 * The rate holds for each answer waiting, not only for the connection: an HTTP/2 connection keeps
 * as many of its streams whose answers have waited since the last sweep as it sent minimums since
 * then, oldest first (`resetStreamsBeyond`), and the others are reset. Otherwise one stream read at
 * 500 B/s held up to 127 others' answers in memory (each a copy in its stream, 51 KB for
 * /openapi.json) at no further cost, where HTTP/1.1 holds one answer per connection at that rate
 * (review15-h2-slow-peers). Node shows no stream's own progress (an answer's bytes leave its
 * `bufferSize` only once all were sent), so the connection's bytes are what is shared out.
 */
function boundStalledWrites(
  connections: ReadonlySet<Socket>,
  windowMs: number,
  streams: StalledStreams = NO_STREAMS,
): () => void {
  const { queuedInStreams, answeredControl, resetStreamsBeyond } = streams;
  const minimum = Math.ceil((MIN_SEND_BYTES_PER_SECOND * windowMs) / 1000);
  const sentAtLastSweep = new WeakMap<Socket, number>();
  let timer: NodeJS.Timeout | undefined;
  const sweep = () => {
    // No connection, no timer: an idle server fires none (idle.test.ts); the next connection re-arms it.
    if (connections.size === 0) {
      clearInterval(timer);
      timer = undefined;
      return;
    }
    for (const socket of connections) {
      const transport = transportOf(socket);
      if (transport === undefined) continue;
      const unsentInSocket = transport === socket ? unsentBytes(socket) : unsentBytes(socket) + unsentBytes(transport);
      const inStreams = queuedInStreams(transport);
      const unsent = unsentInSocket + inStreams;
      if (unsent === 0) {
        sentAtLastSweep.delete(socket);
        continue;
      }
      // What the kernel took: bytes handed to libuv less those libuv still holds, less the
      // answers to the client's own control frames (they are no answer going out).
      const sent = transport.bytesWritten - unsentBytes(transport) - answeredControl(transport);
      const before = sentAtLastSweep.get(socket);
      if (before !== undefined && sent - before < minimum) {
        // Nothing waits in the socket: the client reads the connection and holds the answers back
        // with its streams' windows. The streams stalled, not the connection: they are reset, and
        // the session's other streams (and its next requests) go on. Only the answers that waited
        // since the last sweep: one that started waiting since is judged at the next sweep, as a
        // connection is (review15-h2-slow-peers).
        if (unsentInSocket === 0 && resetStreamsBeyond(transport, 0)) sentAtLastSweep.set(socket, sent);
        else socket.destroy();
        continue;
      }
      sentAtLastSweep.set(socket, sent);
      // At a connection's first sweep with answers waiting, its streams' answers are only noted as waiting.
      if (inStreams > 0)
        resetStreamsBeyond(
          transport,
          before === undefined ? Number.POSITIVE_INFINITY : Math.floor((sent - before) / minimum),
        );
    }
  };
  return () => {
    if (timer !== undefined) return;
    timer = setInterval(sweep, windowMs);
    timer.unref();
  };
}

/**
 * Bounds an HTTP/2 request head by `--headers-timeout`, as Node bounds an HTTP/1.1 one. node:http2
 * shows JavaScript complete frames only (a 'stream' once a head has arrived whole), and a partial
 * frame restarts nothing: a client that sent a HEADERS frame without END_HEADERS and then trickled
 * a CONTINUATION frame (or any frame, or a TLS record) a byte at a time held its connection for as
 * long as it liked, while an HTTP/1.1 head is cut after `--headers-timeout`: the session's 120 s
 * idle timeout sends GOAWAY, but `close()` leaves a session whose header block nghttp2 is still
 * reading open (measured: still open after 200 s, 1,809 bytes of a CONTINUATION frame trickled).
 *
 * What JavaScript can see is enough here: while a header block is incomplete no other frame may
 * arrive (RFC 9113 6.10), so a session whose client bytes (counted on the TCP socket, ciphertext:
 * a trickled TLS record counts too) have grown since its last stream opened or closed, with no
 * stream open, is sending something that has not become a request. Once that has lasted
 * `limitMs` (judged every `checkMs`, so within `limitMs + 2 x checkMs`), the session is closed with
 * GOAWAY(NO_ERROR), and destroyed at the next check if it is still open. Sessions with a stream open are not looked at: their streams have their own
 * bounds (the body rate, the slow-read sweep, the upstream's timeouts), and a head trickled beside
 * one is judged as soon as the last of them closes. The price: a client that sends frames JavaScript
 * does not see (PING, SETTINGS, WINDOW_UPDATE) and no request for `limitMs` gets a GOAWAY, as an
 * HTTP/1.1 connection that sends no request head within `--headers-timeout` is closed; a session
 * that sends nothing at all keeps the 120 s idle timeout. Answers the function to call for each new
 * session.
 *
 * Except a WINDOW_UPDATE for the connection, which moves the session's send window (as JavaScript
 * sees it, `session.state.remoteWindowSize`): clients send one once they have read an answer, often
 * after its stream has closed, and such an idle session got GOAWAY after `limitMs` where one whose
 * client sent nothing kept its 120 s (review15-h2-slow-peers). Bytes the window's change explains
 * (all of those read when a sweep saw it change) are judged by `idleLimitMs`; any read after them
 * without a new change, by `limitMs` again, from when the bytes first came.
 */
function boundHttp2Heads(sessions: ReadonlySet<Http2Session>, limitMs: number, checkMs: number, idleLimitMs: number) {
  const watched = new WeakMap<
    Http2Session,
    {
      transport: Socket;
      open: number;
      mark: number;
      since: number | undefined;
      cut: boolean;
      /** The session's send window when it last went idle, or when a sweep last saw it change. */
      window: number;
      /** The client's bytes when a change of the window last explained them (-1: none did). */
      explained: number;
    }
  >();
  /** How much the session may send before the client's next WINDOW_UPDATE for the connection. */
  const sendWindow = (session: Http2Session) => session.state.remoteWindowSize ?? 0;
  let timer: NodeJS.Timeout | undefined;
  const sweep = () => {
    if (sessions.size === 0) {
      clearInterval(timer);
      timer = undefined;
      return;
    }
    const now = Date.now();
    for (const session of sessions) {
      const state = watched.get(session);
      if (state === undefined || session.destroyed) continue;
      // close() leaves a session with a header block in progress open (nghttp2 still has it):
      // its GOAWAY has had a sweep's time to go out.
      if (state.cut) {
        session.destroy();
        continue;
      }
      // A closed session is judged too: Node's own idle timeout closes one with a header block in
      // progress, and it stays open for as long as the bytes keep coming.
      if (state.open > 0 || state.transport.bytesRead === state.mark) continue;
      if (state.since === undefined) state.since = now;
      // A WINDOW_UPDATE for the connection came (the one a client sends once it has read its
      // last answer): whole frames, not a head, explain the bytes read so far, and no head may
      // start within a frame. The session is then judged as an idle one, by the idle timeout;
      // bytes after that the window does not explain are judged as a head again.
      const window = sendWindow(session);
      if (window !== state.window) {
        state.window = window;
        state.explained = state.transport.bytesRead;
      }
      const limit = state.explained === state.transport.bytesRead ? idleLimitMs : limitMs;
      if (now - state.since >= limit) {
        state.cut = true;
        session.close();
      }
    }
  };
  return (session: Http2Session) => {
    const transport = (session.socket as unknown as { _parent?: unknown } | undefined)?._parent;
    if (!(transport instanceof NetSocket)) return;
    const state = {
      transport,
      open: 0,
      mark: transport.bytesRead,
      since: undefined as number | undefined,
      cut: false,
      window: sendWindow(session),
      explained: -1,
    };
    const settle = () => {
      state.mark = transport.bytesRead;
      state.since = undefined;
      state.explained = -1;
    };
    watched.set(session, state);
    session.on('stream', (stream: ServerHttp2Stream) => {
      state.open++;
      settle();
      stream.once('close', () => {
        state.open--;
        settle();
        // Idle again: what the client sends from now on is measured against this window.
        if (state.open === 0 && !session.destroyed) state.window = sendWindow(session);
      });
    });
    if (timer !== undefined) return;
    timer = setInterval(sweep, checkMs);
    timer.unref();
  };
}

/** Why a connection was refused as soon as it was accepted (`hmac_kit_connections_refused_total{reason}`). */
export type ConnectionRefusal = 'max_connections' | 'max_connections_per_address' | 'max_connections_per_prefix';

/** At most one log line per reason per this long; the line counts the refusals since the last one. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * How often Node checks the connections still receiving a request head against `headersTimeout`
 * (its `connectionsCheckingInterval`, 30 s by default): a quarter of the timeout, between 100 ms
 * and 5 s, so a connection is closed at most a quarter (and 5 s) past it. The check walks the
 * connections in that state only, once per interval.
 */
export function headersCheckIntervalMs(headersTimeoutMs: number): number {
  return Math.max(100, Math.min(5_000, Math.floor(headersTimeoutMs / 4)));
}

/** The first `count` groups of an IPv6 address, `::` expanded, leading zeros dropped, lower case. */
function ipv6Groups(address: string, count: number): string {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0')];
  return groups
    .slice(0, count)
    .map((group) => group.replace(/^0+(?=.)/, '').toLowerCase())
    .join(':');
}

/**
 * What a peer address counts under for `--max-connections-per-address`: the IPv4 address (an
 * IPv4-mapped IPv6 peer included), or an IPv6 peer's /64 (one subscriber's LAN: a host picks any
 * address in it, so counting whole addresses would give it 2^64 quotas).
 *
 * @example
 * ```ts
 * addressBucket('::ffff:10.0.0.1'); // '10.0.0.1'
 * addressBucket('2001:db8:1:2:aaaa::1'); // '2001:db8:1:2::/64'
 * ```
 */
export function addressBucket(address: string): string {
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!isIPv6(address)) return address;
  return `${ipv6Groups(address, 4)}::/64`;
}

/**
 * How many times `--max-connections-per-address` one IPv6 /48 may hold, over all its /64s. A /48 is
 * what one site is allocated (RIPE-690; a free tunnel-broker account gets one), and holds 65,536
 * /64s: with the per-/64 count alone its holder had that many quotas, and took every slot of
 * `--max-connections` from one allocation. 4: a site with several subnets calling the API gets four
 * times what one IPv4 address (an office behind one NAT) gets; with the defaults (4,096 and 1,024)
 * the bound is the total cap itself and so never refuses.
 */
export const IPV6_PREFIX_MULTIPLE = 4;

/**
 * The /48 an IPv6 peer's connections also count under (see {@link IPV6_PREFIX_MULTIPLE}); none for
 * an IPv4 peer (IPv4-mapped included).
 *
 * @example
 * ```ts
 * prefixBucket('2001:db8:1:2:aaaa::1'); // '2001:db8:1::/48'
 * prefixBucket('10.0.0.1'); // undefined
 * ```
 */
export function prefixBucket(address: string): string | undefined {
  if (!isIPv6(address) || (address.startsWith('::ffff:') && address.includes('.'))) return undefined;
  return `${ipv6Groups(address, 3)}::/48`;
}

const REFUSAL_MESSAGES: Record<ConnectionRefusal, string> = {
  max_connections: 'connections refused: --max-connections reached (open connections keep working)',
  max_connections_per_address:
    'connections refused: --max-connections-per-address reached for an address (open connections keep working)',
  max_connections_per_prefix: `connections refused: an IPv6 /48 holds ${IPV6_PREFIX_MULTIPLE} x --max-connections-per-address (open connections keep working)`,
};

/** One connection fewer under `bucket`. */
function release(counts: Map<string, number>, bucket: string): void {
  const left = (counts.get(bucket) ?? 1) - 1;
  if (left === 0) counts.delete(bucket);
  else counts.set(bucket, left);
}

/**
 * Caps open connections, in all, per peer address and per IPv6 /48 ({@link IPV6_PREFIX_MULTIPLE}
 * times the per-address cap): a connection beyond a cap is destroyed as
 * it is accepted, before the HTTP or TLS code sees it (every 'connection' listener registered so
 * far, Node's own included, is moved behind the gate), so it costs neither a parser nor a TLS
 * handshake. Refusals are counted by `onRefused` and logged at most once per
 * {@link REFUSAL_LOG_INTERVAL_MS} per reason. Open connections are never touched: the caps only
 * refuse new ones. Answers a function counting the connections open now (TCP: TLS ones count from
 * their first byte, before the handshake).
 *
 * Node's own `server.maxConnections` is not used: in a `cluster` worker (`--workers`) a connection
 * it refuses goes back to the primary, which hands it to the next worker, which refuses it too:
 * with every worker at its cap the primary and the workers pass the same connections back and forth
 * for as long as they stay open (a busy loop, found by connection-caps.test.ts). Here a worker
 * accepts the connection from the primary and closes it itself.
 */
function capConnections(
  server: NetServer,
  limits: { maxConnections: number; maxConnectionsPerAddress: number; isExempt: (address: string) => boolean },
  logger: Logger,
  onRefused: ((reason: ConnectionRefusal) => void) | undefined,
): () => number {
  const { maxConnections, maxConnectionsPerAddress: perAddress } = limits;
  const perPrefix = perAddress * IPV6_PREFIX_MULTIPLE;
  const lastLogged: Record<ConnectionRefusal, number> = {
    max_connections: 0,
    max_connections_per_address: 0,
    max_connections_per_prefix: 0,
  };
  const unlogged: Record<ConnectionRefusal, number> = {
    max_connections: 0,
    max_connections_per_address: 0,
    max_connections_per_prefix: 0,
  };
  const refuse = (socket: Socket, reason: ConnectionRefusal, address: string | undefined) => {
    socket.destroy();
    onRefused?.(reason);
    unlogged[reason]++;
    const now = Date.now();
    if (now - lastLogged[reason] < REFUSAL_LOG_INTERVAL_MS) return;
    const since = lastLogged[reason] === 0 ? undefined : Math.round((now - lastLogged[reason]) / 1000);
    lastLogged[reason] = now;
    logger.warn(
      {
        reason,
        refused: unlogged[reason],
        ...(since === undefined ? {} : { sinceSeconds: since }),
        limit:
          reason === 'max_connections'
            ? limits.maxConnections
            : reason === 'max_connections_per_address'
              ? limits.maxConnectionsPerAddress
              : perPrefix,
        address,
      },
      REFUSAL_MESSAGES[reason],
    );
    unlogged[reason] = 0;
  };
  // A cap at or above the total can never be the one that refuses: no counting for it then.
  const countPerAddress = perAddress < maxConnections;
  const countPerPrefix = perPrefix < maxConnections;
  const open = new Map<string, number>();
  const openPerPrefix = new Map<string, number>();
  let openTotal = 0;
  const admitted = server.listeners('connection') as Array<(this: NetServer, socket: Socket) => void>;
  server.removeAllListeners('connection');
  server.on('connection', function gate(this: NetServer, socket: Socket) {
    const address = socket.remoteAddress;
    if (openTotal >= maxConnections) {
      refuse(socket, 'max_connections', address);
      return;
    }
    // No address: the peer is already gone (reset before the connection was accepted).
    const bucket =
      countPerAddress && address !== undefined && !limits.isExempt(address) ? addressBucket(address) : undefined;
    const prefix = bucket !== undefined && countPerPrefix ? prefixBucket(address as string) : undefined;
    if (bucket !== undefined) {
      const count = open.get(bucket) ?? 0;
      if (count >= perAddress) {
        refuse(socket, 'max_connections_per_address', address);
        return;
      }
      const prefixCount = prefix === undefined ? 0 : (openPerPrefix.get(prefix) ?? 0);
      if (prefix !== undefined && prefixCount >= perPrefix) {
        refuse(socket, 'max_connections_per_prefix', address);
        return;
      }
      open.set(bucket, count + 1);
      if (prefix !== undefined) openPerPrefix.set(prefix, prefixCount + 1);
    }
    openTotal++;
    socket.once('close', () => {
      openTotal--;
      if (bucket === undefined) return;
      release(open, bucket);
      if (prefix !== undefined) release(openPerPrefix, prefix);
    });
    for (const listener of admitted) listener.call(this, socket);
  });
  return () => openTotal;
}

/** The socket (TCP or TLS) a listener accepted. */
type Connection = Socket & { alpnProtocol?: string | false };

/** A request head (or chunked framing) node:http's parser refused, as answered by {@link answerClientError}. */
export interface HeadRefusal {
  status: number;
  code: ProblemCode;
  /** The x-request-id sent with the answer (drawn here: no head, so no client id to take). */
  id: string;
  remote: string | undefined;
}

/** The problem code of each parser refusal Node answers with its own bare status line (lib/_http_server.js socketOnError). */
function refusalCode(error: NodeJS.ErrnoException): ProblemCode | undefined {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'header_fields_too_large';
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 'chunk_extensions_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request_head_timeout';
    default:
      // Every other parser error (HPE_INVALID_HEADER_TOKEN, HPE_INVALID_METHOD, ...) is Node's 400.
      // A socket error (ECONNRESET, EPIPE, ETIMEDOUT) is no request to answer.
      return error.code?.startsWith('HPE_') ? 'malformed_request' : undefined;
  }
}

/** What node:http keeps on a socket that this listener reads (internal, stable since Node 0.x). */
type HttpSocket = Duplex & {
  bytesWritten?: number;
  _httpMessage?: (ServerResponse & { req?: IncomingMessage }) | null;
};

/** Sockets already refused: a broken parser reports again on every later chunk. */
const refusedSockets = new WeakSet<Duplex>();

/**
 * The 'clientError' listener of the HTTP/1.x servers (plain, and the TLS server's HTTP/1.1 side:
 * HTTP/2 framing errors are nghttp2's, answered with GOAWAY/RST_STREAM). It replaces Node's default
 * (bare `431`/`400`/`408`/`413` status lines) with the same statuses under the same conditions,
 * each an RFC 9457 problem with a stable code, a request id and `Connection: close`. Nothing of
 * the refused bytes is written or logged (`error.rawPacket` is never read: it can hold secrets).
 *
 * When an answer is written (invariant: bytes go on the wire only at a message boundary, as the
 * answer to the request whose head or framing was refused, never ahead of or inside another answer):
 * - no answer in flight (a fresh connection, or a kept-alive one whose answers all finished): the
 *   problem, then the socket is destroyed (Node's answer, Node's condition);
 * - the in-flight answer's own request is the one whose framing broke (its chunked body) and its
 *   head is not sent: the problem answers that request, then the socket is destroyed (as Node);
 * - an earlier request's answer is in flight or owed (a head pipelined behind it was refused):
 *   nothing is written, the answers owed are finished, then the connection is closed. Node wrote
 *   its 400 there whenever that answer's head was not sent yet: ahead of it, so a client read the
 *   400 as the earlier request's answer (and the earlier answer was lost with the socket).
 * ECONNRESET, any socket error, an unwritable socket: destroyed, nothing written or logged. A
 * client that closes its side mid-head (HPE_INVALID_EOF_STATE, no answer in flight): destroyed,
 * nothing written or counted, reported to `onHeadAbandoned` (a debug line).
 */
function answerClientError(
  error: NodeJS.ErrnoException,
  socket: HttpSocket,
  hooks: {
    onHeadRefused?: ((refusal: HeadRefusal) => void) | undefined;
    onHeadAbandoned?: ((remote: string | undefined) => void) | undefined;
  },
): void {
  if (refusedSockets.has(socket)) return;
  refusedSockets.add(socket);
  // Read now: a destroyed TLS socket no longer knows its peer (the log lines below lost it).
  const remote = (socket as Partial<Socket>).remoteAddress;
  const code = refusalCode(error);
  const inFlight = socket._httpMessage;
  // The request whose body was being parsed when the framing broke (node:http's parser keeps the
  // last request whose head it parsed; complete once its body ended).
  const parsing = (socket as { parser?: { incoming?: IncomingMessage | null } | null }).parser?.incoming;
  // The client ended its side (FIN, or TLS close_notify) in the middle of a request head, with no
  // answer in flight: Node's parser reports the end of input as HPE_INVALID_EOF_STATE, the socket
  // still writable (half-open connections are kept). That is a dropped connection, not a malformed
  // request (a scanner, a TCP health probe, a client that gave up): nothing is written, nothing is
  // counted as a request, one debug line. It used to be answered 400 malformed_request, counted
  // under route="none" and logged at info. A body cut short the same way is not this case: its
  // request is answered (or dropped) by the rules below.
  if (error.code === 'HPE_INVALID_EOF_STATE' && inFlight == null && (parsing == null || parsing.complete)) {
    socket.destroy();
    hooks.onHeadAbandoned?.(remote);
    return;
  }
  if (code === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  // With no answer in flight, the request being parsed has its answer finished: a refusal before
  // the body stage (401, 404) whose body Node was draining on a kept-alive connection. A second
  // answer for it would be read as the answer to the client's next request: nothing is written (review25b).
  if (inFlight == null && parsing != null && !parsing.complete) {
    socket.destroy();
    return;
  }
  if (inFlight != null && inFlight.req?.complete !== false) {
    // A later head refused behind an answer still owed: the bytes after the refused head are not
    // read, the answers already owed are written, then the connection is closed.
    socket.pause();
    // A request pipelined behind that answer whose own body broke (its head parsed, its route
    // running): its body will never end, so it is aborted now, detached from the socket first (as
    // answerBodyTimeout does) so the answers owed still go out. Left waiting, a gateway request
    // streaming that body upstream held its upstream request until --upstream-timeout (review25b).
    if (parsing != null && !parsing.complete && !parsing.destroyed) {
      (parsing as { socket: unknown }).socket = null;
      parsing.destroy();
    }
    closeAfterAnswers(socket);
    return;
  }
  if (inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const id = newRequestId();
  const body = JSON.stringify({ ...problemBody(code), instance: id });
  const status = PROBLEM_TABLE[code].status;
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nx-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
  );
  // As Node: written (a few hundred bytes, at a message boundary), then closed.
  socket.destroy();
  hooks.onHeadRefused?.({ status, code, id, remote });
}

/** Closes `socket` once node:http has finished every answer it owes on it (none is cut short). */
function closeAfterAnswers(socket: HttpSocket): void {
  const inFlight = socket._httpMessage;
  if (inFlight == null) {
    const net = socket as Partial<Socket>;
    if (net.destroySoon) net.destroySoon();
    else socket.end();
    return;
  }
  // node:http's own 'finish' listener (added first) has handed the socket to the next answer owed.
  inFlight.once('finish', () => closeAfterAnswers(socket));
}

/** The HTTP(S) listener of a running server: one port, HTTP/1.1 and, over TLS, HTTP/2 by ALPN. */
export interface Listener {
  /** `http(s)://host:port` the listener is bound to. */
  url: string;
  server: Server | Http2SecureServer;
  /**
   * Reads the certificate and key files again and serves them to new connections; open
   * connections keep the certificate they were established with. Keeps the current one (and
   * resolves `false`, logging why) when the new files cannot be read or do not match.
   */
  reloadCertificate(): Promise<boolean>;
  /** Stops accepting connections; resolves once every open connection has closed. */
  stopAccepting(): Promise<void>;
  /**
   * Closes what can be closed without cutting a request: idle HTTP/1.1 keep-alive connections
   * now, HTTP/2 sessions with a GOAWAY (they close once their open streams finish).
   */
  closeIdle(): void;
  /** Destroys every remaining connection (the end of a shutdown timeout). */
  closeAll(): void;
  /** Client connections open now (`hmac_kit_connections_open`), the TLS ones from before their handshake. */
  openConnections(): number;
}

/** Reads the PEM files named by the configuration into what `tls` needs. */
async function readTlsFiles(tls: NonNullable<ServerConfig['tls']>): Promise<SecureContextOptions> {
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new Error(`cannot read TLS ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  const [cert, key] = await Promise.all([read(tls.certFile, 'certificate'), read(tls.keyFile, 'private key')]);
  return { cert, key, minVersion: tls.minVersion };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host) || host === '::ffff:127.0.0.1';
}

/**
 * Presents an HTTP/2 request the way an HTTP/1.1 one looks (RFC 9113 8.3.1), so every route reads
 * the same headers whatever the protocol: `:authority` becomes `Host`, a body without a declared
 * length is marked `Transfer-Encoding: chunked` (the core's "has a body" rule), and the
 * pseudo-header fields stay readable (Node's request object reads `:method` and `:path` from them)
 * but are no longer enumerated, so no header loop (signatures, forwarding) ever sees them.
 * Answers false (after refusing the request) when `Host` and `:authority` disagree: a signature
 * checked against one must not be forwarded with the other.
 */
function presentAsHttp1(request: Http2ServerRequest, response: ServerResponse): boolean {
  const headers = request.headers as Record<string, string | string[] | undefined>;
  const authority = headers[':authority'];
  const host = headers.host;
  if (typeof authority === 'string') {
    if (host !== undefined && host !== authority) {
      request.resume();
      sendProblem(response, serverProblem('authority_mismatch', 'the Host header and :authority name different hosts'));
      return false;
    }
    headers.host = authority;
  }
  if (headers['content-length'] === undefined && !request.stream.endAfterHeaders) {
    headers['transfer-encoding'] = 'chunked';
  }
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 /* ':' */) {
      Object.defineProperty(headers, name, { enumerable: false });
    }
  }
  return true;
}

/**
 * Creates and binds the listener: plain HTTP/1.1, or with `config.tls` HTTPS serving HTTP/2 to
 * clients that offer it by ALPN and HTTP/1.1 to the others. Warns when plain HTTP listens on a
 * non-loopback address (signed requests are not encrypted: bodies and identities travel in clear).
 *
 * @example
 * ```ts
 * const listener = await openListener(config, (request, response) => response.end('ok'), logger);
 * process.on('SIGHUP', () => void listener.reloadCertificate());
 * ```
 */
export async function openListener(
  config: Pick<
    ServerConfig,
    | 'port'
    | 'host'
    | 'tls'
    | 'keepAliveTimeoutSeconds'
    | 'headersTimeoutSeconds'
    | 'maxConnections'
    | 'maxConnectionsPerAddress'
  >,
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  logger: Logger,
  options: {
    /**
     * The answer to a CONNECT request (HTTP/1.1 on either listener, HTTP/2 over TLS): hmac-kit is not a
     * forward proxy, and without an answer Node drops the connection (HTTP/1.1) or resets the stream.
     */
    connectRefusal?: { status: number; contentType: string; body: string };
    /** Peers exempt from `maxConnectionsPerAddress` (the trusted proxies). */
    isExemptAddress?: (address: string) => boolean;
    /** Called for each connection refused by a cap (the metric). */
    onConnectionRefused?: (reason: ConnectionRefusal) => void;
    /** Called for each request head node:http's parser refused, once answered (the metric, the log line). */
    onHeadRefused?: (refusal: HeadRefusal) => void;
    /** Called for each connection the client closed in the middle of a request head (no answer, no request counted). */
    onHeadAbandoned?: (remote: string | undefined) => void;
    /**
     * Answer an HTTP/1.1 client that half-closed after its request instead of dropping its request
     * at the FIN (see keepHalfClosedUntilAnswered). Off in gateway mode: there a FIN must cancel the
     * upstream request of a client that left.
     */
    answerHalfClosed?: boolean;
  } = {},
): Promise<Listener> {
  const connections = new Set<Connection>();
  const sessions = new Set<Http2Session>();
  // Idle HTTP/1.1 keep-alive connections (see ServerConfig.keepAliveTimeoutSeconds).
  const keepAliveTimeoutMs = config.keepAliveTimeoutSeconds * 1000;
  // The request head's bound (slowloris). Node's default, min(60 s, requestTimeout), is 0 (none)
  // here because requestTimeout is 0: without this a client trickling header bytes, or sending
  // none, held its connection for ever. Checked every headersCheckIntervalMs (Node's default
  // check runs every 30 s). requestTimeout stays 0: it would also cut long authenticated uploads
  // (the body's own bounds are boundDrain and the routes' size limits).
  const headersTimeoutMs = config.headersTimeoutSeconds * 1000;
  const timeouts = {
    keepAliveTimeout: keepAliveTimeoutMs,
    headersTimeout: headersTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: headersCheckIntervalMs(headersTimeoutMs),
  };
  let server: Server | Http2SecureServer;
  const http1Handler = notOnClosingConnections((request, response) => {
    if (declaresBody(request)) {
      // Armed a microtask later: Node's parser runs microtasks after it has pushed the body bytes
      // that came with the head, so a body that arrived whole with it (a typical signed POST) is
      // seen buffered and costs no timer (see bodyArrived); any other body is watched from then on.
      queueMicrotask(() => {
        if (bodyArrived(request)) return;
        watchBodyRate(request, headersTimeoutMs, () => {
          // Read now: answerBodyTimeout detaches the request from its socket.
          const socket = request.socket;
          answerBodyTimeout(response, true, () => {
            if (socket !== null && !socket.destroyed) socket.destroy();
          });
        });
      });
    }
    handler(request, response);
  });
  if (config.tls) {
    const secure = createSecureServer(
      {
        ...(await readTlsFiles(config.tls)),
        allowHTTP1: true,
        settings: { maxConcurrentStreams: HTTP2_MAX_CONCURRENT_STREAMS },
        // A TCP connection that never completes its handshake (Node's default: 120 s) is closed
        // after the same bound as a request head; headersTimeout then starts once it is secure.
        handshakeTimeout: headersTimeoutMs,
        Http1IncomingMessage: FieldsIncomingMessage,
        Http1ServerResponse: ClosingServerResponse,
        Http2ServerResponse: ClosingHttp2ServerResponse,
      },
      (request, response) => {
        if (request.httpVersionMajor >= 2) {
          const http1View = response as unknown as ServerResponse;
          if (!presentAsHttp1(request, http1View)) return;
          const stream = request.stream;
          if (!stream.endAfterHeaders) {
            watchBodyRate(request, headersTimeoutMs, () =>
              answerBodyTimeout(http1View, false, (answered) => {
                // After a complete answer RST_STREAM(NO_ERROR) says "the rest of the body is not wanted" (RFC 9113 8.1).
                if (!stream.destroyed)
                  stream.close(answered ? http2Constants.NGHTTP2_NO_ERROR : http2Constants.NGHTTP2_CANCEL);
              }),
            );
          }
          handler(request as unknown as IncomingMessage, http1View);
          return;
        }
        http1Handler(request as unknown as IncomingMessage, response as unknown as ServerResponse);
      },
    );
    // HTTP/1.1 connections on the TLS port go through Node's HTTP/1.1 server code, which reads these
    // (connectionsCheckingInterval when it starts listening).
    Object.assign(secure, timeouts);
    if (options.answerHalfClosed) {
      keepHalfClosedUntilAnswered(secure);
      // Node's HTTP/1.1 code only reads httpAllowHalfOpen on a socket that stays writable after the
      // client's FIN: a TLS socket does so only when asked. Asked per HTTP/1.1 connection, once the
      // handshake chose it: an HTTP/2 session or a socket still in its handshake that stayed open
      // after a FIN would be held until a timeout (35 s, 30 s) instead of closed at once.
      secure.on('secureConnection', (socket: TLSSocket) => {
        if (socket.alpnProtocol !== 'h2') socket.allowHalfOpen = true;
      });
    }
    secure.setTimeout(HTTP2_IDLE_TIMEOUT_MS);
    // The inactivity timeout is no bound on a slow reader: every byte it reads lets a write through and resets it.
    // Open HTTP/2 streams by the TCP socket beneath their session: their pending answers count as unsent.
    const http2Streams = new WeakMap<Socket, Set<ServerHttp2Stream>>();
    // The bytes of ACKs the client's PING and SETTINGS frames made the session send, by TCP socket.
    const http2ControlAnswers = new WeakMap<Socket, { bytes: number }>();
    // The streams whose answers were waiting at the last sweep (boundStalledWrites' rate per answer).
    const http2WaitingAtLastSweep = new WeakSet<ServerHttp2Stream>();
    const armStalledWrites = boundStalledWrites(connections, headersTimeoutMs, {
      queuedInStreams(transport) {
        const streams = http2Streams.get(transport);
        if (streams === undefined) return 0;
        let queued = 0;
        for (const stream of streams) queued += stream.bufferSize;
        return queued;
      },
      answeredControl: (transport) => http2ControlAnswers.get(transport)?.bytes ?? 0,
      resetStreamsBeyond(transport, allowed) {
        const streams = http2Streams.get(transport);
        if (streams === undefined) return false;
        let kept = 0;
        let waiting = false;
        // A Set iterates in insertion order: the session's oldest streams first.
        for (const stream of streams) {
          if (stream.destroyed || stream.bufferSize === 0) {
            http2WaitingAtLastSweep.delete(stream);
            continue;
          }
          waiting = true;
          // An answer that started waiting since the last sweep is judged at the next one.
          if (!http2WaitingAtLastSweep.has(stream)) {
            http2WaitingAtLastSweep.add(stream);
            continue;
          }
          if (kept < allowed) {
            kept++;
            continue;
          }
          http2WaitingAtLastSweep.delete(stream);
          stream.close(http2Constants.NGHTTP2_CANCEL);
        }
        return waiting;
      },
    });
    secure.on('secureConnection', (socket: Connection) => {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      armStalledWrites();
    });
    const refusal = options.connectRefusal;
    if (refusal) {
      secure.on('connect', (_request: IncomingMessage | Http2ServerRequest, second: Duplex | Http2ServerResponse) => {
        if (second instanceof Http2ServerResponse) {
          second.writeHead(refusal.status, { 'content-type': refusal.contentType });
          second.end(refusal.body);
        } else refuseHttp1Connect(second, refusal);
      });
    }
    const watchHeads = boundHttp2Heads(
      sessions,
      headersTimeoutMs,
      headersCheckIntervalMs(headersTimeoutMs),
      Math.max(headersTimeoutMs, HTTP2_IDLE_TIMEOUT_MS),
    );
    secure.on('session', (session) => {
      sessions.add(session);
      watchHeads(session);
      const transport = (session.socket as unknown as { _parent?: unknown } | undefined)?._parent;
      if (transport instanceof NetSocket) {
        const streams = new Set<ServerHttp2Stream>();
        http2Streams.set(transport, streams);
        session.on('stream', (stream: ServerHttp2Stream) => {
          streams.add(stream);
          stream.once('close', () => streams.delete(stream));
        });
        const control = { bytes: 0 };
        http2ControlAnswers.set(transport, control);
        session.on('ping', () => {
          control.bytes += HTTP2_PING_ACK_BYTES;
        });
        session.on('remoteSettings', () => {
          control.bytes += HTTP2_SETTINGS_ACK_BYTES;
        });
      }
      session.once('close', () => sessions.delete(session));
    });
    // HTTP/1.1 connections only (node:http's parser): HTTP/2 framing errors are nghttp2's.
    secure.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      answerClientError(error, socket, options),
    );
    // A failed handshake (a scanner, a client that does not trust the certificate) is the client's problem.
    secure.on('tlsClientError', (error) => logger.debug({ err: error.message }, 'TLS handshake failed'));
    server = secure;
  } else {
    const plain = createServer(
      { ...timeouts, IncomingMessage: FieldsIncomingMessage, ServerResponse: ClosingServerResponse },
      http1Handler,
    );
    if (options.answerHalfClosed) keepHalfClosedUntilAnswered(plain);
    plain.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) =>
      answerClientError(error, socket, options),
    );
    const refusal = options.connectRefusal;
    if (refusal)
      plain.on('connect', (_request: IncomingMessage, socket: Duplex) => refuseHttp1Connect(socket, refusal));
    const armStalledWrites = boundStalledWrites(connections, headersTimeoutMs);
    plain.on('connection', (socket: Connection) => {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      armStalledWrites();
    });
    server = plain;
  }

  const openConnections = capConnections(
    server,
    {
      maxConnections: config.maxConnections,
      maxConnectionsPerAddress: config.maxConnectionsPerAddress,
      isExempt: options.isExemptAddress ?? (() => false),
    },
    logger,
    options.onConnectionRefused,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
  if (!config.tls && !isLoopback(address.address)) {
    logger.warn(
      { url },
      'plain HTTP on a non-loopback address: request bodies and identities travel unencrypted; use --tls-cert/--tls-key or a TLS-terminating proxy',
    );
  }

  return {
    url,
    server,
    openConnections,
    async reloadCertificate() {
      const tls = config.tls;
      if (!tls) {
        logger.info('SIGHUP: no TLS certificate to reload (plain HTTP)');
        return false;
      }
      try {
        // setSecureContext validates the pair (a key that does not match the certificate throws).
        (server as Http2SecureServer).setSecureContext(await readTlsFiles(tls));
      } catch (error) {
        logger.error(
          { err: (error as Error).message, cert: tls.certFile },
          'TLS certificate reload failed: still serving the previous certificate',
        );
        return false;
      }
      logger.info({ cert: tls.certFile }, 'TLS certificate reloaded: new connections get it');
      return true;
    },
    stopAccepting() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
    closeIdle() {
      // Http2SecureServer has it too for its HTTP/1.1 connections (allowHTTP1), though @types/node omits it.
      (server as Server).closeIdleConnections();
      for (const session of sessions) if (!session.closed) session.close();
    },
    closeAll() {
      for (const session of sessions) session.destroy();
      for (const socket of connections) socket.destroy();
    },
  };
}

/** Writes a complete HTTP/1.1 answer on a CONNECT request's raw socket and closes it. */
function refuseHttp1Connect(socket: Duplex, refusal: { status: number; contentType: string; body: string }): void {
  socket.on('error', () => {});
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\ncontent-type: ${refusal.contentType}\r\ncontent-length: ${Buffer.byteLength(refusal.body)}\r\nconnection: close\r\n\r\n${refusal.body}`,
  );
}
