import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import { keyIdLogFields, type ScryptParams } from '@hmac-kit/keys';

import { createApi } from './api/index.js';
import { ConfigError, type ServerConfig } from './config.js';
import { createConsole } from './console.js';
import { createForwardAuth } from './forward-auth.js';
import type { createGateway } from './gateway.js';
import { sendJson, sendProblem, serverProblem } from './http.js';
import { legacySchemeWarnings } from './legacy-schemes.js';
import { type Listener, openListener } from './listener.js';
import {
  type AccessLogFields,
  accessLogPath,
  createLogger,
  type Logger,
  withoutUrlPasswords,
  writeAccessLine,
} from './logger.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { openApiJson } from './openapi.js';
import type { PasswordHashHooks } from './password-gate.js';
import { createProxyTrust } from './proxies.js';
import { newRequestId, type RequestContext, type RouteHandler } from './request-context.js';
import { ANY_METHOD, createRouter, type RouteDescription, type RouteName } from './routes.js';
import { closeInReverse, type LimitStores, openServices, type Services } from './services.js';
import { startTracing, type Tracing, tracingRequested } from './tracing.js';
import { chooseUpstreamClient, describeUpstreamClient, type UpstreamClientChoice } from './upstream/choose.js';
import { HttpParserUnfitError } from './upstream/http-parser.js';
import { serverVersion } from './version.js';
import { weakSchemeWarnings } from './weak-schemes.js';

/**
 * Logs one `weak scheme enabled` warning per enabled scheme that protects less than the RFC 9421
 * profile (what it leaves open, and where the grades are documented).
 *
 * @example
 * ```ts
 * logWeakSchemes(config, logger);
 * ```
 */
export function logWeakSchemes(config: ServerConfig, logger: Logger): void {
  for (const warning of weakSchemeWarnings(config, legacySchemeWarnings(config.legacySchemes ?? []))) {
    logger.warn(
      { scheme: warning.scheme, unprotected: warning.unprotected, docs: 'docs/protocol-legacy.md' },
      'weak scheme enabled',
    );
  }
  if (config.debugSignatures !== false) {
    // Said at every start: a debug setting left on in production is the usual way it leaks.
    logger.warn(
      {
        host: config.host,
        forced: config.debugSignatures === 'force',
        docs: 'docs/troubleshooting.md#debug-signatures',
      },
      'debug signatures on: refused requests show the server signature base (never enable on a public endpoint)',
    );
  }
}

/** How a shutdown ended. */
export interface ShutdownOutcome {
  /** True when the shutdown timeout cut requests still in flight or stores that would not close. */
  forced: boolean;
}

/** A running `hmac-kit serve`. */
export interface RunningServer {
  /** `http(s)://host:port` the server listens on. */
  url: string;
  server: Server | Http2SecureServer;
  services: Services;
  metrics: ServerMetrics;
  logger: Logger;
  /** Every route of hmac-kit's own this server answers (the gateway's upstream routes aside). */
  routes: readonly RouteDescription[];
  /**
   * Shuts down in the order load balancers expect: with `drain`, `/readyz` answers 503 for the
   * configured drain period while requests are still served; then the listener closes, idle
   * connections close, in-flight requests finish; then the stores close. Everything after the
   * drain period is bounded by the shutdown timeout (connections are cut, a store that does not
   * close in time is abandoned). Every step runs even when one fails: the promise rejects with the
   * first failure once all have run (the later ones are logged). It resolves once the gateway's
   * upstream sockets have closed, those the timeout cut included (waited for at most
   * UPSTREAM_CLOSE_GRACE_MS past the timeout). Idempotent.
   */
  close(options?: { drain?: boolean }): Promise<ShutdownOutcome>;
  /**
   * Stops serving at once, for a process that crashed (an uncaught exception): the listener stops
   * accepting and every connection is destroyed, requests in flight included, so nothing more is
   * answered while the process flushes its log and exits (its logger is silenced then: answers
   * would leave no access line, from a process whose state the exception may have left
   * half-updated). The stores are left as they are: the process is about to exit.
   */
  halt(): void;
  /** Serves the TLS certificate and key read again from their files to new connections (SIGHUP). */
  reloadCertificate(): Promise<boolean>;
}

