import { EventEmitter } from 'node:events';
import { type IncomingMessage, type ServerResponse, validateHeaderName, validateHeaderValue } from 'node:http';
import { BodyTooLarge, isPromiseLike, toProblem } from '@hmac-kit/core';
import type { Authenticator } from '@hmac-kit/middleware';
import { inCheckPhase } from '@hmac-kit/middleware/node';
import { Pool, errors as undiciErrors } from 'undici';
import { clientAddressOf } from './client-address.js';
import type { ServerConfig } from './config.js';
import { downstreamHeaders, HOP_BY_HOP, relayedHeaders, upstreamHeaderList } from './headers.js';
import { type ServerProblem, sendProblem, serverProblem } from './http.js';
import { contentLengthBodyBuffered, exemptFromBodyRate } from './listener.js';
import { createUrlRebuilder, requestHasBody } from './message.js';
import type { ServerMetrics } from './metrics.js';
import { relayedAnswerHeaders } from './relayed-fields.js';
import type { RequestContext, RouteHandler } from './request-context.js';
import {
  requestTargetDefect,
  sortedQueryDefect,
  sortedQueryDefectBeforeVerifying,
  targetProblem,
} from './request-target.js';
import { tracingRequested } from './tracing.js';
import { chooseUpstreamClient, type UpstreamClientChoice } from './upstream/choose.js';
import { createBuiltinClient } from './upstream/client.js';
import { UpstreamAnswerError, UpstreamBusyError, UpstreamTimeoutError } from './upstream/errors.js';
import type { UpstreamClient, UpstreamHandler, UpstreamReservation } from './upstream/types.js';

/** Bodies up to this size (by Content-Length) are verified before forwarding; larger ones stream. */
const BUFFERED_BODY_BYTES = 64 * 1024;

