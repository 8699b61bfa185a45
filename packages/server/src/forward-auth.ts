import { validateHeaderValue } from 'node:http';
import { BodyUnavailable, isPromiseLike, type MessageParts, toProblem } from '@hmac-kit/core';
import type { Admission, Authenticator, AuthFailure, AuthOutcome, AuthSuccess } from '@hmac-kit/middleware';
import { inCheckPhase } from '@hmac-kit/middleware/node';
import { type CheckedField, checkedField, FRAMING_FIELDS, writeCheckedHead } from './checked-head.js';
import { clientAddressOf } from './client-address.js';
import type { ServerConfig } from './config.js';
import { IDENTITY_HEADERS, identityLookalike, pushIdentityFields } from './headers.js';
import { firstValue, headerValue, type ServerProblem, sendProblem, serverProblem } from './http.js';
import { createUrlRebuilder, requestHasBody } from './message.js';
import type { ServerMetrics } from './metrics.js';
import type { RouteHandler } from './request-context.js';
import {
  requestTargetDefect,
  sortedQueryDefect,
  sortedQueryDefectBeforeVerifying,
  targetProblem,
} from './request-target.js';

/** A method as forward-auth accepts it before upper-casing: 1-16 ASCII letters. */
const METHOD_LETTERS = /^[A-Za-z]{1,16}$/;

/** The nginx and the Traefik spelling of each part of the original request. */
const ORIGINAL_PAIRS = [
  ['x-original-uri', 'x-forwarded-uri'],
  ['x-original-method', 'x-forwarded-method'],
  ['x-original-host', 'x-forwarded-host'],
  ['x-original-proto', 'x-forwarded-proto'],
] as const;

/**
 * Forward-auth for nginx `auth_request`, Traefik ForwardAuth and Envoy ext_authz (HTTP):
 * rebuilds the original request from `X-Original-*` / `X-Forwarded-*` (believed only from
 * trusted proxies), checks its signature, nonce, window and rate limit, and answers 200 with
 * identity headers or a problem. The proxy never sends the body, so the body digest is not
 * checked here: the signature proves the Content-Digest header, and the gateway mode or the
 * upstream's middleware must check the body against it.
 */
