import { IncomingMessage } from 'node:http';
import { BodyTooLarge, BodyUnavailable, framingDeclaresBody, isPromiseLike, toProblem } from '@hmac-kit/core';
import type {
  Admission,
  AuthContext,
  Authenticator,
  AuthenticatorOptions,
  AuthFailure,
  AuthOutcome,
  AuthSuccess,
  HmacIdentity,
  ProblemResponse,
  RecordedBody,
} from '@hmac-kit/middleware';
import {
  createAuthenticator,
  problemHeaders,
  recordBody,
  TargetHrefs,
  validateOrigin,
  validateScopes,
} from '@hmac-kit/middleware';
import { inCheckPhase } from '@hmac-kit/middleware/node';
import { nodeCryptoProvider } from '@hmac-kit/node-crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { bodyRules, type JsonBodyOptions, type JsonBodyPlan, jsonBodyPlan, parseJsonBody } from './json-body.js';
import { field, perPrototype, protocolOf, setField } from './request-fields.js';

export type { JsonBodyOptions } from './json-body.js';

declare global {
  namespace Express {
    interface Request {
      /** Who signed the request; set by `hmacAuth()` once the signature and body verified. */
      hmac?: HmacIdentity;
      /** The exact body bytes that were verified (set by `hmacAuth()` or `captureRawBody`). */
      rawBody?: Buffer;
    }
  }
}

/** Options of {@link hmacAuth}: the authenticator's, plus how to rebuild the URL the client addressed. */
export interface HmacAuthOptions extends AuthenticatorOptions {
  /**
   * Origin the clients address (`https://api.example.com`), a string or a function of the
   * request. Default: `req.protocol` (honours `trust proxy`) and the `Host` header.
   */
  origin?: string | ((req: Request) => string);
  /**
   * Read, verify and parse the body here, in one middleware, instead of
   * `express.json({ verify: captureRawBody })` in front of `hmacAuth()`: the recommended set-up for
   * JSON APIs. The signature is checked from the head before the body is read (for schemes that
   * sign the body itself, right after it is read), the body against its digest next, and only a
   * verified body is parsed: an unauthenticated client never has its JSON parsed. Then `req.rawBody`
   * holds the verified bytes and `req.body` the parsed JSON (JSON media types only; other types are
   * verified and left unparsed). Refused: a body over the limit (`413 body_too_large`, before it is
   * read), a `Content-Encoding` (`415 content_encoding_unsupported`), a charset other than utf-8
   * (`415 charset_unsupported`), JSON that does not parse (`400 invalid_json`).
   * `true` takes the defaults ({@link JsonBodyOptions}). Default: off.
   *
   * @example
   * ```ts
   * app.use(hmacAuth({ keys, json: { limit: '1mb' } })); // no express.json() in front
   * app.post('/orders', (req, res) => res.status(201).json({ order: req.body }));
   * ```
   */
  json?: boolean | JsonBodyOptions;
}

/**
 * What this module keeps per request, beside the request rather than on it: the values of the
 * `req.hmac` and `req.rawBody` slots (see `prepareSlots`), and what `hmacAuth()` verified on it, for
 * `requireScopes()`: the identity it set as `req.hmac` and the authenticator that verified it.
 * One record in one WeakMap per request (issue #15, session 19): each WeakMap entry keyed by a
 * young request is one more ephemeron the scavenger processes and clears, and an Express app's
 * scavenges are the costly part of its garbage (session 19: ~10x a Fastify app's per scavenge).
 * Kept beside the request rather than on it:
 * each property added to an Express 5 request allocates 1-2.5 KB per request (measured in an app:
 * +1.1 KB for one symbol-keyed property), and garbage costs more in Express than elsewhere (~1 ms
 * of scavenging per MB allocated in bench/http-server.js's Express app, 0.1-0.3 ms in its Fastify
 * app). Keyed by the request, not by the identity: the request already has the hash a WeakMap key
 * needs (its `rawBody`/`hmac` slots), where each fresh identity object had one made for it (~1k
 * instructions per request, callgrind). `requireScopes()` accepts only the identity recorded for
 * that very request.
 */