/** The authority of an absolute `scheme://authority/path` URL built by the URL rebuilder. */
function authorityOf(url: string): string {
  const start = url.indexOf('//') + 2;
  const end = url.indexOf('/', start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

/** Where a relayed response carries its relay (read by the listeners below, shared by every response). */
const RELAY = Symbol('hmac-kit.relay');
type RelayedResponse = ServerResponse & {
  [RELAY]?: { clientGone: boolean; draining: boolean; abort?: (reason?: Error) => void; resume?: () => void };
};

/** The client left before its answer was complete: abort the upstream request. */
function onRelayedClose(this: RelayedResponse): void {
  const relay = this[RELAY];
  if (relay === undefined || this.writableFinished) return;
  relay.clientGone = true;
  relay.abort?.(new undiciErrors.RequestAbortedError());
}

/** The client's socket drained: read on from the upstream. */
function onRelayedDrain(this: RelayedResponse): void {
  const relay = this[RELAY];
  if (relay === undefined) return;
  relay.draining = false;
  relay.resume?.();
}

/**
 * The body of a request whose every byte Node's parser has already delivered (nothing has read or
 * resumed it): taken at once with `read()`, which hands over the buffered chunk itself (or all of
 * them, concatenated). `undefined` otherwise (still arriving, or over `limit`): {@link wholeBody}
 * reads it as it comes.
 *
 * Two ways to know every byte is there. The message is `complete` (its end parsed). Or its
 * `Content-Length` body is all buffered and unread ({@link contentLengthBodyBuffered}): the usual
 * case of a signed POST, since Node's parser runs the route's microtasks after it pushes the body
 * and before it parses the end of the message (`complete` is set a step later). The request is then
 * resumed so that its `end` and `close` come when the parser reaches the end, as after a complete
 * one (without it neither would ever fire).
 *
 * @internal Exported for its tests.
 */
export function completeBody(request: IncomingMessage, limit: number): Buffer | undefined {
  if (request.destroyed || request.readableEnded || request.readableFlowing !== null) return undefined;
  if (request.readableLength > limit) return undefined;
  if (request.complete) return (request.read() as Buffer | null) ?? Buffer.alloc(0);
  if (!contentLengthBodyBuffered(request)) return undefined;
  const body = request.read() as Buffer;
  request.resume();
  return body;
}

/**
 * Stops reading a request body part-way, as Node's stream destroyer does to a server request (and
 * so as `for await` did when its loop stopped early): the request is destroyed with its socket
 * detached first, so the connection is not; the response then says `Connection: close` and the
 * connection closes in order after it (`ClosingServerResponse` in listener.ts), where destroying the
 * request with its socket would reset the connection under the 413.
 */
function abandon(request: IncomingMessage): void {
  (request as { socket: unknown }).socket = null;
  request.destroy(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
}

/**
 * A request body read whole as it arrives, at most `limit` bytes, with `data`/`end` listeners: what
 * `for await` over the request did (its result, its errors, the request destroyed when the read
 * stops early: a body over the limit, after which the server says `Connection: close`), without an
 * async iterator, its stream-end watcher and a promise per chunk. Rejects with `BodyTooLarge` over
 * the limit, with the stream's error when it fails, and with a premature-close error when the
 * request closes before its end (the client went away mid-body), or has already closed.
 *
 * @internal Exported for its tests.
 */
export function wholeBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        stop();
        abandon(request);
        reject(new BodyTooLarge('body exceeds the size limit'));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => {
      stop();
      reject(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    // A client that left while the header stages ran (they await the key store) destroyed the
    // request already: no 'close' is coming, and the promise would never settle.
    if (request.destroyed) {
      onClose();
      return;
    }
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

/** Dependencies of the gateway route. */
export interface GatewayOptions {
  config: ServerConfig;
  /**
   * The middleware authenticator's header stages (`admit`, or `admitEagerly` where it has it); the
   * admission runs the body stage and the commit.
   */
  authenticator: Pick<Authenticator, 'admit' | 'admitEagerly'>;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
  /**
   * Client headers never forwarded because the gateway sets its own at send time (tracing's
   * `traceparent`/`tracestate`, written by the undici instrumentation).
   */
  replacedHeaders?: readonly string[];
  /**
   * Whether each request's verification waits for the check phase of its event-loop turn, to run
   * back to back with every other request's of the turn (default true; off when traced: app.ts).
   */
  checkPhase?: boolean;
  /**
   * The upstream client chosen at start-up (app.ts `upstreamClientFor`); without it, chosen here
   * from `config.upstreamClient` the same way (upstream/choose.ts).
   */
  upstreamClient?: UpstreamClientChoice;
  /** Connections to the upstream at most (256, undici's and the builtin client's; tests lower it). */
  upstreamConnections?: number;
}

/** Resolves in the check phase of this event-loop turn, with the other requests of the turn. */
function checkPhaseTurn(resolve: () => void): void {
  inCheckPhase(resolve);
}

/**
 * Gateway mode: verifies each request (the body digest while it streams), then forwards it
 * to the upstream with the verified identity. A body that fails its digest aborts the upstream
 * request mid-stream, so the upstream never receives a complete unauthenticated request.
 */
export function createGateway(options: GatewayOptions): {
  handler: RouteHandler;
  close(): Promise<void>;
  /** The upstream client in use. */
  client: 'undici' | 'builtin';
} {
  const { config, authenticator, metrics, isTrustedProxy, replacedHeaders = [], checkPhase = true } = options;
  const allowGetBody = config.upstreamAllowGetBody;
  const upstream = new URL(config.upstream as string);
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const timeoutMs = config.upstreamTimeoutSeconds * 1000;
  // One upstream origin: its connection pool itself (an Agent is a map of pools by origin). The
  // client is chosen once, at start-up: the builtin one (upstream/client.ts; `auto`, the default,
  // for a plain-http upstream without tracing whose Node's parser passes its self-test, or
  // `--upstream-client builtin`), or undici's Pool (used through the same calls as before there was
  // a choice), with the same limits and timeouts. The builtin client's queue of requests waiting
  // for a connection is bounded (by --max-connections, the client connections one process takes:
  // an HTTP/1.1 client without pipelining never meets it); one over it is answered 503
  // upstream_busy. undici's Pool queues without bound.
  const upstreamConnections = options.upstreamConnections ?? 256;
  const choice =
    options.upstreamClient ??
    chooseUpstreamClient(config.upstreamClient, config.upstream as string, { traced: tracingRequested(process.env) });
  const dispatcher: UpstreamClient =
    choice.client === 'builtin'
      ? createBuiltinClient(upstream.origin, {
          timeoutMs,
          connections: upstreamConnections,
          keepAliveMs: 10_000,
          maxQueued: config.maxConnections,
          parser: choice.parser,
        })
      : (new Pool(upstream.origin, {
          connections: upstreamConnections,
          pipelining: 1,
          keepAliveTimeout: 10_000,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          connectTimeout: Math.min(timeoutMs, 10_000),
        }) as unknown as UpstreamClient);
  // The builtin client's bound on requests waiting for a connection, asked before verification.
  const queueFull = dispatcher.queueFull?.bind(dispatcher);
  // Its places, each taken right before a request's commit (placeFor).
  const reserve = dispatcher.reserve?.bind(dispatcher);
  // undici's Pool: no place to take (it queues without bound), each request sent as it is.
  const unbounded: UpstreamReservation = {
    dispatch: (options, handler) => dispatcher.dispatch(options, handler),
    request: (options) => dispatcher.request(options),
    release: ignore,
  };
  const rebuildUrl = createUrlRebuilder(config);
  // The eager twins of admit() and of the admission's complete() and finish() answer without a
  // promise when every stage does (memory stores, a cached key): the handler then goes on in the
  // same microtask instead of awaiting an already-settled promise per step (issue #15, session 20).
  // Same stages, decisions and side effects (packages/middleware/test/admit-eager.test.ts). Traced,
  // the authenticator has no admitEagerly (services.ts) and every step is the promise one: the
  // admission's eager methods are taken only from an admission admitEagerly() made (`eager`), never
  // from one a wrapper handed out, whose promise methods carry its spans (tracing.test.ts).
  const admitEagerly = authenticator.admitEagerly?.bind(authenticator);
  const eager = admitEagerly !== undefined;
  // Label sets of the success path, bound once (no label object per request).
  const acceptedRequests = metrics.requests.labels({ outcome: 'accepted', code: 'ok', route: 'gateway' });
  const acceptedSeconds = metrics.verificationSeconds.labels({ outcome: 'accepted' });
  const upstreamResponded = metrics.upstreamSeconds.labels({ outcome: 'response' });

  function refuse(
    response: ServerResponse,
    context: RequestContext,
    error: unknown,
    headers: Record<string, string> = {},
  ) {
    const problem = toProblem(error, { instance: context.id });
    context.code = problem.body.code;
    metrics.requests.inc({ outcome: 'rejected', code: problem.body.code, route: 'gateway' });
    withRequestId(response, context);
    sendProblem(response, { status: problem.status, headers: { ...headers, ...problem.headers }, body: problem.body });
  }

  /** Answers one of the server's own refusals (a problem already built): counted, with the request id. */
  function refuseWith(response: ServerResponse, context: RequestContext, problem: ServerProblem) {
    context.code = problem.body.code;
    metrics.requests.inc({ outcome: 'rejected', code: problem.body.code, route: 'gateway' });
    withRequestId(response, context);
    sendProblem(response, problem, context.id);
  }

  function refuseTarget(response: ServerResponse, context: RequestContext, detail: string) {
    refuseWith(response, context, targetProblem(detail));
  }

  /**
   * A GET or HEAD with a body (`Content-Length` above 0, or any `Transfer-Encoding`; `Content-Length:
   * 0` is no body) is refused before any verification work and before anything goes upstream: an
   * upstream that reads no body on a GET (RFC 9110 §9.3.1 gives it no meaning) parses the body as the
   * next request on its connection, one never verified, whose forged `X-Authenticated-*` fields it
   * believes (review19, test/adversarial/getbody19-smuggled-get-body.test.ts). Over HTTP/1.x the
   * connection is closed after the answer (`Connection: close`: nothing after the body is read as a
   * request), as RFC 9110 has a server do with a possible smuggling attempt. DELETE, OPTIONS and the
   * others keep their bodies (APIs send DELETE bodies); both upstream clients close their upstream
   * connection after such a request.
   * `--upstream-allow-get-body` forwards them, for upstreams that read such bodies.
   */
  function refuseGetBody(request: IncomingMessage, response: ServerResponse, context: RequestContext): void {
    // HTTP/2 has no Connection field (Node refuses to write one): its stream ends with the answer.
    if (request.httpVersionMajor === 1) response.setHeader('connection', 'close');
    refuseWith(response, context, serverProblem('body_not_allowed'));
    request.resume();
  }

  const handler: RouteHandler = async (request, response, context) => {
    // Read now: a request whose body stalls while the header stages run is answered 408 and
    // detached from its socket (listener.ts answerBodyTimeout).
    const peerAddress = request.socket.remoteAddress;
    const trustedPeer = isTrustedProxy(peerAddress);
    const sourceAddress = clientAddressOf(request, isTrustedProxy);
    const target = request.url ?? '/';
    // Only a target every verifier reads as sent is verified, so the upstream gets what was verified.
    const targetDefect = requestTargetDefect(target) ?? sortedQueryDefectBeforeVerifying(request.headers, target);
    if (targetDefect !== undefined) {
      refuseTarget(response, context, targetDefect);
      request.resume();
      return;
    }
    const method = request.method ?? 'GET';
    const hasBody = requestHasBody(method, request.headers);
    if (hasBody && !allowGetBody && (method === 'GET' || method === 'HEAD')) {
      refuseGetBody(request, response, context);
      return;
    }
    // Every upstream connection busy and the builtin client's queue full: refused before the
    // admission, so that nothing is verified (review21) for a request that would not be sent. The
    // place itself is taken right before the commit (placeFor): one that finds none there (the
    // queue filled while its verification awaited a store) is refused then, nothing charged
    // either, and its client may send the same signed request again after Retry-After (fix24).
    if (queueFull?.() === true) {
      refuseBusy(response, context);
      request.resume();
      return;
    }
    const url = rebuildUrl(request, target, trustedPeer);
    const declaredLength = Number(request.headers['content-length'] ?? 0);
    if (declaredLength > config.maxBodyBytes) {
      refuse(response, context, new BodyTooLarge(`body of ${declaredLength} bytes exceeds ${config.maxBodyBytes}`));
      request.resume();
      return;
    }

    // The verification waits for the check phase of this event-loop turn, where every request that
    // arrived in the turn is verified back to back (`inCheckPhase`): the verifier's code then stays
    // in the CPU's caches instead of being fetched again after each request's node:http, server
    // and undici code (session 15). The batch resolves the requests' promises in arrival order; their
    // continuations queue in that order, so the stages of a batch's requests mostly run in step
    // (the admissions, then the body checks, then the relays). What is read above (the peer address, before a body timeout can
    // detach the socket; the target; the declared length) stays in the 'request' event. The
    // verification time is measured from here: the wait for the batch is not verification. An idle
    // server runs a batch of one right after the poll phase that read the request.
    if (checkPhase) await new Promise<void>(checkPhaseTurn);
    const started = process.hrtime.bigint();
    const message = { method, url, headers: request.headers };
    const admitted =
      admitEagerly !== undefined
        ? admitEagerly(message, { hasBody, sourceAddress })
        : authenticator.admit(message, { hasBody, sourceAddress });
    const admission = isPromiseLike(admitted) ? await admitted : admitted;
    if (!admission.ok) {
      // The authenticator has already reported the failure (logs, metrics, audit).
      metrics.verificationSeconds.observe({ outcome: 'rejected' }, Number(process.hrtime.bigint() - started) / 1e9);
      refuse(response, context, admission.error, admission.problem.headers);
      request.resume();
      return;
    }
    acceptedSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    // The sender is proven by the head's signature: its body may arrive as slowly as it likes.
    if (hasBody && admission.signatureVerified) exemptFromBodyRate(request);
    const { identity } = admission;
    context.keyId = identity.keyId;
    context.scheme = identity.scheme;
    const queryDefect = sortedQueryDefect(identity.scheme, target);
    if (queryDefect !== undefined) {
      refuseTarget(response, context, queryDefect);
      request.resume();
      return;
    }

    const maxBodyBytes = config.maxBodyBytes;
    const small = declaredLength > 0 && declaredLength <= BUFFERED_BODY_BYTES;
    const forwarded = {
      // The peer, as every proxy appends it (nginx's $proxy_add_x_forwarded_for): after a trusted
      // proxy's chain, which already names the client, the client address would come twice and
      // the proxy hop not at all. From an untrusted peer the chain is dropped and the peer is the client.
      for: peerAddress ?? sourceAddress,
      // What the client addressed (the rebuilt URL's authority), without a URL parse per request.
      host: authorityOf(url),
      proto: url.startsWith('https:') ? 'https' : 'http',
      requestId: context.id,
      trustedPeer,
    };
    if (hasBody && (small || !admission.signatureVerified)) {
      // Read and verified before the upstream is contacted: small bodies because that is cheaper
      // than streaming, and any body whose scheme signs the body itself (X-API-*, SigV4 without a
      // payload hash, django-hmac, webhooks) because until it is read not even the sender is proven.
      // The upstream never sees a byte of a body that fails, and the nonce is recorded (commit)
      // only once the body passed: a tampered copy sent first cannot burn the genuine request.
      let whole: Buffer;
      try {
        whole = completeBody(request, maxBodyBytes) ?? (await wholeBody(request, maxBodyBytes));
      } catch (error) {
        const failed = await admission.fail(error);
        refuse(response, context, failed.error, failed.problem.headers);
        return;
      }
      const place = placeFor(response, context);
      if (place === undefined) return;
      try {
        const completing =
          eager && admission.completeEagerly !== undefined
            ? admission.completeEagerly(whole)
            : admission.complete(whole);
        const completed = isPromiseLike(completing) ? await completing : completing;
        if (!completed.ok) {
          refuse(response, context, completed.error, completed.problem.headers);
          return;
        }
        // A scheme that signs a re-serialisation of the body (django-hmac) names the bytes it
        // covered: those, not the bytes received, go upstream (issue #11 defect 5).
        // A body already in the form the scheme hashes (the usual django-hmac body) is named as the
        // received Buffer itself: sent as it is, without a Buffer view of the same bytes.
        const signed = admission.signedBody();
        const body =
          signed === undefined || signed === whole
            ? whole
            : Buffer.from(signed.buffer, signed.byteOffset, signed.byteLength);
        const headers = upstreamHeaderList(request.headers, identity, forwarded, replacedHeaders, signed?.byteLength);
        relay(place, response, context, method, target, headers, body, completed.headers);
        return;
      } finally {
        // Given back unless the relay sent the request in it (a refusal, a throw): never leaked.
        place.release();
      }
    }
    if (!hasBody) {
      // No body: the body stage has nothing to read (a covered digest is checked against no bytes).
      const place = placeFor(response, context);
      if (place === undefined) {
        request.resume();
        return;
      }
      try {
        const finishing =
          eager && admission.finishEagerly !== undefined ? admission.finishEagerly() : admission.finish();
        const finished = isPromiseLike(finishing) ? await finishing : finishing;
        if (!finished.ok) {
          refuse(response, context, finished.error, finished.problem.headers);
          request.resume();
          return;
        }
        relay(
          place,
          response,
          context,
          method,
          target,
          upstreamHeaderList(request.headers, identity, forwarded, replacedHeaders),
          null,
          finished.headers,
        );
        return;
      } finally {
        // Given back unless the relay sent the request in it (a refusal, a throw): never leaked.
        place.release();
      }
    }

    // A streamed body (larger than BUFFERED_BODY_BYTES, signature already verified over its digest).
    const place = placeFor(response, context);
    if (place === undefined) {
      request.resume();
      return;
    }
    // undici takes an EventEmitter as a signal: far cheaper per request than an AbortController.
    const abort = new EventEmitter();
    let clientGone = false;
    response.once('close', () => {
      if (response.writableFinished) return;
      clientGone = true;
      abort.emit('abort');
    });

    let bodyFailure: unknown;
    // The body must flow upstream before its digest is known: commit now, holding the nonce as a
    // reservation (and the rate limit charged); a body that then fails releases the nonce, so the
    // genuine request can still pass (issue #11, 3), and aborts the upstream request.
    let committed: Awaited<ReturnType<typeof admission.commitBeforeBody>>;
    try {
      committed = await admission.commitBeforeBody();
    } catch (error) {
      place.release();
      throw error;
    }
    if (!committed.ok) {
      place.release();
      refuse(response, context, committed.error, committed.problem.headers);
      request.resume();
      return;
    }
    // The rate-limit headers the pipeline's commit stage answered with.
    const committedHeaders = committed.headers;
    let settle!: (error?: unknown) => void;
    const bodyVerified = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    bodyVerified.catch(() => {});
    // The core's verifyingStream() contract (count, feed the body check, finish) on Node's own
    // stream: converting to web streams and back costs more than the whole proxy hop.
    const body = (async function* forwardVerifiedBody() {
      let received = 0;
      // The last chunk is held back until the digest has matched, so the upstream never holds a
      // complete request whose body failed verification: on failure it sees an aborted one.
      let held: Buffer | undefined;
      try {
        for await (const chunk of request as AsyncIterable<Buffer>) {
          if (chunk.length === 0) continue;
          received += chunk.length;
          if (received > maxBodyBytes)
            throw (await admission.fail(new BodyTooLarge('body exceeds the size limit'))).error;
          admission.update(chunk);
          if (held) yield held;
          held = chunk;
        }
        const finished = await admission.finish();
        if (!finished.ok) throw finished.error;
        settle();
        if (held) yield held;
      } catch (error) {
        bodyFailure = error;
        settle(error);
        // Rethrown so undici aborts the upstream request before its last byte.
        throw error;
      }
    })();

    let upstreamResponse: Awaited<ReturnType<UpstreamClient['request']>>;
    const upstreamStarted = process.hrtime.bigint();
    try {
      upstreamResponse = await place.request({
        origin: upstream.origin,
        path: basePath + target,
        method,
        headers: upstreamHeaderList(request.headers, identity, forwarded, replacedHeaders),
        body,
        signal: abort,
        // Nothing of the upstream's reaches the client before the body's digest matched: an
        // interim answer waits for it (and is dropped when it fails).
        onInfo: ({ statusCode, headers }) =>
          void bodyVerified.then(() => relayInterim(response, statusCode, headers), ignore),
      });
      upstreamResponded.observe(Number(process.hrtime.bigint() - upstreamStarted) / 1e9);
    } catch (error) {
      // Given back when request() was never called (its options threw); after it, a no-op.
      place.release();
      // Busy (the builtin client's queue full at dispatch): nothing was sent, not observed (see upstreamFailed).
      if (!(error instanceof UpstreamBusyError)) {
        metrics.upstreamSeconds.observe(
          { outcome: bodyFailure !== undefined || clientGone ? 'aborted' : isTimeout(error) ? 'timeout' : 'error' },
          Number(process.hrtime.bigint() - upstreamStarted) / 1e9,
        );
      }
      if (bodyFailure !== undefined) {
        // Already recorded (once) by the pipeline, which also released the nonce reservation.
        refuse(response, context, bodyFailure);
        return;
      }
      if (clientGone) return;
      upstreamFailed(response, context, error);
      return;
    }

    try {
      await bodyVerified;
    } catch (error) {
      upstreamResponse.body.destroy();
      refuse(response, context, error);
      return;
    }

    acceptedRequests.inc();
    const status = upstreamResponse.statusCode;
    const answerHeaders = downstreamHeaders(upstreamResponse.headers, committedHeaders);
    if (status === 204) delete answerHeaders['content-length'];
    response.writeHead(status, { ...answerHeaders, ...committedHeaders, 'x-request-id': context.id });
    if (status === 204 || status === 304) {
      // No body by its status: the answer is complete with its head. What undici does with the
      // upstream's framing afterwards (a 304's Content-Length fails its parser, see
      // Relay.onError) is no concern of the client's.
      upstreamResponse.body.on('error', ignore).resume();
      response.end();
      return;
    }
    // pipe() rather than stream/promises' pipeline(): the latter allocates an AbortController
    // (and a DOMException when it finishes) per response, a measurable share of the hop.
    const upstreamBody = upstreamResponse.body;
    upstreamBody.once('error', () => {
      metrics.upstreamErrors.inc({ kind: 'aborted' });
      response.destroy();
    });
    response.once('close', () => {
      if (!upstreamBody.readableEnded) upstreamBody.destroy();
    });
    // Before pipe()'s own 'end' listener, which ends the response: undici has parsed the trailers by then.
    upstreamBody.once('end', () => {
      const trailers = relayedTrailersOf(upstreamResponse.trailers, committedHeaders);
      if (trailers !== undefined) addTrailers(response, trailers);
    });
    upstreamBody.pipe(response);
  };

  /**
   * Sends a fully proven request upstream (its body, if any, read and verified, its nonce recorded)
   * and relays the answer as it arrives: undici's dispatch handler writes the status and headers,
   * then each body chunk, straight to the client. Invariant of this path: nothing is left to
   * verify once the upstream is contacted, so the answer needs no holding back (the streamed path
   * above waits for its body's digest before it writes a byte). Against request() + pipe() it
   * saves, per request, a promise, a Readable for the answer, pipe()'s listeners, an
   * EventEmitter signal, and the parsed header object the answer's head is built from.
   */
  function relay(
    place: UpstreamReservation,
    response: ServerResponse,
    context: RequestContext,
    method: string,
    target: string,
    headers: (string | string[])[],
    body: Buffer | null,
    committedHeaders: Record<string, string>,
  ): void {
    const relay = new Relay(response as RelayedResponse, context, committedHeaders);
    (response as RelayedResponse)[RELAY] = relay;
    // `on`, not `once`: a response closes once, and once() wraps every listener in a closure.
    response.on('close', onRelayedClose);
    place.dispatch(
      {
        origin: upstream.origin,
        path: basePath + target,
        method,
        headers,
        body,
      },
      relay,
    );
  }

  /**
   * undici's dispatch handler for one relayed request: see {@link relay}. It keeps the
   * `onConnect`/`onHeaders`/`onData`/`onComplete` interface on purpose, although undici 7 marks it
   * deprecated: undici 7's HTTP/1.1 client still drives that interface itself, and a controller-API
   * handler is wrapped into it at a cost of a parsed header object per answer that nothing here reads
   * (+12k instructions per relayed request, +5%, measured twice with `node bench/count-http.js
   * gateway-harness:pass <before> <after>`; docs/performance.md "Session 12: gateway and django path").
   * Move to the controller API when undici's client speaks it natively (undici 8).
   */
  class Relay implements UpstreamHandler {
    /** Aborts the upstream request (set once undici starts writing it). */
    abort: ((reason?: Error) => void) | undefined = undefined;
    /** Resumes reading the upstream's answer after the client's socket drained. */
    resume: (() => void) | undefined = undefined;
    clientGone = false;
    /**
     * A 'drain' listener is waiting (one at a time): the builtin client's parser (node's) delivers
     * the rest of the socket read it is in after onData said false (undici's pauses its parser at
     * once), up to one chunk per chunked-body chunk; a listener each piled up (second19).
     */
    draining = false;
    /** Whether the answer's head has been written to the client. */
    answered = false;
    /** The upstream's declared `Content-Length` (-1 without one) and the body bytes relayed so far. */
    declaredLength = -1;
    received = 0;
    /** The whole answer body when it came as one chunk: written with the head by `end()` (see onData). */
    held: Buffer | undefined = undefined;
    /** The answer's status (0 before its head): a 204 or 304 has no body, whatever its fields say. */
    status = 0;
    readonly started = process.hrtime.bigint();

    constructor(
      readonly response: RelayedResponse,
      readonly context: RequestContext,
      readonly committedHeaders: Record<string, string>,
    ) {}

    onConnect(abort: (reason?: Error) => void): void {
      if (this.clientGone) abort(new undiciErrors.RequestAbortedError());
      else this.abort = abort;
    }

    onHeaders(statusCode: number, raw: (Buffer | string)[], resume: () => void): boolean {
      if (statusCode < 200) {
        // An interim answer (102, 103; undici refuses 100 and a 101 it did not ask for).
        if (!this.clientGone) relayInterim(this.response, statusCode, rawFields(raw));
        return true;
      }
      upstreamResponded.observe(Number(process.hrtime.bigint() - this.started) / 1e9);
      acceptedRequests.inc();
      this.answered = true;
      this.status = statusCode;
      this.resume = resume;
      // undici hands the fields over as Buffers, the builtin client as latin1 strings (node's parser).
      const fields =
        raw.length > 0 && typeof raw[0] === 'string'
          ? relayedHeaders(raw, this.committedHeaders, this.context.id)
          : relayedAnswerHeaders(raw as Buffer[], this.committedHeaders, this.context.id);
      // RFC 9110 §8.6: never a Content-Length on a 204 (a 304's, and a HEAD answer's, are the
      // length the GET would have had: relayed as sent).
      if (statusCode === 204) withoutContentLength(fields);
      this.declaredLength = declaredLengthOf(fields);
      this.response.writeHead(statusCode, fields);
      return true;
    }

    /**
     * A first chunk that is the whole declared body (`Content-Length` framing: undici's parser
     * completes the message right after its last byte, in the same read) is held and written by
     * onComplete's `end(chunk)`: the same bytes on the wire as `write(chunk)` then `end()`, in one
     * write through node:http instead of two. Any other chunk is written as it comes (a streamed
     * answer is never held back); one arriving after a held chunk (which the framing rules out)
     * writes the held one first.
     */
    onData(chunk: Buffer): boolean {
      const first = this.received === 0;
      this.received += chunk.length;
      if (first && chunk.length === this.declaredLength) {
        this.held = chunk;
        return true;
      }
      const held = this.held;
      if (held !== undefined) {
        this.held = undefined;
        this.response.write(held);
      }
      if (this.response.write(chunk)) return true;
      // The client reads slower than the upstream sends: pause the upstream until it drained.
      if (!this.draining) {
        this.draining = true;
        this.response.once('drain', onRelayedDrain);
      }
      return false;
    }

    onComplete(trailers: (Buffer | string)[] | null): void {
      // undici's HTTP/1.1 client hands over the raw trailer fields (Buffers, typed as strings), the builtin one strings.
      if (trailers !== null && trailers.length > 0) {
        const relayed = relayedTrailersOf(rawFields(trailers), this.committedHeaders);
        if (relayed !== undefined) addTrailers(this.response, relayed);
      }
      const held = this.held;
      if (held === undefined) {
        this.response.end();
        return;
      }
      this.held = undefined;
      this.response.end(held);
    }

    onError(error: Error): void {
      if (this.answered && this.received === 0 && (this.status === 204 || this.status === 304)) {
        // A 204 or 304 has no body (RFC 9110 §6.4.1), so its head, already written, is the whole
        // answer. undici 7 fails a 304 that carries its RFC 9110 §8.6 Content-Length (and a 204
        // with one) after the head: its parser reads no body for the status, then compares the
        // zero bytes read with the declared length (client-h1.js onMessageComplete, no option
        // turns the check off; HEAD is exempted there, 304 is not). It destroys its upstream
        // connection; the client's answer is complete and its connection is kept.
        if (error instanceof undiciErrors.ResponseContentLengthMismatchError) {
          this.held = undefined;
          this.response.end();
          return;
        }
      }
      if (this.answered) {
        // Cut off mid-answer by the upstream (a client that left is not an upstream error).
        if (!this.clientGone) {
          metrics.upstreamErrors.inc({ kind: 'aborted' });
          this.response.destroy();
        }
        return;
      }
      // Busy (the builtin client's queue full at dispatch): nothing was sent, not observed (see upstreamFailed).
      if (!(error instanceof UpstreamBusyError)) {
        metrics.upstreamSeconds.observe(
          { outcome: this.clientGone ? 'aborted' : isTimeout(error) ? 'timeout' : 'error' },
          Number(process.hrtime.bigint() - this.started) / 1e9,
        );
      }
      if (this.clientGone) return;
      upstreamFailed(this.response, this.context, error);
    }
  }

  /**
   * The place `dispatch()` or `request()` sends a request in, taken right before its commit: with
   * the builtin client a reservation of a connection or queue place (a committed request is never
   * refused busy), given back by every way out that sends nothing; undici's Pool, unbounded, needs
   * none. No place left (the queue filled while the request's verification awaited a store): the
   * request is answered `503 upstream_busy` (undefined returned) before its commit, nothing charged.
   */
  function placeFor(response: ServerResponse, context: RequestContext): UpstreamReservation | undefined {
    if (reserve === undefined) return unbounded;
    const place = reserve();
    if (place === undefined) refuseBusy(response, context);
    return place;
  }

  /**
   * 503 upstream_busy: nothing was sent upstream, a load shed, not an upstream failure (no warning
   * per request under the overload that causes it; the access line has the code, the metric the count).
   * Never observed in `hmac_kit_upstream_request_duration_seconds`, whether refused before the
   * admission or before the commit after an asynchronous verification (placeFor): that histogram
   * times requests sent (outcomes response, error, timeout, aborted), and undici's Pool, which
   * queues without bound, never refuses one.
   */
  function refuseBusy(response: ServerResponse, context: RequestContext) {
    metrics.upstreamErrors.inc({ kind: 'busy' });
    context.code = 'upstream_busy';
    withRequestId(response, context);
    const problem = serverProblem('upstream_busy', 'every upstream connection is busy and the queue is full');
    sendProblem(response, { ...problem, headers: { 'retry-after': '1' } }, context.id);
  }

  function upstreamFailed(response: ServerResponse, context: RequestContext, error: unknown) {
    if (error instanceof UpstreamBusyError) {
      refuseBusy(response, context);
      return;
    }
    const timedOut = isTimeout(error);
    const refused = timedOut ? undefined : refusedAnswerCause(error);
    metrics.upstreamErrors.inc({ kind: timedOut ? 'timeout' : 'error' });
    context.code = timedOut ? 'upstream_timeout' : 'upstream_error';
    const err = { name: (error as Error)?.name, code: (error as { code?: string })?.code };
    if (refused !== undefined) context.log.warn({ reqId: context.id, err, cause: refused }, 'upstream answer refused');
    else context.log.warn({ reqId: context.id, err }, timedOut ? 'upstream timeout' : 'upstream error');
    withRequestId(response, context);
    sendProblem(
      response,
      timedOut
        ? serverProblem('upstream_timeout', 'the upstream did not answer in time')
        : refused !== undefined
          ? serverProblem('upstream_error', `the upstream's answer could not be relayed: ${refused}`)
          : serverProblem('upstream_error', 'the upstream could not be reached'),
      context.id,
    );
  }

  return { handler, close: () => dispatcher.close(), client: choice.client };
}

/**
 * The `Content-Length` among relayed answer fields (`[name, value, ...]`, names lower-cased), or -1
 * when there is none or it is not a plain decimal (undici's parser has already refused a malformed
 * or conflicting one).
 */
function declaredLengthOf(fields: readonly string[]): number {
  for (let index = 0; index < fields.length; index += 2) {
    if (fields[index] !== 'content-length') continue;
    const value = fields[index + 1] as string;
    if (value.length === 0 || value.length > 15) return -1;
    for (let at = 0; at < value.length; at++) {
      const code = value.charCodeAt(at);
      if (code < 48 || code > 57) return -1;
    }
    return Number(value);
  }
  return -1;
}

function ignore(): void {}

/**
 * Passes an upstream's interim answer on to the client before the final one, as RFC 9110 §15.2
 * has a proxy do: `102 Processing` and `103 Early Hints` (its `Link` fields and the other fields
 * but the hop-by-hop ones). Never to an HTTP/1.0 client (which cannot read one, RFC 9110 §15.2),
 * nor once the final head is written; another 1xx (no Node API writes one), and a 102 to an HTTP/2
 * client, are not passed on.
 */
function relayInterim(
  response: ServerResponse,
  statusCode: number,
  headers: Record<string, string | string[] | undefined>,
): void {
  if (response.headersSent || response.destroyed) return;
  const request = (response as ServerResponse & { req?: IncomingMessage }).req;
  if (request !== undefined && request.httpVersionMajor === 1 && request.httpVersionMinor === 0) return;
  if (statusCode === 102) {
    // HTTP/2's compatibility response has no writeProcessing() (RFC 9113 has no use for a 102).
    if (typeof response.writeProcessing === 'function') response.writeProcessing();
    return;
  }
  if (statusCode !== 103) return;
  const hints = downstreamHeaders(headers);
  delete hints['x-request-id'];
  // Node writes no 103 without a Link, and refuses (throws on) a Link value it does not parse.
  if (hints.link === undefined) return;
  // writeEarlyHints() writes the fields but Link as they are, unchecked: a field Node would not
  // write in a head (undici's parser already refuses CR, LF and NUL in one) is left out.
  for (const name in hints) {
    try {
      validateHeaderName(name);
      const value = hints[name] ?? '';
      for (const one of Array.isArray(value) ? value : [value]) validateHeaderValue(name, one);
    } catch {
      delete hints[name];
    }
  }
  try {
    response.writeEarlyHints(hints);
  } catch {
    // Not relayable as sent: the final answer comes without it.
  }
}

/** Removes every `content-length` from relayed answer fields (`[name, value, ...]`, names lower-cased). */
function withoutContentLength(fields: string[]): void {
  for (let index = fields.length - 2; index >= 0; index -= 2) {
    if (fields[index] === 'content-length') fields.splice(index, 2);
  }
}

/**
 * Raw fields as undici hands them over (`[name, value, ...]` buffers) or the builtin client
 * (latin1 strings): lower-cased names, latin1 values.
 */
function rawFields(raw: readonly (Buffer | string)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = latin1Of(raw[index] as Buffer | string).toLowerCase();
    const value = latin1Of(raw[index + 1] as Buffer | string);
    const seen = out[name];
    out[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return out;
}

function latin1Of(field: Buffer | string): string {
  return typeof field === 'string' ? field : field.toString('latin1');
}

/**
 * Trailer fields never relayed: the hop-by-hop ones, framing (`content-length`), and those the
 * gateway sets itself (`x-request-id`, its rate-limit fields, `own`).
 */
const NOT_RELAYED_TRAILERS: ReadonlySet<string> = new Set(['content-length', 'x-request-id']);

/**
 * The upstream's trailers to relay (RFC 9110 §6.5: a proxy passes them on), by lower-cased name,
 * or `undefined` when none is left. An HTTP/1.1 client gets them when its answer is chunked (Node
 * writes trailers only then); an HTTP/2 one always. An object, not `[name, value]` pairs: HTTP/2's
 * compatibility `addTrailers()` takes only that.
 */
function relayedTrailersOf(
  trailers: Record<string, string | string[] | undefined> | undefined,
  own: Record<string, string>,
): Record<string, string | string[]> | undefined {
  if (trailers === undefined) return undefined;
  const ownNames = Object.keys(own).map((name) => name.toLowerCase());
  let out: Record<string, string | string[]> | undefined;
  for (const name in trailers) {
    const value = trailers[name];
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || NOT_RELAYED_TRAILERS.has(lower) || ownNames.includes(lower))
      continue;
    out ??= {};
    out[lower] = value;
  }
  return out;
}

/** Adds relayed trailers; one Node refuses to write (an invalid character) leaves them all out. */
function addTrailers(response: ServerResponse, trailers: Record<string, string | string[]>): void {
  try {
    response.addTrailers(trailers);
  } catch {
    // Not relayable as sent: the answer goes on without them.
  }
}

/**
 * Why undici refused an upstream answer it had started to read, for the log line and the 502's
 * detail (no field values, nothing of the request): `undefined` for any other failure (no
 * connection, a reset before any answer).
 */
function refusedAnswerCause(error: unknown): string | undefined {
  const code = (error as { code?: string })?.code;
  const message = (error as Error)?.message;
  // The builtin client names its refusal itself (llhttp's code for a malformed answer).
  if (error instanceof UpstreamAnswerError) return error.refusal;
  if (error instanceof undiciErrors.SocketError) {
    // undici refuses an unsolicited 100 Continue as 'bad response' (RFC 9110 §15.2 has a client
    // parse it; undici 7 does not), and a 101 it did not ask for as 'bad upgrade'.
    if (message === 'bad response') return 'an interim answer undici does not accept (unsolicited 100 Continue)';
    if (message === 'bad upgrade') return 'a protocol switch (101) the gateway did not ask for';
    return undefined;
  }
  // undici's fixed text with llhttp's reason ('... (Invalid header token)'), never the bytes.
  if (error instanceof undiciErrors.HTTPParserError) return `a malformed answer (${code ?? message})`;
  // Before the head was relayed, this is undici's parser failing on an answer that named a
  // Content-Length (undici reports any parse error of such an answer so; a repeated
  // Content-Length among them).
  if (error instanceof undiciErrors.ResponseContentLengthMismatchError) return `a malformed answer (${code})`;
  if (error instanceof undiciErrors.HeadersOverflowError) return 'an answer head over the size limit';
  return undefined;
}

/**
 * Sets `X-Request-Id` on a refusal. The server leaves it to this route (its proxied responses carry
 * it in their one `writeHead()`, node:http's fast path), so every answer of its own sets it here.
 */
function withRequestId(response: ServerResponse, context: RequestContext): void {
  if (!response.headersSent) response.setHeader('x-request-id', context.id);
}

function isTimeout(error: unknown): boolean {
  return (
    error instanceof UpstreamTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  );
}
