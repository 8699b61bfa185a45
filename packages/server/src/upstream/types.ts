/**
 * The one interface the gateway's relay talks to, implemented by undici's `Pool` (the default
 * client, used as it is) and by the builtin client (`--upstream-client builtin`). It is the slice
 * of undici's `Dispatcher` the gateway used before there was a choice, so the undici path is
 * unchanged: `dispatch()` for a proven request whose body (if any) is in hand, `request()` for a
 * streamed body.
 */
import type { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';

/** The relay's handler of one dispatched request (undici's legacy `DispatchHandler` shape). */
export interface UpstreamHandler {
  /** Called once the request is under way: `abort` stops it (its connection is destroyed). */
  onConnect(abort: (reason?: Error) => void): void;
  /**
   * The answer's head (also each relayed 1xx interim one): raw fields `[name, value, ...]`, as
   * Buffers (undici) or latin1 strings (builtin). `resume` restarts reading after `onData` said false.
   */
  onHeaders(statusCode: number, raw: (Buffer | string)[], resume: () => void): boolean;
  /**
   * A body chunk; false: stop reading until `resume`. undici stops at once; the builtin client
   * still delivers the rest of the socket read it is in (node's parser runs a read to its end), so
   * a handler may see more chunks after saying false and must not act on each of them again.
   */
  onData(chunk: Buffer): boolean;
  /** The answer is complete; trailers as raw fields `[name, value, ...]`, or null. */
  onComplete(trailers: (Buffer | string)[] | null): void;
  /** The request failed (before or after the head); no other callback follows. */
  onError(error: Error): void;
}

/** One request to the upstream origin. */
export interface UpstreamDispatchOptions {
  origin: string;
  path: string;
  method: string;
  /** `[name, value, ...]`; a value array is sent as repeated fields. */
  headers: (string | string[])[];
  body: Buffer | null | AsyncIterable<Buffer>;
}

/** A streamed request: its answer as a stream. */
export interface UpstreamRequestOptions extends UpstreamDispatchOptions {
  /** Emits 'abort' to abort the request. */
  signal: EventEmitter;
  /** Each interim (1xx) answer relayed to the gateway. */
  onInfo?: (info: { statusCode: number; headers: Record<string, string | string[]> }) => void;
}

/** The answer of {@link UpstreamClient.request}. */
export interface UpstreamAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  /** Filled in once the body has ended. */
  trailers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** What the gateway needs of an HTTP client to its one upstream origin. */
export interface UpstreamClient {
  dispatch(options: UpstreamDispatchOptions, handler: UpstreamHandler): unknown;
  request(options: UpstreamRequestOptions): Promise<UpstreamAnswer>;
  close(): Promise<void>;
  /**
   * Whether a request dispatched now would be refused busy, nothing sent (the builtin client: every
   * connection in use or promised to a reservation, and its queue full). Asked before a request is
   * verified, so that one that would be refused is refused before anything is verified for it.
   * undici's Pool has no bound (and no such method).
   */
  queueFull?(): boolean;
  /**
   * Takes a place for one request (a connection or a queue place), or `undefined` when none is
   * left (the builtin client; undici's Pool has no bound and no such method). The gateway takes it
   * right before a request's commit (its nonce recorded, its rate limit charged), so that a request
   * refused busy is refused before anything is charged, and a committed one is always sent.
   */
  reserve?(): UpstreamReservation | undefined;
}

/**
 * One request's place in the builtin client (see {@link UpstreamClient.reserve}). Its `dispatch()`
 * or `request()` sends the request in that place: never refused busy. `release()` gives the place
 * back unused (every way out that sends nothing); after a send, and a second time, it does nothing.
 */
export interface UpstreamReservation {
  dispatch(options: UpstreamDispatchOptions, handler: UpstreamHandler): unknown;
  request(options: UpstreamRequestOptions): Promise<UpstreamAnswer>;
  release(): void;
}