export function createForwardAuth(options: {
  config: ServerConfig;
  /** The middleware authenticator's header stages: forward-auth never sees the body. */
  authenticator: Pick<Authenticator, 'admit' | 'admitEagerly'>;
  /** Records a request whose last stage here was `commitBeforeBody()` (scheme usage, metric); `finish()` records by itself. */
  recordProven?: (identity: { keyId: string; scheme: string }) => void;
  metrics: ServerMetrics;
  isTrustedProxy: (address: string | undefined) => boolean;
  /**
   * Reports a throw or rejection of a verification run in a check-phase batch, after the route
   * returned: what the server does with a route's own throw or rejected promise (log, 500).
   */
  unhandled: (error: unknown, response: Parameters<RouteHandler>[1], context: Parameters<RouteHandler>[2]) => void;
}): RouteHandler {
  const { config, authenticator, metrics, isTrustedProxy, recordProven, unhandled } = options;
  const rebuildUrl = createUrlRebuilder(config);
  const envoyPrefix = `${config.adminPrefix}${config.verifyPath.replace(/\/+$/, '')}/`;
  // Label sets of the success path, bound once (no label object per request).
  const acceptedRequests = metrics.requests.labels({ outcome: 'accepted', code: 'ok', route: 'verify' });
  const acceptedSeconds = metrics.verificationSeconds.labels({ outcome: 'accepted' });
  // The 200's fields, checked once per distinct value (identities by key, the rate-limit fields).
  const identityFields = new IdentityFields();
  const limitFields = new LimitFields();

  /**
   * Answers a problem. The router leaves `X-Request-Id` to this route (its 200 carries it in the
   * one `writeHead()`: a header set before `writeHead()` sends node:http down its slow path, which
   * validates and copies every header again), so every refusal sets it here.
   */
  const answerProblem = (
    response: Parameters<RouteHandler>[1],
    context: Parameters<RouteHandler>[2],
    problem: ServerProblem,
  ) => {
    context.code = problem.body.code;
    if (!response.headersSent) response.setHeader('x-request-id', context.id);
    sendProblem(response, problem, context.id);
  };
  const refuse = (
    response: Parameters<RouteHandler>[1],
    context: Parameters<RouteHandler>[2],
    problem: ServerProblem,
  ) => {
    metrics.requests.inc({ outcome: 'rejected', code: problem.body.code, route: 'verify' });
    answerProblem(response, context, problem);
  };

  /**
   * The original request the proxy asks about, read from the check request's headers, or the
   * refusal to answer instead (nothing verified, no side effect). Synchronous and apart from the
   * async route below: what this reads stays out of the route's suspended state across its awaits.
   */
  function originalRequest(
    request: Parameters<RouteHandler>[0],
    response: Parameters<RouteHandler>[1],
    context: Parameters<RouteHandler>[2],
  ): OriginalRequest | undefined {
    // The peer for the trust check and the client address: read once per request, as it arrived
    // (app.ts), not from the socket's getter again.
    const peer = context.remote;
    if (!isTrustedProxy(peer)) {
      refuse(
        response,
        context,
        serverProblem('untrusted_proxy', 'forward-auth answers only configured trusted proxies'),
      );
      request.resume();
      return undefined;
    }
    request.resume();
    // Proxies overwrite only their own spelling and pass the client's others on (Traefik sets
    // X-Forwarded-* and forwards a client's X-Original-*): two spellings naming different requests
    // would let the client pick what is verified while the proxy forwards the other.
    // The eight spellings read once each (issue #15: they were read 16 times, ~210 instructions a read),
    // each by its own literal name at a site of its own: a read through headerValue(request, name)
    // shares one keyed load for every name (megamorphic: V8's stub cache, ~200 instructions), a
    // named one here is a map check while the proxy sends its headers in one order (session 19).
    // The same values as headerValue()'s: the first of a repeated field node kept as an array.
    const headers = request.headers;
    const uriNginx = firstValue(headers['x-original-uri']);
    const uriTraefik = firstValue(headers['x-forwarded-uri']);
    const methodNginx = firstValue(headers['x-original-method']);
    const methodTraefik = firstValue(headers['x-forwarded-method']);
    const hostNginx = firstValue(headers['x-original-host']);
    const hostTraefik = firstValue(headers['x-forwarded-host']);
    const protoNginx = firstValue(headers['x-original-proto']);
    const protoTraefik = firstValue(headers['x-forwarded-proto']);
    // The first pair (URI, method, host, proto) whose two spellings name different requests.
    const conflict = differ(uriNginx, uriTraefik, true)
      ? ORIGINAL_PAIRS[0]
      : differ(methodNginx, methodTraefik, false)
        ? ORIGINAL_PAIRS[1]
        : differ(hostNginx, hostTraefik, false)
          ? ORIGINAL_PAIRS[2]
          : differ(protoNginx, protoTraefik, false)
            ? ORIGINAL_PAIRS[3]
            : undefined;
    if (conflict !== undefined) {
      refuse(
        response,
        context,
        serverProblem(
          'invalid_request',
          `${conflict[0]} and ${conflict[1]} name different requests; the proxy must send one of them`,
        ),
      );
      return undefined;
    }
    // Envoy's form carries the original path and method in the check request itself; a client's
    // X-Original-* / X-Forwarded-* passed on by a broad allowed_headers must not override them.
    const envoyPath = (request.url ?? '').startsWith(envoyPrefix)
      ? (request.url as string).slice(envoyPrefix.length - 1)
      : undefined;
    if (envoyPath !== undefined) {
      const named = ORIGINAL_PAIRS.flatMap(([nginx, traefik]) =>
        nginx.endsWith('uri') || nginx.endsWith('method') ? [nginx, traefik] : [],
      ).find((name) => {
        const value = headerValue(request, name);
        if (value === undefined) return false;
        return name.endsWith('uri')
          ? value !== envoyPath
          : value.toUpperCase() !== (request.method ?? '').toUpperCase();
      });
      if (named !== undefined) {
        refuse(
          response,
          context,
          serverProblem('invalid_request', `${named} names another request than the path and method checked`),
        );
        return undefined;
      }
    }
    const originalUri =
      uriNginx ??
      uriTraefik ??
      // Envoy ext_authz (HTTP) appends the original path to the configured path prefix.
      envoyPath;
    const declaredMethod = upperMethod(methodNginx ?? methodTraefik ?? request.method ?? 'GET');
    if (originalUri === undefined || originalUri === '' || declaredMethod === undefined) {
      answerProblem(
        response,
        context,
        serverProblem(
          'original_request_missing',
          'forward-auth needs X-Original-URI (nginx) or X-Forwarded-Uri (Traefik) and the original method',
        ),
      );
      return undefined;
    }
    // What the proxy forwards is the original target as sent: only a target every verifier reads as
    // sent is verified. The proxy overwrites the identity headers, but not their `_` spellings
    // (which WSGI and Rack read as the same header), and forward-auth cannot strip them: refused.
    const targetDefect =
      requestTargetDefect(originalUri) ?? sortedQueryDefectBeforeVerifying(request.headers, originalUri);
    if (targetDefect !== undefined) {
      refuse(response, context, targetProblem(targetDefect));
      return undefined;
    }
    const lookalike = identityLookalike(request.headers);
    if (lookalike !== undefined) {
      refuse(
        response,
        context,
        serverProblem(
          'identity_header_lookalike',
          `the request carries ${lookalike}, which upstreams read as an identity header the proxy sets`,
        ),
      );
      return undefined;
    }
    const host = hostTraefik ?? hostNginx;
    const proto = protoTraefik ?? protoNginx;
    const url = rebuildUrl(request, originalUri, true, { host, proto });
    const sourceAddress = clientAddressOf(request, isTrustedProxy, peer);
    const originalLength = firstValue(headers['x-original-content-length']) ?? firstValue(headers['content-length']);
    const originalEncoding =
      firstValue(headers['x-original-transfer-encoding']) ?? firstValue(headers['transfer-encoding']);
    // The core's rule over the original request's framing; a chunked body has no length, its
    // transfer coding is the only sign it exists. Proxies send an empty header for one that was absent.
    const hasBody = requestHasBody(declaredMethod, {
      'content-length': originalLength || undefined,
      'transfer-encoding': originalEncoding || undefined,
    });
    // A GET or HEAD with a body, as the proxy reports the client's framing (nginx:
    // X-Original-Content-Length): approved, the proxy would forward it, and an upstream that reads
    // no body on a GET parses the body as a second request, never verified, with whatever identity
    // fields it carries: gateway mode's smuggle on the proxy's hop (final19; gateway.ts
    // refuseGetBody). Refused as the gateway refuses it, unless `--upstream-allow-get-body`.
    // (Behind Traefik the client's framing is not reported: docs/forward-auth.md.)
    if (hasBody && !config.upstreamAllowGetBody && (declaredMethod === 'GET' || declaredMethod === 'HEAD')) {
      refuse(
        response,
        context,
        serverProblem(
          'body_not_allowed',
          'a GET or HEAD with a body (as the proxy reports it): the proxy would forward a body the upstream may read as a request of its own',
        ),
      );
      return undefined;
    }
    return {
      message: { method: declaredMethod, url, headers: request.headers },
      uri: originalUri,
      context: { hasBody, sourceAddress },
      response,
      served: context,
    };
  }

  /** Answers 200 with the identity headers (and the rate limit's), in one `writeHead()`. */
  function accept(response: Parameters<RouteHandler>[1], context: Parameters<RouteHandler>[2], outcome: AuthSuccess) {
    const { identity } = outcome;
    context.keyId = identity.keyId;
    context.scheme = identity.scheme;
    acceptedRequests.inc();
    // Every field checked with node:http's own rules before it is written (CR/LF in a principal's
    // name throws ERR_INVALID_CHAR here, as writeHead() threw: nothing is sent, the route's error
    // path answers 500), once per distinct value where values repeat (a key's identity, the
    // rate-limit policy): writeCheckedHead() then spares node checking and assembling them again
    // (issue #15, session 20). Same fields, order and bytes as the flat list. The rate-limit
    // fields come after ours; one of our names is not added, as before.
    // The kept fields of the key, looked up here (IdentityFields.of ran unoptimised, ~1.1k
    // instructions a call under callgrind); of() checks and keeps them when they are not kept.
    let kept = identityFields.byKey.get(identity.keyId);
    if (kept === undefined || kept.principalText !== identity.principal || kept.scopesList !== identity.scopes) {
      kept = identityFields.of(identity);
    }
    const scheme = identityFields.scheme(identity.scheme);
    const limits = outcome.headers;
    let limitLines = '';
    // A limiter field node frames the response by (none of today's) goes the public way.
    let framing = false;
    for (const name in limits) {
      const field = limitFields.of(name, limits[name] as string);
      if (!field.ours) limitLines += field.field.line;
      framing ||= field.framing;
    }
    // Invariant: a request id is a checked header value. app.ts takes the client's X-Request-Id
    // only when it matches /^[\w.:-]{1,128}$/ and otherwise draws 32 hex digits (newRequestId).
    const before = `${kept.lines}${scheme.line}x-request-id: ${context.id}\r\n`;
    if (framing || !writeCheckedHead(response, 200, before, 0, `${NO_STORE.line}${limitLines}`)) {
      // The public way (no probe, a field set before, HTTP/2): node checks every field again.
      const headers: Array<string | number> = [];
      pushIdentityFields(headers, identity);
      headers.push('x-request-id', context.id, 'content-length', 0, 'cache-control', 'no-store');
      for (const name in limits) if (!ANSWER_HEADER_NAMES.has(name)) headers.push(name, limits[name] as string);
      response.writeHead(200, headers);
    }
    response.end();
  }

  /** Answers the outcome of the commit (or of the admission, when it failed). */
  function answer(
    response: Parameters<RouteHandler>[1],
    context: Parameters<RouteHandler>[2],
    started: bigint,
    outcome: AuthOutcome,
  ): void {
    if (!outcome.ok) {
      // The authenticator has already reported the failure (logs, metrics, audit).
      metrics.verificationSeconds.observe({ outcome: 'rejected' }, Number(process.hrtime.bigint() - started) / 1e9);
      const problem = toProblem(outcome.error, { instance: context.id });
      refuse(response, context, {
        status: problem.status,
        headers: { ...outcome.problem.headers, ...problem.headers },
        body: problem.body,
      });
      return;
    }
    acceptedSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    accept(response, context, outcome);
  }

  /**
   * What follows the header stages: the commit (nonce, failure bookkeeping, rate limit) once the
   * headers are proven, then the answer. `eager`: the admission came from `admitEagerly()`, so its
   * eager methods answer without a promise when the stores do (the memory stores), and the whole
   * route runs in the 'request' event, without a microtask (issue #15). The steps, their order and
   * their side effects are those of the promise way (the admission's own methods, held to each
   * other in packages/middleware/test/admit-eager.test.ts); only the hops between them are gone.
   */
  function afterAdmission(
    response: Parameters<RouteHandler>[1],
    context: Parameters<RouteHandler>[2],
    original: OriginalRequest,
    started: bigint,
    admission: Admission | AuthFailure,
    eager: boolean,
  ): Promise<void> | undefined {
    if (!admission.ok) {
      answer(response, context, started, admission);
      return undefined;
    }
    if (!admission.signatureVerified) {
      // The scheme signs the body itself and the proxy never sends it: nothing is proven.
      return admission
        .fail(new BodyUnavailable('forward-auth cannot verify a scheme that signs the body itself'))
        .then((outcome) => answer(response, context, started, outcome));
    }
    const defect = sortedQueryDefect(admission.identity.scheme, original.uri);
    if (defect !== undefined) {
      // Refused before the commit stage: nothing (nonce, rate limit) is spent on a refused target.
      refuse(response, context, targetProblem(defect));
      return undefined;
    }
    if (!admission.checksBody) {
      const finished = eager && admission.finishEagerly !== undefined ? admission.finishEagerly() : admission.finish();
      if (isPromiseLike(finished)) return finished.then((outcome) => answer(response, context, started, outcome));
      answer(response, context, started, finished);
      return undefined;
    }
    // With a body the proxy keeps, the signature proves its Content-Digest, which the upstream checks.
    const committed =
      eager && admission.commitBeforeBodyEagerly !== undefined
        ? admission.commitBeforeBodyEagerly()
        : admission.commitBeforeBody();
    if (isPromiseLike(committed)) return committed.then((outcome) => proven(response, context, started, outcome));
    proven(response, context, started, committed);
    return undefined;
  }

  /** Records a request proven by `commitBeforeBody()` (scheme usage, metric), then answers it. */
  function proven(
    response: Parameters<RouteHandler>[1],
    context: Parameters<RouteHandler>[2],
    started: bigint,
    outcome: AuthOutcome,
  ): void {
    if (outcome.ok) recordProven?.(outcome.identity);
    answer(response, context, started, outcome);
  }

  const admitEagerly = authenticator.admitEagerly?.bind(authenticator);

  /**
   * The verification of one check request, in the check-phase batch of its event-loop turn (see
   * the route below): admission, commit and answer, synchronously when every step answers so (the
   * memory stores, a cached key), else continued in the steps' `then`. It runs after the route has
   * returned, so a throw or a rejection is reported here, as the server reports a route's own
   * (`unhandled`: logged, and a 500 when nothing was sent): never thrown into the batch, where it
   * would become an uncaught exception. The verification time is measured from here, not from the
   * request's arrival: the wait for the batch is not verification.
   */
  function verifyInBatch(original: OriginalRequest): void {
    const { response, served: context } = original;
    // Queued only when admitEagerly exists (the route below).
    const admitNow = admitEagerly as NonNullable<typeof admitEagerly>;
    let pending: Promise<void> | undefined;
    try {
      const started = process.hrtime.bigint();
      const admitted = admitNow(original.message, original.context);
      pending = isPromiseLike(admitted)
        ? admitted.then((admission) => afterAdmission(response, context, original, started, admission, true))
        : afterAdmission(response, context, original, started, admitted, true);
    } catch (error) {
      unhandled(error, response, context);
      return;
    }
    if (pending !== undefined) pending.then(undefined, (error: unknown) => unhandled(error, response, context));
  }

  // Not an async function: the request's own checks (trusted proxy, the original request's
  // headers, its target) run here, in the 'request' event, and answer a refusal at once; the
  // verification is handed to the check phase of this event-loop turn (`inCheckPhase`), where
  // every check request that arrived in the turn is verified back to back, which keeps the
  // verifier's code in the CPU's caches instead of fetching it again after each request's
  // node:http and server code (session 15). Batches run in the order the requests arrived, each
  // verification to its end (or to its first promise) before the next: the nonce and failure
  // bookkeeping see the requests of a batch one after the other, as without batches. An idle
  // server runs a batch of one, right after the poll phase that read the request: no added latency.
  //
  // Traced (an authenticator without admitEagerly: services.ts), the verification runs here, the
  // promise way, unbatched, as tracing was tested. (A batch runs each request in the async context
  // it was queued in, so its own span: see inCheckPhase.)
  return function forwardAuth(request, response, context) {
    const original = originalRequest(request, response, context);
    if (original === undefined) return undefined;
    if (admitEagerly === undefined) {
      const started = process.hrtime.bigint();
      return authenticator
        .admit(original.message, original.context)
        .then((admission) => afterAdmission(response, context, original, started, admission, false));
    }
    // The request's response and context ride on `original`: one function for every request, no
    // closure per request (session 22).
    inCheckPhase(verifyInBatch, original);
    return undefined;
  };
}

