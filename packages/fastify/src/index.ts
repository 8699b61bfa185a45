import { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BodyTooLarge, isPromiseLike, messageHasBody, toProblem } from '@hmac-kit/core';
import type {
  AuthContext,
  Authenticator,
  AuthenticatorOptions,
  AuthOutcome,
  AuthSuccess,
  HmacIdentity,
  ProblemResponse,
} from '@hmac-kit/middleware';
import {
  createAuthenticator,
  deferredBody,
  problemHeaders,
  TargetHrefs,
  validateOrigin,
  validateScopes,
} from '@hmac-kit/middleware';
import { inCheckPhase } from '@hmac-kit/middleware/node';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';
import { declaredLengthIs, peekBuffered } from './buffered.js';
import { keepTickShape } from './tick-shape.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who signed the request; set by the `hmacAuth()` plugin, `null` on routes it does not cover. */
    hmac: HmacIdentity | null;
  }
}

/** Options of {@link hmacAuth}: the authenticator's, plus how to rebuild the URL the client addressed. */
export interface HmacAuthOptions extends AuthenticatorOptions {
  /**
   * Origin the clients address (`https://api.example.com`), a string or a function of the
   * request. Default: `request.protocol` and `request.host` (both honour `trustProxy`).
   */
  origin?: string | ((request: FastifyRequest) => string);
}

/**
 * The authenticator that verified a request, for `requireScopes()`. A request decorator (declared
 * once, part of every request's shape), not a property added to each verified request: adding a
 * property an object's shape lacks costs a map transition per request.
 */
const kAuthenticator = Symbol('hmac-kit.authenticator');
type Marked = FastifyRequest & { [kAuthenticator]?: Authenticator | null };

/**
 * The transport context of one request, read only when something needs it: with `trustProxy`,
 * `request.ip` runs proxy-addr over the forwarding headers (arrays per call), and only the failure
 * throttle and failure reports use the address. Read at most once: the value
 * `{ sourceAddress: request.ip }` would hold.
 */
class SourceOf implements AuthContext {
  #request: FastifyRequest;
  #address: string | undefined;
  #read = false;

  constructor(request: FastifyRequest) {
    this.#request = request;
  }

  get sourceAddress(): string | undefined {
    if (!this.#read) {
      this.#read = true;
      this.#address = this.#request.ip;
    }
    return this.#address;
  }
}

/** `request.host` (Fastify 5) includes the port; Fastify 4 has only `hostname`, which then included it. */
function authorityOf(request: FastifyRequest): string {
  return (request as { host?: string }).host ?? request.hostname;
}

type Payload = NodeJS.ReadableStream & { receivedEncodedLength?: number };
/** A callback-style hook's `done`: an error, or none and the payload stream that replaces the request's. */
type HookDone = (error: Error | null, payload?: Readable & { receivedEncodedLength?: number }) => void;

const EMPTY = Buffer.alloc(0);
const RESOLVED = Promise.resolve();

/** Whether node:http holds the whole body of `raw` in its buffer: nothing more can be pushed but the end. */
function wholeBodyBuffered(raw: IncomingMessage): boolean {
  if (raw.complete) return true;
  // Before the end is pushed: a Content-Length body whose every byte is buffered. The HTTP parser
  // counts the body by that length, so no byte beyond it can ever be pushed to this request.
  const declared = raw.headers['content-length'];
  return (
    declared !== undefined &&
    raw.headers['transfer-encoding'] === undefined &&
    declaredLengthIs(declared, raw.readableLength)
  );
}

/**
 * The whole body, looked at in `request.raw` (`peekBuffered`: one buffered chunk) or else taken
 * from it without a stream read and put back, when node:http
 * has already received all of it and nothing has consumed any of it: the usual case for a small
 * body, which arrives with the head and is pushed by the HTTP parser right after the route's
 * hooks started (hence the microtask before the look). `undefined` when the look does not apply
 * (a body still arriving, a stream that is not the request's own, one something already reads).
 *
 * Invariant: the bytes left in place (peeked) or put back are the very Buffer returned (and
 * verified); the request's whole
 * body is buffered (`wholeBodyBuffered`), so nothing can be pushed after them but the end, and
 * nothing reads `request.raw` before the hook ends. Fastify's parser therefore reads exactly these
 * bytes, as it would read a replayed stream, and only once the hook hands over (after
 * verification). `readable.unshift()` is node's documented way to un-consume data pulled out of a
 * stream optimistically. The slow path (stream read, replayed) answers the same: fastify.test.ts
 * sends the same requests both ways.
 */
