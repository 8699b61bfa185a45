/**
 * The builtin upstream client's errors. The gateway maps them to the same 502/504 problems and log
 * causes as undici's (gateway.ts `isTimeout`, `refusedAnswerCause`): their names are undici's
 * where the meaning is the same, so a log reader sees the same `err.name` for either client.
 */

/** A request the writer refused to write (a field that could split the head): nothing was sent. */
export class UpstreamRequestError extends Error {
  override readonly name = 'InvalidArgumentError';
  readonly code = 'HMAC_KIT_UPSTREAM_INVALID_REQUEST';
  constructor(what: string) {
    super(`the upstream request has ${what}`);
  }
}

/** Which timeout ran out: connecting, waiting for the answer's head, or between body bytes. */
export type UpstreamTimeoutKind = 'connect' | 'headers' | 'body';

const TIMEOUT_NAMES: Record<UpstreamTimeoutKind, string> = {
  connect: 'ConnectTimeoutError',
  headers: 'HeadersTimeoutError',
  body: 'BodyTimeoutError',
};

/** The upstream did not connect, answer or send on in time. */
export class UpstreamTimeoutError extends Error {
  override readonly name: string;
  readonly code: string;
  constructor(readonly kind: UpstreamTimeoutKind) {
    super(`upstream ${kind} timeout`);
    this.name = TIMEOUT_NAMES[kind];
    this.code = `HMAC_KIT_UPSTREAM_${kind.toUpperCase()}_TIMEOUT`;
  }
}

/**
 * The upstream's answer was refused: `refusal` is the text of the 502's detail and the log line
 * (no field values, nothing of the request), e.g. `a malformed answer (HPE_UNEXPECTED_CONTENT_LENGTH)`.
 */
export class UpstreamAnswerError extends Error {
  override readonly name = 'UpstreamAnswerError';
  constructor(
    readonly refusal: string,
    readonly code: string,
  ) {
    super(`upstream answer refused: ${refusal}`);
  }
}

/** The connection closed or failed (no answer, or one cut off). */
export class UpstreamSocketError extends Error {
  override readonly name = 'SocketError';
  readonly code = 'HMAC_KIT_UPSTREAM_SOCKET';
}

/** The request was aborted by the gateway (the client left). */
export class UpstreamAbortedError extends Error {
  override readonly name = 'RequestAbortedError';
  readonly code = 'HMAC_KIT_UPSTREAM_ABORTED';
  constructor() {
    super('Request aborted');
  }
}

/**
 * Every connection to the upstream is busy and the queue of requests waiting for one is full:
 * the request was not sent (the gateway answers `503 upstream_busy`). undici's Pool has no such
 * bound (its queue grows until the clients give up).
 */
export class UpstreamBusyError extends Error {
  override readonly name = 'UpstreamBusyError';
  readonly code = 'HMAC_KIT_UPSTREAM_BUSY';
  constructor() {
    super('every upstream connection is busy and the queue of waiting requests is full');
  }
}