/** What forward-auth verifies: the original request rebuilt from the check request. */
interface OriginalRequest {
  message: MessageParts;
  /** The original request target as the proxy sent it. */
  uri: string;
  context: { hasBody: boolean; sourceAddress: string };
  /** The check request's response and context (what the check-phase batch answers on). */
  response: Parameters<RouteHandler>[1];
  served: Parameters<RouteHandler>[2];
}

/** The names forward-auth's 200 sets itself: a rate-limit field of one of these names is not added. */
const ANSWER_HEADER_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(IDENTITY_HEADERS),
  'x-request-id',
  'content-length',
  'cache-control',
]);

const NO_STORE = checkedField('cache-control', 'no-store');

/** The checked identity fields of one key (see {@link IdentityFields}). */
interface KeptIdentity {
  principalText: string;
  scopesList: readonly string[];
  keyId: CheckedField;
  principal: CheckedField;
  scopes: CheckedField;
  /** The three lines, key id, principal and scopes, in that order. */
  lines: string;
}

/** Keys whose checked identity fields are kept; past it the whole cache is dropped (a flood of keys). */
const KEPT_IDENTITIES = 10_000;

/**
 * The identity fields of forward-auth's 200, checked (node's rules: {@link checkedField}) once per
 * key and value instead of on every answer. Invariant: a kept field is reused only for an identity
 * whose key id, principal and scopes are the ones it was checked for: the principal compared as a
 * string on every answer, the scopes as the same (frozen: identity.ts) list, so a key whose
 * principal or scopes changed (a rename, a store edited by hand) is checked again before its new
 * value is written. The scheme's field is kept per scheme name. Held by
 * test/checked-head.test.ts (a value with CR/LF after a valid one of the same key is refused).
 */