interface RequestRecord {
  /** The `req.hmac` slot's value. */
  hmac: unknown;
  /** The `req.rawBody` slot's value. */
  rawBody: unknown;
  /**
   * The `req._body` slot's value: `true` once a body parser read the body (Express 4's body-parser
   * 1 skips a request that has it, and writes it itself; `hmacAuth({ json })` sets it).
   */
  _body: unknown;
  /** The identity `hmacAuth()` verified on this request (`undefined` until then). */
  identity: HmacIdentity | undefined;
  /** The authenticator that verified it. */
  authenticator: Authenticator | undefined;
}
const records = new WeakMap<object, RequestRecord>();

/** The request's record, made (and kept) on first use. */
function recordOf(req: object): RequestRecord {
  let record = records.get(req);
  if (record === undefined) {
    record = { hmac: undefined, rawBody: undefined, _body: undefined, identity: undefined, authenticator: undefined };
    records.set(req, record);
  }
  return record;
}
const kBodyDecoded = Symbol('hmac-kit.body-decoded');

type Marked = Request & { [kBodyDecoded]?: boolean };

/**
 * `req.hmac` and `req.rawBody` without an own property per request. Express sets each request's
 * prototype (`Object.setPrototypeOf(req, app.request)`), and V8 caches no shape transition from a
 * map made that way: every property added to a request afterwards builds a fresh hidden class
 * (map and descriptor array, ~1.3 KB measured per property, with 30-odd properties on the request)
 * that only a full GC reclaims. So the two properties are accessors on Express's shared request
 * prototype (the object just above `IncomingMessage.prototype`, inherited by every app and
 * sub-app, like Express's own getters such as `req.protocol`), storing the value per request in
 * a WeakMap: an assignment stores, a read reads what was stored, as for an own property.
 *
 * Invariant: a request whose prototype chain has no such object (a bare `IncomingMessage`, a
 * mock) gets plain own properties, as before; a request that already has an own `hmac` or
 * `rawBody` keeps reading and writing it (an own property shadows the accessor). Tested against
 * own properties in packages/express/test/express.test.ts ("request slots").
 */
type SlotName = 'hmac' | 'rawBody' | '_body';

/**
 * How the slots of the requests with one direct prototype are reached:
 * - `OWN`: no accessor on the chain (a bare `IncomingMessage`, a mock, a frozen prototype): plain
 *   own properties, as before;
 * - `ASSIGN`: accessors that another copy of this package defined: read and written by property
 *   access, which runs that copy's accessors;
 * - `DIRECT`: this copy's accessors, and no object between the request and the shared prototype
 *   shadows them: this module reads and writes the request's record itself (see `writeSlot`).
 */
const OWN = 0;
const ASSIGN = 1;
const DIRECT = 2;
type SlotKind = typeof OWN | typeof ASSIGN | typeof DIRECT;

function accessorFor(name: SlotName): PropertyDescriptor {
  return {
    configurable: true,
    enumerable: false,
    get(this: object) {
      return records.get(this)?.[name];
    },
    set(this: object, value: unknown) {
      writeRecord(this, name, value);
    },
  };
}

/** Stores a slot's value in the request's record (`undefined`: no record is made for it). */
function writeRecord(req: object, name: SlotName, value: unknown): void {
  if (value === undefined) {
    const record = records.get(req);
    if (record !== undefined) record[name] = undefined;
  } else recordOf(req)[name] = value;
}

const accessors = { hmac: accessorFor('hmac'), rawBody: accessorFor('rawBody'), _body: accessorFor('_body') };

/** Whether `name` resolves, from `prototype` up, to this copy's accessor on `shared`. */
function resolvesToOurs(prototype: object, shared: object, name: SlotName): boolean {
  for (let at: object = prototype; at !== shared; at = Object.getPrototypeOf(at)) {
    if (Object.hasOwn(at, name)) return false;
  }
  return Object.getOwnPropertyDescriptor(shared, name)?.get === accessors[name].get;
}

/**
 * Makes sure `req.hmac` and `req.rawBody` are accessors on the request's chain where possible,
 * and says how this module reaches them (see `SlotKind`). The chain is inspected once per direct
 * prototype ({@link perPrototype}).
 */