/** What a supervisor hands a worker process (see `supervisor.ts`); a single process needs none of it. */
export interface StartOptions {
  logger?: Logger;
  metrics?: ServerMetrics;
  /** Nonce, rate-limit and throttle stores to use instead of this process's memory ones (no Redis). */
  limitStores?: LimitStores;
  /** The `/metrics` text (workers: aggregated over every worker by the supervisor). */
  metricsText?: () => Promise<string>;
  /** One of a supervisor's workers: logs `worker listening` (the supervisor logs `listening` once all are). */
  worker?: boolean;
  /** Where the console page's built files are, instead of `dist/console/` (tests that build their own). */
  consoleAssets?: URL;
  /** Called as each login's password hash starts and ends (tests count hashes in flight with it). */
  passwordHashHooks?: PasswordHashHooks;
  /**
   * scrypt cost of new login password hashes, and of the stand-in hash an unknown user's login is
   * checked against. Default N=32768, r=8, p=1 (no flag: a deployment keeps it); tests that log in
   * many times lower it.
   */
  passwordHashing?: Partial<ScryptParams>;
  /**
   * Length of the interval the audit summarises the refusals of blocked sources over (one row per
   * address per interval: throttled-audit.ts). Default 60 s (no flag: tests shorten it).
   */
  throttledAuditSeconds?: number;
  /**
   * A stand-in for node's internal `HTTPParser` that the gateway's start-up self-test checks
   * instead of this Node's (tests: a parser that behaves otherwise makes `--upstream-client auto`
   * fall back to undici and `builtin` refuse to start).
   */
  upstreamHttpParser?: unknown;
}

/**
 * The gateway's upstream client for `config` (upstream/choose.ts); an explicit `builtin` that
 * cannot run on this Node is a ConfigError (one line, the server does not start).
 *
 * @example
 * ```ts
 * const choice = upstreamClientFor(config, {}); // { client: 'builtin', parser } for an http upstream
 * ```
 */
export function upstreamClientFor(config: ServerConfig, options: StartOptions): UpstreamClientChoice | undefined {
  if (config.upstream === undefined) return undefined;
  try {
    return chooseUpstreamClient(config.upstreamClient, config.upstream, {
      traced: tracingRequested(process.env),
      ...('upstreamHttpParser' in options ? { parserCandidate: options.upstreamHttpParser } : {}),
    });
  } catch (error) {
    if (error instanceof HttpParserUnfitError) throw new ConfigError(error.message);
    throw error;
  }
}

/**
 * The one warning `--upstream-client auto` logs when node's internal HTTP parser is missing or
 * fails its self-test, so the gateway runs undici instead of the builtin client.
 *
 * @example
 * ```ts
 * logUpstreamClientFallback(upstreamClientFor(config, {}), logger);
 * ```
 */
export function logUpstreamClientFallback(choice: UpstreamClientChoice | undefined, logger: Logger): void {
  if (choice?.client === 'undici' && choice.because === 'parser') {
    logger.warn(
      { upstreamClient: 'undici', cause: choice.detail },
      "upstream client auto: node's internal HTTP parser is unfit for the builtin client, using undici",
    );
  }
}

/** A client's X-Request-Id the server takes as its own id (every character its own JSON contents: see accessLog). */
export const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Routes whose handlers put `X-Request-Id` on every response they write themselves. */
const WRITES_OWN_REQUEST_ID: ReadonlySet<RouteName> = new Set<RouteName>(['verify', 'gateway']);

/** The context of a request being served, with what its 'close' listener needs. */
interface ServedContext extends RequestContext {
  /** The peer address, read when the request arrived (routes read it here too). */
  remote: string | undefined;
}

/** Where a response carries its request's context (read by the server's one 'close' listener). */
const SERVED_CONTEXT = Symbol('hmac-kit.servedContext');
type ServedResponse = ServerResponse & { [SERVED_CONTEXT]?: ServedContext };