export class IdentityFields {
  /** The kept fields by key id (read by forward-auth's answer; only {@link of} writes it). */
  readonly byKey = new Map<string, KeptIdentity>();
  #schemes = new Map<string, CheckedField>();

  of(identity: { keyId: string; principal: string; scopes: readonly string[] }): KeptIdentity {
    let kept = this.byKey.get(identity.keyId);
    if (kept === undefined || kept.principalText !== identity.principal || kept.scopesList !== identity.scopes) {
      const keyId = checkedField(IDENTITY_HEADERS.keyId, identity.keyId);
      const principal = checkedField(IDENTITY_HEADERS.principal, identity.principal);
      const scopes = checkedField(IDENTITY_HEADERS.scopes, identity.scopes.join(' '));
      kept = {
        principalText: identity.principal,
        scopesList: identity.scopes,
        keyId,
        principal,
        scopes,
        lines: `${keyId.line}${principal.line}${scopes.line}`,
      };
      if (this.byKey.size >= KEPT_IDENTITIES) this.byKey.clear();
      this.byKey.set(identity.keyId, kept);
    }
    return kept;
  }

  scheme(scheme: string): CheckedField {
    let field = this.#schemes.get(scheme);
    if (field === undefined) {
      field = checkedField(IDENTITY_HEADERS.scheme, scheme);
      if (this.#schemes.size >= 64) this.#schemes.clear();
      this.#schemes.set(scheme, field);
    }
    return field;
  }
}

/** A checked rate-limit field. */
interface LimitField {
  /** One of the names forward-auth's 200 sets itself ({@link ANSWER_HEADER_NAMES}): not added. */
  ours: boolean;
  /** A field node reads while writing a head ({@link FRAMING_FIELDS}): not for writeCheckedHead. */
  framing: boolean;
  /** A value that changes with every answer (`RateLimit`): checked without a comparison first. */
  varies: boolean;
  field: CheckedField;
}

/**
 * The rate-limit fields of forward-auth's 200 (`RateLimit-Policy`, `RateLimit`), checked with
 * node's rules: a name once, a value unless it is the last value checked for its name (the policy
 * field repeats; `RateLimit` changes with the remaining count, and is checked each time).
 */
export class LimitFields {
  #byName = new Map<string, LimitField>();