const prepareSlots = perPrototype((prototype): SlotKind => {
  let shared: object | null = prototype;
  while (shared !== null && Object.getPrototypeOf(shared) !== IncomingMessage.prototype) {
    shared = Object.getPrototypeOf(shared);
  }
  if (shared === null) return OWN;
  try {
    // Another copy of this package may have defined them already: every copy then reads and
    // writes through the same accessors.
    if (!Object.hasOwn(shared, 'hmac')) Object.defineProperty(shared, 'hmac', accessors.hmac);
    if (!Object.hasOwn(shared, 'rawBody')) Object.defineProperty(shared, 'rawBody', accessors.rawBody);
    if (!Object.hasOwn(shared, '_body')) Object.defineProperty(shared, '_body', accessors._body);
    return resolvesToOurs(prototype, shared, 'hmac') &&
      resolvesToOurs(prototype, shared, 'rawBody') &&
      resolvesToOurs(prototype, shared, '_body')
      ? DIRECT
      : ASSIGN;
  } catch {
    // A frozen prototype: own properties, as before.
    return OWN;
  }
}, OWN);

/**
 * `req[name] = value`, without the property access when the slot is this copy's accessor.
 *
 * Fast path (`DIRECT`, no own property of that name): what the accessor's setter would do, done
 * here. An Express request gets a fresh hidden class per request (see above), so every property
 * name read or written on it misses V8's inline caches and is looked up through the prototype
 * chain at run time (Runtime_LoadIC_Miss and Runtime_StoreIC_Miss: 31% of the instructions of
 * bench/adapter-ab.js's Express app without auth, callgrind); the WeakMap is reached without it.
 * Invariant: the result is the assignment's, since on that chain the assignment runs this very
 * setter (an own property shadows it: assigned as before). Tested against plain assignment in
 * packages/express/test/express.test.ts ("request slots").
 */
function writeSlot(req: object, kind: SlotKind, name: SlotName, value: unknown): void {
  if (kind === DIRECT && !Object.hasOwn(req, name)) writeRecord(req, name, value);
  else (req as Record<SlotName, unknown>)[name] = value;
}

/** `req[name]`, read as {@link writeSlot} writes (the getter's result, without the property lookup). */
function readSlot(req: object, kind: SlotKind, name: SlotName): unknown {
  return kind === DIRECT && !Object.hasOwn(req, name)
    ? records.get(req)?.[name]
    : (req as Record<SlotName, unknown>)[name];
}

/**
 * `verify` callback for Express's body parsers (`express.json`, `express.raw`, `express.text`,
 * `express.urlencoded`): keeps the raw bytes the parser read so that `hmacAuth()`, installed
 * after the parser, hashes exactly what the client sent. Bodies the parser decompressed are
 * not kept (their signed digest covers the compressed bytes), and `hmacAuth()` refuses them.
 *
 * @example
 * ```ts
 * app.use(express.json({ verify: captureRawBody }));
 * app.use(hmacAuth({ keys }));
 * ```
 */
export function captureRawBody(req: IncomingMessage, _res: unknown, buffer: Buffer): void {
  const encoding = (Reflect.get(req, 'headers') as IncomingMessage['headers'])['content-encoding'];
  if (encoding === undefined || encoding.toLowerCase() === 'identity') {
    writeSlot(req, prepareSlots(req), 'rawBody', buffer);
  } else (req as Marked)[kBodyDecoded] = true;
}

function sendProblem(res: Response, problem: ProblemResponse): void {
  res.status(problem.status).set(problemHeaders(problem)).send(JSON.stringify(problem.body));
}

/**
 * The transport context of one request, read only when something needs it: `req.ip` runs
 * Express's trust-proxy evaluation (proxy-addr), which only the failure throttle and failure
 * reports use. Read at most once; the same value `{ sourceAddress: req.ip ?? req.socket.remoteAddress }` would hold.
 */
class SourceOf implements AuthContext {
  #req: Request;
  #address: string | undefined;
  #read = false;

  constructor(req: Request) {
    this.#req = req;
  }

  get sourceAddress(): string | undefined {
    if (!this.#read) {
      this.#read = true;
      this.#address = this.#req.ip ?? this.#req.socket.remoteAddress;
    }
    return this.#address;
  }
}

/** Runs `run` once the request stream has emitted 'end' (now, when it has). */
function atEnd(req: Request, run: () => void): void {
  if (field(req, 'readableEnded')) run();
  else req.once('end', run);
}