function takeComplete(raw: FastifyRequest['raw'], payload: Payload): Buffer | undefined {
  if (
    payload !== raw ||
    // node:http's own request (HTTP/1); HTTP/2's compatibility request reads another way.
    !(raw instanceof IncomingMessage) ||
    raw.readableEnded ||
    raw.readableFlowing === true ||
    raw.readableObjectMode ||
    raw.readableEncoding !== null ||
    raw.destroyed ||
    // Nobody else is, or was, reading it (a listener would be handed the bytes by read()).
    raw.listenerCount('data') > 0 ||
    raw.listenerCount('readable') > 0 ||
    !wholeBodyBuffered(raw)
  ) {
    return undefined;
  }
  const length = raw.readableLength;
  if (length === 0) return EMPTY;
  // The usual case, one chunk: looked at where it lies, nothing taken or put back.
  const peeked = peekBuffered(raw);
  if (peeked !== undefined) return peeked;
  const taken = raw.read() as Buffer | null;
  if (taken === null || taken.length !== length) {
    // Not what was buffered (cannot happen for a paused byte stream): put back whatever was
    // taken and let the stream read decide.
    if (taken !== null) raw.unshift(taken);
    return undefined;
  }
  raw.unshift(taken);
  return taken;
}

/**
 * Reads the whole payload, at most once: taken from the complete request (`takeComplete`, no
 * stream read: Fastify's parser then reads `request.raw` itself), or else with 'data'/'end'
 * listeners, stopping once it exceeds `maxBytes` (the result is then longer than `maxBytes`,
 * which the caller refuses). One promise per request: an async iterator over the stream, a
 * recording wrapper and an async generator in the verifier cost several microtask hops and
 * objects per chunk. Once read, the bytes are also kept in `bytes`, so that a caller past the
 * verifier needs no promise to get them.
 */
class PayloadReader {
  /** The payload once read (undefined before). */
  bytes: Buffer | undefined;
  /**
   * Whether the bytes were read off the payload stream (it is consumed: the parser needs a
   * replay) rather than taken and put back (`request.raw` still holds them).
   */
  consumed = false;
  #raw: FastifyRequest['raw'];
  #payload: Payload;
  #maxBytes: number;
  #read: Promise<Buffer> | undefined;

  constructor(raw: FastifyRequest['raw'], payload: Payload, maxBytes: number) {
    this.#raw = raw;
    this.#payload = payload;
    this.#maxBytes = maxBytes;
  }