  of(name: string, value: string): LimitField {
    let kept = this.#byName.get(name);
    if (kept === undefined) {
      kept = {
        varies: name.toLowerCase() === 'ratelimit',
        ours: ANSWER_HEADER_NAMES.has(name),
        framing: FRAMING_FIELDS.has(name.toLowerCase()),
        field: checkedField(name, value),
      };
      if (this.#byName.size >= 64) this.#byName.clear();
      this.#byName.set(name, kept);
    } else if (kept.varies || kept.field.value !== value) {
      // The name was checked when it was kept: only the new value is. `RateLimit` changes with
      // every answer: it is checked without comparing it first (a comparison flattens the
      // value's rope, which the check does anyway).
      validateHeaderValue(name, value);
      kept.field = { name, value, line: `${name}: ${value}\r\n` };
    }
    return kept;
  }
}

/**
 * The original request's method upper-cased, or undefined when it is not 1-16 ASCII letters (then
 * the original request counts as missing). The letters are checked before upper-casing: case
 * mapping can turn other characters into A-Z ('ß' -> 'SS'), and such a method is not the one the
 * proxy saw. The usual methods, already upper-case, answer without `toUpperCase()` and the
 * expression (~700 instructions, session 20). Invariant: equal to
 * `LETTERS.test(m) ? m.toUpperCase() : undefined` for every string (a property in
 * test/checked-head.test.ts): each literal below is upper-case and matches LETTERS.
 */
export function upperMethod(method: string): string | undefined {
  if (
    method === 'GET' ||
    method === 'POST' ||
    method === 'HEAD' ||
    method === 'PUT' ||
    method === 'DELETE' ||
    method === 'PATCH'
  ) {
    return method;
  }
  return METHOD_LETTERS.test(method) ? method.toUpperCase() : undefined;
}

/**
 * Whether the nginx and the Traefik spelling of one part both came and name different requests:
 * the URI compared exactly, the method, host and proto without regard to case.
 */
function differ(nginx: string | undefined, traefik: string | undefined, exact: boolean): boolean {
  if (nginx === undefined || traefik === undefined) return false;
  return exact ? nginx !== traefik : nginx.toLowerCase() !== traefik.toLowerCase();
}