/**
 * Runs `run` once the request stream has emitted 'end', right after a `read()` that took every
 * buffered byte of a stream whose end node:http had already pushed (see `readBuffered`).
 *
 * Fast path: such a `read()` queued the stream's end (`endReadable`: `process.nextTick(endReadableNT)`,
 * which emits 'end'), and node's tick queue runs in the order queued, so a tick queued now runs
 * after 'end' was emitted: `run` runs there, without an 'end' listener on the request. Adding and
 * removing one costs ~27k instructions per request on an Express request (`addListener` and
 * `onceWrapper` write `_eventsCount` on the request, whose hidden class is its own: inline-cache
 * misses into the runtime; callgrind over HTTP, session 21), more than the whole adapter's own code.
 * Invariant: `run` runs only once `req.readableEnded` (the 'end' event emitted), as with the
 * listener; when the stream has not ended by then (destroyed or errored first, or a `read()`
 * that did not queue the end), the listener is added then, as {@link atEnd} does. A difference
 * the route may see: node destroys an ended request right after its 'end' (`autoDestroy`), so
 * `req.destroyed` is already `true` here, as for any route that runs after an `await`; its
 * 'close' is emitted after `run`. Held against the event path in
 * packages/express/test/json-body.test.ts (bodies whole or split over packets, a body parser
 * mounted after, the route after 'end').
 */
function afterQueuedEnd(req: Request, run: () => void): void {
  process.nextTick(runAtEnd, req, run);
}

function runAtEnd(req: Request, run: () => void): void {
  if (field(req, 'readableEnded')) run();
  else req.once('end', run);
}

/** {@link SourceOf} for `admitEagerly()`, which needs to know the request has a body. */
class BodySourceOf extends SourceOf {
  readonly hasBody = true;
}

/**
 * Refuses a request whose body was not read: with `Connection: close` while the body is still
 * arriving (not worth draining). A body that arrived whole (`req.complete`) is already in memory and
 * the connection stays open: node:http may have handed the app the request pipelined behind it, and
 * closing would leave that one run but unanswered (review20-json-pipelined.test.ts). While the body
 * is incomplete, node:http cannot have parsed a request behind it.
 */