/**
 * Starts `hmac-kit serve` with a validated configuration (see `loadConfig`).
 *
 * @example
 * ```ts
 * const running = await startServer(loadConfig({ env: process.env }));
 * process.on('SIGTERM', () => running.close());
 * ```
 */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  const logger =
    options.logger ?? createLogger(config.logLevel, undefined, { maxBufferBytes: config.logMaxBufferBytes });
  const metrics = options.metrics ?? createMetrics();
  // loadConfig refuses the builtin upstream client with tracing asked for in the environment it was
  // given; tracing itself starts from process.env, which an in-process config (env: {}) never saw.
  if (config.upstream && config.upstreamClient === 'builtin' && tracingRequested(process.env)) {
    throw new ConfigError(
      '--upstream-client builtin is not traced: unset OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_SDK_DISABLED=true), or use --upstream-client undici',
    );
  }
  // Decided before anything opens: an explicit builtin on a Node whose parser fails its self-test
  // refuses to start here; auto falls back to undici (a supervisor logs that once for its workers).
  const upstreamClient = upstreamClientFor(config, options);
  if (!options.worker) logUpstreamClientFallback(upstreamClient, logger);
  // Loads the OpenTelemetry SDK only when OTEL_EXPORTER_OTLP_ENDPOINT asks for traces.
  const tracing = await startTracing(process.env, { version: serverVersion() });
  let services: Services;
  try {
    services = await openServices(config, logger, metrics, tracing, {
      limitStores: options.limitStores,
      ...(options.passwordHashHooks ? { passwordHashHooks: options.passwordHashHooks } : {}),
      ...(options.passwordHashing ? { passwordHashing: options.passwordHashing } : {}),
      ...(options.throttledAuditSeconds !== undefined ? { throttledAuditSeconds: options.throttledAuditSeconds } : {}),
    });
  } catch (error) {
    // openServices closed its own steps: tracing too is stopped (its exporter, the API globals).
    await tracing?.shutdown().catch(() => undefined);
    throw error;
  }
  metrics.observeKeyCache(() => services.keyService.stats());
  const state = { draining: false };
  let dispatch: ReturnType<typeof createRoutes>;
  try {
    if (config.webhookKeyId) await warnAboutWebhookKey(config.webhookKeyId, services, logger);
    // Once per deployment: a lone process says it here, a supervisor once for all its workers.
    if (!options.worker) logWeakSchemes(config, logger);
    dispatch = await routesOf();
  } catch (error) {
    // The stores are open: a start that fails here releases them (as openServices does its own
    // steps), then tracing; rethrows `error`, whatever the closing met.
    await closeInReverse([() => tracing?.shutdown(), () => services.close()], { error }, (closeError) =>
      logCleanupFailure(logger, closeError),
    );
    throw error;
  }
  async function routesOf() {
    return createRoutes(config, services, metrics, tracing, {
      // Loaded only in gateway mode: its HTTP client (undici, ~110 modules) is start-up time every
      // other server would pay for nothing.
      createGateway: config.upstream ? (await import('./gateway.js')).createGateway : undefined,
      upstreamClient,
      isDraining: () => state.draining,
      metricsText: options.metricsText,
      consoleAssets: options.consoleAssets,
      // A route's verification that ran in a check-phase batch, after the route returned, reports
      // its throw or rejection here: as the route's own would have been.
      unhandled: (error, response, context) => unhandled(error, context.id, response),
    });
  }
  const closeRoutes = dispatch.close;
  let shuttingDown = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  // 'close' fires once per response. One listener per server, not a closure per request: the
  // request's context rides on the response (ServerResponse.req is its request).
  function onResponseClose(this: ServerResponse) {
    const context = (this as ServedResponse)[SERVED_CONTEXT] as ServedContext;
    const request = this.req;
    inFlight--;
    // What the client actually got, not the status a handler meant to send: a response that did
    // not finish was aborted (client gone, or upstream broke off), and one whose status line was
    // never sent is logged as 499 "client closed request", nginx's convention.
    const aborted = !this.writableFinished;
    const status = this.headersSent ? this.statusCode : 499;
    // One clock read for the metric and the access line.
    const nanoseconds = Number(process.hrtime.bigint() - context.started);
    metrics.observeRequest(context.route, request.method, status, nanoseconds / 1e9);
    // The access log line is only built when it is written (not at --log-level warn or silent).
    if (logger.isLevelEnabled('info')) accessLog(request, context, context.remote, status, aborted, nanoseconds / 1e6);
    if (shuttingDown && inFlight === 0) drained?.();
  }

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    inFlight++;
    const incoming = request.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : newRequestId();
    const context: ServedContext = {
      id,
      started: process.hrtime.bigint(),
      log: logger,
      route: 'not_found',
      // Read now: the socket is gone by the time 'close' fires on an aborted request.
      remote: request.socket.remoteAddress,
    };
    const handler = dispatch.route(request, context);
    // The routes that write X-Request-Id with their own writeHead() (forward-auth, the gateway) are
    // spared a header set beforehand: it sends node:http's writeHead() down its slow path, which
    // validates and copies every header again (~1 µs per request).
    if (!WRITES_OWN_REQUEST_ID.has(context.route)) response.setHeader('x-request-id', id);
    // Clients move to another instance: HTTP/1.1 by closing the connection (HTTP/2 gets a GOAWAY).
    if ((shuttingDown || state.draining) && request.httpVersionMajor < 2) response.setHeader('connection', 'close');
    (response as ServedResponse)[SERVED_CONTEXT] = context;
    response.on('close', onResponseClose);
    // Without tracing, no closure and no span: the handler runs directly. A handler that answered
    // within the call returns no promise (forward-auth, every step synchronous): nothing to await;
    // one that threw is answered as one whose promise rejected.
    let handled: Promise<void> | undefined;
    try {
      handled = tracing
        ? tracing.traceRequest(request, response, context, () => handler(request, response, context))
        : handler(request, response, context);
    } catch (error) {
      unhandled(error, id, response);
      return;
    }
    if (handled !== undefined) handled.catch((error: unknown) => unhandled(error, id, response));
  };

  /** A handler's exception (thrown, or its promise rejected): logged, and a 500 if nothing was sent yet. */
  function unhandled(error: unknown, id: string, response: ServerResponse): void {
    logger.error(
      { reqId: id, err: error instanceof Error ? { name: error.name, message: error.message } : String(error) },
      'unhandled error',
    );
    if (!response.headersSent) {
      response.setHeader('x-request-id', id);
      sendProblem(response, serverProblem('internal_error'));
    } else response.destroy();
  }

  // CONNECT asks for a tunnel, and hmac-kit is not a forward proxy. Without a listener Node drops
  // the connection without a word: answer 405 like any other method no route takes.
  const connectProblem = serverProblem('method_not_allowed', 'CONNECT is not supported');
  const connectRefusal = {
    status: 405,
    contentType: 'application/problem+json',
    body: JSON.stringify(connectProblem.body),
  };

  function accessLog(
    request: IncomingMessage,
    context: RequestContext,
    remote: string | undefined,
    status: number,
    aborted: boolean,
    durationMs: number,
  ): void {
    // The path only: no query (presigned SigV4 signatures), fragment or userinfo (accessLogPath).
    const line: AccessLogFields = {
      reqId: context.id,
      method: request.method,
      path: accessLogPath(request.url ?? '/'),
      status,
      ms: Math.round(durationMs * 100) / 100,
    };
    if (aborted) line.aborted = true;
    if (context.keyId) line.keyId = context.keyId;
    if (context.scheme) line.scheme = context.scheme;
    if (context.code) line.code = context.code;
    if (remote !== undefined) line.remote = remote;
    // Invariant: the request id is its own JSON contents. handle() takes a client's X-Request-Id only
    // when it matches REQUEST_ID (`[\w.:-]`: ASCII letters, digits, `_`, `.`, `:`, `-`), else draws 32
    // hex digits, and nothing assigns context.id after (forward-auth writes it into its head unchecked
    // on the same grounds). test/access-line.test.ts holds REQUEST_ID's characters to the plain set.
    writeAccessLine(logger, line, true);
  }

  let listener: Listener;
  try {
    listener = await openListener(config, handle, logger, {
      connectRefusal,
      // A proxy in front carries every client's connections: only --max-connections bounds it.
      isExemptAddress: createProxyTrust(config.trustedProxies),
      onConnectionRefused: (reason) => metrics.connectionsRefused.inc({ reason }),
      // A head node:http's parser refused (431, 400, 408, 413): no route ran, so route "none"; the
      // line has no method or path (nothing of the refused bytes is logged: they may hold secrets).
      onHeadRefused: ({ status, code, id, remote }) => {
        metrics.requests.inc({ outcome: 'rejected', code, route: 'none' });
        if (logger.isLevelEnabled('info')) logger.info({ reqId: id, status, code, remote }, 'request head refused');
      },
      // A client that closed its connection mid-head made no request: not counted, a debug line.
      onHeadAbandoned: (remote) => {
        if (logger.isLevelEnabled('debug')) logger.debug({ remote }, 'client closed its connection mid-head');
      },
      // A gateway cancels the upstream request of a client that closes (FIN) before its answer, as
      // nginx and Go's reverse proxy do; the other modes answer a client that only half-closed.
      answerHalfClosed: config.upstream === undefined,
    });
  } catch (error) {
    // Port taken, address not available, unreadable certificate...: release the gateway's client, the
    // stores and tracing before reporting it. Every step runs even when one fails, and the listen
    // failure is what is thrown (the CLI's one line names the port): a failing close is only logged.
    await closeInReverse([() => tracing?.shutdown(), () => services.close(), closeRoutes], { error }, (closeError) =>
      logCleanupFailure(logger, closeError),
    );
    throw error;
  }
  const { url, server } = listener;
  metrics.observeConnections(listener.openConnections, config.maxConnections);
  logger.info(
    {
      database: `${services.info.kind} ${services.info.location}`,
      masterKeys: services.info.masterKeySource,
      masterKeyFile: services.info.masterKeyFile,
    },
    services.info.masterKeySource === 'created' ? 'created master key file (0600): back it up' : 'key store opened',
  );
  logger.info(
    {
      url,
      mode: config.upstream ? 'gateway' : 'api',
      ...(upstreamClient ? { upstreamClient: describeUpstreamClient(upstreamClient) } : {}),
      schemes: config.schemes,
      ...(config.tls ? { tls: config.tls.minVersion, http2: true } : {}),
    },
    options.worker ? 'worker listening' : 'listening',
  );

  let closing: Promise<ShutdownOutcome> | undefined;
  const close = (closeOptions: { drain?: boolean } = {}) => {
    closing ??= (async () => {
      if (closeOptions.drain && config.drainPeriodSeconds > 0) {
        state.draining = true;
        logger.info({ seconds: config.drainPeriodSeconds }, 'draining: /readyz answers 503, still serving');
        await new Promise((resolve) => setTimeout(resolve, config.drainPeriodSeconds * 1000));
      }
      state.draining = true;
      shuttingDown = true;
      logger.info({ inFlight }, 'shutting down');
      // One deadline for everything left: requests in flight, then the stores.
      let expire!: () => void;
      const deadline = new Promise<'timeout'>((resolve) => {
        expire = () => resolve('timeout');
      });
      const deadlineTimer = setTimeout(expire, config.shutdownTimeoutSeconds * 1000);
      let forced = false;
      const stopped = listener.stopAccepting();
      listener.closeIdle();
      if (inFlight > 0) {
        const finished = new Promise<void>((resolve) => {
          drained = resolve;
        });
        if ((await Promise.race([finished, deadline])) === 'timeout') {
          logger.warn({ inFlight }, 'shutdown timeout: closing remaining connections');
          forced = true;
        }
      }
      listener.closeAll();
      await stopped;
      metrics.eventLoop.close();
      // The gateway's upstream client (its close resolves once its sockets have closed), then the
      // stores, then tracing (exports what is buffered; the last server of the process stops the SDK).
      // Every step runs even when one fails; close() rejects with the first failure once all have
      // run (the later ones are logged). Tracing's own failure (a collector down) is only logged.
      const routesClosed = closeRoutes();
      routesClosed.catch(() => {});
      let failed: { error: unknown } | undefined;
      const storesClosed = closeInReverse(
        [
          () => tracing?.shutdown().catch((error: unknown) => logCleanupFailure(logger, error)),
          () => services.close(),
          () => routesClosed,
        ],
        undefined,
        (error) => logCleanupFailure(logger, error),
      ).then(
        () => 'closed' as const,
        (error: unknown) => {
          failed = { error };
          return 'closed' as const;
        },
      );
      // A store that cannot be reached (Redis down, reconnecting) must not hold the exit hostage. When
      // the deadline already passed while requests were in flight (`forced`), the stores get the grace
      // below instead: raced against the spent deadline they were abandoned however quickly they would
      // have closed, and tracing's last spans were exported after close() resolved (session 25).
      const grace = forced ? graceAfterDeadline(UPSTREAM_CLOSE_GRACE_MS) : undefined;
      if ((await Promise.race([storesClosed, grace?.expired ?? deadline])) === 'timeout') {
        logger.warn('shutdown timeout: stores did not close in time, abandoning their connections');
        forced = true;
      }
      clearTimeout(deadlineTimer);
      // Cut at the deadline, the race above did not wait for the gateway's upstream connections (the
      // requests in flight on them were aborted when their clients' connections were cut): close()
      // resolves once their sockets have closed, so a caller that then exits or looks for open handles
      // finds none. Bounded: a destroyed socket closes within a turn or two of the event loop (no
      // network wait), so UPSTREAM_CLOSE_GRACE_MS is only there so that a socket that never closes
      // cannot hold the shutdown past --shutdown-timeout by more than that (one grace, shared with the
      // stores' above when the requests in flight were cut).
      if (forced) {
        const upstreamGrace = grace ?? graceAfterDeadline(UPSTREAM_CLOSE_GRACE_MS);
        const upstreamClosed = await Promise.race([routesClosed.then(done, done), upstreamGrace.expired]);
        upstreamGrace.cancel();
        if (upstreamClosed === 'timeout') {
          logger.warn({ ms: UPSTREAM_CLOSE_GRACE_MS }, 'shutdown: upstream connections still open, not waited for');
        }
      }
      logger.info({ forced }, 'stopped');
      if (failed) throw failed.error;
      return { forced };
    })();
    return closing;
  };

  return {
    url,
    server,
    services,
    metrics,
    logger,
    routes: dispatch.routes,
    close,
    halt: () => {
      state.draining = true;
      shuttingDown = true;
      void listener.stopAccepting();
      listener.closeAll();
    },
    reloadCertificate: () => listener.reloadCertificate(),
  };
}