  /**
   * The whole payload when node:http already holds it (`takeComplete`: taken and put back, nothing
   * read off the socket), kept in `bytes`; `undefined` otherwise (nothing taken, nothing changed).
   */
  takeBuffered(): Buffer | undefined {
    const taken = takeComplete(this.#raw, this.#payload);
    if (taken !== undefined) this.bytes = taken;
    return taken;
  }

  /** Starts reading (once); resolves with the payload. */
  read(): Promise<Buffer> {
    // After the current task's synchronous work: node:http pushes the body that came with the
    // head only after the 'request' listeners (and with them this hook) returned. (A promise
    // reaction: node's queueMicrotask() builds an AsyncResource and a bound function per call.)
    this.#read ??= RESOLVED.then(() => this.#readNow());
    return this.#read;
  }

  #readNow(): Buffer | Promise<Buffer> {
    const taken = takeComplete(this.#raw, this.#payload);
    if (taken !== undefined) {
      this.bytes = taken;
      return taken;
    }
    this.consumed = true;
    return new Promise<Buffer>((resolve, reject) => this.#listen(resolve, reject));
  }

  #listen(resolve: (bytes: Buffer) => void, reject: (error: unknown) => void): void {
    const payload = this.#payload;
    const maxBytes = this.#maxBytes;
    const chunks: Buffer[] = [];
    let length = 0;
    const stop = () => {
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      chunks.push(bytes);
      length += bytes.length;
      if (length > maxBytes) {
        stop();
        payload.pause();
        this.bytes = Buffer.concat(chunks, length);
        resolve(this.bytes);
      }
    };
    const onEnd = () => {
      stop();
      this.bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      resolve(this.bytes);
    };
    const onError = (error: unknown) => {
      stop();
      reject(error);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
  }
}

/**
 * A stream of exactly `bytes`, for Fastify's body parser (cheaper than `Readable.from()`; a
 * class, so no closure and no `Object.assign` onto the stream per request).
 */
class Replay extends Readable {
  readonly receivedEncodedLength: number;
  #bytes: Buffer | undefined;

  constructor(bytes: Buffer) {
    // No destroy (and 'close' tick) after 'end': nothing holds a resource, and the parsers
    // (Fastify's, `finished()`, `pipeline()`) settle on 'end' for a stream that never closes.
    super({ autoDestroy: false, emitClose: false });
    this.receivedEncodedLength = bytes.byteLength;
    this.#bytes = bytes;
  }

  override _read(): void {
    const bytes = this.#bytes;
    this.#bytes = undefined;
    if (bytes !== undefined && bytes.length > 0) this.push(bytes);
    this.push(null);
  }
}

/**
 * Sends the problem and resolves once the response has ended. Fastify only stops the
 * lifecycle after a hook when the response has ended: with an async `onSend` hook in the
 * app, `send()` returns before that, and the route handler would still run.
 */
async function refuse(reply: FastifyReply, problem: ProblemResponse): Promise<void> {
  reply.code(problem.status).headers(problemHeaders(problem)).send(JSON.stringify(problem.body));
  if (!reply.sent) await finished(reply.raw).catch(() => {});
  // The client went away mid-answer: an error still keeps the handler from running.
  if (!reply.sent) throw new Error('hmac-kit: connection closed while refusing the request');
}

/**
 * A Fastify plugin that verifies every request of the context it is registered in: signature
 * in the `preParsing` hook, over the raw payload stream, before Fastify's JSON parser runs;
 * the parser then reads exactly the verified bytes. Sets `request.hmac`; refused requests get
 * a problem+json answer (401, 403, 413, 429, 503) and never reach the handler.
 *
 * The plugin is not encapsulated (like `fastify-plugin`): register it inside the scope whose
 * routes must be signed. Register it before plugins that add their own `preParsing` stream
 * transforms (decompression), so that the bytes hashed are the bytes that were signed.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { hmacAuth, requireScopes } from '@hmac-kit/fastify';
 *
 * const app = Fastify();
 * await app.register(hmacAuth({ keys: (keyId) => keys.get(keyId) }));
 * app.post('/orders', { preHandler: requireScopes('orders:write') }, async (request, reply) => {
 *   return reply.code(201).send({ by: request.hmac!.principal, order: request.body });
 * });
 * ```
 */
export function hmacAuth(options: HmacAuthOptions): FastifyPluginAsync {
  const { origin, ...authenticatorOptions } = options ?? ({} as HmacAuthOptions);
  validateOrigin(origin);
  const authenticator = createAuthenticator({ crypto: nodeCryptoProvider, ...authenticatorOptions });
  const targets = new TargetHrefs();
  keepTickShape();

  async function hmacAuthPlugin(app: FastifyInstance): Promise<void> {
    if (!app.hasRequestDecorator('hmac')) app.decorateRequest('hmac', null);
    if (!app.hasRequestDecorator(kAuthenticator)) app.decorateRequest(kAuthenticator, null);

    app.addHook('preParsing', preParsing);
  }

  /**
   * Refuses with `problem`, then ends the hook: without an error once the answer is sent (Fastify
   * stops there), with one when the client went away mid-answer (so the handler never runs).
   */
  function refuseAndEnd(reply: FastifyReply, problem: ProblemResponse, done: HookDone): void {
    refuse(reply, problem).then(() => done(null), done);
  }

  /** The hook's end for an outcome: refused, or the verified bytes handed to Fastify's parser. */
  function settle(
    outcome: AuthOutcome,
    request: FastifyRequest,
    reply: FastifyReply,
    url: string,
    reader: PayloadReader,
    done: HookDone,
  ): void {
    if (!outcome.ok) {
      refuseAndEnd(reply, outcome.problem, done);
      return;
    }
    // A scheme that does not bind the body (or a GET) leaves it unread: read it now.
    if (reader.bytes === undefined) {
      reader
        .read()
        .then(
          (bytes) => hand(outcome, reader, bytes, request, reply, url, done),
          (error: unknown) =>
            refuseAndEnd(reply, authenticator.fail(error, { method: request.method, url }).problem, done),
        )
        .catch(done);
      return;
    }
    hand(outcome, reader, reader.bytes, request, reply, url, done);
  }

  function hand(
    outcome: AuthSuccess,
    reader: PayloadReader,
    bytes: Buffer,
    request: FastifyRequest,
    reply: FastifyReply,
    url: string,
    done: HookDone,
  ): void {
    if (bytes.length > authenticator.maxBodyBytes) {
      const error = new BodyTooLarge('body exceeds the size limit');
      refuseAndEnd(reply, authenticator.fail(error, { method: request.method, url }).problem, done);
      return;
    }
    request.hmac = outcome.identity;
    (request as Marked)[kAuthenticator] = authenticator;
    for (const _ in outcome.headers) {
      reply.headers(outcome.headers);
      break;
    }
    // Hand the parser the verified bytes: put back in `request.raw` (takeComplete), or replayed
    // when they were read off the stream.
    if (reader.consumed) done(null, new Replay(bytes));
    else done(null);
  }

  /**
   * The `preParsing` hook, in Fastify's callback style (no async frame): the signature over the
   * raw payload, before Fastify's parser runs. `verify` runs in the check phase, with every other
   * request of this event-loop turn (`inCheckPhase`: their verifications back to back, which keeps
   * the verifier's code in the CPU's caches); by then node:http has pushed a body that arrived
   * with the head (it does so right after the route's hooks started).
   */
  function preParsing(request: FastifyRequest, reply: FastifyReply, payload: Payload, done: HookDone): void {
    let url: string;
    try {
      const base =
        origin === undefined
          ? `${request.protocol}://${authorityOf(request)}`
          : typeof origin === 'function'
            ? origin(request)
            : origin;
      // The target's path and query on the origin (`targetUrl`): never an authority the request
      // line wrote. Its href, remembered per target: the core finds the parts of the same string.
      url = targets.href(request.url, base);
    } catch (error) {
      refuseAndEnd(reply, authenticator.fail(error, { method: request.method, url: request.url }).problem, done);
      return;
    }
    const reader = new PayloadReader(request.raw, payload, authenticator.maxBodyBytes);
    inCheckPhase(() => verify(request, reply, url, reader, done));
  }

  /**
   * Verifies the request, then settles the hook. Two ways, one answer:
   *
   * - the whole body is already in node:http's buffer (`takeBuffered`, the usual case for a small
   *   body, which arrives with the head), within the size limit, and the head says the request
   *   has a body whenever the bytes are not empty: it is verified as bytes, every stage
   *   synchronous, no promise past the microtask this runs in;
   * - otherwise: a `deferredBody()`, read (off the stream) only once the header stages passed, so
   *   that a source the throttle blocks never has its body read.
   *
   * Invariant: both ways give the same outcome and the same reports and side effects. The core
   * verifies bytes and a deferred body with the same stages: the declared size first, then parse,
   * gate, key + MAC, policy, the body, the commit. They differ only where this excludes the bytes
   * way: an actual size over the limit (checked before the header stages for bytes, after them
   * for a deferred body) and non-empty bytes under a head that announced no body (a deferred body
   * re-runs the header stages as a request with a body; bytes run them once as one). Taking bytes
   * node:http already buffered reads nothing off the socket for a blocked source, and puts them
   * back as they were. fastify.test.ts sends the same requests both ways (accepted, tampered,
   * unknown key, over the limit) and compares the answers.
   */
  function verify(
    request: FastifyRequest,
    reply: FastifyReply,
    url: string,
    reader: PayloadReader,
    done: HookDone,
  ): void {
    try {
      const message = { method: request.method, url, headers: request.headers };
      const taken = reader.takeBuffered();
      const outcome =
        taken !== undefined &&
        taken.length <= authenticator.maxBodyBytes &&
        (taken.length === 0 || messageHasBody(message))
          ? authenticator.authenticateEagerly(message, taken, new SourceOf(request))
          : authenticator.authenticateEagerly(
              message,
              deferredBody(() => reader.read()),
              new SourceOf(request),
            );
      if (isPromiseLike(outcome)) {
        outcome.then((settled) => {
          try {
            settle(settled, request, reply, url, reader, done);
          } catch (error) {
            // A throw while settling ends the hook with it, as a throw in the synchronous path does.
            done(error as Error);
          }
        });
        return;
      }
      settle(outcome, request, reply, url, reader, done);
    } catch (error) {
      done(error as Error);
    }
  }

  // What `fastify-plugin` does: share the decorator and hook with the registering context.
  return Object.assign(hmacAuthPlugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: '@hmac-kit/fastify',
  });
}

/**
 * A `preHandler` hook (for routes covered by {@link hmacAuth}) that lets the request through
 * only when the key holds every named scope; otherwise it answers 403 `scope_insufficient`.
 *
 * @example
 * ```ts
 * app.delete('/orders/:id', { preHandler: requireScopes('orders:write') }, handler);
 * ```
 */
export function requireScopes(...scopes: string[]): preHandlerAsyncHookHandler {
  const required = validateScopes(scopes);
  return async function requireScopesHook(request, reply) {
    const authenticator = (request as Marked)[kAuthenticator];
    if (!request.hmac || !authenticator) {
      // Used on a route hmacAuth() does not cover: refuse rather than serve it unauthenticated.
      return refuse(reply, toProblem(new TypeError('requireScopes() used on a route without hmacAuth()')));
    }
    const outcome = authenticator.authorize(request.hmac, required, { method: request.method, url: request.url });
    if (!outcome.ok) return refuse(reply, outcome.problem);
  };
}

export type { HmacIdentity } from '@hmac-kit/middleware';