function sendProblemAndClose(req: Request, res: Response, problem: ProblemResponse): void {
  if (!req.complete) res.set('Connection', 'close');
  sendProblem(res, problem);
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Express middleware that verifies the request's signature and body, then sets `req.hmac`
 * (and `req.rawBody`). Refused requests get a problem+json answer (401, 403, 413, 429, 503;
 * with `json` also 400 and 415) and never reach the next handler.
 *
 * JSON APIs: `hmacAuth({ keys, json: true })` alone reads, verifies and only then parses the body
 * into `req.body` (see {@link HmacAuthOptions.json}); no `express.json()` in front of it.
 *
 * Express's own body parsers: install `express.json({ verify: captureRawBody })` (or any parser with that
 * `verify`) *before* `hmacAuth()`; bodies no parser read are read and verified by `hmacAuth()`
 * itself. A parser without `captureRawBody` in front of it makes `hmacAuth()` refuse (500) the
 * request, since the verified bytes can no longer be recovered.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { hmacAuth, requireScopes } from '@hmac-kit/express';
 *
 * const app = express();
 * app.use(hmacAuth({ keys: (keyId) => keys.get(keyId), json: true }));
 * app.post('/orders', requireScopes('orders:write'), (req, res) => {
 *   res.status(201).json({ by: req.hmac!.principal, order: req.body });
 * });
 * ```
 */
export function hmacAuth(options: HmacAuthOptions): RequestHandler {
  const { origin, json, ...authenticatorOptions } = options ?? ({} as HmacAuthOptions);
  validateOrigin(origin);
  const plan: JsonBodyPlan | undefined =
    json === undefined || json === false ? undefined : jsonBodyPlan(json, authenticatorOptions.maxBodyBytes);
  const authenticator = createAuthenticator({
    crypto: nodeCryptoProvider,
    ...authenticatorOptions,
    // With json, the body limit (never above the caller's maxBodyBytes) is the authenticator's too.
    maxBodyBytes: plan === undefined ? authenticatorOptions.maxBodyBytes : plan.limit,
  });
  const targets = new TargetHrefs();

  /** Sends the answer of an outcome, or hands the request on (with `req.rawBody` when it was read here). */
  function answer(
    outcome: AuthOutcome,
    req: Request,
    res: Response,
    next: NextFunction,
    url: string,
    recorded: RecordedBody | undefined,
  ): void | Promise<void> {
    if (!outcome.ok) {
      sendProblem(res, outcome.problem);
      return;
    }
    if (recorded) return readRest(outcome, req, res, next, url, recorded);
    proceed(outcome, req, res, next);
  }

  /** The body was read through the verifier: the rest of it (a scheme that does not bind it stops early). */
  async function readRest(
    outcome: AuthSuccess,
    req: Request,
    res: Response,
    next: NextFunction,
    url: string,
    recorded: RecordedBody,
  ): Promise<void> {
    try {
      writeSlot(req, prepareSlots(req), 'rawBody', toBuffer(await recorded.readAll(authenticator.maxBodyBytes)));
    } catch (error) {
      sendProblem(res, authenticator.fail(error, { method: req.method, url }).problem);
      return;
    }
    proceed(outcome, req, res, next);
  }

  function proceed(outcome: AuthSuccess, req: Request, res: Response, next: NextFunction): void {
    writeSlot(req, prepareSlots(req), 'hmac', outcome.identity);
    const record = recordOf(req);
    record.identity = outcome.identity;
    record.authenticator = authenticator;
    for (const _ in outcome.headers) {
      res.set(outcome.headers);
      break;
    }
    next();
  }

  /**
   * One request. Synchronous (no promise, `next()` called before it returns) when the body was
   * captured by the parser and every step of the authenticator answers synchronously (see
   * `authenticateEagerly`); a promise otherwise.
   */
  function authenticate(req: Request, res: Response, next: NextFunction): void | Promise<void> {
    const slots = prepareSlots(req);
    const headers = field(req, 'headers');
    const method = field(req, 'method');
    let url: string;
    try {
      const base =
        origin === undefined
          ? // `req.get('host')` is `req.headers.host` (Express 4 and 5), without one more name looked up on the request.
            `${protocolOf(req)}://${headers.host}`
          : typeof origin === 'function'
            ? origin(req)
            : origin;
      // targetUrl, not new URL(target, base): an absolute-form target or a `//` path would put the
      // authority the client wrote in place of base's, and a signature for another service verify.
      // Its href, remembered per target: the core finds the parts of the same string.
      url = targets.href(field(req, 'originalUrl'), base);
    } catch (error) {
      sendProblem(res, authenticator.fail(error, { method, url: req.originalUrl }).problem);
      return;
    }
    let body: Uint8Array | AsyncIterable<Uint8Array> | null;
    let recorded: RecordedBody | undefined;
    const rawBody = readSlot(req, slots, 'rawBody');
    if (rawBody instanceof Uint8Array) {
      body = rawBody;
    } else if (Reflect.get(req, kBodyDecoded) || (field(req, 'readableEnded') && framingDeclaresBody(headers))) {
      const misuse = new TypeError(
        'hmacAuth: a body parser consumed the body before it could be verified; install it with { verify: captureRawBody } (and without decompression), or mount hmacAuth() first',
      );
      sendProblem(res, authenticator.fail(misuse, { method, url }).problem);
      return;
    } else if (field(req, 'readableEnded')) {
      body = null;
    } else if (plan !== undefined) {
      return readVerifyParse(plan, req, res, next, { method, url, headers });
    } else {
      recorded = recordBody(req);
      body = recorded.body;
    }
    const outcome = authenticator.authenticateEagerly({ method, url, headers }, body, new SourceOf(req));
    if (isPromiseLike(outcome)) return outcome.then((settled) => answer(settled, req, res, next, url, recorded));
    return answer(outcome, req, res, next, url, recorded);
  }

  /**
   * `hmacAuth({ json })` on a body nobody read: the head's checks and the signature first
   * (`admitEagerly`), then the body is read up to the limit and checked against its digest
   * (`completeEagerly`), and only then parsed.
   *
   * Invariant: nothing is parsed and nothing reaches `next()` unless the admission's
   * `completeEagerly(bytes)` answered `ok` for exactly the bytes handed on as `req.rawBody` and
   * parsed into `req.body`; every refusal before the end of the body closes the connection (the
   * rest of the body is not drained) unless the body arrived whole (`sendProblemAndClose`). Tested in
   * packages/express/test/json-body.test.ts and review20-json-pipelined.test.ts.
   */
  function readVerifyParse(
    plan: JsonBodyPlan,
    req: Request,
    res: Response,
    next: NextFunction,
    message: { method: string; url: string; headers: Request['headers'] },
  ): void | Promise<void> {
    const { method, url, headers } = message;
    if (!framingDeclaresBody(headers)) {
      // No body (a GET, Content-Length: 0): verified as bodiless; req.body is left as it is.
      const outcome = authenticator.authenticateEagerly(message, null, new SourceOf(req));
      if (isPromiseLike(outcome)) return outcome.then((settled) => answer(settled, req, res, next, url, undefined));
      return answer(outcome, req, res, next, url, undefined);
    }
    const rules = bodyRules(plan, req, headers);
    if (typeof rules !== 'boolean') {
      sendProblemAndClose(req, res, authenticator.fail(rules, { method, url }).problem);
      return;
    }
    const declared = headers['content-length'];
    if (declared !== undefined && Number(declared) > plan.limit) {
      const tooLarge = new BodyTooLarge(`the body's Content-Length is above the ${plan.limit}-byte limit`);
      sendProblemAndClose(req, res, authenticator.fail(tooLarge, { method, url }).problem);
      return;
    }
    // admitEagerly: createAuthenticator always has it (an option-less wrapper would not).
    const admitted = authenticator.admitEagerly!(message, new BodySourceOf(req));
    if (isPromiseLike(admitted)) {
      return admitted.then((settled) => readAdmitted(settled, plan, rules, req, res, next));
    }
    readAdmitted(admitted, plan, rules, req, res, next);
  }

  /** The body of an admitted request, read up to the limit, then verified and parsed (see `readVerifyParse`). */
  function readAdmitted(
    admitted: Admission | AuthFailure,
    plan: JsonBodyPlan,
    parses: boolean,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (!admitted.ok) {
      sendProblemAndClose(req, res, admitted.problem);
      return;
    }
    // Read through `field`: each `req.x` misses V8's inline caches on an Express request (see `field`).
    if (field(req, 'complete') && field(req, 'readableFlowing') === null && !field(req, 'readableEnded')) {
      readBuffered(admitted, plan, parses, req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const onData = (chunk: Buffer): void => {
      length += chunk.length;
      if (length > plan.limit) {
        stop();
        refuseAfterAdmission(admitted, new BodyTooLarge('the body exceeds the size limit'), req, res, next);
        return;
      }
      chunks.push(chunk);
    };
    const onError = (error: unknown): void => {
      if (settled) return;
      stop();
      // The client left mid-body (node:http's `Error: aborted`): a refusal of its own, not an
      // internal error for stderr (review20-json-abort.test.ts); onFailure gets the stream's error as cause.
      const gone = new BodyUnavailable('the client closed the connection before its body arrived', { cause: error });
      refuseAfterAdmission(admitted, gone, req, res, next);
    };
    const onEnd = (): void => {
      if (settled) return;
      settled = true;
      req.removeListener('data', onData);
      req.removeListener('error', onError);
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
      const outcome = admitted.completeEagerly ? admitted.completeEagerly(bytes) : admitted.complete(bytes);
      if (isPromiseLike(outcome)) {
        outcome.then((done) => handOn(done, bytes, plan, parses, req, res, next), next);
      } else handOn(outcome, bytes, plan, parses, req, res, next);
    };
    function stop(): void {
      settled = true;
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      req.pause();
    }
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
  }

  /**
   * Fast path of `readAdmitted`, the usual case: a small body arrives in the packets of its head,
   * and by the check phase node:http has parsed all of it and its end, so the whole body is in the
   * request stream's buffer. It is taken with one `read()` (no flowing mode, no 'data' event, no
   * chunk list) and verified and parsed here, in the check-phase batch; the request is handed on
   * once its 'end' (which that `read()` queued) was emitted, as on the event path, so a body parser
   * mounted later finds the request finished (body-parser 2's `on-finished` check): in a tick queued
   * after it, without an 'end' listener ({@link afterQueuedEnd}).
   *
   * Invariant: `req.complete` (node:http pushed every chunk and then the end) and never read or
   * flowing (`readableFlowing === null`): `read()` with no size in paused mode answers every buffered
   * byte at once (or `null` for an empty body), exactly the bytes the event path would collect.
   * Held against the event path in packages/express/test/json-body.test.ts (bodies split over packets).
   */
  function readBuffered(
    admitted: Admission,
    plan: JsonBodyPlan,
    parses: boolean,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    const read = field(req, 'read');
    const bytes = (read.call(req) as Buffer | null) ?? Buffer.alloc(0);
    if (bytes.length > plan.limit) {
      refuseAfterAdmission(admitted, new BodyTooLarge('the body exceeds the size limit'), req, res, next);
      return;
    }
    const outcome = admitted.completeEagerly ? admitted.completeEagerly(bytes) : admitted.complete(bytes);
    if (isPromiseLike(outcome)) {
      outcome.then((done) => atEnd(req, () => handOn(done, bytes, plan, parses, req, res, next)), next);
    } else afterQueuedEnd(req, () => handOn(outcome, bytes, plan, parses, req, res, next));
  }

  /**
   * A refusal after the admission (the body too large, the client gone): releases what it reserved.
   * Never rejects unhandled: a failure to answer goes to `next(error)` (see {@link handOn}).
   */
  function refuseAfterAdmission(
    admitted: Admission,
    error: unknown,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    admitted
      .fail(error)
      .then((failure) => {
        if (!res.headersSent) sendProblemAndClose(req, res, failure.problem);
      })
      .catch(next);
  }

  /**
   * A verified body: `req.rawBody`, `req.body` when it is parsed, and on to the next handler.
   *
   * Invariant: never throws. It runs from the request stream's 'end' listener or a promise callback,
   * where a throw would be an uncaught exception or an unhandled rejection (node ends the process on
   * either): an error goes to `next(error)`, and a refusal is only sent while the answer is still
   * ours to send (another middleware, a timeout, may have answered while the body was read).
   * Tested in packages/express/test/review20-json-answered.test.ts.
   */
  function handOn(
    outcome: AuthOutcome,
    bytes: Buffer,
    plan: JsonBodyPlan,
    parses: boolean,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    try {
      verifiedOn(outcome, bytes, plan, parses, req, res, next);
    } catch (error) {
      next(error);
    }
  }

  /** {@link handOn}'s work, which may throw. */
  function verifiedOn(
    outcome: AuthOutcome,
    bytes: Buffer,
    plan: JsonBodyPlan,
    parses: boolean,
    req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (!outcome.ok) {
      if (!res.headersSent) sendProblem(res, outcome.problem);
      return;
    }
    const slots = prepareSlots(req);
    writeSlot(req, slots, 'rawBody', bytes);
    writeSlot(req, slots, '_body', true);
    if (parses) {
      let parsed: unknown;
      try {
        parsed = parseJsonBody(bytes, plan.strict);
      } catch (error) {
        const { problem } = authenticator.fail(error, {
          method: req.method,
          url: req.originalUrl,
          keyId: outcome.identity.keyId,
        });
        if (!res.headersSent) sendProblem(res, problem);
        return;
      }
      if (parsed !== undefined) setField(req, 'body', parsed);
    }
    proceed(outcome, req, res, next);
  }

  /** One request, from the check-phase batch (see {@link hmacAuth}'s `inCheckPhase`). */
  function authenticateInBatch(req: Request, res: Response, next: NextFunction): void {
    let done: void | Promise<void>;
    try {
      done = authenticate(req, res, next);
    } catch (error) {
      next(error);
      return;
    }
    // Express 4 does not await middleware: route rejections to next() ourselves.
    if (done !== undefined) done.catch(next);
  }

  // Each request is verified in the check phase with every other request of this event-loop turn
  // (`inCheckPhase`: their verifications back to back, which keeps the verifier's code in the
  // CPU's caches instead of fetching it again after each request's framework code).
  return function hmacAuthMiddleware(req, res, next) {
    inCheckPhase(() => authenticateInBatch(req, res, next));
  };
}

/**
 * Express middleware (after {@link hmacAuth}) that lets the request through only when the
 * key holds every named scope; otherwise it answers 403 `scope_insufficient`.
 *
 * @example
 * ```ts
 * app.delete('/orders/:id', requireScopes('orders:write', 'orders:delete'), handler);
 * ```
 */
export function requireScopes(...scopes: string[]): RequestHandler {
  const required = validateScopes(scopes);
  return function requireScopesMiddleware(req, res, next) {
    const identity = req.hmac;
    const verified = identity === undefined ? undefined : records.get(req);
    if (!identity || verified?.authenticator === undefined || verified.identity !== identity) {
      // Mounted without hmacAuth() in front, or req.hmac is not what hmacAuth() verified on this
      // request (set by other code, or another request's identity): refuse rather than serve it.
      const problem = toProblem(new TypeError('requireScopes() used without hmacAuth() in front of it'));
      sendProblem(res, problem);
      return;
    }
    const outcome = verified.authenticator.authorize(identity, required, { method: req.method, url: req.originalUrl });
    if (!outcome.ok) {
      sendProblem(res, outcome.problem);
      return;
    }
    next();
  };
}

export type { HmacIdentity } from '@hmac-kit/middleware';