/**
 * How long close() waits, after --shutdown-timeout cut the requests in flight, for the gateway's
 * upstream sockets to close. Closing a destroyed socket takes a turn or two of the event loop, never a
 * network round trip: a second is far above that on a loaded host, and short enough that a socket
 * that never closes (a bug) holds the shutdown only that much past the timeout.
 */
export const UPSTREAM_CLOSE_GRACE_MS = 1000;

/**
 * A grace of `ms` after --shutdown-timeout passed: `expired` resolves 'timeout' once it is over;
 * `cancel()` clears its timer (the shutdown went on before), so that nothing holds the process.
 */
function graceAfterDeadline(ms: number): { expired: Promise<'timeout'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return { expired, cancel: () => clearTimeout(timer) };
}

function done(): 'done' {
  return 'done';
}

/**
 * A step of a failed start's or of close()'s cleanup that failed: logged, the cleanup goes on. The
 * message without the passwords of the URLs in it (a store client's may name its connection URL).
 */
function logCleanupFailure(logger: Logger, error: unknown): void {
  logger.warn(
    {
      err:
        error instanceof Error
          ? { name: error.name, message: withoutUrlPasswords(error.message) }
          : withoutUrlPasswords(String(error)),
    },
    'a shutdown step failed (the later steps still ran)',
  );
}

/** hmac-kit's own routes and the dispatch to them, the gateway or a 404/405 problem. */
interface Dispatch {
  /** Finds the handler for a request and names the route in its context. */
  route(request: IncomingMessage, context: RequestContext): RouteHandler;
  /** Every route this server answers (for the OpenAPI contract test and `/openapi.json`). */
  routes: readonly RouteDescription[];
  close(): Promise<void>;
}

/** Maps a request to its handler: hmac-kit's own endpoints first, then the gateway or whoami. */
function createRoutes(
  config: ServerConfig,
  services: Services,
  metrics: ServerMetrics,
  tracing: Tracing | undefined,
  lifecycle: {
    isDraining(): boolean;
    metricsText?: () => Promise<string>;
    consoleAssets?: URL | undefined;
    /** The gateway's factory, loaded by the caller when `config.upstream` is set. */
    createGateway?: typeof createGateway | undefined;
    /** The gateway's upstream client, chosen at start-up (upstreamClientFor). */
    upstreamClient?: UpstreamClientChoice | undefined;
    /** Reports a route's throw or rejection that came after the route returned (a check-phase batch). */
    unhandled(error: unknown, response: ServerResponse, context: RequestContext): void;
  },
): Dispatch {
  const health: RouteHandler = async (_request, response) => sendJson(response, 200, { status: 'ok' });
  const ready: RouteHandler = async (_request, response) => {
    // Shutting down: not ready whatever the stores say, so the load balancer takes this instance out.
    if (lifecycle.isDraining()) {
      sendJson(response, 503, { status: 'draining', checks: {} });
      return;
    }
    const checks = await services.ready();
    const ok = Object.values(checks).every((state) => state === 'ok');
    sendJson(response, ok ? 200 : 503, { status: ok ? 'ready' : 'unavailable', checks });
  };
  const metricsText = lifecycle.metricsText ?? (() => metrics.registry.metrics());
  const metricsRoute: RouteHandler = async (_request, response) => {
    const text = await metricsText();
    response.writeHead(200, { 'content-type': metrics.registry.contentType });
    response.end(text);
  };
  const openapi: RouteHandler = async (_request, response, context) => {
    let json: string;
    try {
      json = await openApiJson();
    } catch (error) {
      context.log.warn({ err: (error as Error).message }, 'cannot read the OpenAPI description');
      sendProblem(response, serverProblem('not_found', 'the OpenAPI description is not installed'), context.id);
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      'cache-control': 'no-cache',
    });
    response.end(json);
  };
  const notFound: RouteHandler = async (request, response, context) => {
    request.resume();
    sendProblem(response, serverProblem('not_found'), context.id);
  };
  const isTrustedProxy = createProxyTrust(config.trustedProxies);
  const forwardAuth = createForwardAuth({
    config,
    authenticator: services.authenticator,
    recordProven: services.recordProven,
    metrics,
    isTrustedProxy,
    unhandled: lifecycle.unhandled,
  });
  const api = createApi({
    config,
    keyService: services.keyService,
    authenticator: services.authenticator,
    loginThrottle: services.loginThrottle,
    metrics,
    isTrustedProxy,
    passwordGate: services.passwordGate,
  });
  const gateway = lifecycle.createGateway
    ? lifecycle.createGateway({
        config,
        authenticator: services.authenticator,
        metrics,
        isTrustedProxy,
        // With tracing on, the upstream gets the gateway's own traceparent, not the client's.
        replacedHeaders: tracing?.propagationHeaders,
        // Traced, no batches: the traced path stays as it was tested with spans. (Batches now run each
        // request in its own async context, so its span: turning them on when traced needs only a
        // test that each request's verification spans and upstream call nest under its own span.)
        checkPhase: tracing === undefined,
        ...(lifecycle.upstreamClient ? { upstreamClient: lifecycle.upstreamClient } : {}),
      })
    : undefined;
  const verifyBase = config.verifyPath.replace(/\/+$/, '');
  const readOnly = ['GET', 'HEAD'];
  const router = createRouter<RouteHandler>([
    { name: 'health', methods: readOnly, path: '/healthz', handler: health },
    { name: 'ready', methods: readOnly, path: '/readyz', handler: ready },
    { name: 'metrics', methods: ['GET'], path: '/metrics', handler: metricsRoute },
    { name: 'openapi', methods: ['GET'], path: '/openapi.json', handler: openapi },
    // Forward-auth answers the original request's method (nginx and Traefik pass it through).
    { name: 'verify', methods: [ANY_METHOD], path: verifyBase || '/', handler: forwardAuth },
    // Envoy ext_authz (HTTP) appends the original path to the configured one.
    { name: 'verify', methods: [ANY_METHOD], path: `${verifyBase}/{originalPath+}`, handler: forwardAuth },
    ...api.routes,
    ...(config.console
      ? createConsole({
          config,
          services,
          admin: api.admin,
          metrics,
          isTrustedProxy,
          // The page the caller built (the end-to-end test's, from current sources); else dist/console.
          ...(lifecycle.consoleAssets ? { assets: lifecycle.consoleAssets } : {}),
        })
      : []),
  ]);
  const ownPrefix = config.adminPrefix;
  const fallback = gateway?.handler ?? notFound;
  const fallbackName: RouteName = gateway ? 'gateway' : 'not_found';

  return {
    routes: router.routes,
    route(request, context) {
      const target = request.url ?? '/';
      const query = target.indexOf('?');
      let path = query === -1 ? target : target.slice(0, query);
      if (ownPrefix) {
        // Only paths under the prefix are hmac-kit's; everything else is the upstream's, even /healthz.
        if (!path.startsWith(ownPrefix) || (path.length > ownPrefix.length && path[ownPrefix.length] !== '/')) {
          context.route = fallbackName;
          return fallback;
        }
        path = path.slice(ownPrefix.length) || '/';
      }
      const found = router.match(request.method ?? 'GET', path);
      if (found.kind === 'found') {
        context.route = found.route.name;
        context.routePath = ownPrefix + found.route.path;
        return found.route.handler;
      }
      // Without a prefix of its own, a gateway hands every other method on these paths to the upstream.
      if (found.kind === 'method_not_allowed' && (ownPrefix || !gateway)) {
        context.route = 'not_found';
        return methodNotAllowed(found.allowed);
      }
      context.route = ownPrefix ? 'not_found' : fallbackName;
      return ownPrefix ? notFound : fallback;
    },
    close: async () => {
      await gateway?.close();
    },
  };
}

function methodNotAllowed(allowed: readonly string[]): RouteHandler {
  return async (request, response, context) => {
    request.resume();
    const problem = serverProblem('method_not_allowed', `use ${allowed.join(', ')}`);
    sendProblem(response, { ...problem, headers: { allow: allowed.join(', ') } }, context.id);
  };
}

/**
 * A fixed webhook key that does not exist yet is not fatal (it may be created after start),
 * but every delivery would be refused until it is, so say so once at start.
 */
async function warnAboutWebhookKey(keyId: string, services: Services, logger: Logger): Promise<void> {
  try {
    const key = await services.keyService.getKey(keyId);
    // Configured by the operator, but possibly a secret pasted into the wrong setting.
    const logged = keyIdLogFields(keyId);
    if (!key) logger.warn(logged, 'webhook key id not found: webhooks are refused until it is created');
    else if (key.status !== 'active') logger.warn({ ...logged, status: key.status }, 'webhook key is not active');
    else if (key.algorithm !== 'sha256')
      logger.warn({ ...logged, algorithm: key.algorithm }, 'webhook key is not sha256: Standard Webhooks needs sha256');
  } catch (error) {
    logger.warn({ err: (error as Error).message }, 'cannot check the webhook key');
  }
}
